/**
 * Images are byte-identical across runtimes: the same cpio, squashfs and ISO images (every
 * compressor, the levels and frame shapes imgkit uses; test/lib/sample-images.ts) built in this
 * process and under the oldest and the newest supported Node (test/lib/runtimes.ts; each spawned
 * as a child when it is not this process), compared by sha256. A missing runtime fails the test,
 * naming what to install. (test/browser.test.ts compares the browser's images with this runtime's.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createNodePool } from '@imgkit/core/node';
import { getDeflateEngine } from '@imgkit/core';
import { buildSampleImages, SAMPLE_JOBS, type SampleReport } from './lib/sample-images.ts';
import { newestNode, oldestNode } from './lib/runtimes.ts';
import { run } from './lib/tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// The timeout only guards against a hang: three runs of ~20 sample images each.
test('cpio, squashfs and ISO images are byte-identical under the oldest and the newest supported Node', { timeout: 900_000 }, async () => {
  const runtimes = [oldestNode(), newestNode()];
  const reports: SampleReport[] = [];
  const pool = createNodePool({ workers: 2 });
  try {
    reports.push({ node: process.version, deflateEngine: getDeflateEngine().name, workers: 2, images: await buildSampleImages(pool) });
  } finally {
    await pool.close();
  }
  for (const rt of runtimes) {
    if (rt.version === process.version) continue; // this process is that runtime
    const r = await run(rt.path, ['--import', 'tsx', 'test/lib/sample-images-main.ts', '--workers', '2'], { cwd: ROOT });
    reports.push(JSON.parse(r.stdout.toString('utf8')) as SampleReport);
  }
  const versions = reports.map((r) => r.node);
  for (const rt of runtimes) assert.ok(versions.includes(rt.version), `${rt.version} (${rt.path}) took part: ${versions.join(', ')}`);
  const names = SAMPLE_JOBS.map((j) => j.name);
  const [first, ...rest] = reports;
  assert.deepEqual(Object.keys(first!.images), names, 'every sample image was built');
  for (const r of reports) assert.equal(r.deflateEngine, 'node:zlib', `${r.node}: node:zlib is the deflate engine`);
  for (const other of rest) {
    const differ = names.filter((n) => first!.images[n] !== other.images[n]);
    assert.deepEqual(differ, [], `images that differ between Node ${first!.node} and Node ${other.node}`);
  }
});
