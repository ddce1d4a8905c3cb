/**
 * The browser side of test/browser.test.ts (bundled by test/browser/build.ts, run in headless
 * Chromium): write the spec tree into lightning-fs (IndexedDB), build squashfs images on a 2-worker
 * Web Worker pool into a MemorySink and cpio archives through a WebStreamSink, and POST each image
 * (or the error) back to the test's server. Ends with POST /done.
 */
import LightningFS from '@isomorphic-git/lightning-fs';
import { applyOwnership, blobReader, memoryReader, setWasmLoader, withSink, type SourceTree, type WorkerPool } from '@imgkit/core';
import { inspectImage } from '@imgkit/inspect';
import { createBrowserPool, lightningFsSource, MemorySink, WebStreamSink } from '@imgkit/core/browser';
import { writeSquashfs } from '@imgkit/squashfs';
import { writeCpio } from '@imgkit/cpio';
import { BROWSER_TEST, contentOf, treeSpec } from './tree-spec.js';

async function post(path: string, body: BodyInit): Promise<void> {
  const r = await fetch(path, { method: 'POST', body });
  if (!r.ok) throw new Error(`POST ${path}: HTTP ${r.status}`);
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const extra = (err as { code?: string }).code ? ` [${(err as { code?: string }).code}]` : '';
    return `${err.name}${extra}: ${err.message}\n${err.stack ?? ''}`;
  }
  return String(err);
}

let failed = false;
const reportError = (where: string, err: unknown): Promise<void> => {
  failed = true;
  return post(`/error?where=${encodeURIComponent(where)}`, describe(err)).catch(() => {});
};
addEventListener('error', (e) => void reportError('window.onerror', e.error ?? e.message));
addEventListener('unhandledrejection', (e) => void reportError('unhandledrejection', e.reason));

async function writeTree(fs: LightningFS): Promise<void> {
  const p = fs.promises;
  const at = (path: string) => `${BROWSER_TEST.root}/${path}`;
  await p.mkdir(BROWSER_TEST.root, { mode: 0o755 });
  for (const e of treeSpec(BROWSER_TEST.seed)) {
    if (e.kind === 'dir') await p.mkdir(at(e.path), { mode: e.mode });
    else if (e.kind === 'file') await p.writeFile(at(e.path), contentOf(e), { mode: e.mode });
    else await p.symlink(e.linkTarget!, at(e.path));
  }
}

/** Ask each of the pool's workers what it did (one 'worker-stats' job per worker, dispatched together). */
async function workerStats(pool: WorkerPool): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const s of pool.map(Array.from({ length: BROWSER_TEST.workers }, () => ({})), 'worker-stats')) out.push(s);
  return out;
}

async function main(): Promise<void> {
  // liblzma.wasm: the main realm is told where it is (setWasmLoader); the worker realm finds it with
  // the package's default, `new URL('./liblzma.wasm', import.meta.url)`, i.e. beside worker.js.
  // (zstd's wasm is inlined in its module: nothing to tell.)
  setWasmLoader('xz', async () => new URL('/wasm/liblzma.wasm', location.href));

  const fs = new LightningFS('imgkit-browser-test', { wipe: true });
  await writeTree(fs);
  const source = (): SourceTree => applyOwnership(lightningFsSource(fs, BROWSER_TEST.root), { allRoot: true, epoch: BROWSER_TEST.epoch });

  const workerUrl = new URL('./worker.js', location.href);
  for (const job of BROWSER_TEST.squashfs) {
    const pool = createBrowserPool({ workers: BROWSER_TEST.workers, workerUrl });
    try {
      const sink = new MemorySink();
      await withSink(sink, (s) => writeSquashfs(source(), s, { compression: job.compression, epoch: BROWSER_TEST.epoch, pool }));
      const bytes = sink.bytes().slice();
      await post(`/image/${job.name}`, bytes);
      await post(`/stats/${job.name}`, JSON.stringify(await workerStats(pool)));
      // imgkit inspect in the browser, over the bytes in memory
      await post(`/inspect/${job.name}`, JSON.stringify(await inspectImage(memoryReader(bytes), { name: job.name })));
    } catch (err) {
      await reportError(job.name, err);
    } finally {
      await pool.close();
    }
  }
  for (const job of BROWSER_TEST.cpio) {
    const pool = createBrowserPool({ workers: BROWSER_TEST.workers, workerUrl });
    try {
      // A non-seekable Web stream sink, drained into a Blob as it is written.
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const collected = new Response(readable).blob();
      await withSink(new WebStreamSink(writable), (s) => writeCpio(source(), s, { compression: job.compression, level: job.level, epoch: BROWSER_TEST.epoch, pool }));
      const blob = await collected;
      await post(`/image/${job.name}`, blob);
      await post(`/stats/${job.name}`, JSON.stringify(await workerStats(pool)));
      // imgkit inspect in the browser, reading the Blob by slices (decompressing the stream)
      await post(`/inspect/${job.name}`, JSON.stringify(await inspectImage(blobReader(blob), { name: job.name })));
    } catch (err) {
      await reportError(job.name, err);
    } finally {
      await pool.close();
    }
  }
}

/**
 * Pool failures must reject (E_WORKER), never hang: a worker URL that is 404, a worker module that
 * throws while loading, a task whose output cannot be posted back, a task no worker knows. Each is
 * raced against 15 s so a hang is reported as one instead of stalling the page.
 */
async function errorPaths(): Promise<Record<string, string>> {
  const block = new Uint8Array(70000).fill(7);
  const cases: [string, string, unknown, string][] = [
    ['missing worker module', './missing-worker.js', { codec: { name: 'gzip' }, data: block }, 'compress'],
    ['worker module throws', './throwing-worker.js', { codec: { name: 'gzip' }, data: block }, 'compress'],
    ['uncloneable output', './worker.js', {}, 'uncloneable'],
    ['unknown task', './worker.js', {}, 'no-such-task'],
  ];
  const out: Record<string, string> = {};
  for (const [name, url, job, task] of cases) {
    const pool = createBrowserPool({ workers: BROWSER_TEST.workers, workerUrl: new URL(url, location.href) });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<string>((r) => (timer = setTimeout(() => r('hang: no answer within 15 s'), 15000)));
    const attempt = (async () => {
      try {
        for await (const _ of pool.map([job, job, job], task)) void _;
        return 'resolved';
      } catch (err) {
        return `${(err as { code?: string }).code ?? 'no code'}: ${err instanceof Error ? err.message : String(err)}`;
      }
    })();
    out[name] = await Promise.race([attempt, hang]);
    clearTimeout(timer);
    await pool.close();
  }
  return out;
}

async function runAll(): Promise<void> {
  await main();
  await post('/error-paths', JSON.stringify(await errorPaths()));
}

runAll()
  .catch((err) => reportError('main', err))
  .finally(() => post('/done', failed ? 'failed' : 'ok').catch(() => {}));
