/**
 * esbuild config of the browser test: page.ts, worker.ts (and throwing-worker.ts) as ES-module bundles (platform
 * "browser", no polyfills, no code splitting) in `outdir`, with index.html and the wasm files the
 * codecs load at run time.
 *
 * Where the wasm comes from: @bokuweb/zstd-wasm (web entry) and node-liblzma/wasm both locate their
 * binary with `new URL('<name>.wasm', import.meta.url)`. esbuild leaves that expression alone and
 * keeps `import.meta.url` in ESM output, so in a bundle it is the bundle's own URL: zstd.wasm and
 * liblzma.wasm must be served beside EACH bundle that compresses (the page for squashfs metadata,
 * the worker for data blocks). `setWasmLoader('zstd' | 'xz', () => url | bytes)` from @imgkit/core
 * overrides that per realm; the page uses it for zstd (served under /wasm/), the worker relies on the
 * default, so both ways are exercised.
 *
 * A missing zstd.wasm does not fail, it hangs: @bokuweb/zstd-wasm aborts inside a promise and its
 * `init()` never settles, so the first zstd job waits for ever (seen in Chromium 156, page and worker).
 * Serve it with `content-type: application/wasm` (else instantiateStreaming fails and it re-fetches).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '../..');

/**
 * The wasm binaries beside the JS that the bundle actually took from each package (from esbuild's
 * metafile), so the files served match the glue code that loads them.
 */
function wasmFiles(inputs: string[]): { zstd: string; xz: string } {
  const find = (re: RegExp, wasm: string): string => {
    const js = inputs.find((p) => re.test(p));
    if (!js) throw new Error(`the bundle has no input matching ${re}: cannot locate ${wasm}`);
    return join(repoRoot, dirname(js), wasm);
  };
  return {
    zstd: find(/@bokuweb\/zstd-wasm\/dist\/web\/zstd\.js$/, 'zstd.wasm'),
    xz: find(/node-liblzma\/lib\/wasm\/liblzma\.js$/, 'liblzma.wasm'),
  };
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
  const w = wasmFiles(Object.keys(result.metafile.inputs));
  await copyFile(w.zstd, join(outdir, 'zstd.wasm')); // beside worker.js (default lookup)
  await copyFile(w.zstd, join(outdir, 'wasm/zstd.wasm')); // where the page's setWasmLoader points
  await copyFile(w.xz, join(outdir, 'liblzma.wasm')); // beside page.js and worker.js (default lookup)
  await writeFile(
    join(outdir, 'index.html'),
    '<!doctype html><meta charset="utf-8"><title>imgkit browser test</title><script type="module" src="page.js"></script>\n',
  );
  return { outdir, files: Object.keys(result.metafile.outputs) };
}
