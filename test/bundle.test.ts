/**
 * Browser bundle check: every format package, and core's browser entry, bundles for the browser
 * with esbuild (platform "browser", no polyfills) and reaches no Node built-in module and no Node
 * global (process, Buffer, require, …: found by `define`, which esbuild applies to free, unbound
 * references only, so a local variable or a property of the same name does not count).
 *
 * The web page (apps/web) gets the same check with its own build options, and its worker bundle is
 * run: loaded into a Node worker thread dressed as a Web Worker (self, addEventListener,
 * postMessage, fetch of file: URLs for liblzma.wasm), it must answer core's 'compress' and
 * 'stream-chunk' tasks for every codec with the bytes Node's realm makes — proof that bundling
 * kept the task registrations that core makes at import time (worker-tasks.ts) although the
 * packages declare "sideEffects": false, and that the wasm codecs load from the bundle.
 *
 * Node: an app bundled with esbuild keeps the Node codec registration and makes the same images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, rename, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as esbuild from 'esbuild';
import { inlinePool, loadCodec, type CodecSpec } from '@imgkit/core';
import '@imgkit/core/node'; // Node's realm: the reference bytes (node:zlib deflate, wasm from the package files)
import { liblzmaWasm, webBuildOptions } from '../apps/web/scripts/build.ts';
import { buildSampleImages, type SampleReport } from './lib/sample-images.ts';
import { run, tempDir } from './lib/tools.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Node's globals: each free reference is renamed to a marker that must not appear in the output. */
const NODE_GLOBALS = ['process', 'Buffer', 'global', '__dirname', '__filename', 'require', 'module', 'exports', 'setImmediate', 'clearImmediate'];
const MARK = '__imgkit_node_global_';
const markGlobals = Object.fromEntries(NODE_GLOBALS.map((g) => [g, `${MARK}${g}`]));

/** The Node globals an output file references freely (from the markers `define` left). */
function nodeGlobalsIn(text: string): string[] {
  return [...new Set([...text.matchAll(new RegExp(`${MARK}(\\w+)`, 'g'))].map((m) => m[1]!))];
}

function recordBuiltins(reached: string[]): esbuild.Plugin {
  return {
    name: 'record-node-builtins',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (builtins.has(args.path)) {
          reached.push(`${args.path} (from ${args.importer.replace(root, '')})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

const entries = ['@imgkit/core', '@imgkit/core/browser', '@imgkit/cpio', '@imgkit/squashfs', '@imgkit/iso9660', '@imgkit/partition', '@imgkit/fat', '@imgkit/ext4', '@imgkit/vdisk', '@imgkit/disk', '@imgkit/inspect', '@imgkit/build'];

for (const entry of entries) {
  test(`${entry} bundles for the browser without Node built-ins or Node globals`, async () => {
    const reached: string[] = [];
    const result = await esbuild.build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: root, loader: 'js' },
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
      loader: { '.wasm': 'file' },
      outdir: '/tmp/imgkit-bundle-check',
      define: markGlobals,
      plugins: [recordBuiltins(reached)],
    });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(reached, [], `${entry} reaches Node built-ins`);
    assert.deepEqual(result.outputFiles.flatMap((f) => nodeGlobalsIn(f.text)), [], `${entry} references Node globals`);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.length > 0, 'the bundle has inputs');
    assert.ok(!inputs.some((p) => p.includes('/core/dist/node/')), 'no @imgkit/core/node code in a browser bundle');
  });
}

test('the web page (apps/web: page.js, worker.js) bundles without Node built-ins or Node globals, and no @imgkit/core/node', async () => {
  const reached: string[] = [];
  const outdir = await tempDir('bundle-web');
  const options = webBuildOptions(outdir);
  const result = await esbuild.build({ ...options, write: false, define: markGlobals, plugins: [recordBuiltins(reached)] });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(reached, [], 'the page reaches Node built-ins');
  const js = result.outputFiles.filter((f) => f.path.endsWith('.js'));
  assert.deepEqual(js.map((f) => f.path.replace(`${outdir}/`, '')).sort(), ['page.js', 'worker.js']);
  assert.deepEqual(js.flatMap((f) => nodeGlobalsIn(f.text).map((g) => `${g} in ${f.path.replace(`${outdir}/`, '')}`)), [], 'the page references Node globals');
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(!inputs.some((p) => p.includes('/core/dist/node/')), 'no @imgkit/core/node code in the page');
  for (const pkg of ['core/dist/browser/file-source.js', 'cpio/dist', 'squashfs/dist', 'iso9660/dist', 'fat/dist', 'partition/dist', 'vdisk/dist', 'node-liblzma/lib/wasm/liblzma.js', '@cloudpss/zstd/dist/wasm.js', 'pako']) {
    assert.ok(inputs.some((p) => p.includes(pkg)), `the page bundles ${pkg}`);
  }
});

/** A Node worker thread made to look like a module Web Worker, which then imports the bundle. */
const WEB_WORKER_SHIM = `
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
const listeners = [];
globalThis.self = globalThis;
globalThis.location = new URL(workerData.url);
globalThis.importScripts = () => { throw new Error('importScripts is not available'); };
globalThis.addEventListener = (type, f) => { if (type === 'message') listeners.push(f); };
globalThis.postMessage = (m, transfer) => parentPort.postMessage(m, transfer);
const networkFetch = globalThis.fetch;
globalThis.fetch = async (u, o) => {
  const url = new URL(String(u instanceof Request ? u.url : u));
  if (url.protocol !== 'file:') return networkFetch(u, o);
  return new Response(readFileSync(url), { headers: { 'content-type': 'application/wasm' } });
};
parentPort.on('message', (data) => { for (const f of listeners) f({ data }); });
await import(workerData.url);
parentPort.postMessage({ loaded: true });
`;

test("the page's worker bundle keeps core's task registrations: every codec compresses in it, with Node's bytes", { timeout: 120_000 }, async () => {
  const outdir = await tempDir('bundle-worker');
  const result = await esbuild.build({ ...webBuildOptions(outdir), entryPoints: { worker: join(root, 'apps/web/src/worker.ts') }, sourcemap: false });
  assert.deepEqual(result.errors, []);
  await copyFile(liblzmaWasm(Object.keys(result.metafile.inputs)), join(outdir, 'liblzma.wasm'));
  const shim = join(outdir, 'shim.mjs');
  await writeFile(shim, WEB_WORKER_SHIM);
  const worker = new Worker(shim, { workerData: { url: pathToFileURL(join(outdir, 'worker.js')).href } });
  const replies = new Map<number, (r: { ok: boolean; output?: { data: Uint8Array }; error?: { code: string; detail: string } }) => void>();
  const loaded = new Promise<void>((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (m: { loaded?: boolean; id?: number }) => {
      if (m.loaded) resolve();
      else if (m.id !== undefined) replies.get(m.id)?.(m as never);
    });
  });
  let next = 1;
  const ask = (task: string, input: unknown) =>
    new Promise<{ ok: boolean; output?: { data: Uint8Array }; error?: { code: string; detail: string } }>((resolve) => {
      const id = next++;
      replies.set(id, resolve);
      worker.postMessage({ id, task, input });
    });
  try {
    await loaded;
    const block = new Uint8Array(200_000);
    for (let i = 0; i < block.length; i++) block[i] = (i * 7 + (i >> 9)) & 0xff; // compressible, not trivial
    const specs: CodecSpec[] = [
      { name: 'gzip', level: 9 },
      { name: 'zlib', level: 9 },
      { name: 'deflate-raw', level: 6, windowBits: 12 },
      { name: 'zstd', level: 3 },
      { name: 'lz4-block' },
      { name: 'lz4-legacy' },
      { name: 'lz4-frame' },
      { name: 'xz', level: 0, dictSize: 1 << 17 },
      { name: 'none' },
    ];
    const missing: string[] = [];
    for (const spec of specs) {
      const r = await ask('compress', { codec: spec, data: block.slice() });
      if (!r.ok) {
        missing.push(`compress/${spec.name}: ${r.error?.code} ${r.error?.detail}`);
        continue;
      }
      const node = (await loadCodec(spec)).compress(block);
      assert.ok(Buffer.from(r.output!.data).equals(Buffer.from(node)), `${spec.name}: the bundled worker's bytes differ from Node's`);
    }
    for (const name of ['gzip', 'lz4-legacy', 'xz'] as const) {
      const r = await ask('stream-chunk', { codec: { name, ...(name === 'xz' ? { level: 0 } : {}) }, data: block.slice(), last: true });
      if (!r.ok) missing.push(`stream-chunk/${name}: ${r.error?.code} ${r.error?.detail}`);
      else assert.ok(r.output!.data.byteLength > 0 && r.output!.data.byteLength < block.byteLength, `stream-chunk/${name} compressed`);
    }
    assert.deepEqual(missing, [], 'task registrations or codecs lost in the bundle');
  } finally {
    await worker.terminate();
  }
});

// ------------------------------------------------------------------------------------------------
// A bundled Node app. @imgkit/core/node installs node:zlib and the xz wasm loader when it is
// imported; a bundler that believed `"sideEffects": false` dropped that registration (the app then
// ran on pako and failed on xz). Bundled here as an app would be: esbuild, platform "node", the pool
// worker (@imgkit/core/node/worker) as a second entry point beside it, liblzma.wasm copied beside
// (no node_modules where the bundle runs). It must make the same bytes as the unbundled code.

test('a Node app bundled with esbuild keeps @imgkit/core/node\'s registration and makes the same images', { timeout: 600_000 }, async () => {
  const dir = await tempDir('node-bundle');
  const result = await esbuild.build({
    entryPoints: [
      { in: join(root, 'test/lib/sample-images-main.ts'), out: 'app' },
      { in: '@imgkit/core/node/worker', out: 'worker' },
    ],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    logLevel: 'silent',
  });
  assert.deepEqual(result.errors, []);
  // the registration module made it into the app bundle
  const appOut = Object.keys(result.metafile.outputs).find((o) => o.endsWith('/app.mjs'));
  assert.ok(appOut, `outputs: ${Object.keys(result.metafile.outputs).join(', ')}`);
  const appInputs = Object.keys(result.metafile.outputs[appOut]!.inputs);
  assert.ok(appInputs.some((p) => p.endsWith('core/dist/node/codecs.js')), `codecs.js is bundled: ${appInputs.filter((p) => p.includes('core/dist/node')).join(', ')}`);
  await copyFile(fileURLToPath(import.meta.resolve('node-liblzma/wasm/liblzma.wasm')), join(dir, 'liblzma.wasm'));
  // worker.mjs must be found as worker.js: the pool resolves './worker.js' beside the app
  await rename(join(dir, 'worker.mjs'), join(dir, 'worker.js'));
  await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');

  // the images whose codecs the registration changes (deflate engine, xz loader), and zstd
  const names = ['cpio-gzip', 'cpio-xz', 'cpio-zstd', 'squashfs-gzip-6', 'squashfs-xz', 'squashfs-zstd'];
  const expected = await buildSampleImages(inlinePool(), names);
  assert.deepEqual(Object.keys(expected).sort(), [...names].sort());
  for (const workers of [0, 2]) {
    const r = await run(process.execPath, [join(dir, 'app.mjs'), '--workers', String(workers), ...names], { cwd: dir });
    const report = JSON.parse(r.stdout.toString('utf8')) as SampleReport;
    assert.equal(report.deflateEngine, 'node:zlib', `workers ${workers}: the bundled app compresses deflate with node:zlib`);
    const differ = Object.keys(expected).filter((n) => report.images[n] !== expected[n]);
    assert.deepEqual(differ, [], `workers ${workers}: images the bundled app made differently`);
    assert.deepEqual(Object.keys(report.images), Object.keys(expected));
  }
});
