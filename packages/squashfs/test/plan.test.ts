import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ImgkitError,
  MemorySink,
  WebStreamSink,
  imageContent,
  makeDev,
  memoryTree,
  subSink,
  type MemoryEntryInit,
  type SourceTree,
} from '@imgkit/core';
import { fileSink, nodeSpoolSink } from '@imgkit/core/node';
import { Superblock, planSquashfs, squashfsRequirements, writeSquashfs, type SquashfsOptions } from '@imgkit/squashfs';
import { requireTool, run, tempDir } from '../../../test/lib/tools.ts';

function bytesOf(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = i % 3 === 0 ? x & 0xff : 0x41; // compresses somewhat
  }
  return b;
}

/** Files across block and fragment boundaries, a duplicate, a sparse block, links of each kind. */
function tree(): SourceTree {
  const e: MemoryEntryInit[] = [
    { path: 'a/small', kind: 'file', content: bytesOf(1000, 1), mtime: 10 },
    { path: 'a/dup', kind: 'file', content: bytesOf(1000, 1), mtime: 11 },
    { path: 'a/big', kind: 'file', content: bytesOf(300_000, 2), mtime: 12 },
    { path: 'a/sparse', kind: 'file', content: new Uint8Array(262_144 + 5), mtime: 13 },
    { path: 'a/z-hard', kind: 'file', hardLinkTo: 'a/big' },
    { path: 'bin/sh', kind: 'symlink', linkTarget: 'busybox' },
    { path: 'bin/sh2', kind: 'symlink', linkTarget: 'busybox', hardLinkTo: 'bin/sh' },
    { path: 'dev/console', kind: 'char', rdev: makeDev(5, 1), mode: 0o600 },
    { path: 'run/fifo', kind: 'fifo' },
    { path: 'empty', kind: 'file', content: '' },
  ];
  return memoryTree(e, { mtime: 5 });
}

const OPTS: SquashfsOptions = { epoch: 1_700_000_000 };

async function alone(o: SquashfsOptions): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeSquashfs(tree(), sink, { ...OPTS, ...o });
  return sink.bytes().slice();
}

test('planSquashfs: an ImagePlan — size only known by writing, a seekable sink needed, the codec the pool preloads, inodes counted', async () => {
  const codec = { gzip: 'zlib', zstd: 'zstd', lz4: 'lz4-block', xz: 'xz' } as const;
  for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as const) {
    const plan = await planSquashfs(tree(), { ...OPTS, compression });
    assert.equal(plan.sizeBytes, undefined);
    assert.equal(plan.needsSeekableSink, true);
    assert.deepEqual(plan.codecs, [codec[compression]]);
    assert.deepEqual(squashfsRequirements({ compression }), { needsSeekableSink: true, codecs: [codec[compression]] });
    // root, a, a/small, a/dup, a/big (+ a/z-hard), a/sparse, bin, bin/sh (+ bin/sh2), dev, dev/console, empty, run, run/fifo
    assert.equal(plan.inodeCount, 13);
    assert.equal(plan.files, 5);
  }
  assert.deepEqual(squashfsRequirements().codecs, ['zlib'], 'gzip (a zlib stream) is the default');
  assert.throws(() => squashfsRequirements({ compression: 'lzo' as never }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION');
});

test('planSquashfs: minSizeBytes is a true lower bound (checked against images of 1 to 20 000 inodes, padded or not), 4 KiB with padding', async () => {
  const cases: [string, SourceTree, SquashfsOptions][] = [
    ['empty', memoryTree([]), {}],
    ['rich', tree(), {}],
    ['rich, no padding, no fragments', tree(), { pad: false, fragments: false }],
    ['rich, no padding, lz4', tree(), { pad: false, compression: 'lz4' }],
    ['20 000 fifos', memoryTree(Array.from({ length: 20_000 }, (_, i) => ({ path: `d/${String(i).padStart(5, '0')}`, kind: 'fifo' as const }))), { pad: false, compression: 'zstd' }],
    ['20 000 fifos, no exports', memoryTree(Array.from({ length: 20_000 }, (_, i) => ({ path: `d/${String(i).padStart(5, '0')}`, kind: 'fifo' as const }))), { pad: false, exportTable: false }],
  ];
  for (const [what, t, o] of cases) {
    const plan = await planSquashfs(t, { ...OPTS, ...o });
    const sink = new MemorySink();
    const r = await plan.write(sink);
    assert.ok(plan.minSizeBytes <= sink.position, `${what}: min ${plan.minSizeBytes} > ${sink.position}`);
    assert.ok(plan.minSizeBytes > Superblock.size, what);
    if (o.pad !== false) assert.equal(plan.minSizeBytes % 4096, 0, what);
    else assert.ok(plan.minSizeBytes <= r.bytesUsed, what);
  }
  const big = await planSquashfs(cases[4]![1], { ...OPTS, pad: false });
  // 96 (superblock) + 49 inode-table blocks × 3 + id table 11 + 20 export blocks × (3 + 8)
  assert.equal(big.minSizeBytes, 96 + 49 * 3 + 11 + 20 * 11);
});

test('planSquashfs: a plan can be written again, with the same bytes; writeSquashfs is planSquashfs(…).write', async () => {
  const plan = await planSquashfs(tree(), { ...OPTS, compression: 'zstd' });
  const a = new MemorySink();
  const b = new MemorySink();
  await plan.write(a);
  await plan.write(b);
  assert.deepEqual(a.bytes(), b.bytes());
  assert.deepEqual(await alone({ compression: 'zstd' }), a.bytes());
});

test('squashfs starts where the sink is: inside a subSink at an odd offset of a memory sink and of a file sink, and after bytes already written, byte-identical to the image alone (superblock patched in place)', async () => {
  const dir = await tempDir('sqfs-window');
  for (const compression of ['gzip', 'zstd'] as const) {
    const image = await alone({ compression });
    const offset = 3 * 1024 * 1024 + 17;

    const mem = new MemorySink();
    await mem.write(new Uint8Array(100).fill(0x5a));
    const w = subSink(mem, offset, 4 << 20, 'partition 2 ("system-a")');
    const r = await (await planSquashfs(tree(), { ...OPTS, compression })).write(w);
    assert.equal(w.bytesUsed, image.byteLength);
    assert.equal(r.imageBytes, image.byteLength);
    await w.finish();
    assert.equal(mem.position, offset + (4 << 20));
    assert.deepEqual(mem.bytes().subarray(offset, offset + image.byteLength), image, compression);
    assert.ok(mem.bytes().subarray(100, offset).every((x) => x === 0));
    assert.equal(Superblock.decode(mem.bytes(), offset).magic, 0x73717368);

    const out = join(dir, `disk-${compression}.img`);
    const file = await fileSink(out);
    const fw = subSink(file, offset, 4 << 20);
    await writeSquashfs(tree(), fw, { ...OPTS, compression });
    await fw.finish();
    await file.close();
    const disk = await readFile(out);
    assert.equal(disk.byteLength, offset + (4 << 20));
    assert.deepEqual(new Uint8Array(disk.subarray(offset, offset + image.byteLength)), image);

    const after = new MemorySink();
    await after.write(new Uint8Array(4097).fill(0xcd));
    const r2 = await writeSquashfs(tree(), after, { ...OPTS, compression });
    assert.equal(r2.imageBytes, image.byteLength);
    assert.deepEqual(after.bytes().subarray(4097), image);
    assert.ok(after.bytes().subarray(0, 4097).every((x) => x === 0xcd), 'nothing before the image was touched');
  }
  // The window's image is a valid squashfs at that offset (unsquashfs -o reads it in place).
  const unsquashfs = requireTool('unsquashfs', 'squashfs-tools');
  const listing = await run(unsquashfs, ['-o', String(3 * 1024 * 1024 + 17), '-lln', join(dir, 'disk-zstd.img')]);
  assert.match(String(listing.stdout), /squashfs-root\/bin\/sh -> busybox/);
  assert.match(String(listing.stdout), /crw------- 0\/0\s+5,\s*1 .* squashfs-root\/dev\/console/);
});

test('squashfs refuses a sink that cannot seek: writeSquashfs before the walk, plan.write before a byte', async () => {
  let walked = false;
  const watched: SourceTree = {
    async *walk() {
      walked = true;
      yield* tree().walk();
    },
  };
  const stream = () => new WebStreamSink(new WritableStream<Uint8Array>({ write() {} }));
  await assert.rejects(writeSquashfs(watched, stream()), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
  assert.equal(walked, false);
  const plan = await planSquashfs(tree(), OPTS);
  const s = stream();
  await assert.rejects(plan.write(s), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
  assert.equal(s.position, 0);
});

test('a squashfs spooled for another image (memory, then a temporary file) reads back the bytes of a direct write', async () => {
  const image = await alone({ compression: 'xz' });
  const dir = await tempDir('sqfs-spool');
  for (const memoryBytes of [64 << 20, 64 << 10]) {
    const content = await imageContent(await planSquashfs(tree(), { ...OPTS, compression: 'xz' }), { label: 'the root filesystem', spool: () => nodeSpoolSink({ memoryBytes, dir }) });
    assert.equal(content.how, memoryBytes > image.byteLength ? 'memory' : 'file');
    assert.equal(content.size, image.byteLength);
    const parts: Buffer[] = [];
    for await (const c of content.read()) parts.push(Buffer.from(c));
    assert.deepEqual(new Uint8Array(Buffer.concat(parts)), image);
    await content.dispose();
  }
});
