/**
 * FAT images checked by the reference tools (dosfstools 4.2, mtools 4.0.32):
 * - FAT12, FAT16 and FAT32 of the FAT test tree: `fsck.fat -n -v` finds nothing and counts what the
 *   plan put there; `mcopy -s -m` gives back the tree (names, case, sizes, sha256, times to 2 s);
 *   mdir shows the short names mtools itself makes for the same names.
 * - The layout mkfs.fat chooses, from a floppy to 32 GiB: an empty image equals mkfs.fat's byte for
 *   byte except the OEM name and boot code.
 * - The command line: mkfs.fat's spellings, standard output, determinism, a sparse FAT32, and each
 *   bad input with its code and path, leaving nothing behind.
 * The kernel's view (mount) and booting are in test/boot-fat.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdir, open, readFile, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { MemorySink, memoryTree, withSink } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { BootSector16, BootSector32, planFat, type FatBits, type FatPlan } from '@imgkit/fat';
import { FAT_IGNORED, FSCK_PROBLEMS, MTOOLS_ENV, fatSource, fatView, fsckFat, fsckProblems, makeFatTree, mcopyExtract, mdir } from './lib/fat.ts';
import { DEFAULT_ROOTFS } from './lib/fixture.ts';
import { lightningFsTree } from './lib/source.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree, type Snapshot } from './lib/tree.ts';

const MKFS = requireTool('mkfs.fat', 'dosfstools');
requireTool('fsck.fat', 'dosfstools');
const MCOPY = requireTool('mcopy', 'mtools');
requireTool('mdir', 'mtools');
const MATTRIB = requireTool('mattrib', 'mtools');

const EPOCH = 1_800_000_000;
let work = '';
let src = '';
let expected: Snapshot;

before(async () => {
  work = await tempDir('fat');
  src = join(work, 'tree');
  await makeFatTree(src);
  expected = fatView(await snapshotTree(fatSource(src)), EPOCH);
});

async function build(name: string, o: Parameters<typeof planFat>[1]): Promise<{ plan: FatPlan; image: string }> {
  const plan = await planFat(fatSource(src), { epoch: EPOCH, ...o });
  const image = join(work, name);
  await withSink(await fileSink(image), (s) => plan.write(s));
  assert.equal((await stat(image)).size, plan.sizeBytes);
  return { plan, image };
}

/** Names mtools 4.0.32 cannot give back: it reads UTF-16 units one by one, so a surrogate pair becomes "__". */
const outsideBmp = (p: string) => [...p].some((c) => c.codePointAt(0)! > 0xffff);
function withoutNonBmp(s: Snapshot): Snapshot {
  return new Map([...s].filter(([p]) => !outsideBmp(p)));
}

describe('FAT images of the FAT test tree', () => {
  for (const bits of [12, 16, 32] as const) {
    test(`FAT${bits}: fsck.fat finds nothing to fix, mcopy -s -m gives back the tree, read-only kept`, async () => {
      const { plan, image } = await build(`tree${bits}.img`, { fatBits: bits, label: `IMGKIT${bits}` });
      assert.equal(plan.fatBits, bits);
      const f = await fsckFat(image);
      assert.doesNotMatch(fsckProblems(f.output), FSCK_PROBLEMS, f.output);
      // fsck.fat counts every entry but '.' and '..', the label included.
      assert.equal(f.files, plan.files + plan.directories + 1, f.output);
      assert.equal(f.usedClusters, plan.usedClusters, f.output);
      assert.equal(f.clusters, plan.geometry.clusterCount, f.output);
      assert.match(f.output, new RegExp(`${bits} bit entries`));

      const out = join(work, `x${bits}`);
      await mkdir(out);
      await mcopyExtract(image, out);
      const got = await snapshotDir(out);
      // The extraction: every name (long names, case, spaces, 255 characters), size, sha256, time.
      assert.ok(got.delete('misc/emoji-__'), 'the non-BMP name is there, as mtools spells it');
      assertSameTree(fatView(got), withoutNonBmp(expected), { ignore: [...FAT_IGNORED] });

      const attrs = (await run(MATTRIB, ['-i', image, '::/misc/readonly', '::/misc/private/secret'], { env: MTOOLS_ENV })).stdout.toString();
      assert.match(attrs, /^\s*A\s+R\s+::\/misc\/readonly$/m, attrs); // mode 0444: archive + read-only
      assert.match(attrs, /^\s*A\s+::\/misc\/private\/secret$/m, attrs); // mode 0600: archive only
    });
  }

  test('mdir shows the short names mtools makes for the same names (mkfs.fat + mcopy, one by one in the same order)', async () => {
    const { image } = await build('names16.img', { fatBits: 16 });
    assert.doesNotMatch(fsckProblems((await fsckFat(image)).output), FSCK_PROBLEMS);
    const theirs = join(work, 'names-mtools.img');
    await run(MKFS, ['-C', theirs, String(16 * 1024)]);
    // mtools and imgkit number tails the same way, but mtools skips a number when its directory
    // cache's hash reports a false match (in big-dir from ~41 on): big-dir is checked against the
    // plain sequence below instead.
    const dirs = ['case', 'names', 'clusters', 'sizes'];
    for (const d of dirs) {
      await run(requireTool('mmd', 'mtools'), ['-i', theirs, `::/${d}`], { env: MTOOLS_ENV });
      // Non-ASCII names are left out: mtools writes the CP850 letter into the short name where imgkit writes "_".
      const names = (await readdir(join(src, d))).filter((n) => /^[\x20-\x7e]*$/.test(n)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      await run(MCOPY, ['-i', theirs, ...names.map((n) => join(src, d, n)), `::/${d}/`], { env: MTOOLS_ENV });
      const mine = (await mdir(image, `::/${d}`)).filter((e) => /^[\x20-\x7e]*$/.test(e.long ?? e.short));
      const ref = await mdir(theirs, `::/${d}`);
      assert.equal(mine.length, names.length, d);
      assert.deepEqual(mine, ref, d);
    }
    // big-dir: "entry number 0000 with a long name.txt" … 0699 → ENTRYN~1 … ENTRYN~9, ENTRY~10 … ENTR~100 …
    const big = await mdir(image, '::/big-dir');
    assert.equal(big.length, 700);
    big.forEach((e, i) => {
      const tail = `~${i + 1}`;
      assert.equal(e.short, `${'ENTRYNU'.slice(0, 8 - tail.length)}${tail}.TXT`, e.long);
      assert.equal(e.long, `entry number ${String(i).padStart(4, '0')} with a long name.txt`);
    });
  });

  test('a lightning-fs source (the browser\'s) gives the same image as the Node source', async () => {
    const lfs = await lightningFsTree(src);
    assert.ok(lfs, 'lightning-fs source available');
    // Times clamped to an epoch before them all: the copy into lightning-fs has fresh times.
    const o = { fatBits: 16 as const, label: 'SAME', epoch: 1_600_000_000 };
    const image = async (t: Parameters<typeof planFat>[0]) => {
      const sink = new MemorySink();
      await (await planFat(t, o)).write(sink);
      return sink.bytes();
    };
    const a = await image(fatSource(src));
    const b = await image(lfs);
    assert.ok(a.byteLength > 1 << 20);
    assert.ok(Buffer.from(a).equals(Buffer.from(b)), 'identical bytes');
  });

  test('a root directory with more entries than the default 512 gets a bigger root region (as mkfs.fat -r)', async () => {
    const files = Array.from({ length: 600 }, (_, i) => ({ path: `root entry number ${i}`, kind: 'file' as const, content: `${i}`, mtime: EPOCH }));
    const plan = await planFat(memoryTree(files, { mtime: EPOCH }), { epoch: EPOCH, fatBits: 16 });
    assert.ok(plan.geometry.rootEntries >= 600 * 3, String(plan.geometry.rootEntries));
    const image = join(work, 'bigroot.img');
    await withSink(await fileSink(image), (s) => plan.write(s));
    const f = await fsckFat(image);
    assert.doesNotMatch(fsckProblems(f.output), FSCK_PROBLEMS, f.output);
    const list = await mdir(image);
    assert.equal(list.length, 600);
    assert.deepEqual(new Set(list.map((e) => e.long)), new Set(files.map((e) => e.path)));
  });
});

describe('the layout mkfs.fat chooses', () => {
  // KiB and a forced type (mkfs.fat -F), from a 360 KiB floppy to 32 GiB.
  const SIZES: [number, FatBits | undefined][] = [
    [360, undefined], [720, undefined], [1200, undefined], [1440, undefined], [1441, undefined], [2880, undefined], [4096, undefined],
    [8191, undefined], [16384, undefined], [65536, undefined], [262144, undefined], [524287, undefined], [524288, undefined],
    [1048576, undefined], [4194304, undefined], [8388608, undefined], [16777216, undefined], [33554432, undefined],
    [65536, 12], [9000, 16], [2097152, 16], [100000, 32], [266241, 32], [1048576, 32],
  ];
  const CREATED = 1426325213; // mkfs.fat --invariant: volume id 0x1234abcd, this creation time, UTC

  test('an empty image equals `mkfs.fat --invariant -C -n IMGKIT` for every size (but the OEM name and boot code)', async () => {
    const dir = join(work, 'layout');
    await mkdir(dir);
    for (const [kib, bits] of SIZES) {
      const what = `${kib} KiB${bits ? ` -F ${bits}` : ''}`;
      const theirs = join(dir, 'mkfs.img');
      const mine = join(dir, 'imgkit.img');
      await rm(theirs, { force: true });
      await run(MKFS, ['--invariant', '-C', '-n', 'IMGKIT', ...(bits ? ['-F', String(bits)] : []), theirs, String(kib)]);
      const plan = await planFat(memoryTree([]), { size: kib * 1024, ...(bits ? { fatBits: bits } : {}), label: 'IMGKIT', volumeId: 0x1234abcd, epoch: CREATED, onWarning: () => {} });
      await withSink(await fileSink(mine), (s) => plan.write(s));
      assert.equal((await stat(mine)).size, (await stat(theirs)).size, what);
      // Compare reserved sectors, both FATs, the root directory (FAT32: its cluster).
      const g = plan.geometry;
      const end = (g.dataStartSector + (g.fatBits === 32 ? g.sectorsPerCluster : 0)) * 512;
      const [a, b] = await Promise.all([readHead(mine, end), readHead(theirs, end)]);
      for (const sector of g.fatBits === 32 ? [0, 6] : [0]) {
        const at = sector * 512;
        const codeAt = g.fatBits === 32 ? 90 : 62;
        for (const [from, to] of [[3, 11], [codeAt, 510]]) {
          a.fill(0, at + from!, at + to!);
          b.fill(0, at + from!, at + to!);
        }
      }
      const firstDiff = a.findIndex((x, i) => x !== b[i]);
      assert.equal(firstDiff, -1, `${what}: first differing byte ${firstDiff} (sector ${Math.floor(firstDiff / 512)})`);
      const S = g.fatBits === 32 ? BootSector32 : BootSector16;
      assert.equal(S.decode(a).sectorsPerCluster, g.sectorsPerCluster);
      const f = await fsckFat(mine);
      // A FAT32 asked for below 65525 clusters is what mkfs.fat -F 32 makes too; fsck.fat warns about it.
      const problems = fsckProblems(f.output).replace(/Warning: Filesystem is FAT32 according to[^]*?problems on some systems\./, '');
      assert.doesNotMatch(problems, FSCK_PROBLEMS, `${what}: ${f.output}`);
      assert.equal(f.usedClusters, g.fatBits === 32 ? 1 : 0, what);
    }
  });
});

async function readHead(path: string, bytes: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    let done = 0;
    while (done < bytes) {
      const { bytesRead } = await fh.read(buf, done, bytes - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

describe('imgkit fat', () => {
  /** A fresh empty output directory; failures must leave it empty. */
  async function outDir(name: string): Promise<string> {
    const d = join(work, 'cli', name);
    await mkdir(d, { recursive: true });
    return d;
  }
  async function assertFailed(r: { code: number; stderr: string }, code: string, mention: string, dir: string): Promise<void> {
    assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, new RegExp(`\\[${code}\\]`), r.stderr);
    assert.ok(r.stderr.includes(mention), `stderr names ${mention}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await readdir(dir), [], 'no output or temporary file left');
  }

  test("mkfs.fat's -F, -n and -i spellings; SOURCE_DATE_EPOCH gives the same bytes twice; '-' gives the same bytes as a file", async () => {
    const dir = await outDir('spellings');
    const env = { SOURCE_DATE_EPOCH: String(EPOCH) };
    const a = join(dir, 'a.img');
    const b = join(dir, 'b.img');
    for (const out of [a, b]) {
      const r = await runImgkit(['fat', DEFAULT_ROOTFS, out, '--dereference', '-F', '16', '-n', 'ROOTFS', '-i', '1234ABCD'], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    const bytes = await readFile(a);
    assert.deepEqual(bytes, await readFile(b));
    assert.doesNotMatch(fsckProblems((await fsckFat(a)).output), FSCK_PROBLEMS);
    const bs = BootSector16.decode(bytes);
    assert.deepEqual([bs.fsType, bs.volumeLabel, bs.volumeId], ['FAT16', 'ROOTFS', 0x1234abcd]);
    const piped = await runImgkit(['fat', DEFAULT_ROOTFS, '-', '--dereference', '--fat', '16', '--label', 'ROOTFS', '--volume-id', '0x1234abcd'], { env });
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(piped.stdout, bytes);
    // --dereference stored bin/hi (→ hello) as a copy.
    const x = join(dir, 'x');
    await mkdir(x);
    await mcopyExtract(a, x);
    assert.deepEqual(await readFile(join(x, 'bin/hi')), await readFile(join(DEFAULT_ROOTFS, 'bin/hello')));
    assert.deepEqual(await readFile(join(x, 'etc/os-release')), await readFile(join(DEFAULT_ROOTFS, 'usr/lib/os/os-release')));
  });

  test('a FAT32 volume of 300 MiB is written quickly as a sparse file; -v prints the layout; --margin leaves room', async () => {
    const dir = await outDir('fat32');
    const out = join(dir, 'big.img');
    const r = await runImgkit(['fat', src, out, '--size', '300M', '-F', '32', '-v']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /FAT32, \d+ clusters of 4096 bytes/); // 4 KiB clusters above 260 MiB
    const st = await stat(out);
    assert.equal(st.size, 300 * 1024 * 1024);
    assert.ok(st.blocks * 512 < 40 * 1024 * 1024, `only the data and FATs take disk space (${st.blocks * 512} bytes)`);
    const f = await fsckFat(out);
    assert.doesNotMatch(fsckProblems(f.output), FSCK_PROBLEMS, f.output);
    const roomy = join(dir, 'roomy.img');
    const m = await runImgkit(['fat', src, roomy, '--margin', '5M', '-v']);
    assert.equal(m.code, 0, m.stderr);
    const fm = await fsckFat(roomy);
    assert.ok((fm.clusters - fm.usedClusters) * (Number(/of (\d+) bytes/.exec(m.stderr)![1]) || 0) >= 5 << 20, m.stderr);
  });

  test('a tree that does not fit --size: E_NO_SPACE saying what it needs; nothing left', async () => {
    const dir = await outDir('nospace');
    const r = await runImgkit(['fat', src, join(dir, 'small.img'), '--size', '1M']);
    await assertFailed(r, 'E_NO_SPACE', 'size', dir);
    assert.match(r.stderr, /needs a FAT volume of \d+ bytes/);
  });

  test('a file over 4 GiB − 1: E_FIELD_RANGE naming it; nothing left', async () => {
    const tree = join(work, 'huge-tree');
    await mkdir(tree);
    await writeFile(join(tree, 'small'), 'x');
    await writeFile(join(tree, 'huge.img'), '');
    await truncate(join(tree, 'huge.img'), 2 ** 32); // sparse
    const dir = await outDir('huge');
    await assertFailed(await runImgkit(['fat', tree, join(dir, 'out.img')]), 'E_FIELD_RANGE', 'huge.img', dir);
  });

  test('a name FAT cannot hold: E_NAME_UNENCODABLE naming it; --invalid-names replace writes it with a warning', async () => {
    const tree = join(work, 'badname-tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    await writeFile(join(tree, 'sub/what?.txt'), 'q');
    const dir = await outDir('badname');
    await assertFailed(await runImgkit(['fat', tree, join(dir, 'out.img')]), 'E_NAME_UNENCODABLE', 'sub/what?.txt', dir);
    const ok = await runImgkit(['fat', tree, join(dir, 'out.img'), '--invalid-names', 'replace']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /warning: sub\/what\?\.txt: .*"what_\.txt"/);
    assert.doesNotMatch(fsckProblems((await fsckFat(join(dir, 'out.img'))).output), FSCK_PROBLEMS);
    const list = await mdir(join(dir, 'out.img'), '::/sub');
    // "what_.txt" fits 8.3 in lower case: a short name with the NT lower-case flags, no long name.
    assert.deepEqual(list.map((e) => [e.short, e.long]), [['what_.txt', undefined]]);
    await rm(join(dir, 'out.img'));
    const strict = await runImgkit(['fat', tree, join(dir, 'out.img'), '--invalid-names', 'replace', '--strict']);
    await assertFailed(strict, 'E_NAME_UNENCODABLE', 'sub/what?.txt', dir);
  });

  test('names that differ only in case: E_NAME_COLLISION; nothing left', async () => {
    const tree = join(work, 'case-tree');
    await mkdir(tree);
    await writeFile(join(tree, 'Readme'), '1');
    await writeFile(join(tree, 'README'), '2');
    const dir = await outDir('collision');
    await assertFailed(await runImgkit(['fat', tree, join(dir, 'out.img')]), 'E_NAME_COLLISION', 'Readme', dir);
  });

  test('a symlink: E_UNSUPPORTED_ENTRY naming it (without --dereference, or pointing outside the tree with it); nothing left', async () => {
    const dir = await outDir('symlink');
    await assertFailed(await runImgkit(['fat', DEFAULT_ROOTFS, join(dir, 'out.img')]), 'E_UNSUPPORTED_ENTRY', 'bin/hi', dir);
    const tree = join(work, 'outlink-tree');
    await mkdir(tree);
    await symlink('/etc/hostname', join(tree, 'host'));
    await assertFailed(await runImgkit(['fat', tree, join(dir, 'out.img'), '--dereference']), 'E_UNSUPPORTED_ENTRY', 'host', dir);
  });

  test('device nodes, fifos and sockets: E_UNSUPPORTED_ENTRY naming them; nothing left', async () => {
    const tree = join(work, 'dev-tree');
    await mkdir(tree);
    await writeFile(join(tree, 'file'), 'f');
    const manifest = join(work, 'dev.manifest');
    await writeFile(manifest, 'dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\n');
    const dir = await outDir('devices');
    await assertFailed(await runImgkit(['fat', tree, join(dir, 'out.img'), '--manifest', manifest]), 'E_UNSUPPORTED_ENTRY', 'dev/console', dir);
    await run(requireTool('mkfifo', 'coreutils'), [join(tree, 'fifo')]);
    await assertFailed(await runImgkit(['fat', tree, join(dir, 'out.img')]), 'E_UNSUPPORTED_ENTRY', 'fifo', dir);
  });

  test('usage errors exit 2: a bad --fat, --size or -i', async () => {
    for (const args of [['-F', '8'], ['--size', 'big'], ['-i', 'xyz'], ['--margin', 'lots']]) {
      const r = await runImgkit(['fat', DEFAULT_ROOTFS, join(work, 'never.img'), ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const r = await runImgkit(['fat', DEFAULT_ROOTFS, join(work, 'never.img'), '--dereference', '--size', '1000']);
    assert.equal(r.code, 2, r.stderr); // not a multiple of 512: E_BAD_OPTION
  });
});
