/** `imgkit iso` and `imgkit mkisofs` end to end (built CLI), checked with xorriso, isoinfo, sgdisk. */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from '@imgkit/core';
import { FAT_IGNORED, FSCK_PROBLEMS, fatView, fsckFat, fsckProblems, mcopyExtract, mdir, MTOOLS_ENV } from './lib/fat.js';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir } from './lib/tree.js';

function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}

async function makeTree(dir: string): Promise<{ src: string; esp: string }> {
  const src = join(dir, 'src');
  await mkdir(join(src, 'isolinux'), { recursive: true });
  await mkdir(join(src, 'EFI'), { recursive: true });
  await copyFile(requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'), join(src, 'isolinux/isolinux.bin'));
  await writeFile(join(src, 'README.txt'), 'hello\n');
  const esp = join(src, 'EFI/efi.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', esp, '1440']);
  return { src, esp };
}

const env = { SOURCE_DATE_EPOCH: '1700000000' };

test('imgkit mkisofs with a Debian-style xorriso line equals imgkit iso with readable options', async () => {
  const dir = await tempDir('iso-cli');
  const { src } = await makeTree(dir);
  const a = join(dir, 'a.iso');
  const b = join(dir, 'b.iso');
  const r1 = await runImgkit(
    ['mkisofs', '-o', a, '-iso-level', '3', '-R', '-J', '-joliet-long', '-V', 'DEBIAN_LIVE', '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
      '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'EFI/efi.img', '-no-emul-boot',
      '-isohybrid-mbr', '/usr/lib/ISOLINUX/isohdpfx.bin', '-isohybrid-gpt-basdat', src],
    { env },
  );
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = await runImgkit(
    // mkisofs writes what xorriso -as mkisofs writes: RRIP 1.10, no system or application id.
    ['iso', src, b, '--rrip', '1.10', '--sysid', '', '--appid', '', '--preparer', 'IMGKIT', '--volid', 'DEBIAN_LIVE', '--joliet-long', '--bios-boot', 'isolinux/isolinux.bin', '--boot-catalog', 'isolinux/boot.cat',
      '--boot-load-size', '4', '--boot-info-table', '--efi-boot', 'EFI/efi.img', '--hybrid', 'isohybrid-mbr', '--mbr-template', '/usr/lib/ISOLINUX/isohdpfx.bin', '--isohybrid-gpt'],
    { env },
  );
  assert.equal(r2.code, 0, r2.stderr);
  assert.ok((await readFile(a)).equals(await readFile(b)), 'same bytes from both command lines');
  const rep = (await run(requireTool('xorriso', 'xorriso'), ['-indev', a, '-report_el_torito', 'plain', '-report_system_area', 'plain'])).stdout.toString();
  assert.match(rep, /El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
  assert.match(rep, /El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
  assert.match(rep, /El Torito img opts :\s+1\s+boot-info-table/);
  assert.match(rep, /System area summary: MBR isohybrid.* GPT/);
  // -isohybrid-gpt-basdat: a GPT beside the MBR (as xorriso: partition 1 the ISO from 0, partition 2 the EFI image).
  const efiLba = Number(/El Torito boot img :\s+2\s+UEFI\s+y\s+none\s+0x0000\s+0x00\s+\d+\s+(\d+)/.exec(rep)![1]);
  assert.match(rep, /GPT partname local :\s+1\s+ISOHybrid\n/);
  assert.match(rep, new RegExp(`GPT start and size :\\s+2\\s+${efiLba * 4}\\s+2880\\b`));
  // (sgdisk -v refuses any isohybrid MBR, xorriso's too: its partitions overlap by design.) Check
  // the GPT itself: signature, header and entry CRC32s, and the backup header in the last sector.
  const img = await readFile(a);
  const hdr = Buffer.from(img.subarray(512, 512 + 92));
  assert.equal(hdr.subarray(0, 8).toString('latin1'), 'EFI PART');
  const headerCrc = hdr.readUInt32LE(16);
  hdr.writeUInt32LE(0, 16);
  assert.equal(crc32(hdr), headerCrc);
  assert.equal(crc32(img.subarray(1024, 1024 + hdr.readUInt32LE(80) * 128)), hdr.readUInt32LE(88));
  const last = img.byteLength / 512 - 1;
  assert.equal(Number(hdr.readBigUInt64LE(32)), last);
  assert.equal(img.subarray(last * 512, last * 512 + 8).toString('latin1'), 'EFI PART');
  const d = (await run(requireTool('isoinfo', 'genisoimage'), ['-d', '-i', a])).stdout.toString();
  assert.match(d, /Volume id: DEBIAN_LIVE/);
  assert.match(d, /Joliet with UCS level 3 found/);
  assert.match(d, /Rock Ridge signatures version 1 found/);
  // SOURCE_DATE_EPOCH dates the volume.
  const pvd = (await readFile(a)).subarray(16 * 2048, 17 * 2048);
  assert.equal(pvd.subarray(813, 829).toString('latin1'), '2023111422132000');
});

test('imgkit mkisofs, archiso line: appended ESP as GPT partition 2 with the El Torito interval', async () => {
  const dir = await tempDir('iso-cli-arch');
  const { src } = await makeTree(dir);
  const esp = join(dir, 'efiboot.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', esp, '2048']);
  const out = join(dir, 'arch.iso');
  const r = await runImgkit(
    ['mkisofs', '-iso-level', '3', '-full-iso9660-filenames', '-joliet', '-joliet-long', '-rational-rock', '-volid', 'ARCH_202401', '-appid', 'Arch Linux Live',
      '-publisher', 'Arch Linux', '-preparer', 'prepared by mkarchiso', '-partition_offset', '16', '-isohybrid-mbr', '/usr/lib/ISOLINUX/isohdpfx.bin',
      '-eltorito-boot', 'isolinux/isolinux.bin', '-eltorito-catalog', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-append_partition', '2', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', esp, '-appended_part_as_gpt', '-eltorito-alt-boot',
      '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', '-isohybrid-gpt-basdat', '-output', out, src],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  const v = (await run(requireTool('sgdisk', 'gdisk'), ['-v', out])).stdout.toString();
  assert.match(v, /No problems found/);
  const rep = (await run(requireTool('xorriso', 'xorriso'), ['-indev', out, '-report_el_torito', 'plain', '-report_system_area', 'plain'])).stdout.toString();
  assert.match(rep, /GPT type GUID      :\s+2\s+28732ac11ff8d211ba4b00a0c93ec93b/);
  assert.match(rep, /El Torito boot img :\s+2\s+UEFI/);
  const d = (await run(requireTool('isoinfo', 'genisoimage'), ['-d', '-i', out])).stdout.toString();
  // xorriso's mkisofs emulation upper-cases the a-character identifiers.
  assert.match(d, /Publisher id: ARCH LINUX\n/);
  assert.match(d, /Application id: ARCH LINUX LIVE\n/);
  // -partition_offset 16: GPT partition 1 mounts on its own as ISO 9660 (its own descriptors).
  const start = Number(/GPT start and size :\s+1\s+(\d+)\s+(\d+)/.exec(rep)![1]);
  assert.equal(start, 64);
  const part = join(dir, 'part1.iso');
  await run('dd', [`if=${out}`, `of=${part}`, 'bs=512', `skip=${start}`, 'status=none']);
  const pd = (await run(requireTool('isoinfo', 'genisoimage'), ['-d', '-i', part])).stdout.toString();
  assert.match(pd, /Volume id: ARCH_202401/);
  const px = join(dir, 'px');
  await mkdir(px);
  await run(requireTool('bsdtar', 'libarchive-tools'), ['-xf', part, '-C', px]);
  assert.equal(await readFile(join(px, 'README.txt'), 'utf8'), 'hello\n');
  assert.ok((await readFile(join(px, 'isolinux/isolinux.bin'))).subarray(64).equals((await readFile(join(src, 'isolinux/isolinux.bin'))).subarray(64)));
  // -rational-rock: owners 0 and readable modes.
  const l = (await run(requireTool('isoinfo', 'genisoimage'), ['-l', '-R', '-i', out])).stdout.toString();
  assert.match(l, /^-r--r--r--\s+1\s+0\s+0\s+6 .*README\.txt/m);
});

test('usage errors exit 2 and name the problem: unknown mkisofs options, inconsistent presets', async () => {
  const dir = await tempDir('iso-cli-err');
  const { src } = await makeTree(dir);
  const r1 = await runImgkit(['mkisofs', '-o', join(dir, 'x.iso'), '-R', '-frobnicate', '-graft-points', src]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /unknown mkisofs option -frobnicate: imgkit mkisofs -help lists/);
  assert.equal(existsSync(join(dir, 'x.iso')), false);
  const r2 = await runImgkit(['iso', src, join(dir, 'y.iso'), '--hybrid', 'isohybrid-mbr']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /E_BAD_OPTION/);
  assert.match(r2.stderr, /--mbr-template/);
  const r3 = await runImgkit(['iso', src, join(dir, 'z.iso'), '--hybrid', 'uefi-only', '--efi-boot', 'EFI/efi.img', '--bios-boot', 'isolinux/isolinux.bin']);
  assert.equal(r3.code, 2);
  assert.equal(existsSync(join(dir, 'z.iso')), false);
  // What is still unsupported names the option and what to do, in mkisofs terms.
  const r4 = await runImgkit(['mkisofs', '-o', join(dir, 'w.iso'), '-append_partition', '5', '0x83', 'x', src]);
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /-append_partition 5: give a whole number in 1…4/);
  const r5 = await runImgkit(['mkisofs', '-o', join(dir, 'v.iso'), '-b', 'isolinux/isolinux.bin', src]);
  assert.equal(r5.code, 2);
  assert.match(r5.stderr, /floppy-emulation .* add -no-emul-boot/);
});

test('imgkit iso writes to standard output (the writer never seeks)', async () => {
  const dir = await tempDir('iso-cli-stdout');
  const { src } = await makeTree(dir);
  const file = join(dir, 'f.iso');
  await runImgkit(['iso', src, file], { env });
  const r = await runImgkit(['iso', src, '-'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.equals(await readFile(file)));
});

/** An ESP tree: the removable-media loader path, a long name, a file dated before SOURCE_DATE_EPOCH. */
async function makeEsp(dir: string): Promise<string> {
  const esp = join(dir, 'esp');
  await mkdir(join(esp, 'EFI/BOOT'), { recursive: true });
  await mkdir(join(esp, 'loader/entries'), { recursive: true });
  await writeFile(join(esp, 'EFI/BOOT/BOOTX64.EFI'), Uint8Array.from({ length: 200_000 }, (_, i) => (i * 13) & 0xff));
  await writeFile(join(esp, 'EFI/BOOT/grub.cfg'), 'search --no-floppy --file /imgkit-stamp --set=root\n');
  await writeFile(join(esp, 'loader/entries/Imgkit Live 6.1.conf'), 'title Imgkit Live\n');
  await utimes(join(esp, 'EFI/BOOT/grub.cfg'), 1_600_000_001, 1_600_000_001);
  return esp;
}

/** fsck.fat finds nothing to fix, the label is the one asked for, and mcopy extracts the ESP tree unchanged (FAT's view of it). */
async function checkEsp(image: string, esp: string, label: string, work: string): Promise<void> {
  const f = await fsckFat(image);
  assert.equal(fsckProblems(f.output).match(FSCK_PROBLEMS), null, f.output);
  const info = (await run(requireTool('minfo', 'mtools'), ['-i', image, '::'], { env: MTOOLS_ENV })).stdout.toString();
  assert.match(info, new RegExp(`disk label="${label} *"`), info);
  const out = join(work, 'extracted');
  await mkdir(out, { recursive: true });
  await mcopyExtract(image, out);
  assertSameTree(fatView(await snapshotDir(out)), fatView(await snapshotDir(esp), 1_700_000_000), { ignore: [...FAT_IGNORED, 'dirMtime'] });
  assert.ok((await mdir(image, '::/loader/entries')).some((e) => e.long === 'Imgkit Live 6.1.conf'), 'the long name');
}

test('imgkit iso --efi-dir builds the UEFI image in-process: a file of the ISO (isohybrid + GPT), or the appended ESP (appended-esp); fsck.fat, mtools, xorriso', async () => {
  const dir = await tempDir('iso-cli-efidir');
  const { src } = await makeTree(dir);
  const esp = await makeEsp(dir);
  const xorriso = requireTool('xorriso', 'xorriso');

  // Inside the ISO, as Debian's live images carry it: El Torito UEFI entry, marked in the MBR and the GPT.
  const a = join(dir, 'inside.iso');
  const r1 = await runImgkit(
    ['iso', src, a, '--volid', 'EFIDIR', '--bios-boot', 'isolinux/isolinux.bin', '--boot-info-table', '--efi-dir', esp, '--efi-label', 'EFIBOOT',
      '--efi-image-path', 'boot/grub/efi.img', '--hybrid', 'isohybrid-mbr', '--mbr-template', '/usr/lib/ISOLINUX/isohdpfx.bin', '--isohybrid-gpt'],
    { env },
  );
  assert.equal(r1.code, 0, r1.stderr);
  const rep = (await run(xorriso, ['-indev', a, '-report_el_torito', 'plain', '-report_system_area', 'plain'])).stdout.toString();
  const uefi = /El Torito boot img :\s+2\s+UEFI\s+y\s+none\s+0x0000\s+0x00\s+(\d+)\s+(\d+)/.exec(rep);
  assert.ok(uefi, rep);
  assert.match(rep, /GPT partname local :\s+2\s+ISOHybrid1/);
  const ext = join(dir, 'x');
  await mkdir(ext);
  await run(requireTool('bsdtar', 'libarchive-tools'), ['-xf', a, '-C', ext, 'boot/grub/efi.img']);
  const img = await readFile(join(ext, 'boot/grub/efi.img'));
  const iso = await readFile(a);
  const lba = Number(uefi[2]);
  assert.equal(Number(uefi[1]), img.byteLength / 512, 'the entry loads the whole image');
  assert.ok(iso.subarray(lba * 2048, lba * 2048 + img.byteLength).equals(img), 'El Torito points at the file');
  assert.match(rep, new RegExp(`GPT start and size :\\s+2\\s+${lba * 4}\\s+${img.byteLength / 512}\\b`), 'the GPT entry covers it');
  await checkEsp(join(ext, 'boot/grub/efi.img'), esp, 'EFIBOOT', join(dir, 'in'));

  // Appended after the ISO as GPT partition 2 (archiso's layout), El Torito pointing at it.
  const b = join(dir, 'appended.iso');
  const r2 = await runImgkit(
    ['iso', src, b, '--bios-boot', 'isolinux/isolinux.bin', '--boot-info-table', '--efi-dir', esp, '--efi-label', 'ARCHESP', '--hybrid', 'appended-esp',
      '--mbr-template', '/usr/lib/ISOLINUX/isohdpfx.bin', '--partition-offset', '16'],
    { env },
  );
  assert.equal(r2.code, 0, r2.stderr);
  assert.match((await run(requireTool('sgdisk', 'gdisk'), ['-v', b])).stdout.toString(), /No problems found/);
  const p = (await run(requireTool('sgdisk', 'gdisk'), ['-i', '2', b])).stdout.toString();
  assert.match(p, /Partition GUID code: C12A7328-F81F-11D2-BA4B-00A0C93EC93B \(EFI system partition\)/);
  const first = Number(/First sector: (\d+)/.exec(p)![1]);
  const last = Number(/Last sector: (\d+)/.exec(p)![1]);
  const rep2 = (await run(xorriso, ['-indev', b, '-report_el_torito', 'plain'])).stdout.toString();
  assert.match(rep2, new RegExp(`El Torito boot img :\\s+2\\s+UEFI\\s+y\\s+none\\s+0x0000\\s+0x00\\s+\\d+\\s+${first / 4}\\b`), rep2);
  const part = join(dir, 'p2.img');
  await writeFile(part, (await readFile(b)).subarray(first * 512, (last + 1) * 512));
  await checkEsp(part, esp, 'ARCHESP', join(dir, 'ap'));

  // Usage errors: two UEFI images, FAT options without --efi-dir; nothing is written.
  const r3 = await runImgkit(['iso', src, join(dir, 'e1.iso'), '--efi-dir', esp, '--efi-boot', 'EFI/efi.img']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--efi-dir and --efi-boot/);
  const r4 = await runImgkit(['iso', src, join(dir, 'e2.iso'), '--efi-label', 'X']);
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /--efi-label and --efi-size describe the image --efi-dir builds/);
  // A name FAT cannot hold is the FAT writer's typed error naming the path.
  await writeFile(join(esp, 'bad:name'), 'x');
  const r5 = await runImgkit(['iso', src, join(dir, 'e3.iso'), '--efi-dir', esp]);
  assert.equal(r5.code, 1);
  assert.match(r5.stderr, /fat: bad:name: .*E_NAME_UNENCODABLE/);
  for (const f of ['e1.iso', 'e2.iso', 'e3.iso']) assert.equal(existsSync(join(dir, f)), false, f);
});
