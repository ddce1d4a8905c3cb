/**
 * writeTar: pax headers where ustar cannot hold a name (over 100 bytes without a split point,
 * non-ASCII), a link target over 100 bytes, xattrs; hard links, devices, fifos; a socket skipped
 * with a warning (an error with strict); the archive padded to a 10 KiB record. Read back by GNU
 * tar (`--numeric-owner -tvv` listing and extraction) and compared with the tree.
 */
import assert from 'node:assert/strict';
import { readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MemorySink, memoryTree, makeDev, type ImgkitWarning } from '@imgkit/core';
import { writeTar } from '@imgkit/build';
import { requireTool, run, tempDir } from '../../../test/lib/tools.ts';

const longDir = 'd'.repeat(120);
const longName = `${'n'.repeat(110)}.txt`;
const tree = memoryTree(
  [
    { path: `${longDir}/file`, kind: 'file', content: 'in a long directory', mtime: 1000 },
    { path: `short/${longName}`, kind: 'file', content: 'long name', mtime: 1000 },
    { path: 'grüße/ä.txt', kind: 'file', content: 'utf-8', mtime: 1000, uid: 1000, gid: 100 },
    { path: 'link', kind: 'symlink', linkTarget: `/${'t'.repeat(150)}`, mtime: 1000 },
    { path: 'hard1', kind: 'file', content: 'shared', mtime: 1000 },
    { path: 'hard2', kind: 'file', hardLinkTo: 'hard1', content: 'shared', mtime: 1000 },
    { path: 'dev/sda', kind: 'block', rdev: makeDev(8, 0), mode: 0o660, mtime: 1000 },
    { path: 'dev/tty', kind: 'char', rdev: makeDev(5, 0), mode: 0o666, mtime: 1000 },
    { path: 'fifo', kind: 'fifo', mode: 0o600, mtime: 1000 },
    { path: 'sock', kind: 'socket', mtime: 1000 },
    { path: 'x', kind: 'file', content: 'xattr', mtime: 1000, xattrs: [{ name: 'user.note', value: new TextEncoder().encode('hello') }] },
  ],
  { mtime: 1000 },
);

test('GNU tar reads every entry: long and UTF-8 names, long link target, hard link, devices, fifo, xattr', async () => {
  const sink = new MemorySink();
  const warnings: ImgkitWarning[] = [];
  const r = await writeTar(tree, sink, { onWarning: (w) => warnings.push(w) });
  const bytes = sink.bytes();
  assert.equal(bytes.byteLength % 10240, 0, 'padded to a whole record');
  assert.equal(r.bytes, bytes.byteLength);
  assert.deepEqual(warnings.map((w) => [w.code, w.path]), [['E_UNSUPPORTED_ENTRY', 'sock']]);
  const dir = await tempDir('build-tar-unit');
  const file = join(dir, 'a.tar');
  await (await import('node:fs/promises')).writeFile(file, bytes);
  const tar = requireTool('tar', 'tar');
  const names = (await run(tar, ['-tf', file])).stdout.toString().trim().split('\n');
  assert.ok(names.includes(`./${longDir}/file`) && names.includes(`./short/${longName}`) && names.includes('./grüße/ä.txt'), names.join('\n'));
  assert.ok(!names.some((n) => n.includes('PaxHeaders')), 'pax headers are read as headers, not extracted as files');
  const x = join(dir, 'x');
  await (await import('node:fs/promises')).mkdir(x);
  await run(tar, ['-C', x, '--numeric-owner', '--xattrs', '--xattrs-include=user.*', '-xpf', file]);
  assert.equal(await readFile(join(x, longDir, 'file'), 'utf8'), 'in a long directory');
  assert.equal(await readFile(join(x, 'short', longName), 'utf8'), 'long name');
  const g = await stat(join(x, 'grüße/ä.txt'));
  assert.deepEqual([g.uid, g.gid, g.mtimeMs / 1000], [1000, 100, 1000]);
  assert.equal(await readlink(join(x, 'link')), `/${'t'.repeat(150)}`);
  assert.equal((await stat(join(x, 'hard1'))).ino, (await stat(join(x, 'hard2'))).ino);
  const sda = await stat(join(x, 'dev/sda'));
  assert.ok(sda.isBlockDevice());
  assert.equal(sda.rdev, makeDev(8, 0));
  assert.equal(sda.mode & 0o7777, 0o660);
  assert.ok((await stat(join(x, 'dev/tty'))).isCharacterDevice());
  assert.ok((await stat(join(x, 'fifo'))).isFIFO());
  const attr = await run('getfattr', ['--only-values', '-n', 'user.note', join(x, 'x')], { allowFail: true });
  assert.equal(attr.stdout.toString(), 'hello', `getfattr (attr): ${attr.stderr}`);
});

test('strict: a socket is an error naming it', async () => {
  await assert.rejects(writeTar(tree, new MemorySink(), { strict: true }), (e: unknown) => (e as { code?: string; path?: string }).code === 'E_UNSUPPORTED_ENTRY' && (e as { path?: string }).path === 'sock');
});
