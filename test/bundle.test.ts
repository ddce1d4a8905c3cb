/**
 * Browser bundle check: every format package, and core's browser entry, bundles for the browser
 * with esbuild (platform "browser", no polyfills) and reaches no Node built-in module.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

const entries = ['@imgkit/core', '@imgkit/core/browser', '@imgkit/cpio', '@imgkit/squashfs', '@imgkit/iso9660', '@imgkit/partition', '@imgkit/fat', '@imgkit/ext4', '@imgkit/vdisk'];

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
