/**
 * GPT partition entries, UEFI 2.10 §5.3.3 Table 5-6: offsets, names (36 UTF-16 units, an error
 * beyond), goldens from sgdisk's entry array, round trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, toHex } from '@imgkit/core';
import { GptEntry, decodeGptEntryArray, decodeGptName, encodeGptEntry, encodeGptEntryArray, encodeGptName, formatGuid, parseGuid } from '@imgkit/partition';
import { readXxdFixture } from './xxd.ts';

test('Table 5-6 field offsets', () => {
  const got = Object.fromEntries(Object.entries(GptEntry.fields).map(([k, f]) => [k, [f.offset, f.size]]));
  assert.deepEqual(got, {
    partitionTypeGuid: [0, 16],
    uniquePartitionGuid: [16, 16],
    startingLba: [32, 8],
    endingLba: [40, 8],
    attributes: [48, 8],
    partitionName: [56, 72],
  });
  assert.equal(GptEntry.size, 128);
});

test('golden: sgdisk\'s three entries (fixtures/partition/sgdisk-gpt-512.xxd, LBA 2)', () => {
  const disk = readXxdFixture('sgdisk-gpt-512.xxd');
  const entries = [
    { typeGuid: parseGuid('C12A7328-F81F-11D2-BA4B-00A0C93EC93B'), uniqueGuid: parseGuid('0C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5'), startLba: 2048, endLba: 10239, attributes: 1n, name: 'EFI System' },
    { typeGuid: parseGuid('0657FD6D-A4AB-43C4-84E5-0933C84B4F4F'), uniqueGuid: parseGuid('1C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5'), startLba: 10240, endLba: 14335, name: 'swap' },
    { typeGuid: parseGuid('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709'), uniqueGuid: parseGuid('2C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5'), startLba: 14336, endLba: 32734, attributes: (1n << 63n) | (1n << 60n) | 4n, name: 'root é☃' },
  ];
  const array = encodeGptEntryArray(entries);
  assert.equal(array.byteLength, 128 * 128);
  assert.equal(toHex(array), toHex(disk.subarray(1024, 1024 + 16384)));
  const back = decodeGptEntryArray(array, 128);
  assert.deepEqual(
    back.map((e) => [e.number, formatGuid(e.typeGuid), e.startLba, e.endLba, e.attributes, e.name]),
    entries.map((e, i) => [i + 1, formatGuid(e.typeGuid), e.startLba, e.endLba, e.attributes ?? 0n, e.name]),
  );
});

test('names: UTF-16LE, NUL-padded; 36 units fit, 37 are E_NAME_TOO_LONG (never cut)', () => {
  assert.equal(toHex(encodeGptName('A☃').subarray(0, 6)), '4100032600' + '00');
  const n36 = 'x'.repeat(36);
  assert.equal(decodeGptName(encodeGptName(n36)), n36);
  const astral = '𝔘'.repeat(18); // 18 surrogate pairs = 36 units
  assert.equal(decodeGptName(encodeGptName(astral)), astral);
  assert.throws(
    () => encodeGptName('y'.repeat(37), 'partitions[1].name'),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_TOO_LONG' && e.field === 'partitions[1].name' && /37 UTF-16 units; the limit is 36/.test(e.message),
  );
  assert.throws(() => encodeGptName('𝔘'.repeat(18) + 'z'), (e: unknown) => e instanceof ImgkitError && /37 UTF-16 units/.test(e.message));
});

test('entry round trip and checks: ending before starting LBA, too many entries', () => {
  const e = { typeGuid: parseGuid('0FC63DAF-8483-4772-8E79-3D69D8477DE4'), uniqueGuid: parseGuid('01234567-89AB-4DEF-8123-456789ABCDEF'), startLba: 2 ** 40, endLba: 2 ** 40 + 5, attributes: 1n << 59n, name: 'big' };
  const d = GptEntry.decode(encodeGptEntry(e));
  assert.equal(d.startingLba, BigInt(2 ** 40));
  assert.equal(d.endingLba, BigInt(2 ** 40 + 5));
  assert.equal(d.attributes, 1n << 59n);
  assert.equal(decodeGptName(d.partitionName), 'big');
  assert.throws(() => encodeGptEntry({ ...e, endLba: e.startLba - 1 }), (x: unknown) => x instanceof ImgkitError && x.code === 'E_FIELD_RANGE');
  assert.throws(() => encodeGptEntryArray(new Array(129).fill(e)), (x: unknown) => x instanceof ImgkitError && x.code === 'E_BAD_OPTION' && /129 partitions/.test(x.message));
  const sparse = decodeGptEntryArray(encodeGptEntryArray([null, e]), 128);
  assert.deepEqual(sparse.map((x) => x.number), [2], 'an unused slot keeps later numbers');
});
