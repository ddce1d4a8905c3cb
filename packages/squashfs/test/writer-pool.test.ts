// The writer and a misbehaving pool: a result missing is a typed error, not a plain Error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ImgkitError, inlinePool, memoryTree, MemorySink, type WorkerPool } from '@imgkit/core';
import { writeSquashfs } from '@imgkit/squashfs';

test('a pool that drops the last result → E_WORKER naming the pool, not a plain Error', async () => {
  const inner = inlinePool();
  const dropping: WorkerPool = {
    workers: 1,
    async *map<I, O>(jobs: AsyncIterable<I> | Iterable<I>, task: string): AsyncIterable<O> {
      let held: O | undefined;
      for await (const r of inner.map<I, O>(jobs, task)) {
        if (held !== undefined) yield held;
        held = r;
      }
    },
    close: async () => {},
  };
  const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  const tree = memoryTree([
    { path: 'a', kind: 'file', mode: 0o644, content: data },
    { path: 'b', kind: 'file', mode: 0o644, content: data.subarray(0, 1000) },
  ]);
  await assert.rejects(writeSquashfs(tree, new MemorySink(), { pool: dropping, compression: 'gzip', epoch: 0 }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_WORKER' && e.format === 'squashfs' && e.field === 'pool');
});
