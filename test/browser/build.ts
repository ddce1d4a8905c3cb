/**
 * esbuild config of the browser test: page.ts, worker.ts (and throwing-worker.ts) as ES-module bundles (platform
 * "browser", no polyfills, no code splitting) in `outdir`, with index.html and the wasm files the
 * codecs load at run time.
 *
 * Where the wasm comes from: zstd (@cloudpss/zstd/wasm) carries its wasm inline, base64 in its JS,
 * so the bundles need nothing beside them for it. node-liblzma/wasm locates liblzma.wasm with
 * `new URL('liblzma.wasm', import.meta.url)`; esbuild keeps `import.meta.url` in ESM output, so in a
 * bundle it is the bundle's own URL: liblzma.wasm must be served beside EACH bundle that compresses
 * (the page for squashfs metadata, the worker for data blocks). `setWasmLoader('xz', () => url | bytes)`
 * from @imgkit/core overrides that per realm; the page uses it (served under /wasm/), the worker relies
 * on the default, so both ways are exercised.
 * Serve .wasm with `content-type: application/wasm` (else instantiateStreaming fails and it re-fetches).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '../..');

/** The wasm binary beside the JS that the bundle actually took from node-liblzma (from esbuild's metafile). */
function liblzmaWasm(inputs: string[]): string {
  const js = inputs.find((p) => /node-liblzma\/lib\/wasm\/liblzma\.js$/.test(p));
  if (!js) throw new Error('the bundle has no node-liblzma/lib/wasm/liblzma.js: cannot locate liblzma.wasm');
  return join(repoRoot, dirname(js), 'liblzma.wasm');
}

export interface BuiltPage {
  outdir: string;
  /** Output files (relative to outdir) → bytes. */
  files: string[];
}

export async function buildBrowserPage(outdir: string): Promise<BuiltPage> {
  await mkdir(join(outdir, 'wasm'), { recursive: true });
  const result = await esbuild.build({
    entryPoints: { page: join(here, 'page.ts'), worker: join(here, 'worker.ts'), 'throwing-worker': join(here, 'throwing-worker.ts') },
    absWorkingDir: repoRoot,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    logLevel: 'silent',
    metafile: true,
  });
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.map((e) => e.text).join('; ')}`);
  const xz = liblzmaWasm(Object.keys(result.metafile.inputs));
  await copyFile(xz, join(outdir, 'liblzma.wasm')); // beside worker.js (default lookup)
  await copyFile(xz, join(outdir, 'wasm/liblzma.wasm')); // where the page's setWasmLoader points
  await writeFile(
    join(outdir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>imgkit browser test</title><script type="module" src="page.js"></script>\n',
  );
  return { outdir, files: Object.keys(result.metafile.outputs) };
}
