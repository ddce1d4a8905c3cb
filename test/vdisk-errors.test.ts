/**
 * Bad input and impossible requests get typed errors (code, field) and leave no output behind:
 * truncated and non-raw inputs, unsupported cluster sizes, virtual sizes a format cannot address,
 * streams for formats that cannot stream, writes outside the virtual disk or the allocation map.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ImgkitError, MemorySink, memoryReader, type ByteSink } from '@imgkit/core';
import { nodeFileReader } from '@imgkit/core/node';
import { memorySource, openImage, ovaSink, pipeSource, qcow2Sink, rawSource, vhdSink, vhdxSink, vmdkSink, writeImage } from '@imgkit/vdisk';
import { runImgkit, tempDir } from './lib/tools.ts';
import { makeSparseDisk, writeDiskImage, type SparseDisk } from './lib/vdisk.ts';

let dir = '';
let disk: SparseDisk;
before(async () => {
  dir = await tempDir('vdisk-errors');
  disk = await makeSparseDisk(dir);
});

const code = (c: string, field?: string) => (e: unknown) => {
  assert.ok(e instanceof ImgkitError, `an ImgkitError, not ${String(e)}`);
  assert.equal(e.code, c, e.message);
  if (field !== undefined) assert.equal(e.field, field, e.message);
  return true;
};

function pipe(): ByteSink {
  const m = new MemorySink();
  return { seekable: false, get position() { return m.position; }, write: (c) => m.write(c), writeAt: () => m.writeAt(0, new Uint8Array(0)), close: async () => {} };
}

test('a truncated qcow2 input is E_BAD_INPUT; convert fails (exit 1) and leaves no output file', async () => {
  const img = join(dir, 'trunc.qcow2');
  await writeDiskImage(disk, img, { format: 'qcow2' });
  const b = await readFile(img);
  await writeFile(img, b.subarray(0, 200_000)); // the data survives partly, the tables at the end do not
  const reader = await nodeFileReader(img);
  await assert.rejects(openImage(reader), code('E_BAD_INPUT'));
  await reader.close();
  // a table-first image (written to a pipe) cut inside its data: the tables read, the data runs out half way
  const img2 = join(dir, 'trunc2.qcow2');
  const piped = await runImgkit(['convert', disk.path, '-', '-O', 'qcow2']);
  assert.equal(piped.code, 0, piped.stderr);
  await writeFile(img2, piped.stdout.subarray(0, Math.floor(piped.stdout.byteLength * 0.6)));
  const r2 = await nodeFileReader(img2);
  await openImage(r2); // opens: the tables come first
  await r2.close();
  const out = join(dir, 'out', 'x.raw');
  await mkdir(join(dir, 'out'));
  const r = await runImgkit(['convert', img2, out, '-O', 'raw']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /truncated|past the end/);
  assert.deepEqual(await readdir(join(dir, 'out')), [], 'no output and no temporary file');
});

test('a non-raw input given as raw is E_BAD_INPUT naming its format (forced raw reads it as bytes)', async () => {
  const img = join(dir, 'x.vmdk');
  await writeDiskImage(disk, img, { format: 'vmdk' });
  const reader = await nodeFileReader(img);
  try {
    await assert.rejects(rawSource(reader), (e: unknown) => code('E_BAD_INPUT')(e) && /vmdk image/.test((e as Error).message));
    const forced = await rawSource(reader, { force: true });
    assert.equal(forced.virtualSize, Math.ceil(reader.size / 512) * 512);
  } finally {
    await reader.close();
  }
});

test('unsupported cluster sizes are E_BAD_OPTION on cluster_size; the CLI exits 2', async () => {
  for (const clusterSize of [256, 1000, 4 << 20, 0]) {
    assert.throws(() => qcow2Sink(new MemorySink(), { virtualSize: 1 << 20, clusterSize }), code('E_BAD_OPTION', 'cluster_size'));
  }
  const r = await runImgkit(['convert', disk.path, join(dir, 'bad.qcow2'), '-O', 'qcow2', '-o', 'cluster_size=1000']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /cluster size 1000/);
  assert.equal(existsSync(join(dir, 'bad.qcow2')), false);
});

test('a virtual size qcow2 cannot address with the cluster size is refused, naming the smallest that works; raiseClusterSize takes it', async () => {
  const virtualSize = 129 * 2 ** 30; // 512-byte clusters reach 128 GiB with qemu's 32 MiB L1 limit
  assert.throws(
    () => qcow2Sink(new MemorySink(), { virtualSize, clusterSize: 512 }),
    (e: unknown) => code('E_BAD_OPTION', 'cluster_size')(e) && /at least 1024/.test((e as ImgkitError).hint ?? ''),
  );
  const m = new MemorySink();
  const s = qcow2Sink(m, { virtualSize, clusterSize: 512, raiseClusterSize: true });
  await s.write(new Uint8Array(4096).fill(1));
  await s.close();
  const src = await openImage(memoryReader(m.bytes().slice()));
  assert.equal(src.virtualSize, virtualSize);
  assert.equal((src as unknown as { header: { clusterSize: number } }).header.clusterSize, 1024);
});

test('formats that cannot stream refuse a pipe with E_SINK_UNSUPPORTED; the CLI says why (exit 2)', async () => {
  assert.throws(() => qcow2Sink(pipe(), { virtualSize: 1 << 20 }), code('E_SINK_UNSUPPORTED'));
  assert.throws(() => vhdSink(pipe(), { virtualSize: 1 << 20 }), code('E_SINK_UNSUPPORTED'));
  assert.throws(() => vhdxSink(pipe(), { virtualSize: 1 << 20 }), code('E_SINK_UNSUPPORTED'));
  assert.throws(() => vmdkSink(pipe(), { virtualSize: 1 << 20, subformat: 'monolithicSparse' }), code('E_SINK_UNSUPPORTED'));
  assert.throws(() => ovaSink(pipe(), { virtualSize: 1 << 20 }), code('E_SINK_UNSUPPORTED'));
  await assert.rejects(writeImage(memorySource(new Uint8Array(4096).fill(1)), pipe(), { format: 'qcow2', qcow2: { compress: true } }), code('E_SINK_UNSUPPORTED'));
  // ... and those that can, do: a stream-optimized VMDK, a fixed VHD, a table-first qcow2 with a map
  for (const s of [vmdkSink(pipe(), { virtualSize: 1 << 20 }), vhdSink(pipe(), { virtualSize: 1 << 20, subformat: 'fixed' }), qcow2Sink(pipe(), { virtualSize: 1 << 20, allocation: [{ offset: 0, length: 4096 }] })]) {
    await s.write(new Uint8Array(4096).fill(7));
    await s.close();
  }
  const r = await runImgkit(['convert', disk.path, '-', '-O', 'qcow2', '-c'], { input: '' });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cannot be written to standard output/);
  const o = await runImgkit(['convert', disk.path, '-', '-O', 'ova']);
  assert.equal(o.code, 2);
});

test('size limits: VMDK sectors and 2 TiB, VHD 2040 GiB, VHDX 64 TiB; writes past the disk are E_NO_SPACE', async () => {
  assert.throws(() => vmdkSink(new MemorySink(), { virtualSize: 1000 }), code('E_BAD_OPTION', 'virtualSize'));
  assert.throws(() => vmdkSink(new MemorySink(), { virtualSize: 2 ** 41 + 512 }), code('E_BAD_OPTION', 'virtualSize'));
  assert.throws(() => vhdSink(new MemorySink(), { virtualSize: 2041 * 2 ** 30 }), code('E_BAD_OPTION', 'virtualSize'));
  assert.throws(() => vhdxSink(new MemorySink(), { virtualSize: 65 * 2 ** 40 }), code('E_BAD_OPTION', 'virtualSize'));
  for (const s of [qcow2Sink(new MemorySink(), { virtualSize: 8192 }), vhdSink(new MemorySink(), { virtualSize: 8192, subformat: 'fixed' })]) {
    await s.write(new Uint8Array(8000));
    await assert.rejects(s.write(new Uint8Array(193)), code('E_NO_SPACE'));
  }
});

test('table-first layouts refuse data outside their allocation map (E_BAD_INPUT)', async () => {
  const s = qcow2Sink(pipe(), { virtualSize: 1 << 20, allocation: [{ offset: 0, length: 65536 }] });
  await s.write(new Uint8Array(65536).fill(1));
  await assert.rejects(s.write(new Uint8Array(65536).fill(2)), code('E_BAD_INPUT', 'allocation'));
  await assert.rejects(pipeSource(memorySource(new Uint8Array(3 << 20).fill(3)), vhdxSink(pipe(), { virtualSize: 4 << 20, blockSize: 1 << 20, allocation: [{ offset: 0, length: 1 }] })), code('E_BAD_INPUT', 'allocation'));
});
