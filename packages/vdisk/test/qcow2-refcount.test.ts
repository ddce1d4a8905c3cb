/**
 * qcow2 refcount metadata sizing (qcow2.rst "Host cluster management"): the refcount table and
 * blocks must cover every cluster including themselves; the smallest such counts, checked at the
 * boundaries where one more cluster needs one more block.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RefcountArray, encodeRefcountBlock, refcountMetadataFor, refcountsPerBlock } from '@imgkit/vdisk';

test('fixed point: covers itself and is minimal', () => {
  for (const cs of [512, 4096, 65536]) {
    const per = refcountsPerBlock(cs);
    for (const n of [1, 2, per - 3, per - 2, per - 1, per, per + 1, 5 * per - 7, 1000 * per + 3]) {
      const { tableClusters: t, blockClusters: b } = refcountMetadataFor(n, cs);
      assert.ok(b * per >= n + t + b, `cs ${cs} n ${n}: ${b} blocks cover ${n + t + b} clusters`);
      assert.ok(t * (cs / 8) >= b, `cs ${cs} n ${n}: table holds ${b} blocks`);
      assert.ok(b === 1 || (b - 1) * per < n + t + (b - 1), `cs ${cs} n ${n}: one block fewer would not do`);
    }
  }
  assert.deepEqual(refcountMetadataFor(32766, 65536), { tableClusters: 1, blockClusters: 1 });
  assert.deepEqual(refcountMetadataFor(32767, 65536), { tableClusters: 1, blockClusters: 2 });
});

test('refcount block: 16-bit big-endian entries', () => {
  const r = new RefcountArray();
  r.add(0);
  r.add(2, 3);
  r.add(3);
  const b = encodeRefcountBlock(512, 0, (c) => r.get(c));
  assert.deepEqual([...b.subarray(0, 10)], [0, 1, 0, 0, 0, 1, 0, 2, 0, 1]);
  assert.throws(() => {
    const x = new RefcountArray();
    for (let i = 0; i < 0x10000; i++) x.add(7);
  }, RangeError);
});
