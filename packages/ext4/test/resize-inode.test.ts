import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resizeInodeLayout } from '@imgkit/ext4';
import { block, hex, refImage } from './reference.ts';

test("resize inode: mke2fs's double-indirect block and reserved GDT blocks (1 KiB image: 7 reserved, one group)", () => {
  const img = refImage('empty-1k-nocsum');
  const r = resizeInodeLayout({ blockSize: 1024, firstDataBlock: 1, descBlocks: 1, reservedGdtBlocks: 7, blocksPerGroup: 8192, groupCount: 1 }, true);
  // debugfs stat <7>: (DIND):74, (IND):3 … 9
  assert.equal(hex(r.dind), hex(block(img, 1024, 74)));
  assert.deepEqual(r.primaries.map((p) => p.block), [3, 4, 5, 6, 7, 8, 9]);
  for (const p of r.primaries) assert.equal(hex(p.bytes), hex(block(img, 1024, p.block)), `reserved GDT block ${p.block}`);
  assert.equal(r.blockCount, 8);
  assert.equal(r.size, (256 * 256 + 256 + 12) * 1024);
});

test('resize inode: each reserved GDT block lists its copies in the backup groups (1, 3, 5, 7, 9, …)', () => {
  const r = resizeInodeLayout({ blockSize: 4096, firstDataBlock: 0, descBlocks: 1, reservedGdtBlocks: 3, blocksPerGroup: 32768, groupCount: 10 }, true);
  const v = new DataView(r.primaries[0]!.bytes.buffer);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => v.getUint32(i * 4, true)), [2 + 32768, 2 + 3 * 32768, 2 + 5 * 32768, 2 + 7 * 32768, 2 + 9 * 32768, 0]);
  assert.equal(r.blockCount, 1 + 3 * 6);
  const d = new DataView(r.dind.buffer);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => d.getUint32(i * 4, true)), [0, 2, 3, 4, 0], 'entry desc_blocks + k');
});
