/**
 * The GPT header, UEFI 2.10 §5.3.2 Table 5-5: offsets, CRC32s, both copies, goldens from sgdisk for
 * 512- and 4096-byte sectors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, crc32, toHex } from '@imgkit/core';
import { GptHeader, decodeGptHeader, encodeGpt, parseGuid } from '@imgkit/partition';
import { readXxdFixture } from './xxd.ts';

test('Table 5-5 field offsets', () => {
  const got = Object.fromEntries(Object.entries(GptHeader.fields).map(([k, f]) => [k, [f.offset, f.size]]));
  assert.deepEqual(got, {
    signature: [0, 8],
    revision: [8, 4],
    headerSize: [12, 4],
    headerCrc32: [16, 4],
    reserved: [20, 4],
    myLba: [24, 8],
    alternateLba: [32, 8],
    firstUsableLba: [40, 8],
    lastUsableLba: [48, 8],
    diskGuid: [56, 16],
    partitionEntryLba: [72, 8],
    numberOfPartitionEntries: [80, 4],
    sizeOfPartitionEntry: [84, 4],
    partitionEntryArrayCrc32: [88, 4],
  });
  assert.equal(GptHeader.size, 92);
});

const entries = [
  { typeGuid: parseGuid('C12A7328-F81F-11D2-BA4B-00A0C93EC93B'), uniqueGuid: parseGuid('0C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5'), attributes: 1n, name: 'EFI System' },
  { typeGuid: parseGuid('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F'), uniqueGuid: parseGuid('1C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5'), name: 'swap' },
  { typeGuid: parseGuid('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709'), uniqueGuid: parseGuid('2C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5'), attributes: (1n << 63n) | (1n << 60n) | 4n, name: 'root é☃' },
];

for (const [ss, fixture, lbas] of [
  [512, 'sgdisk-gpt-512.xxd', [2048, 10240, 14336, 32735]],
  [4096, 'sgdisk-gpt-4096.xxd', [256, 1280, 1792, 4091]],
] as const) {
  test(`golden: sgdisk's primary and backup headers and arrays, ${ss}-byte sectors`, () => {
    const disk = readXxdFixture(fixture);
    const diskSectors = disk.byteLength / ss;
    const g = encodeGpt({
      sectorSize: ss,
      diskSectors,
      diskGuid: parseGuid('11111111-2222-4333-8444-555555555555'),
      entries: entries.map((e, i) => ({ ...e, startLba: lbas[i]!, endLba: lbas[i + 1]! - 1 })),
    });
    const at = (lba: number, n: number) => disk.subarray(lba * ss, (lba + n) * ss);
    assert.equal(g.entryArraySectors, 16384 / ss);
    assert.equal(toHex(g.primaryHeader), toHex(at(1, 1)));
    assert.equal(toHex(g.entryArray), toHex(at(2, g.entryArraySectors)));
    assert.equal(toHex(g.entryArray), toHex(at(g.backupEntryLba, g.entryArraySectors)));
    assert.equal(toHex(g.backupHeader), toHex(at(diskSectors - 1, 1)));
    assert.equal(g.firstUsableLba, 2 + 16384 / ss);
    assert.equal(g.lastUsableLba, diskSectors - 2 - 16384 / ss);

    const p = decodeGptHeader(g.primaryHeader);
    const b = decodeGptHeader(g.backupHeader);
    assert.ok(p.headerCrcOk && b.headerCrcOk);
    assert.equal(p.myLba, 1n);
    assert.equal(p.alternateLba, BigInt(diskSectors - 1));
    assert.equal(b.myLba, BigInt(diskSectors - 1));
    assert.equal(b.alternateLba, 1n);
    assert.equal(p.partitionEntryLba, 2n);
    assert.equal(b.partitionEntryLba, BigInt(g.backupEntryLba));
    assert.equal(p.partitionEntryArrayCrc32, crc32(g.entryArray.subarray(0, 128 * 128)));
    assert.ok(g.primaryHeader.subarray(92).every((x) => x === 0), 'the rest of the header block is zero');
  });
}

test('a corrupted header fails its CRC; a bad signature is E_BAD_INPUT', () => {
  const g = encodeGpt({ sectorSize: 512, diskSectors: 2048, diskGuid: new Uint8Array(16), entries: [] });
  const h = Uint8Array.from(g.primaryHeader);
  h[40]! ^= 1;
  assert.equal(decodeGptHeader(h).headerCrcOk, false);
  h[0] = 0;
  assert.throws(() => decodeGptHeader(h), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_INPUT');
});

test('entry count below 128 and disks too small for the table are errors', () => {
  assert.throws(() => encodeGpt({ sectorSize: 512, diskSectors: 2048, diskGuid: new Uint8Array(16), entries: [], entryCount: 64 }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && /16384 bytes/.test(e.message));
  assert.throws(() => encodeGpt({ sectorSize: 512, diskSectors: 66, diskGuid: new Uint8Array(16), entries: [] }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_NO_SPACE');
  const big = encodeGpt({ sectorSize: 512, diskSectors: 4096, diskGuid: new Uint8Array(16), entries: [], entryCount: 248 });
  assert.equal(big.entryArraySectors, 62, '248 entries (what xorriso writes in an ISO) take 62 sectors');
  assert.equal(big.firstUsableLba, 64);
});
