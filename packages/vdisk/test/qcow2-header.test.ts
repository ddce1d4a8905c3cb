/**
 * qcow2 header (qcow2.rst "Header"): field offsets against the specification's table, the first
 * 512 bytes of `qemu-img create -f qcow2 1G` reproduced byte for byte (header, feature name table),
 * and decode(encode(x)) = x for versions 2 and 3.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import { Qcow2HeaderV3, QCOW2_COMPRESSION_ZSTD, decodeHeader, encodeHeaderCluster, INCOMPAT_COMPRESSION } from '@imgkit/vdisk';
import { readVdiskFixture } from './fixture.ts';

test('qcow2.rst "Header" byte offsets', () => {
  const got = Object.fromEntries(Object.entries(Qcow2HeaderV3.fields).map(([k, f]) => [k, [f.offset, f.size]]));
  assert.deepEqual(got, {
    magic: [0, 4],
    version: [4, 4],
    backingFileOffset: [8, 8],
    backingFileSize: [16, 4],
    clusterBits: [20, 4],
    size: [24, 8],
    cryptMethod: [32, 4],
    l1Size: [36, 4],
    l1TableOffset: [40, 8],
    refcountTableOffset: [48, 8],
    refcountTableClusters: [56, 4],
    nbSnapshots: [60, 4],
    snapshotsOffset: [64, 8],
    incompatibleFeatures: [72, 8],
    compatibleFeatures: [80, 8],
    autoclearFeatures: [88, 8],
    refcountOrder: [96, 4],
    headerLength: [100, 4],
    compressionType: [104, 1],
  });
});

test("golden: qemu-img create -f qcow2 1G's first 512 bytes (header + feature name table)", () => {
  const ref = readVdiskFixture('qemu-img-create-1G.qcow2.head.xxd');
  const h = decodeHeader(ref);
  assert.equal(h.version, 3);
  assert.equal(h.clusterBits, 16);
  assert.equal(h.size, 1 << 30);
  const ours = encodeHeaderCluster(
    { version: 3, clusterBits: 16, size: h.size, l1Size: h.l1Size, l1TableOffset: h.l1TableOffset, refcountTableOffset: h.refcountTableOffset, refcountTableClusters: h.refcountTableClusters },
    65536,
  );
  const full = new Uint8Array(512);
  full.set(ref);
  assert.equal(toHex(ours.subarray(0, 512)), toHex(full));
});

test('round trip, versions 2 and 3, zstd sets the compression type bit', () => {
  for (const version of [2, 3] as const) {
    const fields = { version, clusterBits: 9, size: 123 * 512, l1Size: 4, l1TableOffset: 512 * 7, refcountTableOffset: 512, refcountTableClusters: 2 };
    const h = decodeHeader(encodeHeaderCluster(fields, 512));
    assert.deepEqual(
      { version: h.version, clusterBits: h.clusterBits, size: h.size, l1Size: h.l1Size, l1TableOffset: h.l1TableOffset, refcountTableOffset: h.refcountTableOffset, refcountTableClusters: h.refcountTableClusters },
      fields,
    );
    assert.equal(h.headerLength, version === 2 ? 72 : 112);
  }
  const z = decodeHeader(encodeHeaderCluster({ version: 3, clusterBits: 16, size: 1 << 20, l1Size: 1, l1TableOffset: 3 << 16, refcountTableOffset: 1 << 16, refcountTableClusters: 1, compressionType: QCOW2_COMPRESSION_ZSTD }, 65536));
  assert.equal(z.compressionType, 1);
  assert.equal(z.incompatibleFeatures, INCOMPAT_COMPRESSION);
});
