// createBrowserPool / startBrowserWorker, run in Node through a minimal module-Worker shim over
// worker_threads (Node 20 has no Web Worker global). The worker realm has no Node codec providers,
// so it compresses with pako / zstd-wasm / our LZ4, like a browser would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker as NodeWorker } from 'node:worker_threads';
import { ImgkitError, loadCodec, type CompressJob, type CompressResult } from '@imgkit/core';
import { tempDir } from '../../../test/lib/tools.ts';

const BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
globalThis.addEventListener = (type, f) => { if (type === 'message') parentPort.on('message', (data) => f({ data })); };
globalThis.postMessage = (m, transfer) => parentPort.postMessage(m, transfer);
import(workerData.url);
`;

class ShimWorker {
  readonly w: NodeWorker;
  constructor(url: string | URL, opts: { type?: string; name?: string }) {
    assert.equal(opts.type, 'module', 'the pool asks for a module worker');
    this.w = new NodeWorker(BOOTSTRAP, { eval: true, workerData: { url: String(url) } });
  }
  postMessage(m: unknown, transfer: ArrayBuffer[]): void {
    this.w.postMessage(m, transfer);
  }
  addEventListener(type: string, f: (e: { data?: unknown; message?: string }) => void): void {
    if (type === 'message') this.w.on('message', (data) => f({ data }));
    if (type === 'error') this.w.on('error', (err) => f({ message: err.message }));
  }
  terminate(): Promise<number> {
    return this.w.terminate();
  }
}

test('browser pool: ordered results, codec errors as ImgkitError, close()', async () => {
  (globalThis as { Worker?: unknown }).Worker = ShimWorker;
  const { createBrowserPool } = await import('@imgkit/core/browser');
  const dir = await tempDir('browser-worker');
  const workerFile = join(dir, 'worker.mjs');
  writeFileSync(
    workerFile,
    `import { startBrowserWorker } from ${JSON.stringify(import.meta.resolve('@imgkit/core/browser'))};\nstartBrowserWorker();\n`,
  );
  const pool = createBrowserPool({ workers: 2, workerUrl: pathToFileURL(workerFile) });
  after(() => pool.close());
  const jobs: CompressJob[] = [];
  for (let i = 0; i < 12; i++) {
    const data = new Uint8Array(20_000 + i * 3000);
    for (let k = 0; k < data.length; k++) data[k] = (k * (i + 3) + (k >> 9)) & 0xff;
    jobs.push({ codec: { name: (['gzip', 'zstd', 'lz4-block'] as const)[i % 3]! }, data });
  }
  let i = 0;
  for await (const r of pool.map<CompressJob, CompressResult>(jobs, 'compress')) {
    const job = jobs[i++]!;
    const codec = await loadCodec(job.codec);
    assert.deepEqual(codec.decompress(r.data, job.data.byteLength), job.data, `job ${i - 1} (${job.codec.name})`);
    if (job.codec.name !== 'gzip') assert.deepEqual(r.data, codec.compress(job.data), 'same bytes as this realm');
  }
  assert.equal(i, jobs.length);
  await assert.rejects(
    (async () => {
      for await (const _ of pool.map([{ codec: { name: 'zstd', level: 99 }, data: new Uint8Array(5) }], 'compress'));
    })(),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'codec.zstd.level',
  );
  await pool.close();
});
