/**
 * The internal journal: inode 8, a file of zeroed blocks whose first block is the jbd2 superblock
 * (kernel Documentation/filesystems/ext4/journal.rst "Super Block", struct journal_superblock_s;
 * all fields big-endian). An empty journal — s_start 0, s_sequence 1 — tells the kernel and e2fsck
 * that nothing needs replaying; mke2fs writes exactly this (lib/ext2fs/mkjournal.c).
 */
import { bytes, struct, u32be, u8 } from '@imgkit/core';

export const JBD2_MAGIC = 0xc03b3998;
/** h_blocktype of a version-2 superblock. */
export const JBD2_SUPERBLOCK_V2 = 4;
/** A journal needs at least this many blocks (JBD2_MIN_JOURNAL_BLOCKS). */
export const JBD2_MIN_JOURNAL_BLOCKS = 1024;

// journal.rst "Super Block" table (offsets in bytes; the header is h_magic, h_blocktype, h_sequence)
export const JournalSuperblock = struct('ext4.jbd2-superblock', 1024, {
  magic: u32be(0x0),
  blockType: u32be(0x4),
  headerSequence: u32be(0x8),
  blockSize: u32be(0xc),
  maxLen: u32be(0x10), //       blocks in the journal
  first: u32be(0x14), //        first block of log information: 1
  sequence: u32be(0x18), //     first commit ID expected: 1
  start: u32be(0x1c), //        0: the journal is clean
  errno: u32be(0x20),
  featureCompat: u32be(0x24),
  featureIncompat: u32be(0x28),
  featureRoCompat: u32be(0x2c),
  uuid: bytes(0x30, 16), //     the filesystem's UUID
  nrUsers: u32be(0x40), //      1
  dynsuper: u32be(0x44),
  maxTransaction: u32be(0x48),
  maxTransData: u32be(0x4c),
  checksumType: u8(0x50),
  numFcBlocks: u32be(0x54),
});

/** Block 0 of the journal (the rest of the block and of the journal is zeros). */
export function encodeJournalSuperblock(blockSize: number, journalBlocks: number, uuid: Uint8Array): Uint8Array {
  const out = new Uint8Array(blockSize);
  JournalSuperblock.encode(
    {
      magic: JBD2_MAGIC,
      blockType: JBD2_SUPERBLOCK_V2,
      headerSequence: 0,
      blockSize,
      maxLen: journalBlocks,
      first: 1,
      sequence: 1,
      start: 0,
      errno: 0,
      featureCompat: 0,
      featureIncompat: 0,
      featureRoCompat: 0,
      uuid,
      nrUsers: 1,
      dynsuper: 0,
      maxTransaction: 0,
      maxTransData: 0,
      checksumType: 0,
      numFcBlocks: 0,
    },
    out,
    0,
  );
  return out;
}

/**
 * The journal size mke2fs picks for a filesystem of `blocks` blocks (mkjournal.c
 * ext2fs_default_journal_size; the comments there assume 4 KiB blocks): none below 2048 blocks.
 */
export function defaultJournalBlocks(blocks: number): number | undefined {
  if (blocks < 2048) return undefined;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}
