import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import {
  ImgkitError,
  MemorySink,
  NoSpaceError,
  imageContent,
  memoryTree,
  spoolSink,
  streamImage,
  type ByteSink,
  type ImagePlan,
  type Spool,
} from '@imgkit/core';
import { fileSink, nodeSpoolSink, openTempFileStore } from '@imgkit/core/node';
import { tempDir } from '../../../test/lib/tools.ts';

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c)); // a copy: chunks are views
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * The same script of writes, zero runs and patches against a spool and a MemorySink (the
 * reference): chunks of odd sizes across the 1 MiB block edges, a patch at 0 (a superblock), one
 * across a block edge, one near the end.
 */
async function script(sink: ByteSink, totalBytes: number): Promise<void> {
  let i = 0;
  while (sink.position < totalBytes) {
    const n = Math.min(totalBytes - sink.position, 1000 + ((i * 7919) % 300_000));
    if (i % 5 === 3) await (sink.writeZeros ? sink.writeZeros(n) : sink.write(new Uint8Array(n)));
    else await sink.write(pattern(n, i + 1));
    i++;
  }
  await sink.writeAt(0, pattern(96, 1000));
  if (totalBytes > (1 << 20) + 50) await sink.writeAt((1 << 20) - 50, pattern(100, 1001));
  await sink.writeAt(totalBytes - 10, pattern(10, 1002));
}

test('spool below its memory bound: stays in memory; read(), copyTo() and patches give the bytes written', async () => {
  const ref = new MemorySink();
  await script(ref, 3_000_000);
  const spilled: unknown[] = [];
  const spool = nodeSpoolSink({ memoryBytes: 4 << 20, label: 'the initramfs', onSpill: (i) => spilled.push(i) });
  await script(spool, 3_000_000);
  await spool.close();
  assert.deepEqual([spool.where, spool.store, spool.sizeBytes, spilled.length], ['memory', undefined, 3_000_000, 0]);
  assert.equal(sha(await collect(spool.read())), sha(ref.bytes()));
  assert.equal(sha(await collect(spool.read())), sha(ref.bytes()), 'read again');
  const copy = new MemorySink();
  await spool.copyTo(copy);
  assert.equal(sha(copy.bytes()), sha(ref.bytes()));
  await spool.dispose();
  await spool.dispose(); // twice is fine
  await assert.rejects(collect(spool.read()), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
});

test('spool above its memory bound: goes on in an unlinked temporary file, says so once, reads back the same bytes; nothing is left in the directory', async () => {
  const dir = await tempDir('spool');
  const ref = new MemorySink();
  await script(ref, 12_000_000);
  const spilled: { label: string; bytes: number; store: string }[] = [];
  const spool = nodeSpoolSink({ memoryBytes: 2 << 20, dir, label: 'the squashfs', onSpill: (i) => spilled.push(i) });
  await script(spool, 12_000_000);
  assert.deepEqual(await fsp.readdir(dir), [], 'the temporary file has no name while it is written');
  await spool.close();
  assert.equal(spool.where, 'file');
  assert.equal(spool.store, `an unlinked temporary file in ${dir}`);
  assert.equal(spilled.length, 1);
  assert.equal(spilled[0]!.label, 'the squashfs');
  assert.ok(spilled[0]!.bytes >= 1 << 20 && spilled[0]!.bytes < 12_000_000, `spilled at ${spilled[0]!.bytes} (the image's end then, zero runs included)`);
  assert.equal(spool.sizeBytes, 12_000_000);
  assert.equal(sha(await collect(spool.read())), sha(ref.bytes()));
  // copyTo a file sink: the same bytes, zero blocks as holes
  const out = path.join(dir, 'copy.img');
  const f = await fileSink(out);
  await spool.copyTo(f);
  await f.close();
  assert.equal(sha(await fsp.readFile(out)), sha(ref.bytes()));
  await spool.dispose();
  assert.deepEqual(await fsp.readdir(dir), ['copy.img']);
});

test('spool: zero runs take no memory and stay holes; a large sparse image spools in a small bound', async () => {
  const spool = spoolSink({ memoryBytes: 1 << 20 }); // no overflow: past the bound would be E_NO_SPACE
  await spool.write(pattern(1000, 1));
  await spool.writeZeros!(1 << 30);
  await spool.write(pattern(1000, 2));
  await spool.writeAt(10, pattern(5, 3));
  await spool.close();
  assert.equal(spool.sizeBytes, 2000 + (1 << 30));
  assert.equal(spool.where, 'memory');
  const zeros: number[] = [];
  let written = 0;
  let pos = 0;
  const sink: ByteSink = {
    get position() {
      return pos;
    },
    seekable: false,
    async write(c) {
      written += c.byteLength;
      pos += c.byteLength;
    },
    async writeAt() {},
    async writeZeros(n) {
      zeros.push(n);
      pos += n;
    },
    async close() {},
  };
  await spool.copyTo(sink);
  assert.equal(pos, spool.sizeBytes);
  // Block 0 (data) and block 1024 (the last 2000 bytes) are written; the 1023 blocks between are zeros.
  assert.equal(written, (1 << 20) + 2000);
  assert.deepEqual([zeros.length, zeros.reduce((a, b) => a + b, 0)], [1023, 1023 * (1 << 20)]);
  const back = await collect(spool.read());
  assert.equal(back.byteLength, spool.sizeBytes);
  assert.deepEqual(back.subarray(0, 10), pattern(10, 1).subarray(0, 10));
  assert.deepEqual(back.subarray(10, 15), pattern(5, 3));
  assert.deepEqual(back.subarray(back.byteLength - 1000), pattern(1000, 2));
});

test('spool without an overflow store: past the memory bound is E_NO_SPACE saying how to get one', async () => {
  const spool = spoolSink({ memoryBytes: 1 << 20, label: 'the initramfs' });
  await spool.write(new Uint8Array(1 << 20).fill(1));
  await assert.rejects(spool.write(new Uint8Array(1)), (e: unknown) => e instanceof NoSpaceError && /the initramfs is larger than the 1048576 bytes/.test(e.message) && /nodeSpoolSink/.test(e.message));
  await spool.abort!();
});

test('spool on a full temporary disk: E_NO_SPACE naming the directory, and nothing is left behind', async () => {
  const d = await tempDir('spool-enospc');
  const mnt = path.join(d, 'mnt');
  await fsp.mkdir(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.equal(m.status, 0, `mount -t tmpfs failed (run as root): ${m.stderr}`);
  try {
    const spool = nodeSpoolSink({ memoryBytes: 256 << 10, dir: mnt });
    let err: unknown;
    try {
      for (let i = 0; i < 16; i++) await spool.write(pattern(256 << 10, i));
      await spool.close();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof NoSpaceError, `expected NoSpaceError, got ${String(err)}`);
    assert.equal(err.code, 'E_NO_SPACE');
    assert.equal(err.path, mnt);
    assert.match(err.message, /TMPDIR/);
    assert.deepEqual(await fsp.readdir(mnt), [], 'no file left, even before dispose');
    await spool.abort!();
    const df = spawnSync('df', ['--output=used', '-B1', mnt], { encoding: 'utf8' });
    assert.equal(Number(df.stdout.split('\n')[1]), 0, 'the space is returned once the spool is disposed');
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('openTempFileStore: an unwritable directory is a typed error naming it', async () => {
  await assert.rejects(openTempFileStore({ dir: '/proc/no-such-dir' }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_OUTPUT_UNWRITABLE' && e.path === '/proc/no-such-dir');
});

/** A plan whose writer writes `bytes` (optionally patching its first byte, as squashfs does). */
function fakePlan(bytes: Uint8Array, o: { known: boolean; patches?: boolean; chunk?: number }): ImagePlan<number> & { writes: number } {
  const plan = {
    writes: 0,
    sizeBytes: o.known ? bytes.byteLength : undefined,
    minSizeBytes: 0,
    needsSeekableSink: o.patches === true,
    codecs: [],
    async write(sink: ByteSink) {
      plan.writes++;
      const start = sink.position;
      const step = o.chunk ?? 65536;
      const buf = new Uint8Array(step); // reused, as writers do
      for (let at = 0; at < bytes.byteLength; at += step) {
        const n = Math.min(step, bytes.byteLength - at);
        buf.set(bytes.subarray(at, at + n));
        await sink.write(buf.subarray(0, n));
      }
      if (o.patches) await sink.writeAt(start, bytes.subarray(0, 1));
      return sink.position - start;
    },
  };
  return plan;
}

test('imageContent: a plan with an exact size that writes front to back is streamed (no spool, no copy of the image); others are spooled', async () => {
  const bytes = pattern(5_000_000, 7);
  const streamed = fakePlan(bytes, { known: true });
  const c1 = await imageContent(streamed, { label: 'the ESP' });
  assert.deepEqual([c1.how, c1.size, streamed.writes], ['stream', bytes.byteLength, 0], 'nothing written before it is read');
  assert.equal(sha(await collect(c1.read())), sha(bytes));
  assert.equal(sha(await collect(c1.read())), sha(bytes), 'each read() writes it again');
  assert.equal(streamed.writes, 2);

  const compressed = fakePlan(bytes, { known: false });
  const c2 = await imageContent(compressed, { label: 'the initramfs' });
  assert.deepEqual([c2.how, c2.size, compressed.writes], ['memory', bytes.byteLength, 1]);
  assert.equal(sha(await collect(c2.read())), sha(bytes));
  await c2.dispose();

  const dir = await tempDir('content');
  let spool: Spool | undefined;
  const patched = fakePlan(bytes, { known: true, patches: true });
  const c3 = await imageContent(patched, { spool: () => (spool = nodeSpoolSink({ memoryBytes: 1 << 20, dir })) });
  assert.equal(c3.how, 'file', 'a plan that patches is spooled even with a known size');
  assert.equal(sha(await collect(c3.read())), sha(bytes));
  assert.equal(spool!.where, 'file');
  await c3.dispose();
  assert.deepEqual(await fsp.readdir(dir), []);
});

test('streamImage: a consumer that stops early ends the writer; a writer error reaches the consumer; a wrong length is E_SOURCE_CHANGED', async () => {
  const bytes = pattern(1_000_000, 8);
  const plan = fakePlan(bytes, { known: true, chunk: 1000 });
  let n = 0;
  for await (const _ of streamImage(plan)) if (++n === 3) break; // the container failed
  assert.equal(n, 3);

  const failing: ImagePlan = {
    sizeBytes: 10,
    minSizeBytes: 10,
    needsSeekableSink: false,
    codecs: [],
    async write(sink) {
      await sink.write(new Uint8Array(4));
      throw new ImgkitError('E_SOURCE_UNREADABLE', { format: 'test', path: 'f', detail: 'gone' });
    },
  };
  await assert.rejects(collect(streamImage(failing)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_UNREADABLE' && e.path === 'f');

  const short = fakePlan(bytes, { known: true });
  const lying: ImagePlan = { ...short, sizeBytes: bytes.byteLength + 1 };
  await assert.rejects(collect(streamImage(lying, { label: 'the ESP' })), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_CHANGED' && /the ESP was planned as 1000001 bytes/.test(e.message));

  assert.throws(() => streamImage(fakePlan(bytes, { known: true, patches: true })), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
});

test('imageContent is what a memoryTree file takes as content and size', async () => {
  const inner = fakePlan(pattern(300_000, 9), { known: true, chunk: 4096 });
  const c = await imageContent(inner);
  const tree = memoryTree([{ path: 'boot/esp.img', kind: 'file', size: c.size, content: () => c.read() }]);
  for await (const e of tree.walk()) {
    if (e.path !== 'boot/esp.img') continue;
    assert.equal(e.size, 300_000);
    assert.equal(sha(await collect(e.read())), sha(pattern(300_000, 9)));
  }
});
