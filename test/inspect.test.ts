/**
 * `imgkit inspect` against the reference tools, on images made by imgkit and by the native tools:
 *
 *   El Torito entries      xorriso -indev X -report_el_torito plain
 *   GPT / MBR partitions   sgdisk -p, sfdisk --json
 *   squashfs               unsquashfs -s (and -lln for the entry counts)
 *   FAT                    fsck.fat -n -v
 *   ext4                   dumpe2fs -h
 *   VM containers          qemu-img info --output=json
 *   cpio                   cpio -t on the decompressed stream
 *
 * and damaged copies (GPT CRC byte, backup GPT, FAT copy, FSInfo, squashfs bytes_used, ISO volume
 * size, El Torito entry outside the image, a truncated initramfs): each must exit 2 and name the
 * structure and field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, open, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isoKit, kitArgs, KIT_LINES, requireFile } from './lib/iso-kit.ts';
import { REPO_ROOT, requireTool, run, runImgkit, tempDir } from './lib/tools.ts';

interface Node {
  type: string;
  name?: string;
  offset: number;
  size: number;
  fields: Record<string, unknown>;
  children: Node[];
  findings: { severity: string; field: string; message: string }[];
}
interface Report {
  exitCode: number;
  findings: { severity: string; field: string; message: string; at: string }[];
  root: Node;
}

async function inspect(path: string): Promise<Report & { code: number }> {
  const r = await runImgkit(['inspect', '--json', path]);
  assert.ok(r.stdout.length > 0, `imgkit inspect ${path} printed nothing: ${r.stderr}`);
  const report = JSON.parse(r.stdout.toString()) as Report;
  assert.equal(r.code, report.exitCode, 'the exit code is the report\'s');
  return { ...report, code: r.code };
}

function all(n: Node, type: string, out: Node[] = []): Node[] {
  if (n.type === type) out.push(n);
  for (const c of n.children) all(c, type, out);
  return out;
}
function one(n: Node, type: string): Node {
  const found = all(n, type);
  assert.equal(found.length, 1, `one ${type} node expected, found ${found.length}`);
  return found[0]!;
}
function clean(r: Report & { code: number }, what: string): void {
  const bad = r.findings.filter((f) => f.severity !== 'warning');
  assert.deepEqual(bad, [], `${what}: no defect expected`);
  assert.equal(r.code, 0, `${what}: exit 0`);
}

/** A damaged copy must exit 2 with a defect whose field starts with `field`. */
async function expectDefect(path: string, field: string): Promise<string> {
  const r = await inspect(path);
  assert.equal(r.code, 2, `${path}: exit 2 expected, got ${r.code} (${JSON.stringify(r.findings)})`);
  const hit = r.findings.find((f) => f.severity === 'defect' && f.field.startsWith(field));
  assert.ok(hit, `${path}: a defect on ${field} expected, got ${JSON.stringify(r.findings)}`);
  return hit.message;
}

async function patch(src: string, dst: string, offset: number, bytes: Uint8Array | number[]): Promise<void> {
  await copyFile(src, dst);
  const fh = await open(dst, 'r+');
  try {
    await fh.write(Uint8Array.from(bytes), 0, bytes.length, offset);
  } finally {
    await fh.close();
  }
}

// ---- ISO 9660 + El Torito + the system area ------------------------------------------------

/** `xorriso -report_el_torito plain`: the catalog LBA and each image's platform, flags, load size, LBA and path. */
async function xorrisoElTorito(iso: string) {
  const out = (await run(requireTool('xorriso', 'xorriso'), ['-indev', iso, '-report_el_torito', 'plain'])).stdout.toString();
  const catalog = /El Torito catalog\s*:\s*(\d+)/.exec(out);
  const images = [...out.matchAll(/El Torito boot img :\s+(\d+)\s+(\S+)\s+(\S)\s+(\S+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\d+)\s+(\d+)/g)].map((m) => ({
    n: Number(m[1]), platform: m[2], bootable: m[3] === 'y', emulation: m[4], loadSegment: m[5], systemType: m[6], loadSectors: Number(m[7]), lba: Number(m[8]),
  }));
  const paths = new Map([...out.matchAll(/El Torito img path :\s+(\d+)\s+(\S+)/g)].map((m) => [Number(m[1]), m[2]!]));
  return { catalog: catalog ? Number(catalog[1]) : undefined, images, paths };
}

/** `sgdisk -p`: number, first and last sector, name of each GPT partition. */
async function sgdiskPartitions(disk: string) {
  const r = await run(requireTool('sgdisk', 'gdisk'), ['-p', disk], { allowFail: true });
  const rows = [...r.stdout.toString().matchAll(/^\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+ \S+\s+([0-9A-F]{4})\s\s(.*)$/gm)];
  return rows.map((m) => ({ number: Number(m[1]), start: Number(m[2]), end: Number(m[3]), code: m[4]!, name: m[5]!.trimEnd() }));
}

const SGDISK_CODES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EF00',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': '0700',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': '8300',
  '48465300-0000-11AA-AA11-00306543ECAC': 'AF00',
};

async function checkIsoAgainstTools(iso: string, label: string): Promise<Report> {
  const r = await inspect(iso);
  clean(r, label);
  const x = await xorrisoElTorito(iso);
  const et = all(r.root, 'el-torito');
  if (x.catalog === undefined) {
    assert.equal(et.length, 0, `${label}: no El Torito`);
  } else {
    assert.equal(et.length, 1, `${label}: one El Torito catalog`);
    assert.equal(et[0]!.fields.catalogLba, x.catalog, `${label}: catalog LBA`);
    const mine = et[0]!.children;
    assert.equal(mine.length, x.images.length, `${label}: boot image count`);
    for (const [i, img] of x.images.entries()) {
      const f = mine[i]!.fields;
      assert.deepEqual(
        { platform: f.platform, bootable: f.bootable, emulation: f.emulation, loadSegment: f.loadSegment, systemType: f.systemType, loadSectors: f.loadSectors, lba: f.lba },
        { platform: img.platform, bootable: img.bootable, emulation: img.emulation, loadSegment: img.loadSegment, systemType: img.systemType, loadSectors: img.loadSectors, lba: img.lba },
        `${label}: El Torito image ${img.n}`,
      );
      const path = x.paths.get(img.n);
      if (path && !path.startsWith('--interval')) assert.equal(f.path, path, `${label}: image ${img.n} path`);
    }
  }
  const gpt = all(r.root, 'gpt');
  const sg = await sgdiskPartitions(iso);
  if (gpt.length === 1 && sg.length > 0) {
    const parts = gpt[0]!.children.map((p) => ({ number: p.fields.number, start: p.fields.startLba, end: p.fields.endLba, code: SGDISK_CODES[p.fields.type as string] ?? '?', name: p.fields.name }));
    assert.deepEqual(parts, sg, `${label}: GPT partitions as sgdisk -p lists them`);
  }
  return r;
}

test('ISO layouts from xorriso and from imgkit mkisofs: El Torito as xorriso -report_el_torito, GPT as sgdisk -p, the EFI image matching its partitions', { timeout: 900_000 }, async () => {
  const kit = await isoKit();
  const dir = await tempDir('inspect-iso');
  const xorriso = requireTool('xorriso', 'xorriso');
  let checkedGpt = 0;
  for (const [name, line] of Object.entries(KIT_LINES)) {
    for (const maker of ['xorriso', 'imgkit'] as const) {
      const out = join(dir, `${name}-${maker}.iso`);
      const args = kitArgs(kit, line, ['-o', out]);
      if (maker === 'xorriso') await run(xorriso, ['-as', 'mkisofs', ...args]);
      else {
        const r = await runImgkit(['mkisofs', ...args], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
        assert.equal(r.code, 0, `imgkit mkisofs ${name}: ${r.stderr}`);
      }
      const r = await checkIsoAgainstTools(out, `${name} (${maker})`);
      if (all(r.root, 'gpt').length > 0) checkedGpt++;
      // the EFI image, wherever the layout puts a partition over it, is that partition (and its FAT is read)
      const efi = all(r.root, 'boot-image').find((b) => b.fields.platform === 'UEFI');
      assert.ok(efi, `${name} (${maker}): an EFI boot image`);
      if (Array.isArray(efi.fields.partitions)) {
        assert.ok(all(r.root, 'fat').length >= 1, `${name} (${maker}): the EFI partition's FAT is inspected`);
      }
      // the MBR code's pointer to the first boot image was read and agrees (checkBootPointer)
      const code = line.args.includes('--grub2-mbr') ? 'grub2' : line.args.includes('-isohybrid-mbr') ? 'isohybrid' : undefined;
      if (code) assert.equal(one(r.root, 'mbr').fields.bootCode, code, `${name} (${maker}): MBR code`);
      const iso = all(r.root, 'iso9660')[0]!;
      assert.ok((iso.fields.files as number) > 5 || name === 'fedora', `${name} (${maker}): files counted`);
    }
  }
  assert.ok(checkedGpt >= 6, `GPT compared with sgdisk on ${checkedGpt} images`);
});

test('damaged ISOs: volume size past the end, El Torito image outside the image, an ESP partition that is not the EFI image', { timeout: 300_000 }, async () => {
  const kit = await isoKit();
  const dir = await tempDir('inspect-iso-bad');
  const iso = join(dir, 'alpine.iso');
  await run(requireTool('xorriso', 'xorriso'), ['-as', 'mkisofs', ...kitArgs(kit, KIT_LINES.alpine, ['-o', iso])]);
  const r = await inspect(iso);
  clean(r, 'alpine');
  const pvd = 16 * 2048;
  const bytes = await readFile(iso);
  const blocks = bytes.readUInt32LE(pvd + 80);
  // ECMA-119 §8.4.8 volume space size (both-byte): 100 blocks more than the file holds
  const bigger = blocks + 100;
  const both = Buffer.alloc(8);
  both.writeUInt32LE(bigger, 0);
  both.writeUInt32BE(bigger, 4);
  await patch(iso, join(dir, 'volume.iso'), pvd + 80, both);
  assert.match(await expectDefect(join(dir, 'volume.iso'), 'iso9660.pvd.volumeSpaceSize'), /past the end/);
  // El Torito: the second entry's load RBA far past the end
  const catalog = bytes.readUInt32LE(17 * 2048 + 0x47);
  const entry2 = catalog * 2048 + 64 + 32; // section header, then its first entry
  const rba = Buffer.alloc(4);
  rba.writeUInt32LE(0x00ffffff, 0);
  await patch(iso, join(dir, 'eltorito.iso'), entry2 + 8, rba);
  assert.match(await expectDefect(join(dir, 'eltorito.iso'), 'iso9660.elTorito.entry[1].loadRba'), /outside/);
  // the MBR's 0xEF partition (partition 2) moved one sector off the EFI image: firmware would boot other bytes
  const rec = 446 + 16;
  assert.equal(bytes[rec + 4], 0xef, 'partition 2 is the 0xEF entry');
  const start = bytes.readUInt32LE(rec + 8);
  const moved = Buffer.alloc(4);
  moved.writeUInt32LE(start + 1, 0);
  await patch(iso, join(dir, 'esp.iso'), rec + 8, moved);
  assert.match(await expectDefect(join(dir, 'esp.iso'), 'iso9660.elTorito.entry[1].loadRba'), /ESP partition 2/);
  // the isohybrid MBR code's pointer to the BIOS boot image (byte 432: its LBA × 4), one block off
  const mine = r.root.children.find((c) => c.type === 'mbr')!;
  assert.equal(mine.fields.bootCode, 'isohybrid');
  const ptr = Buffer.alloc(4);
  ptr.writeUInt32LE(bytes.readUInt32LE(432) + 4, 0);
  await patch(iso, join(dir, 'pointer.iso'), 432, ptr);
  assert.match(await expectDefect(join(dir, 'pointer.iso'), 'mbr.bootCode[432]'), /first boot image/);
});

// ---- partitioned disks -----------------------------------------------------------------------

test('disks: imgkit disk (A/B GPT, Raspberry Pi MBR) and sgdisk/sfdisk-made disks agree with sgdisk -p and sfdisk --json', { timeout: 900_000 }, async () => {
  const dir = await tempDir('inspect-disk');
  // imgkit's A/B appliance disk (GPT)
  const ab = join(dir, 'ab.img');
  const w = await runImgkit(['disk', join(REPO_ROOT, 'fixtures/disk/ab/layout.yaml'), ab], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(w.code, 0, w.stderr);
  const r = await inspect(ab);
  clean(r, 'A/B disk');
  const gpt = one(r.root, 'gpt');
  const sg = await sgdiskPartitions(ab);
  assert.deepEqual(gpt.children.map((p) => ({ number: p.fields.number, start: p.fields.startLba, end: p.fields.endLba, code: SGDISK_CODES[p.fields.type as string] ?? '?', name: p.fields.name })), sg);
  assert.equal(all(r.root, 'fat').length, 2, 'ESP and config are FAT');
  assert.equal(all(r.root, 'squashfs').length, 1, 'system-a is squashfs');
  // imgkit's Raspberry Pi card (MBR)
  const rpi = join(dir, 'rpi.img');
  const w2 = await runImgkit(['disk', join(REPO_ROOT, 'fixtures/disk/rpi/layout.yaml'), rpi], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(w2.code, 0, w2.stderr);
  const r2 = await inspect(rpi);
  clean(r2, 'RPi card');
  const sf = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', rpi])).stdout.toString()) as { partitiontable: { id: string; partitions: { start: number; size: number; type: string; bootable?: boolean }[] } };
  const mbr = one(r2.root, 'mbr');
  assert.equal(mbr.fields.diskSignature, sf.partitiontable.id);
  assert.deepEqual(
    mbr.children.map((p) => ({ start: p.fields.startLba, size: p.fields.sectors, type: (p.fields.type as string).replace(/^0x0?/, ''), bootable: p.fields.bootable })),
    sf.partitiontable.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type, bootable: p.bootable === true })),
  );
  assert.equal(one(r2.root, 'fat').fields.fatBits, 32);
  assert.equal(one(r2.root, 'squashfs').fields.compression, 'xz');
  // sfdisk: an extended partition with two logical ones
  const ext = join(dir, 'ext.img');
  await run('truncate', ['-s', '64M', ext]);
  await run(requireTool('sfdisk', 'fdisk'), ['-q', ext], { input: 'label: dos\n,8M,83\n,,5\n,10M,83\n,10M,82\n' });
  const r3 = await inspect(ext);
  clean(r3, 'extended');
  const sf3 = JSON.parse((await run('sfdisk', ['--json', ext])).stdout.toString()) as { partitiontable: { partitions: { start: number; size: number; type: string }[] } };
  const parts = one(r3.root, 'mbr').children.flatMap((p) => [p, ...p.children.filter((c) => c.type === 'partition')]);
  assert.deepEqual(
    parts.map((p) => ({ start: p.fields.startLba, size: p.fields.sectors, type: (p.fields.type as string).replace(/^0x0?/, '') })),
    sf3.partitiontable.partitions.map((p) => ({ start: p.start, size: p.size, type: p.type })),
  );
  // damage: a byte of the primary GPT header (its CRC no longer matches), then the backup header
  const bad = join(dir, 'crc.img');
  await patch(ab, bad, 512 + 40, [0x7f]); // FirstUsableLBA
  assert.match(await expectDefect(bad, 'gpt.header.headerCrc32'), /CRC/);
  const entries = join(dir, 'entries.img');
  await patch(ab, entries, 1024 + 56, [0x41]); // a name unit of entry 1: the array CRC fails
  await expectDefect(entries, 'gpt.header.partitionEntryArrayCrc32');
  const size = (await stat(ab)).size;
  const backup = join(dir, 'backup.img');
  await patch(ab, backup, size - 512, new Uint8Array(8)); // the backup header's signature
  await expectDefect(backup, 'gpt.backupHeader');
  const backupArray = join(dir, 'backup-array.img');
  await patch(ab, backupArray, size - 512 - 32 * 512 + 56, [0x41]);
  await expectDefect(backupArray, 'gpt.backupEntries');
  const cut = join(dir, 'cut.img');
  await copyFile(ab, cut);
  await run('truncate', ['-s', String(size - 1024 * 1024), cut]);
  await expectDefect(cut, 'gpt.header.alternateLba');
});

// ---- filesystems -------------------------------------------------------------------------------

async function fsckFacts(img: string) {
  const out = (await run(requireTool('fsck.fat', 'dosfstools'), ['-n', '-v', img])).stdout.toString();
  const num = (re: RegExp) => Number(re.exec(out)?.[1]);
  const files = /(\d+) files, (\d+)\/(\d+) clusters/.exec(out);
  return {
    bytesPerSector: num(/(\d+) bytes per logical sector/),
    clusterBytes: num(/(\d+) bytes per cluster/),
    reservedSectors: num(/(\d+) reserved sectors?/),
    fats: num(/(\d+) FATs, \d+ bit entries/),
    fatBits: num(/\d+ FATs, (\d+) bit entries/),
    totalSectors: num(/(\d+) sectors total/),
    dataClusters: Number(files?.[3]),
    usedClusters: Number(files?.[2]),
    files: Number(files?.[1]),
  };
}

test('FAT12/16/32 from imgkit fat and mkfs.fat + mcopy agree with fsck.fat -n -v; damaged FAT copy, FSInfo and backup boot sector are defects', { timeout: 300_000 }, async () => {
  const dir = await tempDir('inspect-fat');
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'EFI/BOOT'), { recursive: true });
  await mkdir(join(tree, 'docs/deeper'), { recursive: true });
  await writeFile(join(tree, 'EFI/BOOT/BOOTX64.EFI'), Buffer.alloc(70_000, 7));
  for (let i = 0; i < 40; i++) await writeFile(join(tree, 'docs', `a long file name number ${i}.txt`), `file ${i}\n`.repeat(i * 30));
  await writeFile(join(tree, 'docs/deeper/x'), 'x');
  const images: [string, string][] = [];
  for (const bits of ['12', '16', '32']) {
    const img = join(dir, `imgkit${bits}.img`);
    const r = await runImgkit(['fat', tree, img, '--fat', bits, '-n', 'IMGKIT', ...(bits === '16' ? ['--size', '20M'] : bits === '32' ? ['--size', '40M'] : [])], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(r.code, 0, r.stderr);
    images.push([`imgkit FAT${bits}`, img]);
    const m = join(dir, `mkfs${bits}.img`);
    await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-F', bits, '-n', 'MKFS', m, bits === '12' ? '4096' : bits === '16' ? '20480' : '40960']);
    await run(requireTool('mcopy', 'mtools'), ['-s', '-i', m, join(tree, 'EFI'), join(tree, 'docs'), '::/'], { env: { MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LANG: 'C.UTF-8' } });
    images.push([`mkfs.fat FAT${bits}`, m]);
  }
  for (const [label, img] of images) {
    const r = await inspect(img);
    clean(r, label);
    const f = one(r.root, 'fat').fields;
    const k = await fsckFacts(img);
    assert.deepEqual(
      { bytesPerSector: f.bytesPerSector, clusterBytes: f.clusterBytes, reservedSectors: f.reservedSectors, fats: f.fats, fatBits: f.fatBits, totalSectors: f.totalSectors, dataClusters: f.dataClusters },
      { bytesPerSector: k.bytesPerSector, clusterBytes: k.clusterBytes, reservedSectors: k.reservedSectors, fats: k.fats, fatBits: k.fatBits, totalSectors: k.totalSectors, dataClusters: k.dataClusters },
      label,
    );
    // fsck.fat counts every entry below the root, the label included, and the clusters in use
    assert.equal((f.directories as number) - 1 + (f.files as number) + (f.rootLabel !== undefined ? 1 : 0), k.files, `${label}: entries`);
    assert.equal((f.dataClusters as number) - (f.freeClusters as number), k.usedClusters, `${label}: used clusters`);
    assert.equal(f.directories, 5, `${label}: root, EFI, EFI/BOOT, docs, docs/deeper`);
    assert.equal(f.files, 42, `${label}: files`);
  }
  // damage (imgkit FAT32): the second FAT, FSInfo's free count, the backup boot sector
  const src = images.find(([l]) => l === 'imgkit FAT32')![1];
  const b = await readFile(src);
  const reserved = b.readUInt16LE(14);
  const fatSectors = b.readUInt32LE(36);
  const fat2 = (reserved + fatSectors) * 512;
  await patch(src, join(dir, 'copy.img'), fat2 + 4 * 5, [0x99, 0x99, 0x00, 0x00]);
  assert.match(await expectDefect(join(dir, 'copy.img'), 'fat.fat[1]'), /FAT copy 2 differs/);
  const free = b.readUInt32LE(512 + 488);
  const wrong = Buffer.alloc(4);
  wrong.writeUInt32LE(free - 3, 0);
  await patch(src, join(dir, 'fsinfo.img'), 512 + 488, wrong);
  assert.match(await expectDefect(join(dir, 'fsinfo.img'), 'fat.fsinfo.freeCount'), /free clusters/);
  await patch(src, join(dir, 'backup.img'), 6 * 512 + 13, [0x40]);
  await expectDefect(join(dir, 'backup.img'), 'fat.boot-sector32.backupBootSector');
  // and fsck.fat agrees that these are damaged
  for (const f of ['copy.img', 'fsinfo.img']) {
    const r = await run('fsck.fat', ['-n', join(dir, f)], { allowFail: true });
    assert.notEqual(r.code, 0, `fsck.fat -n also flags ${f}`);
  }
});

async function unsquashfsFacts(img: string) {
  const out = (await run(requireTool('unsquashfs', 'squashfs-tools'), ['-s', img])).stdout.toString();
  const num = (re: RegExp) => Number(re.exec(out)?.[1]);
  return {
    compression: /Compression (\S+)/.exec(out)?.[1],
    blockSize: num(/Block size (\d+)/),
    bytesUsed: num(/Filesystem size (\d+) bytes/),
    inodes: num(/Number of inodes (\d+)/),
    fragments: num(/Number of fragments (\d+)/),
    ids: num(/Number of ids (\d+)/),
    exportable: /Filesystem is exportable via NFS/.test(out),
  };
}

test('squashfs from imgkit (gzip, zstd, xz, lz4) and mksquashfs agree with unsquashfs -s and -lln; bytes_used past the end is a defect', { timeout: 600_000 }, async () => {
  const dir = await tempDir('inspect-squashfs');
  const src = join(REPO_ROOT, 'fixtures/disk/ab/rootfs');
  const images: string[] = [];
  for (const comp of ['gzip', 'zstd', 'xz', 'lz4']) {
    const img = join(dir, `imgkit-${comp}.sqfs`);
    const r = await runImgkit(['squashfs', src, img, '-comp', comp], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(r.code, 0, r.stderr);
    images.push(img);
  }
  const native = join(dir, 'mksquashfs.sqfs');
  await run(requireTool('mksquashfs', 'squashfs-tools'), [src, native, '-comp', 'zstd', '-noappend', '-quiet', '-no-progress']);
  images.push(native);
  for (const img of images) {
    const r = await inspect(img);
    clean(r, img);
    const f = one(r.root, 'squashfs').fields;
    const k = await unsquashfsFacts(img);
    assert.deepEqual(
      { compression: f.compression, blockSize: f.blockSize, bytesUsed: f.bytesUsed, inodes: f.inodes, fragments: f.fragments, ids: f.ids, exportable: f.exportable },
      k,
      img,
    );
    const list = (await run('unsquashfs', ['-lln', img])).stdout.toString().split('\n').filter((l) => /^[-dlcbps]/.test(l));
    const dirs = list.filter((l) => l.startsWith('d')).length;
    assert.equal(f.entries, list.length, `${img}: entries as unsquashfs -lln lists them`);
    assert.equal(f.directories, dirs, `${img}: directories`);
  }
  // bytes_used (superblock byte 40) one block past the end of the file
  const size = (await stat(images[0]!)).size;
  const big = Buffer.alloc(8);
  big.writeBigUInt64LE(BigInt(size + 4096), 0);
  await patch(images[0]!, join(dir, 'bytes-used.sqfs'), 40, big);
  assert.match(await expectDefect(join(dir, 'bytes-used.sqfs'), 'squashfs.superblock.bytesUsed'), /past the end/);
  const r = await run('unsquashfs', ['-d', join(dir, 'x'), join(dir, 'bytes-used.sqfs')], { allowFail: true });
  assert.notEqual(r.code, 0, 'unsquashfs refuses it too');
});

test('ext4 from mke2fs -d: label, UUID, features, counts and checksum agree with dumpe2fs -h; a corrupted superblock is a defect', { timeout: 120_000 }, async () => {
  const dir = await tempDir('inspect-ext4');
  const img = join(dir, 'root.ext4');
  await run(requireTool('mke2fs', 'e2fsprogs'), ['-q', '-t', 'ext4', '-L', 'rootfs', '-d', join(REPO_ROOT, 'fixtures/disk/ab/rootfs'), img, '16M']);
  const r = await inspect(img);
  clean(r, 'ext4');
  const f = one(r.root, 'ext4').fields;
  const out = (await run(requireTool('dumpe2fs', 'e2fsprogs'), ['-h', img])).stdout.toString();
  const get = (k: string) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(out)?.[1]?.trim();
  assert.equal(f.label, get('Filesystem volume name'));
  assert.equal(f.uuid, get('Filesystem UUID'));
  assert.deepEqual(f.features, get('Filesystem features')!.split(' '));
  assert.equal(f.blocks, Number(get('Block count')));
  assert.equal(f.freeBlocks, Number(get('Free blocks')));
  assert.equal(f.inodes, Number(get('Inode count')));
  assert.equal(f.freeInodes, Number(get('Free inodes')));
  assert.equal(f.blockSize, Number(get('Block size')));
  assert.equal(f.checksum, get('Checksum'));
  await patch(img, join(dir, 'bad.ext4'), 1024 + 0x78, [0x58]); // a label byte: the checksum no longer matches
  await expectDefect(join(dir, 'bad.ext4'), 'ext4.superblock.checksum');
});

// ---- VM containers ----------------------------------------------------------------------------

test('qcow2, VMDK, VHD, VHDX and OVA from imgkit convert and qemu-img convert agree with qemu-img info; the disk inside is inspected; a damaged qcow2 is a defect', { timeout: 600_000 }, async () => {
  const dir = await tempDir('inspect-vdisk');
  const raw = join(dir, 'disk.img');
  const w = await runImgkit(['disk', join(REPO_ROOT, 'fixtures/disk/rpi/layout.yaml'), raw], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(w.code, 0, w.stderr);
  const qemuImg = requireTool('qemu-img', 'qemu-utils');
  for (const fmt of ['qcow2', 'vmdk', 'vpc', 'vhdx']) {
    for (const maker of ['imgkit', 'qemu-img']) {
      const out = join(dir, `${maker}.${fmt}`);
      if (maker === 'imgkit') {
        const r = await runImgkit(['convert', raw, out, '-O', fmt], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
        assert.equal(r.code, 0, r.stderr);
      } else await run(qemuImg, ['convert', '-f', 'raw', '-O', fmt, raw, out]);
      const r = await inspect(out);
      clean(r, out);
      const c = r.root;
      const info = JSON.parse((await run(qemuImg, ['info', '--output=json', '-f', fmt, out])).stdout.toString()) as Record<string, unknown> & { 'format-specific'?: { data: Record<string, unknown> } };
      assert.equal(c.fields.format, info.format, `${out}: format`);
      assert.equal(c.fields.virtualSize, info['virtual-size'], `${out}: virtual size`);
      const data = info['format-specific']?.data ?? {};
      if (fmt === 'qcow2') {
        assert.equal(c.fields.clusterSize, info['cluster-size']);
        assert.equal(c.fields.compat, data.compat);
        assert.equal(c.fields.compressionType, data['compression-type']);
        assert.equal(c.fields.refcountBits, data['refcount-bits']);
      }
      if (fmt === 'vmdk') {
        assert.equal(c.fields.createType, data['create-type']);
        assert.equal(parseInt(c.fields.cid as string, 16), data.cid);
      }
      if (fmt === 'vhdx') assert.equal(c.fields.blockSize, info['cluster-size']);
      // the disk inside: the card's MBR, its FAT32 and squashfs
      assert.equal(one(c, 'mbr').children.length, 2, `${out}: MBR partitions`);
      assert.equal(one(c, 'fat').fields.label, 'BOOT');
      assert.equal(one(c, 'squashfs').fields.compression, 'xz');
    }
  }
  const ova = join(dir, 'card.ova');
  const o = await runImgkit(['convert', raw, ova, '-O', 'ova', '-o', 'name=card,cpus=2,memory=1024'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(o.code, 0, o.stderr);
  const r = await inspect(ova);
  clean(r, 'ova');
  assert.equal(r.root.type, 'ova');
  assert.equal(r.root.fields.cpus, 2);
  assert.equal(r.root.fields.memoryMiB, 1024);
  const tar = (await run(requireTool('bsdtar', 'libarchive-tools'), ['-tf', ova])).stdout.toString().trim().split('\n');
  assert.deepEqual(r.root.fields.members, tar);
  assert.equal(one(r.root, 'vmdk').fields.createType, 'streamOptimized');
  assert.equal(one(r.root, 'fat').fields.label, 'BOOT');
  // a qcow2 whose first L1 entry points into the header cluster: qemu-img check and inspect both flag it
  const q = join(dir, 'imgkit.qcow2');
  const b = await readFile(q);
  const l1 = Number(b.readBigUInt64BE(40));
  const e = Buffer.alloc(8);
  e.writeBigUInt64BE((1n << 63n) | 0n + 512n, 0);
  await patch(q, join(dir, 'bad.qcow2'), l1, e);
  await expectDefect(join(dir, 'bad.qcow2'), 'vdisk.qcow2');
  const chk = await run(qemuImg, ['check', join(dir, 'bad.qcow2')], { allowFail: true });
  assert.notEqual(chk.code, 0, 'qemu-img check flags it too');
});

// ---- cpio / initramfs ------------------------------------------------------------------------

test('initramfs from imgkit cpio (gzip, zstd, xz, lz4, none, with an early archive) and cpio | gzip: entries as cpio -t lists them; a truncated one is a defect', { timeout: 300_000 }, async () => {
  const dir = await tempDir('inspect-cpio');
  const tree = join(REPO_ROOT, 'fixtures/rootfs');
  const cpio = requireTool('cpio', 'cpio');
  const early = join(dir, 'early');
  await mkdir(join(early, 'kernel/x86/microcode'), { recursive: true });
  await writeFile(join(early, 'kernel/x86/microcode/GenuineIntel.bin'), Buffer.alloc(3000, 1));
  await symlink('GenuineIntel.bin', join(early, 'kernel/x86/microcode/link'));
  const listed = async (args: string[]) => {
    const plain = join(dir, 'plain.cpio');
    const r = await runImgkit(['cpio', tree, plain, '--compress', 'none', ...args]);
    assert.equal(r.code, 0, r.stderr);
    const out = (await run(cpio, ['-it', '--quiet'], { input: await readFile(plain) })).stdout.toString().trim().split('\n');
    return out.length;
  };
  const count = await listed(['--manifest', join(REPO_ROOT, 'fixtures/rootfs.manifest'), '--all-root']);
  const earlyCount = (await run('sh', ['-c', `cd ${early} && find . | wc -l`])).stdout.toString().trim();
  for (const comp of ['gzip', 'zstd', 'xz', 'lz4', 'none']) {
    const img = join(dir, `initrd-${comp}`);
    const r = await runImgkit(['cpio', tree, img, '--compress', comp, '--manifest', join(REPO_ROOT, 'fixtures/rootfs.manifest'), '--all-root'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(r.code, 0, r.stderr);
    const rep = await inspect(img);
    clean(rep, comp);
    const c = one(rep.root, 'cpio');
    assert.equal(c.fields.entries, count, `${comp}: entries as cpio -it lists them`);
    if (comp !== 'none') assert.equal(one(rep.root, 'compressed').fields.compression, comp === 'lz4' ? 'lz4-legacy' : comp);
    // with an early (uncompressed) archive in front
    const withEarly = join(dir, `initrd-early-${comp}`);
    const r2 = await runImgkit(['cpio', tree, withEarly, '--compress', comp, '--early', early, '--manifest', join(REPO_ROOT, 'fixtures/rootfs.manifest'), '--all-root'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(r2.code, 0, r2.stderr);
    const rep2 = await inspect(withEarly);
    clean(rep2, `${comp} + early`);
    const cs = all(rep2.root, 'cpio');
    assert.deepEqual(cs.map((x) => x.fields.entries), comp === 'none' ? [Number(earlyCount), count] : [Number(earlyCount), count], `${comp} + early: both archives counted`);
  }
  // the native pipeline
  const native = join(dir, 'native.gz');
  await run('sh', ['-c', `cd ${tree} && find . | ${cpio} -o -H newc --quiet | gzip -9 > ${native}`]);
  const rn = await inspect(native);
  clean(rn, 'find | cpio | gzip');
  const nativeCount = (await run('sh', ['-c', `cd ${tree} && find . | wc -l`])).stdout.toString().trim();
  assert.equal(one(rn.root, 'cpio').fields.entries, Number(nativeCount));
  // truncated: a compressed stream cut in the middle, and an archive without its trailer
  const gz = await readFile(join(dir, 'initrd-gzip'));
  await writeFile(join(dir, 'cut.gz'), gz.subarray(0, gz.length >> 1));
  await expectDefect(join(dir, 'cut.gz'), 'compressed.gzip');
  const none = await readFile(join(dir, 'initrd-none'));
  await writeFile(join(dir, 'cut.cpio'), none.subarray(0, none.length - 200));
  await expectDefect(join(dir, 'cut.cpio'), 'cpio.trailer');
});

test('imgkit inspect prints a tree by default and exits 0 on a clean image; a missing file is exit 1', async () => {
  const dir = await tempDir('inspect-cli');
  const img = join(dir, 'esp.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-n', 'TREE', img, '2048']);
  const r = await runImgkit(['inspect', img]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString();
  assert.match(text, /^.*esp\.img: fat/m);
  assert.match(text, /label: TREE/);
  assert.match(text, /0 defects, 0 warnings \(exit code 0\)/);
  const missing = await runImgkit(['inspect', join(dir, 'nope.img')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.img/);
  requireFile(img, 'dosfstools');
});
