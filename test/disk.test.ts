/**
 * `imgkit disk`: the two example layouts of fixtures/disk built by the CLI and read back by the
 * reference tools —
 *   - sgdisk -v ("No problems found") and sgdisk -p, sfdisk --json, fdisk -l: the partitions the
 *     issue asks for, at the sectors the layout gives;
 *   - blkid -p on each partition of a loop device (`losetup -P`, or `partx -a` where the kernel
 *     parses no tables): filesystem type and label, partition name, number and offset;
 *   - fsck.fat -n -v on every FAT partition; `mcopy -s -m` extraction equals the source tree
 *     (names, sizes, sha256, times to 2 s); `mdir` shows the short names mtools would make;
 *   - `unsquashfs -o <offset>` extraction of each squashfs partition equals the source (owners from
 *     allRoot, modes, times clamped to SOURCE_DATE_EPOCH, sha256).
 * genimage (Debian's package) builds the A/B disk from fixtures/disk/ab/genimage.cfg; `sfdisk --json`
 * of both agree on starts, sizes, types and names. The output is sparse (a 2 GiB image takes what its
 * contents take), byte-identical for the YAML and an equivalent JSON layout and across runs.
 * The kernel mounts of the FAT and squashfs partitions happen in test/boot-disk.test.ts (QEMU).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat, writeFile, cp, symlink, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { applyOwnership } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { FAT_IGNORED, fatView, fsckFat, fsckProblems, FSCK_PROBLEMS, mcopyExtract, mdir } from './lib/fat.ts';
import { REPO_ROOT, requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.ts';

const EPOCH = 1_700_000_000;
const ENV = { SOURCE_DATE_EPOCH: String(EPOCH) };
const AB = join(REPO_ROOT, 'fixtures/disk/ab');
const RPI = join(REPO_ROOT, 'fixtures/disk/rpi');
const MiB = 1 << 20;
const GUID = { esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' };

const SGDISK = () => requireTool('sgdisk', 'gdisk');
const SFDISK = () => requireTool('sfdisk', 'fdisk');
const FDISK = () => requireTool('fdisk', 'fdisk');
const LOSETUP = () => requireTool('losetup', 'mount');
const PARTX = () => requireTool('partx', 'util-linux');
const BLKID = () => requireTool('blkid', 'util-linux');
const UNSQUASHFS = () => requireTool('unsquashfs', 'squashfs-tools');
const GENIMAGE = () => requireTool('genimage', 'genimage');

interface SfdiskPartition { node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }
interface SfdiskTable { label: string; id: string; sectorsize: number; firstlba?: number; lastlba?: number; partitions: SfdiskPartition[] }
async function sfdiskJson(target: string): Promise<SfdiskTable> {
  return (JSON.parse((await run(SFDISK(), ['--json', target])).stdout.toString('utf8')) as { partitiontable: SfdiskTable }).partitiontable;
}

async function blkid(dev: string): Promise<Record<string, string>> {
  const r = await run(BLKID(), ['-p', '-o', 'udev', dev], { allowFail: true });
  const kv: Record<string, string> = {};
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const m = /^ID_(?:FS_)?([A-Z_]+)=(.*)$/.exec(line);
    if (m) kv[m[1]!] = m[2]!.replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
  return kv;
}

const attached = new Set<string>();
/** A loop device over `file` with partition devices (the kernel's, or partx's). */
async function attach(t: TestContext, file: string): Promise<{ dev: string; part: (n: number) => string }> {
  const dev = (await run(LOSETUP(), ['-P', '-r', '--show', '-f', file])).stdout.toString('utf8').trim();
  attached.add(dev);
  const name = dev.slice('/dev/'.length);
  let parts: string[] = [];
  try {
    parts = (await readdir(`/sys/block/${name}`)).filter((x) => x.startsWith(`${name}p`));
  } catch {
    /* none */
  }
  if (parts.length === 0) {
    await run(PARTX(), ['-a', dev], { allowFail: true });
    t.diagnostic(`${dev}: partition devices added by partx -a (this kernel parses no partition tables)`);
  }
  return { dev, part: (n) => `${dev}p${n}` };
}
after(async () => {
  for (const d of attached) await run(LOSETUP(), ['-d', d], { allowFail: true });
});

async function build(layout: string, out: string, extra: string[] = []): Promise<string> {
  const r = await runImgkit(['disk', layout, out, '-v', ...extra], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /imgkit: wrote 2\.00 GiB|imgkit: wrote 512\.0 MiB|imgkit: wrote /);
  return r.stderr;
}

/** What a source tree looks like through FAT (times in 2-second steps, clamped to the epoch). */
async function fatExpected(dir: string) {
  return fatView(await snapshotTree(nodeSource(dir)), EPOCH);
}

/** Extract the FAT at `offset` of `image` with mcopy -s -m and compare it with `src`; fsck.fat on the device. */
async function checkFat(image: string, offset: number, device: string, src: string, label: string): Promise<void> {
  const report = await fsckFat(device);
  assert.doesNotMatch(fsckProblems(report.output), FSCK_PROBLEMS, `fsck.fat -n -v ${device}`);
  const out = await tempDir('disk-mcopy');
  await mcopyExtract(`${image}@@${offset}`, out);
  assertSameTree(fatView(await snapshotDir(out)), await fatExpected(src), { ignore: [...FAT_IGNORED] });
  const id = await blkid(device);
  assert.equal(id.LABEL, label);
  assert.equal(id.TYPE, 'vfat');
}

/** unsquashfs -o offset -d: the squashfs at `offset` equals `src` owned by root, times clamped. */
async function checkSquashfs(image: string, offset: number, src: string): Promise<void> {
  const out = join(await tempDir('disk-unsquashfs'), 'x');
  await run(UNSQUASHFS(), ['-o', String(offset), '-d', out, '-no-xattrs', image]);
  const expected = await snapshotTree(applyOwnership(nodeSource(src), { allRoot: true, epoch: EPOCH }));
  assertSameTree(await snapshotDir(out), expected, { ignore: ['root'] });
}

describe('the A/B appliance (fixtures/disk/ab/layout.yaml)', () => {
  let dir = '';
  let image = '';
  let verbose = '';
  before(async () => {
    dir = await tempDir('disk-ab');
    image = join(dir, 'ab.img');
    verbose = await build(join(AB, 'layout.yaml'), image);
  });

  test('a sparse 2 GiB image: the file takes about what its contents take', async () => {
    const st = await stat(image);
    assert.equal(st.size, 2 * 1024 * MiB);
    assert.ok(st.blocks * 512 < 4 * MiB, `allocated ${st.blocks * 512} bytes`);
    assert.match(verbose, /written ranges, \d+ bytes of data; the rest is holes/);
  });

  test('sgdisk -v finds no problems; sgdisk -p, sfdisk --json and fdisk -l list ESP 100 MiB, system-a/b 300 MiB, config 100 MiB, data filling the disk', async () => {
    const v = (await run(SGDISK(), ['-v', image])).stdout.toString('utf8');
    assert.match(v, /No problems found/, v);
    const p = (await run(SGDISK(), ['-p', image])).stdout.toString('utf8');
    const rows = [...p.matchAll(/^\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+ \S+\s+([0-9A-F]{4})\s\s(.*)$/gm)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3]), m[4], m[5]]);
    assert.deepEqual(rows, [
      [1, 2048, 206847, 'EF00', 'esp'],
      [2, 206848, 821247, '8300', 'system-a'],
      [3, 821248, 1435647, '8300', 'system-b'],
      [4, 1435648, 1640447, '8300', 'config'],
      [5, 1640448, 4192255, '8300', 'data'],
    ]);
    const sf = await sfdiskJson(image);
    assert.equal(sf.label, 'gpt');
    assert.deepEqual(
      sf.partitions.map((x) => [x.name, x.start * 512, x.size * 512, x.type]),
      [
        ['esp', 1 * MiB, 100 * MiB, GUID.esp],
        ['system-a', 101 * MiB, 300 * MiB, GUID.linux],
        ['system-b', 401 * MiB, 300 * MiB, GUID.linux],
        ['config', 701 * MiB, 100 * MiB, GUID.linux],
        ['data', 801 * MiB, (2048 - 801 - 1) * MiB, GUID.linux], // to the last whole MiB before the backup GPT
      ],
    );
    const f = (await run(FDISK(), ['-l', image])).stdout.toString('utf8');
    assert.match(f, /Disklabel type: gpt/);
    assert.match(f, /ab\.img1\s+2048\s+206847\s+204800\s+100M EFI System/);
    assert.match(f, /ab\.img5\s+1640448\s+4192255\s+2551808\s+1\.2G Linux filesystem/);
  });

  test('blkid -p on each partition (loop device), fsck.fat -n -v and mcopy -s -m on the FATs, unsquashfs on system-a', async (t) => {
    const { part } = await attach(t, image);
    const ids = await Promise.all([1, 2, 3, 4, 5].map((n) => blkid(part(n))));
    assert.deepEqual(
      ids.map((x) => [x.PART_ENTRY_NAME, x.PART_ENTRY_NUMBER, x.PART_ENTRY_TYPE?.toUpperCase(), x.TYPE ?? '-', x.VERSION ?? '-']),
      [
        ['esp', '1', GUID.esp, 'vfat', 'FAT16'],
        ['system-a', '2', GUID.linux, 'squashfs', '4.0'],
        ['system-b', '3', GUID.linux, '-', '-'],
        ['config', '4', GUID.linux, 'vfat', 'FAT16'],
        ['data', '5', GUID.linux, '-', '-'],
      ],
    );
    assert.notEqual(ids[0]!.UUID, ids[3]!.UUID, 'each FAT has its own serial');
    await checkFat(image, 1 * MiB, part(1), join(AB, 'boot'), 'ESP');
    await checkFat(image, 701 * MiB, part(4), join(AB, 'config'), 'CONFIG');
    const names = (await mdir(`${image}@@${701 * MiB}`)).map((e) => [e.short, e.long ?? '']);
    assert.deepEqual(names.sort(), [['network', ''], ['README.MD', 'ReadMe.md'], ['SETTIN~1.CON', 'Settings With Spaces.conf']].sort());
    await checkSquashfs(image, 101 * MiB, join(AB, 'rootfs'));
  });

  test('the same layout in JSON gives the same bytes, and so does a second run', async () => {
    // JSON paths resolve from the JSON file's directory: a copy of the fixture with the JSON in it.
    const spec = {
      table: 'gpt',
      sectorSize: 512,
      size: '2G',
      seed: 'ab-appliance',
      partitions: [
        { label: 'esp', type: 'esp', size: '100M', content: { fat: 'boot/', label: 'ESP' } },
        { label: 'system-a', type: 'linux', size: '300M', content: { squashfs: 'rootfs/', compression: 'zstd', allRoot: true } },
        { label: 'system-b', type: 'linux', size: '300M' },
        { label: 'config', type: 'linux', size: '100M', content: { fat: 'config/', fatBits: 16, label: 'CONFIG' } },
        { label: 'data', type: 'linux', size: 'fill' },
      ],
    };
    const jdir = await tempDir('disk-json');
    await cp(AB, jdir, { recursive: true, preserveTimestamps: true });
    const jpath = join(jdir, 'layout.json');
    await writeFile(jpath, JSON.stringify(spec, null, 2));
    const again = join(dir, 'again.img');
    const fromJson = join(dir, 'json.img');
    await build(join(AB, 'layout.yaml'), again);
    await build(jpath, fromJson);
    const hash = async (p: string) => {
      const h = createHash('sha256');
      for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
      return h.digest('hex');
    };
    const h = await hash(image);
    assert.equal(await hash(again), h, 'a second run gives the same bytes');
    assert.equal(await hash(fromJson), h, 'the JSON layout gives the same bytes');
  });

  test('genimage builds the same layout from fixtures/disk/ab/genimage.cfg: sfdisk --json agrees on starts, sizes, types and names', async () => {
    const work = await tempDir('disk-genimage');
    await run(GENIMAGE(), ['--rootpath', join(AB, 'rootfs'), '--inputpath', AB, '--tmppath', join(work, 'tmp'), '--outputpath', join(work, 'out'), '--config', join(AB, 'genimage.cfg')]);
    const theirs = await sfdiskJson(join(work, 'out/ab.img'));
    const ours = await sfdiskJson(image);
    const row = (p: SfdiskPartition) => [p.start, p.size, p.type, p.name];
    assert.deepEqual(ours.partitions.map(row), theirs.partitions.map(row));
    assert.equal((await stat(join(work, 'out/ab.img'))).size, (await stat(image)).size);
  });
});

describe('the Raspberry Pi style card (fixtures/disk/rpi/layout.yaml)', () => {
  let image = '';
  before(async () => {
    image = join(await tempDir('disk-rpi'), 'card.img');
    await build(join(RPI, 'layout.yaml'), image);
  });

  test('sfdisk --json and fdisk -l: an MBR with the bootable FAT32 partition (0x0c) at 4 MiB and Linux after it to the card end', async () => {
    const sf = await sfdiskJson(image);
    assert.equal(sf.label, 'dos');
    assert.deepEqual(
      sf.partitions.map((p) => [p.start * 512, p.size * 512, p.type, p.bootable ?? false]),
      [
        [4 * MiB, 256 * MiB, 'c', true],
        [260 * MiB, 252 * MiB, '83', false],
      ],
    );
    const f = (await run(FDISK(), ['-l', image])).stdout.toString('utf8');
    assert.match(f, /Disklabel type: dos/);
    assert.match(f, /card\.img1 \*\s+8192\s+532479\s+524288\s+256M\s+c W95 FAT32 \(LBA\)/);
    assert.match(f, /card\.img2\s+532480\s+1048575\s+516096\s+252M\s+83 Linux/);
  });

  test('blkid -p, fsck.fat -n -v and mcopy -s -m on the FAT32 boot partition; unsquashfs on the root', async (t) => {
    const { part } = await attach(t, image);
    const boot = await blkid(part(1));
    assert.deepEqual([boot.TYPE, boot.VERSION, boot.LABEL, boot.PART_ENTRY_TYPE, boot.PART_ENTRY_FLAGS], ['vfat', 'FAT32', 'BOOT', '0xc', '0x80']);
    const root = await blkid(part(2));
    assert.deepEqual([root.TYPE, root.PART_ENTRY_TYPE, root.PART_ENTRY_OFFSET], ['squashfs', '0x83', String(532480)]);
    await checkFat(image, 4 * MiB, part(1), join(RPI, 'boot'), 'BOOT');
    await checkSquashfs(image, 260 * MiB, join(AB, 'rootfs'));
  });
});

describe('contents beside the fixtures', () => {
  test('image content (sparse input stays sparse), a nested layout, a tar archive as FAT, a raw image at 8K, a squashfs sized from its content', async () => {
    const work = await tempDir('disk-contents');
    await cp(join(AB, 'rootfs'), join(work, 'rootfs'), { recursive: true, preserveTimestamps: true });
    await cp(join(AB, 'config'), join(work, 'config'), { recursive: true, preserveTimestamps: true });
    // A 64 MiB image with data at its start and end only.
    const img = join(work, 'part.img');
    await writeFile(img, Buffer.alloc(4096, 0xa5));
    await truncate(img, 64 * MiB);
    const fh = await import('node:fs/promises').then((m) => m.open(img, 'r+'));
    await fh.write(Buffer.alloc(4096, 0x5a), 0, 4096, 64 * MiB - 4096);
    await fh.close();
    await run(requireTool('tar', 'tar'), ['-cf', join(work, 'config.tar'), '-C', join(work, 'config'), '.']);
    await writeFile(join(work, 'loader.bin'), Buffer.alloc(3000, 0x42));
    await writeFile(join(work, 'inner.yaml'), 'table: gpt\npartitions:\n  - { label: inner-root, type: linux, content: { squashfs: rootfs/ } }\n');
    await symlink('part.img', join(work, 'link-to-part.img'));
    await writeFile(
      join(work, 'outer.yaml'),
      [
        'table: mbr',
        'partitions:',
        '  - { type: fat16, size: 32M, content: { fat: config.tar, label: TARFAT } }',
        '  - { type: linux, content: { image: link-to-part.img } }',
        '  - { type: linux, content: { layout: inner.yaml } }',
        '  - { type: linux, content: { squashfs: rootfs/, compression: lz4 } }',
        'raw:',
        '  - { offset: 8K, image: loader.bin }',
        '',
      ].join('\n'),
    );
    const out = join(work, 'out.img');
    const r = await runImgkit(['disk', join(work, 'outer.yaml'), out, '-v'], { env: ENV });
    assert.equal(r.code, 0, r.stderr);
    const sf = await sfdiskJson(out);
    const [p1, p2, p3, p4] = sf.partitions;
    assert.deepEqual([p1!.start * 512, p1!.size * 512, p1!.type], [1 * MiB, 32 * MiB, 'e']);
    assert.deepEqual([p2!.start * 512, p2!.size * 512], [33 * MiB, 64 * MiB], 'the image content sizes its partition');
    const bytes = await readFile(out);
    assert.ok(bytes.subarray(8192, 8192 + 3000).every((b) => b === 0x42), 'the raw image is at 8 KiB');
    assert.ok(bytes.subarray(33 * MiB, 33 * MiB + 4096).every((b) => b === 0xa5) && bytes.subarray(97 * MiB - 4096, 97 * MiB).every((b) => b === 0x5a), 'the image is copied');
    // The nested layout: a GPT disk inside partition 3, its squashfs partition at 1 MiB into it.
    const inner = join(work, 'inner.img');
    await writeFile(inner, bytes.subarray(p3!.start * 512, (p3!.start + p3!.size) * 512));
    const innerTable = await sfdiskJson(inner);
    assert.equal(innerTable.label, 'gpt');
    assert.equal(innerTable.partitions[0]!.name, 'inner-root');
    await checkSquashfs(out, p3!.start * 512 + innerTable.partitions[0]!.start * 512, join(AB, 'rootfs'));
    // The squashfs sized from its content: one alignment unit (1 MiB) holds this small tree.
    assert.equal(p4!.size * 512, 1 * MiB);
    await checkSquashfs(out, p4!.start * 512, join(AB, 'rootfs'));
    // The tar archive as FAT: its members (without the archive's "." entry).
    const x = await tempDir('disk-tarfat');
    await mcopyExtract(`${out}@@${1 * MiB}`, x);
    assertSameTree(fatView(await snapshotDir(x)), await fatExpected(join(work, 'config')), { ignore: [...FAT_IGNORED, 'mtime'] });
    // Sparse: the 64 MiB image's hole stayed a hole.
    assert.ok((await stat(out)).blocks * 512 < 8 * MiB, `allocated ${(await stat(out)).blocks * 512} bytes`);
  });
});
