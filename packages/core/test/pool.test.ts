// Worker pools: order, the in-flight bound, error propagation, custom tasks, close() and exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ImgkitError,
  inlinePool,
  loadCodec,
  registerTask,
  type CompressJob,
  type CompressResult,
  type WorkerPool,
} from '@imgkit/core';
import { createNodePool } from '@imgkit/core/node';
import { run, tempDir } from '../../../test/lib/tools.ts';

const CORE_URL = import.meta.resolve('@imgkit/core');
const CORE_NODE_URL = import.meta.resolve('@imgkit/core/node');

function block(i: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) b[k] = (k * (i + 1) + (k >> 7)) & 0xff;
  return b;
}

const opened: WorkerPool[] = [];
const pool = (workers: number, inFlight?: number, modules?: string[]): WorkerPool => {
  const o: Parameters<typeof createNodePool>[0] = { workers };
  if (inFlight !== undefined) o.inFlight = inFlight;
  if (modules) o.modules = modules;
  const p = createNodePool(o);
  opened.push(p);
  return p;
};
after(() => Promise.all(opened.map((p) => p.close())));

/** A task module for the workers (and this realm): echo, a plain Error, an ImgkitError with a path. */
async function taskModule(): Promise<string> {
  const dir = await tempDir('pool-tasks');
  const file = join(dir, 'tasks.mjs');
  writeFileSync(
    file,
    `import { registerTask, ImgkitError } from ${JSON.stringify(CORE_URL)};
registerTask('echo-index', (x) => ({ index: x.index, data: x.data, len: x.data.byteLength }));
registerTask('boom', () => { throw new TypeError('plain failure'); });
registerTask('imgkit-boom', (x) => { throw new ImgkitError('E_SOURCE_UNREADABLE', { format: 'test', path: x.path, detail: 'cannot read' }); });
`,
  );
  return pathToFileURL(file).href;
}

test('compress task: results in job order and equal to the inline codec, for 1 and 2 workers', async () => {
  const spec = { name: 'zstd' as const, level: 3 };
  const codec = await loadCodec(spec);
  const jobs = (): CompressJob[] => Array.from({ length: 24 }, (_, i) => ({ codec: spec, data: block(i, 1000 + ((i * 7919) % 200_000)) }));
  const expected = jobs().map((j) => Buffer.from(codec.compress(j.data)).toString('base64'));
  for (const p of [inlinePool(), pool(1), pool(2, 1), pool(2, 3)]) {
    const got: string[] = [];
    for await (const r of p.map<CompressJob, CompressResult>(jobs(), 'compress')) {
      assert.ok(r.data instanceof Uint8Array);
      got.push(Buffer.from(r.data).toString('base64'));
    }
    assert.deepEqual(got, expected, `workers ${p.workers}`);
  }
});

test('job inputs stay usable for the caller (copied, not detached)', async () => {
  const p = pool(1);
  const data = block(3, 50_000);
  const view = new Uint8Array(data.buffer, 1000, 20_000); // a view into a bigger buffer
  for await (const r of p.map<CompressJob, CompressResult>([{ codec: { name: 'lz4-block' }, data: view }], 'compress')) {
    assert.ok(r.data.byteLength > 0);
  }
  assert.equal(data.byteLength, 50_000);
  assert.equal(view.byteLength, 20_000);
  // A Node Buffer too: its slice() is a view, so a copy made with it would detach the caller's memory.
  const buf = Buffer.from(block(5, 50_000));
  const part = buf.subarray(100, 30_100);
  for await (const r of p.map<CompressJob, CompressResult>([{ codec: { name: 'lz4-block' }, data: part }], 'compress')) {
    assert.ok(r.data.byteLength > 0);
  }
  assert.equal(buf.byteLength, 50_000);
  assert.equal(part.byteLength, 30_000);
});

test('transferInput hands whole job buffers over (detached after); views are still copied; returnInput gives the buffer back', async () => {
  const p = pool(1);
  const codec = await loadCodec({ name: 'lz4-block' });
  const whole = block(1, 100_000);
  const expected = Buffer.from(codec.compress(block(1, 100_000))).toString('base64');
  for await (const r of p.map<CompressJob, CompressResult>([{ codec: { name: 'lz4-block' }, data: whole }], 'compress', { transferInput: true })) {
    assert.equal(Buffer.from(r.data).toString('base64'), expected);
  }
  assert.equal(whole.byteLength, 0, 'a buffer owned whole changed hands');
  const outer = block(2, 50_000);
  const view = outer.subarray(10, 40_010);
  for await (const r of p.map<CompressJob, CompressResult>([{ codec: { name: 'lz4-block' }, data: view }], 'compress', { transferInput: true })) {
    assert.ok(r.data.byteLength > 0);
  }
  assert.equal(view.byteLength, 40_000, 'a view is copied, never detached');
  // size + returnInput: only the first `size` bytes are compressed; the same buffer comes back
  for (const q of [inlinePool(), p]) {
    const buf = block(3, 200_000);
    const job: CompressJob = { codec: { name: 'lz4-block' }, data: buf, size: 150_000, returnInput: true };
    for await (const r of q.map<CompressJob, CompressResult>([job], 'compress', { transferInput: true })) {
      assert.deepEqual(Buffer.from(codec.decompress(r.data, 150_000)), Buffer.from(block(3, 150_000)), `workers ${q.workers}: first 150 000 bytes`);
      assert.ok(r.input, `workers ${q.workers}: input sent back`);
      assert.deepEqual(Buffer.from(r.input), Buffer.from(block(3, 200_000)), `workers ${q.workers}: the whole buffer, unchanged`);
      assert.notEqual(r.data.buffer, r.input.buffer, 'output never shares the returned buffer');
    }
  }
  // 'none' returns its input: the output must still be a separate buffer from the one handed back
  for await (const r of inlinePool().map<CompressJob, CompressResult>([{ codec: { name: 'none' }, data: block(4, 1000), size: 500, returnInput: true }], 'compress')) {
    assert.notEqual(r.data.buffer, r.input!.buffer);
    assert.deepEqual(Buffer.from(r.data), Buffer.from(block(4, 500)));
  }
});

// The timeout only turns a hang (an eager pool that never starts its workers) into a failure.
test('eager and preloading pools start their workers before the first job; a lazy one at it; a bad preload fails nothing else', { timeout: 120_000 }, async () => {
  // Ordered by events, not by a clock: each pool's task module announces its import on a
  // BroadcastChannel, and records at import whether the marker file (written just before the first
  // job is sent) existed. Eager pools must announce with no job sent; a lazy one must import after.
  const dir = await tempDir('pool-origin');
  const marker = join(dir, 'first-job-sent');
  const channel = `imgkit-pool-origin-${process.pid}`;
  const moduleFor = (name: string): string => {
    const file = join(dir, `origin-${name}.mjs`);
    writeFileSync(
      file,
      `import { registerTask } from ${JSON.stringify(CORE_URL)};
import { existsSync } from 'node:fs';
const afterFirstJob = existsSync(${JSON.stringify(marker)});
const bc = new BroadcastChannel(${JSON.stringify(channel)});
bc.postMessage(${JSON.stringify(name)});
bc.close();
registerTask('origin', () => ({ afterFirstJob }));
`,
    );
    return pathToFileURL(file).href;
  };
  const announced = new Set<string>();
  const listener = new BroadcastChannel(channel);
  let onAnnounce = (): void => {};
  listener.onmessage = (ev) => {
    announced.add(String((ev as MessageEvent).data));
    onAnnounce();
  };
  const announcedAll = (names: string[]): Promise<void> =>
    new Promise((resolve) => {
      onAnnounce = () => {
        if (names.every((n) => announced.has(n))) resolve();
      };
      onAnnounce();
    });
  try {
    const made: [string, WorkerPool][] = [
      ['lazy', createNodePool({ workers: 1, modules: [moduleFor('lazy')] })],
      ['eager', createNodePool({ workers: 1, modules: [moduleFor('eager')], eager: true })],
      ['preload', createNodePool({ workers: 1, modules: [moduleFor('preload')], preload: ['zstd'] })],
    ];
    opened.push(...made.map(([, p]) => p));
    // No job has been sent to any pool: only started workers can announce themselves.
    await announcedAll(['eager', 'preload']);
    assert.ok(!announced.has('lazy'), 'a lazy pool started no worker before its first job');
    writeFileSync(marker, '');
    const afterFirstJob = new Map<string, boolean>();
    for (const [name, p] of made) {
      for await (const r of p.map<object, { afterFirstJob: boolean }>([{}], 'origin')) afterFirstJob.set(name, r.afterFirstJob);
    }
    assert.deepEqual(Object.fromEntries(afterFirstJob), { lazy: true, eager: false, preload: false }, 'imported after the first job was sent');
    assert.ok(announced.has('lazy'));
    // a preloaded codec gives the same frames as the inline one
    const spec = { name: 'zstd' as const, level: 3 };
    const expected = Buffer.from((await loadCodec(spec)).compress(block(7, 300_000))).toString('base64');
    for await (const r of made[2]![1].map<CompressJob, CompressResult>([{ codec: spec, data: block(7, 300_000) }], 'compress')) {
      assert.equal(Buffer.from(r.data).toString('base64'), expected);
    }
  } finally {
    listener.close();
  }
  // an unknown codec in preload is only a failed warm-up: other jobs run
  const bad = createNodePool({ workers: 1, preload: ['no-such-codec' as 'zstd'] });
  opened.push(bad);
  for await (const r of bad.map<CompressJob, CompressResult>([{ codec: { name: 'lz4-block' }, data: block(8, 10_000) }], 'compress')) {
    assert.ok(r.data.byteLength > 0);
  }
});

test('a parent started with V8 options (--max-old-space-size, --stack-size) still gets working workers', async () => {
  // Node refuses V8 options in a worker's execArgv; the pool must not pass them on.
  const script = `
    import { createNodePool } from ${JSON.stringify(CORE_NODE_URL)};
    const pool = createNodePool({ workers: 1 });
    let n = 0;
    for await (const r of pool.map([{ codec: { name: 'lz4-block' }, data: new Uint8Array(5000).fill(3) }], 'compress')) n += r.data.byteLength;
    await pool.close();
    console.log('OK', n > 0);`;
  const r = await run(process.execPath, ['--max-old-space-size=300', '--stack-size=900', '--input-type=module', '-e', script]);
  assert.equal(r.stdout.toString().trim(), 'OK true', r.stderr.toString());
});

test('at most workers × inFlight jobs are taken ahead of the consumer', async () => {
  for (const [workers, inFlight] of [
    [1, 1],
    [2, 2],
    [2, 3],
  ] as const) {
    const p = pool(workers, inFlight);
    let pulled = 0;
    let consumed = 0;
    let maxAhead = 0;
    function* jobs(): Iterable<CompressJob> {
      for (let i = 0; i < 20; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - consumed);
        yield { codec: { name: 'lz4-block' }, data: block(i, 10_000) };
      }
    }
    for await (const _ of p.map(jobs(), 'compress')) consumed++;
    assert.equal(consumed, 20);
    assert.ok(maxAhead <= workers * inFlight, `${workers}×${inFlight}: ${maxAhead} ahead`);
    assert.ok(maxAhead >= Math.min(workers * inFlight, 2), 'jobs do overlap');
  }
});

test('a codec error in a worker rejects the map with the ImgkitError (code and field)', async () => {
  for (const p of [inlinePool(), pool(2)]) {
    const jobs: CompressJob[] = [
      { codec: { name: 'gzip' }, data: block(1, 1000) },
      { codec: { name: 'xz', dictSize: 100_000 }, data: block(2, 1000) },
      { codec: { name: 'gzip' }, data: block(3, 1000) },
    ];
    let seen = 0;
    await assert.rejects(
      (async () => {
        for await (const _ of p.map(jobs, 'compress')) seen++;
      })(),
      (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'codec.xz.dictSize',
    );
    assert.equal(seen, 1, 'results before the failing job were delivered in order');
  }
});

test('custom task modules: plain errors become E_WORKER, ImgkitErrors keep code and path', async () => {
  const mod = await taskModule();
  await import(mod); // same tasks in this realm for the inline pool
  const jobs = [0, 1, 2, 3].map((index) => ({ index, data: block(index, 5000 * (index + 1)) }));
  for (const p of [inlinePool(), pool(2, 2, [mod])]) {
    const got: number[] = [];
    for await (const r of p.map<{ index: number; data: Uint8Array }, { index: number; len: number; data: Uint8Array }>(jobs, 'echo-index')) {
      got.push(r.index);
      assert.equal(r.len, r.data.byteLength);
    }
    assert.deepEqual(got, [0, 1, 2, 3]);
    await assert.rejects(
      (async () => {
        for await (const _ of p.map([1], 'boom'));
      })(),
      (e: unknown) => e instanceof ImgkitError && e.code === 'E_WORKER' && /plain failure/.test(e.message),
    );
    await assert.rejects(
      (async () => {
        for await (const _ of p.map([{ path: 'etc/shadow' }], 'imgkit-boom'));
      })(),
      (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_UNREADABLE' && e.path === 'etc/shadow' && e.format === 'test',
    );
    await assert.rejects(
      (async () => {
        for await (const _ of p.map([1], 'no-such-task'));
      })(),
      (e: unknown) => e instanceof ImgkitError && e.code === 'E_WORKER' && e.field === 'pool.task',
    );
  }
});

test('registerTask in the main realm serves the inline pool', async () => {
  registerTask('double', (x: number) => x * 2);
  const out: number[] = [];
  for await (const r of inlinePool().map<number, number>([1, 2, 3], 'double')) out.push(r);
  assert.deepEqual(out, [2, 4, 6]);
});

test('a closed pool refuses work; workers: 0 is the inline pool', async () => {
  const p = pool(1);
  for await (const _ of p.map([{ codec: { name: 'none' }, data: block(0, 10) }], 'compress'));
  await p.close();
  await assert.rejects(
    (async () => {
      for await (const _ of p.map([{ codec: { name: 'none' }, data: block(0, 10) }], 'compress'));
    })(),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_WORKER',
  );
  assert.equal(createNodePool({ workers: 0 }).workers, 0);
});

test('the process exits after close(), and also when a pool is left open while idle', async () => {
  for (const closeIt of [true, false]) {
    const script = `
      import { createNodePool } from ${JSON.stringify(CORE_NODE_URL)};
      const p = createNodePool({ workers: 2 });
      let n = 0;
      for await (const r of p.map([1, 2, 3, 4].map((i) => ({ codec: { name: 'gzip' }, data: new Uint8Array(1000 * i) })), 'compress')) n += r.data.byteLength > 0 ? 1 : 0;
      ${closeIt ? 'await p.close();' : ''}
      console.log('done', n);
    `;
    // `timeout` only guards against a hang: the assertion is the exit status and output
    const r = await run('timeout', ['120', process.execPath, '--input-type=module', '-e', script], { allowFail: true });
    assert.equal(r.code, 0, `close=${closeIt}: exit ${r.code} ${r.stderr}`);
    assert.equal(r.stdout.toString().trim(), 'done 4');
  }
});
