/**
 * The squashfs 4.0 superblock and compressor ids.
 * Spec: "SquashFS binary format" (superblock section); Linux fs/squashfs/squashfs_fs.h
 * (struct squashfs_super_block); squashfs-tools squashfs_fs.h (SQUASHFS_* flag bits).
 */
import { struct, u16le, u32le, u64le } from '@imgkit/core';

export const SQUASHFS_MAGIC = 0x73717368; // "hsqs" on disk
export const SQUASHFS_MAJOR = 4;
export const SQUASHFS_MINOR = 0;
/** squashfs_fs.h SQUASHFS_INVALID_BLK: a table that is absent (export, xattr, fragment). */
export const SQUASHFS_INVALID_BLK = 0xffff_ffff_ffff_ffffn;

// squashfs_fs.h: on-disk compressor ids.
export const COMPRESSION_ID = { gzip: 1, lzma: 2, lzo: 3, xz: 4, lz4: 5, zstd: 6 } as const;

// squashfs_fs.h SQUASHFS_MKFLAGS bit positions.
export const SUPERBLOCK_FLAGS = {
  UNCOMPRESSED_INODES: 0x0001,
  UNCOMPRESSED_DATA: 0x0002,
  CHECK: 0x0004,
  UNCOMPRESSED_FRAGMENTS: 0x0008,
  NO_FRAGMENTS: 0x0010,
  ALWAYS_FRAGMENTS: 0x0020,
  DUPLICATES: 0x0040,
  EXPORTABLE: 0x0080,
  UNCOMPRESSED_XATTRS: 0x0100,
  NO_XATTRS: 0x0200,
  COMPRESSOR_OPTIONS: 0x0400,
  UNCOMPRESSED_IDS: 0x0800,
} as const;

/** "The superblock": 96 bytes at offset 0, little-endian. Table starts are absolute byte offsets. */
export const Superblock = struct('squashfs.superblock', 96, {
  magic: u32le(0),
  inodeCount: u32le(4),
  modificationTime: u32le(8), // mkfs_time
  blockSize: u32le(12), // power of two, 4 KiB … 1 MiB; blockLog must agree
  fragmentEntryCount: u32le(16),
  compressionId: u16le(20),
  blockLog: u16le(22),
  flags: u16le(24),
  idCount: u16le(26),
  versionMajor: u16le(28),
  versionMinor: u16le(30),
  rootInodeRef: u64le(32), // (metadata block offset << 16) | offset inside the block
  bytesUsed: u64le(40), // image size without the 4 KiB padding
  idTableStart: u64le(48),
  xattrIdTableStart: u64le(56),
  inodeTableStart: u64le(64),
  directoryTableStart: u64le(72),
  fragmentTableStart: u64le(80),
  exportTableStart: u64le(88), // "lookup table"; all ones when absent
});
export type SuperblockFields = Parameters<typeof Superblock.encode>[0];
