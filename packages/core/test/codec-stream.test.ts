// compressStream: one kernel-readable stream per format, checked with the real tools, and the same
// bytes whatever the pool (inline, 1 worker, 2 workers).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectBytes, compressStream, ContentFill, STREAM_BOUNDARY, inlinePool, ImgkitError, type CodecSpec, type SyncContentReader, type WorkerPool } from '@imgkit/core';
import { createNodePool } from '@imgkit/core/node';
import { requireTool, run, tempDir } from '../../../test/lib/tools.ts';
import { zstdFrames } from '../../../test/lib/zstd-frames.ts';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const BIN = new Uint8Array(readFileSync(process.execPath));
const binary = (n: number, offset = 0): Uint8Array => BIN.slice(offset, offset + n);

/** Feed `data` in uneven pieces, from a reused buffer (as a file reader would). */
async function* feed(data: Uint8Array, piece = 100_003): AsyncIterable<Uint8Array> {
  const buf = new Uint8Array(piece);
  for (let o = 0; o < data.byteLength; o += piece) {
    const n = Math.min(piece, data.byteLength - o);
    buf.set(data.subarray(o, o + n));
    yield buf.subarray(0, n);
  }
}

const pools: [string, WorkerPool][] = [
  ['inline', inlinePool()],
  ['1 worker', createNodePool({ workers: 1 })],
  ['2 workers', createNodePool({ workers: 2, inFlight: 2 })],
];
after(() => Promise.all(pools.map(([, p]) => p.close())));

const compress = (data: Uint8Array, codec: CodecSpec, pool: WorkerPool, chunkSize?: number): Promise<Uint8Array> =>
  collectBytes(compressStream(feed(data), chunkSize === undefined ? { codec, pool } : { codec, pool, chunkSize }));

async function decodeWith(tool: string, pkg: string, z: Uint8Array): Promise<Uint8Array> {
  const r = await run(requireTool(tool, pkg), ['-dc'], { input: z });
  return r.stdout;
}

test('gzip stream of many chunks: one member, gzip -t, same sha256, same bytes for 0/1/2 workers', async () => {
  const data = binary(1_500_000, 1 << 20); // 23 chunks of 64 KiB
  const outs: string[] = [];
  for (const [name, pool] of pools) {
    const z = await compress(data, { name: 'gzip', level: 6 }, pool, 64 * 1024);
    await run(requireTool('gzip', 'gzip'), ['-t'], { input: z });
    assert.equal(sha(await decodeWith('gzip', 'gzip', z)), sha(data), name);
    outs.push(sha(z));
    // one member: header once, no second 1f 8b 08 member after the trailer
    assert.deepEqual([...z.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
  }
  assert.equal(new Set(outs).size, 1, 'identical bytes for inline, 1 and 2 workers');
});

test('gzip stream of 0 bytes and of less than one chunk', async () => {
  for (const data of [new Uint8Array(0), binary(1000), binary(64 * 1024), binary(64 * 1024 + 1)]) {
    const z = await compress(data, { name: 'gzip' }, pools[2]![1], 64 * 1024);
    await run(requireTool('gzip', 'gzip'), ['-t'], { input: z });
    assert.equal(sha(await decodeWith('gzip', 'gzip', z)), sha(data), `${data.byteLength} bytes`);
  }
});

test('gzip -l sees one member with the right size', async () => {
  const data = binary(700_000);
  const z = await compress(data, { name: 'gzip', level: 1 }, pools[1]![1], 128 * 1024);
  const r = await run(requireTool('gzip', 'gzip'), ['-lv'], { input: z });
  // gzip -l reads ISIZE from the trailer: proves the combined CRC/size trailer is the member's
  assert.match(r.stdout.toString(), new RegExp(`\\s${data.byteLength}\\s`));
});

for (const [codec, tool, pkg, size] of [
  [{ name: 'zstd' }, 'zstd', 'zstd', 3_000_000],
  [{ name: 'xz', dictSize: 1 << 20 }, 'xz', 'xz-utils', 2_500_000],
  [{ name: 'lz4-legacy' }, 'lz4', 'lz4', 17 << 20],
  [{ name: 'lz4-frame' }, 'lz4', 'lz4', 9 << 20],
] as [CodecSpec, string, string, number][]) {
  test(`${codec.name} stream decodes with ${tool}, same bytes for 0/1/2 workers`, async () => {
    const data = binary(size);
    const outs: string[] = [];
    for (const [name, pool] of pools) {
      const z = await compress(data, codec, pool, codec.name === 'xz' ? 1 << 20 : undefined);
      assert.equal(sha(await decodeWith(tool, pkg, z)), sha(data), name);
      outs.push(sha(z));
    }
    assert.equal(new Set(outs).size, 1);
  });
}

test('xz stream: one stream, several blocks, CRC32 (xz -lvv --robot)', async () => {
  const data = binary(3_300_000);
  const z = await compress(data, { name: 'xz', dictSize: 1 << 20 }, pools[2]![1], 1 << 20);
  const f = join(await tempDir('xz'), 'a.xz');
  writeFileSync(f, z);
  const l = (await run(requireTool('xz', 'xz-utils'), ['-lvv', '--robot', f])).stdout.toString();
  const totals = l.split('\n').find((x) => x.startsWith('totals'))!.split('\t');
  assert.equal(totals[1], '1', 'one stream');
  assert.equal(totals[2], '4', 'four blocks');
  assert.equal(totals[4], String(data.byteLength));
  assert.equal(totals[6], 'CRC32');
  const blocks = l.split('\n').filter((x) => x.startsWith('block'));
  assert.equal(blocks.length, 4);
  for (const line of blocks) assert.match(line, /--lzma2=dict=1MiB/);
  await run(requireTool('xz', 'xz-utils'), ['-t'], { input: z });
});

test('xz and zstd streams of 0 bytes decode to nothing', async () => {
  for (const [codec, tool, pkg] of [
    [{ name: 'xz' }, 'xz', 'xz-utils'],
    [{ name: 'zstd' }, 'zstd', 'zstd'],
    [{ name: 'lz4-legacy' }, 'lz4', 'lz4'],
  ] as [CodecSpec, string, string][]) {
    const z = await compress(new Uint8Array(0), codec, pools[1]![1]);
    assert.equal((await decodeWith(tool, pkg, z)).byteLength, 0, codec.name);
  }
});

test('zstd stream without boundaries is one frame', async () => {
  const data = binary(2_000_000);
  const z = await compress(data, { name: 'zstd', level: 3 }, pools[2]![1]);
  const f = join(await tempDir('zst'), 'a.zst');
  writeFileSync(f, z);
  const l = (await run(requireTool('zstd', 'zstd'), ['-lv', f])).stdout.toString();
  assert.match(l, /# Zstandard Frames: 1\b/);
  assert.match(l, /Decompressed Size: .*\(2000000 B\)/);
});

test('zstd frames end only at marked boundaries after chunkSize bytes, same bytes for 0/1/2 workers', async () => {
  // Ten "entries" of 300 000 bytes; frames of ≥ 1 MiB may end only between entries.
  const data = binary(3_000_000);
  async function* marked(): AsyncIterable<Uint8Array | typeof STREAM_BOUNDARY> {
    for (let o = 0; o < data.byteLength; o += 300_000) {
      yield data.subarray(o, o + 150_000);
      yield data.subarray(o + 150_000, o + 300_000);
      yield STREAM_BOUNDARY;
    }
  }
  const outs: string[] = [];
  for (const [name, pool] of pools) {
    const z = await collectBytes(compressStream(marked(), { codec: { name: 'zstd', level: 3 }, pool, chunkSize: 1 << 20 }));
    assert.equal(sha(await decodeWith('zstd', 'zstd', z)), sha(data), name);
    outs.push(sha(z));
    const f = join(await tempDir('zst'), 'b.zst');
    writeFileSync(f, z);
    const l = (await run(requireTool('zstd', 'zstd'), ['-lv', f])).stdout.toString();
    // 4 entries (1 200 000 B ≥ 1 MiB) per frame: frames of 4, 4 and 2 entries
    assert.match(l, /# Zstandard Frames: 3\b/, l);
  }
  assert.equal(new Set(outs).size, 1, 'identical bytes for inline, 1 and 2 workers');
});

test('zstd frames: an entry bigger than a frame buffer grows it; many frames reuse buffers; same bytes for 0/1/2 workers', async () => {
  // 40 entries of 90 000 bytes, then one of 5 MiB (over the 4 MiB + 256 KiB buffer), then 10 more
  const sizes = [...Array.from({ length: 40 }, () => 90_000), 5 << 20, ...Array.from({ length: 10 }, () => 90_000)];
  const total = sizes.reduce((a, b) => a + b, 0);
  const data = binary(total, 1 << 20);
  async function* marked(): AsyncIterable<Uint8Array | typeof STREAM_BOUNDARY> {
    const scratch = new Uint8Array(1 << 20); // reused between pieces, as a reader may
    let o = 0;
    for (const n of sizes) {
      for (let k = 0; k < n; k += scratch.byteLength) {
        const m = Math.min(scratch.byteLength, n - k);
        scratch.set(data.subarray(o + k, o + k + m));
        yield scratch.subarray(0, m);
      }
      o += n;
      yield STREAM_BOUNDARY;
    }
  }
  for (const [chunkSize, frames] of [
    [4 << 20, 2], // 40 × 90 000 < 4 MiB, so the big entry joins the first frame; the rest is the second
    [200_000, 18], // 3 entries per frame: 13 frames, then entry 40 + the big one, then 3 of 3 and the last 1
  ] as const) {
    const outs: string[] = [];
    for (const [name, pool] of pools) {
      const z = await collectBytes(compressStream(marked(), { codec: { name: 'zstd', level: 1 }, pool, chunkSize }));
      assert.equal(sha(await decodeWith('zstd', 'zstd', z)), sha(data), `${name}, chunkSize ${chunkSize}`);
      outs.push(sha(z));
      if (name === 'inline') {
        const f = join(await tempDir('zst'), 'grow.zst');
        writeFileSync(f, z);
        const l = (await run(requireTool('zstd', 'zstd'), ['-lv', f])).stdout.toString();
        const count = Number(/# Zstandard Frames: (\d+)/.exec(l)?.[1]);
        assert.equal(count, frames, l);
      }
    }
    assert.equal(new Set(outs).size, 1, `chunkSize ${chunkSize}: identical bytes for inline, 1 and 2 workers`);
  }
});

test('zstd: an entry over maxHeldBytes goes out in pieces spliced into one frame; no job holds more; same bytes for 0/1/2 workers', async () => {
  // entries: 300 000, then 5 MiB (over the 1 MiB hold limit), then 200 000, then 3 MiB, then 10
  const sizes = [300_000, 5 << 20, 200_000, 3 << 20, 10];
  const total = sizes.reduce((a, b) => a + b, 0);
  const data = binary(total, 3 << 20);
  async function* marked(): AsyncIterable<Uint8Array | typeof STREAM_BOUNDARY> {
    let o = 0;
    for (const n of sizes) {
      for (let k = 0; k < n; k += 100_000) yield data.subarray(o + k, o + Math.min(n, k + 100_000));
      o += n;
      yield STREAM_BOUNDARY;
    }
  }
  // a pool that records how big each job's buffer is (what the frame builder holds)
  const watched = (inner: WorkerPool, seen: number[]): WorkerPool => ({
    workers: inner.workers,
    map: <I, O>(jobs: AsyncIterable<I> | Iterable<I>, task: string, opts?: { transferInput?: boolean }) =>
      inner.map<I, O>(
        (async function* () {
          for await (const j of jobs as AsyncIterable<I>) {
            seen.push((j as { data: Uint8Array }).data.byteLength);
            yield j;
          }
        })(),
        task,
        opts,
      ),
    close: () => inner.close(),
  });
  const outs: string[] = [];
  for (const level of [1, 3, 19]) {
    for (const [name, pool] of level === 19 ? pools.slice(0, 1) : pools) {
      const seen: number[] = [];
      const z = await collectBytes(
        compressStream(marked(), { codec: { name: 'zstd', level }, pool: watched(pool, seen), chunkSize: 256 * 1024, maxHeldBytes: 1 << 20 }),
      );
      assert.equal(sha(await decodeWith('zstd', 'zstd', z)), sha(data), `${name}, level ${level}`);
      assert.ok(Math.max(...seen) <= 1 << 20, `${name}: a job of ${Math.max(...seen)} bytes`);
      if (level === 3) outs.push(sha(z));
      if (name === 'inline' && level === 3) {
        const frames = zstdFrameList(z);
        // 300 000 alone ≥ 256 KiB: one frame; the 5 MiB entry: one spliced frame (no content size,
        // window = the 256 KiB piece size); 200 000 + 3 MiB: spliced again; 10 bytes: the last frame
        assert.deepEqual(frames.map((f) => f.spliced), [false, true, true, false], JSON.stringify(frames));
        assert.ok(frames.filter((f) => f.spliced).every((f) => f.window === 256 * 1024));
      }
    }
  }
  assert.equal(new Set(outs).size, 1, 'identical bytes for inline, 1 and 2 workers');
  await assert.rejects(collectBytes(compressStream(marked(), { codec: { name: 'zstd' }, chunkSize: 1 << 20, maxHeldBytes: 1000 })), { code: 'E_BAD_OPTION' });
});

/** Frames of a zstd stream: spliced ones carry no content size (RFC 8878 §3.1.1.1.1). */
function zstdFrameList(z: Uint8Array): { spliced: boolean; window: number }[] {
  return zstdFrames(z).map((f) => ({ spliced: f.contentSize === undefined, window: f.window }));
}

test('ContentFill: a file read straight into zstd frames (normal and spliced) or chunked for gzip; a size change is E_SOURCE_CHANGED naming it', async () => {
  const body = binary(3_000_000, 5 << 20);
  // a reader over `bytes` that hands out at most 70 000 bytes per call
  const reader = (bytes: Uint8Array): (() => SyncContentReader) => () => {
    let pos = 0;
    return {
      read(dst, at, len) {
        const k = Math.min(len, 70_000, bytes.byteLength - pos);
        dst.set(bytes.subarray(pos, pos + k), at);
        pos += k;
        return k;
      },
      close() {},
    };
  };
  async function* input(bytes: Uint8Array, size = body.byteLength): AsyncIterable<Uint8Array | typeof STREAM_BOUNDARY | ContentFill> {
    yield binary(1000);
    yield STREAM_BOUNDARY;
    yield new ContentFill(size, reader(bytes), 'lib/firmware/blob', 'test');
    yield STREAM_BOUNDARY;
    yield binary(10, 77);
  }
  const expected = sha(new Uint8Array([...binary(1000), ...body, ...binary(10, 77)]));
  for (const [label, opts] of [
    ['zstd', { codec: { name: 'zstd' } }],
    ['zstd spliced', { codec: { name: 'zstd' }, chunkSize: 256 * 1024, maxHeldBytes: 1 << 20 }],
    ['gzip', { codec: { name: 'gzip' } }],
  ] as const) {
    const z = await collectBytes(compressStream(input(body), { ...opts, pool: pools[2]![1] }));
    assert.equal(sha(await decodeWith(label.startsWith('zstd') ? 'zstd' : 'gzip', label.startsWith('zstd') ? 'zstd' : 'gzip', z)), expected, label);
    for (const [change, bytes] of [
      ['shrank', body.subarray(0, 2_000_000)],
      ['grew', new Uint8Array([...body, 1, 2, 3])],
    ] as const) {
      await assert.rejects(collectBytes(compressStream(input(bytes), { ...opts, pool: inlinePool() })), (e: unknown) => {
        assert.ok(e instanceof ImgkitError, String(e));
        assert.equal(e.code, 'E_SOURCE_CHANGED');
        assert.equal(e.path, 'lib/firmware/blob');
        assert.match(e.message, new RegExp(change));
        return true;
      }, `${label}: ${change}`);
    }
  }
});

test('lz4-legacy stream: magic 0x184C2102, then u32le-sized chunks of ≤ 8 MiB input', async () => {
  const data = binary(17 << 20);
  const z = await compress(data, { name: 'lz4-legacy' }, pools[0]![1]);
  const v = new DataView(z.buffer, z.byteOffset, z.byteLength);
  assert.equal(v.getUint32(0, true), 0x184c2102);
  let at = 4;
  let chunks = 0;
  while (at < z.byteLength) {
    at += 4 + v.getUint32(at, true);
    chunks++;
  }
  assert.equal(at, z.byteLength);
  assert.equal(chunks, 3);
});

test('codecs without a stream container, and bad chunk sizes, are E_BAD_OPTION', async () => {
  for (const [codec, chunkSize, field] of [
    [{ name: 'lz4-block' }, undefined, 'compressStream.codec'],
    [{ name: 'zlib' }, undefined, 'compressStream.codec'],
    [{ name: 'gzip' }, 1000, 'compressStream.chunkSize'],
    [{ name: 'lz4-legacy' }, 9 << 20, 'compressStream.chunkSize'],
  ] as [CodecSpec, number | undefined, string][]) {
    await assert.rejects(
      compress(binary(10), codec, pools[0]![1], chunkSize),
      (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === field,
      codec.name,
    );
  }
});

test('none passes the bytes through', async () => {
  const data = binary(300_000);
  assert.equal(sha(await compress(data, { name: 'none' }, pools[0]![1])), sha(data));
});
