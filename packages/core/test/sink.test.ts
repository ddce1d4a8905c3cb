import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { ImgkitError, MemorySink, NoSpaceError, subSink, withSink } from '@imgkit/core';
import { fileSink, stdoutSink, tempNameFor } from '@imgkit/core/node';
import { tempDir } from '../../../test/lib/tools.ts';

const exists = (p: string) => fsp.access(p).then(() => true, () => false);
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

test('file sink writes a temporary name beside the target and renames it on close', async () => {
  const d = await tempDir('sink');
  const out = path.join(d, 'image.img');
  const sink = await fileSink(out);
  assert.equal(sink.tempPath, path.join(d, `.image.img.imgkit-${process.pid}.tmp`));
  assert.equal(tempNameFor(out), sink.tempPath);
  await sink.write(new TextEncoder().encode('hello '));
  await sink.write(new TextEncoder().encode('world'));
  assert.equal(sink.position, 11);
  assert.equal(await exists(out), false);
  assert.equal(await exists(sink.tempPath), true);
  await sink.close();
  assert.equal(await fsp.readFile(out, 'utf8'), 'hello world');
  assert.deepEqual(await fsp.readdir(d), ['image.img']);
  await assert.rejects(sink.write(new Uint8Array(1)), { code: 'E_SINK_UNSUPPORTED' });
});

test('file sink: abort (and withSink on failure) leaves no file behind', async () => {
  const d = await tempDir('abort');
  const sink = await fileSink(path.join(d, 'x.img'));
  await sink.write(new Uint8Array(3 << 20));
  await sink.abort!();
  assert.deepEqual(await fsp.readdir(d), []);
  await assert.rejects(
    withSink(await fileSink(path.join(d, 'y.img')), async (s) => {
      await s.write(new Uint8Array(10));
      throw new Error('writer failed');
    }),
    /writer failed/,
  );
  assert.deepEqual(await fsp.readdir(d), []);
});

test('file sink: mode option sets the permissions of the output', async () => {
  const d = await tempDir('mode');
  const sink = await fileSink(path.join(d, 'm.img'), { mode: 0o600, fsync: true });
  await sink.write(new Uint8Array(1));
  await sink.close();
  assert.equal((await fsp.stat(path.join(d, 'm.img'))).mode & 0o777, 0o600);
});

test('file sink: writeAt patches buffered and flushed bytes and holes; same bytes as a memory sink', async () => {
  const d = await tempDir('patch');
  const out = path.join(d, 'p.img');
  const sink = await fileSink(out, { bufferBytes: 4096 });
  const ref = new MemorySink();
  // A fixed pseudo-random script of writes, zero runs and patches that crosses the buffer edge often.
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return (x >>> 8) % n;
  };
  let patchedFlushed = 0;
  let patchedBuffered = 0;
  for (let step = 0; step < 400; step++) {
    const op = rnd(10);
    if (op < 5) {
      const chunk = pattern(rnd(step % 50 === 0 ? 10000 : 3000) + 1, step);
      await sink.write(chunk);
      await ref.write(chunk);
    } else if (op < 7) {
      const n = rnd(step % 40 === 0 ? 20000 : 2000) + 1;
      await sink.writeZeros!(n);
      await ref.write(new Uint8Array(n));
    } else if (ref.position > 0) {
      // Half the patches land near the end (usually still buffered), half anywhere.
      const at = op === 7 ? ref.position - 1 - rnd(Math.min(ref.position, 3000)) : rnd(ref.position);
      const len = Math.min(rnd(6000) + 1, ref.position - at);
      const chunk = pattern(len, step + 1000);
      if (at + len <= ref.position - 4096) patchedFlushed++;
      if (op === 7) patchedBuffered++;
      await sink.writeAt(at, chunk);
      await ref.writeAt(at, chunk);
    }
    assert.equal(sink.position, ref.position);
  }
  // One patch spanning flushed bytes and the buffer, one entirely in the buffer, one at offset 0.
  await sink.write(pattern(100, 1));
  await ref.write(pattern(100, 1));
  for (const [at, len] of [[ref.position - 5000, 4950], [ref.position - 50, 50], [0, 10]] as const) {
    await sink.writeAt(at, pattern(len, at));
    await ref.writeAt(at, pattern(len, at));
  }
  await sink.writeZeros!(100_000); // trailing hole: close() must extend the file
  await ref.write(new Uint8Array(100_000));
  await assert.rejects(sink.writeAt(ref.position - 1, new Uint8Array(2)), RangeError);
  await sink.close();
  assert.ok(patchedFlushed > 5 && patchedBuffered > 0, `${patchedFlushed} flushed, ${patchedBuffered} buffered patches`);
  const got = await fsp.readFile(out);
  assert.equal(got.byteLength, ref.position);
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(ref.bytes()).digest('hex'));
});

test('file sink: writeZeros leaves holes, so a 5 GiB sparse image costs almost no disk', async () => {
  const d = await tempDir('sparse');
  const out = path.join(d, 'sparse.img');
  const sink = await fileSink(out);
  await sink.write(new TextEncoder().encode('head'));
  await sink.writeZeros!(5 * 2 ** 30);
  await sink.write(new TextEncoder().encode('tail'));
  await sink.writeZeros!(3 * 2 ** 20);
  await sink.writeAt(2 ** 32 + 7, new TextEncoder().encode('mid')); // a patch inside the hole, past 4 GiB
  await sink.close();
  const st = await fsp.stat(out);
  assert.equal(st.size, 4 + 5 * 2 ** 30 + 4 + 3 * 2 ** 20);
  assert.ok(st.blocks * 512 < 1 << 20, `allocated ${st.blocks * 512} bytes`);
  const fh = await fsp.open(out, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 4 + 5 * 2 ** 30);
    assert.equal(b.toString(), 'tail');
    await fh.read(b, 0, 3, 2 ** 32 + 7);
    assert.equal(b.subarray(0, 3).toString(), 'mid');
    await fh.read(b, 0, 4, 2 ** 31);
    assert.deepEqual([...b], [0, 0, 0, 0]);
  } finally {
    await fh.close();
  }
});

test('file sink: a full disk is NoSpaceError naming the output, and abort removes the partial file', async () => {
  const d = await tempDir('enospc');
  const mnt = path.join(d, 'mnt');
  await fsp.mkdir(mnt);
  // A 1 MiB tmpfs (needs root / CAP_SYS_ADMIN, which this environment has).
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.equal(m.status, 0, `mount -t tmpfs failed (run as root): ${m.stderr}`);
  try {
    const out = path.join(mnt, 'full.img');
    const sink = await fileSink(out);
    let err: unknown;
    try {
      for (let i = 0; i < 8; i++) await sink.write(pattern(512 * 1024, i));
      await sink.close();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof NoSpaceError, `expected NoSpaceError, got ${String(err)}`);
    assert.equal((err as NoSpaceError).code, 'E_NO_SPACE');
    assert.equal((err as NoSpaceError).path, out);
    await sink.abort!();
    assert.deepEqual(await fsp.readdir(mnt), []);
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('stdout sink: backpressure is awaited, zeros are written, seeking is refused', async () => {
  const stream = new PassThrough({ highWaterMark: 1024 });
  const sink = stdoutSink(stream);
  const received: Buffer[] = [];
  let maxBuffered = 0;
  const writing = (async () => {
    for (let i = 0; i < 50; i++) {
      await sink.write(pattern(700, i));
      maxBuffered = Math.max(maxBuffered, stream.writableLength);
    }
    await sink.writeZeros!(5000);
    await sink.close();
    stream.end();
  })();
  // A slow reader: the writer must wait for it rather than queue everything.
  for await (const c of stream) {
    received.push(c as Buffer);
    await new Promise((r) => setImmediate(r));
  }
  await writing;
  assert.ok(maxBuffered <= 1024 + 700, `buffered ${maxBuffered}`);
  const all = Buffer.concat(received);
  assert.equal(all.byteLength, 50 * 700 + 5000);
  assert.equal(sink.position, all.byteLength);
  assert.ok(all.subarray(35000).every((b) => b === 0));
  assert.equal(sink.seekable, false);
  await assert.rejects(sink.writeAt(0, new Uint8Array(1)), { code: 'E_SINK_UNSUPPORTED' });
});

test('stdout sink: a child writing 5 MiB to its real stdout delivers every byte', async () => {
  const script = `
    const { stdoutSink } = await import('@imgkit/core/node');
    const sink = stdoutSink();
    const b = new Uint8Array(65536);
    for (let i = 0; i < 80; i++) { b.fill(i); await sink.write(b); }
    await sink.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: path.resolve(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const h = createHash('sha256');
  let n = 0;
  for await (const c of child.stdout) {
    h.update(c as Buffer);
    n += (c as Buffer).byteLength;
  }
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  const ref = createHash('sha256');
  for (let i = 0; i < 80; i++) ref.update(new Uint8Array(65536).fill(i));
  assert.equal(n, 80 * 65536);
  assert.equal(h.digest('hex'), ref.digest('hex'));
});

test('memory sink and subSink: patches outside the bytes written or the window are ImgkitErrors, and nothing is written', async () => {
  const mem = new MemorySink();
  await mem.write(new Uint8Array(100).fill(1));
  for (const at of [-1, 99, 200]) {
    await assert.rejects(mem.writeAt(at, new Uint8Array(2)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED' && e.field === 'sink.writeAt', `writeAt ${at}`);
  }
  // a window at 40…80 of the parent: a patch may neither start before it nor end after it
  const win = subSink(mem, 40, 40, 'partition 2');
  await assert.rejects(win.writeAt(-10, new Uint8Array(4)), (e: unknown) => e instanceof NoSpaceError && e.code === 'E_NO_SPACE' && /before the partition 2/.test(e.message));
  await assert.rejects(win.writeAt(38, new Uint8Array(4)), (e: unknown) => e instanceof NoSpaceError && e.code === 'E_NO_SPACE');
  assert.deepEqual([...mem.bytes()], new Array(100).fill(1), 'the parent is unchanged');
  await win.writeAt(0, new Uint8Array(40).fill(7));
  assert.deepEqual([...mem.bytes().subarray(38, 82)], [1, 1, ...new Array(40).fill(7), 1, 1]);
});
