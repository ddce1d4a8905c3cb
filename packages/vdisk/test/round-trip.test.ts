/**
 * Every writer against imgkit's own readers, in memory (no reference tool: test/vdisk.test.ts has
 * those): each format and subformat, seekable and streamed outputs, reads back the same disk.
 * Streamed (non-seekable) outputs of the table-first layouts are byte-identical to the seekable
 * ones where the allocation is exact (VMDK streamOptimized, dynamic VHD and VHDX).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, MemorySink, memoryReader, type ByteSink } from '@imgkit/core';
import { checkExitCode, checkImage, memorySource, openImage, pipeSource, writeImage, type ImageOptions } from '@imgkit/vdisk';
import { xorshiftBytes } from '../../../test/lib/xorshift.ts';

/** A sparse 40 MiB disk: random data, text, a lone byte, zeros. */
function disk(): Uint8Array {
  const d = new Uint8Array(40 << 20);
  d.set(xorshiftBytes(3 << 20, 1, false), 1 << 20);
  d.set(new TextEncoder().encode('imgkit '.repeat(20000)), 17 << 20);
  d[(33 << 20) + 12345] = 0xaa;
  d.set(xorshiftBytes(4096, 2, false), (40 << 20) - 4096);
  return d;
}

/** A non-seekable view of a MemorySink (what a pipe is to the writers). */
function pipe(m: MemorySink): ByteSink {
  return {
    seekable: false,
    get position() {
      return m.position;
    },
    write: (c) => m.write(c),
    writeAt: async () => {
      throw new Error('a pipe cannot seek');
    },
    close: async () => {},
  };
}

const cases: { name: string; o: ImageOptions; pipe: 'same' | 'refused' | 'differs' }[] = [
  { name: 'raw', o: { format: 'raw' }, pipe: 'same' },
  { name: 'qcow2', o: { format: 'qcow2' }, pipe: 'differs' },
  { name: 'qcow2 zlib', o: { format: 'qcow2', qcow2: { compress: true } }, pipe: 'refused' },
  { name: 'qcow2 zstd 512 B', o: { format: 'qcow2', qcow2: { compress: true, compressionType: 'zstd', clusterSize: 512 } }, pipe: 'refused' },
  { name: 'qcow2 v2 2 MiB', o: { format: 'qcow2', qcow2: { compat: '0.10', clusterSize: 2 << 20 } }, pipe: 'differs' },
  { name: 'vmdk streamOptimized', o: { format: 'vmdk' }, pipe: 'same' },
  { name: 'vmdk monolithicSparse', o: { format: 'vmdk', vmdk: { subformat: 'monolithicSparse' } }, pipe: 'same' },
  { name: 'vhd dynamic', o: { format: 'vhd' }, pipe: 'same' },
  { name: 'vhd fixed mib', o: { format: 'vhd', vhd: { subformat: 'fixed', sizeAlign: 'mib' } }, pipe: 'same' },
  { name: 'vhdx dynamic 1 MiB', o: { format: 'vhdx', vhdx: { blockSize: 1 << 20 } }, pipe: 'same' },
  { name: 'vhdx fixed', o: { format: 'vhdx', vhdx: { subformat: 'fixed' } }, pipe: 'same' },
];

for (const c of cases) {
  test(`${c.name}: written, checked and read back by imgkit`, async () => {
    const d = disk();
    const m = new MemorySink();
    await writeImage(memorySource(d), m, { ...c.o, epoch: 1_700_000_000 });
    const img = m.bytes().slice();
    if (c.o.format !== 'raw') assert.equal(checkExitCode(await checkImage(memoryReader(img))), 0);
    const src = await openImage(memoryReader(img));
    assert.ok(src.virtualSize >= d.byteLength);
    const back = new MemorySink();
    await pipeSource(src, back);
    assert.ok(Buffer.from(back.bytes().subarray(0, d.byteLength)).equals(Buffer.from(d)), 'content');
    assert.ok(back.bytes().subarray(d.byteLength).every((b) => b === 0), 'padding is zeros');

    const p = new MemorySink();
    const run = writeImage(memorySource(d), pipe(p), { ...c.o, epoch: 1_700_000_000 });
    if (c.pipe === 'refused') {
      await assert.rejects(run, (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
      return;
    }
    await run;
    if (c.pipe === 'same') assert.ok(Buffer.from(p.bytes()).equals(Buffer.from(img)), 'stream output = file output');
    else {
      const again = new MemorySink();
      await pipeSource(await openImage(memoryReader(p.bytes().slice())), again);
      assert.ok(Buffer.from(again.bytes().subarray(0, d.byteLength)).equals(Buffer.from(d)), 'streamed layout reads back');
      assert.equal(checkExitCode(await checkImage(memoryReader(p.bytes().slice()))), 0);
    }
  });
}
