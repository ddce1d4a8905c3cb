import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32cUpdate } from '@imgkit/core';
import {
  EXTENT_MAGIC,
  ExtentHeader,
  ExtentIndex,
  ExtentLeaf,
  Inode,
  buildExtentTree,
  entriesPerBlock,
  toExtents,
  treeBlocks,
} from '@imgkit/ext4';
import { hex, inodeBytes, refImage } from './reference.ts';

test('extent structures: 12 bytes each, fields of ifork.rst', () => {
  assert.deepEqual([ExtentHeader.size, ExtentIndex.size, ExtentLeaf.size], [12, 12, 12]);
  assert.deepEqual(Object.values(ExtentHeader.fields).map((f) => f.offset), [0, 2, 4, 6, 8]);
  assert.deepEqual(Object.values(ExtentLeaf.fields).map((f) => f.offset), [0, 4, 6, 8]);
  assert.deepEqual(Object.values(ExtentIndex.fields).map((f) => f.offset), [0, 4, 8, 10]);
  assert.equal(entriesPerBlock(4096), 340);
  assert.equal(entriesPerBlock(1024), 84);
});

test('toExtents: merges runs that continue each other, splits at 32768 blocks', () => {
  assert.deepEqual(toExtents([{ logical: 0, count: 10, physical: 100 }, { logical: 10, count: 5, physical: 110 }]), [{ logical: 0, count: 15, physical: 100 }]);
  assert.deepEqual(toExtents([{ logical: 0, count: 10, physical: 100 }, { logical: 20, count: 5, physical: 110 }]).length, 2, 'a hole keeps them apart');
  assert.deepEqual(toExtents([{ logical: 0, count: 70000, physical: 1000 }]), [
    { logical: 0, count: 32768, physical: 1000 },
    { logical: 32768, count: 32768, physical: 33768 },
    { logical: 65536, count: 4464, physical: 66536 },
  ]);
});

test('treeBlocks: none up to 4 extents, then leaves (340 per 4 KiB block) and index levels', () => {
  const cases: [number, number, number][] = [
    [0, 4096, 0], [4, 4096, 0], [5, 4096, 1], [340, 4096, 1], [341, 4096, 2], [1360, 4096, 4], [1361, 4096, 5 + 1], [84 * 4, 1024, 4], [84 * 4 + 1, 1024, 5 + 1],
  ];
  for (const [n, bs, want] of cases) assert.equal(treeBlocks(n, bs), want, `${n} extents, ${bs}`);
});

test("buildExtentTree: a depth-0 root equals mke2fs's journal inode root (3 extents)", () => {
  const raw = Inode.decode(inodeBytes(refImage('empty-4k'), 4096, 34, 8)).block;
  const t = buildExtentTree([{ logical: 0, count: 10, physical: 8 }, { logical: 10, count: 15, physical: 19 }, { logical: 25, count: 999, physical: 67 }], [], 4096, undefined);
  assert.equal(hex(t.root), hex(raw));
  assert.equal(t.nodes.length, 0);
});

test('buildExtentTree: depth 1 and 2, leaves full, index entries name their first block, tails checksummed', () => {
  const extents = Array.from({ length: 700 }, (_, i) => ({ logical: i * 3, count: 2, physical: 5000 + i * 3 }));
  const blocks = Array.from({ length: treeBlocks(700, 4096) }, (_, i) => 100 + i);
  assert.equal(blocks.length, 3);
  const seed = 0xabcdef01;
  const t = buildExtentTree(extents, blocks, 4096, seed);
  const root = ExtentHeader.decode(t.root);
  assert.deepEqual({ ...root }, { magic: EXTENT_MAGIC, entries: 3, max: 4, depth: 1, generation: 0 });
  assert.deepEqual(t.nodes.map((n) => n.physical), [100, 101, 102]);
  const counts = t.nodes.map((n) => ExtentHeader.decode(n.bytes).entries);
  assert.deepEqual(counts, [340, 340, 20]);
  for (const [k, n] of t.nodes.entries()) {
    const idx = ExtentIndex.decode(t.root, 12 + k * 12);
    assert.equal(idx.leafLo, n.physical);
    assert.equal(idx.block, ExtentLeaf.decode(n.bytes, 12).block);
    const tail = new DataView(n.bytes.buffer).getUint32(12 + 340 * 12, true);
    assert.equal(tail, crc32cUpdate(seed, n.bytes.subarray(0, 12 + 340 * 12)));
  }
  // 2000 extents on 1 KiB blocks: 24 leaves, 1 index block of depth 1, root of depth 2
  const many = Array.from({ length: 2000 }, (_, i) => ({ logical: i * 2, count: 1, physical: 9000 + i * 2 }));
  const need = treeBlocks(2000, 1024);
  assert.equal(need, 24 + 1);
  const t2 = buildExtentTree(many, Array.from({ length: need }, (_, i) => 50 + i), 1024, undefined);
  assert.equal(ExtentHeader.decode(t2.root).depth, 2);
  assert.equal(ExtentHeader.decode(t2.root).entries, 1);
  assert.equal(ExtentHeader.decode(t2.nodes[24]!.bytes).depth, 1);
  assert.equal(ExtentHeader.decode(t2.nodes[24]!.bytes).entries, 24);
});
