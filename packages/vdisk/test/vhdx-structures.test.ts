/**
 * VHDX structures (VHDX specification v1.0): CRC-32C check value, GUID byte order, BAT entry bits,
 * chunk ratio and BAT size (§2.4), and qemu-img's region table (§2.2.3) re-encoded byte for byte
 * with its checksum.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import {
  BAT_REGION_GUID,
  METADATA_REGION_GUID,
  RegionTableEntry,
  RegionTableHeader,
  VhdxHeader,
  batEntries,
  batIndex,
  chunkRatio,
  crcOk,
  getBatEntry,
  guidText,
  sealCrc,
  setBatEntry,
} from '@imgkit/vdisk';
import { crc32c } from '@imgkit/core';
import { readVdiskFixture } from './fixture.ts';

test('CRC-32C check value (RFC 3720 appendix B.4 polynomial): "123456789" → E3069283', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
});

test('GUIDs: Windows byte order', () => {
  assert.equal(toHex(BAT_REGION_GUID), '6677c22d23f600429d64115e9bfd4a08');
  assert.equal(guidText(METADATA_REGION_GUID), '8B7CA206-4790-4B9A-B8FE-575F050F886E');
});

test('BAT entries: state in bits 0–2, FileOffsetMB in bits 20–63', () => {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  setBatEntry(v, 0, 6, 3 << 20);
  setBatEntry(v, 1, 6, 5000 * 2 ** 20);
  assert.equal(v.getBigUint64(0, true), (3n << 20n) | 6n);
  assert.equal(v.getBigUint64(8, true), (5000n << 20n) | 6n);
  assert.deepEqual(getBatEntry(v, 1), { state: 6, fileOffset: 5000 * 2 ** 20, reservedBits: false });
});

test('§2.4 chunk ratio and BAT layout: a sector bitmap entry after every chunk', () => {
  assert.equal(chunkRatio(512, 32 << 20), 128);
  assert.equal(chunkRatio(4096, 1 << 20), 32768);
  assert.equal(batIndex(127, 128), 127);
  assert.equal(batIndex(128, 128), 129);
  assert.equal(batEntries(128, 128), 128);
  assert.equal(batEntries(129, 128), 130);
  assert.equal(batEntries(0, 128), 0);
});

test("golden: qemu-img's region table and header checksums", () => {
  const ref = readVdiskFixture('qemu-img-create-100M.vhdx.head.xxd');
  const full = new Uint8Array(320 * 1024);
  full.set(ref);
  const rt = full.subarray(192 * 1024, 256 * 1024);
  assert.ok(crcOk(rt));
  const h = RegionTableHeader.decode(rt);
  assert.equal(h.entryCount, 2);
  const ours = new Uint8Array(64 * 1024);
  RegionTableHeader.encode({ ...h, checksum: 0 }, ours, 0);
  for (let i = 0; i < 2; i++) RegionTableEntry.encode(RegionTableEntry.decode(rt, 16 + 32 * i), ours, 16 + 32 * i);
  assert.equal(toHex(sealCrc(ours)), toHex(rt));
  for (const at of [64 * 1024, 128 * 1024]) {
    const hb = full.subarray(at, at + 4096);
    assert.ok(crcOk(hb), `header at ${at}`);
    const re = VhdxHeader.encode({ ...VhdxHeader.decode(hb), checksum: 0 });
    assert.equal(toHex(sealCrc(re)), toHex(hb));
  }
});
