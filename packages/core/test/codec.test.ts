// Codecs one block at a time: round trips, the real tools, and the header fields that matter to
// the kernel (zstd content size, xz check and dictionary, LZ4 end-of-block rules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CODEC_LEVELS, ImgkitError, XZ_MAX_DICT_SIZE, collectBytes, compressStream, loadCodec, lz4CompressBlock, lz4DecompressBlock, type CodecName, type CodecSpec } from '@imgkit/core';
import '@imgkit/core/node';
import { requireTool, run } from '../../../test/lib/tools.ts';
import { noiseBytes } from '../../../test/lib/fixture.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A real binary: the running node executable, cut to `n` bytes. */
function binary(n: number, offset = 0): Uint8Array {
  const b = readFileSync(process.execPath);
  return new Uint8Array(b.subarray(offset, offset + n));
}
function text(n: number): Uint8Array {
  const s = 'the quick brown fox jumps over the lazy dog 0123456789\n';
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = s.charCodeAt((i * 7 + (i >> 10)) % s.length);
  return out;
}

const SPECS: CodecSpec[] = [
  { name: 'gzip' },
  { name: 'gzip', level: 9 },
  { name: 'zlib' },
  { name: 'deflate-raw', windowBits: 12 },
  { name: 'zstd' },
  { name: 'zstd', level: 19 },
  { name: 'lz4-block' },
  { name: 'lz4-frame' },
  { name: 'lz4-legacy' },
  { name: 'xz', dictSize: 128 * 1024 },
  { name: 'none' },
];
const INPUTS: [string, Uint8Array][] = [
  ['empty', new Uint8Array(0)],
  ['1 byte', new Uint8Array([42])],
  ['12 bytes', text(12)],
  ['13 bytes', text(13)],
  ['zeros 100k', new Uint8Array(100_000)],
  ['text 300k', text(300_000)],
  ['noise 70k', noiseBytes(70_000, 7)],
  ['binary 1M', binary(1 << 20, 4096)],
];

for (const spec of SPECS) {
  test(`round trip ${JSON.stringify(spec)}`, async () => {
    const c = await loadCodec(spec);
    for (const [name, data] of INPUTS) {
      const z = c.compress(data);
      assert.equal(sha(c.compress(data)), sha(z), `${name}: deterministic`);
      const back = c.decompress(z, data.byteLength);
      assert.equal(back.byteLength, data.byteLength, `${name}: length`);
      assert.equal(sha(back), sha(data), `${name}: bytes`);
    }
  });
}

test('loadCodec caches one codec per spec', async () => {
  assert.equal(await loadCodec({ name: 'zstd', level: 5 }), await loadCodec({ name: 'zstd', level: 5 }));
  assert.notEqual(await loadCodec({ name: 'zstd', level: 5 }), await loadCodec({ name: 'zstd', level: 6 }));
});

test('an unknown codec is E_CODEC; options a codec cannot honour are E_BAD_OPTION with the field', async () => {
  await assert.rejects(loadCodec({ name: 'brotli' as never }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_CODEC' && e.field === 'codec.name');
  const cases: [CodecSpec, string][] = [
    [{ name: 'xz', dictSize: 100_000 }, 'codec.xz.dictSize'],
    [{ name: 'xz', level: 9 }, 'codec.xz.level'], // its 64 MiB preset dictionary
    [{ name: 'xz', level: 6, dictSize: 24 << 20 }, 'codec.xz.dictSize'],
    [{ name: 'gzip', level: 12 }, 'codec.gzip.level'],
    [{ name: 'deflate-raw', windowBits: 16 }, 'codec.deflate-raw.windowBits'],
    [{ name: 'zstd', level: 0 }, 'codec.zstd.level'],
    [{ name: 'lz4-legacy', level: 1 }, 'codec.lz4-legacy.level'],
  ];
  for (const [spec, field] of cases) {
    await assert.rejects(loadCodec(spec), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === field, JSON.stringify(spec));
  }
});

test('CODEC_LEVELS: each codec compresses at both ends of its range and refuses one step outside; codecs without levels take none', async () => {
  const data = text(20_000);
  for (const [name, range] of Object.entries(CODEC_LEVELS) as [CodecName, (typeof CODEC_LEVELS)[CodecName]][]) {
    if (range === undefined) {
      await assert.rejects(loadCodec({ name, level: 1 }), { code: 'E_BAD_OPTION', field: `codec.${name}.level` }, name);
      const c = await loadCodec({ name });
      assert.deepEqual(c.decompress(c.compress(data), data.byteLength), data, name);
      continue;
    }
    // xz: the presets' own dictionaries of 32 and 64 MiB (8, 9) are refused; with 1 MiB every preset runs
    const extra: Partial<CodecSpec> = name === 'xz' ? { dictSize: 1 << 20 } : {};
    for (const level of [range.min, range.default, range.max]) {
      const c = await loadCodec({ name, level, ...extra });
      assert.deepEqual(c.decompress(c.compress(data), data.byteLength), data, `${name} level ${level}`);
    }
    for (const level of [range.min - 1, range.max + 1, 2.5]) {
      await assert.rejects(loadCodec({ name, level, ...extra }), { code: 'E_BAD_OPTION', field: `codec.${name}.level` }, `${name} level ${level}`);
    }
  }
});

test('xz presets: 0…7 run with their own dictionary (7: 16 MiB, the most this wasm encoder allocates); 8 and 9 are E_BAD_OPTION before any data', async () => {
  const data = binary(50_000);
  const xz = requireTool('xz', 'xz-utils');
  for (const level of [0, 7]) {
    const z = (await loadCodec({ name: 'xz', level })).compress(data);
    assert.equal(sha((await run(xz, ['-dc'], { input: z })).stdout), sha(data), `preset ${level}`);
  }
  assert.equal(XZ_MAX_DICT_SIZE, 16 << 20);
  for (const level of [8, 9]) {
    await assert.rejects(loadCodec({ name: 'xz', level }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'codec.xz.level' && /dictionar/.test(e.message) && !/dictSize/.test(e.hint ?? ''));
  }
  await loadCodec({ name: 'xz', level: 6, dictSize: XZ_MAX_DICT_SIZE }); // the limit itself is fine
});

test('compressStream checks the level first: xz 10 and zstd 0 are E_BAD_OPTION on the level, not a chunk-size error', async () => {
  async function* one(): AsyncIterable<Uint8Array> {
    yield new Uint8Array(10);
  }
  for (const codec of [{ name: 'xz', level: 10 }, { name: 'zstd', level: 0 }, { name: 'gzip', level: 10 }, { name: 'lz4-legacy', level: 3 }] as CodecSpec[]) {
    await assert.rejects(collectBytes(compressStream(one(), { codec })), { code: 'E_BAD_OPTION', field: `codec.${codec.name}.level` }, codec.name);
  }
  await assert.rejects(collectBytes(compressStream(one(), { codec: { name: 'xz', level: 8 } })), { code: 'E_BAD_OPTION', field: 'codec.xz.level' });
});

test('corrupt input to decompress throws E_CODEC', async () => {
  for (const name of ['gzip', 'zstd', 'xz', 'lz4-legacy'] as const) {
    const c = await loadCodec({ name });
    const z = c.compress(text(50_000)).slice();
    z.fill(0xaa, 6, 60);
    assert.throws(() => c.decompress(z, 50_000), (e: unknown) => e instanceof ImgkitError && e.code === 'E_CODEC', name);
  }
});

const TOOLS: Record<string, { tool: string; pkg: string; args: string[] }> = {
  gzip: { tool: 'gzip', pkg: 'gzip', args: ['-dc'] },
  zstd: { tool: 'zstd', pkg: 'zstd', args: ['-dc'] },
  'lz4-frame': { tool: 'lz4', pkg: 'lz4', args: ['-dc'] },
  'lz4-legacy': { tool: 'lz4', pkg: 'lz4', args: ['-dc'] },
  xz: { tool: 'xz', pkg: 'xz-utils', args: ['-dc'] },
};

for (const [name, t] of Object.entries(TOOLS)) {
  test(`${name} output decodes with ${t.tool}`, async () => {
    const tool = requireTool(t.tool, t.pkg);
    const c = await loadCodec({ name: name as CodecSpec['name'] });
    for (const [label, data] of [...INPUTS, ['binary 9M (two legacy chunks)', binary(9 << 20)] as [string, Uint8Array]]) {
      const r = await run(tool, t.args, { input: c.compress(data) });
      assert.equal(sha(r.stdout), sha(data), `${label}`);
    }
  });
}

test('gzip -t accepts the gzip codec output; the member header is fixed', async () => {
  const gzip = requireTool('gzip', 'gzip');
  const z = (await loadCodec({ name: 'gzip' })).compress(binary(200_000));
  await run(gzip, ['-t'], { input: z });
  assert.deepEqual([...z.subarray(0, 8)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]); // RFC 1952: no name, mtime 0
});

test('lz4-block: incompressible input comes back longer (store raw), still decodes', async () => {
  const c = await loadCodec({ name: 'lz4-block' });
  for (const n of [1, 15, 4096, 131072]) {
    const data = noiseBytes(n, n);
    const z = c.compress(data);
    assert.ok(z.byteLength >= data.byteLength, `${n}: ${z.byteLength} >= ${data.byteLength}`);
    assert.equal(sha(c.decompress(z, n)), sha(data));
  }
  // and a legacy stream of noise is still valid for the lz4 tool (legacy chunks cannot be stored raw)
  const lz4 = requireTool('lz4', 'lz4');
  const noisy = noiseBytes(300_000, 3);
  const r = await run(lz4, ['-dc'], { input: (await loadCodec({ name: 'lz4-legacy' })).compress(noisy) });
  assert.equal(sha(r.stdout), sha(noisy));
});

/** Walk an LZ4 block's sequences (lz4_Block_format.md) and check the end-of-block conditions. */
function checkLz4EndRules(block: Uint8Array, n: number): void {
  let ip = 0;
  let op = 0;
  let lastMatchStart = -1;
  let lastSeqLiterals = 0;
  while (ip < block.byteLength) {
    const token = block[ip++]!;
    let lit = token >> 4;
    if (lit === 15) for (let b = 255; b === 255; ) lit += b = block[ip++]!;
    ip += lit;
    op += lit;
    lastSeqLiterals = lit;
    if (ip >= block.byteLength) break;
    ip += 2;
    let len = token & 15;
    if (len === 15) for (let b = 255; b === 255; ) len += b = block[ip++]!;
    lastMatchStart = op;
    op += len + 4;
  }
  assert.equal(op, n);
  if (n >= 5) assert.ok(lastSeqLiterals >= 5, `last 5 bytes are literals (got ${lastSeqLiterals})`);
  if (lastMatchStart >= 0) assert.ok(lastMatchStart <= n - 12, `last match starts at ${lastMatchStart}, limit ${n - 12}`);
}

test('lz4 blocks keep the end-of-block rules (LZ4_decompress_safe with exact size)', () => {
  const cases: Uint8Array[] = [text(13), text(20), text(4096), new Uint8Array(64), binary(131072, 65536)];
  // repeats placed right before the end, where a sloppy compressor starts its last match too late
  for (let tail = 6; tail <= 20; tail++) {
    const d = noiseBytes(1000 + tail, tail);
    d.set(d.subarray(100, 100 + 16), 1000 - 16 + tail - 6);
    cases.push(d);
  }
  for (const d of cases) {
    const z = lz4CompressBlock(d);
    checkLz4EndRules(z, d.byteLength);
    assert.equal(sha(lz4DecompressBlock(z, d.byteLength)), sha(d));
  }
});

test('zstd frames carry the content size (RFC 8878 Frame_Header_Descriptor)', async () => {
  for (const level of [1, 3, 19]) {
    const c = await loadCodec({ name: 'zstd', level });
    for (const n of [0, 100, 131072, 1 << 20]) {
      const z = c.compress(binary(n));
      assert.equal(new DataView(z.buffer, z.byteOffset).getUint32(0, true), 0xfd2fb528, 'magic');
      const fhd = z[4]!;
      const fcsFlag = fhd >> 6;
      const singleSegment = (fhd >> 5) & 1;
      const dictIdFlag = fhd & 3;
      assert.ok(fcsFlag !== 0 || singleSegment === 1, `level ${level} size ${n}: content size present`);
      // Frame_Content_Size follows Window_Descriptor (absent when single segment) and Dictionary_ID
      const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
      const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!;
      let size = 0;
      for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + z[at + i]!;
      if (fcsBytes === 2) size += 256;
      assert.equal(size, n, `level ${level}: Frame_Content_Size`);
    }
  }
});

/** Parse an .xz stream's header and first block header (xz-file-format.txt §2.1.1, §3.1). */
function xzHeaderInfo(z: Uint8Array): { check: number; filterId: number; dictSize: number } {
  assert.deepEqual([...z.subarray(0, 6)], [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  const check = z[7]!;
  let at = 12;
  const flags = z[at + 1]!;
  at += 2;
  const vli = (): number => {
    let v = 0;
    let m = 1;
    for (;;) {
      const b = z[at++]!;
      v += (b & 0x7f) * m;
      m *= 128;
      if (!(b & 0x80)) return v;
    }
  };
  if (flags & 0x40) vli(); // compressed size
  if (flags & 0x80) vli(); // uncompressed size
  const filterId = vli();
  const propsSize = vli();
  assert.equal(propsSize, 1);
  const bits = z[at]!; // §5.3.1 LZMA2 dictionary size byte
  const dictSize = (2 | (bits & 1)) * 2 ** (Math.floor(bits / 2) + 11);
  return { check, filterId, dictSize };
}

test('xz: stream says CRC32 and the LZMA2 dictionary asked for', async () => {
  const xz = requireTool('xz', 'xz-utils');
  const data = binary(300_000);
  for (const [spec, dict, check] of [
    [{ name: 'xz', dictSize: 131072 }, 131072, 1],
    [{ name: 'xz', dictSize: 1 << 20, level: 2 }, 1 << 20, 1],
    [{ name: 'xz', dictSize: 3 << 16 }, 3 << 16, 1],
    [{ name: 'xz' }, 8 << 20, 1],
    [{ name: 'xz', dictSize: 65536, check: 'crc64' }, 65536, 4],
  ] as [CodecSpec, number, number][]) {
    const z = (await loadCodec(spec)).compress(data);
    const info = xzHeaderInfo(z);
    assert.equal(info.check, check, `${JSON.stringify(spec)} check`);
    assert.equal(info.filterId, 0x21, 'LZMA2');
    assert.equal(info.dictSize, dict, `${JSON.stringify(spec)} dictionary`);
    const r = await run(xz, ['-dc'], { input: z });
    assert.equal(sha(r.stdout), sha(data));
  }
});

test('zstd: the codec reuses one context, yet a frame depends only on its input and level (levels 3, 19, 22 at 1 MiB)', async () => {
  const zstd = requireTool('zstd', 'zstd');
  const a = binary(1 << 20);
  const b = binary((1 << 20) - 7).map((x, i) => x ^ (i & 0xff));
  const l3 = await loadCodec({ name: 'zstd', level: 3 });
  const first = l3.compress(a);
  for (const level of [19, 22]) {
    const z = (await loadCodec({ name: 'zstd', level })).compress(b);
    assert.equal(sha((await run(zstd, ['-dc'], { input: z })).stdout), sha(b), `level ${level} at 1 MiB decodes`);
  }
  const again = l3.compress(a);
  assert.equal(sha(again), sha(first), 'same input and level after other levels: same frame');
  assert.equal(sha((await run(zstd, ['-dc'], { input: again })).stdout), sha(a));
});

test('zstd in a realm without WebAssembly is an E_CODEC error that says so, every time it is asked', async () => {
  // node --jitless has no WebAssembly, as a page whose Content-Security-Policy forbids it would not.
  const script = `
    import { loadCodec } from '@imgkit/core';
    const out = [];
    for (let i = 0; i < 2; i++) {
      try { await loadCodec({ name: 'zstd' }); out.push('LOADED'); }
      catch (e) { out.push({ code: e.code, field: e.field, message: e.message }); }
    }
    console.log(JSON.stringify(out));`;
  const r = await run(process.execPath, ['--jitless', '--input-type=module', '-e', script], { cwd: new URL('..', import.meta.url).pathname });
  const out = JSON.parse(r.stdout.toString().trim()) as { code: string; field: string; message: string }[];
  assert.equal(out.length, 2);
  for (const o of out) {
    assert.equal(o.code, 'E_CODEC');
    assert.equal(o.field, 'codec.zstd');
    assert.match(o.message, /cannot load the zstd WebAssembly module: .*WebAssembly is not defined/);
  }
});
