/**
 * The superblock: kernel Documentation/filesystems/ext4/super.rst ("The Super Block", struct
 * ext4_super_block): 1024 bytes, little-endian, at byte 1024 of the volume; copies in the first
 * block of each backup group (sparse_super: groups 0, 1 and powers of 3, 5 and 7), where
 * s_block_group_nr names the group. Fields imgkit never sets (snapshots, error records, quota and
 * encryption) are zero, as mke2fs leaves them.
 */
import { bytes, crc32cUpdate, struct, u8, u16le, u32le, u64le, type StructValues } from '@imgkit/core';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_BYTES = 1024;
export const EXT4_MAGIC = 0xef53;
/** s_state: cleanly unmounted. */
export const STATE_VALID = 0x1;
/** s_errors: continue (EXT2_ERRORS_CONTINUE, mke2fs's default). */
export const ERRORS_CONTINUE = 1;
/** s_rev_level: dynamic inode sizes (EXT2_DYNAMIC_REV). */
export const DYNAMIC_REV = 1;
/** s_creator_os: Linux. */
export const OS_LINUX = 0;
/** s_def_hash_version values (super.rst "s_def_hash_version"). */
export const HASH_LEGACY = 0;
export const HASH_HALF_MD4 = 1;
export const HASH_TEA = 2;
/** s_flags: directory hashes use signed chars (what mke2fs on x86 sets; super.rst "s_flags"). */
export const FLAGS_SIGNED_HASH = 0x1;
export const FLAGS_UNSIGNED_HASH = 0x2;
/** s_default_mount_opts: user_xattr and acl (EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL), Debian's default_mntopts. */
export const DEFM_XATTR_USER = 0x4;
export const DEFM_ACL = 0x8;
/** s_jnl_backup_type: s_jnl_blocks holds a copy of the journal inode's i_block, size high and low. */
export const JNL_BACKUP_BLOCKS = 1;
/** s_checksum_type: crc32c. */
export const CHECKSUM_CRC32C = 1;
/** The first inode that is not reserved (EXT2_GOOD_OLD_FIRST_INO). */
export const FIRST_INO = 11;

// super.rst "The Super Block" table; offsets in bytes.
export const Superblock = struct('ext4.superblock', SUPERBLOCK_BYTES, {
  inodesCount: u32le(0x0),
  blocksCountLo: u32le(0x4),
  rBlocksCountLo: u32le(0x8), //         blocks only the superuser may allocate
  freeBlocksCountLo: u32le(0xc),
  freeInodesCount: u32le(0x10),
  firstDataBlock: u32le(0x14), //        1 with 1 KiB blocks, else 0
  logBlockSize: u32le(0x18), //          block size = 2 ^ (10 + this)
  logClusterSize: u32le(0x1c), //        = logBlockSize without bigalloc
  blocksPerGroup: u32le(0x20),
  clustersPerGroup: u32le(0x24),
  inodesPerGroup: u32le(0x28),
  mtime: u32le(0x2c), //                 last mount: 0, never mounted
  wtime: u32le(0x30),
  mntCount: u16le(0x34),
  maxMntCount: u16le(0x36), //           s16; 0xFFFF = -1: no mount-count check
  magic: u16le(0x38),
  state: u16le(0x3a),
  errors: u16le(0x3c),
  minorRevLevel: u16le(0x3e),
  lastcheck: u32le(0x40),
  checkinterval: u32le(0x44),
  creatorOs: u32le(0x48),
  revLevel: u32le(0x4c),
  defResuid: u16le(0x50),
  defResgid: u16le(0x52),
  firstIno: u32le(0x54),
  inodeSize: u16le(0x58),
  blockGroupNr: u16le(0x5a), //          the group this copy lives in
  featureCompat: u32le(0x5c),
  featureIncompat: u32le(0x60),
  featureRoCompat: u32le(0x64),
  uuid: bytes(0x68, 16),
  volumeName: bytes(0x78, 16), //        NUL-padded, not necessarily NUL-terminated
  lastMounted: bytes(0x88, 64),
  reservedGdtBlocks: u16le(0xce), //     resize_inode: GDT blocks kept free for growth
  journalUuid: bytes(0xd0, 16), //       zero: the journal is internal
  journalInum: u32le(0xe0),
  hashSeed: bytes(0xec, 16), //          4 × u32le, the htree hash seed
  defHashVersion: u8(0xfc),
  jnlBackupType: u8(0xfd),
  descSize: u16le(0xfe), //              64 with 64bit, else 0 (32-byte descriptors)
  defaultMountOpts: u32le(0x100),
  firstMetaBg: u32le(0x104),
  mkfsTime: u32le(0x108),
  jnlBlocks: bytes(0x10c, 68), //        17 × u32le: the journal inode's i_block[15], i_size_high, i_size
  blocksCountHi: u32le(0x150),
  rBlocksCountHi: u32le(0x154),
  freeBlocksCountHi: u32le(0x158),
  minExtraIsize: u16le(0x15c),
  wantExtraIsize: u16le(0x15e),
  flags: u32le(0x160),
  logGroupsPerFlex: u8(0x174),
  checksumType: u8(0x175),
  kbytesWritten: u64le(0x178),
  overheadClusters: u32le(0x248), //     blocks the metadata and the journal take (mke2fs's count)
  checksumSeed: u32le(0x270), //         metadata_csum_seed: crc32c(~0, uuid)
  wtimeHi: u8(0x274),
  mtimeHi: u8(0x275),
  mkfsTimeHi: u8(0x276),
  lastcheckHi: u8(0x277),
  checksum: u32le(0x3fc), //             crc32c(~0, the 1020 bytes before it)
});
export type SuperblockValues = StructValues<typeof Superblock.fields>;

/** Encode `v` with its checksum (metadata_csum) set: crc32c(~0, bytes 0 … 0x3FB), super.rst "s_checksum". */
export function encodeSuperblock(v: Omit<SuperblockValues, 'checksum'>, withChecksum: boolean): Uint8Array {
  const out = Superblock.encode({ ...v, checksum: 0 });
  if (withChecksum) {
    const crc = crc32cUpdate(0xffffffff, out.subarray(0, 0x3fc));
    new DataView(out.buffer, out.byteOffset).setUint32(0x3fc, crc, true);
  }
  return out;
}
