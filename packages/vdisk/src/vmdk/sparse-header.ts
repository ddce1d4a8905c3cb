/**
 * VMDK sparse extent header, VMware "Virtual Disk Format 5.0", "Hosted Sparse Extent Header"
 * (SparseExtentHeader): 512 bytes, packed, little-endian. The same structure is the footer of a
 * stream-optimized extent ("Stream-Optimized Compressed Sparse Extents": the footer takes
 * precedence over the header, whose gdOffset is GD_AT_END).
 */
import { struct, u16le, u32le, u64le, u8 } from '@imgkit/core';

/** "KDMV" on disk. */
export const SPARSE_MAGICNUMBER = 0x564d444b;
export const SECTOR = 512;
/** gdOffset of a stream-optimized header: the grain directory is at the end (read the footer). */
export const GD_AT_END = 0xffffffffffffffffn;

/** flags bits ("Hosted Sparse Extent Header"). */
export const FLAG_VALID_NEWLINE_TEST = 1 << 0;
export const FLAG_REDUNDANT_GRAIN_TABLE = 1 << 1;
export const FLAG_ZEROED_GRAIN_GTE = 1 << 2;
export const FLAG_COMPRESSED = 1 << 16;
export const FLAG_MARKERS = 1 << 17;

export const VMDK_COMPRESSION_NONE = 0;
export const VMDK_COMPRESSION_DEFLATE = 1;

/** Grain table entries per grain table (numGTEsPerGT; VMware always writes 512). */
export const GTES_PER_GT = 512;
/** Grain size in sectors (64 KiB), what VMware and qemu write. */
export const GRAIN_SECTORS = 128;

export const SparseExtentHeader = struct('vmdk.sparseExtentHeader', SECTOR, {
  magicNumber: u32le(0),
  version: u32le(4),
  flags: u32le(8),
  capacity: u64le(12),
  grainSize: u64le(20),
  descriptorOffset: u64le(28),
  descriptorSize: u64le(36),
  numGTEsPerGT: u32le(44),
  rgdOffset: u64le(48),
  gdOffset: u64le(56),
  overHead: u64le(64),
  uncleanShutdown: u8(72),
  singleEndLineChar: u8(73),
  nonEndLineChar: u8(74),
  doubleEndLineChar1: u8(75),
  doubleEndLineChar2: u8(76),
  compressAlgorithm: u16le(77),
});

export type SparseHeaderValues = ReturnType<typeof SparseExtentHeader.decode>;

/** A header with the newline-detection characters set ('\n', ' ', '\r', '\n'). */
export function encodeSparseHeader(v: Omit<SparseHeaderValues, 'magicNumber' | 'singleEndLineChar' | 'nonEndLineChar' | 'doubleEndLineChar1' | 'doubleEndLineChar2' | 'uncleanShutdown'>): Uint8Array {
  return SparseExtentHeader.encode({
    ...v,
    magicNumber: SPARSE_MAGICNUMBER,
    uncleanShutdown: 0,
    singleEndLineChar: 0x0a,
    nonEndLineChar: 0x20,
    doubleEndLineChar1: 0x0d,
    doubleEndLineChar2: 0x0a,
  });
}

/**
 * Stream-optimized markers ("Stream-Optimized Compressed Sparse Extents", "Grain Markers" and
 * "Metadata Markers"). A grain marker is `lba` (u64), `size` (u32) and the compressed grain; a
 * metadata marker is `numSectors` (u64), `size` = 0 (u32), `type` (u32), padded to one sector
 * and followed by the metadata.
 */
export const MARKER_EOS = 0;
export const MARKER_GT = 1;
export const MARKER_GD = 2;
export const MARKER_FOOTER = 3;
export const GRAIN_MARKER_BYTES = 12;

export const MetadataMarker = struct('vmdk.metadataMarker', SECTOR, {
  numSectors: u64le(0),
  size: u32le(8),
  type: u32le(12),
});

export function encodeMetadataMarker(type: number, numSectors: number): Uint8Array {
  return MetadataMarker.encode({ numSectors: BigInt(numSectors), size: 0, type });
}

/** Grain marker header (12 bytes) followed by `size` bytes of compressed grain. */
export function encodeGrainMarker(lba: number, data: Uint8Array): Uint8Array {
  const total = Math.ceil((GRAIN_MARKER_BYTES + data.byteLength) / SECTOR) * SECTOR;
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt(lba), true);
  v.setUint32(8, data.byteLength, true);
  out.set(data, GRAIN_MARKER_BYTES);
  return out;
}
