/**
 * qcow2 cluster mapping (qcow2.rst "Cluster mapping"): L1 and L2 entries are 64-bit big-endian.
 * Offsets up to 2^53 fit a JavaScript number, so entries are built from two 32-bit halves.
 */

/** Bit 63 of L1 and standard L2 entries: the refcount is exactly one (OFLAG_COPIED). */
export const QCOW_OFLAG_COPIED_HI = 0x80000000;
/** Bit 62 of L2 entries: compressed cluster. */
export const QCOW_OFLAG_COMPRESSED_HI = 0x40000000;
/** Bit 0 of a standard cluster descriptor: reads as zeros (version 3). */
export const QCOW_OFLAG_ZERO = 1;
/** Bits 9–55 of L1 and standard L2 entries: the host offset. */
export const L1E_OFFSET_MASK_HI = 0x00ffffff;
export const L1E_OFFSET_MASK_LO = 0xfffffe00;

const TWO32 = 2 ** 32;

/** Write a standard entry (L1 or L2): `offset` with COPIED set when `copied`. */
export function setStandardEntry(view: DataView, index: number, offset: number, copied: boolean): void {
  const hi = Math.floor(offset / TWO32);
  const lo = offset >>> 0;
  view.setUint32(index * 8, (hi | (copied ? QCOW_OFLAG_COPIED_HI : 0)) >>> 0, false);
  view.setUint32(index * 8 + 4, lo, false);
}

/**
 * Compressed Clusters Descriptor (qcow2.rst): with x = 62 − (cluster_bits − 8), bits 0…x−1 are the
 * host byte offset, bits x…61 the number of 512-byte sectors the data occupies beyond the one
 * holding its first byte. Never COPIED (bit 63 clear), bit 62 set.
 */
export function compressedEntry(clusterBits: number, hostOffset: number, byteLength: number): { hi: number; lo: number } {
  const x = 62 - (clusterBits - 8);
  const extraSectors = Math.floor((hostOffset + byteLength - 1) / 512) - Math.floor(hostOffset / 512);
  // value = extraSectors * 2^x + hostOffset, below 2^62: split into halves without losing bits
  const big = (BigInt(extraSectors) << BigInt(x)) | BigInt(hostOffset) | (1n << 62n);
  return { hi: Number(big >> 32n), lo: Number(big & 0xffffffffn) };
}

export function setCompressedEntry(view: DataView, index: number, clusterBits: number, hostOffset: number, byteLength: number): void {
  const e = compressedEntry(clusterBits, hostOffset, byteLength);
  view.setUint32(index * 8, e.hi, false);
  view.setUint32(index * 8 + 4, e.lo, false);
}

export type L2Entry =
  | { kind: 'unallocated' }
  | { kind: 'zero'; offset: number; copied: boolean }
  | { kind: 'standard'; offset: number; copied: boolean; reservedBits: boolean }
  | { kind: 'compressed'; offset: number; sectors: number; copied: boolean };

/** Decode L2 entry `index` (reader and checker). */
export function decodeL2Entry(view: DataView, index: number, clusterBits: number, version: number): L2Entry {
  const hi = view.getUint32(index * 8, false);
  const lo = view.getUint32(index * 8 + 4, false);
  const copied = (hi & QCOW_OFLAG_COPIED_HI) !== 0;
  if (hi & QCOW_OFLAG_COMPRESSED_HI) {
    const v = (BigInt(hi & 0x3fffffff) << 32n) | BigInt(lo);
    const x = BigInt(62 - (clusterBits - 8));
    const offset = Number(v & ((1n << x) - 1n));
    const extra = Number(v >> x);
    return { kind: 'compressed', offset, sectors: extra + 1, copied };
  }
  const offset = (hi & L1E_OFFSET_MASK_HI) * TWO32 + (lo & L1E_OFFSET_MASK_LO);
  const reservedBits = (hi & 0x3f000000) !== 0 || (lo & 0x1fe) !== 0;
  if (version >= 3 && lo & QCOW_OFLAG_ZERO) return { kind: 'zero', offset, copied };
  if (offset === 0) return { kind: 'unallocated' };
  return { kind: 'standard', offset, copied, reservedBits };
}

/** Decode L1 entry `index`: the L2 table offset (0: none) and its COPIED flag. */
export function decodeL1Entry(view: DataView, index: number): { offset: number; copied: boolean; reservedBits: boolean } {
  const hi = view.getUint32(index * 8, false);
  const lo = view.getUint32(index * 8 + 4, false);
  return {
    offset: (hi & L1E_OFFSET_MASK_HI) * TWO32 + (lo & L1E_OFFSET_MASK_LO),
    copied: (hi & QCOW_OFLAG_COPIED_HI) !== 0,
    reservedBits: (hi & 0x7f000000) !== 0 || (lo & 0x1ff) !== 0,
  };
}

/** Largest L1 table qemu opens (QCOW_MAX_L1_SIZE, qcow2.rst "Header" size note): 32 MiB. */
export const QCOW_MAX_L1_BYTES = 32 << 20;
/** Largest refcount table qemu opens (QCOW_MAX_REFTABLE_SIZE): 8 MiB. */
export const QCOW_MAX_REFTABLE_BYTES = 8 << 20;

/** Entries the L1 table needs for `virtualSize` with `clusterSize` clusters. */
export function l1SizeFor(virtualSize: number, clusterSize: number): number {
  const clusters = Math.ceil(virtualSize / clusterSize);
  return Math.ceil(clusters / (clusterSize / 8));
}
