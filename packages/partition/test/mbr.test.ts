/**
 * The MBR (UEFI 2.10 §5.2.1 Tables 5-1 and 5-2) and the protective MBR (§5.2.3 Tables 5-3 and 5-4):
 * offsets against the spec tables, sfdisk's and sgdisk's bytes as goldens, CHS, round trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, toHex } from '@imgkit/core';
import {
  ISOHYBRID_CHS_GEOMETRY,
  LegacyMbr,
  MbrPartitionRecord,
  chs,
  decodeMbr,
  encodeMbr,
  encodeMbrRecord,
  protectiveRecord,
} from '@imgkit/partition';
import { readXxdFixture } from './xxd.ts';

test('Table 5-1 and Table 5-2 field offsets', () => {
  const offsets = (s: { fields: Record<string, { offset: number; size: number }> }) =>
    Object.fromEntries(Object.entries(s.fields).map(([k, f]) => [k, [f.offset, f.size]]));
  assert.deepEqual(offsets(LegacyMbr), { bootCode: [0, 440], uniqueMbrDiskSignature: [440, 4], unknown: [444, 2], partitionRecords: [446, 64], signature: [510, 2] });
  assert.equal(LegacyMbr.size, 512);
  assert.deepEqual(offsets(MbrPartitionRecord), { bootIndicator: [0, 1], startingChs: [1, 3], osType: [4, 1], endingChs: [5, 3], startingLba: [8, 4], sizeInLba: [12, 4] });
  assert.equal(MbrPartitionRecord.size, 16);
});

test('CHS: 255/63 as fdisk, clamped at cylinder 1023 to the last head and sector (libisofs does the same for 64/32)', () => {
  const cases: [number, string][] = [
    [0, '000100'],
    [1, '000200'],
    [2048, '202100'], // sfdisk: start of a 1 MiB-aligned partition
    [10239, 'a22200'],
    [16065, '000101'], // first sector of cylinder 1
    [1023 * 16065 + 16064, 'feffff'],
    [1024 * 16065, 'feffff'],
    [0xffffffff, 'feffff'],
  ];
  for (const [lba, hex] of cases) assert.equal(toHex(chs(lba)), hex, `lba ${lba}`);
  assert.equal(toHex(chs(2047, ISOHYBRID_CHS_GEOMETRY)), '3f2000');
  assert.equal(toHex(chs(2048, ISOHYBRID_CHS_GEOMETRY)), '000101');
  assert.equal(toHex(chs(1024 * 64 * 32, ISOHYBRID_CHS_GEOMETRY)), '3fe0ff', 'cylinder 1023, head 63, sector 32');
});

test('golden: the MBR sfdisk writes for a bootable ESP, a Linux partition and an extended partition', () => {
  const disk = readXxdFixture('sfdisk-mbr-logical.xxd');
  const mbr = encodeMbr({
    diskSignature: 0x12345678,
    records: [
      { bootable: true, type: 0xef, startLba: 2048, sectorCount: 8192 },
      { type: 0x83, startLba: 10240, sectorCount: 8192 },
      { type: 0x05, startLba: 18432, sectorCount: 16384 },
    ],
  });
  assert.equal(toHex(mbr), toHex(disk.subarray(0, 512)));
  const d = decodeMbr(mbr);
  assert.equal(d.diskSignature, 0x12345678);
  assert.deepEqual(
    d.records.map((r) => [r.slot, r.bootIndicator, r.type, r.startLba, r.sectorCount]),
    [
      [1, 0x80, 0xef, 2048, 8192],
      [2, 0, 0x83, 10240, 8192],
      [3, 0, 0x05, 18432, 16384],
    ],
  );
});

test('golden: the protective MBR sgdisk writes (16 MiB disk: CHS of the last sector; 20 GiB: FF FF FF)', () => {
  const disk = readXxdFixture('sgdisk-gpt-512.xxd');
  assert.equal(toHex(encodeMbr({ records: [protectiveRecord(32768)] })), toHex(disk.subarray(0, 512)));
  // sgdisk -o on a 20 GiB file: 00 000200 ee ffffff 01000000 ffff7f02
  assert.equal(toHex(encodeMbrRecord(protectiveRecord(41943040))), '00000200eeffffff01000000ffff7f02');
  // UEFI §5.2.3: SizeInLBA is capped at 0xFFFFFFFF on bigger disks
  assert.equal(MbrPartitionRecord.decode(encodeMbrRecord(protectiveRecord(2 ** 33))).sizeInLba, 0xffffffff);
});

test('boot code: 440 bytes, or a whole sector whose first 440 bytes are taken; patches inside 0–439 (isohybrid 432)', () => {
  const code = new Uint8Array(440).map((_, i) => (i * 7 + 1) & 0xff);
  const sector = new Uint8Array(512).fill(0xcc);
  sector.set(code);
  const patch = new Uint8Array([0x10, 0x27, 0, 0]); // u32le 10000 = boot image LBA 2500 × 4
  for (const given of [code, sector, code.subarray(0, 432)]) {
    const m = encodeMbr({ bootCode: given, bootCodePatches: [{ offset: 432, bytes: patch }], diskSignature: 0xdeadbeef, records: [] });
    assert.deepEqual([...m.subarray(0, 432)], [...code.subarray(0, 432)]);
    assert.deepEqual([...m.subarray(432, 436)], [...patch]);
    assert.equal(toHex(m.subarray(440, 446)), 'efbeadde0000');
    assert.equal(toHex(m.subarray(510)), '55aa');
    assert.ok(m.subarray(446, 510).every((b) => b === 0));
  }
  const isField = (field: string) => (e: unknown) => e instanceof ImgkitError && e.code === 'E_FIELD_RANGE' && e.field === field;
  assert.throws(() => encodeMbr({ bootCode: new Uint8Array(441), records: [] }), isField('mbr.bootCode'));
  assert.throws(() => encodeMbr({ bootCodePatches: [{ offset: 438, bytes: patch }], records: [] }), isField('mbr.bootCode'));
  assert.throws(() => encodeMbr({ records: [null, null, null, null, null] }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION');
  assert.throws(() => encodeMbr({ records: [{ type: 0x83, startLba: 2 ** 32, sectorCount: 1 }] }), isField('mbr.partition.startingLba'));
});

test('decode rejects a sector without 0xAA55', () => {
  assert.throws(() => decodeMbr(new Uint8Array(512)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_INPUT' && e.field === 'mbr.signature');
});
