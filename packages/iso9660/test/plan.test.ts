/**
 * planIso, the ISO's side of the plan contract (STYLE.md "Composing images"): the exact size after
 * layout, no seekable sink, no codec, `write` from wherever the sink is (the bytes of a window at a
 * non-zero offset equal the ISO written alone, in memory, in a file and as a GPT partition), the
 * same bytes on a second write; the tree checks of core's TreeChecker, typed and naming the path.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { after, test } from 'node:test';
import { ErrorCodes, ImgkitError, MemorySink, memoryTree, subSink, type ByteSink, type MemoryEntryInit, type SourceEntry, type SourceTree } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { isoRequirements, planContent, planIso, writeIso, type IsoContent, type IsoOptions } from '@imgkit/iso9660';
import { planDisk } from '@imgkit/partition';
import { requireTool, run } from '../../../test/lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree } from '../../../test/lib/tree.ts';

const EPOCH = 1_700_000_000;
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const bootImage = bytes(4096, 1);
const efiImage = bytes(64 * 1024, 2);
const template = bytes(432, 3);
const grubMbr = bytes(512, 4);
grubMbr.fill(0, 440);
const content = (b: Uint8Array): IsoContent => ({ size: b.byteLength, read: async function* () { yield b; } });

function entries(): MemoryEntryInit[] {
  return [
    { path: 'isolinux/isolinux.bin', kind: 'file', content: bootImage },
    { path: 'boot/efi.img', kind: 'file', content: efiImage },
    { path: 'etc/hostname', kind: 'file', content: 'imgkit\n', mtime: EPOCH - 10 },
    { path: 'etc/big', kind: 'file', content: bytes(300_000, 5) },
    { path: 'etc/empty', kind: 'file', content: '' },
    { path: 'etc/link', kind: 'symlink', linkTarget: 'hostname' },
    { path: 'etc/zhard', kind: 'file', content: 'imgkit\n', hardLinkTo: 'etc/hostname' },
  ];
}
const tree = () => memoryTree(entries());

/** Layouts whose system areas and block orders differ: plain, isohybrid + GPT, appended ESP with offset 16, grub2 with the ESP before the data. */
const LAYOUTS: Record<string, IsoOptions> = {
  plain: { epoch: EPOCH },
  'isohybrid-mbr + GPT': {
    epoch: EPOCH,
    joliet: true,
    biosBoot: { path: 'isolinux/isolinux.bin', bootInfoTable: true },
    efiBoot: { path: 'boot/efi.img' },
    hybrid: 'isohybrid-mbr',
    isohybridGpt: true,
    mbrTemplate: template,
  },
  'appended-esp, offset 16': {
    epoch: EPOCH,
    biosBoot: { path: 'isolinux/isolinux.bin', bootInfoTable: true },
    hybrid: 'appended-esp',
    mbrTemplate: template,
    appendedEsp: content(efiImage),
    partitionOffsetBlocks: 16,
  },
  'grub2, ESP before the data': {
    epoch: EPOCH,
    biosBoot: { path: 'isolinux/isolinux.bin', bootInfoTable: true, grub2BootInfo: true },
    efiBoot: { path: 'boot/efi.img' },
    hybrid: 'grub2',
    mbrTemplate: grubMbr,
  },
};

async function alone(o: IsoOptions): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeIso(tree(), sink, o);
  return sink.bytes().slice();
}

test('planIso: exact size after layout, no seekable sink, no codec; writeIso is planIso().write(); a second write gives the same bytes', async () => {
  assert.deepEqual(isoRequirements(), { needsSeekableSink: false, codecs: [] });
  for (const [name, o] of Object.entries(LAYOUTS)) {
    const plan = await planIso(tree(), o);
    assert.equal(plan.needsSeekableSink, false, name);
    assert.deepEqual(plan.codecs, [], name);
    assert.equal(plan.minSizeBytes, plan.sizeBytes, name);
    assert.equal(plan.sizeBytes % 2048, 0, name);
    const a = new MemorySink();
    const r = await plan.write(a);
    assert.equal(a.position, plan.sizeBytes, `${name}: bytes written = sizeBytes`);
    assert.equal(r.sizeBytes, plan.sizeBytes, name);
    assert.equal(r.volumeBlocks, plan.volumeBlocks, name);
    assert.equal(r.volumeDate, plan.volumeDate, name);
    const b = new MemorySink();
    await plan.write(b);
    assert.deepEqual(b.bytes(), a.bytes(), `${name}: a second write`);
    assert.deepEqual(await alone(o), a.bytes(), `${name}: writeIso`);
  }
});

test('writing starts where the sink is: at an odd offset of a MemorySink, directly and inside a subSink window, the bytes equal the ISO alone', async () => {
  for (const [name, o] of Object.entries(LAYOUTS)) {
    const want = await alone(o);
    const plan = await planIso(tree(), o);
    const prefix = bytes(12_345, 7);
    const suffix = bytes(1000, 8);

    const direct = new MemorySink();
    await direct.write(prefix);
    await plan.write(direct);
    await direct.write(suffix);
    assert.deepEqual(direct.bytes().subarray(prefix.byteLength, prefix.byteLength + want.byteLength), want, `${name}: directly`);
    assert.deepEqual(direct.bytes().subarray(0, prefix.byteLength), prefix, `${name}: the bytes before are untouched`);
    assert.deepEqual(direct.bytes().subarray(prefix.byteLength + want.byteLength), suffix, `${name}: and the bytes after follow it`);

    const parent = new MemorySink();
    await parent.write(prefix);
    const window = subSink(parent, parent.position, plan.sizeBytes, 'the ISO');
    await plan.write(window);
    assert.equal(window.position, plan.sizeBytes);
    assert.deepEqual(parent.bytes().subarray(prefix.byteLength), want, `${name}: inside a window`);
  }
});

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('writing starts where the sink is: inside a window of a file sink (holes included) the bytes equal the ISO alone', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'imgkit-iso-plan-'));
  dirs.push(dir);
  for (const [name, o] of Object.entries(LAYOUTS)) {
    const want = await alone(o);
    const plan = await planIso(tree(), o);
    const out = join(dir, `${name.replace(/\W+/g, '-')}.img`);
    const sink = await fileSink(out);
    const prefix = 3 * 1024 * 1024 + 512; // after a hole of 3 MiB + one sector
    await sink.writeZeros!(prefix - 7);
    await sink.write(bytes(7, 9));
    const window = subSink(sink, sink.position, plan.sizeBytes, 'the ISO');
    await plan.write(window);
    await sink.close();
    const file = await readFile(out);
    assert.equal(file.byteLength, prefix + want.byteLength, name);
    assert.deepEqual(new Uint8Array(file.subarray(prefix)), want, `${name}: the window holds the ISO`);
  }
});

test('an ISO inside a GPT partition (@imgkit/partition, sized by the plan\'s minSizeBytes) is the ISO written alone', async () => {
  const o = LAYOUTS['isohybrid-mbr + GPT']!;
  const want = await alone(o);
  const plan = await planIso(tree(), o);
  const disk = planDisk({ table: 'gpt', epoch: EPOCH, label: 'iso-in-gpt', partitions: [{ name: 'iso', type: 'basic-data', minSizeBytes: plan.minSizeBytes }] });
  const p = disk.partition('iso');
  assert.ok(p.sizeBytes >= plan.sizeBytes);
  const sink = new MemorySink();
  await disk.write(sink, { contents: [plan] });
  assert.equal(sink.position, disk.sizeBytes);
  assert.deepEqual(sink.bytes().subarray(p.offset, p.offset + want.byteLength), want);
  assert.ok(sink.bytes().subarray(p.offset + want.byteLength, p.offset + p.sizeBytes).every((b) => b === 0), 'the rest of the partition is zeros');
  // The reference tools: sgdisk accepts the disk, and the ISO cut out of its partition, extracted
  // by xorriso's osirrox, equals the source tree.
  const dir = await mkdtemp(join(tmpdir(), 'imgkit-iso-plan-gpt-'));
  dirs.push(dir);
  const diskFile = join(dir, 'disk.img');
  const isoFile = join(dir, 'part.iso');
  await writeFile(diskFile, sink.bytes());
  await writeFile(isoFile, sink.bytes().subarray(p.offset, p.offset + p.sizeBytes));
  const v = await run(requireTool('sgdisk', 'gdisk'), ['-v', diskFile]);
  assert.match(v.stdout.toString(), /No problems found/, v.stdout.toString());
  const out = join(dir, 'x');
  await run(requireTool('osirrox', 'xorriso'), ['-indev', isoFile, '-extract', '/', out]);
  const extracted = await snapshotDir(out);
  extracted.delete('boot.catalog'); // El Torito's catalog, visible in this layout
  const expected = await snapshotTree(tree());
  // A hard link is one inode: its time is its target's. The boot image carries the boot info
  // table (El Torito with -boot-info-table: bytes 8–63 patched), so its bytes are compared apart.
  expected.set('etc/zhard', { ...expected.get('etc/zhard')!, mtime: expected.get('etc/hostname')!.mtime });
  const boot = await readFile(join(out, 'isolinux/isolinux.bin'));
  assert.equal(boot.byteLength, bootImage.byteLength);
  assert.deepEqual([...boot.subarray(0, 8), ...boot.subarray(64)], [...bootImage.subarray(0, 8), ...bootImage.subarray(64)], 'the boot image outside its boot info table');
  expected.set('isolinux/isolinux.bin', { ...expected.get('isolinux/isolinux.bin')!, sha256: extracted.get('isolinux/isolinux.bin')!.sha256 });
  assertSameTree(extracted, expected, { ignore: ['root', 'uid', 'gid', 'nlink', 'hardLinkGroup', 'dirMtime', 'symlinkMtime'] });
});

test('another plan of known size as content (planContent): written straight into the ISO, the same bytes as from a stream', async () => {
  const inner = await planIso(memoryTree([{ path: 'inner.txt', kind: 'file', content: 'inside\n' }]), { epoch: EPOCH, volumeId: 'INNER' });
  const innerBytes = new MemorySink();
  await inner.write(innerBytes);
  const viaPlan = await alone({ ...LAYOUTS['appended-esp, offset 16']!, appendedEsp: planContent(inner, 'the inner ISO') });
  const viaStream = await alone({ ...LAYOUTS['appended-esp, offset 16']!, appendedEsp: content(innerBytes.bytes().slice()) });
  assert.deepEqual(viaPlan, viaStream);
  // A plan whose size only writing tells cannot go straight in.
  const unsized = { sizeBytes: undefined, minSizeBytes: 4096, needsSeekableSink: true, codecs: [], write: async () => undefined };
  assert.throws(() => planContent(unsized, 'the squashfs'), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_OPTION && /the squashfs knows its size only once written/.test(e.message));
  // A content writer that writes more, or less, than it announced: E_SOURCE_CHANGED naming it.
  for (const n of [efiImage.byteLength + 1, efiImage.byteLength - 1]) {
    const liar: IsoContent = { size: efiImage.byteLength, write: (s: ByteSink) => s.write(bytes(n, 1)) };
    await assert.rejects(
      alone({ ...LAYOUTS['appended-esp, offset 16']!, appendedEsp: liar }),
      (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.SOURCE_CHANGED && /appended/.test(e.path ?? ''),
    );
  }
});

/** A SourceTree that yields exactly these entries, in this order. */
function rawTree(list: Partial<SourceEntry>[]): SourceTree {
  return {
    async *walk() {
      for (const e of list) yield { kind: 'file', mode: 0o644, uid: 0, gid: 0, mtime: EPOCH, size: 0, read: async function* () {}, ...e } as SourceEntry;
    },
  };
}

test('the walk is checked by core\'s TreeChecker: root first, parents first, sorted, hard-link targets; E_BAD_INPUT naming the path', async () => {
  const root: Partial<SourceEntry> = { path: '', kind: 'dir', mode: 0o755 };
  const cases: [string, Partial<SourceEntry>[], string][] = [
    ['no root first', [{ path: 'a' }], 'a'],
    ['a child before its parent', [root, { path: 'd/x' }], 'd/x'],
    ['out of order', [root, { path: 'b' }, { path: 'a' }], 'a'],
    ['twice', [root, { path: 'a' }, { path: 'a' }], 'a'],
    ['a hard link to nothing walked', [root, { path: 'a', hardLinkTo: 'z' }], 'a'],
    ['a parent that is a file', [root, { path: 'f' }, { path: 'f/x' }], 'f/x'],
  ];
  for (const [what, list, path] of cases) {
    await assert.rejects(planIso(rawTree(list), { epoch: EPOCH }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_INPUT && e.path === path && e.format === 'iso9660', what);
  }
  await assert.rejects(planIso(rawTree([]), { epoch: EPOCH }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_INPUT, 'an empty walk');
  // Hard-linked symlinks (as nodeSource reports them) share one inode, as before.
  const plan = await planIso(rawTree([root, { path: 'a', kind: 'symlink', linkTarget: 'x' }, { path: 'b', kind: 'symlink', linkTarget: 'x', hardLinkTo: 'a' }]), { epoch: EPOCH });
  assert.ok(plan.sizeBytes > 0);
});
