/**
 * squashfs images checked by squashfs-tools and squashfs-tools-ng: for each compressor, with and
 * without fragments and duplicate detection, the rich tree (+ its manifest: devices, fifo, socket,
 * owners) is written, then `unsquashfs -stat`, `unsquashfs -lln`, `unsquashfs -d` and
 * `sqfs2tar | tar -x` must all agree with the source snapshot.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyManifest, memoryTree, parseManifest, type SourceTree } from '@imgkit/core';
import { createNodePool, fileSink, nodeSource } from '@imgkit/core/node';
import { Superblock, writeSquashfs, type SquashfsCompression, type SquashfsOptions } from '@imgkit/squashfs';
import { makeRichTree, richManifestText, RICH_MANIFEST_PATH } from './lib/fixture.js';
import { requireTool, run, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir, snapshotTree, type Snapshot } from './lib/tree.js';
import { lightningFsTree } from './lib/source.js';
import { assertListingMatches, parseLln } from './lib/squashfs-listing.js';

const UNSQUASHFS = () => requireTool('unsquashfs', 'squashfs-tools');
const SQFS2TAR = () => requireTool('sqfs2tar', 'squashfs-tools-ng');
const TAR = () => requireTool('tar', 'tar');

let srcDir: string;
let manifestText: string;
// Node cannot read xattrs from disk, so the matrix gets them from imgkit's manifest `xattr` lines:
// on a file, on a hard-linked file (one inode, one set), on a directory and on a device node.
const XATTRS: Record<string, Record<string, string>> = {
  'bin/tool': { 'user.comment': 'hello', 'security.capability': '0100000220000000000000000000000000000000' },
  'hard/a': { 'user.linked': 'one inode' },
  'hard/b': { 'user.linked': 'one inode' },
  'hard/sub/c': { 'user.linked': 'one inode' },
  'home/user': { 'user.dir': 'D', 'trusted.t': 'T' },
  'dev/console': { 'trusted.dev': 'console' },
};
const XATTR_MANIFEST = [
  'xattr /bin/tool user.comment hello',
  'xattr /bin/tool security.capability 0x0100000220000000000000000000000000000000',
  'xattr /hard/a user.linked one inode',
  'xattr /home/user user.dir D',
  'xattr /home/user trusted.t T',
  'xattr /dev/console trusted.dev console',
].join('\n');
const hexOf = (v: string): string => (/^[0-9a-f]{40}$/.test(v) ? v : Buffer.from(v).toString('hex'));

function richSource(): SourceTree {
  return applyManifest(nodeSource(srcDir), parseManifest(`${manifestText}\n${XATTR_MANIFEST}\n`, RICH_MANIFEST_PATH), { mtime: 1_700_000_000 });
}

/** xattrs (hex values) of the XATTRS paths under an extracted tree, read by python's os.getxattr. */
async function xattrsUnder(dir: string): Promise<Record<string, Record<string, string>>> {
  const py = requireTool('python3', 'python3');
  const res = await run(py, [
    '-c',
    'import os,sys,json\nd=sys.argv[1]\nprint(json.dumps({p:{k:os.getxattr(os.path.join(d,p),k,follow_symlinks=False).hex() for k in os.listxattr(os.path.join(d,p),follow_symlinks=False)} for p in sys.argv[2:]}))',
    dir,
    ...Object.keys(XATTRS),
  ]);
  return JSON.parse(res.stdout.toString()) as Record<string, Record<string, string>>;
}
function expectedXattrs(): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(XATTRS).map(([p, kv]) => [p, Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, hexOf(v)]))]));
}

export interface StatInfo {
  compression: string;
  blockSize: number;
  inodes: number;
  fragments: number;
  ids: number;
  duplicates: boolean;
  text: string;
}
export async function unsquashfsStat(image: string): Promise<StatInfo> {
  const { stdout } = await run(UNSQUASHFS(), ['-stat', image], { env: { TZ: 'UTC' } });
  const text = stdout.toString();
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  return {
    compression: /^Compression (\S+)/m.exec(text)?.[1] ?? '',
    blockSize: num(/^Block size (\d+)/m),
    inodes: num(/^Number of inodes (\d+)/m),
    fragments: num(/^Number of fragments (\d+)/m),
    ids: num(/^Number of ids (\d+)/m),
    duplicates: /^Duplicates are removed/m.test(text),
    text,
  };
}

before(async () => {
  srcDir = join(await tempDir('sqfs-rich'), 'src');
  await makeRichTree(srcDir);
  manifestText = await richManifestText();
});

const COMPRESSORS: SquashfsCompression[] = ['gzip', 'zstd', 'lz4', 'xz'];
const VARIANTS: { label: string; opts: SquashfsOptions }[] = [
  { label: 'fragments + duplicates', opts: {} },
  { label: 'no fragments, no duplicates', opts: { fragments: false, duplicates: false } },
];
const EPOCH = 1_234_567_890;

for (const compression of COMPRESSORS) {
  describe(`squashfs ${compression}`, () => {
    for (const variant of VARIANTS) {
      it(`${variant.label}: unsquashfs -stat, -lln, -d and sqfs2tar agree with the source`, async () => {
        const dir = await tempDir(`sqfs-${compression}`);
        const image = join(dir, 'img.sqfs');
        const pool = createNodePool({ workers: 2 });
        let result;
        try {
          const sink = await fileSink(image);
          result = await writeSquashfs(richSource(), sink, { ...variant.opts, compression, mkfsTime: EPOCH, pool });
          await sink.close();
        } finally {
          await pool.close();
        }
        const expected = await snapshotTree(richSource());

        // Superblock, decoded directly, and unsquashfs -stat.
        const sb = Superblock.decode(await readFile(image));
        assert.equal(sb.modificationTime, EPOCH);
        assert.equal(sb.blockSize, 131072);
        assert.equal(sb.inodeCount, result.inodeCount);
        const stat = await unsquashfsStat(image);
        assert.equal(stat.compression, compression, stat.text);
        assert.equal(stat.blockSize, 131072);
        // Inodes: one per entry, hard-linked names share one (hard/a,b,sub/c and empty1,empty2).
        assert.equal(stat.inodes, expected.size - 3);
        assert.equal(stat.fragments, variant.opts.fragments === false ? 0 : result.fragmentCount);
        assert.equal(stat.duplicates, variant.opts.duplicates !== false);
        if (variant.opts.fragments === false) assert.equal(result.fragmentCount, 0);
        else assert.ok(result.fragmentCount >= 1);
        const created = new Date(EPOCH * 1000).toUTCString().slice(0, 3); // weekday shows the date was read
        assert.match(stat.text, new RegExp(`Creation or last append time ${created}`));

        // unsquashfs -lln
        const lln = await run(UNSQUASHFS(), ['-lln', image], { env: { TZ: 'UTC' } });
        assertListingMatches(parseLln(lln.stdout.toString()), expected);

        // unsquashfs -d: the whole tree, content, owners, devices, hard links.
        const out1 = join(dir, 'unsquashfs');
        await run(UNSQUASHFS(), ['-no-progress', '-d', out1, image]);
        assertSameTree(await snapshotDir(out1), expected);
        assert.deepEqual(await xattrsUnder(out1), expectedXattrs(), 'xattrs after unsquashfs -d');

        // sqfs2tar | tar -x (tar has no sockets: sqfs2tar skips them).
        const out2 = join(dir, 'sqfs2tar');
        const tarFile = join(dir, 'img.tar');
        const tarred = await run(SQFS2TAR(), [image]);
        await writeFile(tarFile, tarred.stdout);
        await run('mkdir', ['-p', out2]);
        await run(TAR(), ['-xpf', tarFile, '--numeric-owner', '--same-owner', '--xattrs', '--xattrs-include=*', '-C', out2]);
        assert.deepEqual(await xattrsUnder(out2), expectedXattrs(), 'xattrs after sqfs2tar | tar -x');
        const noSockets = new Map([...expected].filter(([, e]) => e.kind !== 'socket'));
        assertSameTree(await snapshotDir(out2), noSockets, { ignore: ['root'] });
      });
    }
  });
}

describe('squashfs from a lightning-fs source (the browser path)', () => {
  it('unsquashfs -d gives back the lightning-fs tree', async () => {
    const tree = await lightningFsTree(srcDir);
    assert.ok(tree, '@imgkit/core/browser must export lightningFsSource');
    const dir = await tempDir('sqfs-lfs');
    const image = join(dir, 'img.sqfs');
    const sink = await fileSink(image);
    await writeSquashfs(tree, sink, { mkfsTime: EPOCH });
    await sink.close();
    const out = join(dir, 'out');
    await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
    assertSameTree(await snapshotDir(out), await snapshotTree(tree), { ignore: ['root'] });
  });
});

describe('squashfs epoch', () => {
  it('epoch sets the mkfs time and clamps newer file times; mkfsTime alone does not clamp', async () => {
    const tree = memoryTree([
      { path: 'old', kind: 'file', content: 'old', mtime: 1_000_000_000 },
      { path: 'new', kind: 'file', content: 'new', mtime: 1_700_000_000 },
      { path: 'dir', kind: 'dir', mtime: 1_800_000_000 },
    ], { mtime: 1_750_000_000 });
    const epoch = 1_500_000_000;
    const dir = await tempDir('sqfs-epoch');
    for (const [name, opts, expectNew] of [
      ['clamped', { epoch }, epoch],
      ['mkfs-only', { mkfsTime: epoch }, 1_700_000_000],
    ] as const) {
      const image = join(dir, `${name}.sqfs`);
      const sink = await fileSink(image);
      await writeSquashfs(tree, sink, opts);
      await sink.close();
      assert.equal(Superblock.decode(await readFile(image)).modificationTime, epoch);
      const out = join(dir, name);
      await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
      const snap = await snapshotDir(out);
      assert.equal(snap.get('old')?.mtime, 1_000_000_000, name);
      assert.equal(snap.get('new')?.mtime, expectNew, name);
      assert.equal(snap.get('dir')?.mtime, name === 'clamped' ? epoch : 1_800_000_000, name);
    }
  });
});
