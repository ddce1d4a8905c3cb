import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CODEC_LEVELS, ErrorCodes, ImgkitError, MemorySink, abbreviate, makeDev, memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { CPIO_LEVELS, CPIO_PATH_MAX, decodeCpio, writeCpio, type CpioOptions } from '@imgkit/cpio';
import '@imgkit/core/node'; // the xz codec's wasm from the package files
import { requireTool, run } from '../../../test/lib/tools.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

const TREE: MemoryEntryInit[] = [
  { path: 'bin', kind: 'dir', mtime: 100 },
  { path: 'bin/sh', kind: 'symlink', linkTarget: 'busybox', mtime: 101 },
  { path: 'bin/busybox', kind: 'file', mode: 0o755, content: 'ELF…', mtime: 102 },
  { path: 'dev/console', kind: 'char', mode: 0o600, rdev: makeDev(5, 1) },
  { path: 'dev/sda', kind: 'block', mode: 0o660, gid: 6, rdev: makeDev(8, 0) },
  { path: 'dev/wide', kind: 'char', rdev: makeDev(300, 70000) },
  { path: 'run/fifo', kind: 'fifo', mode: 0o600 },
  { path: 'run/sock', kind: 'socket', mode: 0o755 },
  { path: 'a', kind: 'file', content: 'linked content', uid: 1000, gid: 100, mtime: 5000 },
  { path: 'b', kind: 'file', hardLinkTo: 'a', uid: 1000, gid: 100, mtime: 5000 },
  { path: 'c/d', kind: 'file', hardLinkTo: 'a', uid: 1000, gid: 100, mtime: 5000 },
  { path: 'empty', kind: 'file', content: '' },
  { path: 'new', kind: 'file', content: 'x', mtime: 9_000_000 },
];

async function build(entries: MemoryEntryInit[], opts: CpioOptions = {}): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeCpio(memoryTree(entries, { mode: 0o755, mtime: 50 }), sink, { compression: 'none', ...opts });
  return sink.bytes().slice();
}

test('writeCpio: every entry kind, root as ".", trailer, 4-byte alignment', async () => {
  const bytes = await build(TREE);
  const { entries, end } = decodeCpio(bytes);
  assert.equal(end, bytes.byteLength);
  assert.equal(bytes.byteLength % 4, 0);
  const names = entries.map((e) => e.name);
  assert.deepEqual(names, ['.', 'a', 'b', 'bin', 'bin/busybox', 'bin/sh', 'c', 'c/d', 'dev', 'dev/console', 'dev/sda', 'dev/wide', 'empty', 'new', 'run', 'run/fifo', 'run/sock', 'TRAILER!!!']);
  const by = new Map(entries.map((e) => [e.name, e]));
  assert.equal(by.get('.')!.mode, 0o040755);
  assert.equal(by.get('.')!.mtime, 50);
  assert.equal(by.get('bin/sh')!.mode, 0o120777);
  assert.equal(dec.decode(by.get('bin/sh')!.data), 'busybox');
  assert.equal(by.get('bin/busybox')!.mode, 0o100755);
  assert.equal(dec.decode(by.get('bin/busybox')!.data), 'ELF…');
  assert.deepEqual([by.get('dev/console')!.mode, by.get('dev/console')!.rdevmajor, by.get('dev/console')!.rdevminor], [0o020600, 5, 1]);
  assert.deepEqual([by.get('dev/sda')!.mode, by.get('dev/sda')!.rdevmajor, by.get('dev/sda')!.rdevminor, by.get('dev/sda')!.gid], [0o060660, 8, 0, 6]);
  assert.deepEqual([by.get('dev/wide')!.rdevmajor, by.get('dev/wide')!.rdevminor], [300, 70000]);
  assert.equal(by.get('run/fifo')!.mode, 0o010600);
  assert.equal(by.get('run/sock')!.mode, 0o140755);
  // directories: nlink = 2 + subdirectories ('.' has bin, c, dev, run)
  assert.equal(by.get('.')!.nlink, 6);
  assert.equal(by.get('bin')!.nlink, 2);
  const trailer = by.get('TRAILER!!!')!;
  assert.deepEqual([trailer.ino, trailer.mode, trailer.nlink, trailer.filesize], [0, 0, 1, 0]);
});

test('writeCpio: hard links share ino and nlink, data only on the last name', async () => {
  const { entries } = decodeCpio(await build(TREE));
  const by = new Map(entries.map((e) => [e.name, e]));
  const [a, b, d] = [by.get('a')!, by.get('b')!, by.get('c/d')!];
  assert.equal(a.ino, b.ino);
  assert.equal(a.ino, d.ino);
  assert.deepEqual([a.nlink, b.nlink, d.nlink], [3, 3, 3]);
  assert.deepEqual([a.filesize, b.filesize, d.filesize], [0, 0, 14]);
  assert.equal(dec.decode(d.data), 'linked content');
  // inode numbers: sequential in walk order, unique apart from links
  const inos = entries.filter((e) => e.name !== 'TRAILER!!!' && e.name !== 'b' && e.name !== 'c/d').map((e) => e.ino);
  assert.deepEqual(inos, inos.map((_, i) => i + 1));
});

test('writeCpio: mtimes clamped to the epoch', async () => {
  const { entries } = decodeCpio(await build(TREE, { epoch: 1_000_000 }));
  const by = new Map(entries.map((e) => [e.name, e]));
  assert.equal(by.get('new')!.mtime, 1_000_000);
  assert.equal(by.get('a')!.mtime, 5000);
});

test("writeCpio 'crc': magic 070702 and check = byte sum of the data", async () => {
  const { entries } = decodeCpio(await build(TREE, { format: 'crc' }));
  for (const e of entries) {
    assert.equal(e.magic, '070702');
    const isFile = (e.mode & 0o170000) === 0o100000;
    const sum = isFile ? e.data.reduce((s, x) => s + x, 0) >>> 0 : 0;
    assert.equal(e.check, sum, e.name);
  }
  const busybox = entries.find((e) => e.name === 'bin/busybox')!;
  assert.ok(busybox.check > 0);
});

test('writeCpio: same tree twice → same bytes', async () => {
  assert.deepEqual(await build(TREE), await build(TREE));
});

test('writeCpio: content streams chunk by chunk (a producer is read once, lazily)', async () => {
  let reads = 0;
  const chunk = new Uint8Array(100_000).fill(7);
  const bytes = await build([
    {
      path: 'big',
      kind: 'file',
      size: 1_000_000,
      content: async function* () {
        reads++;
        for (let i = 0; i < 10; i++) yield chunk;
      },
    },
  ]);
  assert.equal(reads, 1);
  const big = decodeCpio(bytes).entries.find((e) => e.name === 'big')!;
  assert.equal(big.filesize, 1_000_000);
  assert.ok(big.data.every((x) => x === 7));
});

test('writeCpio: early archive in front, uncompressed, padded to 512', async () => {
  const sink = new MemorySink();
  const early = memoryTree([{ path: 'kernel/x86/microcode/GenuineIntel.bin', kind: 'file', content: 'ucode' }]);
  await writeCpio(memoryTree(TREE), sink, { compression: 'none', early });
  const bytes = sink.bytes();
  const first = decodeCpio(bytes);
  assert.ok(first.entries.some((e) => e.name === 'kernel/x86/microcode/GenuineIntel.bin'));
  let at = first.end;
  while (bytes[at] === 0) at++;
  assert.equal(at % 512, 0);
  const second = decodeCpio(bytes, at);
  assert.ok(second.entries.some((e) => e.name === 'bin/busybox'));
});

function isErr(code: string, path?: string) {
  return (e: unknown) => e instanceof ImgkitError && e.code === code && (path === undefined || e.path === path);
}

test('writeCpio: a name over PATH_MAX → E_NAME_TOO_LONG with the path (its first 200 bytes: no Linux path is that long); exactly the limit works', async () => {
  // 16 components of 254 bytes and one of 15: 4095 bytes, 4096 with the NUL
  const ok = `${`${'d'.repeat(254)}/`.repeat(16)}${'f'.repeat(15)}`;
  assert.equal(enc.encode(ok).byteLength + 1, CPIO_PATH_MAX);
  const archive = decodeCpio(await build([{ path: ok, kind: 'file', content: 'x' }]));
  assert.ok(archive.entries.some((e) => e.name === ok));
  const bad = `${ok}g`;
  await assert.rejects(build([{ path: bad, kind: 'file', content: 'x' }]), isErr(ErrorCodes.NAME_TOO_LONG, abbreviate(bad, 200)));
  assert.ok(abbreviate(bad, 200).endsWith('… (4096 bytes)'));
});

test('writeCpio: a component of 256 bytes → E_NAME_TOO_LONG naming the path; 255 works (Linux NAME_MAX)', async () => {
  const ok = `dir/${'n'.repeat(255)}`;
  const archive = decodeCpio(await build([{ path: ok, kind: 'file', content: 'x' }]));
  assert.ok(archive.entries.some((e) => e.name === ok));
  for (const bad of [`dir/${'n'.repeat(256)}`, 'é'.repeat(128)]) {
    await assert.rejects(build([{ path: bad, kind: 'file', content: 'x' }]), (e: unknown) => isErr(ErrorCodes.NAME_TOO_LONG, bad)(e) && /256 bytes/.test((e as Error).message));
  }
});

test('writeCpio: a file of 4 GiB → E_FIELD_RANGE naming it, before anything is read', async () => {
  let read = false;
  const sink = new MemorySink();
  const tree = memoryTree([
    {
      path: 'huge',
      kind: 'file',
      size: 2 ** 32,
      content: async function* () {
        read = true;
        yield new Uint8Array(1);
      },
    },
  ]);
  await assert.rejects(writeCpio(tree, sink, { compression: 'none' }), isErr(ErrorCodes.FIELD_RANGE, 'huge'));
  assert.equal(read, false);
  assert.equal(sink.position, 0);
});

test('writeCpio: uid beyond 32 bits → E_FIELD_RANGE', async () => {
  await assert.rejects(build([{ path: 'f', kind: 'file', uid: 2 ** 32 }]), isErr(ErrorCodes.FIELD_RANGE, 'f'));
});

test('writeCpio: a file that shrinks while read → E_SOURCE_CHANGED', async () => {
  await assert.rejects(
    build([{ path: 'f', kind: 'file', size: 10, content: async function* () { yield new Uint8Array(5); } }]),
    isErr(ErrorCodes.SOURCE_CHANGED, 'f'),
  );
});

test('writeCpio: xattrs are dropped with a warning, or an error when strict', async () => {
  const entries: MemoryEntryInit[] = [{ path: 'f', kind: 'file', xattrs: [{ name: 'user.a', value: enc.encode('1') }] }];
  const warnings: string[] = [];
  await build(entries, { onWarning: (w) => warnings.push(`${w.code} ${w.path}`) });
  assert.deepEqual(warnings, ['E_UNSUPPORTED_ENTRY f']);
  await assert.rejects(build(entries, { strict: true }), isErr(ErrorCodes.UNSUPPORTED_ENTRY, 'f'));
});

test('writeCpio: a hard link to a name not walked before it → E_BAD_INPUT (never an empty file)', async () => {
  await assert.rejects(build([{ path: 'a', kind: 'file', hardLinkTo: 'z' }, { path: 'z', kind: 'file', content: 'data' }]), isErr(ErrorCodes.BAD_INPUT, 'a'));
  await assert.rejects(build([{ path: 'd', kind: 'dir' }, { path: 'e', kind: 'file', hardLinkTo: 'd' }]), isErr(ErrorCodes.BAD_INPUT, 'e'));
});

test('writeCpio: bad options → E_BAD_OPTION', async () => {
  await assert.rejects(build([], { compression: 'bz2' as never }), isErr(ErrorCodes.BAD_OPTION));
  await assert.rejects(build([], { format: 'odc' as never }), isErr(ErrorCodes.BAD_OPTION));
  await assert.rejects(build([], { epoch: -1 }), isErr(ErrorCodes.BAD_OPTION));
  // zstd above 19: windows over the kernel's 8 MiB (lib/decompress_unzstd.c); other codecs keep 0…22 checks
  for (const level of [20, 22]) {
    await assert.rejects(build([], { compression: 'zstd', level }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_OPTION && e.field === 'level' && /8 MiB/.test(e.message));
  }
});

test('writeCpio levels: CPIO_LEVELS per compression (zstd 1…19, xz 0…7, gzip 0…9); lz4 and none take none; all E_BAD_OPTION on "level"', async () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(CPIO_LEVELS).map(([k, r]) => [k, r && [r.min, r.max, r.default]])),
    { gzip: [0, 9, 6], zstd: [1, 19, 3], xz: [0, 7, 6], lz4: undefined, none: undefined },
  );
  assert.equal(CPIO_LEVELS.gzip, CODEC_LEVELS.gzip); // the codec's own table, not a copy
  const bad: [CpioOptions['compression'], number][] = [['lz4', 1], ['lz4', 9], ['none', 1], ['zstd', 0], ['zstd', 20], ['xz', 8], ['xz', 9], ['xz', 10], ['gzip', 10], ['gzip', -1]];
  for (const [compression, level] of bad) {
    await assert.rejects(build([], { compression: compression!, level }), isErr(ErrorCodes.BAD_OPTION), `${compression} ${level}`);
  }
  // the ends of each range write archives the real decompressors turn back into the plain archive
  const plain = Buffer.from(await build(TREE));
  const tools = { gzip: requireTool('gzip', 'gzip'), zstd: requireTool('zstd', 'zstd'), xz: requireTool('xz', 'xz-utils') };
  const ok: ['gzip' | 'zstd' | 'xz', number][] = [['gzip', 0], ['gzip', 9], ['zstd', 1], ['zstd', 19], ['xz', 0], ['xz', 7]];
  for (const [compression, level] of ok) {
    const out = await build(TREE, { compression, level });
    assert.ok((await run(tools[compression], ['-dc'], { input: out })).stdout.equals(plain), `${compression} ${level}`);
  }
});
