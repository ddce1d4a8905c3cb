/**
 * On-disk structures of @imgkit/iso9660 against their spec tables: offsets, literal-hex goldens
 * worked out by hand from the specs, and decode(encode(x)) round trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import {
  ApmEntry,
  BootEntry,
  CHS_NONE,
  DirectoryRecordHeader,
  PrimaryVolumeDescriptor,
  ValidationEntry,
  decDateText,
  decDateTime,
  encodeBootCatalog,
  encodeDirectoryRecord,
  encodePathTable,
  fullLoadSectors,
  gptGuidBase,
  gptPartitionGuid,
  isohybridChs,
  parseGuid,
  patchBootInfoTable,
  patchGrub2BootInfo,
  recordingTime,
  writeApm,
} from '@imgkit/iso9660';
import { chs, encodeMbrRecord, GPT_TYPES, ISOHYBRID_CHS_GEOMETRY, parseGuid as partitionGuid } from '@imgkit/partition';

test('ECMA-119 §8.4 PVD field offsets', () => {
  const f = PrimaryVolumeDescriptor.fields;
  const want: Record<string, number> = {
    type: 0, standardId: 1, version: 6, systemId: 8, volumeId: 40, volumeSpaceSize: 80, escapeSequences: 88,
    volumeSetSize: 120, volumeSequenceNumber: 124, logicalBlockSize: 128, pathTableSize: 132, lPathTableLba: 140,
    optionalLPathTableLba: 144, mPathTableLba: 148, optionalMPathTableLba: 152, rootDirectoryRecord: 156,
    volumeSetId: 190, publisherId: 318, dataPreparerId: 446, applicationId: 574, copyrightFileId: 702,
    abstractFileId: 739, bibliographicFileId: 776, creationDate: 813, modificationDate: 830, expirationDate: 847,
    effectiveDate: 864, fileStructureVersion: 881,
  };
  for (const [k, off] of Object.entries(want)) assert.equal((f as Record<string, { offset: number }>)[k]!.offset, off, k);
  assert.equal(PrimaryVolumeDescriptor.size, 2048);
});

test('dates: §8.4.26.1 dec-datetime and §9.1.5 recording time', () => {
  assert.equal(new TextDecoder().decode(decDateTime(1_700_000_000).subarray(0, 16)), '2023111422132000');
  assert.equal(decDateTime(1_700_000_000)[16], 0);
  assert.equal(new TextDecoder().decode(decDateTime(undefined).subarray(0, 16)), '0000000000000000');
  assert.equal(toHex(decDateText('2022080916483300')), toHex(new TextEncoder().encode('2022080916483300')) + '00');
  assert.equal(toHex(recordingTime(1_700_000_000)), '7b0b0e160d1400'); // 123 (2023), 11, 14, 22:13:20, GMT+0
});

test('§9.1 directory record: golden bytes, pad byte for even identifiers, round trip', () => {
  const r = encodeDirectoryRecord({ extentLba: 0x1234, dataLength: 2048, mtime: 0, flags: 2, identifier: new Uint8Array([0]) });
  assert.equal(
    toHex(r),
    '22' + '00' + '3412000000001234' + '0008000000000800' + '46010100000000' + '02' + '00' + '00' + '01000001' + '01' + '00',
  );
  const even = encodeDirectoryRecord({ extentLba: 1, dataLength: 0, mtime: 0, flags: 0, identifier: new TextEncoder().encode('AB;1'), systemUse: new Uint8Array([1, 2]) });
  assert.equal(even.byteLength, 33 + 4 + 1 + 2);
  assert.equal(even[37], 0, 'pad byte after an even-length identifier');
  assert.deepEqual([...even.subarray(38)], [1, 2]);
  const d = DirectoryRecordHeader.decode(even);
  assert.equal(d.length, 40);
  assert.equal(d.identifierLength, 4);
  assert.deepEqual(DirectoryRecordHeader.decode(DirectoryRecordHeader.encode(d)), d);
  // §9.1.13: the record length is even; an odd System Use area gets a zero byte after it.
  const odd = encodeDirectoryRecord({ extentLba: 1, dataLength: 0, mtime: 0, flags: 0, identifier: new TextEncoder().encode('A;1'), systemUse: new Uint8Array([7, 7, 7, 7, 7]) });
  assert.equal(odd.byteLength, 33 + 3 + 5 + 1);
  assert.deepEqual([...odd.subarray(36)], [7, 7, 7, 7, 7, 0]);
  assert.equal(DirectoryRecordHeader.decode(odd).length, 42);
  assert.throws(() => encodeDirectoryRecord({ extentLba: 1, dataLength: 0, mtime: 0, flags: 0, identifier: new Uint8Array([0x41]), systemUse: new Uint8Array(221) }), /the limit is 254/);
});

test('§9.4 path tables: L little-endian, M big-endian, padded identifiers', () => {
  const dirs = [
    { identifier: new Uint8Array([0]), extentLba: 20, parentNumber: 1 },
    { identifier: new TextEncoder().encode('BOOT'), extentLba: 21, parentNumber: 1 },
    { identifier: new TextEncoder().encode('ABC'), extentLba: 0x010203, parentNumber: 2 },
  ];
  assert.equal(toHex(encodePathTable(dirs, false)), '0100140000000100' + '0000' + '0400150000000100' + '424f4f54' + '0300030201000200' + '41424300');
  assert.equal(toHex(encodePathTable(dirs, true)), '0100000000140001' + '0000' + '0400000000150001' + '424f4f54' + '0300000102030002' + '41424300');
});

test('El Torito §2.1–2.4 catalog: validation checksum, default entry, one section per run of a platform', () => {
  const cat = encodeBootCatalog([
    { platform: 0, loadSectors: 4, lba: 100 },
    { platform: 0xef, loadSectors: 2880, lba: 200 },
    { platform: 0xef, loadSectors: 0, lba: 300 },
  ]);
  const v = ValidationEntry.decode(cat, 0);
  assert.equal(v.headerId, 1);
  assert.equal(v.key55, 0x55);
  assert.equal(v.keyAA, 0xaa);
  const view = new DataView(cat.buffer);
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + view.getUint16(i, true)) & 0xffff;
  assert.equal(sum, 0);
  assert.equal(toHex(cat.subarray(0, 32)), '01000000' + '00'.repeat(24) + 'aa55' + '55aa');
  assert.equal(toHex(cat.subarray(32, 44)), '880000000000040064000000');
  // Both EFI images in one final section (0x91, 2 entries), as xorriso groups them.
  assert.equal(toHex(cat.subarray(64, 68)), '91ef0200');
  assert.deepEqual(BootEntry.decode(cat, 96), { bootIndicator: 0x88, mediaType: 0, loadSegment: 0, systemType: 0, sectorCount: 2880, loadRba: 200 });
  assert.deepEqual(BootEntry.decode(cat, 128), { bootIndicator: 0x88, mediaType: 0, loadSegment: 0, systemType: 0, sectorCount: 0, loadRba: 300 });
  assert.ok(cat.subarray(160).every((b) => b === 0));
  const mixed = encodeBootCatalog([{ platform: 0, loadSectors: 4, lba: 1 }, { platform: 0xef, loadSectors: 4, lba: 2 }, { platform: 0, loadSectors: 4, lba: 3 }]);
  assert.equal(toHex(mixed.subarray(64, 68)), '90ef0100', 'a section follows: 0x90');
  assert.equal(toHex(mixed.subarray(128, 132)), '91000100');
});

test('load sizes xorriso records for whole images: 2 KiB blocks × 4; beyond 65535, 0 for EFI and 65535 otherwise', () => {
  assert.equal(fullLoadSectors(38912, 0), 76);
  assert.equal(fullLoadSectors(2949120, 0xef), 5760);
  assert.equal(fullLoadSectors(2049, 0xef), 8);
  assert.equal(fullLoadSectors(64 << 20, 0xef), 0);
  assert.equal(fullLoadSectors(64 << 20, 0), 65535);
});

test('GRUB2 boot info: the image\'s LBA × 4 + 5 as 64-bit LE at byte 2548', () => {
  const img = new Uint8Array(4096).fill(0xaa);
  patchGrub2BootInfo(img, 2858);
  assert.equal(toHex(img.subarray(2548, 2556)), 'ad2c000000000000');
  assert.equal(img[2547], 0xaa);
  assert.equal(img[2556], 0xaa);
});

test('boot info table: PVD LBA, file LBA, length, checksum of 32-bit words from 64', () => {
  const img = new Uint8Array(70);
  img.fill(0xff, 24, 64);
  img.set([1, 0, 0, 0, 2, 0], 64); // words 1 and (0x0002, padded) 2
  patchBootInfoTable(img, 16, 33);
  const v = new DataView(img.buffer);
  assert.deepEqual([v.getUint32(8, true), v.getUint32(12, true), v.getUint32(16, true), v.getUint32(20, true)], [16, 33, 70, 3]);
  assert.ok(img.subarray(24, 64).every((b) => b === 0));
});

test('MBR records of the system area (UEFI §5.2.1, encoded by @imgkit/partition): xorriso\'s bytes, and the two CHS clamps', () => {
  // Bytes xorriso wrote for an appended ESP (archiso MBR style, 64 heads × 32 sectors), entry 2.
  assert.equal(toHex(encodeMbrRecord({ type: 0xef, startLba: 12288, sectorCount: 16384 }, ISOHYBRID_CHS_GEOMETRY)), '00000106ef3f200d0030000000400000');
  // Beyond cylinder 1023: the last head in ordinary entries, one past it in isohybrid partition 1 (syslinux, libisofs).
  assert.deepEqual([...chs(5000 * 2048, ISOHYBRID_CHS_GEOMETRY)], [63, 0xe0, 0xff]);
  assert.deepEqual([...isohybridChs(5000 * 2048, ISOHYBRID_CHS_GEOMETRY)], [64, 0xe0, 0xff]);
  assert.deepEqual([...isohybridChs(1000, ISOHYBRID_CHS_GEOMETRY)], [...chs(1000, ISOHYBRID_CHS_GEOMETRY)], 'the same below cylinder 1024');
  assert.deepEqual([...isohybridChs(0, ISOHYBRID_CHS_GEOMETRY)], [0, 1, 0]);
  assert.equal(toHex(CHS_NONE), 'feffff');
});

test('GUID text: RFC 4122 form byte-swapped to UEFI order (Appendix A), or 32 hex digits as xorriso prints them', () => {
  assert.equal(toHex(parseGuid('C12A7328-F81F-11D2-BA4B-00A0C93EC93B')!), '28732ac11ff8d211ba4b00a0c93ec93b');
  assert.deepEqual(parseGuid(GPT_TYPES.esp), partitionGuid(GPT_TYPES.esp), 'the same bytes as @imgkit/partition');
  assert.equal(toHex(parseGuid('28732ac11ff8d211ba4b00a0c93ec93b')!), '28732ac11ff8d211ba4b00a0c93ec93b', 'xorriso prints on-disk order');
  assert.equal(parseGuid('not-a-guid'), undefined);
});

test('GUIDs from the volume date as xorriso derives them (volume_date_uuid), partition n XORed into bytes 9–12', () => {
  const base = gptGuidBase('2023111422132000');
  assert.equal(toHex(base), '3230323331313144b230303231333230');
  assert.equal(toHex(gptPartitionGuid(base, 1)), '3230323331313144b231303231333230');
  assert.equal(toHex(gptPartitionGuid(base, 0x102)), '3230323331313144b232313231333230');
});

test('Apple Partition Map entry (Inside Macintosh: Devices 3-20): offsets, status bits, isohybrid head', () => {
  const f = ApmEntry.fields as Record<string, { offset: number }>;
  assert.deepEqual(
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.offset])),
    { signature: 0, mapBlockCount: 4, startBlock: 8, blockCount: 12, name: 16, type: 48, dataStart: 80, dataCount: 84, status: 88 },
  );
  const area = new Uint8Array(32768);
  area.set([0x33, 0xed, ...new Array<number>(30).fill(0x90)]);
  writeApm(area, [{ name: 'Apple', type: 'Apple_partition_map', startBlock: 1, blockCount: 2 }, { name: 'EFI', type: 'Apple_HFS', startBlock: 37, blockCount: 1440 }], true);
  assert.equal(toHex(area.subarray(0, 8)), '4552080000009090');
  const e = ApmEntry.decode(area, 4096);
  assert.equal(e.startBlock, 37);
  assert.equal(e.blockCount, 1440);
  assert.equal(e.status, 0x40000013, 'data partition: valid, allocated, readable, automount');
  assert.equal(ApmEntry.decode(area, 2048).status, 3, 'the map itself: valid, allocated');
  const notPrepared = new Uint8Array(32768).fill(0xfa);
  assert.throws(() => writeApm(notPrepared, [{ name: 'Apple', type: 'Apple_partition_map', startBlock: 1, blockCount: 1 }], true), /not prepared for an Apple Partition Map/);
});
