/**
 * The composer on in-memory files (what a browser does): FAT and squashfs contents, a squashfs
 * sized by writing it (later partitions move, written ones do not), a nested layout, raw images,
 * the allocation map against the bytes, sequential sinks, and refusals located in the layout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, MemorySink, memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { memoryLayoutFiles, planLayout, planLayoutFile, type DiskLayoutSpec } from '@imgkit/disk';
import { Sequential } from './sequential.ts';

const T = 1_600_000_000;
const tree = (files: Record<string, string | Uint8Array>) => {
  const inits: MemoryEntryInit[] = [];
  const dirs = new Set<string>();
  for (const p of Object.keys(files)) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const d of dirs) inits.push({ path: d, kind: 'dir', mode: 0o755, mtime: T });
  for (const [p, c] of Object.entries(files)) inits.push({ path: p, kind: 'file', mode: 0o644, mtime: T, content: c });
  return memoryTree(inits, { mode: 0o755, mtime: T });
};
/** 3 MiB that do not compress (xorshift32). */
const big = (() => {
  const b = new Uint8Array(3 << 20);
  let x = 2463534242;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
})();

function files() {
  return memoryLayoutFiles({
    boot: tree({ 'EFI/BOOT/README.txt': 'hello\n', 'loader/loader.conf': 'default a\n' }),
    rootfs: tree({ 'etc/hostname': 'box\n', 'usr/lib/blob.bin': big }),
    'loader.bin': new Uint8Array(1500).fill(0x42),
    'sub/inner.yaml': 'table: mbr\npartitions:\n  - { type: fat16, size: 2M, content: { fat: ../boot } }\n',
  });
}

/** Every non-zero byte of the image lies inside an allocated range. */
function assertMapCovers(bytes: Uint8Array, ranges: readonly { offset: number; length: number }[]): void {
  let r = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) continue;
    while (r < ranges.length && ranges[r]!.offset + ranges[r]!.length <= i) r++;
    assert.ok(r < ranges.length && ranges[r]!.offset <= i, `byte ${i} is not zero but not in the allocation map`);
  }
}

const LAYOUT = `table: gpt
seed: unit
partitions:
  - { label: esp, type: esp, content: { fat: boot, label: ESP } }
  - { label: root, type: linux, content: { squashfs: rootfs } }
  - { label: inner, content: { layout: sub/inner.yaml } }
  - { label: spare, size: 1M }
raw:
  - { offset: 20K, image: loader.bin }
`;

test('a squashfs without a size is measured as it is written; the partitions after it follow; the table is patched last', async () => {
  const plan = await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T });
  assert.equal(plan.sizeBytes, undefined, 'unknown before writing');
  assert.equal(plan.needsSeekableSink, true);
  const sink = new MemorySink();
  const r = await plan.write(sink);
  const bytes = sink.bytes();
  assert.equal(bytes.length, r.sizeBytes);
  const [esp, root, inner, spare] = r.layout.partitions;
  assert.equal(esp!.offset, 1 << 20);
  assert.ok(root!.sizeBytes >= r.partitions[1]!.contentBytes && r.partitions[1]!.contentBytes > 3 << 20, 'the squashfs partition holds what was written');
  assert.equal(root!.sizeBytes % (1 << 20), 0);
  assert.equal(inner!.offset, root!.offset + root!.sizeBytes);
  assert.equal(spare!.offset, inner!.offset + inner!.sizeBytes);
  assert.equal(new TextDecoder().decode(bytes.subarray(512, 520)), 'EFI PART', 'the GPT header was patched in');
  assert.equal(new TextDecoder().decode(bytes.subarray(root!.offset, root!.offset + 4)), 'hsqs');
  assert.deepEqual([bytes[inner!.offset + 510], bytes[inner!.offset + 511]], [0x55, 0xaa], 'the nested MBR');
  assert.ok(bytes.subarray(20 << 10, (20 << 10) + 1500).every((b) => b === 0x42));
  assertMapCovers(bytes, r.allocated);
  const mapped = r.allocated.reduce((s, x) => s + x.length, 0);
  assert.ok(mapped < bytes.length / 2, `the map is not the whole disk (${mapped} of ${bytes.length})`);
});

test('the same layout twice gives the same bytes; a second write of one plan is refused', async () => {
  const a = new MemorySink();
  const b = new MemorySink();
  const p = await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T });
  await p.write(a);
  await (await planLayoutFile(LAYOUT, 'unit.yaml', { files: files(), epoch: T })).write(b);
  assert.deepEqual(a.bytes(), b.bytes());
  await assert.rejects(() => p.write(new MemorySink()), /writes once/);
});

test('a sequential sink gets the same disk: tables written in order when every size is known and nothing patches, rehearsed otherwise', async () => {
  const spec: DiskLayoutSpec = { table: 'mbr', seed: 's', partitions: [{ type: 'fat16', size: '4M', content: { kind: 'fat', source: 'boot' } }, { type: 'linux', size: '1M' }] };
  const p1 = await planLayout(spec, { files: files(), epoch: T });
  assert.equal(p1.needsSeekableSink, false);
  assert.equal(p1.sizeBytes, 6 << 20);
  const seq = new Sequential();
  await p1.write(seq);
  const mem = new MemorySink();
  await (await planLayout(spec, { files: files(), epoch: T })).write(mem);
  assert.deepEqual(seq.mem.bytes(), mem.bytes());
  // With squashfs the disk is rehearsed first (rehearsal.test.ts) and the sequential sink gets the same disk.
  const sq: DiskLayoutSpec = { table: 'gpt', partitions: [{ size: '8M', content: { kind: 'squashfs', source: 'rootfs' } }] };
  const seq2 = new Sequential();
  await (await planLayout(sq, { files: files() })).write(seq2);
  const mem2 = new MemorySink();
  await (await planLayout(sq, { files: files() })).write(mem2);
  assert.deepEqual(seq2.mem.bytes(), mem2.bytes());
});

test('written after something else: the disk is relative to the sink position at entry', async () => {
  const spec: DiskLayoutSpec = { table: 'gpt', partitions: [{ size: '1M', content: { kind: 'squashfs', source: 'rootfs' } }, { size: '1M' }] };
  const alone = new MemorySink();
  await assert.rejects(async () => (await planLayout(spec, { files: files() })).write(alone), (e: unknown) => e instanceof ImgkitError && e.code === 'E_NO_SPACE' && e.field === 'partitions[0].size');
  const ok: DiskLayoutSpec = { table: 'gpt', partitions: [{ content: { kind: 'squashfs', source: 'rootfs' } }, { size: '1M' }] };
  const a = new MemorySink();
  await (await planLayout(ok, { files: files() })).write(a);
  const b = new MemorySink();
  await b.write(new Uint8Array(4096).fill(7));
  const r = await (await planLayout(ok, { files: files() })).write(b);
  assert.deepEqual(b.bytes().subarray(4096), a.bytes());
  assert.equal(r.allocated[0]!.offset, 0, 'map offsets are relative to the disk');
});

test('errors inside a content name the partition and the layout line; missing files are E_SOURCE_MISSING', async () => {
  const text = 'table: gpt\npartitions:\n  - label: a\n    size: 1M\n    content: { image: nope.img }\n';
  await assert.rejects(() => planLayoutFile(text, 'x.yaml', { files: files() }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_MISSING' && e.line === 5 && e.field === 'partitions[0].content.image');
  const nested = memoryLayoutFiles({ 'a.yaml': 'table: gpt\npartitions:\n  - { size: 1M, content: { layout: a.yaml } }\n' });
  await assert.rejects(() => planLayoutFile('table: gpt\npartitions:\n  - { content: { layout: a.yaml } }\n', 'top.yaml', { files: nested }), /nest deeper than 8/);
});
