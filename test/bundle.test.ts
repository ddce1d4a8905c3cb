/**
 * Bundle checks. Browser: every format package, and core's browser entry, bundles for the browser
 * with esbuild (platform "browser", no polyfills) and reaches no Node built-in module. Node: an app
 * bundled with esbuild keeps the Node codec registration and makes the same images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { copyFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { inlinePool } from '@imgkit/core';
import { buildSampleImages, type SampleReport } from './lib/sample-images.ts';
import { run, tempDir } from './lib/tools.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

const entries = ['@imgkit/core', '@imgkit/core/browser', '@imgkit/cpio', '@imgkit/squashfs', '@imgkit/iso9660', '@imgkit/partition', '@imgkit/fat', '@imgkit/vdisk', '@imgkit/disk', '@imgkit/inspect'];

for (const entry of entries) {
  test(`${entry} bundles for the browser without Node built-ins`, async () => {
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
      plugins: [
        {
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
        },
      ],
    });
    assert.deepEqual(result.errors, []);
    assert.deepEqual(reached, [], `${entry} reaches Node built-ins`);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.length > 0, 'the bundle has inputs');
    assert.ok(!inputs.some((p) => p.includes('/core/dist/node/')), 'no @imgkit/core/node code in a browser bundle');
  });
}

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
