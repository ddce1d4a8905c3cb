/**
 * qcow2 L1/L2 entries (qcow2.rst "Cluster mapping"): standard entries with COPIED, the Compressed
 * Clusters Descriptor's bit split at x = 62 − (cluster_bits − 8) for every cluster size, and the
 * L1 size limit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compressedEntry, decodeL1Entry, decodeL2Entry, l1SizeFor, setCompressedEntry, setStandardEntry } from '@imgkit/vdisk';

test('standard entry: offset bits 9–55, COPIED is bit 63', () => {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  setStandardEntry(v, 0, 0x123456780000, true);
  setStandardEntry(v, 1, 0x10000, false);
  assert.equal(v.getBigUint64(0, false), 0x8000123456780000n);
  assert.equal(v.getBigUint64(8, false), 0x10000n);
  assert.deepEqual(decodeL2Entry(v, 0, 16, 3), { kind: 'standard', offset: 0x123456780000, copied: true, reservedBits: false });
  assert.deepEqual(decodeL1Entry(v, 1), { offset: 0x10000, copied: false, reservedBits: false });
});

test('compressed descriptor: offset in bits 0…x−1, extra sectors in x…61, bit 62 set, never COPIED', () => {
  const cases = [
    { bits: 9, offset: 0x200 * 3 + 17, len: 300 },
    { bits: 16, offset: 0x123456789, len: 65535 },
    { bits: 21, offset: 2 ** 40 + 5, len: 2 * 1024 * 1024 - 1 },
  ];
  for (const c of cases) {
    const x = 62 - (c.bits - 8);
    const extra = Math.floor((c.offset + c.len - 1) / 512) - Math.floor(c.offset / 512);
    const e = compressedEntry(c.bits, c.offset, c.len);
    const value = (BigInt(e.hi) << 32n) | BigInt(e.lo);
    assert.equal(value >> 63n, 0n, 'COPIED clear');
    assert.equal((value >> 62n) & 1n, 1n, 'compressed');
    assert.equal(value & ((1n << BigInt(x)) - 1n), BigInt(c.offset));
    assert.equal((value >> BigInt(x)) & ((1n << BigInt(62 - x)) - 1n), BigInt(extra));
    const b = new Uint8Array(8);
    setCompressedEntry(new DataView(b.buffer), 0, c.bits, c.offset, c.len);
    assert.deepEqual(decodeL2Entry(new DataView(b.buffer), 0, c.bits, 3), { kind: 'compressed', offset: c.offset, sectors: extra + 1, copied: false });
  }
});

test('L1 entries needed: one per cluster_size/8 clusters', () => {
  assert.equal(l1SizeFor(1 << 30, 65536), 2);
  assert.equal(l1SizeFor((1 << 30) + 1, 65536), 3);
  assert.equal(l1SizeFor(128 * 2 ** 30, 512), 4 * 1024 * 1024); // exactly qemu's 32 MiB limit
  assert.equal(l1SizeFor(0, 512), 0);
});
