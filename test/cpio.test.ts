/**
 * imgkit's cpio writer against the reference tools: for each compression, an archive of the rich
 * tree + manifest (devices, owners, fifo, socket, hard links) is decompressed with the real tool,
 * listed with `cpio -itvn` and `bsdcpio -itvn`, extracted as root with GNU cpio and with bsdcpio,
 * and the extracted trees are compared with the source snapshot (paths, kinds, modes, owners,
 * mtimes, link targets, device numbers, sha256, hard-link groups).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { applyManifest, parseManifest, withSink, type SourceTree } from '@imgkit/core';
import { createNodePool, fileSink, nodeHostFiles, nodeSource } from '@imgkit/core/node';
import { decodeCpio, writeCpio, type CpioOptions } from '@imgkit/cpio';
import { assertListingMatches, parseCpioListing } from './lib/cpio-listing.js';
import { makeSources } from './lib/source.js';
import { RICH_MANIFEST_PATH, makeRichTree } from './lib/fixture.js';
import { requireTool, run, tempDir } from './lib/tools.js';
import { zstdFrameWindows } from './lib/zstd-frames.js';
import { assertSameTree, snapshotDir, snapshotTree, type Snapshot } from './lib/tree.js';

const CPIO = requireTool('cpio', 'cpio');
const BSDCPIO = requireTool('bsdcpio', 'libarchive-tools');
const DECOMPRESS: Record<string, [string, string[]]> = {
  gzip: [requireTool('gzip', 'gzip'), ['-dc']],
  zstd: [requireTool('zstd', 'zstd'), ['-dcq']],
  lz4: [requireTool('lz4', 'lz4'), ['-dc']],
  xz: [requireTool('xz', 'xz-utils'), ['-dc']],
};
const COMPRESSIONS = ['none', 'gzip', 'zstd', 'lz4', 'xz'] as const;

let work: string;
let src: string;
let tree: SourceTree;
let expected: Snapshot;

before(async () => {
  // Extracting device nodes and foreign owners (what is compared) needs root.
  assert.equal(process.getuid?.(), 0, 'run the cpio image tests as root: cpio -i must create devices and set owners');
  work = await tempDir('cpio-test');
  src = join(work, 'src');
  await makeRichTree(src);
  const manifest = parseManifest(await readFile(RICH_MANIFEST_PATH, 'utf8'), RICH_MANIFEST_PATH);
  tree = applyManifest(nodeSource(src), manifest, { hostFiles: nodeHostFiles(work) });
  expected = await snapshotTree(tree);
});

async function build(name: string, opts: CpioOptions, source: SourceTree = tree): Promise<string> {
  const out = join(work, name);
  await withSink(await fileSink(out), (s) => writeCpio(source, s, opts));
  return out;
}

/** The uncompressed archive, decompressed by the real tool. */
async function rawArchive(file: string, compression: string): Promise<Buffer> {
  if (compression === 'none') return readFile(file);
  const [tool, args] = DECOMPRESS[compression]!;
  return (await run(tool, [...args, file])).stdout;
}

async function extractGnu(raw: Uint8Array, dir: string): Promise<void> {
  await mkdir(dir);
  // As root, so owners, devices and set-id bits are restored.
  const r = await run(CPIO, ['-idm', '--no-absolute-filenames', '--quiet'], { input: raw, cwd: dir });
  assert.equal(r.stderr.trim(), '', `cpio -i complained:\n${r.stderr}`);
}
async function extractBsd(raw: Uint8Array, dir: string): Promise<void> {
  await mkdir(dir);
  const r = await run(BSDCPIO, ['-idm', '--quiet'], { input: raw, cwd: dir });
  assert.equal(r.stderr.trim(), '', `bsdcpio -i complained:\n${r.stderr}`);
}

/**
 * GNU cpio 2.13 sets a directory's time when it creates it, and creating the entries inside
 * changes it again, and it never sets a symlink's time: directory and symlink mtimes are not
 * restored by it (bsdcpio restores both, so they are checked there). The root "."
 * is the pre-existing extraction directory: its mode and owner are compared, not its time.
 */
function compareExtracted(actual: Snapshot, tool: 'gnu' | 'bsd'): void {
  let want = expected;
  if (tool === 'bsd') {
    // libarchive's disk writer cannot make sockets: it writes an empty regular file with the
    // socket's mode and owner (its listing, checked above, still shows the 's' type).
    want = new Map([...expected].map(([p, e]) => [p, e.kind === 'socket' ? { ...e, kind: 'file' as const, sha256: EMPTY_SHA256, nlink: 1 } : e]));
  }
  assertSameTree(actual, want, { ignore: tool === 'gnu' ? ['root', 'dirMtime', 'symlinkMtime'] : ['root'] });
  assertSameTree(actual, want, { only: [''], ignore: ['mtime', 'nlink'] });
}
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

async function checkArchive(raw: Uint8Array, label: string): Promise<void> {
  assertListingMatches(parseCpioListing((await run(CPIO, ['-itvn', '--quiet'], { input: raw })).stdout.toString('utf8')), expected, `cpio -itvn (${label})`);
  assertListingMatches(parseCpioListing((await run(BSDCPIO, ['-itvn', '--quiet'], { input: raw })).stdout.toString('utf8')), expected, `bsdcpio -itvn (${label})`);
  const gnuDir = join(work, `x-gnu-${label}`);
  await extractGnu(raw, gnuDir);
  compareExtracted(await snapshotDir(gnuDir), 'gnu');
  const bsdDir = join(work, `x-bsd-${label}`);
  await extractBsd(raw, bsdDir);
  compareExtracted(await snapshotDir(bsdDir), 'bsd');
}

describe('cpio archives of the rich tree, read by GNU cpio and bsdcpio', () => {
  for (const compression of COMPRESSIONS) {
    test(`${compression}: listed and extracted by both tools, tree equals the source`, async () => {
      const file = await build(`rich.cpio.${compression}`, { compression });
      const raw = await rawArchive(file, compression);
      assert.equal(raw.subarray(0, 6).toString('latin1'), '070701');
      await checkArchive(raw, compression);
    });
  }

  test("'crc' format (070702): both tools verify the checksums and extract the same tree", async () => {
    const file = await build('rich.crc.cpio.gz', { compression: 'gzip', format: 'crc' });
    const raw = await rawArchive(file, 'gzip');
    assert.equal(raw.subarray(0, 6).toString('latin1'), '070702');
    await checkArchive(raw, 'crc');
    // A flipped data byte must be caught by GNU cpio's checksum test.
    const entries = decodeCpio(raw).entries;
    const big = entries.find((e) => e.name === 'sizes/big')!;
    const broken = Buffer.from(raw);
    broken[big.data.byteOffset - raw.byteOffset + 1000]! ^= 0xff;
    const r = await run(CPIO, ['-it', '--quiet', '--only-verify-crc'], { input: broken, allowFail: true });
    assert.match(r.stderr, /checksum error/);
  });

  test('early archive: uncompressed microcode archive + compressed main archive, both read back', async () => {
    const earlyDir = join(work, 'early');
    await mkdir(join(earlyDir, 'kernel/x86/microcode'), { recursive: true });
    await writeFile(join(earlyDir, 'kernel/x86/microcode/GenuineIntel.bin'), Buffer.alloc(3000, 0x5a));
    const earlyTree = nodeSource(earlyDir);
    const file = await build('early.cpio.gz', { compression: 'gzip', early: earlyTree });
    const bytes = await readFile(file);
    // Part 1: plain newc, readable as is; GNU cpio stops at its trailer.
    assert.equal(bytes.subarray(0, 6).toString('latin1'), '070701');
    const listing = (await run(CPIO, ['-it', '--quiet'], { input: bytes })).stdout.toString('utf8').trim().split('\n');
    assert.deepEqual(listing, ['.', 'kernel', 'kernel/x86', 'kernel/x86/microcode', 'kernel/x86/microcode/GenuineIntel.bin']);
    const earlyOut = join(work, 'x-early');
    await extractGnu(bytes, earlyOut);
    assertSameTree(await snapshotDir(earlyOut), await snapshotTree(earlyTree), { ignore: ['root', 'dirMtime', 'symlinkMtime'] });
    // Part 2: after the zero padding (to 512), one gzip member holding the main archive.
    const { end } = decodeCpio(bytes);
    let at = end;
    while (bytes[at] === 0) at++;
    assert.equal(at % 512, 0);
    assert.deepEqual([...bytes.subarray(at, at + 2)], [0x1f, 0x8b]);
    const rest = join(work, 'early-main.gz');
    await writeFile(rest, bytes.subarray(at));
    await checkArchive(await rawArchive(rest, 'gzip'), 'early-main');
  });

  test('the same body with each source kind (node, lightning-fs): GNU cpio extracts what the source holds', async () => {
    const sources = await makeSources(src);
    assert.ok(sources.length >= 1);
    for (const { name, tree: t } of sources) {
      const want = await snapshotTree(t);
      const raw = await rawArchive(await build(`src-${name}.cpio.gz`, { compression: 'gzip' }, t), 'gzip');
      const dir = join(work, `x-src-${name}`);
      await extractGnu(raw, dir);
      assertSameTree(await snapshotDir(dir), want, { ignore: ['root', 'dirMtime', 'symlinkMtime'] });
    }
  });

  test('zstd level 19 with a 9 MiB file: every frame declares a window of at most 8 MiB (the kernel limit); contents survive', async () => {
    const dir = join(work, 'big-zstd');
    await mkdir(join(dir, 'lib/firmware'), { recursive: true });
    const big = Buffer.alloc(9 << 20);
    for (let i = 0; i < big.length; i++) big[i] = ((i >> 10) * 31 + (i % 97)) & 0xff; // compressible, not trivial
    await writeFile(join(dir, 'lib/firmware/blob.bin'), big);
    await writeFile(join(dir, 'init'), '#!/bin/sh\n');
    const out = await build('big.cpio.zst', { compression: 'zstd', level: 19 }, nodeSource(dir));
    const z = await readFile(out);
    const windows = zstdFrameWindows(z);
    assert.ok(windows.length >= 1);
    for (const w of windows) assert.ok(w <= 8 << 20, `a frame declares a ${w}-byte window; lib/decompress_unzstd.c allows 8 MiB`);
    const x = join(work, 'x-big');
    await extractGnu(await rawArchive(out, 'zstd'), x);
    assert.ok((await readFile(join(x, 'lib/firmware/blob.bin'))).equals(big), 'blob.bin content');
  });

  test('zstd reads files straight into its frames: a file changed after the walk is E_SOURCE_CHANGED; manifest files mixed in are read their own way', async () => {
    const dir = join(work, 'fill');
    await mkdir(join(dir, 'etc'), { recursive: true });
    await writeFile(join(dir, 'etc/a'), 'from the disk\n');
    await writeFile(join(dir, 'etc/b'), Buffer.alloc(200_000, 1));
    // a tree that changes etc/b once the walk (the writer's planning pass) is over
    const changing = (grow: boolean): SourceTree => ({
      async *walk() {
        yield* nodeSource(dir).walk();
        await writeFile(join(dir, 'etc/b'), Buffer.alloc(grow ? 200_001 : 199_999, 1));
      },
    });
    for (const grow of [true, false]) {
      await writeFile(join(dir, 'etc/b'), Buffer.alloc(200_000, 1));
      await assert.rejects(build(`changed-${grow}.cpio.zst`, { compression: 'zstd' }, changing(grow)), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'E_SOURCE_CHANGED');
        assert.equal((e as { path?: string }).path, 'etc/b');
        return true;
      });
    }
    await writeFile(join(dir, 'etc/b'), Buffer.alloc(200_000, 1));
    await writeFile(join(work, 'host-a.txt'), 'from the manifest\n');
    // a new name from the manifest (its content from the host file), and an override of etc/a, which
    // keeps the tree's content (gen_init_cpio lists name the same file as their location)
    const manifest = parseManifest('file /etc/c host-a.txt 0644 0 0\nfile /etc/a host-a.txt 0600 0 0\n', 'inline.manifest');
    const withManifest = applyManifest(nodeSource(dir), manifest, { hostFiles: nodeHostFiles(work) });
    const out = await build('manifest.cpio.zst', { compression: 'zstd' }, withManifest);
    const x = join(work, 'x-manifest');
    await extractGnu(await rawArchive(out, 'zstd'), x);
    assert.equal(await readFile(join(x, 'etc/c'), 'utf8'), 'from the manifest\n');
    assert.equal(await readFile(join(x, 'etc/a'), 'utf8'), 'from the disk\n');
    assert.ok((await readFile(join(x, 'etc/b'))).equals(Buffer.alloc(200_000, 1)));
  });

  test('determinism: two builds are byte-identical; 0 and 2 workers are byte-identical', async () => {
    for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as const) {
      const a = await readFile(await build(`det-a.${compression}`, { compression, epoch: 1_800_000_000 }));
      const b = await readFile(await build(`det-b.${compression}`, { compression, epoch: 1_800_000_000 }));
      assert.ok(a.equals(b), `${compression}: two builds differ`);
      const pool = createNodePool({ workers: 2 });
      try {
        const c = await readFile(await build(`det-c.${compression}`, { compression, epoch: 1_800_000_000, pool }));
        assert.ok(a.equals(c), `${compression}: 0 vs 2 workers differ`);
      } finally {
        await pool.close();
      }
    }
  });
});

after(() => {
  /* temp dirs go at exit */
});
