import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ImgkitError,
  TarHeader,
  blobReader,
  collectBytes,
  concatBytes,
  memoryReader,
  parseTarNumber,
  readChecked,
  tarSource,
  type SourceEntry,
  type SourceTree,
} from '@imgkit/core';
import { nodeAnyReader, nodeFileReader, nodeSource, nodeStreamReader } from '@imgkit/core/node';
import { requireTool, tempDir } from '../../../test/lib/tools.ts';
import { snapshot } from './snapshot.ts';

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout;
}
async function entries(tree: SourceTree): Promise<Map<string, SourceEntry>> {
  const out = new Map<string, SourceEntry>();
  for await (const e of tree.walk()) out.set(e.path, e);
  return out;
}

/** A tree with every kind tar stores, long names and hard links. `extended`: things ustar cannot hold. */
async function makeTree(root: string, extended: boolean): Promise<void> {
  const w = (p: string, data: string | Uint8Array) => fsp.writeFile(path.join(root, p), data);
  await fsp.mkdir(path.join(root, 'dir/sub'), { recursive: true });
  await fsp.mkdir(path.join(root, 'private'), { mode: 0o700 });
  await fsp.mkdir(path.join(root, 'tmp'));
  await fsp.chmod(path.join(root, 'tmp'), 0o1777);
  await w('empty', '');
  await w('one', 'x');
  for (const n of [511, 512, 513, 100_000]) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + n) & 0xff;
    await w(`dir/f${n}`, b);
  }
  await w('dir/sub/ünïcødé €', 'utf8 name');
  await w('suid', '#!/bin/sh\n');
  await fsp.chown(path.join(root, 'suid'), 0, 0);
  await fsp.chmod(path.join(root, 'suid'), 0o4755);
  await w('owned', 'o');
  await fsp.chown(path.join(root, 'owned'), 1000, 70000);
  await fsp.symlink('dir/f512', path.join(root, 'rel-link'));
  await fsp.symlink('/does/not/exist', path.join(root, 'dangling'));
  await fsp.link(path.join(root, 'dir/f513'), path.join(root, 'hard-a'));
  await fsp.link(path.join(root, 'dir/f513'), path.join(root, 'dir/sub/hard-b'));
  sh('mknod', [path.join(root, 'dir/null'), 'c', '1', '3']);
  sh('mknod', [path.join(root, 'dir/loop'), 'b', '7', '300']);
  sh('mkfifo', [path.join(root, 'dir/fifo')]);
  // A path of ~170 bytes split over directories (ustar's prefix field holds it).
  const deep = path.join('long', 'd'.repeat(60), 'e'.repeat(60));
  await fsp.mkdir(path.join(root, deep), { recursive: true });
  await w(path.join(deep, 'f'.repeat(40)), 'deep');
  if (extended) {
    const longName = 'n'.repeat(150);
    await w(path.join(deep, longName), 'one long component');
    await fsp.link(path.join(root, deep, longName), path.join(root, deep, `${longName}.hardlink`));
    await fsp.symlink('t'.repeat(180), path.join(root, 'long-target-link'));
    await w('big-ids', 'b');
    await fsp.chown(path.join(root, 'big-ids'), 3_000_000, 4_000_000); // beyond 7 octal digits
    await w('before-1970', 'old');
    sh('touch', ['-m', '-d', '@-86400', path.join(root, 'before-1970')]);
    sh('python3', ['-c', `import os; os.setxattr(${JSON.stringify(path.join(root, 'one'))}, 'user.imgkit', b'va\\x00lue')`]);
  }
  await fsp.chmod(root, 0o750);
  // Distinct old times everywhere, so an mtime the extraction failed to restore cannot match by luck.
  let i = 0;
  for await (const e of nodeSource(root).walk()) {
    if (e.path === 'before-1970') continue;
    sh('touch', ['-h', '-m', '-d', `@${e.path === '' ? 1600000000 : 1500000000 + 1000 * i++}`, path.join(root, e.path)]);
  }
}

for (const tool of ['gnu', 'bsd'] as const) {
  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    test(`tarSource of a ${tool}tar --format=${format} archive equals nodeSource of the extracted tree`, async () => {
      const exe = tool === 'gnu' ? 'tar' : 'bsdtar';
      requireTool(exe, tool === 'gnu' ? 'tar' : 'libarchive-tools');
      requireTool('python3', 'python3');
      const d = await tempDir(`tar-${tool}-${format}`);
      const src = path.join(d, 'src');
      await fsp.mkdir(src);
      await makeTree(src, format !== 'ustar');
      const archive = path.join(d, 'a.tar');
      const fmt = tool === 'gnu' ? `--format=${format === 'pax' ? 'posix' : format}` : `--format=${format === 'gnu' ? 'gnutar' : format}`;
      const extra = tool === 'gnu' && format === 'pax' ? ['--xattrs', '--xattrs-include=user.*'] : [];
      sh(exe, ['-C', src, '-cf', archive, fmt, ...extra, '.']);
      const out = path.join(d, 'out');
      await fsp.mkdir(out);
      sh(exe, ['-C', out, '-xpf', archive, '--numeric-owner', ...(tool === 'gnu' ? ['--same-owner'] : [])]);

      const reader = await nodeFileReader(archive);
      try {
        const fromTar = await snapshot(tarSource(reader));
        const extracted = await snapshot(nodeSource(out));
        // The archive's "./" member carries the source root's metadata; bsdtar does not restore it
        // onto the extraction directory, so the root is compared with the source itself.
        assert.deepEqual(fromTar.get(''), { kind: 'dir', mode: 0o750, uid: 0, gid: 0, mtime: 1600000000, size: 0 });
        assert.deepEqual(fromTar.get(''), (await snapshot(nodeSource(src))).get(''));
        fromTar.delete('');
        extracted.delete('');
        assert.deepEqual([...fromTar.keys()], [...extracted.keys()]); // same paths, same (canonical) order
        assert.deepEqual(fromTar, extracted);
        // Sanity: the archive really had the interesting things.
        assert.equal(fromTar.get('dir/f513')!.hardLinkTo, undefined); // first in walk order
        assert.equal(fromTar.get('dir/sub/hard-b')!.hardLinkTo, 'dir/f513');
        assert.equal(fromTar.get('hard-a')!.hardLinkTo, 'dir/f513');
        assert.equal(fromTar.get('dir/null')!.kind, 'char');
        assert.equal(fromTar.get('dir/fifo')!.kind, 'fifo');
        if (format !== 'ustar') {
          assert.equal(fromTar.get('big-ids')!.uid, 3_000_000);
          // libarchive's gnutar writer stores times before 1970 as 0; the extraction agrees (above).
          assert.equal(fromTar.get('before-1970')!.mtime, tool === 'bsd' && format === 'gnu' ? 0 : -86400);
          assert.ok([...fromTar.keys()].some((p) => p.endsWith('n'.repeat(150) + '.hardlink')));
          assert.equal(fromTar.get('long-target-link')!.linkTarget, 't'.repeat(180));
        }
        if (format === 'pax') {
          const one = (await entries(tarSource(reader))).get('one')!;
          assert.deepEqual(
            one.xattrs?.filter((x) => x.name === 'user.imgkit'),
            [{ name: 'user.imgkit', value: new Uint8Array([0x76, 0x61, 0, 0x6c, 0x75, 0x65]) }],
          );
        }
      } finally {
        await reader.close();
      }
    });
  }
}

test('tarSource of sqfs2tar output (mksquashfs image of the tree) equals nodeSource of the tree', async () => {
  requireTool('mksquashfs', 'squashfs-tools');
  requireTool('sqfs2tar', 'squashfs-tools-ng');
  const d = await tempDir('sqfs2tar');
  const src = path.join(d, 'src');
  await fsp.mkdir(src);
  await makeTree(src, true);
  await fsp.rm(path.join(src, 'before-1970')); // squashfs times are unsigned
  const img = path.join(d, 'a.sqfs');
  sh('mksquashfs', [src, img, '-noappend', '-quiet', '-no-progress', '-comp', 'gzip']);
  const archive = path.join(d, 'a.tar');
  const r = spawnSync('sh', ['-c', 'sqfs2tar -r . "$1" > "$2"', 'sh', img, archive], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const reader = await nodeFileReader(archive);
  try {
    const fromTar = await snapshot(tarSource(reader));
    const expected = await snapshot(nodeSource(src));
    assert.deepEqual([...fromTar.keys()], [...expected.keys()]);
    assert.deepEqual(fromTar, expected);
    const one = (await entries(tarSource(reader))).get('one')!;
    assert.deepEqual(one.xattrs, [{ name: 'user.imgkit', value: new Uint8Array([0x76, 0x61, 0, 0x6c, 0x75, 0x65]) }]);
  } finally {
    await reader.close();
  }
});

// ---- hand-made archives for the edge cases ----
const enc = new TextEncoder();
function octalField(n: number, width: number): Uint8Array {
  return enc.encode(n.toString(8).padStart(width - 1, '0') + '\0');
}
interface H {
  name: string;
  type?: string;
  size?: number;
  mode?: number;
  link?: string;
  mtime?: number;
  uid?: Uint8Array;
}
function header(h: H, corrupt = false): Uint8Array {
  const b = TarHeader.encode({
    name: enc.encode(h.name),
    mode: octalField(h.mode ?? 0o644, 8),
    uid: h.uid ?? octalField(0, 8),
    gid: octalField(0, 8),
    size: octalField(h.size ?? 0, 12),
    mtime: octalField(h.mtime ?? 0, 12),
    chksum: enc.encode('        '),
    typeflag: enc.encode(h.type ?? '0'),
    linkname: enc.encode(h.link ?? ''),
    magic: enc.encode('ustar\0'),
    version: enc.encode('00'),
    uname: new Uint8Array(0),
    gname: new Uint8Array(0),
    devmajor: octalField(0, 8),
    devminor: octalField(0, 8),
    prefix: new Uint8Array(0),
  });
  let sum = 0;
  for (const x of b) sum += x;
  b.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  if (corrupt) b[0] = b[0]! ^ 1;
  return b;
}
function member(h: H, data: Uint8Array | string = ''): Uint8Array {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  const padded = new Uint8Array(Math.ceil(bytes.byteLength / 512) * 512);
  padded.set(bytes);
  return concatBytes([header({ ...h, size: h.size ?? bytes.byteLength }), padded]);
}
function paxRecords(recs: Record<string, string>): string {
  let out = '';
  for (const [k, v] of Object.entries(recs)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    out += `${len}${body}`;
  }
  return out;
}
const END = new Uint8Array(1024);
async function rejectsTar(bytes: Uint8Array, offset: number, code = 'E_TAR_FORMAT'): Promise<void> {
  await assert.rejects(entries(tarSource(memoryReader(bytes))), (err: { code?: string; field?: string }) => {
    assert.equal(err.code, code);
    assert.equal(err.field, `tar@${offset}`);
    return true;
  });
}

test('TarHeader offsets follow the ustar header table', () => {
  const f = TarHeader.fields;
  assert.deepEqual(
    Object.entries(f).map(([k, v]) => [k, v.offset, v.size]),
    [
      ['name', 0, 100], ['mode', 100, 8], ['uid', 108, 8], ['gid', 116, 8], ['size', 124, 12], ['mtime', 136, 12],
      ['chksum', 148, 8], ['typeflag', 156, 1], ['linkname', 157, 100], ['magic', 257, 6], ['version', 263, 2],
      ['uname', 265, 32], ['gname', 297, 32], ['devmajor', 329, 8], ['devminor', 337, 8], ['prefix', 345, 155],
    ],
  );
  assert.equal(TarHeader.size, 512);
});

test('parseTarNumber: octal with blanks and NULs, GNU base-256 positive and negative', () => {
  assert.equal(parseTarNumber(enc.encode('0000644\0'), 'mode', 0), 0o644);
  assert.equal(parseTarNumber(enc.encode('   644 \0'), 'mode', 0), 0o644);
  assert.equal(parseTarNumber(new Uint8Array(8), 'mode', 0), 0);
  assert.equal(parseTarNumber(new Uint8Array([0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]), 'uid', 0), 3_000_000);
  assert.equal(parseTarNumber(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xae, 0x80]), 'mtime', 0), -86400);
  assert.throws(() => parseTarNumber(enc.encode('12x4\0'), 'size', 1024), { code: 'E_TAR_FORMAT', field: 'tar@1024' });
});

test('hand-made archive: duplicates (last wins), synthesized parents, hard links, pax records and global headers', async () => {
  const bytes = concatBytes([
    member({ name: 'a/b/file' }, 'first'),
    member({ name: 'a/b/file', mode: 0o600 }, 'second'), // duplicate: replaces the first
    member({ name: 'link', type: '1', link: 'a/b/file' }), // points to the current (second) member
    member({ name: 'g', type: 'g' }, paxRecords({ uid: '42' })),
    member({ name: 'x', type: 'x' }, paxRecords({ path: 'pax/ñame', mtime: '1700000000.75', 'SCHILY.xattr.user.k': 'v' })),
    member({ name: 'ignored', mtime: 5 }, 'pax'),
    member({ name: './dir/', type: '5', mode: 0o750 }),
    member({ name: 'dir/old' }, 'old'),
    member({ name: 'dir/old', type: '2', link: 'target' }), // a symlink replaces a file
    END,
  ]);
  const es = await entries(tarSource(blobReader(new Blob([bytes as Uint8Array<ArrayBuffer>]))));
  assert.deepEqual([...es.keys()], ['', 'a', 'a/b', 'a/b/file', 'dir', 'dir/old', 'link', 'pax', 'pax/ñame']);
  assert.deepEqual([es.get('a')!.kind, es.get('a')!.mode, es.get('a')!.mtime], ['dir', 0o755, 0]);
  assert.equal(Buffer.from(await collectBytes(es.get('a/b/file')!.read())).toString(), 'second');
  assert.equal(es.get('a/b/file')!.mode, 0o600);
  assert.deepEqual([es.get('link')!.hardLinkTo, es.get('link')!.size, es.get('link')!.mode], ['a/b/file', 6, 0o600]);
  const pax = es.get('pax/ñame')!;
  assert.deepEqual([pax.uid, pax.mtime, pax.size], [42, 1700000000, 3]);
  assert.deepEqual(pax.xattrs, [{ name: 'user.k', value: enc.encode('v') }]);
  assert.equal(Buffer.from(await collectBytes(pax.read())).toString(), 'pax');
  assert.deepEqual([es.get('dir')!.mode, es.get('dir/old')!.kind, es.get('dir/old')!.linkTarget], [0o750, 'symlink', 'target']);
  assert.equal(es.get('')!.mode, 0o755); // no root member: synthesized
});

test('malformed archives are E_TAR_FORMAT with the offset', async () => {
  const good = member({ name: 'a' }, 'hello');
  const badSum = concatBytes([good, header({ name: 'b' }, true), END]);
  await rejectsTar(badSum, 1024);
  await rejectsTar(concatBytes([good, member({ name: 'l', type: '1', link: 'missing' }), END]), 1024);
  await rejectsTar(concatBytes([member({ name: '../escape' }), END]), 0);
  await rejectsTar(concatBytes([good, header({ name: 'big', size: 10_000 })]), 1024); // content runs past the end
  await rejectsTar(good.subarray(0, 300), 0);
  await rejectsTar(concatBytes([member({ name: 'a' }, 'x'), member({ name: 'a/b' }, 'y'), END]), 1024);
  await rejectsTar(concatBytes([member({ name: 'q', type: 'Z' }), END]), 0);
  await rejectsTar(concatBytes([member({ name: 'x', type: 'x' }, '99 broken\n'), END]), 0);
  await rejectsTar(concatBytes([member({ name: 's', type: 'S' }), END]), 0, 'E_UNSUPPORTED_ENTRY');
  // Not a tar archive at all.
  await rejectsTar(enc.encode('hello world, this is not an archive'.repeat(20)), 0);
});

test('random-access readers: memory, Blob and file agree on ranges, including past the end', async () => {
  const d = await tempDir('readers');
  const data = new Uint8Array(3000);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  await fsp.writeFile(path.join(d, 'f'), data);
  const file = await nodeFileReader(path.join(d, 'f'));
  try {
    for (const r of [memoryReader(data), blobReader(new Blob([data])), file]) {
      assert.equal(r.size, 3000);
      assert.deepEqual(await r.read(10, 5), data.slice(10, 15));
      assert.deepEqual(await r.read(2990, 100), data.slice(2990));
      assert.equal((await r.read(5000, 10)).byteLength, 0);
    }
  } finally {
    await file.close();
  }
  await assert.rejects(nodeFileReader(path.join(d, 'missing')), { code: 'E_SOURCE_MISSING' });
});

// ---- truncation, end-of-archive, "not a tar archive" (the table in tar-source.ts) ----

/** A GNU tar ustar archive of a (12 bytes), b (1000) and c (3): headers at 0, 1024, 2560, end marker at 3584. */
async function threeMembers(): Promise<{ dir: string; bytes: Uint8Array; files: Record<string, Uint8Array> }> {
  requireTool('tar', 'tar');
  const dir = await tempDir('tar-cuts');
  const files: Record<string, Uint8Array> = { a: enc.encode('hello world\n'), b: new Uint8Array(1000).map((_, i) => (i * 7) & 0xff), c: enc.encode('zzz') };
  await fsp.mkdir(path.join(dir, 'src'));
  for (const [n, d] of Object.entries(files)) await fsp.writeFile(path.join(dir, 'src', n), d);
  sh('tar', ['--format=ustar', '-cf', path.join(dir, 'full.tar'), '-C', path.join(dir, 'src'), 'a', 'b', 'c']);
  return { dir, bytes: new Uint8Array(await fsp.readFile(path.join(dir, 'full.tar'))), files };
}

async function tarError(bytes: Uint8Array, name?: string): Promise<ImgkitError> {
  try {
    await entries(tarSource(memoryReader(bytes), name !== undefined ? { name } : {}));
  } catch (err) {
    assert.ok(err instanceof ImgkitError, String(err));
    return err;
  }
  assert.fail('the archive was accepted');
}

test('cut archives: imgkit accepts and refuses as the table in tar-source.ts says, and GNU tar and bsdtar do what it says they do', async () => {
  const { dir, bytes, files } = await threeMembers();
  requireTool('bsdtar', 'libarchive-tools');
  const gzip = requireTool('gzip', 'gzip');
  // [name, bytes, imgkit: accepted or [field, pattern]], GNU tar exit 0?, bsdtar exit 0?
  type Expect = 'ok' | [string, RegExp];
  const gz = spawnSync(gzip, ['-c'], { input: bytes }).stdout as Buffer;
  const cases: [string, Uint8Array, Expect, boolean, boolean][] = [
    ['two zero blocks', bytes, 'ok', true, true],
    ['one zero block', bytes.subarray(0, 3584 + 512), 'ok', true, true],
    ['no end blocks', bytes.subarray(0, 3584), ['tar@3584', /truncated.*after member "c".*end-of-archive marker/], true, true],
    ['cut at a member boundary', bytes.subarray(0, 1024), ['tar@1024', /truncated.*after member "a".*end-of-archive/], true, true],
    ['cut inside a header', bytes.subarray(0, 1024 + 100), ['tar@1024', /truncated: the archive ends 100 bytes into a header \(after member "a"\)/], true, false],
    ['cut inside data', bytes.subarray(0, 1536 + 500), ['tar@1024', /truncated: the archive ends inside member "b"/], false, false],
    ['cut inside the padding after the last data', bytes.subarray(0, 3072 + 100), ['tar@2560', /truncated: the archive ends inside member "c"/], false, false],
    ['cut inside the padding of the first member', bytes.subarray(0, 512 + 100), ['tar@0', /truncated: the archive ends inside member "a"/], false, false],
    ['empty file', new Uint8Array(0), ['tar@0', /^not a tar archive: it is empty \(0 bytes\)$/], false, true],
    ['shorter than a header', enc.encode('short'), ['tar@0', /not a tar archive: it has 5 bytes, less than one 512-byte header/], false, false],
    ['gzip-compressed tar', new Uint8Array(gz), ['tar@0', /not a tar archive: .*; it looks like gzip-compressed data$/], true, true],
    ['text', enc.encode('just some text\n'.repeat(100)), ['tar@0', /not a tar archive: the first header's checksum does not match$/], false, false],
  ];
  for (const [what, data, expect, gnuOk, bsdOk] of cases) {
    const file = path.join(dir, `${what.replace(/\W+/g, '-')}.tar`);
    await fsp.writeFile(file, data);
    // The reference tools' verdicts are part of the table: check them, so the table stays true.
    // (GNU tar unpacks a gzip-compressed archive itself.)
    assert.equal(spawnSync('tar', ['-tf', file]).status === 0, gnuOk, `GNU tar on ${what}`);
    assert.equal(spawnSync('bsdtar', ['-tf', file]).status === 0, bsdOk, `bsdtar on ${what}`);
    if (expect === 'ok') {
      const es = await entries(tarSource(memoryReader(data)));
      assert.deepEqual([...es.keys()], ['', 'a', 'b', 'c'], what);
      for (const [n, d] of Object.entries(files)) assert.deepEqual(await collectBytes(es.get(n)!.read()), d, `${what}: ${n}`);
      continue;
    }
    const err = await tarError(data, file);
    assert.equal(err.code, 'E_TAR_FORMAT', what);
    assert.equal(err.field, expect[0], `${what}: ${err.message}`);
    assert.match(err.detail, expect[1], what);
    assert.equal(err.path, file, `${what}: the archive is named`);
    assert.ok(err.message.startsWith(`tar: ${file}: ${expect[0] === 'tar@0' && /not a tar/.test(err.detail) ? 'not a tar archive' : `at offset ${expect[0].slice(4)}`}`), err.message);
  }
});

test('a corrupted header after good members is "corrupted" (not "not a tar archive"), naming the member before it', async () => {
  const good = member({ name: 'etc/passwd' }, 'root:x:0:0\n');
  const err = await tarError(concatBytes([good, header({ name: 'etc/shadow' }, true), END]));
  assert.equal(err.code, 'E_TAR_FORMAT');
  assert.equal(err.field, 'tar@1024');
  assert.match(err.detail, /corrupted: the header's checksum does not match \(after member "etc\/passwd"\)/);
  assert.doesNotMatch(err.detail, /not a tar archive/);
  assert.equal(err.path, undefined, 'no name given: no path');
});

test('a member name of 2 MB is quoted by its first 64 bytes in messages', async () => {
  const huge = 'x'.repeat(2_000_000);
  const bytes = concatBytes([member({ name: 'p', type: 'x' }, paxRecords({ path: huge })), header({ name: 'p', size: 5000 }), new Uint8Array(512)]);
  const err = await tarError(bytes);
  assert.match(err.detail, /member "x{64}…" \(2000000 bytes\)/);
  assert.ok(err.message.length < 400, `message of ${err.message.length} characters`);
});

test('exclude: a member, a directory with everything below it (also implied directories); a hard link keeps the content of an excluded first name', async () => {
  const bytes = concatBytes([
    member({ name: 'keep' }, 'k'),
    member({ name: 'gone' }, 'data'),
    member({ name: 'link', type: '1', link: 'gone' }),
    member({ name: 'cache/', type: '5' }),
    member({ name: 'cache/x' }, 'x'),
    member({ name: 'var/tmp/y' }, 'y'), // var and var/tmp are implied
    member({ name: 'var/log' }, 'l'),
    END,
  ]);
  const es = await entries(tarSource(memoryReader(bytes), { exclude: (p) => p === 'gone' || p === 'cache' || p === 'var/tmp' }));
  assert.deepEqual([...es.keys()], ['', 'keep', 'link', 'var', 'var/log']);
  assert.equal(es.get('link')!.hardLinkTo, undefined, 'the first name left holds the content');
  assert.equal(Buffer.from(await collectBytes(es.get('link')!.read())).toString(), 'data');
});

test('nodeFileReader: ENOENT, EISDIR, a FIFO and ENOTDIR each say what is wrong; a FIFO is never opened (no wait for a writer)', async () => {
  const d = await tempDir('reader-errors');
  await fsp.writeFile(path.join(d, 'file'), 'x');
  sh('mkfifo', [path.join(d, 'fifo')]);
  const cases: [string, string, RegExp][] = [
    ['missing', 'E_SOURCE_MISSING', /no such file \(ENOENT\)/],
    ['', 'E_SOURCE_MISSING', /is a directory/],
    ['fifo', 'E_SOURCE_UNREADABLE', /is a pipe \(FIFO\): random access needs a regular file/],
    ['file/below', 'E_SOURCE_MISSING', /not a directory \(ENOTDIR\)/],
  ];
  for (const [name, code, detail] of cases) {
    const p = path.join(d, name);
    await assert.rejects(nodeFileReader(p), (e: unknown) => e instanceof ImgkitError && e.code === code && e.path === p && detail.test(e.detail), name);
  }
});

test('nodeAnyReader reads a FIFO once into an unlinked temporary file; nodeStreamReader does the same for any stream', async () => {
  const d = await tempDir('reader-fifo');
  const fifo = path.join(d, 'fifo');
  sh('mkfifo', [fifo]);
  const data = new Uint8Array(3 << 20).map((_, i) => (i * 13) >> 3);
  const spoolDir = path.join(d, 'spool');
  await fsp.mkdir(spoolDir);
  // The reader opens the FIFO first (asynchronously: the event loop keeps running), then the writer comes.
  const opening = nodeAnyReader(fifo, { dir: spoolDir });
  await new Promise((r) => setTimeout(r, 50)); // not a timing assertion: either order works
  await fsp.writeFile(fifo, data);
  const r = await opening;
  try {
    assert.equal(r.size, data.byteLength);
    assert.deepEqual(await r.read(1_000_000, 10), data.subarray(1_000_000, 1_000_010));
    assert.deepEqual(await r.read(data.byteLength - 5, 100), data.subarray(data.byteLength - 5));
    assert.deepEqual(await fsp.readdir(spoolDir), [], 'the temporary file is unlinked at once');
  } finally {
    await r.close();
  }
  async function* chunks(): AsyncIterable<Uint8Array> {
    yield data.subarray(0, 1000);
    yield data.subarray(1000, 5000);
  }
  const s = await nodeStreamReader(chunks(), { dir: spoolDir });
  assert.equal(s.size, 5000);
  assert.deepEqual(await s.read(990, 20), data.subarray(990, 1010));
  await s.close();
});

test('nodeFileReader on a block device (a loop device over a tar archive): its size is found by reading, and the archive reads as from the file', async () => {
  const losetup = requireTool('losetup', 'mount');
  const { dir, bytes } = await threeMembers();
  const file = path.join(dir, 'full.tar');
  const dev = sh(losetup, ['-f', '--show', '-r', file]).trim();
  try {
    const r = await nodeFileReader(dev);
    try {
      assert.equal(r.size, bytes.byteLength); // a multiple of 512: the loop device has the file's size
      const fromDev = await snapshot(tarSource(r));
      const f = await nodeFileReader(file);
      try {
        assert.deepEqual(fromDev, await snapshot(tarSource(f)));
      } finally {
        await f.close();
      }
    } finally {
      await r.close();
    }
  } finally {
    sh(losetup, ['-d', dev]);
  }
});
