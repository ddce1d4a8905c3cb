/**
 * ISO 9660 image tests: images written by writeIso, checked with the reference tools (isoinfo,
 * xorriso, bsdtar, 7z) and compared with the source tree.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImgkitError, MemorySink, memoryTree, type SourceTree } from '@imgkit/core';
import { fileSink, nodeSource } from '@imgkit/core/node';
import { writeIso, type IsoOptions } from '@imgkit/iso9660';
import { makeRichTree } from './lib/fixture.js';
import { makeSources } from './lib/source.js';
import { requireTool, run, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.js';

const isoinfo = () => requireTool('isoinfo', 'genisoimage');
const xorriso = () => requireTool('xorriso', 'xorriso');
const bsdtar = () => requireTool('bsdtar', 'libarchive-tools');
const sevenZ = () => requireTool('7z', 'p7zip-full');

async function writeTo(tree: SourceTree, path: string, o: IsoOptions): Promise<void> {
  const sink = await fileSink(path);
  try {
    await writeIso(tree, sink, o);
  } catch (e) {
    await sink.abort?.(e);
    throw e;
  }
  await sink.close();
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Names listed by `isoinfo -l` (with -R or -J), as full paths, without "." and "..". */
function isoinfoPaths(listing: string): string[] {
  const out: string[] = [];
  let dir = '';
  for (const line of listing.split('\n')) {
    const m = /^Directory listing of \/(.*)$/.exec(line);
    if (m) {
      dir = m[1]!.replace(/\/$/, '');
      continue;
    }
    const f = /^[-dlcbpsf][-rwxsStT]{9}.*\]\s\s(.*?)\s*(?:->.*)?$/.exec(line);
    if (!f) continue;
    const name = f[1]!;
    if (name === '.' || name === '..') continue;
    out.push(dir ? `${dir}/${name}` : name);
  }
  return out.sort();
}

test('rich tree: Rock Ridge + Joliet image equals the source (isoinfo, xorriso, bsdtar, 7z), for each source kind', async (t) => {
  const top = await tempDir('iso-rich');
  const src = join(top, 'src');
  await makeRichTree(src);
  for (const source of await makeSources(src)) {
    await t.test(source.name, async () => {
      const dir = join(top, source.name);
      await mkdir(dir);
      const iso = join(dir, 'rich.iso');
      await writeTo(source.tree, iso, { joliet: true, jolietLong: true, volumeId: 'RICH_TREE', epoch: 1_800_000_000 });

      const d = (await run(isoinfo(), ['-d', '-i', iso])).stdout.toString();
      assert.match(d, /Volume id: RICH_TREE/);
      assert.match(d, /Rock Ridge signatures version 1 found/);
      assert.match(d, /Joliet with UCS level 3 found/);
      assert.match(d, /Logical block size is: 2048/);

      // The expected tree: the source with times clamped to the epoch.
      const expected = await snapshotTree(source.tree);
      for (const e of expected.values()) if (e.mtime > 1_800_000_000) e.mtime = 1_800_000_000;

      // Rock Ridge through libarchive: names, kinds, modes, owners, times, links, devices, contents.
      const out = join(dir, 'bsdtar');
      await mkdir(out);
      await run(bsdtar(), ['-xpf', iso, '--numeric-owner', '-C', out]);
      // libarchive links names only when they come out of its read queue one after the other; all
      // empty files share one queue position (offset −1), so whether two hard-linked *empty* files
      // meet depends on the directory order. Their PX serial numbers are checked through xorriso below.
      const viaLibarchive = new Map([...expected].map(([p, e]) => [p, p.startsWith('hard/empty') ? { ...e, nlink: 1, hardLinkGroup: undefined } : e]));
      for (const e of viaLibarchive.values()) if (e.hardLinkGroup === undefined) delete e.hardLinkGroup;
      assertSameTree(await snapshotDir(out), viaLibarchive, { ignore: ['root', 'dirMtime'] });

      // Rock Ridge names through isoinfo, and through xorriso (libisofs).
      // isoinfo doesn't follow RRIP relocation (CL): deep/…/g (level 9) shows as its placeholder, its
      // content under rr_moved/; everything else must match.
      const relocated = 'deep/a/b/c/d/e/f/g/';
      const rr = isoinfoPaths((await run(isoinfo(), ['-l', '-R', '-i', iso])).stdout.toString());
      assert.deepEqual(
        rr.filter((p) => !p.startsWith('rr_moved')),
        [...expected.keys()].filter((p) => p !== '' && !p.startsWith(relocated)).sort(),
      );
      assert.ok(rr.includes('rr_moved/g/leaf'), rr.filter((p) => p.startsWith('rr_moved')).join(' '));
      const lsdl = (await run(xorriso(), ['-indev', iso, '-find', '/', '-exec', 'lsdl'])).stdout.toString();
      for (const p of expected.keys()) if (p !== '') assert.ok(lsdl.includes(`'/${p}'`), `xorriso lists /${p}`);
      // The empty pair's link count as Rock Ridge records it (isoinfo prints PX's links).
      const hardListing = (await run(isoinfo(), ['-R', '-l', '-i', iso])).stdout.toString();
      for (const name of ['empty1', 'empty2']) {
        const links = expected.get(`hard/${name}`)!.nlink;
        assert.match(hardListing, new RegExp(`^-\\S{9}\\s+${links}\\s.*\\]\\s+${name} $`, 'm'), `hard/${name} has ${links} links`);
      }

      // Joliet names through isoinfo -J, and 7-Zip extraction (Joliet) with the file contents.
      // Joliet is UCS-2: characters outside the BMP were replaced by "_" (with a warning).
      // isoinfo prints Joliet names in ISO 8859-1 (it has no UTF-8), other characters as "_".
      // Joliet holds files and directories only: symlinks and device nodes are in Rock Ridge (as with xorriso).
      const jol = isoinfoPaths((await run(isoinfo(), ['-l', '-J', '-i', iso])).stdout.toString('latin1'));
      const ucs2 = (p: string) => p.replace(/[\u{10000}-\u{10FFFF}]/gu, '_');
      const inJoliet = [...expected].filter(([p, e]) => p !== '' && (e.kind === 'file' || e.kind === 'dir')).map(([p]) => p);
      assert.deepEqual(jol, inJoliet.map((p) => ucs2(p).replace(/[^\u0000-\u00ff]/g, '_')).sort());
      const z = join(dir, '7z');
      await run(sevenZ(), ['x', '-y', `-o${z}`, iso]);
      for (const [p, e] of expected) {
        if (e.kind !== 'file') continue;
        assert.equal(await sha256File(join(z, ucs2(p))), e.sha256, `7z content of ${p}`);
      }
    });
  }
});

test('deterministic: the same tree and epoch give the same bytes', async () => {
  const mk = () =>
    memoryTree([
      { path: 'a/b.txt', kind: 'file', content: 'b', mtime: 5 },
      { path: 'c', kind: 'symlink', linkTarget: 'a/b.txt' },
      { path: 'z'.repeat(100), kind: 'file', content: 'long' },
    ]);
  const a = new MemorySink();
  const b = new MemorySink();
  await writeIso(mk(), a, { joliet: true, jolietLong: true, epoch: 1234 });
  await writeIso(mk(), b, { joliet: true, jolietLong: true, epoch: 1234 });
  assert.deepEqual(a.bytes(), b.bytes());
});

test('names colliding after mangling stay unique at levels 1 and 2; Rock Ridge keeps the originals', async () => {
  const dir = await tempDir('iso-mangle');
  const names = ['longfilename1.txt', 'LongFileName1.TXT', 'longfilename2.txt', 'longfilenameXX.txt', 'a+b.c', 'a-b.c', 'a b.c', 'noext', 'NOEXT', '.hidden', 'x.tar.gz', 'x_tar.gz'];
  const tree = () => memoryTree(names.map((n, i) => ({ path: `d/${n}`, kind: 'file' as const, content: `${i}\n` })));
  for (const level of [1, 2] as const) {
    const iso = join(dir, `l${level}.iso`);
    await writeTo(tree(), iso, { level, epoch: 0 });
    // Plain ISO 9660 names (isoinfo -f without -R): unique, d-characters, within the level's limits.
    const plain = (await run(isoinfo(), ['-f', '-i', iso])).stdout.toString().trim().split('\n').filter((l) => l.startsWith('/D/'));
    assert.equal(plain.length, names.length);
    assert.equal(new Set(plain).size, names.length, `level ${level} names unique: ${plain.join(' ')}`);
    for (const p of plain) {
      const id = p.slice(3).replace(/;1$/, '');
      assert.match(id, /^[A-Z0-9_]*\.[A-Z0-9_]*$/);
      const [n, e] = id.split('.') as [string, string];
      if (level === 1) assert.ok(n.length <= 8 && e.length <= 3, `8.3: ${id}`);
      else assert.ok(n.length + e.length <= 30, `level 2: ${id}`);
    }
    const out = join(dir, `x${level}`);
    await mkdir(out);
    await run(bsdtar(), ['-xf', iso, '-C', out]);
    for (const [i, n] of names.entries()) assert.equal(await readFile(join(out, 'd', n), 'utf8'), `${i}\n`);
  }
});

test('a tree 10 levels deep is relocated (RE/CL/PL) and extracts unchanged', async () => {
  const dir = await tempDir('iso-deep');
  const deep = Array.from({ length: 10 }, (_, i) => `level${i + 1}`).join('/');
  const tree = () =>
    memoryTree([
      { path: `${deep}/leaf.txt`, kind: 'file', content: 'leaf\n', mtime: 100 },
      { path: `${deep}/sub2/x`, kind: 'file', content: 'x\n', mtime: 100 },
      { path: 'top.txt', kind: 'file', content: 'top\n', mtime: 100 },
    ]);
  const iso = join(dir, 'deep.iso');
  await writeTo(tree(), iso, { joliet: true, epoch: 100 });
  // Without Rock Ridge, readers see the relocation directory; ISO depth stays within 8 levels.
  const plain = (await run(isoinfo(), ['-f', '-i', iso])).stdout.toString();
  assert.match(plain, /\/RR_MOVED\//);
  for (const line of plain.trim().split('\n')) assert.ok(line.split('/').length - 1 <= 8, `ECMA-119 depth: ${line}`);
  // With Rock Ridge (libarchive, xorriso) the original hierarchy comes back.
  const out = join(dir, 'x');
  await mkdir(out);
  await run(bsdtar(), ['-xf', iso, '-C', out]);
  assert.equal(await readFile(join(out, deep, 'leaf.txt'), 'utf8'), 'leaf\n');
  assert.equal(await readFile(join(out, deep, 'sub2/x'), 'utf8'), 'x\n');
  const lsdl = (await run(xorriso(), ['-indev', iso, '-find', '/', '-exec', 'lsdl'])).stdout.toString();
  assert.ok(lsdl.includes(`'/${deep}/sub2/x'`), lsdl);
  // Joliet keeps the real hierarchy.
  const jol = isoinfoPaths((await run(isoinfo(), ['-l', '-J', '-i', iso])).stdout.toString('latin1'));
  assert.ok(jol.includes(`${deep}/sub2/x`));
});

test('non-ASCII names: Rock Ridge UTF-8 and Joliet UCS-2; outside the BMP is a warning in Joliet', async () => {
  const dir = await tempDir('iso-nonascii');
  const names = ['grüße.txt', '日本語', 'Ελληνικά.md', 'emoji-🙂'];
  const warnings: string[] = [];
  const iso = join(dir, 'u.iso');
  await writeTo(memoryTree(names.map((n) => ({ path: n, kind: 'file' as const, content: n }))), iso, { joliet: true, onWarning: (w) => warnings.push(w.path ?? '') });
  assert.deepEqual(warnings, ['emoji-🙂']);
  const rr = isoinfoPaths((await run(isoinfo(), ['-l', '-R', '-i', iso])).stdout.toString());
  assert.deepEqual(rr, [...names].sort());
  const out = join(dir, 'x');
  await mkdir(out);
  await run(bsdtar(), ['-xf', iso, '-C', out]);
  for (const n of names) assert.equal(await readFile(join(out, n), 'utf8'), n);
  const z = join(dir, 'z');
  await run(sevenZ(), ['x', '-y', `-o${z}`, iso]);
  for (const n of names.slice(0, 3)) assert.equal(await readFile(join(z, n), 'utf8'), n);
  assert.equal(await readFile(join(z, 'emoji-_'), 'utf8'), 'emoji-🙂');
  await assert.rejects(
    writeIso(memoryTree([{ path: 'emoji-🙂', kind: 'file', content: '' }]), new MemorySink(), { joliet: true, strict: true }),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_UNENCODABLE' && e.path === 'emoji-🙂',
  );
});

test('Joliet name limit: 64 units, 103 with jolietLong; longer is E_NAME_TOO_LONG naming the path', async () => {
  const n70 = `${'n'.repeat(66)}.txt`;
  await assert.rejects(
    writeIso(memoryTree([{ path: `d/${n70}`, kind: 'file', content: '' }]), new MemorySink(), { joliet: true }),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_TOO_LONG' && e.path === `d/${n70}`,
  );
  const dir = await tempDir('iso-jlong');
  const iso = join(dir, 'j.iso');
  await writeTo(memoryTree([{ path: `d/${n70}`, kind: 'file', content: 'x' }]), iso, { joliet: true, jolietLong: true });
  const jol = isoinfoPaths((await run(isoinfo(), ['-l', '-J', '-i', iso])).stdout.toString('latin1'));
  assert.deepEqual(jol, ['d', `d/${n70}`]);
});

test('empty files, hard links sharing one extent and one inode, long symlink targets', async () => {
  const dir = await tempDir('iso-links');
  const iso = join(dir, 'l.iso');
  const tree = memoryTree([
    { path: 'a', kind: 'file', content: 'shared content\n' },
    { path: 'b', kind: 'file', hardLinkTo: 'a', content: 'shared content\n' },
    { path: 'e1', kind: 'file', content: '' },
    { path: 'e2', kind: 'file', content: '' },
    { path: 's', kind: 'symlink', linkTarget: `/${'x'.repeat(250)}/${'y'.repeat(255)}/../z` },
  ]);
  await writeTo(tree, iso, {});
  // isoinfo -l -R shows Rock Ridge PX link counts; both names share one extent.
  const l = (await run(isoinfo(), ['-l', '-R', '-i', iso])).stdout.toString();
  assert.match(l, /^-rw-r--r--\s+2\s+0\s+0\s+15 .*\]\s+a\s*$/m);
  assert.match(l, /^-rw-r--r--\s+2\s+0\s+0\s+15 .*\]\s+b\s*$/m);
  const lba = (n: string) => new RegExp(`\\[\\s*(\\d+) 00\\]\\s+${n}\\s*$`, 'm').exec(l)?.[1];
  assert.equal(lba('a'), lba('b'));
  const out = join(dir, 'x');
  await mkdir(out);
  await run(bsdtar(), ['-xf', iso, '-C', out]);
  const snap = await snapshotDir(out);
  assert.equal(snap.get('e1')?.size, 0);
  assert.equal(snap.get('e2')?.size, 0);
  assert.equal(snap.get('s')?.linkTarget, `/${'x'.repeat(250)}/${'y'.repeat(255)}/../z`);
  assert.equal(await readFile(join(out, 'b'), 'utf8'), 'shared content\n');
});

test('a directory of 100000 entries', async () => {
  const dir = await tempDir('iso-many');
  const n = 100000;
  const iso = join(dir, 'm.iso');
  const tree = memoryTree(Array.from({ length: n }, (_, i) => ({ path: `big/file-${String(i).padStart(6, '0')}.dat`, kind: 'file' as const, content: `${i}` })));
  await writeTo(tree, iso, { joliet: true });
  const listed = (await run(bsdtar(), ['-tf', iso])).stdout.toString().trim().split('\n').filter((l) => l.startsWith('big/file-'));
  assert.equal(listed.length, n);
  assert.equal(new Set(listed).size, n);
  const out = join(dir, 'x');
  await mkdir(out);
  await run(bsdtar(), ['-xf', iso, '-C', out, 'big/file-099999.dat', 'big/file-000000.dat']);
  assert.equal(await readFile(join(out, 'big/file-099999.dat'), 'utf8'), '99999');
  const j = (await run(isoinfo(), ['-l', '-J', '-i', iso])).stdout.toString('latin1');
  assert.equal(j.split('\n').filter((l) => / file-\d{6}\.dat\s*$/.test(l)).length, n);
});

test('option checks: files over 4 GiB need level 3; inconsistent hybrid presets are refused', async () => {
  const big = () => memoryTree([{ path: 'huge', kind: 'file', size: 5 * 2 ** 30, content: async function* () {} }]);
  await assert.rejects(writeIso(big(), new MemorySink(), { level: 2 }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_FIELD_RANGE' && e.path === 'huge');
  const t = () => memoryTree([{ path: 'f', kind: 'file', content: 'x' }]);
  const cases: [IsoOptions, string][] = [
    [{ hybrid: 'isohybrid-mbr' }, 'mbrTemplate'],
    [{ hybrid: 'isohybrid-mbr', mbrTemplate: new Uint8Array(432) }, 'biosBoot'],
    [{ hybrid: 'uefi-only' }, 'efiBoot'],
    [{ hybrid: 'uefi-only', efiBoot: { path: 'f' }, biosBoot: { path: 'f' } }, 'biosBoot'],
    [{ mbrTemplate: new Uint8Array(432) }, 'mbrTemplate'],
    [{ hybrid: 'appended-esp' }, 'appendedEsp'],
    [{ efiBoot: 'appended-esp' }, 'efiBoot'],
  ];
  for (const [o, field] of cases) {
    await assert.rejects(writeIso(t(), new MemorySink(), o), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === field, JSON.stringify(Object.keys(o)));
  }
});

test('level 3: a sparse 4.5 GiB file is written as multi-extent and reads back whole', async () => {
  const dir = await tempDir('iso-4g');
  const src = join(dir, 'src');
  await mkdir(src);
  const size = 4.5 * 2 ** 30 + 12345;
  await writeFile(join(src, 'tail'), 'end\n');
  await run(requireTool('truncate', 'coreutils'), ['-s', String(size), join(src, 'huge.img')]);
  // A marker at the start and the end so misplaced extents would show.
  const fh = await import('node:fs/promises').then((m) => m.open(join(src, 'huge.img'), 'r+'));
  await fh.write(Buffer.from('HEAD'), 0, 4, 0);
  await fh.write(Buffer.from('TAIL'), 0, 4, size - 4);
  await fh.close();
  const iso = join(dir, 'h.iso');
  // The writer hands all-zero chunks to sink.writeZeros, which the file sink leaves as holes.
  const sink = await fileSink(iso);
  await writeIso(nodeSource(src), sink, { level: 3, epoch: 0 });
  await sink.close();
  assert.ok((await stat(iso)).blocks * 512 < 64 * 2 ** 20, 'the image is sparse on disk');
  assert.ok((await stat(iso)).size > size);
  const lsdl = (await run(xorriso(), ['-indev', iso, '-find', '/huge.img', '-exec', 'lsdl'])).stdout.toString();
  assert.match(lsdl, new RegExp(`\\s${size}\\s`));
  const isoL = (await run(isoinfo(), ['-l', '-R', '-i', iso])).stdout.toString();
  assert.equal(isoL.split('\n').filter((l) => /huge\.img\s*$/.test(l)).length, 2, 'two extents listed');
  // Stream the file out of the image with bsdtar and hash it against the source.
  const want = createHash('sha256');
  for await (const c of (await import('node:fs')).createReadStream(join(src, 'huge.img'), { highWaterMark: 1 << 20 })) want.update(c as Buffer);
  const got = await run('sh', ['-c', `${bsdtar()} -xOf '${iso}' huge.img | sha256sum`]);
  assert.equal(got.stdout.toString().split(' ')[0], want.digest('hex'));
});

test('a file that changes size between plan and write is E_SOURCE_CHANGED naming it; the output is removed', async () => {
  const dir = await tempDir('iso-changed');
  const out = join(dir, 'c.iso');
  const tree = memoryTree([
    { path: 'ok', kind: 'file', content: 'fine\n' },
    { path: 'shrinks', kind: 'file', size: 10_000, content: async function* () { yield new Uint8Array(5000); } },
  ]);
  const sink = await fileSink(out);
  await assert.rejects(
    writeIso(tree, sink, {}),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_SOURCE_CHANGED' && e.path === 'shrinks',
  );
  await sink.abort?.(new Error('test'));
  await assert.rejects(stat(out));
});
