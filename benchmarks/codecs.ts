/**
 * Codec throughput and ratio on real binaries, in process (tinybench).
 *
 *   node --import tsx benchmarks/codecs.ts            # BENCH_MB=48 by default
 *
 * Corpus: regular files under /usr/lib/x86_64-linux-gnu (sorted by name, *.so* and *.a), the first
 * BENCH_MB MiB, cut into independent 128 KiB blocks. Per codec: one thread, MB/s of input (median of
 * the runs) and compressed/input. xz runs on the first 8 MiB only (it is ~50x slower). Then
 * compressStream (gzip, zstd, xz) over the whole corpus with the inline pool and with 2 workers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Bench, type Task } from 'tinybench';
import { collectBytes, compressStream, inlinePool, loadCodec, type CodecSpec, type WorkerPool } from '@imgkit/core';
import { createNodePool } from '@imgkit/core/node';

const MIB = 1 << 20;
const BLOCK = 128 * 1024;
const TOTAL = Number(process.env.BENCH_MB ?? 48) * MIB;
const DIR = '/usr/lib/x86_64-linux-gnu';

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

const data = corpus();
const blocks: Uint8Array[] = [];
for (let o = 0; o + BLOCK <= data.byteLength; o += BLOCK) blocks.push(data.subarray(o, o + BLOCK));

const SPECS: [string, CodecSpec, number][] = [
  ['gzip L6 (node:zlib)', { name: 'gzip', level: 6 }, blocks.length],
  ['zlib L6 (node:zlib)', { name: 'zlib', level: 6 }, blocks.length],
  ['deflate-raw L6 w12', { name: 'deflate-raw', level: 6, windowBits: 12 }, blocks.length],
  ['zstd L3 (wasm)', { name: 'zstd', level: 3 }, blocks.length],
  ['zstd L19 (wasm)', { name: 'zstd', level: 19 }, Math.min(blocks.length, 64)],
  ['lz4-block', { name: 'lz4-block' }, blocks.length],
  ['xz L6 dict=128K (wasm)', { name: 'xz', level: 6, dictSize: BLOCK }, Math.min(blocks.length, 64)],
];

interface Row {
  name: string;
  inputMiB: number;
  mbps: number;
  ratio: number;
}
const rows: Row[] = [];
const outs: number[] = [];
const bench = new Bench({ iterations: 3, time: 0, warmup: false });
for (const [label, spec, count] of SPECS) {
  const codec = await loadCodec(spec);
  const set = blocks.slice(0, count);
  const i = rows.push({ name: label, inputMiB: (set.length * BLOCK) / MIB, mbps: 0, ratio: 0 }) - 1;
  bench.add(label, () => {
    let out = 0;
    for (const b of set) {
      const z = codec.compress(b);
      out += Math.min(z.byteLength, b.byteLength); // stored raw when not smaller, as squashfs does
    }
    outs[i] = out;
  });
}
/** Median latency of a finished task, in ms (an aborted or failed task has no latency: an error). */
function p50Ms(t: Task): number {
  const r = t.result;
  if (!('latency' in r)) throw new Error(`benchmark ${t.name} did not complete (${r.state})`);
  return r.latency.p50 ?? Number.NaN;
}
await bench.run();
for (const [i, t] of bench.tasks.entries()) {
  const row = rows[i]!;
  const sec = p50Ms(t) / 1000;
  row.mbps = (row.inputMiB * MIB) / 1e6 / sec;
  row.ratio = outs[i]! / (row.inputMiB * MIB);
}

// compressStream: inline vs 2 workers (one iteration each: these are long)
const streamRows: { name: string; mbps: number; ratio: number }[] = [];
const streamBench = new Bench({ iterations: 1, time: 0, warmup: false });
const pool2 = createNodePool({ workers: 2 });
const streams: [string, CodecSpec, WorkerPool, Uint8Array][] = [
  ['compressStream gzip L6, inline', { name: 'gzip', level: 6 }, inlinePool(), data],
  ['compressStream gzip L6, 2 workers', { name: 'gzip', level: 6 }, pool2, data],
  ['compressStream zstd L3, inline', { name: 'zstd', level: 3 }, inlinePool(), data],
  ['compressStream zstd L3, 2 workers (1 frame)', { name: 'zstd', level: 3 }, pool2, data],
  ['compressStream lz4-legacy, inline', { name: 'lz4-legacy' }, inlinePool(), data],
  ['compressStream lz4-legacy, 2 workers', { name: 'lz4-legacy' }, pool2, data],
  ['compressStream xz L6 1M dict, inline (8 MiB)', { name: 'xz', level: 6, dictSize: MIB }, inlinePool(), data.subarray(0, 8 * MIB)],
  ['compressStream xz L6 1M dict, 2 workers (8 MiB)', { name: 'xz', level: 6, dictSize: MIB }, pool2, data.subarray(0, 8 * MIB)],
];
// start the workers and load each codec in them before timing
for (const [, codec, pool] of streams) {
  await collectBytes(compressStream((async function* () { yield data.subarray(0, 256 * 1024); })(), { codec, pool }));
}
const sizes: number[] = [];
for (const [label, codec, pool, input] of streams) {
  const i = sizes.push(0) - 1;
  streamBench.add(label, async () => {
    async function* src(): AsyncIterable<Uint8Array> {
      for (let o = 0; o < input.byteLength; o += MIB) yield input.subarray(o, Math.min(o + MIB, input.byteLength));
    }
    sizes[i] = (await collectBytes(compressStream(src(), codec.name === 'xz' ? { codec, pool, chunkSize: MIB } : { codec, pool }))).byteLength;
  });
}
await streamBench.run();
for (const [i, t] of streamBench.tasks.entries()) {
  const input = streams[i]![3];
  streamRows.push({ name: t.name, mbps: input.byteLength / 1e6 / (p50Ms(t) / 1000), ratio: sizes[i]! / input.byteLength });
}
await pool2.close();

console.log(`corpus: ${(data.byteLength / MIB).toFixed(1)} MiB from ${DIR}, ${blocks.length} blocks of 128 KiB; node ${process.version}`);
console.log('| codec (128 KiB blocks, 1 thread) | input MiB | MB/s | ratio |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.name} | ${r.inputMiB.toFixed(0)} | ${r.mbps.toFixed(1)} | ${r.ratio.toFixed(3)} |`);
console.log('| compressStream | input MiB | MB/s | ratio |');
console.log('|---|---|---|---|');
for (const [i, r] of streamRows.entries()) {
  console.log(`| ${r.name} | ${(streams[i]![3].byteLength / MIB).toFixed(0)} | ${r.mbps.toFixed(1)} | ${r.ratio.toFixed(3)} |`);
}
