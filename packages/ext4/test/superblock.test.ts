import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_FEATURES,
  EXT4_MAGIC,
  Superblock,
  SUPERBLOCK_OFFSET,
  encodeSuperblock,
  featureNames,
  formatUuid,
  INCOMPAT_64BIT,
  RO_COMPAT_METADATA_CSUM,
} from '@imgkit/ext4';
import { REF_HASH_SEED, REF_TIME, REF_UUID, hex, refImage } from './reference.ts';

test('superblock: field offsets are those of super.rst "The Super Block"', () => {
  const f = Superblock.fields;
  const table: [keyof typeof f, number, number][] = [
    ['inodesCount', 0x0, 4],
    ['blocksCountLo', 0x4, 4],
    ['firstDataBlock', 0x14, 4],
    ['logBlockSize', 0x18, 4],
    ['blocksPerGroup', 0x20, 4],
    ['inodesPerGroup', 0x28, 4],
    ['maxMntCount', 0x36, 2],
    ['magic', 0x38, 2],
    ['firstIno', 0x54, 4],
    ['inodeSize', 0x58, 2],
    ['blockGroupNr', 0x5a, 2],
    ['featureCompat', 0x5c, 4],
    ['featureIncompat', 0x60, 4],
    ['featureRoCompat', 0x64, 4],
    ['uuid', 0x68, 16],
    ['volumeName', 0x78, 16],
    ['reservedGdtBlocks', 0xce, 2],
    ['journalInum', 0xe0, 4],
    ['hashSeed', 0xec, 16],
    ['defHashVersion', 0xfc, 1],
    ['descSize', 0xfe, 2],
    ['mkfsTime', 0x108, 4],
    ['jnlBlocks', 0x10c, 68],
    ['blocksCountHi', 0x150, 4],
    ['minExtraIsize', 0x15c, 2],
    ['flags', 0x160, 4],
    ['logGroupsPerFlex', 0x174, 1],
    ['checksumType', 0x175, 1],
    ['kbytesWritten', 0x178, 8],
    ['overheadClusters', 0x248, 4],
    ['checksumSeed', 0x270, 4],
    ['checksum', 0x3fc, 4],
  ];
  for (const [name, offset, size] of table) {
    assert.equal(f[name].offset, offset, `${name} offset`);
    assert.equal(f[name].size, size, `${name} size`);
  }
  assert.equal(Superblock.size, 1024);
});

test("superblock: mke2fs's (4 KiB, metadata_csum) decodes to its values and re-encodes to the same bytes, checksum included", () => {
  const img = refImage('empty-4k');
  const raw = img.subarray(SUPERBLOCK_OFFSET, SUPERBLOCK_OFFSET + 1024);
  const sb = Superblock.decode(raw);
  assert.equal(sb.magic, EXT4_MAGIC);
  assert.equal(sb.blocksCountLo, 2048);
  assert.equal(sb.inodesCount, 512);
  assert.equal(sb.logBlockSize, 2);
  assert.equal(sb.mkfsTime, REF_TIME);
  assert.equal(formatUuid(sb.uuid), REF_UUID);
  assert.equal(formatUuid(sb.hashSeed), REF_HASH_SEED);
  assert.deepEqual({ compat: sb.featureCompat, incompat: sb.featureIncompat, ro_compat: sb.featureRoCompat }, DEFAULT_FEATURES);
  assert.equal(
    featureNames(DEFAULT_FEATURES).join(' '),
    'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum',
    "dumpe2fs's order and names",
  );
  const { checksum, ...rest } = sb;
  const again = encodeSuperblock(rest, true);
  assert.equal(hex(again), hex(raw));
  assert.equal(checksum, new DataView(raw.buffer, raw.byteOffset).getUint32(0x3fc, true));
});

test("superblock: mke2fs's 1 KiB one without checksums (first data block 1) re-encodes to the same bytes", () => {
  const img = refImage('empty-1k-nocsum');
  const raw = img.subarray(1024, 2048); // block 1
  const sb = Superblock.decode(raw);
  assert.equal(sb.firstDataBlock, 1);
  assert.equal(sb.logBlockSize, 0);
  assert.equal(sb.featureIncompat & INCOMPAT_64BIT, 0);
  assert.equal(sb.featureRoCompat & RO_COMPAT_METADATA_CSUM, 0);
  assert.equal(sb.checksum, 0);
  assert.equal(sb.descSize, 0);
  const { checksum: _c, ...rest } = sb;
  assert.equal(hex(encodeSuperblock(rest, false)), hex(raw));
});

test('superblock: a value that does not fit its field is an error naming the field', () => {
  const sb = Superblock.decode(refImage('empty-4k').subarray(1024, 2048));
  const { checksum: _c, ...rest } = sb;
  assert.throws(() => encodeSuperblock({ ...rest, inodeSize: 0x10000 }, true), (e: { code?: string; field?: string }) => e.code === 'E_FIELD_RANGE' && e.field === 'ext4.superblock.inodeSize');
});
