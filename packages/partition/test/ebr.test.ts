/**
 * Extended boot records, against the chain sfdisk writes (fixtures/partition/sfdisk-mbr-logical.xxd:
 * extended partition at 18432, logical partitions at 20480, 26624 and 32768, each EBR 2048 sectors
 * before its partition).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import { decodeMbr, encodeEbr } from '@imgkit/partition';
import { readXxdFixture } from './xxd.ts';

const disk = readXxdFixture('sfdisk-mbr-logical.xxd');
const sector = (lba: number) => disk.subarray(lba * 512, lba * 512 + 512);
const logicals = [
  { ebrLba: 18432, start: 20480, count: 4096, type: 0x83 },
  { ebrLba: 24576, start: 26624, count: 4096, type: 0x82 },
  { ebrLba: 30720, start: 32768, count: 2048, type: 0x83 },
];

test('golden: each EBR of the chain equals sfdisk\'s, byte for byte', () => {
  logicals.forEach((l, k) => {
    const next = logicals[k + 1];
    const ebr = encodeEbr({
      ebrLba: l.ebrLba,
      extendedStartLba: 18432,
      logical: { type: l.type, startLba: l.start, sectorCount: l.count },
      ...(next ? { next: { ebrLba: next.ebrLba, endLba: next.start + next.count } } : {}),
      linkType: 0x05,
    });
    assert.equal(toHex(ebr), toHex(sector(l.ebrLba)), `EBR at ${l.ebrLba}`);
  });
});

test('record 1 is relative to the EBR, record 2 to the extended partition and spans next EBR to next end', () => {
  const d = decodeMbr(encodeEbr({ ebrLba: 24576, extendedStartLba: 18432, logical: { type: 0x82, startLba: 26624, sectorCount: 4096 }, next: { ebrLba: 30720, endLba: 34816 } }));
  assert.deepEqual(d.records.map((r) => [r.slot, r.type, r.startLba, r.sectorCount]), [
    [1, 0x82, 2048, 4096],
    [2, 0x05, 30720 - 18432, 34816 - 30720],
  ]);
  assert.equal(d.diskSignature, 0);
  assert.ok(d.bootCode.every((b) => b === 0));
  const last = decodeMbr(encodeEbr({ ebrLba: 30720, extendedStartLba: 18432, logical: { type: 0x83, startLba: 32768, sectorCount: 2048 } }));
  assert.equal(last.records.length, 1, 'the last EBR has no link');
});
