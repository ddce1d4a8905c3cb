import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FEATURES, backupGroups, computeGeometry, editFeatures, groupHasSuper, type GeometryInput } from '@imgkit/ext4';

const base = (blocks: number, extra: Partial<GeometryInput> = {}): GeometryInput => ({
  blocks,
  blockSize: 4096,
  inodeSize: 256,
  inodeRatio: 16384,
  reservedRatio: 5,
  features: DEFAULT_FEATURES,
  flexBgSize: 16,
  ...extra,
});

test('backup superblocks: groups 0, 1 and powers of 3, 5, 7 with sparse_super; every group without', () => {
  assert.deepEqual(backupGroups(130, true), [1, 3, 5, 7, 9, 25, 27, 49, 81, 125]);
  assert.deepEqual(backupGroups(5, false), [1, 2, 3, 4]);
  assert.equal(groupHasSuper(0, true), true);
  assert.equal(groupHasSuper(15, true), false);
  assert.equal(groupHasSuper(343, true), true);
});

// Values read from dumpe2fs after `mke2fs -t ext4 -T default` on files of these sizes (1.47.0).
test("geometry: counts and table positions are mke2fs's (64 MiB, 3 GiB with two flex groups, 1 KiB blocks)", () => {
  const g = computeGeometry(base(16384));
  assert.deepEqual(
    [g.groupCount, g.inodes, g.inodesPerGroup, g.inodeBlocksPerGroup, g.reservedGdtBlocks, g.reservedBlocks, g.journalBlocks, g.overhead],
    [1, 4096, 4096, 256, 7, 819, 1024, 1291],
  );
  assert.deepEqual([g.groups[0]!.blockBitmap, g.groups[0]!.inodeBitmap, g.groups[0]!.inodeTable], [9, 25, 41]);
  const big = computeGeometry(base(786432));
  assert.deepEqual([big.groupCount, big.inodes, big.reservedGdtBlocks, big.reservedBlocks, big.journalBlocks, big.overhead], [24, 196608, 383, 39321, 16384, 31030]);
  assert.deepEqual([big.groups[0]!.blockBitmap, big.groups[0]!.inodeBitmap, big.groups[0]!.inodeTable], [385, 401, 417]);
  assert.deepEqual([big.groups[15]!.blockBitmap, big.groups[15]!.inodeTable], [400, 8097]);
  // the last flex group (16 … 23) keeps its tables contiguous: 8 bitmaps, 8 bitmaps, tables
  assert.deepEqual([big.groups[16]!.blockBitmap, big.groups[16]!.inodeBitmap, big.groups[16]!.inodeTable], [524288, 524296, 524304]);
  assert.deepEqual([big.groups[23]!.blockBitmap, big.groups[23]!.inodeBitmap, big.groups[23]!.inodeTable], [524295, 524303, 527888]);
  const one = computeGeometry(base(2048, { blockSize: 1024, features: editFeatures(DEFAULT_FEATURES, '^metadata_csum,^64bit') }));
  assert.deepEqual([one.firstDataBlock, one.groupCount, one.descSize, one.inodes, one.reservedGdtBlocks], [1, 1, 32, 128, 7]);
  assert.deepEqual([one.groups[0]!.start, one.groups[0]!.blockBitmap, one.groups[0]!.inodeBitmap, one.groups[0]!.inodeTable], [1, 10, 26, 42]);
});

test('geometry: an inode count too large for 8 × block size per group shrinks the groups (mke2fs -N 70000 on 64 MiB)', () => {
  const g = computeGeometry(base(16384, { inodes: 70000 }));
  assert.deepEqual([g.blocks, g.blocksPerGroup, g.groupCount, g.inodesPerGroup, g.inodes, g.inodeBlocksPerGroup, g.reservedBlocks], [16384, 7432, 3, 23344, 70032, 1459, 743]);
});

test('geometry: a last group too small for its metadata is dropped (ext2fs_initialize), the reserve scaled with it', () => {
  // 32768 + 100 blocks: the second group would have 100 blocks, fewer than its tables + 50
  const g = computeGeometry(base(32768 + 100));
  assert.equal(g.blocks, 32768);
  assert.equal(g.groupCount, 1);
  assert.equal(g.reservedBlocks, 1638, 'mke2fs on 32868 blocks: 32768 blocks, 1638 reserved');
});

test('geometry: no journal below 2048 blocks (mke2fs drops it); errors for impossible sizes and options', () => {
  const small = computeGeometry(base(1000));
  assert.equal(small.journalBlocks, 0);
  assert.equal(small.journalDropped, true);
  assert.throws(() => computeGeometry(base(10)), (e: { code?: string }) => e.code === 'E_NO_SPACE');
  assert.throws(() => computeGeometry(base(2 ** 32 + 1, { features: editFeatures(DEFAULT_FEATURES, '^64bit') })), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'features');
  assert.throws(() => computeGeometry(base(16384, { inodes: 262144 })), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'inodes');
  const huge = computeGeometry(base(2 ** 32 + 8 * 32768));
  assert.equal(huge.features.compat & 0x10, 0, 'resize_inode is dropped past 2^32 blocks');
});
