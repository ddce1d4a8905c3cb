/**
 * `content: { ext4: DIR }` in `imgkit disk` layouts, built by the CLI and read back by the reference
 * tools: sfdisk --json for the partitions; each ext4 partition cut out with dd at its offset and
 * checked with `e2fsck -fn` and `dumpe2fs -h` (the filesystem fills its partition; label, features,
 * block size, distinct UUIDs); the kernel mounts each one from the disk (`mount -o
 * loop,offset=…,sizelimit=…`) and the mounted tree equals the source (names, kinds, modes, owners,
 * times, link targets, devices, hard links, sha256) and getfattr shows the manifest's xattrs. A
 * partition too small for its tree is E_NO_SPACE naming the partition and the bytes needed.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { applyManifest, parseManifest } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { validateLayout } from '@imgkit/disk';
import { planExt4 } from '@imgkit/ext4';
import { assertFsckClean, clamped, dumpe2fsHeader, getfattrAll, makeExt4Tree, MOUNT, UMOUNT, withoutLostFound } from './ext4-lib.ts';
import { richManifestText } from './lib/fixture.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.ts';

const EPOCH = 1_700_000_000;
const ENV = { SOURCE_DATE_EPOCH: String(EPOCH) };
const MiB = 1 << 20;
const SFDISK = () => requireTool('sfdisk', 'fdisk');
const DD = () => requireTool('dd', 'coreutils');

/** Extended attributes the root partition's manifest sets (manifest `xattr` lines). */
const XATTRS: Record<string, Record<string, string>> = {
  'bin/tool': { 'user.comment': 'hello', 'security.selinux': 'system_u:object_r:bin_t:s0' },
  'home/user': { 'user.dir': 'D' },
};
const hex = (kv: Record<string, string>) => Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, Buffer.from(v).toString('hex')]));

interface Part { start: number; size: number; name?: string }
async function partitions(image: string): Promise<Part[]> {
  const r = await run(SFDISK(), ['--json', image]);
  return (JSON.parse(r.stdout.toString('utf8')) as { partitiontable: { partitions: Part[] } }).partitiontable.partitions;
}

/** The bytes of a partition as a file of its own (dd at the partition's offset). */
async function extract(image: string, p: Part, out: string): Promise<string> {
  await run(DD(), [`if=${image}`, `of=${out}`, 'bs=1M', 'iflag=skip_bytes,count_bytes', `skip=${p.start * 512}`, `count=${p.size * 512}`, 'conv=sparse', 'status=none']);
  return out;
}

/** Mount the partition at `p` of `image` read-only (loop, offset, sizelimit), run `fn`, always unmount. */
async function withPartitionMount<T>(image: string, p: Part, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(await tempDir('disk-ext4-mnt'), 'm');
  await mkdir(dir);
  await run(MOUNT(), ['-t', 'ext4', '-o', `loop,ro,offset=${p.start * 512},sizelimit=${p.size * 512}`, image, dir]);
  try {
    return await fn(dir);
  } finally {
    await run(UMOUNT(), [dir]);
  }
}

describe('ext4 partitions in a disk layout', () => {
  let work = '';
  let image = '';
  let manifestText = '';
  let parts: Part[] = [];
  /** The root partition's source as the layout reads it: the directory and its manifest (entries dated at the epoch). */
  const rootSource = () => applyManifest(nodeSource(join(work, 'root')), parseManifest(manifestText, join(work, 'root.manifest')), { mtime: EPOCH });
  before(async () => {
    work = await tempDir('disk-ext4');
    await makeExt4Tree(join(work, 'root'));
    await mkdir(join(work, 'data'));
    await writeFile(join(work, 'data', 'config.txt'), 'key=value\n');
    await mkdir(join(work, 'state'));
    await writeFile(join(work, 'state', 'machine-id'), '0123456789abcdef\n');
    const xattrLines = Object.entries(XATTRS).flatMap(([p, kv]) => Object.entries(kv).map(([k, v]) => `xattr /${p} ${k} ${v}`));
    manifestText = `${await richManifestText()}\n${xattrLines.join('\n')}\n`;
    await writeFile(join(work, 'root.manifest'), manifestText);
    await writeFile(
      join(work, 'layout.yaml'),
      [
        'table: gpt',
        'size: 256M',
        'partitions:',
        '  - { label: root, type: linux, size: auto, content: { ext4: root/, manifest: root.manifest, label: rootfs } }',
        '  - label: data',
        '    size: 24M',
        '    content: { ext4: data/, label: data, features: "^metadata_csum,^64bit", blockSize: 1024, reservedPercent: 0, allRoot: true }',
        '  - { label: state, size: fill, content: { ext4: state/, label: state, uid: 1000, gid: 1000 } }',
        '',
      ].join('\n'),
    );
    image = join(work, 'disk.img');
    const r = await runImgkit(['disk', join(work, 'layout.yaml'), image], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    parts = await partitions(image);
  });

  test("the partitions: root sized from its tree (size: auto is planExt4's automatic size), data as given, state filling the disk", async () => {
    assert.deepEqual(parts.map((p) => p.name), ['root', 'data', 'state']);
    const [root, data, state] = parts;
    const auto = await planExt4(rootSource(), { epoch: EPOCH, label: 'rootfs' });
    assert.equal(auto.sizeBytes % MiB, 0, 'the automatic size is whole MiB (so the 1 MiB alignment adds nothing)');
    assert.equal(root!.size * 512, auto.sizeBytes);
    assert.equal(data!.size * 512, 24 * MiB);
    assert.equal((state!.start + state!.size) * 512, 255 * MiB, 'fill ends on the alignment before the backup GPT');
  });

  test('e2fsck -fn finds nothing in each partition (cut out with dd); dumpe2fs -h: each filesystem fills its partition, labels, features, block sizes, distinct UUIDs', async () => {
    const uuids = new Set<string>();
    const expect = [
      { label: 'rootfs', blockSize: 4096, csum: true },
      { label: 'data', blockSize: 1024, csum: false },
      { label: 'state', blockSize: 4096, csum: true },
    ];
    for (const [i, p] of parts.entries()) {
      const file = await extract(image, p, join(work, `part${i + 1}.img`));
      await assertFsckClean(file, `partition ${i + 1} (${p.name})`);
      const h = await dumpe2fsHeader(file);
      const e = expect[i]!;
      assert.equal(h.get('Filesystem volume name'), e.label);
      assert.equal(Number(h.get('Block size')), e.blockSize);
      assert.equal(Number(h.get('Block count')) * e.blockSize, p.size * 512, `${p.name}: the filesystem is as large as its partition`);
      const features = h.get('Filesystem features')!.split(' ');
      assert.equal(features.includes('metadata_csum'), e.csum, `${p.name}: ${features.join(' ')}`);
      assert.equal(features.includes('64bit'), e.csum, `${p.name}: ${features.join(' ')}`);
      assert.ok(features.includes('has_journal') && features.includes('extent'), `${p.name}: ${features.join(' ')}`);
      if (i === 1) assert.equal(Number(h.get('Reserved block count')), 0, 'reservedPercent: 0');
      uuids.add(h.get('Filesystem UUID')!);
    }
    assert.equal(uuids.size, 3, 'each partition has its own UUID');
  });

  test('the kernel mounts each partition from the disk (offset, sizelimit): the trees equal the sources, xattrs included', async () => {
    const rootExpected = await snapshotTree(clamped(rootSource(), EPOCH));
    await withPartitionMount(image, parts[0]!, async (dir) => {
      assertSameTree(withoutLostFound(await snapshotDir(dir)), rootExpected);
      assert.deepEqual(await getfattrAll(dir, Object.keys(XATTRS)), Object.fromEntries(Object.entries(XATTRS).map(([p, kv]) => [p, hex(kv)])));
      assert.ok((await readdir(join(dir, 'many'))).length === 400);
    });
    const data = await snapshotTree(clamped(nodeSource(join(work, 'data')), EPOCH));
    await withPartitionMount(image, parts[1]!, async (dir) => {
      const got = withoutLostFound(await snapshotDir(dir));
      assertSameTree(got, data, { ignore: ['uid', 'gid'] });
      for (const [path, e] of got) assert.deepEqual([path, e.uid, e.gid], [path, 0, 0], 'allRoot: every entry is 0:0');
    });
    const state = await snapshotTree(clamped(nodeSource(join(work, 'state')), EPOCH));
    await withPartitionMount(image, parts[2]!, async (dir) => {
      const got = withoutLostFound(await snapshotDir(dir));
      assertSameTree(got, state, { ignore: ['uid', 'gid'] });
      for (const [path, e] of got) assert.deepEqual([path, e.uid, e.gid], [path, 1000, 1000], 'uid/gid: 1000');
      assert.equal(await readFile(join(dir, 'machine-id'), 'utf8'), '0123456789abcdef\n');
    });
  });

  test('the same layout and SOURCE_DATE_EPOCH give the same bytes', async () => {
    const again = join(work, 'again.img');
    const r = await runImgkit(['disk', join(work, 'layout.yaml'), again], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    const sum = async (f: string) => (await run('sha256sum', [f])).stdout.toString().split(' ')[0];
    assert.equal(await sum(again), await sum(image));
  });
});

describe('ext4 content: bad input', () => {
  test('a partition too small for its tree: E_NO_SPACE naming the partition and the bytes needed; no output left', async () => {
    const dir = await tempDir('disk-ext4-small');
    await mkdir(join(dir, 'root'));
    await writeFile(join(dir, 'root', 'big'), Buffer.alloc(12 * MiB, 1));
    await writeFile(join(dir, 'layout.yaml'), 'table: gpt\npartitions:\n  - { label: tiny-root, size: 8M, content: { ext4: root/ } }\n');
    const r = await runImgkit(['disk', join(dir, 'layout.yaml'), join(dir, 'out.img')], { env: ENV });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[E_NO_SPACE\]/);
    assert.match(r.stderr, /tiny-root/);
    const needed = Number(/(\d+) bytes/.exec(r.stderr)?.[1]);
    assert.ok(needed > 12 * MiB, `the bytes needed (${needed}) hold the 12 MiB file: ${r.stderr}`);
    assert.match(r.stderr, /partition's size/, 'the way out names the partition size, not --size');
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('out.img') || f.includes('.imgkit-')), []);
  });

  test('the layout checks ext4 options by name (block size, unknown key) and takes size: auto', () => {
    const layout = (content: Record<string, unknown>, size: unknown = 'auto') => ({ table: 'gpt', partitions: [{ label: 'r', size, content: { ext4: 'r/', ...content } }] });
    const ok = validateLayout(layout({ label: 'x', features: '^64bit', blockSize: 1024, inodes: 100, margin: '20%', inodeReserve: 5 }));
    assert.equal(ok.partitions[0]!.size, undefined, 'auto: sized from the content');
    assert.deepEqual(ok.partitions[0]!.content, { kind: 'ext4', source: 'r/', label: 'x', features: '^64bit', blockSize: 1024, inodes: 100, margin: '20%', inodeReserve: 5 });
    assert.throws(() => validateLayout(layout({ blockSize: 8192 })), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'partitions[0].content.blockSize');
    assert.throws(() => validateLayout(layout({ compression: 'xz' })), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'partitions[0].content.compression');
    assert.throws(() => validateLayout(layout({ reservedPercent: 60 })), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'partitions[0].content.reservedPercent');
  });
});
