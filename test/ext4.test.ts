/**
 * ext4 images checked by e2fsprogs and the kernel: the rich tree (every entry kind, owners,
 * set-id bits, hard links, devices, a fifo and a socket from the manifest, xattrs in the inode
 * and in a shared block, security.capability, security.selinux and a POSIX ACL, a hashed
 * directory, a sparse file) is written, then `e2fsck -fn` must find nothing, `dumpe2fs -h` must
 * show the features, counts, UUID and label, `debugfs stat` the inodes as planned, and the mounted
 * tree (mount -o loop) must equal the source, xattrs read by getfattr included. Then it is
 * mounted read-write and changed, and e2fsck must still find nothing.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatUuid, featureNames } from '@imgkit/ext4';
import {
  EPOCH,
  MANY_NAMES,
  SPARSE_SIZE,
  asctime,
  assertFsckClean,
  clamped,
  debugfs,
  dumpe2fsHeader,
  getfattrAll,
  makeExt4Tree,
  richExt4Source,
  richXattrsHex,
  withMount,
  withoutLostFound,
  writeImage,
  RICH_XATTRS,
  SPARSE_ISLANDS,
} from './ext4-lib.ts';
import { lightningFsTree } from './lib/source.ts';
import { tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.ts';

let srcDir: string;

before(async () => {
  srcDir = join(await tempDir('ext4-rich'), 'src');
  await makeExt4Tree(srcDir);
});

describe('ext4: the rich tree with Debian\'s defaults', () => {
  let image: string;
  let plan: Awaited<ReturnType<typeof writeImage>>['plan'];

  before(async () => {
    ({ image, plan } = await writeImage(await richExt4Source(srcDir), { epoch: EPOCH, label: 'rich' }));
  });

  it('e2fsck -fn finds nothing; dumpe2fs -h shows the features, counts, UUID and label planned', async () => {
    const summary = await assertFsckClean(image);
    const h = await dumpe2fsHeader(image);
    assert.equal(h.get('Filesystem volume name'), 'rich');
    assert.equal(h.get('Filesystem UUID'), formatUuid(plan.uuid));
    assert.equal(h.get('Filesystem features'), featureNames(plan.features).join(' '));
    assert.equal(
      h.get('Filesystem features'),
      'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum',
    );
    assert.equal(Number(h.get('Block count')), plan.blocks);
    assert.equal(Number(h.get('Inode count')), plan.inodes);
    assert.equal(Number(h.get('Free blocks')), plan.freeBlocks);
    assert.equal(Number(h.get('Free inodes')), plan.freeInodes);
    assert.equal(Number(h.get('Block size')), 4096);
    assert.equal(h.get('Inode size'), '256');
    assert.equal(h.get('Default directory hash'), 'half_md4');
    assert.equal(h.get('Checksum type'), 'crc32c');
    assert.equal(h.get('Filesystem state'), 'clean');
    assert.equal(h.get('Journal inode'), '8');
    assert.equal(h.get('Journal start'), '0', 'an empty journal: nothing to replay');
    assert.equal(h.get('Filesystem created'), asctime(EPOCH));
    assert.equal(h.get('Last mount time'), 'n/a');
    // e2fsck's summary agrees: files = used inodes, blocks = used blocks
    const m = /: (\d+)\/(\d+) files .*, (\d+)\/(\d+) blocks/.exec(summary)!;
    assert.equal(Number(m[2]), plan.inodes);
    assert.equal(Number(m[3]), plan.blocks - plan.freeBlocks);
  });

  it('debugfs stat: sizes, link counts, extents (and an extent index block), fast and slow symlinks, devices, xattrs in the inode and in a block', async () => {
    const st = (p: string) => debugfs(image, `stat "/${p}"`);
    const readme = await st('README');
    assert.match(readme, /Type: regular\s+Mode:\s+0644\s+Flags: 0x80000/);
    assert.match(readme, /Links: 1\s+Blockcount: 8\b/);
    assert.match(readme, /EXTENTS:\n\(0\):\d+/);
    const hard = await st('hard/a');
    assert.match(hard, /Links: 3/);
    assert.match(hard, /user\.linked \(9\) = "one inode"/);
    assert.match(await st('links/rel'), /Fast link dest: "\.\.\/README"/);
    const long = await st('links/long');
    assert.match(long, /Type: symlink.*Flags: 0x80000/s, 'a 401-byte target lives in an extent-mapped block');
    assert.match(long, /Size: 401/);
    const console = await st('dev/console');
    assert.match(console, /Type: character special/);
    assert.match(console, /Device major\/minor number: 05:01/);
    assert.match(console, /trusted\.dev \(7\) = "console"/);
    const wide = await st('dev/wide');
    assert.match(wide, /Device major\/minor number: 300:70000/);
    const suid = await st('bin/suid');
    assert.match(suid, /Mode:\s+04755/);
    assert.match(suid, /File ACL: [1-9]\d*/, 'user.big went to a block');
    const acl = Number(/File ACL: (\d+)/.exec(suid)![1]);
    assert.equal(Number(/File ACL: (\d+)/.exec(await st('bin/sgid'))![1]), acl, 'two inodes with the same attributes share one block');
    assert.match(await st('bin/tool'), /system\.posix_acl_access/);
    const sparse = await st('sparse');
    assert.match(sparse, new RegExp(`Size: ${SPARSE_SIZE}\\b`));
    assert.match(sparse, /\(ETB0\):\d+/, 'six data islands: more than four extents, so an index block');
    // holes take no blocks: the islands' 4 KiB granules (nodeSource finds them) and the index block
    const dataBlocks = SPARSE_ISLANDS.reduce((n, [off, len]) => n + Math.ceil((off + len) / 4096) - Math.floor(off / 4096), 0);
    assert.equal(Number(/Blockcount: (\d+)/.exec(sparse)![1]), (dataBlocks + 1) * 8);
    const many = await st('many');
    assert.match(many, /Flags: 0x81000/, 'a directory of several blocks is hashed (INDEX_FL)');
    const htree = await debugfs(image, 'htree /many');
    assert.match(htree, /Indirect levels: 0/);
    assert.match(htree, /Number of entries \(count\): [2-9]/);
  });

  it('the kernel mounts it: the mounted tree equals the source, xattrs (getfattr) included', async () => {
    const expected = await snapshotTree(clamped(await richExt4Source(srcDir), EPOCH));
    await withMount(image, { readOnly: true }, async (dir) => {
      const actual = withoutLostFound(await snapshotDir(dir));
      assertSameTree(actual, expected);
      assert.deepEqual(await getfattrAll(dir, Object.keys(RICH_XATTRS)), richXattrsHex());
      assert.deepEqual(await getfattrAll(dir, ['README', 'many']), { README: {}, many: {} }, 'no attributes where none were given');
      const st = await stat(join(dir, 'sparse'));
      assert.ok(st.blocks * 512 < 1 << 20, `the sparse file takes ${st.blocks * 512} bytes`);
      const lf = await stat(join(dir, 'lost+found'));
      assert.equal(lf.mode & 0o7777, 0o700);
      assert.equal(lf.size, 16384, "mke2fs's lost+found: 4 blocks");
    });
  });

  it('mounted read-write, files are written, renamed and deleted; after unmounting e2fsck -fn still finds nothing', async () => {
    // a fixed size with room to write (the automatic size leaves a 10 % margin)
    const { image: rw } = await writeImage(await richExt4Source(srcDir), { epoch: EPOCH, size: 64 << 20 });
    await assertFsckClean(rw);
    await withMount(rw, { readOnly: false }, async (dir) => {
      await writeFile(join(dir, 'new-file'), 'written by the kernel\n');
      await mkdir(join(dir, 'many', 'sub'));
      for (let i = 0; i < 300; i++) await writeFile(join(dir, 'many', `added-${i}`), String(i));
      for (const n of MANY_NAMES.slice(0, 150)) await rm(join(dir, 'many', n));
      await rename(join(dir, 'README'), join(dir, 'many', 'README.moved'));
      await rm(join(dir, 'sizes'), { recursive: true });
      await rm(join(dir, 'sparse'));
      await writeFile(join(dir, 'hard', 'a'), 'rewritten');
      await symlink('new-file', join(dir, 'new-link'));
      await writeFile(join(dir, 'big'), Buffer.alloc(5 << 20, 7));
    });
    await assertFsckClean(rw, 'the image after read-write use');
    await withMount(rw, { readOnly: true }, async (dir) => {
      assert.equal(await readFile(join(dir, 'new-file'), 'utf8'), 'written by the kernel\n');
      assert.equal(await readFile(join(dir, 'hard', 'sub', 'c'), 'utf8'), 'rewritten');
      assert.equal(await readFile(join(dir, 'many', 'added-299'), 'utf8'), '299');
      assert.equal(await readFile(join(dir, 'many', MANY_NAMES[399]!), 'utf8'), '399\n');
    });
  });

  it('deterministic: the same tree and epoch give the same bytes; another epoch gives another UUID', async () => {
    const again = await writeImage(await richExt4Source(srcDir), { epoch: EPOCH, label: 'rich' });
    assert.ok(Buffer.compare(await readFile(image), await readFile(again.image)) === 0, 'same bytes');
    const other = await writeImage(await richExt4Source(srcDir), { epoch: EPOCH + 1, label: 'rich' });
    assert.notEqual(formatUuid(other.plan.uuid), formatUuid(plan.uuid));
  });
});

describe('ext4: a lightning-fs source (browser)', () => {
  it('e2fsck -fn finds nothing and the mounted tree equals that source', async () => {
    const tree = await lightningFsTree(srcDir);
    assert.ok(tree, 'lightning-fs source available');
    const { image } = await writeImage(tree, { epoch: EPOCH });
    await assertFsckClean(image);
    const expected = await snapshotTree(clamped((await lightningFsTree(srcDir))!, EPOCH));
    await withMount(image, { readOnly: true }, async (dir) => {
      assertSameTree(withoutLostFound(await snapshotDir(dir)), expected);
    });
  });
});

/** Variants for old kernels and boot loaders, other block and inode sizes, mke2fs's other switches. */
const VARIANTS: { label: string; options: Parameters<typeof writeImage>[1]; features: string }[] = [
  { label: '1 KiB blocks', options: { blockSize: 1024 }, features: 'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum' },
  { label: '2 KiB blocks, 512-byte inodes', options: { blockSize: 2048, inodeSize: 512 }, features: 'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file dir_nlink extra_isize metadata_csum' },
  { label: '^metadata_csum,^64bit (old GRUB and kernels)', options: { features: '^metadata_csum,^64bit' }, features: 'has_journal ext_attr resize_inode dir_index filetype extent flex_bg sparse_super large_file huge_file dir_nlink extra_isize' },
  { label: 'uninit_bg instead of metadata_csum', options: { features: '^metadata_csum,uninit_bg' }, features: 'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file uninit_bg dir_nlink extra_isize' },
  {
    label: 'no journal, resize inode, flex_bg, dir_index, huge_file, dir_nlink, extra_isize',
    options: { features: '^has_journal,^resize_inode,^flex_bg,^dir_index,^huge_file,^dir_nlink,^extra_isize' },
    features: 'ext_attr filetype extent 64bit sparse_super large_file metadata_csum',
  },
  { label: '128-byte inodes, metadata_csum_seed, tea hash', options: { inodeSize: 128, features: 'metadata_csum_seed', hashAlg: 'tea' }, features: 'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg metadata_csum_seed sparse_super large_file huge_file dir_nlink extra_isize metadata_csum' },
];

describe('ext4: variants', () => {
  for (const v of VARIANTS) {
    it(`${v.label}: e2fsck -fn finds nothing, dumpe2fs shows the features, the mounted tree equals the source`, async () => {
      const { image } = await writeImage(await richExt4Source(srcDir), { epoch: EPOCH, ...v.options });
      await assertFsckClean(image, v.label);
      const h = await dumpe2fsHeader(image);
      assert.equal(h.get('Filesystem features'), v.features);
      if (v.options.blockSize) assert.equal(Number(h.get('Block size')), v.options.blockSize);
      const expected = await snapshotTree(clamped(await richExt4Source(srcDir), EPOCH));
      await withMount(image, { readOnly: true }, async (dir) => {
        assertSameTree(withoutLostFound(await snapshotDir(dir)), expected);
        // 128-byte inodes hold no attributes: they all go to blocks
        assert.deepEqual(await getfattrAll(dir, Object.keys(RICH_XATTRS)), richXattrsHex());
      });
    });
  }
});
