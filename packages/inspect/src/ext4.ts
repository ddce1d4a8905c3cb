/**
 * ext2/3/4 superblock summary (Linux Documentation/filesystems/ext4/super.rst, "The Super Block":
 * 1024 bytes at byte 1024, little-endian). Only what a summary needs: sizes, counts, label, UUID,
 * features and the superblock checksum (metadata_csum: crc32c over bytes 0…1019, stored as the raw
 * CRC, i.e. the complement of the standard CRC-32C).
 *
 * Declared here because no ext4 package exists yet: when @imgkit/ext4 lands with its own
 * superblock declaration, this file should import that one instead.
 */
import { bytes, crc32c, struct, u16le, u32le, viewOf, type RandomAccessReader } from '@imgkit/core';
import { ascii, hex, trimText } from './io.js';
import { defect, node, type InspectNode } from './report.js';

export const EXT4_SUPER_MAGIC = 0xef53;
const SUPERBLOCK_OFFSET = 1024;

// super.rst "The Super Block" (the fields a summary reads).
export const Ext4Superblock = struct('ext4.superblock', 1024, {
  inodesCount: u32le(0x0),
  blocksCountLo: u32le(0x4),
  rBlocksCountLo: u32le(0x8),
  freeBlocksCountLo: u32le(0xc),
  freeInodesCount: u32le(0x10),
  firstDataBlock: u32le(0x14),
  logBlockSize: u32le(0x18), // block size = 2 ^ (10 + s_log_block_size)
  blocksPerGroup: u32le(0x20),
  inodesPerGroup: u32le(0x28),
  mtime: u32le(0x2c),
  wtime: u32le(0x30),
  magic: u16le(0x38),
  state: u16le(0x3a),
  revLevel: u32le(0x4c),
  inodeSize: u16le(0x58),
  featureCompat: u32le(0x5c),
  featureIncompat: u32le(0x60),
  featureRoCompat: u32le(0x64),
  uuid: bytes(0x68, 16),
  volumeName: bytes(0x78, 16),
  lastMounted: bytes(0x88, 64),
  mkfsTime: u32le(0x108),
  blocksCountHi: u32le(0x150),
  freeBlocksCountHi: u32le(0x158),
  checksumType: bytes(0x175, 1),
  checksum: u32le(0x3fc),
});

// super.rst: s_feature_compat, s_feature_incompat, s_feature_ro_compat bits, named as e2fsprogs names them.
const COMPAT: Record<number, string> = { 0x1: 'dir_prealloc', 0x2: 'imagic_inodes', 0x4: 'has_journal', 0x8: 'ext_attr', 0x10: 'resize_inode', 0x20: 'dir_index', 0x200: 'sparse_super2', 0x400: 'fast_commit', 0x1000: 'orphan_file' };
const INCOMPAT: Record<number, string> = {
  0x1: 'compression', 0x2: 'filetype', 0x4: 'needs_recovery', 0x8: 'journal_dev', 0x10: 'meta_bg', 0x40: 'extent', 0x80: '64bit', 0x100: 'mmp',
  0x200: 'flex_bg', 0x400: 'ea_inode', 0x1000: 'dirdata', 0x2000: 'metadata_csum_seed', 0x4000: 'large_dir', 0x8000: 'inline_data', 0x10000: 'encrypt', 0x20000: 'casefold',
};
const RO_COMPAT: Record<number, string> = {
  0x1: 'sparse_super', 0x2: 'large_file', 0x8: 'huge_file', 0x10: 'uninit_bg', 0x20: 'dir_nlink', 0x40: 'extra_isize', 0x100: 'quota', 0x200: 'bigalloc',
  0x400: 'metadata_csum', 0x1000: 'read-only', 0x2000: 'project', 0x8000: 'verity', 0x10000: 'orphan_present',
};
const INCOMPAT_64BIT = 0x80;
const RO_COMPAT_METADATA_CSUM = 0x400;

function names(mask: number, table: Record<number, string>): string[] {
  const out: string[] = [];
  for (let bit = 1; bit !== 0 && bit <= 0x80000000; bit = (bit << 1) >>> 0) if (mask & bit) out.push(table[bit] ?? `FEATURE_${hex(bit)}`);
  return out;
}

export async function looksLikeExt4(reader: RandomAccessReader): Promise<boolean> {
  if (reader.size < 2048) return false;
  const b = await reader.read(SUPERBLOCK_OFFSET + 0x38, 2);
  return b.byteLength === 2 && viewOf(b).getUint16(0, true) === EXT4_SUPER_MAGIC;
}

function uuidText(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export async function inspectExt4(reader: RandomAccessReader, offset: number): Promise<InspectNode> {
  const raw = await reader.read(SUPERBLOCK_OFFSET, 1024);
  const sb = Ext4Superblock.decode(raw);
  const blockSize = 1024 * 2 ** sb.logBlockSize;
  const is64 = (sb.featureIncompat & INCOMPAT_64BIT) !== 0;
  const blocks = sb.blocksCountLo + (is64 ? sb.blocksCountHi * 2 ** 32 : 0);
  const free = sb.freeBlocksCountLo + (is64 ? sb.freeBlocksCountHi * 2 ** 32 : 0);
  const features = [...names(sb.featureCompat, COMPAT), ...names(sb.featureIncompat, INCOMPAT), ...names(sb.featureRoCompat, RO_COMPAT)];
  const kind = sb.featureIncompat & (0x40 | 0x80 | 0x200) || sb.featureRoCompat & (0x8 | 0x400) ? 'ext4' : sb.featureCompat & 0x4 ? 'ext3' : 'ext2';
  const n = node('ext4', offset, blocks * blockSize, {
    kind,
    label: trimText(ascii(sb.volumeName, 0, 16)),
    uuid: uuidText(sb.uuid),
    blockSize,
    blocks,
    freeBlocks: free,
    inodes: sb.inodesCount,
    freeInodes: sb.freeInodesCount,
    inodeSize: sb.inodeSize,
    blocksPerGroup: sb.blocksPerGroup,
    inodesPerGroup: sb.inodesPerGroup,
    features,
    state: sb.state & 1 ? 'clean' : 'not clean',
    created: sb.mkfsTime ? new Date(sb.mkfsTime * 1000).toISOString().replace('.000', '') : null,
  });
  const F = 'ext4.superblock';
  if (sb.logBlockSize > 6) return (defect(n, `${F}.logBlockSize`, `block size 2^(10+${sb.logBlockSize}) is beyond 64 KiB`), n);
  if (blocks * blockSize > reader.size) defect(n, `${F}.blocksCount`, `${blocks} blocks of ${blockSize} bytes (${blocks * blockSize}) run past the end of the ${reader.size}-byte container`);
  if (sb.freeBlocksCountLo > sb.blocksCountLo && !is64) defect(n, `${F}.freeBlocksCount`, `${free} free blocks of ${blocks}`);
  if (sb.freeInodesCount > sb.inodesCount) defect(n, `${F}.freeInodesCount`, `${sb.freeInodesCount} free inodes of ${sb.inodesCount}`);
  if (sb.featureRoCompat & RO_COMPAT_METADATA_CSUM) {
    const computed = ~crc32c(raw.subarray(0, 0x3fc)) >>> 0;
    n.fields.checksum = hex(sb.checksum);
    if (computed !== sb.checksum) defect(n, `${F}.checksum`, `superblock checksum ${hex(sb.checksum)} stored, ${hex(computed)} computed`);
  }
  return n;
}
