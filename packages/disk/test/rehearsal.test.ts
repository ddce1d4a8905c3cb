/**
 * Outputs that cannot seek back: the rehearsal (a pass into a sink that stores nothing) and the
 * replay (every patched range sent in its final form when the stream reaches it). A sequential
 * sink gets the same bytes as a seekable one, for squashfs with and without a size, nested
 * layouts and raw images; `prepare()` gives the final size and the exact allocation map; a source
 * that changes between the passes is E_SOURCE_CHANGED; a squashfs held from the rehearsal within
 * the memory budget is not written again; and writeLayoutImage streams the disk into each vdisk
 * container, read back with vdisk's readers.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImgkitError, MemorySink, memoryReader, memoryTree, type ByteSink, type MemoryEntryInit } from '@imgkit/core';
import { HoldingTee, ReplaySink, RehearsalSink, memoryLayoutFiles, planLayout, planLayoutFile, writeLayoutImage, type DiskLayoutSpec } from '@imgkit/disk';
import { openImage, type ImageOptions } from '@imgkit/vdisk';
import { FAT_IGNORED, FSCK_PROBLEMS, fsckFat, fsckProblems, mcopyExtract } from '../../../test/lib/fat.ts';
import { requireTool, run, tempDir } from '../../../test/lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree } from '../../../test/lib/tree.ts';
import { xorshiftBytes } from '../../../test/lib/xorshift.ts';
import { Sequential } from './sequential.ts';

const T = 1_600_000_000;
const tree = (files: Record<string, string | Uint8Array>) => {
  const inits: MemoryEntryInit[] = [];
  for (const [p, c] of Object.entries(files)) inits.push({ path: p, kind: 'file', mode: 0o644, mtime: T, content: c });
  return memoryTree(inits, { mode: 0o755, mtime: T });
};
/** `n` bytes that do not compress. */
const noise = (n: number, seed = 2463534242) => xorshiftBytes(n, seed, false);

function files() {
  return memoryLayoutFiles({
    boot: tree({ 'EFI/BOOT/README.txt': 'hello\n', 'loader/loader.conf': 'default a\n' }),
    rootfs: tree({ 'etc/hostname': 'box\n', 'usr/lib/blob.bin': noise(256 << 10) }),
    'loader.bin': new Uint8Array(1500).fill(0x42),
    'sub/inner.yaml': 'table: mbr\npartitions:\n  - { type: fat16, size: 2M, content: { fat: ../boot } }\n',
    'sub/sq.yaml': 'table: gpt\nseed: sq\npartitions:\n  - { label: r, content: { squashfs: ../rootfs } }\n',
  });
}

const LAYOUT = `table: gpt
seed: unit
partitions:
  - { label: esp, type: esp, content: { fat: boot, label: ESP } }
  - { label: root, type: linux, content: { squashfs: rootfs } }
  - { label: inner, content: { layout: sub/inner.yaml } }
  - { label: sq, content: { layout: sub/sq.yaml } }
  - { label: sized, size: 8M, content: { squashfs: rootfs, compression: zstd } }
  - { label: spare, size: 1M }
raw:
  - { offset: 20K, image: loader.bin }
`;

test('a sequential sink gets the same disk as a seekable one: squashfs with and without a size, nested layouts, raw images; squashfs kept in memory within the budget', async () => {
  const seekable = new MemorySink();
  const r1 = await (await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T })).write(seekable);
  const squashfsBytes = r1.partitions[1]!.contentBytes;
  assert.equal(r1.partitions[4]!.contentBytes, squashfsBytes, 'the two squashfs partitions hold the same tree');
  // default budget: both kept; none; room for one (the second is dropped past the budget)
  for (const [budget, kept] of [[undefined, [1, 4]], [0, []], [squashfsBytes + 1000, [1]]] as [number | undefined, number[]][]) {
    const plan = await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T, ...(budget !== undefined ? { rehearsalMemoryBytes: budget } : {}) });
    assert.equal(plan.sizeBytes, undefined);
    const prepared = await plan.prepare();
    assert.equal(prepared.sizeBytes, r1.sizeBytes, 'the rehearsal measured the final size');
    assert.deepEqual(prepared.rehearsed, [1, 3, 4], 'the squashfs contents and the nested layout holding one');
    assert.deepEqual(prepared.kept, kept, `budget ${budget}`);
    assert.equal(prepared.allocation, undefined);
    const seq = new Sequential();
    const r2 = await plan.write(seq);
    assert.equal(seq.mem.bytes().length, r1.sizeBytes);
    assert.ok(Buffer.from(seq.mem.bytes()).equals(seekable.bytes()), `budget ${budget}: same bytes`);
    assert.deepEqual(r2.allocated, r1.allocated, 'same allocation map');
    assert.deepEqual(r2.layout.partitions.map((p) => p.offset), r1.layout.partitions.map((p) => p.offset));
  }
  // The bytes all of them share, judged by the reference tools and compared with the sources:
  // sgdisk on the table, fsck.fat + mcopy on the ESP, unsquashfs on both squashfs partitions.
  const dir = await tempDir('rehearsal-ref');
  const disk = join(dir, 'disk.img');
  await writeFile(disk, seekable.bytes());
  const v = await run(requireTool('sgdisk', 'gdisk'), ['-v', disk]);
  assert.match(v.stdout.toString(), /No problems found/, v.stdout.toString());
  const part = async (i: number) => {
    const p = r1.layout.partitions[i]!;
    const f = join(dir, `p${i + 1}.img`);
    await writeFile(f, seekable.bytes().subarray(p.offset, p.offset + p.sizeBytes));
    return f;
  };
  const esp = await part(0);
  assert.doesNotMatch(fsckProblems((await fsckFat(esp)).output), FSCK_PROBLEMS, 'fsck.fat on the ESP');
  await mcopyExtract(esp, join(dir, 'esp'));
  assertSameTree(await snapshotDir(join(dir, 'esp')), await snapshotTree(await files().tree('boot', {})), { ignore: [...FAT_IGNORED, 'dirMtime'] });
  for (const i of [1, 4]) {
    const out = join(dir, `sq${i}`);
    await run(requireTool('unsquashfs', 'squashfs-tools'), ['-q', '-n', '-d', out, await part(i)]);
    assertSameTree(await snapshotDir(out), await snapshotTree(await files().tree('rootfs', {})), { ignore: ['root', 'nlink', 'hardLinkGroup'] });
  }
});

test('prepare({ allocation: true }) gives the exact map write() then reports, before the first byte', async () => {
  const plan = await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T });
  await plan.prepare(); // a rehearsal of what patches first; the map asks for one of everything
  const prepared = await plan.prepare({ allocation: true });
  assert.deepEqual(prepared.rehearsed, [0, 1, 2, 3, 4], 'every content');
  assert.deepEqual(prepared.kept, [1, 4], 'the squashfs contents held from the full rehearsal');
  const seq = new Sequential();
  const r = await plan.write(seq);
  assert.deepEqual(prepared.allocation, r.allocated);
  const bytes = seq.mem.bytes();
  const seekable = new MemorySink();
  await (await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T })).write(seekable);
  assert.ok(Buffer.from(bytes).equals(seekable.bytes()), 'the same bytes as on a seekable output');
  // Every non-zero byte lies in the map, and the map is not the whole disk.
  let k = 0;
  const map = prepared.allocation!;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) continue;
    while (k < map.length && map[k]!.offset + map[k]!.length <= i) k++;
    assert.ok(k < map.length && map[k]!.offset <= i, `byte ${i} is not zero but outside the map`);
  }
  assert.ok(map.reduce((s, x) => s + x.length, 0) < bytes.length / 2);
  await assert.rejects(() => plan.prepare(), /writes once/);
});

test('a plan that patches nothing needs no rehearsal: prepare answers from the plan', async () => {
  const spec: DiskLayoutSpec = { table: 'mbr', seed: 's', partitions: [{ type: 'fat16', size: '4M', content: { kind: 'fat', source: 'boot' } }, { type: 'linux', size: '1M' }] };
  const plan = await planLayout(spec, { files: files(), epoch: T });
  const p = await plan.prepare();
  assert.deepEqual(p.rehearsed, []);
  assert.equal(p.sizeBytes, 6 << 20);
});

test('a squashfs kept from the rehearsal is read once; written again, a source that changed in between is E_SOURCE_CHANGED naming the partition', async () => {
  let reads = 0;
  const changing = memoryTree(
    [
      {
        path: 'f',
        kind: 'file',
        mode: 0o644,
        mtime: T,
        size: 1 << 20,
        // First pass: compressible; second: noise of the same length (another compressed size).
        content: async function* () {
          reads++;
          yield reads === 1 ? new Uint8Array(1 << 20).fill(1) : noise(1 << 20, reads);
        },
      },
    ],
    { mode: 0o755, mtime: T },
  );
  const spec: DiskLayoutSpec = { table: 'gpt', partitions: [{ label: 'sys', size: '4M', content: { kind: 'squashfs', source: 'x' } }] };
  const once = await planLayout(spec, { files: memoryLayoutFiles({ x: changing }), epoch: T });
  await once.write(new Sequential());
  assert.equal(reads, 1, 'kept in memory: read and compressed once');
  reads = 0;
  const plan = await planLayout(spec, { files: memoryLayoutFiles({ x: changing }), epoch: T, rehearsalMemoryBytes: 0 });
  await assert.rejects(
    () => plan.write(new Sequential()),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_CHANGED' && /"sys" \(partition 1\)/.test(e.message),
  );
  assert.equal(reads, 2);
  await assert.rejects(
    () => planLayout(spec, { files: memoryLayoutFiles({ x: changing }), epoch: T, rehearsalMemoryBytes: -1 }),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'rehearsalMemoryBytes',
  );
});

test('ReplaySink: patched ranges go out in their final form inside writes and zero runs; holes stay holes; a different patch is refused', async () => {
  const rehearsal = new RehearsalSink();
  await rehearsal.write(new Uint8Array(10));
  await rehearsal.writeZeros(1000);
  await rehearsal.write(new Uint8Array(90));
  await rehearsal.writeAt(4, new Uint8Array([1, 2, 3]));
  await rehearsal.writeAt(500, new Uint8Array([7, 7]));
  await rehearsal.writeAt(1098, new Uint8Array([9, 9]));
  await assert.rejects(() => rehearsal.writeAt(1099, new Uint8Array(2)), /past the 1100 bytes/);
  const inner = new Sequential();
  const zeroRuns: number[] = [];
  const counting: ByteSink = {
    seekable: false,
    get position() {
      return inner.position;
    },
    write: (c) => inner.write(c),
    writeAt: () => inner.writeAt(),
    writeZeros: async (n) => {
      zeroRuns.push(n);
      await inner.write(new Uint8Array(n));
    },
    close: () => inner.close(),
  };
  const replay = new ReplaySink(counting, rehearsal.patches);
  await replay.write(new Uint8Array(10));
  await replay.writeZeros(1000);
  await replay.write(new Uint8Array(90));
  await replay.writeAt(4, new Uint8Array([1, 2, 3]));
  await replay.writeAt(500, new Uint8Array([7, 7]));
  await assert.rejects(() => replay.writeAt(1098, new Uint8Array([9, 8])), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_CHANGED');
  assert.throws(() => replay.finish(), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_CHANGED');
  await replay.writeAt(1098, new Uint8Array([9, 9]));
  replay.finish();
  const b = inner.mem.bytes();
  assert.deepEqual([...b.subarray(3, 8)], [0, 1, 2, 3, 0]);
  assert.deepEqual([...b.subarray(499, 503)], [0, 7, 7, 0]);
  assert.deepEqual([...b.subarray(1097, 1100)], [0, 9, 9]);
  assert.deepEqual(zeroRuns, [490, 508], 'the zero run around the patch stays zeros');
});

test('HoldingTee: keeps a content as it ends up (patches laid over bytes, zero runs split around them) while it fits the budget', async () => {
  const holding = async (budget: number) => {
    const parent = new RehearsalSink();
    await parent.write(new Uint8Array(7)); // the content starts at byte 7 of the disk
    return { parent, tee: new HoldingTee(parent, 7, budget) };
  };
  const { parent, tee } = await holding(10);
  await tee.write(new Uint8Array([1, 2, 3, 4]));
  await tee.writeZeros(100);
  await tee.write(new Uint8Array([5, 6, 7, 8]));
  await tee.writeAt(7 + 1, new Uint8Array([9]));
  await tee.writeAt(7 + 50, new Uint8Array([7, 7]));
  assert.equal(parent.position, 7 + 108, 'every byte went through to the rehearsal');
  assert.deepEqual(
    parent.patches.map((p) => [p.offset, [...p.bytes]]),
    [
      [8, [9]],
      [57, [7, 7]],
    ],
  );
  const kept = tee.kept!.map((p) => ('bytes' in p ? [p.offset, [...p.bytes]] : [p.offset, p.zeros]));
  assert.deepEqual(kept, [
    [0, [1, 9, 3, 4]],
    [4, 46],
    [50, [7, 7]],
    [52, 52],
    [104, [5, 6, 7, 8]],
  ]);
  assert.equal(tee.heldBytes, 10, 'zero runs cost nothing');

  // Past the budget the copy is dropped; the writes still reach the rehearsal.
  const over = await holding(5);
  await over.tee.write(new Uint8Array(4));
  assert.equal(over.tee.kept?.length, 1);
  await over.tee.write(new Uint8Array(4));
  assert.equal(over.tee.kept, undefined);
  await over.tee.writeAt(7, new Uint8Array([1]));
  assert.equal(over.parent.position, 7 + 8);
  assert.equal(over.parent.patches.length, 1);

  // A patch that turns zeros into bytes counts against the budget too.
  const zeros = await holding(4);
  await zeros.tee.write(new Uint8Array(4));
  await zeros.tee.writeZeros(10);
  await zeros.tee.writeAt(7 + 6, new Uint8Array([1]));
  assert.equal(zeros.tee.kept, undefined);
});

const containers: [string, ImageOptions][] = [
  ['qcow2', { format: 'qcow2' }],
  ['qcow2 zstd', { format: 'qcow2', qcow2: { compress: true, compressionType: 'zstd' } }],
  ['vmdk', { format: 'vmdk' }],
  ['vmdk monolithicSparse', { format: 'vmdk', vmdk: { subformat: 'monolithicSparse' } }],
  ['vhd fixed', { format: 'vhd', vhd: { subformat: 'fixed' } }],
  ['vhd dynamic', { format: 'vhd' }],
  ['vhdx', { format: 'vhdx' }],
  ['vhdx fixed', { format: 'vhdx', vhdx: { subformat: 'fixed' } }],
];

test('writeLayoutImage: the disk streamed into every container reads back as the raw disk, to a seekable output and (where the format streams) to a pipe', async () => {
  const raw = new MemorySink();
  await (await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T })).write(raw);
  const want = raw.bytes();
  for (const [name, o] of containers) {
    for (const pipe of [false, true]) {
      const plan = await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T });
      const out = pipe ? new Sequential() : new MemorySink();
      if (pipe && o.qcow2?.compress) {
        await assert.rejects(() => writeLayoutImage(plan, out, o), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
        await plan.close();
        continue;
      }
      const r = await writeLayoutImage(plan, out, o);
      const tableFirst = (o.format === 'qcow2' && !o.qcow2?.compress) || o.vmdk?.subformat === 'monolithicSparse' || (o.format !== 'vmdk' && o.format !== 'qcow2' && (o.vhd ?? o.vhdx)?.subformat !== 'fixed');
      assert.equal(r.allocationMap, pipe && tableFirst, `${name}: map only for a table-first layout on a pipe`);
      const bytes = out instanceof Sequential ? out.mem.bytes() : out.bytes();
      const src = await openImage(memoryReader(bytes));
      assert.equal(src.virtualSize, want.length, name);
      const got = new Uint8Array(src.virtualSize);
      for await (const range of src.ranges()) {
        let at = range.offset;
        for await (const c of src.read(range.offset, range.length)) {
          got.set(c, at);
          at += c.byteLength;
        }
      }
      assert.ok(Buffer.from(got).equals(want), `${name}${pipe ? ' (pipe)' : ''}: reads back as the raw disk`);
    }
  }
});

test('writeLayoutImage refuses an OVA on a pipe, a VHD rounded up under the GPT, and a VHDX sector size other than the layout\'s', async () => {
  const plan = () => planLayout({ table: 'gpt', size: '3000K', partitions: [{ size: '1M' }] }, { files: files(), epoch: T });
  await assert.rejects(async () => writeLayoutImage(await plan(), new Sequential(), { format: 'ova' }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
  await assert.rejects(async () => writeLayoutImage(await plan(), new MemorySink(), { format: 'vhd', vhd: { subformat: 'fixed', sizeAlign: 'mib' } }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'size');
  await assert.rejects(async () => writeLayoutImage(await plan(), new MemorySink(), { format: 'vhdx', vhdx: { logicalSectorSize: 4096 } }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION');
  const mib = await planLayout({ table: 'gpt', size: '3M', partitions: [{ size: '1M' }] }, { files: files(), epoch: T });
  const out = new MemorySink();
  await writeLayoutImage(mib, out, { format: 'vhd', vhd: { subformat: 'fixed', sizeAlign: 'mib' } });
  assert.equal(out.bytes().length, (3 << 20) + 512, 'a whole-MiB disk and its footer');
});
