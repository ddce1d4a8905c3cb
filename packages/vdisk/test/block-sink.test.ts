/**
 * The container sink core: blocks handed over in order, zeros merged into runs, partial blocks
 * padded, writes past the virtual size refused; allocation maps; the RangeSource pipe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, MemorySink } from '@imgkit/core';
import { BlockSink, RunCursor, blockRuns, exactAllocation, isZeroBlock, memorySource, pipeSource } from '@imgkit/vdisk';

function recorder() {
  const calls: string[] = [];
  return {
    calls,
    handler: {
      async data(i: number, b: Uint8Array) {
        calls.push(`data ${i} ${b.byteLength} ${b[0]}`);
      },
      async zeros(first: number, count: number) {
        calls.push(`zeros ${first}+${count}`);
      },
      async finish() {
        calls.push('finish');
      },
    },
  };
}

test('blocks in order; zero blocks and writeZeros merge into runs; the last block is padded', async () => {
  const r = recorder();
  const out = new MemorySink();
  const s = new BlockSink('test', 10 * 16 - 5, 16, r.handler, out);
  await s.write(new Uint8Array(16).fill(1)); // block 0, whole
  await s.write(new Uint8Array(20)); // block 1 zero, 4 bytes of block 2
  await s.writeZeros(30); // rest of block 2, block 3, 2 bytes of 4
  const seven = new Uint8Array(3).fill(7);
  await s.write(seven); // block 4 gets data
  await s.writeZeros(16 * 4); // to 16*9+5-... (block 4 rest, 5, 6, 7, part of 8)
  assert.equal(s.position, 16 + 20 + 30 + 3 + 64);
  await s.close();
  assert.deepEqual(r.calls, ['data 0 16 1', 'zeros 1+3', 'data 4 16 0', 'zeros 5+5', 'finish']);
  assert.equal(out.closed, true);
});

test('a write past the virtual size is E_NO_SPACE; writeAt is E_SINK_UNSUPPORTED', async () => {
  const s = new BlockSink('test', 32, 16, recorder().handler, new MemorySink());
  await s.write(new Uint8Array(30));
  await assert.rejects(s.write(new Uint8Array(3)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_NO_SPACE');
  await assert.rejects(s.writeAt(), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
});

test('isZeroBlock at any alignment and length', () => {
  const b = new Uint8Array(1000);
  for (const [off, len] of [[0, 1000], [1, 999], [3, 33], [0, 31], [5, 0]] as const) assert.equal(isZeroBlock(b.subarray(off, off + len)), true);
  for (const at of [0, 1, 31, 32, 500, 999]) {
    const c = new Uint8Array(1000);
    c[at] = 1;
    assert.equal(isZeroBlock(c), false, `byte ${at}`);
    assert.equal(isZeroBlock(c.subarray(1)), at === 0, `offset 1, byte ${at}`);
  }
});

test('allocation: byte ranges to block runs, validated; RunCursor ranks', () => {
  const runs = blockRuns([{ offset: 10, length: 5 }, { offset: 15, length: 40 }, { offset: 200, length: 1 }], 16, 1000, 'test');
  assert.deepEqual(runs, [{ first: 0, count: 4 }, { first: 12, count: 1 }]);
  const c = new RunCursor(runs);
  assert.deepEqual([0, 3, 4, 11, 12, 13].map((i) => c.rank(i)), [0, 3, -1, -1, 4, -1]);
  assert.throws(() => blockRuns([{ offset: 20, length: 5 }, { offset: 10, length: 1 }], 16, 1000, 'test'), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION');
  assert.throws(() => blockRuns([{ offset: 990, length: 20 }], 16, 1000, 'test'), (e: unknown) => e instanceof ImgkitError && e.field === 'allocation[0]');
});

test('exactAllocation finds the non-zero blocks; pipeSource fills gaps and the tail with zeros', async () => {
  const bytes = new Uint8Array(100 * 64);
  bytes[64 * 3 + 5] = 1;
  bytes[64 * 4] = 2;
  bytes[64 * 40 + 63] = 3;
  const src = memorySource(bytes, 8192);
  assert.deepEqual(await exactAllocation(src, 64), [{ offset: 192, length: 128 }, { offset: 2560, length: 64 }]);
  const out = new MemorySink();
  await pipeSource(src, out);
  assert.equal(out.position, 8192);
  assert.deepEqual(out.bytes().subarray(0, bytes.byteLength), bytes);
});
