// decompressStream: streams made by the native tools (gzip, zstd, xz, lz4 -l, lz4) decode to the
// input in bounded chunks, `consumed` says where each stream ends (bytes after it are left alone),
// and truncated or corrupt streams are E_CODEC naming the codec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import '@imgkit/core/node';
import { decompressStream, detectCompression, ErrorCodes, ImgkitError, memoryReader, type StreamCompression } from '@imgkit/core';
import { requireTool, run } from '../../../test/lib/tools.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const BIN = new Uint8Array(readFileSync(process.execPath)).slice(0, 6 << 20);

const TOOLS: [StreamCompression, string, string, string[]][] = [
  ['gzip', 'gzip', 'gzip', ['-6', '-c']],
  ['zstd', 'zstd', 'zstd', ['-3', '-c', '-q']],
  ['xz', 'xz', 'xz-utils', ['-1', '-C', 'crc32', '-c']],
  ['lz4-legacy', 'lz4', 'lz4', ['-l', '-c', '-q']],
  ['lz4-frame', 'lz4', 'lz4', ['-c', '-q']],
];

async function decode(bytes: Uint8Array, format: StreamCompression, offset = 0, maxFrameBytes?: number) {
  const s = decompressStream(memoryReader(bytes), offset, format, maxFrameBytes === undefined ? { chunkBytes: 65_537 } : { chunkBytes: 65_537, maxFrameBytes });
  const h = createHash('sha256');
  let n = 0;
  let largest = 0;
  for await (const c of s.chunks) {
    h.update(c);
    n += c.byteLength;
    largest = Math.max(largest, c.byteLength);
  }
  return { sha: h.digest('hex'), n, consumed: s.consumed, largest };
}

for (const [format, tool, pkg, args] of TOOLS) {
  test(`${format}: a stream from ${tool} ${args.join(' ')} decodes to its input; consumed stops at its end`, async () => {
    const z = new Uint8Array((await run(requireTool(tool, pkg), args, { input: BIN })).stdout);
    assert.equal(detectCompression(z), format);
    // the stream behind 4 zero bytes and followed by other bytes, as in an initramfs
    const framed = new Uint8Array(4 + z.byteLength + 100);
    framed.set(z, 4);
    framed.fill(0x5a, 4 + z.byteLength);
    const r = await decode(framed, format, 4);
    assert.equal(r.n, BIN.byteLength);
    assert.equal(r.sha, sha(BIN));
    if (format !== 'lz4-legacy') assert.equal(r.consumed, z.byteLength, 'consumed ends at the stream end');
    else assert.ok(r.consumed >= z.byteLength - 0 && r.consumed <= z.byteLength, 'legacy LZ4 ends at the last whole chunk');
    // cut in the middle: an E_CODEC naming the codec (legacy LZ4 has no end mark: it decodes fewer bytes)
    const cut = z.subarray(0, z.byteLength >> 1);
    if (format === 'lz4-legacy') {
      const c = await decode(cut, format);
      assert.ok(c.n < BIN.byteLength);
    } else {
      await assert.rejects(decode(cut, format), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.CODEC && e.field === `codec.${format}`);
    }
  });
}

test('gzip members back to back decode as one stream (pigz and cat a.gz b.gz)', async () => {
  const a = new Uint8Array((await run('gzip', ['-c'], { input: BIN.subarray(0, 100_000) })).stdout);
  const b = new Uint8Array((await run('gzip', ['-c'], { input: BIN.subarray(100_000, 300_000) })).stdout);
  const both = new Uint8Array(a.byteLength + b.byteLength);
  both.set(a);
  both.set(b, a.byteLength);
  const r = await decode(both, 'gzip');
  assert.equal(r.sha, sha(BIN.subarray(0, 300_000)));
  assert.equal(r.consumed, both.byteLength);
});

test('zstd: several frames decode frame by frame; a frame over maxFrameBytes is refused, not allocated', async () => {
  const parts = [BIN.subarray(0, 1 << 20), BIN.subarray(1 << 20, 3 << 20)];
  const frames = await Promise.all(parts.map(async (p) => new Uint8Array((await run('zstd', ['-c', '-q'], { input: p })).stdout)));
  const z = new Uint8Array(frames[0]!.byteLength + frames[1]!.byteLength);
  z.set(frames[0]!);
  z.set(frames[1]!, frames[0]!.byteLength);
  const r = await decode(z, 'zstd');
  assert.equal(r.sha, sha(BIN.subarray(0, 3 << 20)));
  assert.equal(r.largest, 2 << 20, 'one frame at a time');
  await assert.rejects(decode(z, 'zstd', 0, 1 << 20), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.CODEC && /bound/.test(e.message));
});

test('corrupt data inside a gzip stream is E_CODEC', async () => {
  const z = new Uint8Array((await run('gzip', ['-c'], { input: BIN.subarray(0, 200_000) })).stdout);
  z.fill(0xff, 1000, 1100);
  await assert.rejects(decode(z, 'gzip'), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.CODEC);
});

test('gzip: a member that ends exactly at a read boundary, followed by other bytes, ends the stream there', async () => {
  const z = new Uint8Array((await run('gzip', ['-c'], { input: BIN.subarray(0, 50_000) })).stdout);
  const framed = new Uint8Array(z.byteLength + 64);
  framed.set(z);
  framed.fill(0x30, z.byteLength); // "0000…": what a following uncompressed cpio header starts with
  const s = decompressStream(memoryReader(framed), 0, 'gzip', { chunkBytes: z.byteLength });
  let n = 0;
  for await (const c of s.chunks) n += c.byteLength;
  assert.equal(n, 50_000);
  assert.equal(s.consumed, z.byteLength);
});
