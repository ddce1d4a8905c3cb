/**
 * planFat / writeFat in-process: the plan's promises (exact size, any sink, start at the sink's
 * position, same bytes every time) and every refusal, each naming its path. The images themselves
 * are checked by fsck.fat, mtools and the kernel in test/fat.test.ts and test/boot-fat.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ErrorCodes,
  ImgkitError,
  MemorySink,
  WebStreamSink,
  memoryTree,
  subSink,
  type ImgkitWarning,
  type MemoryEntryInit,
} from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { BootSector16, BootSector32, MIN_CLUSTERS_32, planFat, writeFat, type PlanFatOptions } from '@imgkit/fat';

const T = 1_700_000_000;
const EPOCH = { epoch: T + 1000 };

function tree(extra: MemoryEntryInit[] = []) {
  return memoryTree(
    [
      { path: 'EFI', kind: 'dir', mtime: T },
      { path: 'EFI/BOOT', kind: 'dir', mtime: T },
      { path: 'EFI/BOOT/BOOTX64.EFI', kind: 'file', content: new Uint8Array(70_000).fill(0x5a), mtime: T },
      { path: 'README.TXT', kind: 'file', content: 'readme\n', mtime: T },
      { path: 'Long File Name.conf', kind: 'file', content: 'x'.repeat(3000), mtime: T },
      { path: 'empty', kind: 'file', content: '', mtime: T },
      ...extra,
    ],
    { mtime: T },
  );
}

async function image(o: PlanFatOptions = {}, extra: MemoryEntryInit[] = []): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeFat(tree(extra), sink, { ...EPOCH, ...o });
  return sink.bytes().slice();
}

function isError(code: string, path?: string) {
  return (e: unknown) => e instanceof ImgkitError && e.code === code && e.format === 'fat' && (path === undefined || e.path === path);
}

test('the plan knows the exact size; write produces exactly that many bytes', async () => {
  for (const o of [{}, { fatBits: 16 as const }, { fatBits: 32 as const }, { size: 3 << 20 }, { size: 1440 * 1024 }]) {
    const plan = await planFat(tree(), { ...EPOCH, ...o });
    assert.equal(plan.needsSeekableSink, false);
    assert.deepEqual(plan.codecs, []);
    const sink = new MemorySink();
    const r = await plan.write(sink);
    assert.equal(sink.position, plan.sizeBytes, JSON.stringify(o));
    assert.equal(r.bytes, plan.sizeBytes);
    assert.equal(plan.sizeBytes, plan.geometry.imageBytes);
    assert.equal(plan.usedClusters + plan.freeClusters, plan.geometry.clusterCount);
    assert.ok(plan.minSizeBytes <= plan.sizeBytes);
  }
});

test('the writer starts where the sink is: after 4096 bytes of something else, and inside a subSink', async () => {
  const alone = await image();
  const after = new MemorySink();
  await after.write(new Uint8Array(4096).fill(0xee));
  await writeFat(tree(), after, EPOCH);
  assert.deepEqual(after.bytes().subarray(4096), alone);
  assert.ok(after.bytes().subarray(0, 4096).every((b) => b === 0xee));

  const disk = new MemorySink();
  const plan = await planFat(tree(), EPOCH);
  await disk.write(new Uint8Array(1 << 20 + 1 + plan.sizeBytes).fill(0));
  await plan.write(subSink(disk, 1 << 20, plan.sizeBytes, 'partition 1'));
  assert.deepEqual(disk.bytes().subarray(1 << 20, (1 << 20) + plan.sizeBytes), alone);
});

test('same bytes every time, and through a non-seekable Web stream as through memory', async () => {
  const a = await image({ label: 'ESP' });
  const b = await image({ label: 'ESP' });
  assert.deepEqual(a, b);
  const chunks: Uint8Array[] = [];
  const ws = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c) });
  const sink = new WebStreamSink(ws);
  await writeFat(tree(), sink, { ...EPOCH, label: 'ESP' });
  await sink.close();
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(a));
});

test('volume id: derived from epoch and label unless given', async () => {
  const id = (o: PlanFatOptions) => planFat(tree(), { ...EPOCH, ...o }).then((p) => p.volumeId);
  assert.equal(await id({ label: 'A' }), await id({ label: 'A' }));
  assert.notEqual(await id({ label: 'A' }), await id({ label: 'B' }));
  assert.notEqual(await id({ label: 'A', epoch: 1 }), await id({ label: 'A', epoch: 2 }));
  assert.equal(await id({ volumeId: 0x1234abcd }), 0x1234abcd);
  const img = await image({ volumeId: 0xcafe0001, label: 'MYLABEL' });
  const bs = BootSector16.decode(img);
  assert.equal(bs.volumeId, 0xcafe0001);
  assert.equal(bs.volumeLabel, 'MYLABEL');
});

test('labels: mkfs.fat\'s rules (11 characters, no leading space, none of *?.,;:/\\|+=<>[]")', async () => {
  for (const bad of ['TWELVE_CHARS', ' LEAD', 'A.B', 'A*B', 'A:B', 'tab\t', 'Ü']) {
    await assert.rejects(planFat(tree(), { label: bad }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_OPTION && e.field === 'label', bad);
  }
  await planFat(tree(), { label: 'lower case!' });
});

test('a size too small: E_NO_SPACE saying how many bytes the tree needs; nothing written', async () => {
  const auto = await planFat(tree(), EPOCH);
  await assert.rejects(planFat(tree(), { ...EPOCH, size: 64 * 1024 }), (e: unknown) => {
    assert.ok(e instanceof ImgkitError && e.code === ErrorCodes.NO_SPACE && e.field === 'size', String(e));
    assert.ok(e.detail.includes(`${auto.sizeBytes} bytes`), e.detail);
    return true;
  });
  await assert.rejects(planFat(tree(), { size: 1000 }), isError(ErrorCodes.BAD_OPTION));
  // No FAT16 is that small (mkfs.fat needs 4087 clusters): the smallest that holds the tree is named.
  const fat16 = await planFat(tree(), { ...EPOCH, fatBits: 16 });
  await assert.rejects(planFat(tree(), { ...EPOCH, size: 4 << 20, fatBits: 16 }), (e: unknown) => isError(ErrorCodes.NO_SPACE)(e) && (e as ImgkitError).detail.includes(`${fat16.sizeBytes} bytes`));
  // Room enough, but mkfs.fat makes no FAT12 of 1 GiB (more than 4084 clusters of 64 KiB): a usage error.
  await assert.rejects(planFat(tree(), { size: 1 << 30, fatBits: 12 }), isError(ErrorCodes.BAD_OPTION));
});

test('automatic size: the smallest, plus the margin asked for', async () => {
  const plain = await planFat(tree(), EPOCH);
  assert.equal(plain.sizeBytes % 1024, 0);
  const withBytes = await planFat(tree(), { ...EPOCH, margin: 1 << 20 });
  assert.ok(withBytes.freeClusters * withBytes.clusterBytes >= 1 << 20);
  const withPercent = await planFat(tree(), { ...EPOCH, margin: '100%' });
  assert.ok(withPercent.freeClusters >= withPercent.usedClusters, `${withPercent.freeClusters} free, ${withPercent.usedClusters} used`);
  await assert.rejects(planFat(tree(), { margin: 'lots' as `${number}%` }), isError(ErrorCodes.BAD_OPTION));
});

test('FAT32 asked for: an automatic size has at least 65525 clusters; a small size given is written with a warning', async () => {
  const p = await planFat(tree(), { ...EPOCH, fatBits: 32 });
  assert.equal(p.fatBits, 32);
  assert.ok(p.geometry.clusterCount >= MIN_CLUSTERS_32);
  const warnings: ImgkitWarning[] = [];
  const small = await planFat(tree(), { ...EPOCH, fatBits: 32, size: 4 << 20, onWarning: (w) => warnings.push(w) });
  assert.ok(small.geometry.clusterCount < MIN_CLUSTERS_32);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0]!.code, ErrorCodes.BAD_OPTION);
  await assert.rejects(planFat(tree(), { ...EPOCH, fatBits: 32, size: 4 << 20, strict: true }), isError(ErrorCodes.BAD_OPTION));
  const img = await image({ fatBits: 32 });
  assert.equal(BootSector32.decode(img).rootCluster, 2);
});

test('a file over 4 GiB − 1 is refused naming it (its content is never read)', async () => {
  const never = () => {
    throw new Error('read');
  };
  const big: MemoryEntryInit = { path: 'big/disk.img', kind: 'file', size: 2 ** 32, content: never };
  await assert.rejects(planFat(tree([big]), EPOCH), isError(ErrorCodes.FIELD_RANGE, 'big/disk.img'));
  // 4 GiB − 1 is fine to plan.
  const p = await planFat(tree([{ ...big, size: 2 ** 32 - 1 }]), EPOCH);
  assert.ok(p.sizeBytes > 2 ** 32);
});

test('names FAT cannot hold are refused naming the path; --invalid-names replace maps them with a warning', async () => {
  for (const name of ['a:b', 'what?', 'star*', 'pipe|x', 'q"x', 'lt<', 'gt>', 'back\\slash', 'trailing.', 'trailing ']) {
    await assert.rejects(planFat(tree([{ path: `dir/${name}`, kind: 'file', content: 'x' }]), EPOCH), isError(ErrorCodes.NAME_UNENCODABLE, `dir/${name}`), name);
  }
  await assert.rejects(planFat(tree([{ path: 'n'.repeat(256), kind: 'file' }]), EPOCH), isError(ErrorCodes.NAME_TOO_LONG, 'n'.repeat(256)));
  const warnings: ImgkitWarning[] = [];
  const dir: MemoryEntryInit = { path: 'dir', kind: 'dir', mtime: T };
  const p = await planFat(tree([dir, { path: 'dir/a:b', kind: 'file', content: 'x', mtime: T }, { path: 'dir/end.', kind: 'file', content: 'y', mtime: T }]), { ...EPOCH, invalidNames: 'replace', onWarning: (w) => warnings.push(w) });
  assert.equal(p.files, 6);
  assert.deepEqual(warnings.map((w) => [w.code, w.path]), [[ErrorCodes.NAME_UNENCODABLE, 'dir/a:b'], [ErrorCodes.NAME_UNENCODABLE, 'dir/end.']]);
  // Replacing can make two names one: refused, not overwritten.
  await assert.rejects(
    planFat(tree([{ path: 'a_b', kind: 'file', mtime: T }, { path: 'a:b', kind: 'file', mtime: T }]), { ...EPOCH, invalidNames: 'replace' }),
    isError(ErrorCodes.NAME_COLLISION),
  );
  await assert.rejects(planFat(tree([dir, { path: 'dir/a:b', kind: 'file', mtime: T }]), { ...EPOCH, invalidNames: 'replace', strict: true }), isError(ErrorCodes.NAME_UNENCODABLE, 'dir/a:b'));
});

test('two names that differ only in case are one name on FAT: E_NAME_COLLISION', async () => {
  await assert.rejects(planFat(tree([{ path: 'readme.txt', kind: 'file', content: 'x' }]), EPOCH), isError(ErrorCodes.NAME_COLLISION, 'readme.txt'));
  await assert.rejects(planFat(tree([{ path: 'efi', kind: 'dir' }]), EPOCH), isError(ErrorCodes.NAME_COLLISION));
});

test('device nodes, fifos and sockets are refused naming the path', async () => {
  for (const e of [
    { path: 'dev/console', kind: 'char', rdev: 0x501 },
    { path: 'dev/sda', kind: 'block', rdev: 0x800 },
    { path: 'run/fifo', kind: 'fifo' },
    { path: 'run/sock', kind: 'socket' },
  ] as MemoryEntryInit[]) {
    await assert.rejects(planFat(tree([e]), EPOCH), isError(ErrorCodes.UNSUPPORTED_ENTRY, e.path), e.path);
  }
});

test('symbolic links: refused by default; followed inside the tree on request (files and directories copied)', async () => {
  const links: MemoryEntryInit[] = [
    { path: 'boot/vmlinuz', kind: 'symlink', linkTarget: 'vmlinuz-6.1' },
    { path: 'boot/vmlinuz-6.1', kind: 'file', content: 'kernel', mtime: T },
    { path: 'boot/cfg', kind: 'symlink', linkTarget: '../EFI/./BOOT' },
    { path: 'chain', kind: 'symlink', linkTarget: 'boot/vmlinuz' },
  ];
  await assert.rejects(planFat(tree(links), EPOCH), isError(ErrorCodes.UNSUPPORTED_ENTRY, 'boot/cfg'));
  const base = await planFat(tree(), { ...EPOCH, size: 4 << 20 });
  const p = await planFat(tree(links), { ...EPOCH, symlinks: 'follow', size: 4 << 20 });
  // vmlinuz-6.1 + its 2 copies (link, chain) + a copy of EFI/BOOT (a directory with one file).
  assert.equal(p.files, base.files + 3 + 1);
  assert.equal(p.directories, base.directories + 1 + 1);
  const cluster = p.clusterBytes;
  assert.equal(p.usedClusters, base.usedClusters + 3 + 1 + Math.ceil(70_000 / cluster) + 1);
});

test('symbolic links that lead outside the tree, nowhere, or around in circles are refused naming the link', async () => {
  const cases: [MemoryEntryInit[], string][] = [
    [[{ path: 'up', kind: 'symlink', linkTarget: '../outside' }], 'up'],
    [[{ path: 'abs', kind: 'symlink', linkTarget: '/etc/hostname' }], 'abs'],
    [[{ path: 'd/dangling', kind: 'symlink', linkTarget: 'nowhere' }], 'd/dangling'],
    [[{ path: 'loop1', kind: 'symlink', linkTarget: 'loop2' }, { path: 'loop2', kind: 'symlink', linkTarget: 'loop1' }], 'loop1'],
    [[{ path: 'd/self', kind: 'symlink', linkTarget: '..' }], 'd/self'],
    [[{ path: 'x/toy', kind: 'symlink', linkTarget: '../y' }, { path: 'y/tox', kind: 'symlink', linkTarget: '../x' }], 'y/tox'],
    [[{ path: 'f', kind: 'file', content: 'x' }, { path: 'through', kind: 'symlink', linkTarget: 'f/g' }], 'through'],
  ];
  for (const [extra, path] of cases) {
    await assert.rejects(planFat(tree(extra), { ...EPOCH, symlinks: 'follow' }), isError(ErrorCodes.UNSUPPORTED_ENTRY, path), path);
  }
});

test('hard links become copies (FAT cannot share clusters)', async () => {
  const data = new Uint8Array(10_000).fill(1);
  const one = await planFat(tree([{ path: 'h/a', kind: 'file', content: data }]), { ...EPOCH, size: 4 << 20 });
  const three = await planFat(
    tree([{ path: 'h/a', kind: 'file', content: data }, { path: 'h/b', kind: 'file', hardLinkTo: 'h/a' }, { path: 'h/c/d', kind: 'file', hardLinkTo: 'h/a' }]),
    { ...EPOCH, size: 4 << 20 },
  );
  const per = Math.ceil(10_000 / one.clusterBytes);
  assert.equal(three.usedClusters, one.usedClusters + 2 * per + 1);
});

test('a directory needing more than 65536 entries is refused naming it', async () => {
  const many: MemoryEntryInit[] = Array.from({ length: 22_000 }, (_, i) => ({ path: `big/a long name number ${i}`, kind: 'file' }));
  await assert.rejects(planFat(tree(many), EPOCH), isError(ErrorCodes.FIELD_RANGE, 'big'));
});

test('a file that grows or shrinks after the plan: E_SOURCE_CHANGED naming it', async () => {
  const liar = (n: number): MemoryEntryInit => ({
    path: 'liar',
    kind: 'file',
    size: 100,
    content: async function* () {
      yield new Uint8Array(n);
    },
  });
  for (const n of [50, 150]) {
    const plan = await planFat(tree([liar(n)]), EPOCH);
    await assert.rejects(plan.write(new MemorySink()), isError(ErrorCodes.SOURCE_CHANGED, 'liar'));
  }
});

test('a Node source file (read straight into the output buffer) that grows or shrinks after the plan: E_SOURCE_CHANGED', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgkit-fat-changed-'));
  try {
    // (A file empty at the plan is not opened again: it is stored empty, as planned.)
    for (const [planned, now] of [[1000, 1001], [1000, 999], [5 << 20, (5 << 20) + 1], [5 << 20, 100], [2047, 2048], [1 << 20, (1 << 20) + 1]]) {
      writeFileSync(join(dir, 'f'), new Uint8Array(planned!).fill(7));
      const plan = await planFat(nodeSource(dir), EPOCH);
      writeFileSync(join(dir, 'f'), new Uint8Array(now!).fill(7));
      await assert.rejects(plan.write(new MemorySink()), isError(ErrorCodes.SOURCE_CHANGED, 'f'), `${planned} → ${now}`);
    }
    // Unchanged, the same plan writes; and the file's bytes are in the image.
    writeFileSync(join(dir, 'f'), new Uint8Array(3000).fill(9));
    const sink = new MemorySink();
    await (await planFat(nodeSource(dir), EPOCH)).write(sink);
    assert.ok(Buffer.from(sink.bytes()).includes(Buffer.alloc(3000, 9)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('times outside 1980–2107 are stored at the nearest end, with a warning; newer than the epoch: clamped', async () => {
  const warnings: ImgkitWarning[] = [];
  await planFat(tree([{ path: 'old', kind: 'file', mtime: 100 }]), { ...EPOCH, onWarning: (w) => warnings.push(w) });
  assert.deepEqual(warnings.map((w) => [w.code, w.path]), [[ErrorCodes.FIELD_RANGE, 'old']]);
  const a = await image({}, [{ path: 'new', kind: 'file', content: 'n', mtime: T + 5000 }]);
  const b = await image({}, [{ path: 'new', kind: 'file', content: 'n', mtime: T + 9000 }]);
  assert.deepEqual(a, b, 'both clamped to the epoch');
});
