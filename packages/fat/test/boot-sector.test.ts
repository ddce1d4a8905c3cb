/**
 * Boot sector / BPB: field offsets against fatgen103's tables, the bytes mkfs.fat writes for the
 * same volume (fixtures/fat/*.hex, recipe in fixtures/README.md), round trips, the boot code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import {
  BOOT_SIGNATURE,
  BootSector16,
  BootSector32,
  OEM_NAME,
  bootCode,
  bootCodeOffset,
  encodeBootSector,
  mkfsGeometry,
  type FatGeometry,
} from '@imgkit/fat';

const fixture = (name: string) => new Uint8Array(Buffer.from(readFileSync(new URL(`../../../fixtures/fat/${name}`, import.meta.url), 'utf8').replace(/\s+/g, ''), 'hex'));

// fatgen103 "Boot Sector and BPB Structure" and the two tables for offset 36 onwards: name, offset, size.
const COMMON: [string, number, number][] = [
  ['jmpBoot', 0, 3], ['oemName', 3, 8], ['bytesPerSector', 11, 2], ['sectorsPerCluster', 13, 1], ['reservedSectors', 14, 2],
  ['numFats', 16, 1], ['rootEntries', 17, 2], ['totalSectors16', 19, 2], ['media', 21, 1], ['fatSize16', 22, 2],
  ['sectorsPerTrack', 24, 2], ['numHeads', 26, 2], ['hiddenSectors', 28, 4], ['totalSectors32', 32, 4],
];
const FAT16: [string, number, number][] = [
  ['driveNumber', 36, 1], ['reserved1', 37, 1], ['bootSignature', 38, 1], ['volumeId', 39, 4], ['volumeLabel', 43, 11], ['fsType', 54, 8],
  ['bootCode', 62, 448], ['signature', 510, 2],
];
const FAT32: [string, number, number][] = [
  ['fatSize32', 36, 4], ['extFlags', 40, 2], ['fsVersion', 42, 2], ['rootCluster', 44, 4], ['fsInfoSector', 48, 2], ['backupBootSector', 50, 2],
  ['reserved', 52, 12], ['driveNumber', 64, 1], ['reserved1', 65, 1], ['bootSignature', 66, 1], ['volumeId', 67, 4], ['volumeLabel', 71, 11],
  ['fsType', 82, 8], ['bootCode', 90, 420], ['signature', 510, 2],
];

test('boot sector: offsets and sizes match fatgen103', () => {
  for (const [s, table] of [[BootSector16, [...COMMON, ...FAT16]], [BootSector32, [...COMMON, ...FAT32]]] as const) {
    assert.equal(s.size, 512);
    const fields = s.fields as Record<string, { offset: number; size: number }>;
    assert.deepEqual(Object.keys(fields).sort(), table.map(([n]) => n).sort(), s.name);
    for (const [name, offset, size] of table) {
      assert.equal(fields[name]!.offset, offset, `${s.name}.${name} offset`);
      assert.equal(fields[name]!.size, size, `${s.name}.${name} size`);
    }
  }
});

/** Bytes that may differ from mkfs.fat's: the OEM name and the boot code (each tool has its own). */
function differingRanges(g: FatGeometry): [number, number][] {
  return [[3, 11], [bootCodeOffset(g.fatBits), 510]];
}
function assertSameExcept(ours: Uint8Array, theirs: Uint8Array, skip: [number, number][], what: string): void {
  assert.equal(ours.byteLength, theirs.byteLength, what);
  const diffs: string[] = [];
  for (let i = 0; i < ours.byteLength; i++) {
    if (skip.some(([a, b]) => i >= a && i < b)) continue;
    if (ours[i] !== theirs[i]) diffs.push(`byte ${i}: ours ${ours[i]!.toString(16)}, mkfs.fat ${theirs[i]!.toString(16)}`);
  }
  assert.deepEqual(diffs, [], what);
}

const GOLDEN = [
  { file: 'mkfs-fat12-1440k.sector0.hex', kib: 1440, bits: 12 },
  { file: 'mkfs-fat16-64m.sector0.hex', kib: 65536, bits: 16 },
  { file: 'mkfs-fat32-1g.sectors0-7.hex', kib: 1048576, bits: 32 },
];

test('boot sector: the bytes mkfs.fat 4.2 writes for the same size, label and volume id (golden)', () => {
  for (const { file, kib, bits } of GOLDEN) {
    const theirs = fixture(file).subarray(0, 512);
    const g = mkfsGeometry({ sizeBytes: kib * 1024 })!;
    assert.equal(g.fatBits, bits, file);
    const ours = encodeBootSector({ geometry: g, volumeId: 0x1234abcd, label: 'IMGKIT' });
    assertSameExcept(ours, theirs, differingRanges(g), file);
    // The golden decodes to what fatgen103 asks for.
    const S = bits === 32 ? BootSector32 : BootSector16;
    const d = S.decode(theirs);
    assert.equal(d.bytesPerSector, 512);
    assert.equal(d.numFats, 2);
    assert.equal(d.bootSignature, 0x29);
    assert.equal(d.signature, BOOT_SIGNATURE);
    assert.equal(d.volumeId, 0x1234abcd);
    assert.equal(d.volumeLabel, 'IMGKIT');
    assert.equal(d.fsType, `FAT${bits}`);
  }
});

test('boot sector: FAT32 field values (fixture: sector 6 repeats sector 0, 7 repeats 1)', () => {
  const sectors = fixture('mkfs-fat32-1g.sectors0-7.hex');
  assert.deepEqual(sectors.subarray(6 * 512, 7 * 512), sectors.subarray(0, 512));
  assert.deepEqual(sectors.subarray(7 * 512, 8 * 512), sectors.subarray(512, 1024));
  const g = mkfsGeometry({ sizeBytes: 1024 ** 3 })!;
  const d = BootSector32.decode(encodeBootSector({ geometry: g, volumeId: 7, label: undefined }));
  assert.deepEqual(
    { fatSize16: d.fatSize16, rootEntries: d.rootEntries, totalSectors16: d.totalSectors16, rootCluster: d.rootCluster, fsInfo: d.fsInfoSector, backup: d.backupBootSector, label: d.volumeLabel, oem: d.oemName },
    { fatSize16: 0, rootEntries: 0, totalSectors16: 0, rootCluster: 2, fsInfo: 1, backup: 6, label: 'NO NAME', oem: OEM_NAME },
  );
  assert.equal(d.totalSectors32, g.totalSectors);
  assert.equal(d.fatSize32, g.fatSectors);
});

test('boot sector: decode(encode(x)) === x, and out-of-range values throw naming the field', () => {
  const values = BootSector16.decode(encodeBootSector({ geometry: mkfsGeometry({ sizeBytes: 8 << 20 })!, volumeId: 0xdeadbeef, label: 'X Y' }));
  assert.deepEqual(BootSector16.decode(BootSector16.encode(values)), values);
  assert.throws(
    () => BootSector16.encode({ ...values, reservedSectors: 0x10000 }),
    (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.FIELD_RANGE && e.field === 'fat.boot-sector.reservedSectors',
  );
});

test('boot code: the jump lands on it and it prints its message from the right address', () => {
  for (const bits of [12, 16, 32] as const) {
    const at = bootCodeOffset(bits);
    const size = bits === 32 ? 1024 ** 3 : bits === 16 ? 64 << 20 : 1440 * 1024;
    const sector = encodeBootSector({ geometry: mkfsGeometry({ sizeBytes: size, fatBits: bits })!, volumeId: 1, label: undefined });
    assert.deepEqual([...sector.subarray(0, 3)], [0xeb, at - 2, 0x90], `jump for FAT${bits}`);
    // mov si, imm16 at code + 5: the message's address when loaded at 0000:7C00
    const msgAt = sector[at + 6]! | (sector[at + 7]! << 8);
    assert.equal(msgAt - 0x7c00, at + 33);
    const text = Buffer.from(sector.subarray(msgAt - 0x7c00, 510)).toString('latin1');
    assert.match(text, /^This is not a bootable disk/);
    assert.ok(text.includes('\0'), 'the message ends in a NUL before the signature');
  }
  assert.equal(bootCode(62).byteLength, 448);
  assert.equal(bootCode(90).byteLength, 420);
});
