/**
 * Block and inode bitmaps: kernel Documentation/filesystems/ext4/bitmaps.rst. One block each per
 * group; bit i of byte j is block (or inode) 8j + i of the group. As e2fsprogs writes them
 * (lib/ext2fs/rw_bitmaps.c write_bitmaps): the block starts all ones, the group's bits are laid
 * over it, and in the last group the bits past the end of the filesystem stay set. The checksums
 * (group_descr.rst bg_block_bitmap_csum, bg_inode_bitmap_csum) cover blocks_per_group / 8 and
 * inodes_per_group / 8 bytes.
 */
import { crc32cUpdate } from '@imgkit/core';
import type { UsedBlocks } from './allocator.js';

/** Set bits [from, to) of `bits`. */
export function setBits(bits: Uint8Array, from: number, to: number): void {
  let i = from;
  while (i < to && (i & 7) !== 0) {
    bits[i >> 3]! |= 1 << (i & 7);
    i++;
  }
  const fullEnd = to & ~7;
  if (i < fullEnd) {
    bits.fill(0xff, i >> 3, fullEnd >> 3);
    i = fullEnd;
  }
  while (i < to) {
    bits[i >> 3]! |= 1 << (i & 7);
    i++;
  }
}

/** Group `[start, end)`'s block bitmap into `out` (blockSize bytes). */
export function blockBitmap(used: UsedBlocks, start: number, end: number, blocksPerGroup: number, out: Uint8Array): void {
  out.fill(0xff);
  out.fill(0, 0, blocksPerGroup >> 3);
  for (const r of used.runsIn(start, end)) setBits(out, r.start - start, r.start - start + r.count);
  if (end - start < blocksPerGroup) setBits(out, end - start, out.byteLength * 8);
}

/** An inode bitmap with the first `usedCount` inodes of the group in use. */
export function inodeBitmap(usedCount: number, inodesPerGroup: number, out: Uint8Array): void {
  out.fill(0xff);
  out.fill(0, 0, (inodesPerGroup + 7) >> 3);
  setBits(out, 0, usedCount);
}

/** crc32c(fs seed, the first `bytes` of the bitmap). */
export function bitmapChecksum(fsSeed: number, bitmap: Uint8Array, bytes: number): number {
  return crc32cUpdate(fsSeed, bitmap.subarray(0, bytes));
}
