/**
 * Could imgkit use the runtime's own zstd (node:zlib, Node ≥ 22.15) instead of the wasm? Only where
 * it makes the same bytes: images must be byte-identical across runtimes and with the browser,
 * which always runs the wasm. Run it under each Node to compare:
 *
 *   node --import tsx benchmarks/zstd-native.ts                      # BENCH_MB=32 by default
 *   /var/cache/imgkit/node-26/node_modules/node/bin/node --import tsx benchmarks/zstd-native.ts
 *
 * Corpus: regular files under /usr/lib/x86_64-linux-gnu (sorted by name, *.so* and *.a), the first
 * BENCH_MB MiB, as in benchmarks/codecs.ts. Shapes imgkit uses: squashfs one-shot blocks of 128 KiB
 * (default level 15, and 1, 3, 19, 22) and 1 MiB, and cpio's 4 MiB one-shot frames (levels 1–19).
 *
 * 1. Identity (first 4 MiB): for every level 1–22 and block size, whether node:zlib's frames equal the wasm's
 *    (node:zlib is given an output buffer of the compress bound, so it compresses in one pass as
 *    ZSTD_compress does). 2. Speed: MB/s of input on one thread, best of 2 passes, for the wasm
 *    imgkit uses (@cloudpss/zstd, zstd 1.5.6), @bokuweb/zstd-wasm (zstd 1.5.7, devDependency) and
 *    node:zlib, with the ratio of each.
 */
import zlib from 'node:zlib';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { markdownTable } from './lib.ts';

const MIB = 1 << 20;
const TOTAL = Number(process.env.BENCH_MB ?? 32) * MIB;
const DIR = '/usr/lib/x86_64-linux-gnu';
const require = createRequire(import.meta.url);

function corpus(): Uint8Array {
  const out = new Uint8Array(TOTAL);
  let n = 0;
  for (const name of readdirSync(DIR).sort()) {
    if (n >= TOTAL) break;
    if (!/\.so(\.|$)|\.a$/.test(name)) continue;
    const p = join(DIR, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    const b = readFileSync(p);
    const take = Math.min(b.byteLength, TOTAL - n);
    out.set(b.subarray(0, take), n);
    n += take;
  }
  return out.subarray(0, n);
}

type Compress = (block: Uint8Array, level: number) => Uint8Array;
const cloudpss = await import('@cloudpss/zstd/wasm');
const wasm: Compress = (b, l) => cloudpss.compress(b, l);
const bokuwebLib = require('@bokuweb/zstd-wasm') as { init(): Promise<void>; compress(b: Uint8Array, l: number): Uint8Array };
await bokuwebLib.init();
const bokuweb: Compress = (b, l) => bokuwebLib.compress(b, l);
const z = zlib as unknown as { zstdCompressSync?: (b: Uint8Array, o: object) => Buffer; constants: Record<string, number> };
const native: Compress | undefined = z.zstdCompressSync
  ? (b, l) => z.zstdCompressSync!(b, { chunkSize: Math.max(64, b.byteLength + (b.byteLength >> 7) + 1024), params: { [z.constants.ZSTD_c_compressionLevel!]: l } })
  : undefined;
const versions = process.versions as Record<string, string | undefined>;

const data = corpus();
const blocksOf = (size: number, total: number): Uint8Array[] => {
  const out: Uint8Array[] = [];
  for (let o = 0; o < Math.min(total, data.byteLength); o += size) out.push(data.subarray(o, Math.min(o + size, total, data.byteLength)));
  return out;
};
const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

console.log(`node ${process.version}, node:zlib zstd ${versions.zstd ?? 'none'}, wasm zstd ${cloudpss.ZSTD_VERSION()}; corpus ${(data.byteLength / MIB).toFixed(0)} MiB of ${DIR}\n`);

// 1. identity, on the first 4 MiB per shape
if (native) {
  const shapes: [string, number, number[]][] = [
    ['128 KiB (squashfs)', 128 << 10, Array.from({ length: 22 }, (_, i) => i + 1)],
    ['1 MiB (squashfs -b 1M)', MIB, Array.from({ length: 22 }, (_, i) => i + 1)],
    ['4 MiB (cpio frames)', 4 * MIB, Array.from({ length: 19 }, (_, i) => i + 1)],
  ];
  const rows: string[][] = [];
  for (const [label, size, levels] of shapes) {
    const blocks = blocksOf(size, 4 * MIB);
    const same: number[] = [];
    const differ: number[] = [];
    const sameAsBokuweb: number[] = [];
    for (const level of levels) {
      let eq = true;
      let eqB = true;
      for (const b of blocks) {
        const n = native(b, level);
        if (eq && !equalBytes(n, wasm(b, level))) eq = false;
        if (eqB && !equalBytes(n, bokuweb(b, level))) eqB = false;
        if (!eq && !eqB) break;
      }
      (eq ? same : differ).push(level);
      if (eqB) sameAsBokuweb.push(level);
    }
    rows.push([label, String(blocks.length), same.join(' ') || 'none', differ.join(' ') || 'none', sameAsBokuweb.length === levels.length ? 'all' : sameAsBokuweb.join(' ') || 'none']);
  }
  console.log('Identity with node:zlib zstd, per level:\n');
  console.log(markdownTable(['blocks', 'count', 'levels equal to @cloudpss/zstd (used)', 'levels that differ', 'levels equal to @bokuweb/zstd-wasm'], rows));
} else {
  console.log('node:zlib has no zstd in this runtime (Node < 22.15): speed of the wasm builds only.\n');
}

// 2. speed
const cases: [string, number, number, number][] = [
  ['L15, 128 KiB (squashfs default)', 15, 128 << 10, 16 * MIB],
  ['L3, 128 KiB', 3, 128 << 10, data.byteLength],
  ['L3, 4 MiB (cpio default)', 3, 4 * MIB, data.byteLength],
  ['L19, 4 MiB (cpio -19)', 19, 4 * MIB, 8 * MIB],
];
const libs: [string, Compress][] = [
  [`@cloudpss/zstd wasm (${cloudpss.ZSTD_VERSION()}, used)`, wasm],
  ['@bokuweb/zstd-wasm 0.0.27 (1.5.7)', bokuweb],
];
if (native) libs.push([`node:zlib (${versions.zstd})`, native]);
const rows: string[][] = [];
for (const [label, level, size, total] of cases) {
  const blocks = blocksOf(size, total);
  const input = blocks.reduce((s, b) => s + b.byteLength, 0);
  for (const [lib, compress] of libs) {
    let best = Infinity;
    let out = 0;
    for (let pass = 0; pass < 2; pass++) {
      const t = performance.now();
      out = 0;
      for (const b of blocks) out += compress(b, level).byteLength;
      best = Math.min(best, performance.now() - t);
    }
    rows.push([label, lib, (input / 1e6 / (best / 1000)).toFixed(1), (out / input).toFixed(4)]);
  }
}
console.log('\nOne thread, MB/s of input (best of 2):\n');
console.log(markdownTable(['case', 'library', 'MB/s', 'ratio'], rows));
