/**
 * On-disk structures of @imgkit/iso9660 against their spec tables: offsets, literal-hex goldens
 * worked out by hand from the specs, and decode(encode(x)) round trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32, fromHex, toHex } from '@imgkit/core';
import {
  BootEntry,
  DirectoryRecordHeader,
  GptEntry,
  GptHeader,
  PrimaryVolumeDescriptor,
  ValidationEntry,
  chs,
  decDateTime,
  encodeBootCatalog,
  encodeDirectoryRecord,
  encodeGpt,
  encodeMbr,
  encodePathTable,
  guidBytes,
  patchBootInfoTable,
  recordingTime,
} from '@imgkit/iso9660';

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

test('El Torito §2.1–2.4 catalog: validation checksum, default entry, EFI section', () => {
  const cat = encodeBootCatalog([
    { platform: 0, loadSectors: 4, lba: 100 },
    { platform: 0xef, loadSectors: 2880, lba: 200 },
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
  assert.equal(toHex(cat.subarray(64, 68)), '91ef0100');
  assert.deepEqual(BootEntry.decode(cat, 96), { bootIndicator: 0x88, mediaType: 0, loadSegment: 0, systemType: 0, sectorCount: 2880, loadRba: 200 });
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

test('MBR (UEFI §5.2.1): isohybrid fields, CHS, signature', () => {
  const tmpl = new Uint8Array(432).fill(0x90);
  const mbr = encodeMbr(tmpl, 754, 0xc9228cd9, [{ bootable: true, type: 0x00, startLba: 0, sectorCount: 4096 }]);
  assert.equal(toHex(mbr.subarray(432, 446)), 'c80b0000' + '00000000' + 'd98c22c9' + '0000');
  // Bytes xorriso wrote for the same partition (64 heads, 32 sectors).
  assert.equal(toHex(mbr.subarray(446, 462)), '80000100003f20010000000000100000');
  assert.equal(toHex(mbr.subarray(510)), '55aa');
  assert.deepEqual([...chs(5000 * 2048)], [0xfe, 0xff, 0xff]);
});

test('GPT (UEFI §5.3): GUID byte order, header CRC32s, backup header mirrors the primary', () => {
  assert.equal(toHex(guidBytes('C12A7328-F81F-11D2-BA4B-00A0C93EC93B')), '28732ac11ff8d211ba4b00a0c93ec93b');
  const { primary, backup } = encodeGpt({
    diskSectors: 8192,
    diskGuid: new Uint8Array(16).fill(1),
    partitions: [{ typeGuid: guidBytes('C12A7328-F81F-11D2-BA4B-00A0C93EC93B'), uniqueGuid: new Uint8Array(16).fill(2), startLba: 2048, endLba: 4095, name: 'EFI' }],
  });
  const h = GptHeader.decode(primary);
  assert.equal(new TextDecoder().decode(h.signature), 'EFI PART');
  assert.equal(h.myLba, 1n);
  assert.equal(h.alternateLba, 8191n);
  assert.equal(h.firstUsableLba, 34n);
  assert.equal(h.lastUsableLba, 8191n - 33n);
  const hdr = primary.slice(0, 92);
  new DataView(hdr.buffer).setUint32(16, 0, true);
  assert.equal(crc32(hdr), h.headerCrc32);
  assert.equal(crc32(primary.subarray(512, 512 + 128 * 128)), h.entriesCrc32);
  const e = GptEntry.decode(primary, 512);
  assert.equal(e.startingLba, 2048n);
  assert.equal(e.endingLba, 4095n);
  assert.equal(toHex(e.name.subarray(0, 6)), '450046004900');
  const b = GptHeader.decode(backup, 32 * 512);
  assert.equal(b.myLba, 8191n);
  assert.equal(b.alternateLba, 1n);
  assert.equal(b.partitionEntryLba, 8191n - 32n);
  assert.equal(b.entriesCrc32, h.entriesCrc32);
  assert.deepEqual(fromHex(toHex(backup.subarray(0, 512))), primary.subarray(512, 1024));
});
