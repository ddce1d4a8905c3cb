/**
 * Builds the page into apps/web/dist (or `outdir`): page.js, worker.js and sw.js as ES-module
 * bundles (esbuild, platform "browser", no polyfills, no code splitting), index.html, style.css and
 * liblzma.wasm beside the bundles.
 *
 * The wasm: zstd (@cloudpss/zstd/wasm) carries its wasm inline; node-liblzma's wasm glue looks for
 * liblzma.wasm at `new URL('liblzma.wasm', import.meta.url)`, i.e. beside each bundle that
 * compresses with xz (page.js for squashfs metadata, worker.js for data blocks): one copy at the
 * root serves both. The service worker gets the list of files and a hash of their bytes, so it
 * caches exactly this build and a new build replaces the old cache.
 *
 * `node --import tsx apps/web/scripts/build.ts [outdir]`; `webBuildOptions()` is what the bundle
 * check (test/bundle.test.ts) bundles too.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
export const APP_ROOT = join(here, '..');
export const REPO_ROOT = join(APP_ROOT, '../..');
export const DEFAULT_OUTDIR = join(APP_ROOT, 'dist');

/** The esbuild options of the page and its worker (the service worker is built after them). */
export function webBuildOptions(outdir: string): esbuild.BuildOptions & { metafile: true } {
  return {
    entryPoints: { page: join(APP_ROOT, 'src/main.ts'), worker: join(APP_ROOT, 'src/worker.ts') },
    absWorkingDir: REPO_ROOT,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: 'linked',
    logLevel: 'silent',
    metafile: true,
    legalComments: 'linked',
  };
}

/** The wasm binary beside the glue the bundle actually took from node-liblzma (from the metafile). */
export function liblzmaWasm(inputs: readonly string[]): string {
  const js = inputs.find((p) => /node-liblzma\/lib\/wasm\/liblzma\.js$/.test(p));
  if (!js) throw new Error('the bundle has no node-liblzma/lib/wasm/liblzma.js: cannot locate liblzma.wasm');
  return join(REPO_ROOT, dirname(js), 'liblzma.wasm');
}

export interface BuiltWeb {
  outdir: string;
  /** Files of the build, relative to outdir. */
  files: string[];
  version: string;
  metafile: esbuild.Metafile;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  return out.sort();
}

export async function buildWeb(outdir = DEFAULT_OUTDIR): Promise<BuiltWeb> {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await esbuild.build(webBuildOptions(outdir));
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.map((e) => e.text).join('; ')}`);
  await copyFile(liblzmaWasm(Object.keys(result.metafile.inputs)), join(outdir, 'liblzma.wasm'));
  await copyFile(join(APP_ROOT, 'src/index.html'), join(outdir, 'index.html'));
  await copyFile(join(APP_ROOT, 'src/style.css'), join(outdir, 'style.css'));
  // The service worker caches everything but itself and the source maps.
  const assets = (await listFiles(outdir)).filter((f) => !f.endsWith('.map') && !f.endsWith('.LEGAL.txt'));
  const hash = createHash('sha256');
  for (const f of assets) hash.update(f).update(await readFile(join(outdir, f)));
  const version = hash.digest('hex').slice(0, 16);
  const sw = await esbuild.build({
    entryPoints: { sw: join(APP_ROOT, 'src/sw.ts') },
    absWorkingDir: REPO_ROOT,
    outdir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
    define: { __IMGKIT_ASSETS__: JSON.stringify(['./', ...assets]), __IMGKIT_VERSION__: JSON.stringify(version) },
  });
  if (sw.errors.length > 0) throw new Error(`esbuild (sw): ${sw.errors.map((e) => e.text).join('; ')}`);
  return { outdir, files: await listFiles(outdir), version, metafile: result.metafile };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? DEFAULT_OUTDIR;
  const built = await buildWeb(out);
  console.log(`imgkit web: built ${built.files.length} files in ${relative(process.cwd(), built.outdir) || '.'} (version ${built.version})`);
}
