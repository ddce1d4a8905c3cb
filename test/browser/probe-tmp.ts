import { setWasmLoader } from '@imgkit/core';
import { createBrowserPool } from '@imgkit/core/browser';

async function post(path: string, body: string) { await fetch(path, { method: 'POST', body }); }
const timeout = (ms: number) => new Promise((r) => setTimeout(() => r('TIMEOUT (hang)'), ms));
async function scenario(name: string, workerUrl: string, jobs: unknown[], task: string) {
  const pool = createBrowserPool({ workers: 2, workerUrl: new URL(workerUrl, location.href) });
  const t0 = performance.now();
  const run = (async () => {
    try {
      const out = [];
      for await (const r of pool.map(jobs, task)) out.push(r);
      return `ok ${JSON.stringify(out).slice(0, 200)}`;
    } catch (e) {
      return `rejected ${(e as any)?.code} ${(e as Error)?.message}`;
    }
  })();
  const res = await Promise.race([run, timeout(8000)]);
  await Promise.race([pool.close(), timeout(2000)]);
  await post('/probe', `${name}: ${res} (${Math.round(performance.now() - t0)} ms)`);
}
(async () => {
  const block = new Uint8Array(100000).fill(7);
  await scenario('404 worker', './nope.js', [{ codec: { name: 'gzip' }, data: block }], 'compress');
  await scenario('unknown task', './worker.js', [{}], 'nope-task');
  await scenario('bad codec', './worker.js', [{ codec: { name: 'gzip', level: 42 }, data: block }], 'compress');
  await scenario('throwing worker module', './throwing-worker.js', [{ codec: { name: 'gzip' }, data: block }], 'compress');
  if (0) await scenario('zstd wasm missing in worker', './nowasm/worker.js', [{ codec: { name: 'zstd' }, data: block }], 'compress');
  await scenario('uncloneable output', './probe-worker.js', [{}], 'bad-output');
  await post('/done', 'ok');
})();
