import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { collectBytes, devMajor, devMinor, readChecked, type SourceEntry, type SourceTree } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { letOthersReachRepo, tempDir } from '../../../test/lib/tools.ts';

// Local helpers (test/lib/ is owned by another helper; these stay tiny).
async function entries(tree: SourceTree): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  for await (const e of tree.walk()) out.push(e);
  return out;
}
async function rejectsCode(p: Promise<unknown>, code: string, pathValue?: string): Promise<void> {
  await assert.rejects(p, (err: { code?: string; path?: string }) => {
    assert.equal(err.code, code);
    if (pathValue !== undefined) assert.equal(err.path, pathValue);
    return true;
  });
}
function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

test('walk order: root first, pre-order, children by UTF-8 bytes (not UTF-16, not whole-path order)', async () => {
  const d = await tempDir('order');
  // U+FF71 sorts before U+1F600 in UTF-8 (EF.. < F0..) but after it in UTF-16 (FF71 > D83D).
  await fsp.mkdir(path.join(d, 'a/b'), { recursive: true });
  for (const f of ['a-b', 'a.c', 'B', 'a/A', 'a/b-c', 'a/b/x', '\u{1F600}', '\uFF71', 'é', 'z']) await fsp.writeFile(path.join(d, f), f);
  const order = (await entries(nodeSource(d))).map((e) => e.path);
  assert.deepEqual(order, ['', 'B', 'a', 'a/A', 'a/b', 'a/b/x', 'a/b-c', 'a-b', 'a.c', 'z', 'é', '\uFF71', '\u{1F600}']);
});

test('metadata: kinds, modes with set-id bits, owners, floor-second mtimes, symlink sizes, devices', async () => {
  const d = await tempDir('meta');
  await fsp.writeFile(path.join(d, 'suid'), 'x');
  await fsp.chown(path.join(d, 'suid'), 1234, 5678); // before chmod: chown clears set-id bits
  await fsp.chmod(path.join(d, 'suid'), 0o4755);
  await fsp.mkdir(path.join(d, 'sticky'));
  await fsp.chmod(path.join(d, 'sticky'), 0o1777);
  await fsp.utimes(path.join(d, 'suid'), 1_000_000_000.7, 1_000_000_000.7);
  await fsp.writeFile(path.join(d, 'old'), '');
  sh('touch', ['-h', '-m', '-d', '@-1.5', path.join(d, 'old')]); // Node's utimes takes no times before 1970
  await fsp.symlink('tärget/ü', path.join(d, 'link'));
  sh('mknod', [path.join(d, 'null'), 'c', '1', '3']);
  sh('mknod', [path.join(d, 'loop9'), 'b', '7', '300']);
  sh('mkfifo', [path.join(d, 'fifo')]);
  const server = net.createServer();
  await new Promise<void>((res) => server.listen(path.join(d, 'sock'), res));
  try {
    const es = new Map((await entries(nodeSource(d))).map((e) => [e.path, e]));
    assert.equal(es.get('')!.kind, 'dir');
    const suid = es.get('suid')!;
    assert.deepEqual([suid.kind, suid.mode, suid.uid, suid.gid, suid.mtime, suid.size], ['file', 0o4755, 1234, 5678, 1_000_000_000, 1]);
    assert.equal(es.get('old')!.mtime, -2);
    assert.deepEqual([es.get('sticky')!.kind, es.get('sticky')!.mode], ['dir', 0o1777]);
    const link = es.get('link')!;
    assert.deepEqual([link.kind, link.linkTarget, link.size], ['symlink', 'tärget/ü', Buffer.byteLength('tärget/ü')]);
    const nul = es.get('null')!;
    assert.deepEqual([nul.kind, devMajor(nul.rdev!), devMinor(nul.rdev!), nul.size], ['char', 1, 3, 0]);
    const blk = es.get('loop9')!;
    assert.deepEqual([blk.kind, devMajor(blk.rdev!), devMinor(blk.rdev!)], ['block', 7, 300]);
    assert.equal(blk.rdev, Number(fs.lstatSync(path.join(d, 'loop9'), { bigint: true }).rdev));
    assert.equal(es.get('fifo')!.kind, 'fifo');
    assert.equal(es.get('sock')!.kind, 'socket');
    assert.deepEqual(await collectBytes(es.get('fifo')!.read()), new Uint8Array(0)); // never opened
  } finally {
    server.close();
  }
});

test('hard links: later names point to the first name in walk order; directories never', async () => {
  const d = await tempDir('links');
  await fsp.mkdir(path.join(d, 'z'));
  await fsp.writeFile(path.join(d, 'z/orig'), 'shared');
  await fsp.link(path.join(d, 'z/orig'), path.join(d, 'b'));
  await fsp.link(path.join(d, 'z/orig'), path.join(d, 'y'));
  await fsp.mkdir(path.join(d, 'c'));
  await fsp.writeFile(path.join(d, 'd'), 'second group');
  await fsp.link(path.join(d, 'd'), path.join(d, 'c/deep')); // c/deep precedes d in walk order (pre-order)
  await fsp.writeFile(path.join(d, 'single'), 's');
  await fsp.symlink('single', path.join(d, 'sl'));
  await fsp.link(path.join(d, 'sl'), path.join(d, 'sl2')); // hard link to a symlink (Linux link() does not follow)
  const es = await entries(nodeSource(d));
  const by = new Map(es.map((e) => [e.path, e]));
  assert.equal(by.get('b')!.hardLinkTo, undefined); // 'b' comes first in walk order
  assert.equal(by.get('y')!.hardLinkTo, 'b');
  assert.equal(by.get('z/orig')!.hardLinkTo, 'b');
  assert.equal(by.get('c/deep')!.hardLinkTo, undefined);
  assert.equal(by.get('d')!.hardLinkTo, 'c/deep');
  assert.equal(by.get('single')!.hardLinkTo, undefined);
  assert.equal(by.get('sl')!.hardLinkTo, undefined);
  assert.equal(by.get('sl2')!.hardLinkTo, 'sl');
  assert.equal(by.get('z')!.hardLinkTo, undefined);
  // Later names still carry size and content.
  assert.equal(by.get('y')!.size, 6);
  assert.equal(Buffer.from(await collectBytes(by.get('y')!.read())).toString(), 'shared');
});

test('symlink loops and symlinks to directories are entries, never followed', async () => {
  const d = await tempDir('loops');
  await fsp.mkdir(path.join(d, 'dir'));
  await fsp.writeFile(path.join(d, 'dir/f'), 'f');
  await fsp.symlink('l2', path.join(d, 'l1'));
  await fsp.symlink('l1', path.join(d, 'l2'));
  await fsp.symlink('self', path.join(d, 'self'));
  await fsp.symlink('.', path.join(d, 'dot'));
  await fsp.symlink('dir', path.join(d, 'todir'));
  await fsp.symlink('/nonexistent/x', path.join(d, 'dangling'));
  const es = await entries(nodeSource(d));
  assert.deepEqual(
    es.map((e) => [e.path, e.kind]),
    [['', 'dir'], ['dangling', 'symlink'], ['dir', 'dir'], ['dir/f', 'file'], ['dot', 'symlink'], ['l1', 'symlink'], ['l2', 'symlink'], ['self', 'symlink'], ['todir', 'symlink']],
  );
});

test('content streams in chunks of at most 1 MiB and matches the file', async () => {
  const d = await tempDir('content');
  const data = new Uint8Array(3 * 1024 * 1024 + 12345);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  await fsp.writeFile(path.join(d, 'big'), data);
  await fsp.writeFile(path.join(d, 'empty'), '');
  const es = new Map((await entries(nodeSource(d, { chunkSize: 256 * 1024 }))).map((e) => [e.path, e]));
  const sizes: number[] = [];
  const h = createHash('sha256');
  for await (const c of readChecked(es.get('big')!, 'test')) {
    sizes.push(c.byteLength);
    h.update(c);
  }
  assert.ok(sizes.every((s) => s <= 256 * 1024));
  assert.equal(sizes.length, Math.ceil(data.length / (256 * 1024)));
  assert.equal(h.digest('hex'), createHash('sha256').update(data).digest('hex'));
  assert.equal((await collectBytes(readChecked(es.get('empty')!, 'test'))).byteLength, 0);
});

test('exclude drops an entry and its subtree', async () => {
  const d = await tempDir('exclude');
  await fsp.mkdir(path.join(d, 'skip/deep'), { recursive: true });
  await fsp.writeFile(path.join(d, 'skip/deep/f'), '');
  await fsp.writeFile(path.join(d, 'keep'), '');
  const es = await entries(nodeSource(d, { exclude: (p) => p === 'skip' }));
  assert.deepEqual(es.map((e) => e.path), ['', 'keep']);
});

test('a missing root or a root that is not a directory is E_SOURCE_MISSING naming it', async () => {
  const d = await tempDir('missing');
  const missing = path.join(d, 'nope');
  await rejectsCode(entries(nodeSource(missing)), 'E_SOURCE_MISSING', missing);
  await fsp.writeFile(path.join(d, 'file'), '');
  await rejectsCode(entries(nodeSource(path.join(d, 'file'))), 'E_SOURCE_MISSING', path.join(d, 'file'));
  await fsp.symlink(d, path.join(d, 'rootlink'));
  await rejectsCode(entries(nodeSource(path.join(d, 'rootlink'))), 'E_SOURCE_MISSING');
});

for (const io of ['sync', 'async'] as const) test(`io '${io}': a file that changes between walk and read is E_SOURCE_CHANGED naming it`, async () => {
  const d = await tempDir('changed');
  for (const f of ['grows', 'shrinks', 'vanishes', 'becomes-dir', 'becomes-link']) await fsp.writeFile(path.join(d, f), '12345');
  const es = new Map((await entries(nodeSource(d, { io }))).map((e) => [e.path, e]));
  await fsp.appendFile(path.join(d, 'grows'), 'more');
  await fsp.writeFile(path.join(d, 'shrinks'), '1');
  await fsp.rm(path.join(d, 'vanishes'));
  await fsp.rm(path.join(d, 'becomes-dir'));
  await fsp.mkdir(path.join(d, 'becomes-dir'));
  await fsp.rm(path.join(d, 'becomes-link'));
  await fsp.symlink('grows', path.join(d, 'becomes-link'));
  for (const f of ['grows', 'shrinks', 'vanishes', 'becomes-dir', 'becomes-link']) {
    await rejectsCode(collectBytes(readChecked(es.get(f)!, 'test')), 'E_SOURCE_CHANGED', f);
  }
});

test('a name that is not valid UTF-8 is E_NAME_UNENCODABLE naming it', async () => {
  const d = await tempDir('latin1');
  await fsp.mkdir(path.join(d, 'sub'));
  fs.writeFileSync(Buffer.concat([Buffer.from(path.join(d, 'sub') + '/caf'), Buffer.from([0xe9])]), 'x');
  await rejectsCode(entries(nodeSource(d)), 'E_NAME_UNENCODABLE', 'sub/caf\\xe9');
  // Excluding its directory avoids it.
  assert.deepEqual((await entries(nodeSource(d, { exclude: (p) => p === 'sub' }))).map((e) => e.path), ['']);
});

test('unreadable files and directories are E_SOURCE_UNREADABLE naming them, io sync and async (as uid 65534 when root)', async () => {
  const d = await tempDir('perm');
  await fsp.chmod(d, 0o755);
  await fsp.mkdir(path.join(d, 'tree/locked'), { recursive: true });
  await fsp.writeFile(path.join(d, 'tree/locked/f'), '');
  await fsp.chmod(path.join(d, 'tree/locked'), 0o700);
  await fsp.mkdir(path.join(d, 'tree2'));
  await fsp.writeFile(path.join(d, 'tree2/secret'), 'x');
  await fsp.chmod(path.join(d, 'tree2/secret'), 0o600);
  // Root bypasses permission bits, so the walk runs in a child that drops to nobody.
  const drop = process.getuid?.() === 0 ? 'process.setgid(65534); process.setuid(65534);' : '';
  if (drop) letOthersReachRepo();
  const script = `
    ${drop}
    const { nodeSource } = await import('@imgkit/core/node');
    const out = [];
    for (const io of ['sync', 'async'])
    for (const root of ${JSON.stringify([path.join(d, 'tree'), path.join(d, 'tree2')])}) {
      try { for await (const e of nodeSource(root, { io }).walk()) {} out.push('ok'); }
      catch (e) { out.push(e.code + ' ' + e.path); }
    }
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.resolve(import.meta.dirname, '..'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), ['E_SOURCE_UNREADABLE locked', 'E_SOURCE_UNREADABLE secret', 'E_SOURCE_UNREADABLE locked', 'E_SOURCE_UNREADABLE secret']);
});

test("io 'sync' and 'async' walk the same entries and read the same bytes; sync entries say syncRead", async () => {
  const d = await tempDir('io-modes');
  await fsp.mkdir(path.join(d, 'small'));
  // 40 files of 40 000 bytes: more than one 1 MiB slab of the sync reader
  for (let i = 0; i < 40; i++) await fsp.writeFile(path.join(d, `small/f${String(i).padStart(2, '0')}`), Buffer.alloc(40_000, i + 1));
  await fsp.writeFile(path.join(d, 'tiny'), 'x');
  await fsp.writeFile(path.join(d, 'empty'), '');
  const big = new Uint8Array(2 * 1024 * 1024 + 3);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  await fsp.writeFile(path.join(d, 'big'), big);
  await fsp.link(path.join(d, 'tiny'), path.join(d, 'tiny-link'));
  await fsp.symlink('small/f00', path.join(d, 'sym'));
  sh('mkfifo', [path.join(d, 'fifo')]);
  const describe = async (io: 'sync' | 'async') => {
    const out: unknown[] = [];
    for (const e of await entries(nodeSource(d, { io }))) {
      const data = e.kind === 'file' ? createHash('sha256').update(await collectBytes(readChecked(e, 'test'))).digest('hex') : null;
      out.push({ path: e.path, kind: e.kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.size, linkTarget: e.linkTarget, rdev: e.rdev, hardLinkTo: e.hardLinkTo, data });
      if (e.kind === 'file') assert.equal(e.syncRead, io === 'sync' ? true : undefined, `${io} ${e.path}: syncRead`);
    }
    return out;
  };
  const sync = await describe('sync');
  assert.deepEqual(await describe('async'), sync);
  assert.equal(sync.length, 1 + 1 + 40 + 6);
  assert.throws(() => nodeSource(d, { io: 'threads' as 'sync' }), { code: 'E_BAD_OPTION', field: 'nodeSource.io' });
});

test('sync reads: chunks of small files are never overwritten while a consumer holds them all', async () => {
  const d = await tempDir('slab');
  const expect = new Map<string, string>();
  for (let i = 0; i < 120; i++) {
    const body = Buffer.alloc(1000 + ((i * 7919) % 60_000), i); // 1 000 … 61 000 bytes: several slabs
    await fsp.writeFile(path.join(d, `f${String(i).padStart(3, '0')}`), body);
    expect.set(`f${String(i).padStart(3, '0')}`, createHash('sha256').update(body).digest('hex'));
  }
  const held = new Map<string, Uint8Array[]>();
  for (const e of await entries(nodeSource(d))) {
    if (e.kind !== 'file') continue;
    const chunks: Uint8Array[] = [];
    for await (const c of e.read()) chunks.push(c);
    held.set(e.path, chunks);
  }
  assert.equal(held.size, 120);
  for (const [p, chunks] of held) {
    const h = createHash('sha256');
    for (const c of chunks) h.update(c);
    assert.equal(h.digest('hex'), expect.get(p), `${p}: content after all reads`);
  }
});

test('sparse files: dataRanges() finds the data in 1 KiB granules (sync and async io); dense files have none', async () => {
  const dir = await tempDir('imgkit-sparse-');
  const sparse = path.join(dir, 'sparse');
  const fd = fs.openSync(sparse, 'w');
  // data at 0 (10 bytes), across the 64 KiB … 64 KiB + 8 KiB boundary, and one byte at the end
  fs.writeSync(fd, Buffer.alloc(10, 1), 0, 10, 0);
  fs.writeSync(fd, Buffer.alloc(8192, 2), 0, 8192, 65536 + 100);
  const size = 48 * 1024 * 1024 + 5;
  fs.writeSync(fd, Buffer.from([3]), 0, 1, size - 1);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(dir, 'dense'), Buffer.alloc(20000, 7));
  const { blocks } = fs.statSync(sparse);
  assert.ok(blocks * 512 < size, 'the test file is stored sparse on this file system');
  for (const io of ['sync', 'async'] as const) {
    const byPath = new Map<string, SourceEntry>();
    for await (const e of nodeSource(dir, { io }).walk()) byPath.set(e.path, e);
    assert.equal(byPath.get('dense')!.dataRanges, undefined, 'a file with all its blocks allocated has no data ranges');
    const ranges = await byPath.get('sparse')!.dataRanges!();
    assert.deepEqual(ranges, [
      { offset: 0, length: 1024 },
      { offset: 65536, length: 9216 }, // bytes 65636 … 73827: granules 64 … 72
      { offset: size - 1 - ((size - 1) % 1024), length: ((size - 1) % 1024) + 1 },
    ], io);
  }
});
