/**
 * El Torito and hybrid system areas, checked with xorriso's reports (-report_el_torito,
 * -report_system_area), sgdisk -v and sfdisk --json, plus the boot-info-table bytes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { writeIso, type IsoOptions, type IsoResult } from '@imgkit/iso9660';
import { requireTool, run, tempDir } from './lib/tools.js';

import { existsSync } from 'node:fs';

const ISOLINUX = '/usr/lib/ISOLINUX/isolinux.bin';
/** A data file from a Debian package; missing means the test fails, naming the package. */
function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}
const ISOHDPFX = '/usr/lib/ISOLINUX/isohdpfx.bin';

async function makeEsp(dir: string, name = 'efi.img'): Promise<string> {
  const img = join(dir, name);
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-n', 'ESP', img, '2048']);
  await writeFile(join(dir, 'BOOTX64.EFI'), 'not really a loader\n');
  await run(requireTool('mmd', 'mtools'), ['-i', img, '::/EFI', '::/EFI/BOOT']);
  await run(requireTool('mcopy', 'mtools'), ['-i', img, join(dir, 'BOOTX64.EFI'), '::/EFI/BOOT/BOOTX64.EFI']);
  return img;
}

async function build(dir: string, name: string, files: MemoryEntryInit[], o: IsoOptions): Promise<{ iso: string; r: IsoResult }> {
  const iso = join(dir, name);
  const sink = await fileSink(iso);
  const r = await writeIso(memoryTree(files), sink, o);
  await sink.close();
  return { iso, r };
}

async function report(iso: string): Promise<string> {
  return (await run(requireTool('xorriso', 'xorriso'), ['-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain'])).stdout.toString();
}

async function bytesAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  const b = Buffer.alloc(length);
  await fh.read(b, 0, length, offset);
  await fh.close();
  return b;
}

test('El Torito BIOS + UEFI with boot-info-table and an isohybrid MBR (xorriso report, MBR bytes)', async () => {
  const dir = await tempDir('iso-eltorito');
  const isolinux = await readFile(requireFile(ISOLINUX, 'isolinux'));
  const esp = await readFile(await makeEsp(dir));
  const template = await readFile(requireFile(ISOHDPFX, 'isolinux'));
  const { iso, r } = await build(
    dir,
    'hyb.iso',
    [
      { path: 'isolinux/isolinux.bin', kind: 'file', content: isolinux },
      { path: 'boot/efi.img', kind: 'file', content: esp },
      { path: 'readme', kind: 'file', content: 'hello\n' },
    ],
    {
      volumeId: 'HYBRID',
      biosBoot: { path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true },
      catalogPath: 'isolinux/boot.cat',
      efiBoot: { path: 'boot/efi.img' },
      hybrid: 'isohybrid-mbr',
      mbrTemplate: template,
      epoch: 1_700_000_000,
    },
  );
  const rep = await report(iso);
  assert.match(rep, /El Torito cat path : \/isolinux\/boot\.cat/);
  assert.match(rep, new RegExp(`El Torito boot img :\\s+1\\s+BIOS\\s+y\\s+none\\s+0x0000\\s+0x00\\s+4\\s+${r.biosImageLba}\\b`));
  assert.match(rep, new RegExp(`El Torito boot img :\\s+2\\s+UEFI\\s+y\\s+none\\s+0x0000\\s+0x00\\s+${esp.byteLength / 512}\\s+${r.efiImageLba}\\b`));
  assert.match(rep, /El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
  assert.match(rep, /El Torito img opts :\s+1\s+boot-info-table/);
  assert.match(rep, /El Torito img path :\s+2\s+\/boot\/efi\.img/);
  assert.match(rep, /System area summary: MBR isohybrid/);
  assert.match(rep, new RegExp(`MBR partition      :\\s+1\\s+0x80\\s+0x17\\s+0\\s+${r.volumeBlocks * 4}\\b`));
  // Without -isohybrid-gpt-basdat xorriso lists only the ISO (0x17) in the MBR; the EFI image is
  // reached through El Torito (see iso-xorriso.test.ts for the marked layouts).
  assert.doesNotMatch(rep, /MBR partition      :\s+2\s/);
  assert.equal(r.sizeBytes % (1 << 20), 0, 'cylinder aligned');

  // MBR: template code, isohybrid's boot image address (in 512-byte sectors) at 432, 0x55AA.
  const mbr = await bytesAt(iso, 0, 512);
  assert.deepEqual(mbr.subarray(0, 432), template.subarray(0, 432));
  assert.equal(mbr.readUInt32LE(432), r.biosImageLba! * 4);
  assert.equal(mbr.readUInt16LE(510), 0xaa55);
  const sf = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', iso])).stdout.toString());
  assert.equal(sf.partitiontable.label, 'dos');
  assert.equal(sf.partitiontable.partitions.length, 1);

  // Boot info table (mkisofs -boot-info-table): PVD LBA, file LBA, length, checksum of bytes 64….
  const image = await bytesAt(iso, r.biosImageLba! * 2048, isolinux.byteLength);
  assert.equal(image.readUInt32LE(8), 16);
  assert.equal(image.readUInt32LE(12), r.biosImageLba);
  assert.equal(image.readUInt32LE(16), isolinux.byteLength);
  let sum = 0;
  for (let i = 64; i < isolinux.byteLength; i += 4) sum = (sum + isolinux.readUInt32LE(i)) >>> 0;
  assert.equal(image.readUInt32LE(20), sum);
  assert.deepEqual(image.subarray(64), isolinux.subarray(64));
  assert.deepEqual(image.subarray(0, 8), isolinux.subarray(0, 8));

  // The catalog: validation entry checksum (El Torito §2.1) sums the 16-bit words to zero.
  const cat = await bytesAt(iso, r.bootCatalogLba! * 2048, 2048);
  let s16 = 0;
  for (let i = 0; i < 32; i += 2) s16 = (s16 + cat.readUInt16LE(i)) & 0xffff;
  assert.equal(s16, 0);
  assert.equal(cat[64], 0x91);
  assert.equal(cat[65], 0xef);

  // The EFI image inside the ISO is intact.
  const efiBytes = await bytesAt(iso, r.efiImageLba! * 2048, esp.byteLength);
  assert.ok(efiBytes.equals(esp));
});

test('appended ESP (archiso style): protective MBR + GPT, El Torito UEFI entry on partition 2', async () => {
  const dir = await tempDir('iso-appended');
  const espPath = await makeEsp(dir, 'esp.img');
  const esp = await readFile(espPath);
  const isolinux = await readFile(requireFile(ISOLINUX, 'isolinux'));
  const { iso, r } = await build(dir, 'arch.iso', [{ path: 'boot/isolinux.bin', kind: 'file', content: isolinux }, { path: 'x', kind: 'file', content: 'x' }], {
    volumeId: 'ARCH_2024',
    biosBoot: { path: 'boot/isolinux.bin', bootInfoTable: true },
    catalogPath: 'boot/boot.cat',
    hybrid: 'appended-esp',
    mbrTemplate: await readFile(requireFile(ISOHDPFX, 'isolinux')),
    appendedEsp: { size: esp.byteLength, read: async function* () { yield esp; } },
    efiBoot: 'appended-esp',
  });
  const v = await run(requireTool('sgdisk', 'gdisk'), ['-v', iso]);
  assert.match(v.stdout.toString(), /No problems found/);
  const rep = await report(iso);
  assert.match(rep, /MBR partition      :\s+1\s+0x00\s+0xee\s+1\s+/);
  assert.match(rep, /GPT type GUID      :\s+2\s+28732ac11ff8d211ba4b00a0c93ec93b/);
  const start = Number(/GPT start and size :\s+2\s+(\d+)\s+(\d+)/.exec(rep)![1]);
  assert.equal(start, r.efiImageLba! * 4);
  assert.match(rep, new RegExp(`El Torito boot img :\\s+2\\s+UEFI\\s+y\\s+none\\s+0x0000\\s+0x00\\s+${esp.byteLength / 512}\\s+${r.efiImageLba}\\b`));
  const part = await bytesAt(iso, start * 512, esp.byteLength);
  assert.equal(createHash('sha256').update(part).digest('hex'), createHash('sha256').update(esp).digest('hex'));
  // The partition is a FAT file system mtools can read.
  const listing = await run(requireTool('mdir', 'mtools'), ['-i', `${iso}@@${start * 512}`, '::/EFI/BOOT']);
  assert.match(listing.stdout.toString(), /BOOTX64\s+EFI/);
  // And the ISO still lists with isoinfo.
  const d = (await run(requireTool('isoinfo', 'genisoimage'), ['-d', '-i', iso])).stdout.toString();
  assert.match(d, /Volume id: ARCH_2024/);
});

test('uefi-only: El Torito UEFI entry only; protective MBR and a GPT whose ESP is the image inside the ISO (-efi-boot-part --efi-boot-image)', async () => {
  const dir = await tempDir('iso-uefi');
  const esp = await readFile(await makeEsp(dir));
  const { iso, r } = await build(dir, 'u.iso', [{ path: 'EFI/efiboot.img', kind: 'file', content: esp }], {
    efiBoot: { path: 'EFI/efiboot.img' },
    hybrid: 'uefi-only',
  });
  const v = await run(requireTool('sgdisk', 'gdisk'), ['-v', iso]);
  assert.match(v.stdout.toString(), /No problems found/);
  const rep = await report(iso);
  assert.match(rep, new RegExp(`El Torito boot img :\\s+1\\s+UEFI\\s+y\\s+none\\s+0x0000\\s+0x00\\s+${esp.byteLength / 512}\\s+${r.efiImageLba}\\b`));
  assert.doesNotMatch(rep, /BIOS/);
  // xorriso's layout: the ESP right after the directories, basic-data gaps before and after it.
  assert.match(rep, /GPT partname local :\s+1\s+Gap0/);
  assert.match(rep, /GPT partname local :\s+2\s+EFI boot partition/);
  assert.match(rep, new RegExp(`GPT start and size :\\s+2\\s+${r.efiImageLba! * 4}\\s+${esp.byteLength / 512}\\b`));
  assert.match(rep, /GPT type GUID      :\s+2\s+28732ac11ff8d211ba4b00a0c93ec93b/);
  assert.match(rep, /MBR partition      :\s+1\s+0x00\s+0xee\s+1\s/);
  const listing = await run(requireTool('mdir', 'mtools'), ['-i', `${iso}@@${r.efiImageLba! * 2048}`, '::/EFI/BOOT']);
  assert.match(listing.stdout.toString(), /BOOTX64\s+EFI/);
});

test('a host file as the EFI image, and a producer as file content (no temporary file)', async () => {
  const dir = await tempDir('iso-producer');
  const esp = await readFile(await makeEsp(dir));
  let produced = 0;
  const producer = async function* () {
    for (let i = 0; i < 64; i++) {
      produced++;
      yield new Uint8Array(4096).fill(i);
    }
  };
  // boot/ is not in the tree: it is created for the host image.
  const { iso, r } = await build(dir, 'p.iso', [{ path: 'live/filesystem.squashfs', kind: 'file', size: 64 * 4096, content: producer }], {
    efiBoot: { path: 'boot/efi.img', content: { size: esp.byteLength, read: async function* () { yield esp; } } },
    catalogPath: 'boot/boot.cat',
  });
  assert.equal(produced, 64);
  const out = join(dir, 'x');
  await mkdir(out);
  await run(requireTool('bsdtar', 'libarchive-tools'), ['-xf', iso, '-C', out]);
  const got = await readFile(join(out, 'live/filesystem.squashfs'));
  assert.equal(got.byteLength, 64 * 4096);
  for (let i = 0; i < 64; i++) assert.equal(got[i * 4096], i);
  assert.ok((await readFile(join(out, 'boot/efi.img'))).equals(esp));
  const rep = await report(iso);
  assert.match(rep, new RegExp(`El Torito boot img :\\s+1\\s+UEFI.*\\s${r.efiImageLba}\\b`));
});
