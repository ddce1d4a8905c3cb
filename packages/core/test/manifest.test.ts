import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ImgkitError,
  applyManifest,
  collectBytes,
  devMajor,
  devMinor,
  memoryHostFiles,
  memoryTree,
  parseManifest,
  type ImgkitWarning,
  type SourceEntry,
  type SourceTree,
} from '@imgkit/core';
import { nodeHostFiles, nodeSource } from '@imgkit/core/node';
import { tempDir } from '../../../test/lib/tools.ts';

async function entries(tree: SourceTree): Promise<Map<string, SourceEntry>> {
  const out = new Map<string, SourceEntry>();
  for await (const e of tree.walk()) out.set(e.path, e);
  return out;
}
function syntaxError(text: string, line: number, field: string, code = 'E_MANIFEST_SYNTAX'): ImgkitError {
  let caught: unknown;
  assert.throws(
    () => parseManifest(text, 'list.txt'),
    (err: unknown) => {
      caught = err;
      assert.ok(err instanceof ImgkitError);
      assert.equal(err.code, code, text.slice(0, 100));
      assert.equal(err.line, line, text.slice(0, 100));
      assert.equal(err.field, field, text.slice(0, 100));
      assert.equal(err.path, 'list.txt');
      assert.ok(err.message.startsWith(`manifest: list.txt:${line}: `), err.message.slice(0, 200));
      return true;
    },
  );
  return caught as ImgkitError;
}

const KERNEL_EXAMPLE = `# A simple initramfs (gen_init_cpio usage example)
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /root 0700 0 0
dir /sbin 0755 0 0
file /sbin/kinit kinit.bin 0755 0 0

\tslink\t/bin\tsbin\t777\t0\t0
pipe /run/initctl 0600 0 0
sock /run/sock 0666 1 2
file /etc/passwd \${SRC}/passwd 0644 0 0 /etc/passwd-link  /etc/passwd2
xattr /sbin/kinit security.capability 0x0100000200100000
xattr /etc/passwd user.comment hello world
`;

test('parseManifest reads every gen_init_cpio line type, comments, blank lines and imgkit xattr lines', () => {
  const m = parseManifest(KERNEL_EXAMPLE, 'list.txt', { variables: { SRC: 'etc' } });
  assert.equal(m.fileName, 'list.txt');
  assert.deepEqual(
    m.entries.map((e) => [e.line, e.type, e.path]),
    [
      [2, 'dir', 'dev'],
      [3, 'nod', 'dev/console'],
      [4, 'dir', 'root'],
      [5, 'dir', 'sbin'],
      [6, 'file', 'sbin/kinit'],
      [8, 'slink', 'bin'],
      [9, 'pipe', 'run/initctl'],
      [10, 'sock', 'run/sock'],
      [11, 'file', 'etc/passwd'],
      [12, 'xattr', 'sbin/kinit'],
      [13, 'xattr', 'etc/passwd'],
    ],
  );
  const [dev, con, root, , kinit, bin, , sock, passwd, cap, comment] = m.entries;
  assert.deepEqual(dev, { type: 'dir', line: 2, path: 'dev', mode: 0o755, uid: 0, gid: 0 });
  assert.deepEqual(con, { type: 'nod', line: 3, path: 'dev/console', mode: 0o600, uid: 0, gid: 0, devType: 'c', major: 5, minor: 1 });
  assert.equal(root!.type === 'dir' && root!.mode, 0o700);
  assert.deepEqual(kinit, { type: 'file', line: 6, path: 'sbin/kinit', location: 'kinit.bin', mode: 0o755, uid: 0, gid: 0, hardLinks: [] });
  assert.deepEqual(bin, { type: 'slink', line: 8, path: 'bin', target: 'sbin', mode: 0o777, uid: 0, gid: 0 });
  assert.deepEqual(sock, { type: 'sock', line: 10, path: 'run/sock', mode: 0o666, uid: 1, gid: 2 });
  assert.deepEqual(passwd, { type: 'file', line: 11, path: 'etc/passwd', location: 'etc/passwd', mode: 0o644, uid: 0, gid: 0, hardLinks: ['etc/passwd-link', 'etc/passwd2'] });
  assert.deepEqual(cap, { type: 'xattr', line: 12, path: 'sbin/kinit', name: 'security.capability', value: new Uint8Array([1, 0, 0, 2, 0, 0x10, 0, 0]) });
  assert.deepEqual(comment, { type: 'xattr', line: 13, path: 'etc/passwd', name: 'user.comment', value: new TextEncoder().encode('hello world') });
});

test('parseManifest: syntax errors are E_MANIFEST_SYNTAX with the line number and the field', () => {
  syntaxError('dir /a 0755 0 0\nbogus /x 0755 0 0', 2, 'manifest.type');
  syntaxError('\n\ndir /a 0755 0', 3, 'manifest.dir');
  syntaxError('dir /a 0755 0 0 extra', 1, 'manifest.dir');
  syntaxError('dir /a 0758 0 0', 1, 'manifest.dir.mode');
  syntaxError('dir /a 0100755 0 0', 1, 'manifest.dir.mode'); // type bits come from the line, not the mode
  syntaxError('dir /a 0755 root 0', 1, 'manifest.dir.uid');
  syntaxError('nod /dev/x 0600 0 0 x 1 3', 1, 'manifest.nod.devType');
  syntaxError('nod /dev/x 0600 0 0 c 1', 1, 'manifest.nod');
  syntaxError('nod /dev/x 0600 0 0 c 1 9999999', 1, 'manifest.nod.minor');
  syntaxError('slink /a 0777 0 0', 1, 'manifest.slink');
  syntaxError('file /a', 1, 'manifest.file');
  syntaxError('dir /../etc 0755 0 0', 1, 'manifest.dir.name');
  syntaxError('xattr /a user.x 0xabc', 1, 'manifest.xattr.value');
  syntaxError('xattr /a nonamespace v', 1, 'manifest.xattr.key');
  syntaxError('file /a ${NOPE}/a 0644 0 0', 1, 'manifest.file.location', 'E_MANIFEST_REFERENCE');
});

test('parseManifest: Linux name limits (component 255, path 4095, symlink target 4095, xattr name 255 and value 64 KiB) → errors with line and field that quote at most 64 bytes', () => {
  const c255 = 'c'.repeat(255);
  const ok = parseManifest(`dir /${c255} 0755 0 0\nslink /${c255}/l ${'t'.repeat(4095)} 0777 0 0`);
  assert.deepEqual(ok.entries.map((e) => e.path), [c255, `${c255}/l`]);
  const huge = 'x'.repeat(2_000_000);
  const cases: [string, number, string, string][] = [
    [`dir /a 0755 0 0\ndir /a/${'c'.repeat(256)} 0755 0 0`, 2, 'manifest.dir.name', 'E_NAME_TOO_LONG'],
    [`file /${huge} src 0644 0 0`, 1, 'manifest.file.name', 'E_NAME_TOO_LONG'],
    [`file /a src 0644 0 0 /${'é'.repeat(128)}`, 1, 'manifest.file.hard link', 'E_NAME_TOO_LONG'],
    [`dir /${`${'p'.repeat(200)}/`.repeat(20)}${'q'.repeat(100)} 0755 0 0`, 1, 'manifest.dir.name', 'E_NAME_TOO_LONG'], // 4120 bytes
    [`slink /l ${'t'.repeat(4096)} 0777 0 0`, 1, 'manifest.slink.target', 'E_NAME_TOO_LONG'],
    [`xattr /a user.${'k'.repeat(251)} v`, 1, 'manifest.xattr.key', 'E_NAME_TOO_LONG'],
    [`xattr /a user.k 0x${'00'.repeat(65537)}`, 1, 'manifest.xattr.value', 'E_MANIFEST_SYNTAX'],
    [`${huge} /a 0755 0 0`, 1, 'manifest.type', 'E_MANIFEST_SYNTAX'],
    [`dir /a ${huge} 0 0`, 1, 'manifest.dir.mode', 'E_MANIFEST_SYNTAX'],
  ];
  for (const [text, line, field, code] of cases) {
    const err = syntaxError(text, line, field, code);
    assert.ok(err.message.length < 600, `${field}: a message of ${err.message.length} characters`);
  }
  const err = syntaxError(`file /${huge} src 0644 0 0`, 1, 'manifest.file.name', 'E_NAME_TOO_LONG');
  assert.match(err.detail, /name "\/x{63}…" \(2000001 bytes\) has a component of 2000000 bytes; Linux names are at most 255 bytes/);
});

test('parseManifest: a duplicate or conflicting line is an E_NAME_COLLISION warning naming both lines; strict refuses at the later line; applyManifest applies the last', async () => {
  const text = [
    'dir /etc 0755 0 0', // 1
    'file /etc/motd motd 0644 0 0', // 2
    'dir /etc 0755 0 0', // 3: the same line again
    'slink /etc/motd /run/motd 0777 0 0', // 4: replaces the file of line 2
    'nod /dev/null 0666 0 0 c 1 3', // 5 (parent from the tree)
    'nod /dev/null 0600 0 0 c 1 3', // 6: other mode
    'file /etc/a a 0644 0 0 /etc/b', // 7
    'pipe /etc/b 0600 0 0', // 8: replaces a hard link of line 7
    'xattr /etc/a user.k one', // 9
    'xattr /etc/a user.k two', // 10
    'xattr /etc/a user.other x', // 11: another key, no warning
  ].join('\n');
  const warnings: ImgkitWarning[] = [];
  const m = parseManifest(text, 'm.list', { onWarning: (w) => warnings.push(w) });
  assert.deepEqual(
    warnings.map((w) => [w.code, w.path, w.line, w.detail]),
    [
      ['E_NAME_COLLISION', 'm.list', 3, 'name "etc" is already given on line 1: the same line repeated'],
      ['E_NAME_COLLISION', 'm.list', 4, 'name "etc/motd" is already given on line 2: this slink line replaces the file from there'],
      ['E_NAME_COLLISION', 'm.list', 6, 'name "dev/null" is already given on line 5: this nod line replaces it (last one wins)'],
      ['E_NAME_COLLISION', 'm.list', 8, 'name "etc/b" is already given on line 7: this pipe line replaces the file from there'],
      ['E_NAME_COLLISION', 'm.list', 10, 'xattr "user.k" of "etc/a" is already set on line 9: this value replaces it'],
    ],
  );
  const es = await entries(applyManifest(memoryTree([{ path: 'dev', kind: 'dir' }]), m, { hostFiles: memoryHostFiles({ motd: 'hi', a: 'a' }) }));
  assert.deepEqual([es.get('etc/motd')!.kind, es.get('etc/motd')!.linkTarget], ['symlink', '/run/motd']);
  assert.equal(es.get('dev/null')!.mode, 0o600);
  assert.deepEqual([es.get('etc/b')!.kind, es.get('etc/a')!.kind], ['fifo', 'file']);
  assert.deepEqual(es.get('etc/a')!.xattrs, [{ name: 'user.k', value: new TextEncoder().encode('two') }, { name: 'user.other', value: new TextEncoder().encode('x') }].sort((a, b) => (a.name < b.name ? -1 : 1)));

  assert.throws(
    () => parseManifest(text, 'm.list', { strict: true }),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_COLLISION' && e.line === 3 && e.path === 'm.list' && /line 1/.test(e.message) && e.message.startsWith('manifest: m.list:3: '),
  );
  // without duplicates, strict changes nothing
  assert.equal(parseManifest('dir /a 0755 0 0\ndir /b 0755 0 0', 'x', { strict: true }).entries.length, 2);
});

test('applyManifest over a node tree: owners and modes, replaced and added entries, host files, canonical order', async () => {
  const d = await tempDir('manifest');
  const src = path.join(d, 'root');
  await fsp.mkdir(path.join(src, 'etc'), { recursive: true });
  await fsp.mkdir(path.join(src, 'dev'));
  await fsp.writeFile(path.join(src, 'etc/shadow'), 'secret');
  await fsp.writeFile(path.join(src, 'dev/console'), 'placeholder');
  await fsp.writeFile(path.join(src, 'etc/hosts'), 'h');
  await fsp.link(path.join(src, 'etc/hosts'), path.join(src, 'etc/hosts.bak'));
  await fsp.mkdir(path.join(d, 'files'));
  await fsp.writeFile(path.join(d, 'files/init.sh'), '#!/bin/sh\necho hi\n');
  const text = [
    'dir / 0755 0 0',
    'nod /dev/console 0600 0 0 c 5 1',
    'nod /dev/sda 0660 0 6 b 8 0',
    'dir /run/lock 01777 0 0', // parent 'run' comes on the next line: order inside the manifest is free
    'dir /run 0755 0 0',
    'pipe /run/initctl 0600 0 0',
    'slink /bin usr/bin 0777 0 0',
    'file /init files/init.sh 0755 0 0 /sbin-init',
    'dir /etc 0750 0 4',
    'file /etc/hosts.bak files/init.sh 0640 7 7',
    'xattr /init user.note 0x00ff',
    'xattr /init user.note final',
    'xattr /etc security.selinux system_u:object_r:etc_t:s0',
  ].join('\n');
  const manifest = parseManifest(text, path.join(d, 'list.txt'));
  const tree = applyManifest(nodeSource(src), manifest, { hostFiles: nodeHostFiles(d), mtime: 1234 });
  const order: string[] = [];
  for await (const e of tree.walk()) order.push(e.path);
  assert.deepEqual(order, ['', 'bin', 'dev', 'dev/console', 'dev/sda', 'etc', 'etc/hosts', 'etc/hosts.bak', 'etc/shadow', 'init', 'run', 'run/initctl', 'run/lock', 'sbin-init']);
  const es = await entries(tree);
  const con = es.get('dev/console')!;
  assert.deepEqual([con.kind, con.mode, devMajor(con.rdev!), devMinor(con.rdev!), con.size, con.mtime], ['char', 0o600, 5, 1, 0, 1234]);
  const sda = es.get('dev/sda')!;
  assert.deepEqual([sda.kind, sda.gid, devMajor(sda.rdev!), devMinor(sda.rdev!)], ['block', 6, 8, 0]);
  const etc = es.get('etc')!;
  assert.deepEqual([etc.kind, etc.mode, etc.gid], ['dir', 0o750, 4]); // children kept
  assert.equal(Buffer.from(await collectBytes(es.get('etc/shadow')!.read())).toString(), 'secret');
  assert.deepEqual([es.get('run/lock')!.kind, es.get('run/lock')!.mode], ['dir', 0o1777]);
  assert.equal(es.get('run/initctl')!.kind, 'fifo');
  assert.deepEqual([es.get('bin')!.kind, es.get('bin')!.linkTarget, es.get('bin')!.size], ['symlink', 'usr/bin', 7]);
  const init = es.get('init')!;
  const initStat = await fsp.stat(path.join(d, 'files/init.sh'));
  assert.deepEqual([init.kind, init.mode, init.size, init.mtime, init.hardLinkTo], ['file', 0o755, initStat.size, Math.floor(initStat.mtimeMs / 1000), undefined]);
  assert.equal(Buffer.from(await collectBytes(init.read())).toString(), '#!/bin/sh\necho hi\n');
  assert.deepEqual(init.xattrs, [{ name: 'user.note', value: new TextEncoder().encode('final') }]);
  assert.equal(es.get('sbin-init')!.hardLinkTo, 'init');
  assert.deepEqual(es.get('sbin-init')!.xattrs, init.xattrs);
  assert.deepEqual(es.get('etc')!.xattrs, [{ name: 'security.selinux', value: new TextEncoder().encode('system_u:object_r:etc_t:s0') }]);
  // etc/hosts.bak is a tree file: owner and mode change on the inode (both names), content stays.
  assert.equal(es.get('etc/hosts')!.hardLinkTo, undefined);
  assert.equal(es.get('etc/hosts.bak')!.hardLinkTo, 'etc/hosts');
  assert.deepEqual([es.get('etc/hosts.bak')!.mode, es.get('etc/hosts.bak')!.uid], [0o640, 7]);
  assert.deepEqual([es.get('etc/hosts')!.mode, es.get('etc/hosts')!.uid], [0o640, 7]);
  assert.equal(Buffer.from(await collectBytes(es.get('etc/hosts.bak')!.read())).toString(), 'h');
  assert.equal(es.get('')!.mode, 0o755);
});

test('applyManifest: a file line on a tree file keeps its content; a different kind replaces it', async () => {
  const base = memoryTree([
    { path: 'a', kind: 'file', content: 'tree', mode: 0o644 },
    { path: 'b', kind: 'file', content: 'tree', mode: 0o644, hardLinkTo: 'a' },
    { path: 'l', kind: 'symlink', linkTarget: 'a' },
  ]);
  const m = parseManifest('file /b unused 0700 5 6 /c\nfile /l l.txt 0600 0 0\n');
  const es = await entries(applyManifest(base, m, { hostFiles: memoryHostFiles({ 'l.txt': 'host' }) }));
  for (const p of ['a', 'b', 'c']) {
    const e = es.get(p)!;
    assert.deepEqual([e.kind, e.mode, e.uid, e.gid, e.hardLinkTo], ['file', 0o700, 5, 6, p === 'a' ? undefined : 'a'], p);
    assert.equal(Buffer.from(await collectBytes(e.read())).toString(), 'tree');
  }
  assert.deepEqual([es.get('l')!.kind, es.get('l')!.size], ['file', 4]);
  assert.equal(Buffer.from(await collectBytes(es.get('l')!.read())).toString(), 'host');
});

test('applyManifest: references to missing things are E_MANIFEST_REFERENCE with the line', async () => {
  const base = memoryTree([{ path: 'etc/f', kind: 'file', content: 'x' }]);
  const check = async (text: string, line: number, opts = {}) => {
    await assert.rejects(entries(applyManifest(base, parseManifest(text, 'm.txt'), opts)), (err: { code?: string; line?: number; path?: string }) => {
      assert.equal(err.code, 'E_MANIFEST_REFERENCE', text);
      assert.equal(err.line, line, text);
      assert.equal(err.path, 'm.txt');
      return true;
    });
  };
  await check('# c\nnod /dev/null 0666 0 0 c 1 3', 2); // no /dev
  await check('dir /x 0755 0 0\nfile /x/y/z a 0644 0 0', 2, { hostFiles: memoryHostFiles({ a: 'a' }) });
  await check('file /etc/g missing 0644 0 0', 1, { hostFiles: memoryHostFiles({}) });
  await check('file /etc/g missing 0644 0 0', 1); // no host file reader
  await check('xattr /nope user.a b', 1);
  await check('pipe /etc 0644 0 0', 1); // would orphan etc/f
  await check('pipe /etc/f/x 0644 0 0', 1); // parent is a file
});

test('nodeHostFiles resolves relative locations against its base directory and streams content', async () => {
  const d = await tempDir('host');
  await fsp.writeFile(path.join(d, 'a'), 'abc');
  const h = nodeHostFiles(d);
  assert.equal((await h.stat('a')).size, 3);
  assert.equal((await h.stat(path.join(d, 'a'))).size, 3);
  assert.equal(Buffer.from(await collectBytes(h.read('a'))).toString(), 'abc');
  await assert.rejects(h.stat('missing'), { code: 'E_MANIFEST_REFERENCE' });
  await assert.rejects(h.stat('.'), { code: 'E_MANIFEST_REFERENCE' });
});
