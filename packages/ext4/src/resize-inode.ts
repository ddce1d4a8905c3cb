/**
 * The resize inode (inode 7, resize_inode feature): kernel Documentation/filesystems/ext4/
 * special_inodes.rst and e2fsprogs lib/ext2fs/res_gdt.c, which defines its layout. It reserves
 * the GDT blocks kept free for online growth as a sparse file mapped through its double-indirect
 * block (i_block[13]): entry (desc_blocks + k) mod (block size / 4) of that block is the k-th
 * reserved GDT block of group 0, and that block, read as an indirect block, lists the same
 * block's copies in each backup group. Its size is the whole double-indirect range.
 */
import { backupGroups } from './geometry.js';

/** i_block index of the double-indirect pointer (EXT2_DIND_BLOCK). */
export const DIND_BLOCK_INDEX = 13;

export interface ResizeInodeLayout {
  /** The double-indirect block's content. */
  dind: Uint8Array;
  /** Group 0's reserved GDT blocks and their content (the backup copies' numbers). */
  primaries: { block: number; bytes: Uint8Array }[];
  /** Blocks the inode maps (the dind block, the reserved GDT blocks and their copies). */
  blockCount: number;
  /** i_size: (apb² + apb + 12) blocks. */
  size: number;
}

export function resizeInodeLayout(
  g: { blockSize: number; firstDataBlock: number; descBlocks: number; reservedGdtBlocks: number; blocksPerGroup: number; groupCount: number },
  sparseSuper: boolean,
): ResizeInodeLayout {
  const apb = g.blockSize / 4;
  const dind = new Uint8Array(g.blockSize);
  const dv = new DataView(dind.buffer);
  const backups = backupGroups(g.groupCount, sparseSuper);
  const primaries: ResizeInodeLayout['primaries'] = [];
  const sbBlock = g.firstDataBlock;
  for (let k = 0; k < g.reservedGdtBlocks; k++) {
    const gdtOff = (g.descBlocks + k) % apb;
    const block = sbBlock + 1 + g.descBlocks + k;
    dv.setUint32(gdtOff * 4, block, true);
    const bytes = new Uint8Array(g.blockSize);
    const v = new DataView(bytes.buffer);
    backups.forEach((grp, i) => v.setUint32(i * 4, block + grp * g.blocksPerGroup, true));
    primaries.push({ block, bytes });
  }
  return {
    dind,
    primaries,
    blockCount: 1 + g.reservedGdtBlocks * (1 + backups.length),
    size: (apb * apb + apb + 12) * g.blockSize,
  };
}
