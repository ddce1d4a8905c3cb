// zstd-splice: one-shot frames re-encoded into one frame; checked by the real zstd decoder, on text,
// binaries, incompressible and repetitive data, at the levels imgkit's cpio uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadCodec } from '@imgkit/core';
import { splicedFrameHeader, transcodePiece } from '../src/codec/zstd-splice.ts';
import { requireTool, run } from '../../../test/lib/tools.ts';
import { noiseBytes as noise } from '../../../test/lib/fixture.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const BIN = new Uint8Array(readFileSync(process.execPath));
function text(n: number): Uint8Array {
  const words = ['initramfs', 'kernel', 'module', 'firmware', 'squashfs', 'the', 'a', 'of', '/usr/lib', '0x1f', '\n'];
  const out = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = new TextEncoder().encode(words[x % words.length]! + ' ');
    out.set(w.subarray(0, Math.min(w.length, n - i)), i);
    i += w.length;
  }
  return out;
}
async function splice(data: Uint8Array, level: number, piece: number): Promise<{ spliced: Uint8Array; separate: number }> {
  const codec = await loadCodec({ name: 'zstd', level });
  const parts = [splicedFrameHeader(Math.ceil(Math.log2(piece)))];
  let separate = 0;
  for (let o = 0; o < data.byteLength || o === 0; o += piece) {
    const input = data.subarray(o, Math.min(o + piece, data.byteLength));
    const frame = codec.compress(input);
    separate += frame.byteLength;
    const t = transcodePiece(frame, input);
    if (o + piece >= data.byteLength) t.data[t.lastBlockAt] = t.data[t.lastBlockAt]! | 1;
    parts.push(t.data);
    if (data.byteLength === 0) break;
  }
  const spliced = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    spliced.set(p, at);
    at += p.byteLength;
  }
  return { spliced, separate };
}

const ZSTD = requireTool('zstd', 'zstd');
const inputs: [string, Uint8Array][] = [
  ['text', text(3_000_000)],
  ['binary', BIN.slice(1 << 20, (1 << 20) + 5_000_000)],
  ['incompressible', noise(2_500_000, 7)],
  ['zeros then text', new Uint8Array([...new Uint8Array(700_000), ...text(900_000)])],
  ['mixed pieces', new Uint8Array([...noise(600_000, 3), ...text(600_000), ...BIN.slice(0, 600_000), ...new Uint8Array(300_000).fill(7)])],
  ['empty', new Uint8Array(0)],
];

for (const [name, data] of inputs) {
  test(`splice ${name}: zstd -d gives the input back at levels 1, 3 and 19; size within 1% of separate frames`, async () => {
    for (const level of [1, 3, 19]) {
      if (level === 19 && data.byteLength > 3_000_000) continue; // level 19 is slow in wasm; the shorter inputs cover it
      const { spliced, separate } = await splice(data, level, 1 << 20);
      const out = (await run(ZSTD, ['-dc'], { input: spliced })).stdout;
      assert.equal(sha(out), sha(data), `${name} level ${level}`);
      assert.ok(spliced.byteLength <= separate * 1.01 + 64, `${name} level ${level}: ${spliced.byteLength} vs ${separate} as separate frames`);
    }
  });
}

test('a piece is transcoded the same whatever came before it (runs in any worker)', async () => {
  const codec = await loadCodec({ name: 'zstd', level: 3 });
  const a = text(1 << 20);
  const t1 = transcodePiece(codec.compress(a), a).data;
  const t2 = transcodePiece(codec.compress(a), a).data;
  assert.equal(sha(t1), sha(t2));
  // the same piece after two different predecessors decodes right both times
  for (const before of [BIN.slice(0, 1 << 20), noise(1 << 20, 9)]) {
    const p0 = transcodePiece(codec.compress(before), before);
    const p1 = transcodePiece(codec.compress(a), a);
    p1.data[p1.lastBlockAt] = p1.data[p1.lastBlockAt]! | 1;
    const frame = new Uint8Array([...splicedFrameHeader(20), ...p0.data, ...p1.data]);
    const out = (await run(ZSTD, ['-dc'], { input: frame })).stdout;
    assert.equal(sha(out), sha(new Uint8Array([...before, ...a])));
  }
});

test('blocks stored raw instead (forced by a low block limit): later blocks that repeat their tables or Huffman tree still decode', async () => {
  const codec = await loadCodec({ name: 'zstd', level: 3 });
  const data = new Uint8Array([...text(600_000), ...BIN.slice(2 << 20, (2 << 20) + 600_000)]);
  const frame = codec.compress(data);
  for (const maxBlockBytes of [40_000, 25_000, 10_000, 0]) {
    const t = transcodePiece(frame, data, { maxBlockBytes });
    t.data[t.lastBlockAt] = t.data[t.lastBlockAt]! | 1;
    const out = (await run(ZSTD, ['-dc'], { input: new Uint8Array([...splicedFrameHeader(20), ...t.data]) })).stdout;
    assert.equal(sha(out), sha(data), `limit ${maxBlockBytes}`);
    if (maxBlockBytes === 0) assert.ok(t.data.byteLength > data.byteLength, 'limit 0: every block raw');
  }
});

test('bad input: not a frame, a frame of other content, a window outside 10…23 → E_CODEC', async () => {
  const codec = await loadCodec({ name: 'zstd', level: 3 });
  assert.throws(() => transcodePiece(new Uint8Array(10), new Uint8Array(0)), { code: 'E_CODEC' });
  const a = text(50_000);
  assert.throws(() => transcodePiece(codec.compress(a), a.subarray(0, 40_000)), { code: 'E_CODEC' });
  assert.throws(() => splicedFrameHeader(24), { code: 'E_CODEC' });
});
