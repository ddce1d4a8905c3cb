/**
 * A partitioned disk written straight into each VM format through a container sink, with no raw
 * disk file: @imgkit/partition's writer streams the GPT, the partitions' contents and the zeros
 * between them into qcow2Sink, vmdkSink, vhdSink, vhdxSink and ovaSink (file sinks), and, given the
 * composer's allocation map (the table regions and the partitions' contents), into table-first
 * layouts on a pipe. The same disk written raw (for the comparison only) must be what qemu-img
 * reads from each image, and sgdisk must accept the table qemu-img converts back.
 */
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { Writable } from 'node:stream';
import { withSink, type ByteSink } from '@imgkit/core';
import { fileSink, stdoutSink } from '@imgkit/core/node';
import { planDisk, type DiskPlan } from '@imgkit/partition';
import { containerSink, type ByteRange, type ImageOptions } from '@imgkit/vdisk';
import { requireTool, run, tempDir } from './lib/tools.ts';
import { qemuImg } from './lib/vdisk.ts';
import { xorshiftBytes } from './lib/xorshift.ts';

let dir = '';
let plan: DiskPlan;
let raw = '';
const contents = [xorshiftBytes(5 << 20, 1, true), xorshiftBytes(300_000, 2, false), new TextEncoder().encode('root filesystem goes here\n'.repeat(10_000))];
const write = (sink: ByteSink) => plan.write(sink, { contents: contents.map((c) => async (s: ByteSink) => s.write(c)) });

/** What the composer knows it writes: the table regions and each partition's content. */
function allocation(): ByteRange[] {
  const r: ByteRange[] = plan.layout.regions.map((x) => ({ offset: x.offset, length: x.bytes.byteLength }));
  plan.layout.partitions.forEach((p, i) => r.push({ offset: p.offset, length: contents[i]!.byteLength }));
  return r.sort((a, b) => a.offset - b.offset);
}

before(async () => {
  dir = await tempDir('vdisk-composer');
  plan = planDisk({
    table: 'gpt',
    sizeBytes: '1G',
    epoch: 1_700_000_000,
    label: 'vdisk-composer',
    partitions: [
      { name: 'esp', type: 'esp', size: '64M' },
      { name: 'root-a', type: 'root-x86-64', size: '400M' },
      { name: 'root-b', type: 'root-x86-64', size: 'fill' },
    ],
  });
  raw = join(dir, 'reference.raw');
  await withSink(await fileSink(raw), write);
});

const formats: [ImageOptions, string, string][] = [
  [{ format: 'qcow2' }, 'qcow2', 'd.qcow2'],
  [{ format: 'qcow2', qcow2: { compress: true, compressionType: 'zstd' } }, 'qcow2', 'dz.qcow2'],
  [{ format: 'vmdk' }, 'vmdk', 'd.vmdk'],
  [{ format: 'vhd' }, 'vpc', 'd.vhd'],
  [{ format: 'vhd', vhd: { subformat: 'fixed' } }, 'vpc', 'f.vhd'],
  [{ format: 'vhdx' }, 'vhdx', 'd.vhdx'],
];

test('partition writer → container sink (file): each image reads as the disk, checked clean', async () => {
  for (const [o, qf, name] of formats) {
    const out = join(dir, name);
    await withSink(containerSink(await fileSink(out), plan.sizeBytes, { ...o, epoch: 1_700_000_000 }), write);
    if (qf !== 'vpc') {
      const c = await qemuImg(['check', '-f', qf, out]);
      assert.equal(c.code, 0, `${name}: ${c.stdout}`);
    }
    const cmp = await qemuImg(['compare', '-f', 'raw', '-F', qf, raw, out]);
    assert.equal(cmp.code, 0, `${name}: ${cmp.stdout}${cmp.stderr}`);
  }
  const back = join(dir, 'back.raw');
  await run(requireTool('qemu-img', 'qemu-utils'), ['convert', '-f', 'qcow2', '-O', 'raw', join(dir, 'dz.qcow2'), back]);
  const v = await run(requireTool('sgdisk', 'gdisk'), ['-v', back]);
  assert.match(v.stdout.toString(), /No problems found/);
});

test('partition writer → container sink on a pipe, with the allocation map: qcow2 table-first, dynamic VHD and VHDX, VMDK', async () => {
  for (const [o, qf, name] of [formats[0]!, formats[2]!, formats[3]!, formats[5]!]) {
    const out = join(dir, `piped-${name}`);
    const stream = createWriteStream(out);
    const sink = containerSink(stdoutSink(stream as unknown as Writable), plan.sizeBytes, { ...o, epoch: 1_700_000_000 }, allocation());
    assert.equal(sink.seekable, false);
    await write(sink);
    await sink.close();
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (qf !== 'vpc') assert.equal((await qemuImg(['check', '-f', qf, out])).code, 0, name);
    const cmp = await qemuImg(['compare', '-f', 'raw', '-F', qf, raw, out]);
    assert.equal(cmp.code, 0, `${name}: ${cmp.stdout}${cmp.stderr}`);
  }
});
