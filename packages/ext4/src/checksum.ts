/**
 * Checksum helpers (kernel Documentation/filesystems/ext4/checksums.rst). With metadata_csum every
 * checksum is crc32c in the kernel's raw form (`crc32c_le(seed, data)`: no final inversion):
 *
 *   fs seed      crc32c(~0, s_uuid), or s_checksum_seed with metadata_csum_seed
 *   inode seed   crc32c(crc32c(fs seed, inode number le32), i_generation le32): inodes, extent
 *                blocks, directory blocks and htree nodes of that inode
 *   per group    bitmaps: crc32c(fs seed, bitmap); descriptors: crc32c(fs seed, group le32, desc) & 0xFFFF
 *
 * Without metadata_csum, uninit_bg (gdt_csum) checks group descriptors with crc16.
 */
import { crc32cUpdate } from '@imgkit/core';

const scratch = new Uint8Array(4);
const scratchView = new DataView(scratch.buffer);

/** crc32c_le(seed, le32(value)). */
export function crc32cU32(seed: number, value: number): number {
  scratchView.setUint32(0, value >>> 0, true);
  return crc32cUpdate(seed, scratch);
}

/** The filesystem's checksum seed: crc32c(~0, uuid) (checksums.rst). */
export function fsChecksumSeed(uuid: Uint8Array): number {
  return crc32cUpdate(0xffffffff, uuid);
}

/** An inode's checksum seed: the fs seed continued with its number and generation. */
export function inodeChecksumSeed(fsSeed: number, ino: number, generation = 0): number {
  return crc32cU32(crc32cU32(fsSeed, ino), generation);
}

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xa001 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-16 (polynomial 0x8005, reflected) as e2fsprogs' ext2fs_crc16 and the kernel's crc16 compute it. */
export function crc16(seed: number, data: Uint8Array): number {
  let c = seed & 0xffff;
  for (let i = 0; i < data.byteLength; i++) c = CRC16_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}
