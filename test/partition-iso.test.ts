/**
 * What the ISO's hybrid system area needs, expressed with @imgkit/partition's encoders and checked
 * against xorriso byte for byte: `xorriso -as mkisofs -isohybrid-mbr isohdpfx.bin … -e efi.img
 * -isohybrid-gpt-basdat` writes
 *
 *   - an MBR that is not protective: isohdpfx.bin's code in bytes 0–431, the boot image address
 *     (El Torito LBA × 4) at 432, partition 1 type 0x00 bootable from LBA 0 over the whole image with
 *     64-head/32-sector CHS, partition 2 type 0xEF over the EFI image with CHS FE FF FF;
 *   - beside it a GPT of 248 entries (MBR + header + 62 array blocks = the 32 KiB system area), first
 *     usable LBA 64, whose entries point inside the ISO: "ISOHybrid" from LBA 0 and "ISOHybrid1" over
 *     the EFI image, both basic data with attributes required + read-only — entries a UEFI-strict
 *     solver refuses (they start before the first usable LBA and overlap), so the ISO calls the
 *     low-level encoders, which take any values the fields can hold.
 *
 * The appended-ESP form (`-append_partition 2 0xef esp.img -appended_part_as_gpt -partition_offset 16`:
 * a protective MBR with isohybrid code, GPT entries "ISO9660", "Appended2" and xorriso's "Gap1" over
 * the padding) is within UEFI's rules, and the layout solver reproduces it from pinned offsets.
 *
 * GUIDs, the disk signature, the boot image address and where "ISOHybrid" ends are read from
 * xorriso's image (libisofs derives the ids from the time, the end from its own layout); the
 * structures, CHS, CRCs and the backup copy are computed here.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import { GPT_TYPES, ISOHYBRID_CHS_GEOMETRY, decodeGptEntryArray, decodeGptHeader, decodeMbr, encodeGpt, encodeMbr, formatGuid, parseGuid, planPartitionTable } from '@imgkit/partition';
import { requireTool, run, tempDir } from './lib/tools.ts';

test('xorriso -isohybrid-mbr -isohybrid-gpt-basdat: system area and backup GPT reproduced byte for byte', async () => {
  const xorriso = requireTool('xorriso', 'xorriso');
  const template = '/usr/lib/ISOLINUX/isohdpfx.bin';
  const isolinux = '/usr/lib/ISOLINUX/isolinux.bin';
  if (!existsSync(template) || !existsSync(isolinux)) throw new Error(`${template} is missing: apt-get install -y isolinux`);
  const dir = await tempDir('partition-iso');
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'isolinux'), { recursive: true });
  await mkdir(join(tree, 'boot'), { recursive: true });
  await writeFile(join(tree, 'isolinux/isolinux.bin'), await readFile(isolinux));
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', join(tree, 'boot/efi.img'), '2048']);
  const iso = join(dir, 'x.iso');
  await run(xorriso, ['-as', 'mkisofs', '-o', iso, '-V', 'PARTTEST', '-isohybrid-mbr', template, '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
    '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'boot/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat', tree]);
  const image = await readFile(iso);
  const diskSectors = image.byteLength / 512;

  // xorriso's inputs, read back
  const theirs = decodeMbr(image.subarray(0, 512));
  const bootImageField = image.subarray(432, 436);
  const header = decodeGptHeader(image.subarray(512, 1024));
  const entries = decodeGptEntryArray(image.subarray(1024, 64 * 512), header.numberOfPartitionEntries);
  const esp = theirs.records.find((r) => r.type === 0xef)!;
  assert.equal(entries.length, 2);

  const mbr = encodeMbr({
    bootCode: await readFile(template),
    bootCodePatches: [{ offset: 432, bytes: bootImageField }],
    diskSignature: theirs.diskSignature,
    geometry: ISOHYBRID_CHS_GEOMETRY,
    records: [
      { bootable: true, type: 0x00, startLba: 0, sectorCount: diskSectors },
      { type: 0xef, startLba: esp.startLba, sectorCount: esp.sectorCount, startingChs: new Uint8Array([0xfe, 0xff, 0xff]), endingChs: new Uint8Array([0xfe, 0xff, 0xff]) },
    ],
  });
  const basicData = parseGuid(GPT_TYPES['basic-data']);
  const attributes = (1n << 60n) | 1n; // read-only + required, as libisofs sets them
  const gpt = encodeGpt({
    sectorSize: 512,
    diskSectors,
    diskGuid: header.diskGuid,
    entryCount: 248,
    firstUsableLba: 64,
    entries: [
      { typeGuid: basicData, uniqueGuid: entries[0]!.uniqueGuid, startLba: 0, endLba: entries[0]!.endLba, attributes, name: 'ISOHybrid' },
      { typeGuid: basicData, uniqueGuid: entries[1]!.uniqueGuid, startLba: esp.startLba, endLba: esp.startLba + esp.sectorCount - 1, attributes, name: 'ISOHybrid1' },
    ],
  });
  assert.equal(gpt.lastUsableLba, Number(header.lastUsableLba));
  const systemArea = new Uint8Array(64 * 512);
  systemArea.set(mbr);
  systemArea.set(gpt.primaryHeader, 512);
  systemArea.set(gpt.entryArray, 1024);
  assert.equal(toHex(systemArea), toHex(image.subarray(0, 64 * 512)), 'the 32 KiB system area');
  const backup = new Uint8Array((gpt.entryArraySectors + 1) * 512);
  backup.set(gpt.entryArray);
  backup.set(gpt.backupHeader, gpt.entryArraySectors * 512);
  assert.equal(toHex(backup), toHex(image.subarray(gpt.backupEntryLba * 512)), 'the backup GPT at the end');
});

test('xorriso -append_partition 2 0xef … -appended_part_as_gpt -partition_offset 16: the layout solver reproduces it', async () => {
  const xorriso = requireTool('xorriso', 'xorriso');
  const template = '/usr/lib/ISOLINUX/isohdpfx.bin';
  const isolinux = '/usr/lib/ISOLINUX/isolinux.bin';
  if (!existsSync(template) || !existsSync(isolinux)) throw new Error(`${template} is missing: apt-get install -y isolinux`);
  const dir = await tempDir('partition-iso-appended');
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'isolinux'), { recursive: true });
  await writeFile(join(tree, 'isolinux/isolinux.bin'), await readFile(isolinux));
  const espImage = join(dir, 'esp.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', espImage, '2048']);
  const iso = join(dir, 'a.iso');
  await run(xorriso, ['-as', 'mkisofs', '-o', iso, '-V', 'PARTTEST', '-isohybrid-mbr', template, '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
    '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-append_partition', '2', '0xef', espImage, '-appended_part_as_gpt',
    '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', '-partition_offset', '16', tree]);
  const image = await readFile(iso);
  const header = decodeGptHeader(image.subarray(512, 1024));
  const theirs = decodeGptEntryArray(image.subarray(1024, 64 * 512), header.numberOfPartitionEntries);
  // xorriso's layout: the ISO from block 16 (LBA 64), the ESP appended after it, "Gap1" over the padding up to the backup GPT
  assert.deepEqual(theirs.map((e) => e.name), ['ISO9660', 'Appended2', 'Gap1']);
  const at = (i: number) => ({ offset: theirs[i]!.startLba * 512, size: (theirs[i]!.endLba - theirs[i]!.startLba + 1) * 512, guid: formatGuid(theirs[i]!.uniqueGuid), alignment: 512 });
  const readOnlyData = ['required', 'read-only'] as const;
  const layout = planPartitionTable({
    table: 'gpt',
    sizeBytes: image.byteLength,
    gptEntryCount: 248,
    gptFirstUsableLba: 64,
    diskGuid: formatGuid(header.diskGuid),
    diskSignature: decodeMbr(image.subarray(0, 512)).diskSignature,
    bootCode: await readFile(template),
    bootCodePatches: [{ offset: 432, bytes: image.subarray(432, 436) }],
    geometry: ISOHYBRID_CHS_GEOMETRY,
    partitions: [
      { name: 'ISO9660', type: 'basic-data', attributes: readOnlyData, ...at(0) },
      { name: 'Appended2', type: 'esp', ...at(1) },
      { name: 'Gap1', type: 'basic-data', attributes: readOnlyData, ...at(2) },
    ],
  });
  assert.deepEqual(layout.regions.map((r) => [r.offset, r.bytes.byteLength]), [[0, 512], [512, 63 * 512], [image.byteLength - 63 * 512, 63 * 512]]);
  for (const r of layout.regions) assert.equal(toHex(r.bytes), toHex(image.subarray(r.offset, r.offset + r.bytes.byteLength)), r.what);
});
