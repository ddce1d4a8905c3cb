/**
 * VMDK SparseExtentHeader ("Virtual Disk Format 5.0", "Hosted Sparse Extent Header"): offsets,
 * qemu-img's stream-optimized header reproduced byte for byte, markers, and the descriptor.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@imgkit/core';
import {
  GRAIN_MARKER_BYTES,
  MetadataMarker,
  SparseExtentHeader,
  encodeDescriptor,
  encodeGrainMarker,
  encodeMetadataMarker,
  encodeSparseHeader,
  parseDescriptor,
} from '@imgkit/vdisk';
import { readVdiskFixture } from './fixture.ts';

test('SparseExtentHeader offsets (packed, little-endian)', () => {
  const got = Object.fromEntries(Object.entries(SparseExtentHeader.fields).map(([k, f]) => [k, [f.offset, f.size]]));
  assert.deepEqual(got, {
    magicNumber: [0, 4],
    version: [4, 4],
    flags: [8, 4],
    capacity: [12, 8],
    grainSize: [20, 8],
    descriptorOffset: [28, 8],
    descriptorSize: [36, 8],
    numGTEsPerGT: [44, 4],
    rgdOffset: [48, 8],
    gdOffset: [56, 8],
    overHead: [64, 8],
    uncleanShutdown: [72, 1],
    singleEndLineChar: [73, 1],
    nonEndLineChar: [74, 1],
    doubleEndLineChar1: [75, 1],
    doubleEndLineChar2: [76, 1],
    compressAlgorithm: [77, 2],
  });
});

test("golden: qemu-img's streamOptimized header sector re-encoded byte for byte", () => {
  const ref = new Uint8Array(512);
  ref.set(readVdiskFixture('qemu-img-streamOptimized.vmdk.head.xxd'));
  const h = SparseExtentHeader.decode(ref);
  assert.equal(toHex(ref.subarray(0, 4)), '4b444d56'); // "KDMV"
  assert.equal(h.version, 3);
  assert.equal(h.flags, 0x30003);
  assert.equal(h.capacity, 204800n);
  assert.equal(h.grainSize, 128n);
  assert.equal(h.compressAlgorithm, 1);
  const { magicNumber: _m, singleEndLineChar: _a, nonEndLineChar: _b, doubleEndLineChar1: _c, doubleEndLineChar2: _d, uncleanShutdown: _u, ...rest } = h;
  assert.equal(toHex(encodeSparseHeader(rest)), toHex(ref));
});

test('markers: metadata marker fields, grain marker padded to a sector', () => {
  const m = encodeMetadataMarker(1, 4);
  assert.equal(m.byteLength, 512);
  assert.deepEqual(MetadataMarker.decode(m), { numSectors: 4n, size: 0, type: 1 });
  const g = encodeGrainMarker(256, new Uint8Array([1, 2, 3]));
  assert.equal(g.byteLength, 512);
  assert.equal(toHex(g.subarray(0, GRAIN_MARKER_BYTES + 3)), '0001000000000000' + '03000000' + '010203');
  assert.equal(encodeGrainMarker(0, new Uint8Array(501)).byteLength, 1024);
});

test('descriptor: qemu-style text, parsed back; geometry 16 heads for IDE, 255 otherwise', () => {
  const text = encodeDescriptor({ cid: 0xabc, createType: 'streamOptimized', capacitySectors: 4194304, fileName: 'disk.vmdk', adapterType: 'ide', hwVersion: 10 });
  assert.match(text, /^# Disk DescriptorFile\nversion=1\nCID=00000abc\nparentCID=ffffffff\ncreateType="streamOptimized"\n/);
  assert.match(text, /\nRW 4194304 SPARSE "disk.vmdk"\n/);
  assert.match(text, /ddb.geometry.cylinders = "4161"\nddb.geometry.heads = "16"\nddb.geometry.sectors = "63"/);
  const d = parseDescriptor(`${text}\0\0\0`);
  assert.equal(d.createType, 'streamOptimized');
  assert.equal(d.cid, 0xabc);
  assert.deepEqual(d.extents, [{ access: 'RW', sectors: 4194304, type: 'SPARSE', file: 'disk.vmdk' }]);
  assert.equal(d.ddb['ddb.adapterType'], 'ide');
  const scsi = encodeDescriptor({ cid: 1, createType: 'monolithicSparse', capacitySectors: 4194304, fileName: 'x.vmdk', adapterType: 'lsilogic', hwVersion: 4 });
  assert.match(scsi, /ddb.geometry.cylinders = "261"\nddb.geometry.heads = "255"/);
  assert.throws(() => encodeDescriptor({ cid: 1, createType: 'monolithicSparse', capacitySectors: 1, fileName: 'a"b', adapterType: 'ide', hwVersion: 4 }), RangeError);
});
