/**
 * Block group descriptors: kernel Documentation/filesystems/ext4/group_descr.rst (struct
 * ext4_group_desc). 32 bytes each, or s_desc_size = 64 with the 64bit feature (the second half
 * holds the high words); the table fills whole blocks right after each superblock copy.
 */
import { crc32cUpdate, struct, u16le, u32le, type StructValues } from '@imgkit/core';
import { crc16, crc32cU32 } from './checksum.js';

/** bg_flags (group_descr.rst). */
export const BG_INODE_UNINIT = 0x1; //  inode table and bitmap not initialised
export const BG_BLOCK_UNINIT = 0x2; //  block bitmap not initialised (the kernel computes it)
export const BG_INODE_ZEROED = 0x4; //  inode table is zeroed on disk

export const DESC_SIZE_32 = 32;
export const DESC_SIZE_64 = 64;
/** Offset of bg_checksum: skipped by the crc16 form. */
const CHECKSUM_OFFSET = 0x1e;

// group_descr.rst "Block Group Descriptor" table.
export const GroupDesc32 = struct('ext4.group-desc', DESC_SIZE_32, {
  blockBitmapLo: u32le(0x0),
  inodeBitmapLo: u32le(0x4),
  inodeTableLo: u32le(0x8),
  freeBlocksCountLo: u16le(0xc),
  freeInodesCountLo: u16le(0xe),
  usedDirsCountLo: u16le(0x10),
  flags: u16le(0x12),
  excludeBitmapLo: u32le(0x14),
  blockBitmapCsumLo: u16le(0x18), //  crc32c(fs seed, block bitmap) low 16 bits
  inodeBitmapCsumLo: u16le(0x1a),
  itableUnusedLo: u16le(0x1c), //     inodes at the end of the table never used
  checksum: u16le(0x1e),
});
export const GroupDesc64 = struct('ext4.group-desc64', DESC_SIZE_64, {
  ...GroupDesc32.fields,
  blockBitmapHi: u32le(0x20),
  inodeBitmapHi: u32le(0x24),
  inodeTableHi: u32le(0x28),
  freeBlocksCountHi: u16le(0x2c),
  freeInodesCountHi: u16le(0x2e),
  usedDirsCountHi: u16le(0x30),
  itableUnusedHi: u16le(0x32),
  excludeBitmapHi: u32le(0x34),
  blockBitmapCsumHi: u16le(0x38),
  inodeBitmapCsumHi: u16le(0x3a),
  reserved: u32le(0x3c),
});
export type GroupDesc64Values = StructValues<typeof GroupDesc64.fields>;

/** One group's descriptor, in whole numbers. */
export interface GroupDescInput {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
  freeBlocks: number;
  freeInodes: number;
  usedDirs: number;
  flags: number;
  itableUnused: number;
  /** crc32c of the bitmaps (metadata_csum), else 0. */
  blockBitmapCsum: number;
  inodeBitmapCsum: number;
}

export type DescChecksum = { kind: 'none' } | { kind: 'crc32c'; seed: number } | { kind: 'crc16'; uuid: Uint8Array };

const lo16 = (x: number) => x & 0xffff;
const hi16 = (x: number) => Math.floor(x / 0x10000) & 0xffff;
const lo32 = (x: number) => x % 0x100000000;
const hi32 = (x: number) => Math.floor(x / 0x100000000);

/**
 * Encode group `group`'s descriptor into `into` at `at` (descSize 32 or 64), checksummed as
 * group_descr.rst "bg_checksum" says: metadata_csum: crc32c(fs seed, le32 group, descriptor with
 * bg_checksum zero) & 0xFFFF; gdt_csum: crc16(~0, uuid, le32 group, descriptor without bg_checksum).
 */
export function encodeGroupDesc(d: GroupDescInput, group: number, descSize: number, csum: DescChecksum, into: Uint8Array, at: number): void {
  const low = {
    blockBitmapLo: lo32(d.blockBitmap),
    inodeBitmapLo: lo32(d.inodeBitmap),
    inodeTableLo: lo32(d.inodeTable),
    freeBlocksCountLo: lo16(d.freeBlocks),
    freeInodesCountLo: lo16(d.freeInodes),
    usedDirsCountLo: lo16(d.usedDirs),
    flags: d.flags,
    excludeBitmapLo: 0,
    blockBitmapCsumLo: lo16(d.blockBitmapCsum),
    inodeBitmapCsumLo: lo16(d.inodeBitmapCsum),
    itableUnusedLo: lo16(d.itableUnused),
    checksum: 0,
  };
  if (descSize === DESC_SIZE_64) {
    GroupDesc64.encode(
      {
        ...low,
        blockBitmapHi: hi32(d.blockBitmap),
        inodeBitmapHi: hi32(d.inodeBitmap),
        inodeTableHi: hi32(d.inodeTable),
        freeBlocksCountHi: hi16(d.freeBlocks),
        freeInodesCountHi: hi16(d.freeInodes),
        usedDirsCountHi: hi16(d.usedDirs),
        itableUnusedHi: hi16(d.itableUnused),
        excludeBitmapHi: 0,
        blockBitmapCsumHi: hi16(d.blockBitmapCsum),
        inodeBitmapCsumHi: hi16(d.inodeBitmapCsum),
        reserved: 0,
      },
      into,
      at,
    );
  } else {
    if (d.blockBitmap > 0xffffffff || d.inodeBitmap > 0xffffffff || d.inodeTable > 0xffffffff) {
      throw new RangeError(`ext4: group ${group}'s tables lie beyond block 2^32 without 64-bit descriptors`);
    }
    GroupDesc32.encode(low, into, at);
  }
  const desc = into.subarray(at, at + descSize);
  let sum = 0;
  if (csum.kind === 'crc32c') sum = crc32cUpdate(crc32cU32(csum.seed, group), desc) & 0xffff;
  else if (csum.kind === 'crc16') {
    const g = new Uint8Array(4);
    new DataView(g.buffer).setUint32(0, group, true);
    let c = crc16(0xffff, csum.uuid);
    c = crc16(c, g);
    c = crc16(c, desc.subarray(0, CHECKSUM_OFFSET));
    sum = crc16(c, desc.subarray(CHECKSUM_OFFSET + 2));
  }
  into[at + CHECKSUM_OFFSET] = sum & 0xff;
  into[at + CHECKSUM_OFFSET + 1] = sum >>> 8;
}
