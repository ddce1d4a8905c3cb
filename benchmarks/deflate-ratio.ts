/**
 * Deflate engines on squashfs-shaped blocks: compressed size against the system zlib that mksquashfs
 * links, and single-thread speed, on the same blocks in the same run.
 *
 *   npm run build && node --import tsx benchmarks/deflate-ratio.ts     # BENCH_STRIDE=5, BENCH_ITER=2
 *
 * Corpus: the Debian 12 minbase tree of benchmarks/make-debian-rootfs.sh (BENCH_TREE for another),
 * regular files in sorted path order cut like mksquashfs cuts them: 128 KiB blocks per file, the
 * tails packed into 128 KiB fragment blocks. Every BENCH_STRIDE-th block is kept. A block stored
 * raw when deflate does not shrink it counts its own size, as in squashfs.
 *
 * Reference: python3's zlib module, which is Debian's system zlib (the one mksquashfs uses), at
 * level 9, memLevel 8, windowBits 15: mksquashfs's gzip_wrapper settings. Skipped without python3.
 * Speed: MB of input per CPU second of this process (the machine is shared; CPU time moves less than
 * wall time under other load), the best of BENCH_ITER runs.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import * as fflate from 'fflate';
import * as pako from 'pako';
import { loadCodec } from '@imgkit/core';
import '@imgkit/core/node';
import { machineLine, markdownTable } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BLOCK = 128 * 1024;
const STRIDE = Number(process.env.BENCH_STRIDE ?? 5);
const ITER = Number(process.env.BENCH_ITER ?? 2);

function prepareTree(): string {
  if (process.env.BENCH_TREE) return process.env.BENCH_TREE;
  return execFileSync(join(ROOT, 'benchmarks/make-debian-rootfs.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

function squashfsBlocks(tree: string): Uint8Array[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) files.push(p);
    }
  };
  walk(tree);
  const out: Uint8Array[] = [];
  let index = 0;
  const keep = (b: Uint8Array): void => {
    if (index++ % STRIDE === 0) out.push(b);
  };
  let tails: Uint8Array[] = [];
  let tailBytes = 0;
  const flushTails = (): void => {
    if (tailBytes === 0) return;
    const frag = new Uint8Array(tailBytes);
    let o = 0;
    for (const t of tails) {
      frag.set(t, o);
      o += t.byteLength;
    }
    keep(frag);
    tails = [];
    tailBytes = 0;
  };
  for (const f of files) {
    let data: Uint8Array;
    try {
      data = readFileSync(f);
    } catch {
      continue; // unreadable as this user: mksquashfs would read it as root; it is only a sample
    }
    let o = 0;
    for (; o + BLOCK <= data.byteLength; o += BLOCK) keep(data.subarray(o, o + BLOCK));
    const tail = data.subarray(o);
    if (tail.byteLength === 0) continue;
    if (tailBytes + tail.byteLength > BLOCK) flushTails();
    tails.push(tail);
    tailBytes += tail.byteLength;
  }
  flushTails();
  return out;
}

/** Debian's zlib through python3, the same blocks, mksquashfs's deflateInit2 arguments. */
function systemZlibBytes(blocks: Uint8Array[]): number | undefined {
  const script = `
import sys, zlib, struct
d = sys.stdin.buffer.read(); o = 0; total = 0
while o < len(d):
    n = struct.unpack_from('<I', d, o)[0]; o += 4; b = d[o:o + n]; o += n
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 8, 0); z = c.compress(b) + c.flush()
    total += min(len(z), len(b))
print(total, zlib.ZLIB_RUNTIME_VERSION)`;
  const parts: Uint8Array[] = [];
  for (const b of blocks) {
    parts.push(new Uint8Array(Uint32Array.of(b.byteLength).buffer), b);
  }
  const r = spawnSync('python3', ['-c', script], { input: Buffer.concat(parts), encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    console.warn(`python3 zlib reference skipped: ${r.error?.message ?? r.stderr.trim()}`);
    return undefined;
  }
  const [total, version] = r.stdout.trim().split(' ');
  console.log(`Reference: python3 zlib ${version} (system libz), level 9, memLevel 8`);
  return Number(total);
}

type Deflate = (b: Uint8Array) => Uint8Array;

/**
 * pako with zlib's canonical hash, zlib's deflateTune() knobs set on its state, and optionally the
 * Huffman block end moved to `blockSymbols` (zlib: memLevel decides both block and hash size).
 */
function pakoTuned(memLevel: number, tune?: [good: number, lazy: number, nice: number, chain: number], level = 9, blockSymbols?: number): Deflate {
  return (b) => {
    const d = new pako.Deflate({ level, memLevel, legacyHash: true, chunkSize: BLOCK + 1024 });
    const s = (d as unknown as { strm: { state: Record<string, number> } }).strm.state;
    if (tune) [s.good_match, s.max_lazy_match, s.nice_match, s.max_chain_length] = tune;
    if (blockSymbols) s.sym_end = Math.min(s.sym_end!, (blockSymbols - 1) * 3);
    d.push(b, true);
    if (d.err) throw new Error(`pako: ${d.msg}`);
    return d.result;
  };
}

const imgkitL9 = await loadCodec({ name: 'zlib', level: 9, windowBits: 15 });
const nodeZ = (memLevel: number, strategy = 0): Deflate => (b) => zlib.deflateSync(b, { level: 9, memLevel, strategy });
const bestOf = (a: Deflate, b: Deflate): Deflate => (x) => {
  const p = a(x);
  const q = b(x);
  return q.byteLength < p.byteLength ? q : p; // ties keep the first: deterministic
};

const CANDIDATES: [string, Deflate][] = [
  ['imgkit zlib level 9 (the codec as shipped)', (b) => imgkitL9.compress(b)],
  ['node:zlib L9 mem8 (Chromium hash; before)', nodeZ(8)],
  ['node:zlib L9 mem9', nodeZ(9)],
  ['node:zlib L9 mem7', nodeZ(7)],
  ['node:zlib L9 mem6', nodeZ(6)],
  ['node:zlib L9 mem5', nodeZ(5)],
  ['node:zlib L9 mem8 Z_FILTERED', nodeZ(8, zlib.constants.Z_FILTERED)],
  ['best of node:zlib mem5, mem6', bestOf(nodeZ(6), nodeZ(5))],
  ['pako L9 mem8 (default hash)', (b) => pako.deflate(b, { level: 9 })],
  ['pako L9 mem9 (default hash)', (b) => pako.deflate(b, { level: 9, memLevel: 9 })],
  ['fflate zlibSync L9 mem8', (b) => fflate.zlibSync(b, { level: 9, mem: 8 })],
  ['fflate zlibSync L9 mem12', (b) => fflate.zlibSync(b, { level: 9, mem: 12 })],
  ['pako legacyHash L9 mem8 (= system zlib)', pakoTuned(8)],
  ['pako legacyHash L9 mem6', pakoTuned(6)],
  ['pako legacyHash L6 mem8', pakoTuned(8, undefined, 6)],
  ['pako legacyHash L6 mem6', pakoTuned(6, undefined, 6)],
  ['pako legacyHash L5 mem7', pakoTuned(7, undefined, 5)],
  ['pako legacyHash L5 mem6', pakoTuned(6, undefined, 5)],
  ['pako legacyHash tune(8,32,64,64) mem7', pakoTuned(7, [8, 32, 64, 64])],
  ['pako legacyHash tune(8,32,64,64) mem6', pakoTuned(6, [8, 32, 64, 64])],
  ['pako legacyHash tune(4,16,64,64) mem7', pakoTuned(7, [4, 16, 64, 64])],
  ['pako legacyHash tune(4,16,64,64) mem8, 8 Ki-symbol blocks', pakoTuned(8, [4, 16, 64, 64], 9, 8192)],
  ['pako legacyHash tune(4,16,64,64) mem8, 4 Ki-symbol blocks', pakoTuned(8, [4, 16, 64, 64], 9, 4096)],
  ['pako legacyHash tune(4,16,64,64) mem8, 2 Ki-symbol blocks', pakoTuned(8, [4, 16, 64, 64], 9, 2048)],
  ['pako legacyHash tune(4,32,258,64) mem8, 4 Ki-symbol blocks', pakoTuned(8, [4, 32, 258, 64], 9, 4096)],
  ['pako legacyHash tune(8,32,128,64) mem8, 4 Ki-symbol blocks', pakoTuned(8, [8, 32, 128, 64], 9, 4096)],
  ['pako legacyHash L9 mem8, 4 Ki-symbol blocks', pakoTuned(8, undefined, 9, 4096)],
  ['best of node:zlib mem6, pako L5 mem7', bestOf(nodeZ(6), pakoTuned(7, undefined, 5))],
];

const tree = prepareTree();
const blocks = squashfsBlocks(tree);
const inputBytes = blocks.reduce((n, b) => n + b.byteLength, 0);
console.log(`Input: ${tree}, every ${STRIDE}th 128 KiB block: ${blocks.length} blocks, ${(inputBytes / 1e6).toFixed(1)} MB`);
console.log(`Machine: ${machineLine()}; speed = best of ${ITER} run(s), MB of input per CPU second, one thread`);
const ref = systemZlibBytes(blocks);
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;

const rows: (string | number)[][] = [];
for (const [name, fn] of CANDIDATES) {
  if (only && !only.test(name)) continue;
  let bytes = 0;
  let best = Infinity;
  for (let i = 0; i < ITER; i++) {
    bytes = 0;
    const c0 = process.cpuUsage();
    for (const b of blocks) bytes += Math.min(fn(b).byteLength, b.byteLength);
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1e6);
  }
  rows.push([name, bytes, (bytes / inputBytes).toFixed(4), ref ? `${((bytes / ref - 1) * 100).toFixed(2)}%` : '-', (inputBytes / 1e6 / best).toFixed(1)]);
}
console.log();
console.log(markdownTable(['engine', 'compressed bytes', 'ratio', 'vs system zlib -9', 'MB/s (CPU)'], rows));
