/**
 * Which zstd for the browser and Node (no native code): the wasm builds side by side with native
 * `zstd -b` on the same blocks, one thread each.
 *
 *   node --import tsx benchmarks/zstd-libs.ts          # BENCH_MB=150 by default
 *
 * Input: the uncompressed newc archive of the cpio benchmark's tree (benchmarks/data/cpio-tree, made
 * by `imgkit cpio --compress none`; BENCH_TREE for another tree), its first BENCH_MB MB, cut into
 * 4 MiB blocks at level 3 (what `imgkit cpio --compress zstd` frames look like) and 1 MiB blocks at
 * level 19 on the first 8 MiB (squashfs with -b 1M). Per library: MB/s of input (best of 2 passes:
 * the first includes wasm tier-up), compressed/input, and whether its frames carry the content size.
 *
 * Libraries: @cloudpss/zstd's `./wasm` entry (what imgkit uses), @bokuweb/zstd-wasm and zstd-codec
 * (devDependencies, measured only).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const tree = process.env.BENCH_TREE ?? join(ROOT, 'benchmarks/data/cpio-tree');
const MB = Number(process.env.BENCH_MB ?? 150);
const require = createRequire(import.meta.url);

if (!existsSync(tree)) {
  console.error(`no ${tree}: run benchmarks/cpio.ts once (it makes the tree) or set BENCH_TREE`);
  process.exit(1);
}
mkdirSync(RESULTS, { recursive: true });
const archive = join(RESULTS, 'zstd-libs.cpio');
execFileSync(process.execPath, [join(ROOT, 'packages/cli/bin/imgkit.js'), 'cpio', tree, archive, '--compress', 'none'], { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
const data = new Uint8Array(readFileSync(archive)).subarray(0, MB * 1e6);

type Compress = (block: Uint8Array, level: number) => Uint8Array;
const libs: [string, () => Promise<Compress>][] = [
  ['@cloudpss/zstd 0.2.16 wasm (zstd 1.5.6) — used', async () => {
    const z = await import('@cloudpss/zstd/wasm');
    return (b, l) => z.compress(b, l);
  }],
  ['@bokuweb/zstd-wasm 0.0.27', async () => {
    const z = require('@bokuweb/zstd-wasm') as { init(): Promise<void>; compress(b: Uint8Array, l: number): Uint8Array };
    await z.init();
    return (b, l) => z.compress(b, l);
  }],
  ['zstd-codec 0.1.5 (Simple)', async () => {
    const { ZstdCodec } = require('zstd-codec') as { ZstdCodec: { run(cb: (z: { Simple: new () => { compress(b: Uint8Array, l: number): Uint8Array | null } }) => void): void } };
    const simple = await new Promise<{ compress(b: Uint8Array, l: number): Uint8Array | null }>((resolve) => ZstdCodec.run((z) => resolve(new z.Simple())));
    return (b, l) => {
      const out = simple.compress(b, l);
      if (!out) throw new Error('zstd-codec returned null (out of memory?)');
      return out;
    };
  }],
];

/** RFC 8878 §3.1.1.1.1: Frame_Content_Size_Flag (bits 7-6) or Single_Segment_Flag (bit 5) → size present. */
function hasContentSize(frame: Uint8Array): boolean {
  const fhd = frame[4]!;
  return (fhd >> 6) !== 0 || (fhd & 0x20) !== 0;
}

interface Row {
  lib: string;
  case: string;
  mbps: string;
  ratio: string;
  fcs: string;
}
const rows: Row[] = [];
const cases: [string, number, number, number][] = [
  ['L3, 4 MiB blocks', 3, 4 << 20, data.byteLength],
  ['L19, 1 MiB blocks (8 MiB)', 19, 1 << 20, Math.min(data.byteLength, 8 << 20)],
];

for (const [lib, load] of libs) {
  const compress = await load();
  for (const [label, level, block, total] of cases) {
    let best = Infinity;
    let out = 0;
    let fcs = true;
    let failed = '';
    for (let pass = 0; pass < 2 && !failed; pass++) {
      const t = performance.now();
      out = 0;
      try {
        for (let o = 0; o < total; o += block) {
          const z = compress(data.subarray(o, Math.min(o + block, total)), level);
          out += z.byteLength;
          if (o === 0) fcs = hasContentSize(z);
        }
      } catch (err) {
        failed = err instanceof Error ? err.message.slice(0, 60) : String(err);
      }
      best = Math.min(best, performance.now() - t);
    }
    rows.push(
      failed
        ? { lib, case: label, mbps: `fails: ${failed}`, ratio: '—', fcs: '—' }
        : { lib, case: label, mbps: (total / 1e6 / (best / 1000)).toFixed(1), ratio: (out / total).toFixed(4), fcs: fcs ? 'yes' : 'no' },
    );
  }
}

// native zstd on the same blocks (-b: in memory, one thread, -B block size)
for (const [label, level, block, total] of cases) {
  const file = join(RESULTS, 'zstd-libs.input');
  writeFileSync(file, data.subarray(0, total));
  const r = spawnSync('zstd', [`-b${level}`, '-i2', `-B${block}`, file], { encoding: 'utf8' });
  const text = (r.stdout + r.stderr).replace(/\r/g, '\n');
  const m = [...text.matchAll(/:\s*(\d+) ->\s*(\d+) \(x?[\d.]+\),\s*([\d.]+) MB\/s/g)].pop();
  const version = /v(\d+\.\d+\.\d+)/.exec(execFileSync('zstd', ['-V'], { encoding: 'utf8' }))?.[1] ?? '?';
  rows.push(m ? { lib: `native zstd ${version} (-b)`, case: label, mbps: m[3]!, ratio: (Number(m[2]) / Number(m[1])).toFixed(4), fcs: 'yes' } : { lib: 'native zstd', case: label, mbps: 'n/a', ratio: 'n/a', fcs: '' });
}

console.log(`Input: first ${(data.byteLength / 1e6).toFixed(0)} MB of the newc archive of ${tree}; node ${process.version}, one thread\n`);
console.log('| library | case | MB/s | ratio | content size in frame |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.lib} | ${r.case} | ${r.mbps} | ${r.ratio} | ${r.fcs} |`);
