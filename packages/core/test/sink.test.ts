import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { ImgkitError, MemorySink, NoSpaceError, WebStreamSink, expectSinkSize, subSink, withSink } from '@imgkit/core';
import { createExclusive, fileSink, inspectOutput, stdoutSink } from '@imgkit/core/node';
import { withLoopDevice } from '../../../test/lib/loop.ts';
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
  assert.equal(sink.kind, 'file');
  assert.match(sink.tempPath!, /^.*\/\.image\.img\.imgkit-[0-9a-f]{16}\.tmp$/);
  assert.equal(path.dirname(sink.tempPath!), d);
  await sink.write(new TextEncoder().encode('hello '));
  await sink.write(new TextEncoder().encode('world'));
  assert.equal(sink.position, 11);
  assert.equal(await exists(out), false);
  assert.equal(await exists(sink.tempPath!), true);
  await sink.close();
  assert.equal(await fsp.readFile(out, 'utf8'), 'hello world');
  assert.deepEqual(await fsp.readdir(d), ['image.img']);
  await assert.rejects(sink.write(new Uint8Array(1)), { code: 'E_SINK_UNSUPPORTED' });
});

test('file sink: a patch outside the bytes written is an ImgkitError naming sink.writeAt, and changes nothing', async () => {
  const d = await tempDir('sink');
  const out = path.join(d, 'patch.img');
  const sink = await fileSink(out);
  await sink.write(new Uint8Array(100).fill(1));
  for (const at of [-1, 99, 200]) {
    await assert.rejects(sink.writeAt(at, new Uint8Array(2)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED' && e.field === 'sink.writeAt' && /outside the 100 bytes written/.test(e.message), `writeAt ${at}`);
  }
  await sink.writeAt(98, new Uint8Array(2).fill(9));
  await sink.close();
  assert.deepEqual([...(await fsp.readFile(out))], [...new Array(98).fill(1), 9, 9]);
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
  await assert.rejects(sink.writeAt(ref.position - 1, new Uint8Array(2)), (e: unknown) => e instanceof ImgkitError && e.field === 'sink.writeAt');
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

test('file sink: the temporary name is unpredictable and created exclusively, never through a planted link', async () => {
  const d = await tempDir('planted');
  const victim = path.join(d, 'victim');
  await fsp.writeFile(victim, 'precious\n');
  const out = path.join(d, 'image.img');
  // The name imgkit used to pick (pid-based), planted as a symlink to the victim.
  await fsp.symlink(victim, path.join(d, `.image.img.imgkit-${process.pid}.tmp`));
  const a = await fileSink(out);
  const b = await fileSink(path.join(d, 'other.img'));
  assert.notEqual(path.basename(a.tempPath!).slice(-20), path.basename(b.tempPath!).slice(-20), 'random suffixes differ');
  await a.write(new TextEncoder().encode('image bytes'));
  await a.close();
  await b.abort!();
  assert.equal(await fsp.readFile(victim, 'utf8'), 'precious\n');
  assert.equal(await fsp.readFile(out, 'utf8'), 'image bytes');
  // The open itself: an existing name (file or symlink, even dangling) is EEXIST, nothing is followed.
  await assert.rejects(createExclusive(victim, 0o644), { code: 'EEXIST' });
  await fsp.symlink(victim, path.join(d, 'link'));
  await assert.rejects(createExclusive(path.join(d, 'link'), 0o644), { code: 'EEXIST' });
  await fsp.symlink(path.join(d, 'nowhere'), path.join(d, 'dangling'));
  await assert.rejects(createExclusive(path.join(d, 'dangling'), 0o644), { code: 'EEXIST' });
  assert.equal(await exists(path.join(d, 'nowhere')), false);
  assert.equal(await fsp.readFile(victim, 'utf8'), 'precious\n');
});

test('file sink: a replaced file keeps its mode; a very long name still gets a temporary name', async () => {
  const d = await tempDir('keep-mode');
  const out = path.join(d, 'x.img');
  await fsp.writeFile(out, 'old');
  await fsp.chmod(out, 0o640);
  await withSink(await fileSink(out), (s) => s.write(new Uint8Array([1, 2, 3])));
  assert.equal((await fsp.stat(out)).mode & 0o777, 0o640);
  assert.deepEqual([...(await fsp.readFile(out))], [1, 2, 3]);
  const long = path.join(d, `${'n'.repeat(255)}`);
  await withSink(await fileSink(long), (s) => s.write(new Uint8Array([9])));
  assert.deepEqual([...(await fsp.readFile(long))], [9]);
  assert.deepEqual((await fsp.readdir(d)).sort(), [path.basename(long), 'x.img'].sort());
});

test('withSink: a failing close aborts the sink, so no temporary file is left', async () => {
  const d = await tempDir('close-fails');
  const sub = path.join(d, 'sub');
  await fsp.mkdir(sub);
  const sink = await fileSink(path.join(sub, 'x.img'));
  // The target becomes a non-empty directory: the rename in close() fails.
  await fsp.mkdir(path.join(sub, 'x.img'));
  await fsp.writeFile(path.join(sub, 'x.img', 'keep'), '');
  await assert.rejects(withSink(sink, (s) => s.write(new Uint8Array(10))), { code: 'E_OUTPUT_UNWRITABLE' });
  assert.deepEqual(await fsp.readdir(sub), ['x.img']);
});

test('inspectOutput: symlinks are followed (chains, dangling, relative); directories, sockets, missing directories and loops are refused', async () => {
  const d = await tempDir('inspect');
  await fsp.writeFile(path.join(d, 'real.img'), 'x');
  await fsp.mkdir(path.join(d, 'sub'));
  await fsp.symlink('../real.img', path.join(d, 'sub', 'rel'));
  await fsp.symlink(path.join(d, 'sub', 'rel'), path.join(d, 'chain'));
  const chain = inspectOutput(path.join(d, 'chain'));
  assert.equal(chain.target, path.join(await fsp.realpath(d), 'real.img'));
  assert.deepEqual([chain.kind, chain.exists, chain.viaSymlink], ['file', true, true]);
  await fsp.symlink('new.img', path.join(d, 'dangling'));
  const dangling = inspectOutput(path.join(d, 'dangling'));
  assert.deepEqual([dangling.target, dangling.exists], [path.join(await fsp.realpath(d), 'new.img'), false]);
  const refused = (p: string, re: RegExp, errPath = p) => {
    assert.throws(
      () => inspectOutput(p),
      (e: unknown) => {
        const err = e as { code?: string; path?: string; message: string };
        assert.equal(err.code, 'E_OUTPUT_UNWRITABLE', err.message);
        assert.equal(err.path, errPath, err.message);
        assert.match(err.message, re);
        return true;
      },
    );
  };
  refused(d, /is a directory.*give a file name/);
  await fsp.symlink(d, path.join(d, 'to-dir'));
  refused(path.join(d, 'to-dir'), /is a directory/);
  refused(path.join(d, 'no', 'such', 'x.img'), /output directory does not exist.*mkdir -p/, path.join(d, 'no', 'such'));
  await fsp.symlink(path.join(d, 'gone', 'x.img'), path.join(d, 'to-missing-dir'));
  assert.throws(() => inspectOutput(path.join(d, 'to-missing-dir')), /gone \(where the symlink .* points\): the output directory does not exist/);
  await fsp.symlink('loop-b', path.join(d, 'loop-a'));
  await fsp.symlink('loop-a', path.join(d, 'loop-b'));
  refused(path.join(d, 'loop-a'), /symbolic links/);
  refused(path.join(d, 'real.img', 'x'), /not a directory/);
  const sock = path.join(d, 'sock');
  const net = await import('node:net');
  const server = net.createServer().listen(sock);
  await new Promise((r) => server.once('listening', r));
  try {
    refused(sock, /is a socket/);
  } finally {
    server.close();
  }
  assert.equal(inspectOutput('/dev/null').kind, 'char'); // only looks
});

test('file sink on a block device: in place, zeros really written, size found first, E_NO_SPACE past the end', async () => {
  await withLoopDevice(1 << 20, 0xa5, async (dev, backing) => {
    const sink = await fileSink(dev);
    assert.deepEqual([sink.kind, sink.capacityBytes, sink.tempPath, sink.seekable], ['block', 1 << 20, undefined, true]);
    await expectSinkSize(sink, 1 << 20); // fits exactly
    await sink.write(pattern(1000, 7));
    await sink.writeZeros!(200_000); // not a hole: the device holds 0xa5 there
    await sink.writeAt(10, new Uint8Array([1, 2, 3]));
    await sink.close();
    const b = await fsp.readFile(dev);
    const want = pattern(1000, 7);
    want.set([1, 2, 3], 10);
    assert.deepEqual(b.subarray(0, 1000), Buffer.from(want));
    assert.ok(b.subarray(1000, 201_000).every((x) => x === 0), 'zeros written');
    assert.ok(b.subarray(201_000).every((x) => x === 0xa5), 'the rest is untouched');
    assert.ok((await fsp.stat(dev)).isBlockDevice(), 'still a block device');
    assert.equal((await fsp.stat(backing)).size, 1 << 20);

    // Too big, known up front: refused before the first byte.
    const early = await fileSink(dev);
    await assert.rejects(expectSinkSize(early, (1 << 20) + 1), (e: unknown) => e instanceof NoSpaceError && e.path === dev);
    assert.equal(early.bytesWritten, 0);
    await early.abort!();
    // Too big, found while writing: E_NO_SPACE at the end, what was written stays (no removal).
    const late = await fileSink(dev, { bufferBytes: 4096 });
    let err: unknown;
    try {
      for (let i = 0; i < 300; i++) await late.write(pattern(4000, i));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof NoSpaceError, String(err));
    assert.ok(late.bytesWritten > 0 && late.bytesWritten <= 1 << 20);
    await late.abort!();
    assert.ok((await fsp.stat(dev)).isBlockDevice());
    assert.deepEqual((await fsp.readFile(dev)).subarray(0, 4000), Buffer.from(pattern(4000, 0)));
    // A window (partition) of the device forwards the size check, with its own limit first.
    const whole = await fileSink(dev);
    await assert.rejects(expectSinkSize(subSink(whole, 4096, 8192), 8193), NoSpaceError);
    await assert.rejects(expectSinkSize(subSink(whole, 1 << 19, 1 << 20), 1 << 19 | 1), NoSpaceError);
    await expectSinkSize(subSink(whole, 4096, 8192), 8192);
    await whole.abort!();
  });
});

test('file sink on a FIFO: written in place, in order; seeking refused; on /dev/null: seekable, nothing replaced', async () => {
  const d = await tempDir('fifo');
  const fifo = path.join(d, 'pipe');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const reader = spawn('sha256sum', [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const opened = fsp.open(fifo, 'r');
  const sink = await fileSink(fifo);
  const rfh = await opened;
  const pump = (async () => {
    for await (const c of rfh.createReadStream()) reader.stdin.write(c);
    reader.stdin.end();
  })();
  assert.deepEqual([sink.kind, sink.seekable, sink.tempPath], ['fifo', false, undefined]);
  const h = createHash('sha256');
  for (let i = 0; i < 40; i++) {
    const c = pattern(100_000, i);
    h.update(c);
    await sink.write(c);
  }
  await sink.writeZeros!(3_000_000);
  h.update(new Uint8Array(3_000_000));
  await assert.rejects(sink.writeAt(0, new Uint8Array(1)), { code: 'E_SINK_UNSUPPORTED' });
  await sink.close();
  await pump;
  let out = '';
  for await (const c of reader.stdout) out += String(c);
  assert.equal(out.split(' ')[0], h.digest('hex'));
  assert.ok((await fsp.lstat(fifo)).isFIFO(), 'still a FIFO');

  const nulPath = path.join(d, 'null'); // the same device as /dev/null, which a regression must not replace
  assert.equal(spawnSync('mknod', ['-m', '666', nulPath, 'c', '1', '3']).status, 0);
  const before = await fsp.stat(nulPath);
  const nul = await fileSink(nulPath);
  assert.deepEqual([nul.kind, nul.seekable], ['char', true]);
  await nul.write(pattern(5000, 1));
  await nul.writeAt(100, new Uint8Array(10));
  await nul.close();
  const after = await fsp.stat(nulPath);
  assert.ok(after.isCharacterDevice());
  assert.deepEqual([after.ino, after.rdev], [before.ino, before.rdev]);
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

// ---- subSink: a window of another sink (a partition of a disk) ----

test('subSink: the gap before the window is zeros, writes land at the offset, position and bytesUsed are the window\'s, finish pads to its end', async () => {
  const parent = new MemorySink();
  await parent.write(pattern(100, 9)); // something before, not touching the window
  const w = subSink(parent, 4096, 8192, 'partition 1 ("esp")');
  assert.deepEqual([w.offset, w.length, w.position, w.bytesUsed, parent.position], [4096, 8192, 0, 0, 100]);
  await w.write(pattern(1000, 1));
  assert.deepEqual([w.position, w.bytesUsed, parent.position], [1000, 1000, 5096]);
  await w.writeZeros!(24);
  await w.write(pattern(10, 2));
  await w.writeAt(1, new Uint8Array([0xee])); // a patch: relative to the window
  assert.deepEqual([w.position, w.bytesUsed], [1034, 1034]);
  assert.equal(await w.finish(), 1034, 'finish resolves with the bytes used');
  assert.deepEqual([w.position, w.bytesUsed, parent.position], [8192, 1034, 4096 + 8192]);
  assert.equal(await w.finish(), 1034, 'idempotent');
  const b = parent.bytes();
  assert.ok(b.subarray(100, 4096).every((x) => x === 0), 'the gap is zeros');
  const want = new Uint8Array(8192);
  want.set(pattern(1000, 1), 0);
  want.set(pattern(10, 2), 1024);
  want[1] = 0xee;
  assert.deepEqual(b.subarray(4096), want);
  await assert.rejects(w.write(new Uint8Array(1)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
});

test('subSink: a write past the end is E_NO_SPACE naming the window (label, field, hint given by the caller); nothing of it is written', async () => {
  const parent = new MemorySink();
  const w = subSink(parent, 512, 4096, { label: 'partition 2 ("system-a")', format: 'disk', field: 'partitions[1].size', hint: 'raise its size in the layout' });
  await w.write(new Uint8Array(4000));
  await assert.rejects(w.write(new Uint8Array(97)), (e: unknown) => {
    assert.ok(e instanceof NoSpaceError, String(e));
    assert.equal(e.code, 'E_NO_SPACE');
    assert.equal(e.format, 'disk');
    assert.equal(e.field, 'partitions[1].size');
    assert.match(e.message, /partition 2 \("system-a"\) of 4096 bytes is full \(needs 4097\).*raise its size in the layout/);
    return true;
  });
  assert.equal(parent.position, 512 + 4000, 'the refused write left the parent alone');
  await assert.rejects(w.writeZeros!(97), NoSpaceError);
  await assert.rejects(expectSinkSize(w, 4097), NoSpaceError);
  await w.write(new Uint8Array(96)); // exactly to the end is fine
  assert.equal(w.bytesUsed, 4096);
  // The default label is "partition".
  await assert.rejects(subSink(new MemorySink(), 0, 1).write(new Uint8Array(2)), /partition of 1 bytes is full \(needs 2\)/);
});

test('subSink: a parent already past the window\'s start is patched when it can seek, refused with a typed error when it cannot', async () => {
  // Seekable: a window over bytes already written (a partition of a disk written before).
  const disk = new MemorySink();
  await disk.write(new Uint8Array(6000).fill(0x11));
  const w = subSink(disk, 4096, 4096);
  await w.write(pattern(3000, 3)); // 1904 bytes patched, 1096 appended
  assert.deepEqual([disk.position, w.position], [7096, 3000]);
  await w.finish();
  const b = disk.bytes();
  assert.equal(b.byteLength, 8192);
  assert.ok(b.subarray(0, 4096).every((x) => x === 0x11), 'bytes before the window untouched');
  assert.deepEqual(b.subarray(4096, 7096), pattern(3000, 3));
  assert.ok(b.subarray(7096).every((x) => x === 0), 'finish zeroed the old bytes after the content too');

  // Not seekable: refused at once when the window is made, as an ImgkitError (not a RangeError).
  const stream = new WebStreamSink(new WritableStream<Uint8Array>({ write() {} }));
  await stream.write(new Uint8Array(100));
  assert.throws(() => subSink(stream, 50, 100, 'partition 1'), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED' && /partition 1 starts at byte 50.*already at byte 100/.test(e.message));
  // … and at the write, when the parent moved past the window after it was made.
  const late = subSink(stream, 200, 100, 'partition 2');
  await stream.write(new Uint8Array(150));
  await assert.rejects(late.write(new Uint8Array(1)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED' && /partition 2/.test(e.message));
});

test('subSink on a sequential sink: the gap and the padding are written as zeros, in order', async () => {
  const chunks: Uint8Array[] = [];
  const stream = new WebStreamSink(new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c) }));
  const w = subSink(stream, 3000, 2000);
  await w.write(pattern(500, 4));
  await w.finish();
  await stream.close();
  const all = Buffer.concat(chunks);
  assert.equal(all.byteLength, 5000);
  assert.ok(all.subarray(0, 3000).every((x) => x === 0));
  assert.deepEqual(new Uint8Array(all.subarray(3000, 3500)), pattern(500, 4));
  assert.ok(all.subarray(3500).every((x) => x === 0));
});

test('subSink in a file sink: the gap before a window and the rest of it after finish() are holes', async () => {
  const d = await tempDir('subsink');
  const out = path.join(d, 'disk.img');
  const disk = await fileSink(out);
  const w = subSink(disk, 256 << 20, 64 << 20, 'partition 1');
  await w.write(pattern(4096, 5));
  await w.finish();
  assert.equal(disk.position, 320 << 20);
  await disk.close();
  const st = await fsp.stat(out);
  assert.equal(st.size, 320 << 20);
  assert.ok(st.blocks * 512 < 2 << 20, `allocated ${st.blocks * 512} bytes`);
  const fh = await fsp.open(out, 'r');
  try {
    const b = Buffer.alloc(4096);
    await fh.read(b, 0, 4096, 256 << 20);
    assert.deepEqual(new Uint8Array(b), pattern(4096, 5));
  } finally {
    await fh.close();
  }
});
