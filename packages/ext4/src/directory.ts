/**
 * Linear directories: kernel Documentation/filesystems/ext4/directory.rst ("Linear (Classic)
 * Directories"). A directory block is a chain of struct ext4_dir_entry_2 records (inode, rec_len,
 * name_len, file_type, name), each 4-byte aligned; the last record's rec_len runs to the end of
 * the block, or, with metadata_csum, to a 12-byte struct ext4_dir_entry_tail holding
 * crc32c(inode seed, the block before it).
 */
import { crc32cUpdate, struct, u8, u16le, u32le } from '@imgkit/core';

// directory.rst "struct ext4_dir_entry_2"
export const DirEntry = struct('ext4.dir-entry', 8, {
  inode: u32le(0x0),
  recLen: u16le(0x4),
  nameLen: u8(0x6),
  fileType: u8(0x7),
});
// directory.rst "struct ext4_dir_entry_tail"
export const DirEntryTail = struct('ext4.dir-entry-tail', 12, {
  reservedZero1: u32le(0x0), //  looks like an unused entry (inode 0)
  recLen: u16le(0x4), //         12
  reservedZero2: u8(0x6), //     name_len 0
  reservedFt: u8(0x7), //        0xDE
  checksum: u32le(0x8),
});
export const DIR_TAIL_BYTES = 12;
export const DIR_TAIL_FT = 0xde;

// directory.rst "file_type"
export const FT_UNKNOWN = 0;
export const FT_REG_FILE = 1;
export const FT_DIR = 2;
export const FT_CHRDEV = 3;
export const FT_BLKDEV = 4;
export const FT_FIFO = 5;
export const FT_SOCK = 6;
export const FT_SYMLINK = 7;

/** ext4 names are at most 255 bytes (name_len is a byte). */
export const NAME_MAX = 255;

/** One name in a directory. */
export interface DirName {
  /** UTF-8 bytes of the name. */
  name: Uint8Array;
  ino: number;
  /** FT_* (0 without the filetype feature). */
  fileType: number;
}

/** Bytes a record for a name of `nameLen` bytes takes: 8 + name, rounded up to 4 (EXT4_DIR_REC_LEN). */
export function recLen(nameLen: number): number {
  return (8 + nameLen + 3) & ~3;
}

/** Usable bytes of a directory block: all of it, or all but the checksum tail. */
export function blockCapacity(blockSize: number, csum: boolean): number {
  return blockSize - (csum ? DIR_TAIL_BYTES : 0);
}

/**
 * Which block each name goes to, as e2fsprogs' ext2fs_link places names one after another (what
 * mke2fs -d does): a name goes into the first block with room after its last record, else a new
 * block. Returns, per block, the indexes of its names in order.
 */
export function packLinear(names: readonly DirName[], blockSize: number, csum: boolean): number[][] {
  const cap = blockCapacity(blockSize, csum);
  const blocks: number[][] = [];
  // A max-tree over the blocks' free bytes finds the first block with room in O(log n).
  let size = 1;
  let free = new Int32Array(2).fill(-1);
  const set = (b: number, v: number) => {
    let i = b + size;
    free[i] = v;
    for (i >>= 1; i >= 1; i >>= 1) free[i] = Math.max(free[2 * i]!, free[2 * i + 1]!);
  };
  const firstWith = (need: number): number => {
    if (free[1]! < need) return -1;
    let i = 1;
    while (i < size) i = free[2 * i]! >= need ? 2 * i : 2 * i + 1;
    return i - size;
  };
  names.forEach((n, idx) => {
    const need = recLen(n.name.byteLength);
    let b = firstWith(need);
    if (b < 0) {
      b = blocks.length;
      if (b >= size) {
        const old = free;
        size *= 2;
        free = new Int32Array(2 * size).fill(-1);
        for (let k = 0; k < blocks.length; k++) free[size + k] = old[size / 2 + k]!;
        for (let i = size - 1; i >= 1; i--) free[i] = Math.max(free[2 * i]!, free[2 * i + 1]!);
      }
      blocks.push([]);
      set(b, cap);
    }
    blocks[b]!.push(idx);
    set(b, free[size + b]! - need);
  });
  return blocks;
}

/**
 * Encode one directory block holding `names` (in order) into `into` (zeroed, blockSize bytes):
 * the last record stretches to the tail; with `csumSeed` (the directory inode's checksum seed)
 * the tail is written and checksummed. An empty list makes an empty block (one unused record).
 */
export function encodeDirBlock(names: readonly DirName[], blockSize: number, csumSeed: number | undefined, into: Uint8Array): void {
  const cap = blockCapacity(blockSize, csumSeed !== undefined);
  // The records are written through one view (DirEntry's layout; this runs for every name).
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength);
  let at = 0;
  if (names.length === 0) {
    v.setUint32(0, 0, true);
    v.setUint16(4, cap, true);
    into[6] = 0;
    into[7] = 0;
  }
  for (let k = 0; k < names.length; k++) {
    const n = names[k]!;
    const len = k === names.length - 1 ? cap - at : recLen(n.name.byteLength);
    if (at + len > cap || n.name.byteLength > NAME_MAX) throw new Error('internal: directory block overflow');
    v.setUint32(at, n.ino, true);
    v.setUint16(at + 4, len, true);
    into[at + 6] = n.name.byteLength;
    into[at + 7] = n.fileType;
    into.set(n.name, at + 8);
    at += len;
  }
  if (csumSeed !== undefined) writeDirTail(into, blockSize, csumSeed);
}

/** The metadata_csum tail of a leaf block (directory.rst "Checksums"). */
export function writeDirTail(block: Uint8Array, blockSize: number, csumSeed: number): void {
  const at = blockSize - DIR_TAIL_BYTES;
  const checksum = crc32cUpdate(csumSeed, block.subarray(0, at));
  DirEntryTail.encode({ reservedZero1: 0, recLen: DIR_TAIL_BYTES, reservedZero2: 0, reservedFt: DIR_TAIL_FT, checksum }, block, at);
}
