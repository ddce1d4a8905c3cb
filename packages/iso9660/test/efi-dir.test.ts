/**
 * `efiDir`: the El Torito UEFI image built in-process from a directory (a FAT volume from
 * @imgkit/fat, auto-sized) and written straight into the ISO — as a file of the ISO or as the
 * appended ESP, per preset. For each preset the ISO is byte for byte the ISO made from the same FAT
 * image given as a host file (`efiBoot.content` / `appendedEsp`), and the image's bytes in it are
 * the FAT volume written alone. (test/iso-cli.test.ts checks `imgkit iso --efi-dir` with fsck.fat,
 * mtools and xorriso; test/boot-iso.test.ts boots it under OVMF as CD and as disk.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError, MemorySink, memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { planFat, type FatOptions } from '@imgkit/fat';
import { planIso, type IsoContent, type IsoOptions } from '@imgkit/iso9660';

const EPOCH = 1_700_000_000;
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const bootImage = bytes(4096, 1);
const template = bytes(432, 3);
const grubMbr = bytes(512, 4).fill(0, 440);

const espEntries = (): MemoryEntryInit[] => [
  { path: 'EFI/BOOT/BOOTX64.EFI', kind: 'file', content: bytes(300_000, 9), mtime: EPOCH - 100 },
  { path: 'EFI/debian/grub.cfg', kind: 'file', content: 'search --file /imgkit-stamp --set=root\n', mtime: EPOCH - 50 },
];
const isoTree = () =>
  memoryTree([
    { path: 'isolinux/isolinux.bin', kind: 'file', content: bootImage },
    { path: 'imgkit-stamp', kind: 'file', content: 'imgkit\n' },
  ]);
const bios = { path: 'isolinux/isolinux.bin', bootInfoTable: true };

async function fatAlone(o: FatOptions = {}): Promise<Uint8Array> {
  const sink = new MemorySink();
  await (await planFat(memoryTree(espEntries()), { epoch: EPOCH, ...o })).write(sink);
  return sink.bytes().slice();
}
const hostContent = (b: Uint8Array): IsoContent => ({ size: b.byteLength, read: async function* () { yield b; } });

async function write(o: IsoOptions) {
  const plan = await planIso(isoTree(), { epoch: EPOCH, ...o });
  const sink = new MemorySink();
  const result = await plan.write(sink);
  return { plan, result, image: sink.bytes().slice() };
}

/** Each preset with efiDir, and the same ISO with the FAT image given as a host image. */
const CASES: { name: string; placement: 'file' | 'appended-partition'; withDir: IsoOptions; withImage: (fat: Uint8Array) => IsoOptions }[] = [
  {
    name: 'no hybrid: El Torito only, the image a file of the ISO',
    placement: 'file',
    withDir: { biosBoot: bios },
    withImage: (fat) => ({ biosBoot: bios, efiBoot: { path: 'boot/efiboot.img', content: hostContent(fat) } }),
  },
  {
    name: 'isohybrid-mbr + isohybridGpt (Debian live): the image a file of the ISO, marked in MBR and GPT',
    placement: 'file',
    withDir: { biosBoot: bios, hybrid: 'isohybrid-mbr', isohybridGpt: true, mbrTemplate: template },
    withImage: (fat) => ({ biosBoot: bios, hybrid: 'isohybrid-mbr', isohybridGpt: true, mbrTemplate: template, efiBoot: { path: 'boot/efiboot.img', content: hostContent(fat) } }),
  },
  {
    name: 'grub2 (grub-mkrescue): the image a file of the ISO and the ESP before the data',
    placement: 'file',
    withDir: { biosBoot: { ...bios, grub2BootInfo: true }, hybrid: 'grub2', mbrTemplate: grubMbr },
    withImage: (fat) => ({ biosBoot: { ...bios, grub2BootInfo: true }, hybrid: 'grub2', mbrTemplate: grubMbr, efiBoot: { path: 'boot/efiboot.img', content: hostContent(fat) } }),
  },
  {
    name: 'uefi-only: protective MBR, the ESP inside the ISO',
    placement: 'file',
    withDir: { hybrid: 'uefi-only' },
    withImage: (fat) => ({ hybrid: 'uefi-only', efiBoot: { path: 'boot/efiboot.img', content: hostContent(fat) } }),
  },
  {
    name: 'appended-esp (archiso GPT style, offset 16): the image appended as GPT partition 2',
    placement: 'appended-partition',
    withDir: { biosBoot: bios, hybrid: 'appended-esp', mbrTemplate: template, partitionOffsetBlocks: 16 },
    withImage: (fat) => ({ biosBoot: bios, hybrid: 'appended-esp', mbrTemplate: template, partitionOffsetBlocks: 16, appendedEsp: hostContent(fat) }),
  },
  {
    name: 'mbr-style (archiso): the image appended as MBR partition 2 (0xEF)',
    placement: 'appended-partition',
    withDir: { biosBoot: bios, hybrid: 'mbr-style', mbrTemplate: template },
    withImage: (fat) => ({ biosBoot: bios, hybrid: 'mbr-style', mbrTemplate: template, appendedEsp: hostContent(fat) }),
  },
];

test('efiDir per preset: the ISO equals the one made from the same FAT image as a host file; the image inside is the FAT volume alone', async () => {
  const fat = await fatAlone();
  for (const c of CASES) {
    const d = await write({ ...c.withDir, efiDir: { tree: memoryTree(espEntries()) } });
    const i = await write(c.withImage(fat));
    assert.equal(d.plan.efiImage?.placement, c.placement, c.name);
    assert.equal(d.plan.efiImage?.fat.sizeBytes, fat.byteLength, c.name);
    assert.equal(d.plan.sizeBytes, i.plan.sizeBytes, c.name);
    assert.ok(Buffer.from(d.image).equals(Buffer.from(i.image)), `${c.name}: byte for byte`);
    const lba = c.placement === 'file' ? d.result.efiImageLba! : d.result.appendedPartitions[1]!.startBlock;
    if (c.placement === 'file') assert.equal(d.plan.efiImage?.path, 'boot/efiboot.img');
    else assert.equal(d.result.efiImageLba, lba, `${c.name}: El Torito points at the appended partition`);
    assert.ok(Buffer.from(d.image.subarray(lba * 2048, lba * 2048 + fat.byteLength)).equals(Buffer.from(fat)), `${c.name}: the FAT volume at LBA ${lba}`);
  }
});

test('efiDir: the path, the FAT label and size are options; the ISO\'s epoch dates the FAT volume', async () => {
  const fat = await fatAlone({ label: 'EFIBOOT', size: 4 << 20 });
  const d = await write({ biosBoot: bios, efiDir: { tree: memoryTree(espEntries()), path: 'EFI/efiboot.img', fat: { label: 'EFIBOOT', size: 4 << 20 } } });
  assert.equal(d.plan.efiImage?.path, 'EFI/efiboot.img');
  assert.equal(d.plan.efiImage?.fat.sizeBytes, 4 << 20);
  assert.equal(d.plan.efiImage?.fat.label, 'EFIBOOT');
  const lba = d.result.efiImageLba!;
  assert.ok(Buffer.from(d.image.subarray(lba * 2048, lba * 2048 + fat.byteLength)).equals(Buffer.from(fat)));
  // The El Torito entry loads the whole image (xorriso: size in 2 KiB blocks × 4 for EFI).
  assert.deepEqual(d.result.bootImages.map((b) => [b.platform, b.loadSectors]), [[0, 4], [0xef, (4 << 20) / 512]]);
});

const bad = (field: string) => (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_OPTION && e.field === field;

test('efiDir: conflicting options are E_BAD_OPTION naming the field; the FAT writer\'s own errors come through typed', async () => {
  const efiDir = { tree: memoryTree(espEntries()) };
  await assert.rejects(planIso(isoTree(), { efiDir, efiBoot: { path: 'isolinux/isolinux.bin' } }), bad('efiDir'));
  await assert.rejects(planIso(isoTree(), { efiDir, biosBoot: bios, hybrid: 'appended-esp', appendedEsp: hostContent(bytes(4096, 1)) }), bad('efiDir'));
  await assert.rejects(planIso(isoTree(), { efiDir: { ...efiDir, placement: 'appended-partition' }, biosBoot: bios, hybrid: 'isohybrid-mbr', mbrTemplate: template }), bad('efiDir.placement'));
  await assert.rejects(planIso(isoTree(), { efiDir: { ...efiDir, placement: 'file' }, biosBoot: bios, hybrid: 'appended-esp', mbrTemplate: template }), bad('efiDir.placement'));
  // grub2 may append it (Ubuntu's and Fedora's layout) …
  const ubuntu = await write({ biosBoot: { ...bios, grub2BootInfo: true }, hybrid: 'grub2', mbrTemplate: grubMbr, efiDir: { ...efiDir, placement: 'appended-partition' } });
  assert.equal(ubuntu.result.efiImageLba, ubuntu.result.appendedPartitions[1]!.startBlock);
  // … and a file in the ISO at a path the tree already has is a collision, not a silent replacement.
  await assert.rejects(planIso(isoTree(), { efiDir: { ...efiDir, path: 'imgkit-stamp' } }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.NAME_COLLISION && e.path === 'imgkit-stamp');
  // FAT refuses a symlink (FAT has none), and a size that cannot hold the tree.
  const withLink = memoryTree([...espEntries(), { path: 'EFI/BOOT/link', kind: 'symlink', linkTarget: 'BOOTX64.EFI' }]);
  await assert.rejects(planIso(isoTree(), { efiDir: { tree: withLink } }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.UNSUPPORTED_ENTRY && e.format === 'fat' && e.path === 'EFI/BOOT/link');
  await assert.rejects(planIso(isoTree(), { efiDir: { ...efiDir, fat: { size: 64 * 1024 } } }), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.NO_SPACE && e.format === 'fat');
});
