/**
 * Partition tables written by @imgkit/partition, read back by the reference tools: `sgdisk -v`
 * ("No problems found") and `sgdisk -p`, `gdisk -l` (hybrid detection), `sfdisk --json` (starts,
 * sizes, types, names, attributes, disk GUID, signature), `fdisk -l`, and per partition `blkid -p`
 * on the loop device's partition after a filesystem signature was put into it (mkfs.fat, mkswap on
 * the loop partition; a mkfs.fat image streamed in by writeDisk). Both sector sizes (a 4096-byte
 * loop device for the second), MBR with extended and logical partitions, hybrid MBR, a 3 TiB sparse
 * GPT disk, and bad input that leaves nothing behind.
 *
 * Partition devices: `losetup -P` asks the kernel to scan the table. A kernel built without
 * partition parsers (CONFIG_EFI_PARTITION / CONFIG_MSDOS_PARTITION, e.g. some VM kernels) creates no
 * partition devices; then `partx -a` adds them through BLKPG from util-linux's own reading of the
 * table. Either way blkid reads the partitions the table describes. test/boot-partition.test.ts has
 * Debian's kernel parse the same tables in QEMU.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { ImgkitError, withSink, type ByteSink } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { GPT_TYPES, describeAttributes, planDisk, type DiskLayout, type PartitionTableSpec, type WriteDiskOptions } from '@imgkit/partition';
import { requireTool, run, tempDir } from './lib/tools.ts';

const SGDISK = () => requireTool('sgdisk', 'gdisk');
const GDISK = () => requireTool('gdisk', 'gdisk');
const SFDISK = () => requireTool('sfdisk', 'fdisk');
const FDISK = () => requireTool('fdisk', 'fdisk');
const LOSETUP = () => requireTool('losetup', 'mount');
const PARTX = () => requireTool('partx', 'util-linux');
const BLKID = () => requireTool('blkid', 'util-linux');
const MKFS_FAT = () => requireTool('mkfs.fat', 'dosfstools');
const FSCK_FAT = () => requireTool('fsck.fat', 'dosfstools');
const MKSWAP = () => requireTool('mkswap', 'util-linux');

const EPOCH = 1_700_000_000;

async function writeImage(spec: PartitionTableSpec, contents?: WriteDiskOptions): Promise<{ path: string; layout: DiskLayout }> {
  const dir = await tempDir('partition');
  const path = join(dir, 'disk.img');
  const plan = planDisk(spec);
  await withSink(await fileSink(path), (sink) => plan.write(sink, contents));
  return { path, layout: plan.layout };
}

// --- reference-tool readers ---------------------------------------------------------------------

async function sgdiskVerify(target: string): Promise<string> {
  const r = await run(SGDISK(), ['-v', target]);
  const out = r.stdout.toString('utf8');
  assert.match(out, /No problems found/, `sgdisk -v ${target}:\n${out}\n${r.stderr}`);
  return out;
}

interface SgdiskRow { number: number; start: number; end: number; code: string; name: string }
async function sgdiskPrint(target: string): Promise<{ text: string; rows: SgdiskRow[]; diskGuid: string; sectorSize: number }> {
  const text = (await run(SGDISK(), ['-p', target])).stdout.toString('utf8');
  const rows: SgdiskRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+ \S+\s+([0-9A-F]{4})\s\s(.*)$/.exec(line);
    if (m) rows.push({ number: Number(m[1]), start: Number(m[2]), end: Number(m[3]), code: m[4]!, name: m[5]! });
  }
  return { text, rows, diskGuid: /Disk identifier \(GUID\): (\S+)/.exec(text)![1]!, sectorSize: Number(/Sector size \(logical(?:\/physical)?\): (\d+)/.exec(text)![1]) };
}

interface SfdiskPartition { node: string; start: number; size: number; type: string; uuid?: string; name?: string; attrs?: string; bootable?: boolean }
interface SfdiskTable { label: string; id: string; sectorsize: number; firstlba?: number; lastlba?: number; partitions: SfdiskPartition[] }
async function sfdiskJson(target: string): Promise<SfdiskTable> {
  return (JSON.parse((await run(SFDISK(), ['--json', target])).stdout.toString('utf8')) as { partitiontable: SfdiskTable }).partitiontable;
}

/** sfdisk's attrs string ("RequiredPartition LegacyBIOSBootable GUID:60,63") as a bit mask. */
function sfdiskAttrs(attrs: string | undefined): bigint {
  let v = 0n;
  for (const word of (attrs ?? '').split(/\s+/).filter(Boolean)) {
    if (word === 'RequiredPartition') v |= 1n;
    else if (word === 'NoBlockIOProtocol') v |= 2n;
    else if (word === 'LegacyBIOSBootable') v |= 4n;
    else if (word.startsWith('GUID:')) for (const b of word.slice(5).split(',')) v |= 1n << BigInt(b);
    else assert.fail(`unknown sfdisk attribute ${word}`);
  }
  return v;
}

interface FdiskRow { device: string; boot: boolean; start: number; end: number; sectors: number; id?: string; type: string }
/** fdisk -l: "Device [Boot] Start End Sectors Size [Id] Type" rows (Id and Boot in DOS tables). */
async function fdiskList(target: string, extra: string[] = []): Promise<{ text: string; rows: FdiskRow[] }> {
  const text = (await run(FDISK(), ['-l', ...extra, target])).stdout.toString('utf8');
  const dos = /Disklabel type: dos/.test(text);
  const rows: FdiskRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+\d)\s+(\*\s+)?(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+(.*)$/.exec(line);
    if (!m || !line.startsWith(target)) continue;
    const row: FdiskRow = { device: m[1]!, boot: m[2] !== undefined, start: Number(m[3]), end: Number(m[4]), sectors: Number(m[5]), type: m[6]!.trim() };
    if (dos) {
      const [id, ...rest] = row.type.split(/\s+/);
      row.id = id!;
      row.type = rest.join(' ');
    }
    rows.push(row);
  }
  return { text, rows };
}

/**
 * blkid -p in its udev format (UTF-8 kept, only \xHH escapes, where -o export would print
 * non-ASCII as M- sequences), keys without their ID_ / ID_FS_ prefix: TYPE, LABEL, PART_ENTRY_*.
 */
async function blkid(dev: string): Promise<Record<string, string>> {
  const out = (await run(BLKID(), ['-p', '-o', 'udev', dev])).stdout.toString('utf8');
  const kv: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^ID_(?:FS_)?([A-Z_]+)=(.*)$/.exec(line);
    if (m) kv[m[1]!] = m[2]!.replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
  return kv;
}

/** Attach `file` with partition devices; returns the loop device and how its partitions appeared. */
async function attach(t: TestContext, file: string, sectorSize?: number): Promise<{ dev: string; part: (n: number) => string; how: string }> {
  const args = ['-P', '--show', '-f'];
  if (sectorSize) args.push('--sector-size', String(sectorSize));
  const dev = (await run(LOSETUP(), [...args, file])).stdout.toString('utf8').trim();
  attached.add(dev);
  const part = (n: number) => `${dev}p${n}`;
  const name = dev.slice('/dev/'.length);
  let kernelParts: string[] = [];
  try {
    kernelParts = (await readdir(`/sys/block/${name}`)).filter((x) => x.startsWith(`${name}p`));
  } catch {
    /* no sysfs entry: treat as none */
  }
  let how = 'the kernel (losetup -P)';
  if (kernelParts.length === 0) {
    // partx cannot add the extended partition of a DOS table on a 4096-byte-sector device (it asks
    // for a 1 KiB partition, which BLKPG refuses; the same happens with a table sfdisk wrote): the
    // data partitions are added anyway, and a missing one fails the test where it is used.
    const r = await run(PARTX(), ['-a', dev], { allowFail: true });
    how = `partx -a (this kernel has no partition-table parsers)${r.code !== 0 ? `; partx: ${r.stderr.trim()}` : ''}`;
  }
  t.diagnostic(`${dev}: partition devices from ${how}`);
  return { dev, part, how };
}
const attached = new Set<string>();
async function detach(dev: string): Promise<void> {
  attached.delete(dev);
  await run(LOSETUP(), ['-d', dev], { allowFail: true });
}
after(async () => {
  for (const d of [...attached]) await detach(d);
});

/** A FAT image made by mkfs.fat, to be streamed into a partition by writeDisk. */
async function fatImage(bytes: number, label: string, sectorSize = 512): Promise<Uint8Array> {
  const path = join(await tempDir('fat'), 'esp.img');
  await run(MKFS_FAT(), ['-C', '-S', String(sectorSize), '-n', label, '-i', '12345678', path, String(bytes / 1024)]);
  return readFile(path);
}
const bytesContent = (b: Uint8Array) => async (s: ByteSink) => s.write(b);

function checkGptAgainstLayout(layout: DiskLayout, sf: SfdiskTable): void {
  assert.equal(sf.label, 'gpt');
  assert.equal(sf.id, layout.diskGuid);
  assert.equal(sf.sectorsize, layout.sectorSize);
  assert.equal(sf.firstlba, layout.firstUsableLba);
  assert.equal(sf.lastlba, layout.lastUsableLba);
  const gpt = layout.partitions.filter((p) => p.typeGuid);
  assert.deepEqual(
    sf.partitions.map((p) => [p.start, p.size, p.type, p.uuid, p.name ?? '', sfdiskAttrs(p.attrs)]),
    gpt.map((p) => [p.startLba, p.sectorCount, p.typeGuid, p.uniqueGuid, p.name, p.attributes]),
  );
}

// --- tests ------------------------------------------------------------------------------------------

describe('GPT, 512-byte sectors', () => {
  const spec: PartitionTableSpec = {
    table: 'gpt',
    sizeBytes: '96M',
    epoch: EPOCH,
    label: 'gpt-512',
    partitions: [
      { name: 'EFI System', type: 'esp', size: '32M', attributes: ['required', 'no-block-io'] },
      { name: 'swap', type: 'swap', size: '8M' },
      { name: 'xbootldr', type: 'xbootldr', size: '4M' },
      { name: 'root é☃ 𝔘', type: 'root-x86-64', size: '24M', bootable: true, attributes: ['read-only', 'grow-fs', 'no-auto', 48] },
      { name: 'home', type: 'home', size: 'fill' },
    ],
  };

  test('sgdisk -v, sgdisk -p, sfdisk --json, fdisk -l, and blkid -p on each partition', async (t) => {
    const esp = await fatImage(32 << 20, 'IMGKITESP');
    const { path, layout } = await writeImage(spec, { contents: [bytesContent(esp)] });
    const st = await stat(path);
    assert.equal(st.size, 96 << 20);

    await sgdiskVerify(path);
    const sg = await sgdiskPrint(path);
    assert.equal(sg.diskGuid, layout.diskGuid);
    // gdisk 1.0.9 prints characters outside the BMP (surrogate pairs) as replacement characters;
    // sfdisk below reads the same name back exactly.
    const bmp = (n: string) => n.replace(/[\ud800-\udfff\ufffd].*$/, '');
    assert.deepEqual(
      sg.rows.map((r) => [r.number, r.start, r.end, bmp(r.name)]),
      layout.partitions.map((p) => [p.number, p.startLba, p.endLba, bmp(p.name)]),
    );
    assert.deepEqual(sg.rows.map((r) => r.code), ['EF00', '8200', 'EA00', '8304', '8302'], 'sgdisk knows every type by its own code');
    assert.match(sg.text, /Main partition table begins at sector 2 and ends at sector 33/);

    const sf = await sfdiskJson(path);
    checkGptAgainstLayout(layout, sf);
    assert.deepEqual(sf.partitions.map((p) => p.type), [GPT_TYPES.esp, GPT_TYPES.swap, GPT_TYPES.xbootldr, GPT_TYPES['root-x86-64'], GPT_TYPES.home]);
    assert.equal(sf.partitions[3]!.name, 'root é☃ 𝔘');
    assert.deepEqual(describeAttributes(sfdiskAttrs(sf.partitions[3]!.attrs)), ['legacy-bios-bootable', 48, 'grow-fs', 'read-only', 'no-auto']);

    const fd = await fdiskList(path);
    assert.match(fd.text, /Disklabel type: gpt/);
    assert.ok(fd.text.includes(`Disk identifier: ${layout.diskGuid}`));
    assert.deepEqual(fd.rows.map((r) => [r.start, r.end, r.sectors, r.type]), [
      [2048, 67583, 65536, 'EFI System'],
      [67584, 83967, 16384, 'Linux swap'],
      [83968, 92159, 8192, 'Linux extended boot'],
      [92160, 141311, 49152, 'Linux root (x86-64)'],
      [141312, 196574, 55263, 'Linux home'],
    ]);

    const { dev, part } = await attach(t, path);
    try {
      await run(MKSWAP(), ['-L', 'imgkit-swap', part(2)]);
      const ids = await Promise.all(layout.partitions.map((p) => blkid(part(p.number))));
      ids.forEach((id, i) => {
        const p = layout.partitions[i]!;
        assert.equal(id.PART_ENTRY_SCHEME, 'gpt');
        assert.equal(id.PART_ENTRY_NUMBER, String(p.number));
        assert.equal(id.PART_ENTRY_OFFSET, String(p.startLba));
        assert.equal(id.PART_ENTRY_SIZE, String(p.sectorCount));
        assert.equal(id.PART_ENTRY_TYPE, p.typeGuid!.toLowerCase());
        assert.equal(id.PART_ENTRY_UUID, p.uniqueGuid!.toLowerCase());
        assert.equal(id.PART_ENTRY_NAME, p.name);
        assert.equal(BigInt(id.PART_ENTRY_FLAGS ?? '0'), p.attributes);
      });
      assert.equal(ids[0]!.TYPE, 'vfat', 'the FAT image streamed in by writeDisk');
      assert.equal(ids[0]!.LABEL, 'IMGKITESP');
      assert.equal(ids[1]!.TYPE, 'swap', 'mkswap on the loop partition');
      assert.equal(ids[1]!.LABEL, 'imgkit-swap');
      assert.equal(ids[4]!.TYPE, undefined, 'an untouched partition has no filesystem');
      await run(FSCK_FAT(), ['-n', part(1)]);
      await sgdiskVerify(dev); // mkswap stayed inside its partition
    } finally {
      await detach(dev);
    }
  });

  test('an empty disk costs holes, not bytes', async () => {
    const { path, layout } = await writeImage({ ...spec, sizeBytes: '4G', partitions: spec.partitions.map((p) => ({ ...p, size: p.size === 'fill' ? 'fill' : '512M' })) });
    const st = await stat(path);
    assert.equal(st.size, 4 * 2 ** 30);
    assert.ok(st.blocks * 512 < 1 << 20, `${st.blocks * 512} bytes allocated for a 4 GiB disk`);
    await sgdiskVerify(path);
    checkGptAgainstLayout(layout, await sfdiskJson(path));
  });

  test('a 3 TiB sparse disk: 64-bit LBAs, a protective record capped at 0xFFFFFFFF', async () => {
    const { path, layout } = await writeImage({ table: 'gpt', sizeBytes: '3T', epoch: EPOCH, label: 'big', partitions: [{ name: 'a', size: '1T' }, { name: 'b', size: '1G', offset: '2.5T' }, { name: 'c', size: 'fill' }] });
    await sgdiskVerify(path);
    checkGptAgainstLayout(layout, await sfdiskJson(path));
    const nested = await fdiskList(path, ['--type', 'dos']);
    assert.deepEqual(nested.rows.map((r) => [r.start, r.sectors, r.id, r.type]), [[1, 0xffffffff, 'ee', 'GPT']]);
  });
});

describe('GPT, 4096-byte sectors', () => {
  test('on a 4096-byte-sector loop device: sgdisk, sfdisk, fdisk and blkid agree with the layout', async (t) => {
    const spec: PartitionTableSpec = {
      table: 'gpt',
      sectorSize: 4096,
      sizeBytes: '128M',
      epoch: EPOCH,
      label: 'gpt-4k',
      partitions: [
        { name: 'esp', type: 'esp', size: '64M' },
        { name: 'swap', type: 'swap', size: '16M' },
        { name: 'root-arm64', type: 'root-arm64', size: 'fill', attributes: ['read-only'] },
      ],
    };
    const { path, layout } = await writeImage(spec);
    assert.equal(layout.firstUsableLba, 6);
    const { dev, part } = await attach(t, path, 4096);
    try {
      await sgdiskVerify(dev);
      const sg = await sgdiskPrint(dev);
      assert.equal(sg.sectorSize, 4096);
      assert.match(sg.text, /Main partition table begins at sector 2 and ends at sector 5/);
      assert.deepEqual(sg.rows.map((r) => [r.start, r.end, r.name]), layout.partitions.map((p) => [p.startLba, p.endLba, p.name]));
      checkGptAgainstLayout(layout, await sfdiskJson(dev));
      const fd = await fdiskList(dev);
      assert.match(fd.text, /Sector size \(logical\/physical\): 4096 bytes/);
      assert.deepEqual(fd.rows.map((r) => [r.start, r.end]), layout.partitions.map((p) => [p.startLba, p.endLba]));
      await run(MKFS_FAT(), ['-n', 'ESP4K', part(1)]);
      await run(MKSWAP(), [part(2)]);
      const ids = await Promise.all([1, 2, 3].map((n) => blkid(part(n))));
      assert.deepEqual(ids.map((i) => [i.TYPE, i.PART_ENTRY_NAME, i.PART_ENTRY_TYPE]), [
        ['vfat', 'esp', GPT_TYPES.esp.toLowerCase()],
        ['swap', 'swap', GPT_TYPES.swap.toLowerCase()],
        [undefined, 'root-arm64', GPT_TYPES['root-arm64'].toLowerCase()],
      ]);
      assert.equal(ids[0]!.LABEL, 'ESP4K');
      // blkid counts PART_ENTRY_OFFSET/SIZE in 512-byte sectors
      assert.deepEqual(ids.map((i) => [Number(i.PART_ENTRY_OFFSET), Number(i.PART_ENTRY_SIZE)]), layout.partitions.map((p) => [p.offset / 512, p.sizeBytes / 512]));
      await sgdiskVerify(dev);
    } finally {
      await detach(dev);
    }
    // Read as a file (512-byte sectors) sgdisk finds no GPT: the table really is in 4096-byte units.
    const wrong = await run(SGDISK(), ['-p', path], { allowFail: true });
    assert.match(wrong.stdout.toString('utf8'), /Creating new GPT entries in memory/);
  });
});

describe('MBR', () => {
  test('extended partition with logical ones: sfdisk --json, fdisk -l and blkid -p list them with the right starts', async (t) => {
    const spec: PartitionTableSpec = {
      table: 'mbr',
      sizeBytes: '64M',
      epoch: EPOCH,
      label: 'mbr',
      partitions: [
        { name: 'esp', type: 'esp', size: '16M', bootable: true },
        { name: 'boot', type: 'linux', size: '4M' },
        { name: 'l1', type: 'fat32', size: '8M', logical: true },
        { name: 'l2', type: 'swap', size: '4M', logical: true },
        { name: 'l3', type: 'linux', size: 'fill', logical: true },
      ],
    };
    const { path, layout } = await writeImage(spec);
    assert.deepEqual(layout.partitions.map((p) => p.number), [1, 2, 5, 6, 7]);
    const sig = `0x${layout.diskSignature.toString(16).padStart(8, '0')}`;
    const sf = await sfdiskJson(path);
    assert.equal(sf.label, 'dos');
    assert.equal(sf.id, sig);
    const ext = layout.extended!;
    assert.deepEqual(
      sf.partitions.map((p) => [p.node.slice(path.length), p.start, p.size, p.type, p.bootable ?? false]),
      [
        ['1', 2048, 32768, 'ef', true],
        ['2', 34816, 8192, '83', false],
        ['3', ext.startLba, ext.sectorCount, 'f', false],
        ['5', 45056, 16384, 'c', false],
        ['6', 63488, 8192, '82', false],
        ['7', 73728, 131072 - 73728, '83', false],
      ],
    );
    assert.equal(ext.startLba, 43008, 'the first EBR 1 MiB before the first logical partition');
    const fd = await fdiskList(path);
    assert.match(fd.text, /Disklabel type: dos/);
    assert.ok(fd.text.includes(`Disk identifier: ${sig}`));
    assert.deepEqual(fd.rows.map((r) => [r.device.slice(path.length), r.boot, r.start, r.end]), [
      ['1', true, 2048, 34815],
      ['2', false, 34816, 43007],
      ['3', false, 43008, 131071],
      ['5', false, 45056, 61439],
      ['6', false, 63488, 71679],
      ['7', false, 73728, 131071],
    ]);
    const { dev, part } = await attach(t, path);
    try {
      await run(MKFS_FAT(), ['-F', '32', '-n', 'LOGICAL1', part(5)]);
      await run(MKSWAP(), [part(6)]);
      const id5 = await blkid(part(5));
      const id6 = await blkid(part(6));
      const id7 = await blkid(part(7));
      assert.deepEqual([id5.TYPE, id5.LABEL, id5.PART_ENTRY_SCHEME, id5.PART_ENTRY_NUMBER, id5.PART_ENTRY_OFFSET, id5.PART_ENTRY_TYPE], ['vfat', 'LOGICAL1', 'dos', '5', '45056', '0xc']);
      assert.deepEqual([id6.TYPE, id6.PART_ENTRY_NUMBER, id6.PART_ENTRY_OFFSET, id6.PART_ENTRY_TYPE], ['swap', '6', '63488', '0x82']);
      assert.deepEqual([id7.PART_ENTRY_NUMBER, id7.PART_ENTRY_OFFSET, id7.PART_ENTRY_SIZE], ['7', '73728', String(131072 - 73728)]);
      const id1 = await blkid(part(1));
      assert.deepEqual([id1.PART_ENTRY_FLAGS, id1.PART_ENTRY_TYPE], ['0x80', '0xef'], 'the bootable flag');
      // the EBR chain survived mkfs: sfdisk still reads the same table
      assert.deepEqual((await sfdiskJson(dev)).partitions.map((p) => p.start), [2048, 34816, 43008, 45056, 63488, 73728]);
    } finally {
      await detach(dev);
    }
  });

  test('boot code from a file and the disk signature', async () => {
    const code = new Uint8Array(440).map((_, i) => (i * 13 + 5) & 0xff);
    const codeFile = join(await tempDir('bootcode'), 'mbr.bin');
    await writeFile(codeFile, code);
    const { path, layout } = await writeImage({ table: 'mbr', diskSignature: 0xcafef00d, bootCode: await readFile(codeFile), partitions: [{ type: 'linux', size: '2M', bootable: true }] });
    const head = (await readFile(path)).subarray(0, 512);
    assert.deepEqual([...head.subarray(0, 440)], [...code]);
    assert.equal(layout.diskSignature, 0xcafef00d);
    const sf = await sfdiskJson(path);
    assert.equal(sf.id, '0xcafef00d');
    assert.deepEqual(sf.partitions.map((p) => [p.start, p.size, p.bootable]), [[2048, 4096, true]]);
  });

  test('4096-byte sectors: on a 4096-byte loop device sfdisk, fdisk and blkid read the MBR and EBRs in 4 KiB units', async (t) => {
    const { path, layout } = await writeImage({
      table: 'mbr',
      sectorSize: 4096,
      sizeBytes: '32M',
      epoch: EPOCH,
      label: 'mbr-4k',
      partitions: [{ type: 'esp', size: '8M', bootable: true }, { type: 'linux', size: '4M', logical: true }, { type: 'swap', size: 'fill', logical: true }],
    });
    assert.deepEqual(layout.partitions.map((p) => [p.number, p.startLba, p.sectorCount]), [[1, 256, 2048], [5, 2560, 1024], [6, 3840, 8192 - 3840]]);
    const fd = await fdiskList(path, ['-b', '4096']);
    assert.deepEqual(fd.rows.map((r) => [r.device.slice(path.length), r.start, r.sectors, r.id]), [
      ['1', 256, 2048, 'ef'],
      ['2', layout.extended!.startLba, layout.extended!.sectorCount, 'f'],
      ['5', 2560, 1024, '83'],
      ['6', 3840, 8192 - 3840, '82'],
    ]);
    const { dev, part } = await attach(t, path, 4096);
    try {
      const sf = await sfdiskJson(dev);
      assert.equal(sf.sectorsize, 4096);
      assert.deepEqual(sf.partitions.map((p) => [p.start, p.size, p.type]), [[256, 2048, 'ef'], [layout.extended!.startLba, layout.extended!.sectorCount, 'f'], [2560, 1024, '83'], [3840, 8192 - 3840, '82']]);
      await run(MKSWAP(), [part(6)]);
      const id = await blkid(part(6));
      assert.deepEqual([id.TYPE, id.PART_ENTRY_NUMBER, id.PART_ENTRY_OFFSET], ['swap', '6', String(3840 * 8)], 'blkid counts 512-byte sectors');
    } finally {
      await detach(dev);
    }
  });
});

describe('hybrid MBR', () => {
  test('gdisk reports a hybrid MBR; sgdisk -v is clean; fdisk -t dos lists the mirrored entries and the 0xEE one', async (t) => {
    const spec: PartitionTableSpec = {
      table: 'hybrid',
      sizeBytes: '64M',
      epoch: EPOCH,
      label: 'hybrid',
      partitions: [
        { name: 'bios', type: 'bios-boot', size: '1M' },
        { name: 'esp', type: 'esp', mbrType: 'esp', size: '16M', bootable: true },
        { name: 'root', type: 'root-x86-64', mbrType: 'linux', size: 'fill' },
      ],
    };
    const { path, layout } = await writeImage(spec);
    const g = (await run(GDISK(), ['-l', path])).stdout.toString('utf8');
    assert.match(g, /MBR: hybrid/);
    assert.match(g, /Found valid GPT with hybrid MBR; using GPT/);
    await sgdiskVerify(path);
    const sg = await sgdiskPrint(path);
    assert.deepEqual(sg.rows.map((r) => [r.start, r.end, r.code, r.name]), [[2048, 4095, 'EF02', 'bios'], [4096, 36863, 'EF00', 'esp'], [36864, 131038, '8304', 'root']]);
    const mbrList = (await run(SGDISK(), ['-O', path])).stdout.toString('utf8');
    const mbrRows = [...mbrList.matchAll(/^\s+(\d)\s+(\*?)\s+(\d+)\s+(\d+)\s+primary\s+0x([0-9A-F]{2})/gm)].map((m) => [Number(m[1]), m[2] === '*', Number(m[3]), Number(m[4]), m[5]]);
    assert.deepEqual(mbrRows, [[1, true, 4096, 36863, 'EF'], [2, false, 36864, 131038, '83'], [3, false, 1, 33, 'EE']]);
    const fd = await fdiskList(path, ['-t', 'dos']);
    assert.match(fd.text, /Disklabel type: dos/);
    assert.ok(fd.text.includes(`Disk identifier: 0x${layout.diskSignature.toString(16).padStart(8, '0')}`));
    assert.deepEqual(fd.rows.map((r) => [r.boot, r.start, r.end, r.id, r.type]), [
      [true, 4096, 36863, 'ef', 'EFI (FAT-12/16/32)'],
      [false, 36864, 131038, '83', 'Linux'],
      [false, 1, 33, 'ee', 'GPT'],
    ]);
    checkGptAgainstLayout(layout, await sfdiskJson(path));
    const { dev, part } = await attach(t, path);
    try {
      await run(MKFS_FAT(), ['-n', 'HYBRIDESP', part(2)]);
      const id = await blkid(part(2));
      assert.deepEqual([id.TYPE, id.LABEL, id.PART_ENTRY_SCHEME, id.PART_ENTRY_NAME], ['vfat', 'HYBRIDESP', 'gpt', 'esp']);
    } finally {
      await detach(dev);
    }
  });
});

describe('bad input leaves nothing behind', () => {
  const cases: { what: string; spec: PartitionTableSpec; code: string; needles: string[] }[] = [
    {
      what: 'overlapping partitions',
      spec: { table: 'gpt', partitions: [{ name: 'root', size: '8M', offset: '1M' }, { name: 'home', size: '8M', offset: '4M' }] },
      code: 'E_BAD_OPTION',
      needles: ['"home"', '"root"', 'sectors 8192–24575', 'sectors 2048–18431'],
    },
    {
      what: 'a partition past the disk',
      spec: { table: 'gpt', sizeBytes: '16M', partitions: [{ name: 'huge', size: '16M' }] },
      code: 'E_NO_SPACE',
      needles: ['"huge"', 'sectors 2048–34815', 'last usable sector 32734'],
    },
    {
      what: 'a 37-unit GPT name',
      spec: { table: 'gpt', partitions: [{ name: 'n'.repeat(37), size: '1M' }] },
      code: 'E_NAME_TOO_LONG',
      needles: ['37 UTF-16 units', 'limit is 36'],
    },
    {
      what: 'five primaries in an MBR',
      spec: { table: 'mbr', partitions: ['p1', 'p2', 'p3', 'p4', 'p5'].map((name) => ({ name, size: '1M' })) },
      code: 'E_BAD_OPTION',
      needles: ['4 primary entries', '"p1"', '"p5"', '5 primary partitions'],
    },
    {
      what: 'an unknown type name',
      spec: { table: 'gpt', partitions: [{ name: 'x', type: 'rot-x86-64', size: '1M' }] },
      code: 'E_BAD_OPTION',
      needles: ['"rot-x86-64"', 'root-x86-64', 'esp', 'xbootldr', 'usr-arm64-verity'],
    },
  ];
  for (const c of cases) {
    test(c.what, async () => {
      const dir = await tempDir('partition-bad');
      const out = join(dir, 'disk.img');
      await assert.rejects(
        withSink(await fileSink(out), (sink) => planDisk(c.spec).write(sink)),
        (e: unknown) => {
          assert.ok(e instanceof ImgkitError);
          assert.equal(e.code, c.code, e.message);
          for (const n of c.needles) assert.ok(e.message.includes(n), `"${e.message}" mentions ${n}`);
          return true;
        },
      );
      assert.equal(existsSync(out), false, 'no output file');
      assert.deepEqual(await readdir(dir), [], 'no temporary file either');
    });
  }
});
