/**
 * The composer's sink adapters: the allocation map (TrackingSink) merges appends and patches into
 * sorted disjoint ranges and leaves writeZeros out; ContentWindow writes in place, keeps holes at
 * the parent's end, and counts instead of writing past its end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemorySink } from '@imgkit/core';
import { ContentWindow, TrackingSink } from '@imgkit/disk';

test('TrackingSink: appends merge, zeros are skipped, patches insert and merge', async () => {
  const mem = new MemorySink();
  await mem.write(new Uint8Array(10)); // before the tracker: not in its map, and offsets are relative to here
  const t = new TrackingSink(mem);
  await t.write(new Uint8Array(100).fill(1));
  await t.write(new Uint8Array(50).fill(2));
  await t.writeZeros(1000);
  await t.write(new Uint8Array(20).fill(3));
  await t.writeZeros(500);
  await t.write(new Uint8Array(5).fill(4));
  assert.deepEqual(t.ranges, [{ offset: 0, length: 150 }, { offset: 1150, length: 20 }, { offset: 1670, length: 5 }]);
  await t.writeAt(10 + 400, new Uint8Array(10)); // a patch between ranges
  await t.writeAt(10 + 145, new Uint8Array(10)); // touching the first range
  await t.writeAt(10 + 1160, new Uint8Array(515)); // bridging the last two
  assert.deepEqual(t.ranges, [{ offset: 0, length: 155 }, { offset: 400, length: 10 }, { offset: 1150, length: 525 }]);
  assert.equal(t.position, mem.position);
});

test('ContentWindow: in place from its start; past its end it counts instead of writing; expectSize refuses early', async () => {
  const mem = new MemorySink();
  await mem.write(new Uint8Array(16).fill(9));
  const w = new ContentWindow(mem, 16, 8, (n) => new Error(`needs ${n}`));
  await w.write(new Uint8Array([1, 2, 3]));
  await w.writeZeros(2);
  await w.writeAt(0, new Uint8Array([7]));
  assert.deepEqual([...mem.bytes().subarray(16)], [7, 2, 3, 0, 0]);
  await w.write(new Uint8Array(10).fill(5)); // past the end
  assert.equal(w.overflowed, true);
  assert.equal(w.extent, 15);
  assert.equal(mem.position, 21, 'nothing past the window reached the parent');
  await w.write(new Uint8Array(4));
  assert.equal(w.extent, 19);
  await assert.rejects(() => new ContentWindow(mem, 0, 8, (n) => new Error(`needs ${n}`)).expectSize(9), /needs 9/);
});
