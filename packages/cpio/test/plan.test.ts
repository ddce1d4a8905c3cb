import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemorySink, NoSpaceError, imageContent, makeDev, memoryTree, subSink, type ByteSink, type MemoryEntryInit } from '@imgkit/core';
import { fileSink, nodeSpoolSink } from '@imgkit/core/node';
import { cpioRequirements, decodeCpio, planArchive, planCpio, writeCpio, type CpioResult } from '@imgkit/cpio';
import { tempDir } from '../../../test/lib/tools.ts';

test('planArchive: root as ".", sequential inodes, dir link counts, link groups, no content read', async () => {
  let reads = 0;
  const content = () => {
    reads++;
    return (async function* () {
      yield new Uint8Array(3);
    })();
  };
  const plan = await planArchive(
    memoryTree([
      { path: 'a/b/c', kind: 'dir' },
      { path: 'a/f', kind: 'file', size: 3, content },
      { path: 'a/g', kind: 'file', hardLinkTo: 'a/f' },
      { path: 'z', kind: 'symlink', linkTarget: 'a/f' },
    ]),
  );
  const by = new Map(plan.map((p) => [new TextDecoder().decode(p.name), p]));
  assert.deepEqual([...by.keys()], ['.', 'a', 'a/b', 'a/b/c', 'a/f', 'a/g', 'z']);
  assert.deepEqual(plan.map((p) => p.ino), [1, 2, 3, 4, 5, 5, 6]);
  assert.deepEqual([by.get('.')!.nlink, by.get('a')!.nlink, by.get('a/b')!.nlink, by.get('a/b/c')!.nlink], [3, 3, 3, 2]);
  assert.deepEqual([by.get('a/f')!.nlink, by.get('a/g')!.nlink, by.get('a/f')!.filesize, by.get('a/g')!.filesize], [2, 2, 0, 3]);
  assert.equal(by.get('a/g')!.content, by.get('a/f')!.entry);
  assert.equal(by.get('z')!.filesize, 3);
  assert.equal(by.get('z')!.mode, 0o120777);
  assert.equal(reads, 0);
});

test('planArchive: the epoch clamps only newer times', async () => {
  const plan = await planArchive(memoryTree([{ path: 'old', kind: 'file', mtime: 10 }, { path: 'new', kind: 'file', mtime: 5000 }]), { epoch: 100 });
  assert.deepEqual(plan.map((p) => p.mtime), [0, 100, 10]);
});

// ---- planCpio: the ImagePlan every format gives (core/src/plan.ts) ----

const enc = new TextEncoder();
/** Names of every length mod 4 (header + name padding), data of every length mod 4, links of each kind. */
function sizesTree(): MemoryEntryInit[] {
  const out: MemoryEntryInit[] = [];
  for (let n = 1; n <= 9; n++) out.push({ path: `d/${'n'.repeat(n)}`, kind: 'file', content: 'x'.repeat(n * 37), mtime: n });
  out.push({ path: 'd/link', kind: 'symlink', linkTarget: 'nnn' });
  out.push({ path: 'd/z-hard', kind: 'file', hardLinkTo: 'd/nnnnn' });
  out.push({ path: 'dev/console', kind: 'char', rdev: makeDev(5, 1) });
  out.push({ path: 'dev/console2', kind: 'char', rdev: makeDev(5, 1), hardLinkTo: 'dev/console' });
  out.push({ path: 'run/fifo', kind: 'fifo' });
  out.push({ path: 'é', kind: 'file', content: enc.encode('ü'.repeat(1001)) });
  return out;
}
const EARLY: MemoryEntryInit[] = [{ path: 'kernel/x86/microcode/GenuineIntel.bin', kind: 'file', content: 'µcode'.repeat(50) }];

async function written(plan: { write(s: ByteSink): Promise<CpioResult> }, sink: ByteSink = new MemorySink()): Promise<{ bytes: Uint8Array; result: CpioResult }> {
  const result = await plan.write(sink);
  return { bytes: (sink as MemorySink).bytes?.().slice() ?? new Uint8Array(), result };
}

test('planCpio: uncompressed, sizeBytes is the exact output (newc and crc, with and without an early archive); no content read', async () => {
  let reads = 0;
  const counted = (entries: MemoryEntryInit[]) =>
    entries.map((e) => (typeof e.content === 'string' || e.content instanceof Uint8Array ? { ...e, size: typeof e.content === 'string' ? enc.encode(e.content).byteLength : e.content.byteLength, content: ((c) => () => { reads++; return (async function* () { yield typeof c === 'string' ? enc.encode(c) : c; })(); })(e.content) } : e));
  for (const format of ['newc', 'crc'] as const) {
    for (const early of [undefined, memoryTree(EARLY)]) {
      reads = 0;
      const plan = await planCpio(memoryTree(counted(sizesTree())), { compression: 'none', format, ...(early ? { early } : {}) });
      assert.equal(reads, 0, 'planning reads no content');
      assert.equal(plan.needsSeekableSink, false);
      assert.deepEqual(plan.codecs, []);
      const { bytes, result } = await written(plan);
      assert.equal(plan.sizeBytes, bytes.byteLength, `${format}, early ${early !== undefined}`);
      assert.equal(plan.minSizeBytes, plan.sizeBytes);
      assert.equal(plan.archiveBytes, result.archiveBytes);
      assert.equal(plan.sizeBytes, plan.earlyBytes + plan.archiveBytes);
      assert.equal(plan.entries, result.entries);
      if (early) assert.equal(plan.earlyBytes % 512, 0);
      else assert.equal(plan.earlyBytes, 0);
      assert.equal(decodeCpio(bytes.subarray(plan.earlyBytes)).end, plan.archiveBytes);
    }
  }
});

test('planCpio: compressed, the size is unknown (minSizeBytes: the early archive), the archive size exact, and the codec named for the pool', async () => {
  const want = { gzip: ['gzip'], zstd: ['zstd'], lz4: ['lz4-legacy'], xz: ['xz'], none: [] } as const;
  for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as const) {
    const plan = await planCpio(memoryTree(sizesTree()), { compression, early: memoryTree(EARLY) });
    assert.equal(plan.sizeBytes, undefined);
    assert.deepEqual(plan.codecs, want[compression]);
    assert.deepEqual(cpioRequirements({ compression }), { needsSeekableSink: false, codecs: want[compression] });
    const { bytes, result } = await written(plan);
    assert.equal(plan.minSizeBytes, plan.earlyBytes);
    assert.ok(bytes.byteLength >= plan.minSizeBytes);
    assert.equal(plan.archiveBytes, result.archiveBytes, compression);
  }
  assert.deepEqual(cpioRequirements({ compression: 'none' }).codecs, want.none);
  assert.deepEqual(cpioRequirements().codecs, ['gzip'], 'gzip is the default');
});

test('planCpio: a plan can be written again, with the same bytes; writeCpio is planCpio(…).write', async () => {
  const plan = await planCpio(memoryTree(sizesTree()), { compression: 'zstd', epoch: 100 });
  const a = await written(plan);
  const b = await written(plan);
  const c = new MemorySink();
  await writeCpio(memoryTree(sizesTree()), c, { compression: 'zstd', epoch: 100 });
  assert.deepEqual(a.bytes, b.bytes);
  assert.deepEqual(c.bytes(), a.bytes);
});

test('cpio starts where the sink is: inside a subSink at an odd offset of a memory sink and of a file sink, and after bytes already written, the image is byte-identical to one written alone', async () => {
  const dir = await tempDir('cpio-window');
  for (const compression of ['none', 'gzip', 'zstd'] as const) {
    const tree = () => memoryTree(sizesTree());
    const alone = new MemorySink();
    const r0 = await writeCpio(tree(), alone, { compression, early: memoryTree(EARLY) });
    const image = alone.bytes().slice();

    const offset = 1_000_003;
    const mem = new MemorySink();
    const w = subSink(mem, offset, 1 << 20, 'partition 1');
    const r1 = await (await planCpio(tree(), { compression, early: memoryTree(EARLY) })).write(w);
    assert.equal(w.bytesUsed, image.byteLength);
    await w.finish();
    assert.deepEqual(r1, r0);
    assert.deepEqual(mem.bytes().subarray(offset, offset + image.byteLength), image, compression);
    assert.ok(mem.bytes().subarray(0, offset).every((x) => x === 0));
    assert.equal(mem.position, offset + (1 << 20));

    const out = join(dir, `disk-${compression}.img`);
    const file = await fileSink(out);
    const fw = subSink(file, offset, 1 << 20);
    await writeCpio(tree(), fw, { compression, early: memoryTree(EARLY) });
    await fw.finish();
    await file.close();
    const disk = await readFile(out);
    assert.deepEqual(new Uint8Array(disk.subarray(offset, offset + image.byteLength)), image);

    const after = new MemorySink();
    await after.write(new Uint8Array(777).fill(0xab));
    const r2 = await writeCpio(tree(), after, { compression, early: memoryTree(EARLY) });
    assert.equal(r2.outputBytes, image.byteLength);
    assert.deepEqual(after.bytes().subarray(777), image);
  }
});

test('planCpio: an uncompressed archive too big for its window is E_NO_SPACE before a byte is written', async () => {
  const plan = await planCpio(memoryTree(sizesTree()), { compression: 'none' });
  const disk = new MemorySink();
  const w = subSink(disk, 4096, plan.sizeBytes! - 1, 'partition 3 ("initrd")');
  await assert.rejects(plan.write(w), (e: unknown) => e instanceof NoSpaceError && /partition 3 \("initrd"\)/.test(e.message));
  assert.equal(disk.position, 0, 'nothing written, not even the gap');
});

test('a compressed cpio spooled for another image (imageContent) reads back the bytes of a direct write; an uncompressed one is streamed', async () => {
  const direct = new MemorySink();
  await writeCpio(memoryTree(sizesTree()), direct, { compression: 'xz' });
  const spooled = await imageContent(await planCpio(memoryTree(sizesTree()), { compression: 'xz' }), { spool: () => nodeSpoolSink({ memoryBytes: 1024 }) });
  assert.equal(spooled.how, 'file');
  assert.equal(spooled.size, direct.position);
  const parts: Buffer[] = [];
  for await (const c of spooled.read()) parts.push(Buffer.from(c));
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), direct.bytes());
  await spooled.dispose();

  const plain = await planCpio(memoryTree(sizesTree()), { compression: 'none' });
  const streamed = await imageContent(plain);
  assert.deepEqual([streamed.how, streamed.size], ['stream', plain.sizeBytes]);
  const direct2 = new MemorySink();
  await plain.write(direct2);
  const parts2: Buffer[] = [];
  for await (const c of streamed.read()) parts2.push(Buffer.from(c));
  assert.deepEqual(new Uint8Array(Buffer.concat(parts2)), direct2.bytes());
});
