import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsedBlocks } from '@imgkit/ext4';

test('UsedBlocks: runs merge when they touch or overlap; counts, membership and next free block', () => {
  const u = new UsedBlocks(0, 1000);
  u.add(10, 5);
  u.add(20, 5);
  u.add(15, 5); // joins both
  assert.deepEqual([...u.runsIn(0, 1000)], [{ start: 10, count: 15 }]);
  u.add(100, 10);
  u.add(105, 10);
  assert.deepEqual([...u.runsIn(0, 1000)], [{ start: 10, count: 15 }, { start: 100, count: 15 }]);
  assert.equal(u.total(), 30);
  assert.equal(u.countUsed(12, 102), 15);
  assert.equal(u.isUsed(24), true);
  assert.equal(u.isUsed(25), false);
  assert.equal(u.nextFree(10), 25);
  assert.equal(u.nextFree(30), 30);
  assert.equal(u.overlapEnd(90, 11), 115);
  assert.equal(u.overlapEnd(25, 75), undefined);
});

test('getFreeBlocks: first run of n free blocks from start to finish, wrapping when finish ≤ start (ext2fs_get_free_blocks2)', () => {
  const u = new UsedBlocks(1, 100);
  u.add(1, 10); // 1 … 10
  u.add(20, 30); // 20 … 49
  assert.equal(u.getFreeBlocks(0, 0, 5), 11, 'start 0 means the first data block');
  assert.equal(u.getFreeBlocks(5, 100, 10), 50, 'the gap 11 … 19 holds only 9');
  assert.equal(u.getFreeBlocks(60, 70, 20), 60, 'only the start is bounded by finish');
  assert.equal(u.getFreeBlocks(45, 50, 10), undefined, 'no start in [45, 50) is free');
  assert.equal(u.getFreeBlocks(90, 0, 20), 50, '90 … 99 is too short: wraps, and 50 … 69 is the first run of 20');
  assert.equal(u.getFreeBlocks(90, 0, 9), 90);
  assert.equal(u.getFreeBlocks(95, 0, 9), 11, 'wraps to the start');
  assert.equal(u.getFreeBlocks(95, 15, 9), 11, 'finish below start: the end, then the start up to finish');
  assert.equal(u.getFreeBlocks(95, 11, 9), undefined, 'nothing in [95, 100) and none before 11');
});
