/**
 * VHD footer and dynamic header (Microsoft VHD specification): offsets, checksum, qemu-img's
 * footer and dynamic header reproduced byte for byte, and the CHS algorithm's cases.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import { VhdDynamicHeader, VhdFooter, encodeVhdDynamicHeader, sealChecksum, vhdChecksum, vhdGeometry } from '@imgkit/vdisk';
import { readVdiskFixture } from './fixture.ts';

test('footer field offsets ("Hard Disk Footer Format")', () => {
  const got = Object.fromEntries(Object.entries(VhdFooter.fields).map(([k, f]) => [k, [f.offset, f.size]]));
  assert.deepEqual(got, {
    cookie: [0, 8],
    features: [8, 4],
    fileFormatVersion: [12, 4],
    dataOffset: [16, 8],
    timeStamp: [24, 4],
    creatorApplication: [28, 4],
    creatorVersion: [32, 4],
    creatorHostOs: [36, 4],
    originalSize: [40, 8],
    currentSize: [48, 8],
    cylinders: [56, 2],
    heads: [58, 1],
    sectorsPerTrack: [59, 1],
    diskType: [60, 4],
    checksum: [64, 4],
    uniqueId: [68, 16],
    savedState: [84, 1],
  });
});

test("golden: qemu-img's fixed footer re-encoded with its checksum", () => {
  const ref = readVdiskFixture('qemu-img-create-fixed-100M.vhd.footer.xxd');
  const f = VhdFooter.decode(ref);
  assert.equal(f.cookie, 'conectix');
  assert.equal(f.diskType, 2);
  assert.equal(f.checksum, vhdChecksum(ref, 64));
  const again = sealChecksum(VhdFooter.encode({ ...f, checksum: 0 }), 64);
  assert.equal(toHex(again), toHex(ref));
});

test("golden: qemu-img's dynamic header (cookie, BAT at 1536, 2 MiB blocks) and its checksum", () => {
  const ref = readVdiskFixture('qemu-img-create-dynamic-100M.vhd.head.xxd');
  const full = new Uint8Array(1536);
  full.set(ref);
  const h = VhdDynamicHeader.decode(full, 512);
  assert.equal(h.cookie, 'cxsparse');
  assert.equal(h.tableOffset, 1536n);
  assert.equal(h.blockSize, 2 << 20);
  const ours = encodeVhdDynamicHeader(1536, h.maxTableEntries, h.blockSize);
  assert.equal(toHex(ours), toHex(full.subarray(512, 1536)));
});

test('CHS geometry (specification appendix): cases on each branch', () => {
  assert.deepEqual(vhdGeometry(100 << 20), { cylinders: 1003, heads: 12, sectorsPerTrack: 17 });
  assert.deepEqual(vhdGeometry(2 * 2 ** 30), { cylinders: 4161, heads: 16, sectorsPerTrack: 63 });
  assert.deepEqual(vhdGeometry(200 * 2 ** 30), { cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  assert.deepEqual(vhdGeometry(10 << 20), { cylinders: 301, heads: 4, sectorsPerTrack: 17 });
});
