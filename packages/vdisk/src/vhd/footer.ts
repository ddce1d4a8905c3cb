/**
 * VHD hard disk footer and dynamic disk header, Microsoft "Virtual Hard Disk Image Format
 * Specification" (2006): "Hard Disk Footer Format" (512 bytes, big-endian, at the end of every
 * VHD and copied to offset 0 of a dynamic one) and "Dynamic Disk Header Format" (1024 bytes).
 * Both carry a checksum: the one's complement of the byte sum with the checksum field zero.
 */
import { ascii, bytes, struct, u32be, u64be, u16be, u8, viewOf } from '@imgkit/core';

export const VHD_COOKIE = 'conectix';
export const VHD_DYNAMIC_COOKIE = 'cxsparse';
export const VHD_SECTOR = 512;
/** "Features": bit 1 is reserved and must be set. */
export const VHD_FEATURES_RESERVED = 0x00000002;
export const VHD_VERSION = 0x00010000;
/** Data Offset of a fixed disk (no dynamic header). */
export const VHD_NO_DATA_OFFSET = 0xffffffffffffffffn;
/** "Time Stamp": seconds since January 1, 2000 12:00:00 AM UTC. */
export const VHD_EPOCH_OFFSET = 946684800;
export const DISK_TYPE_FIXED = 2;
export const DISK_TYPE_DYNAMIC = 3;
export const DISK_TYPE_DIFFERENCING = 4;
/** Largest disk qemu accepts (VHD_MAX_SECTORS, 0xff000000 sectors = 2040 GiB). */
export const VHD_MAX_BYTES = 0xff000000 * VHD_SECTOR;
/** BAT entry of an unallocated block. */
export const VHD_BAT_UNUSED = 0xffffffff;

export const VhdFooter = struct('vhd.footer', VHD_SECTOR, {
  cookie: ascii(0, 8),
  features: u32be(8),
  fileFormatVersion: u32be(12),
  dataOffset: u64be(16),
  timeStamp: u32be(24),
  creatorApplication: bytes(28, 4),
  creatorVersion: u32be(32),
  creatorHostOs: bytes(36, 4),
  originalSize: u64be(40),
  currentSize: u64be(48),
  cylinders: u16be(56),
  heads: u8(58),
  sectorsPerTrack: u8(59),
  diskType: u32be(60),
  checksum: u32be(64),
  uniqueId: bytes(68, 16),
  savedState: u8(84),
});

export const VhdDynamicHeader = struct('vhd.dynamicHeader', 1024, {
  cookie: ascii(0, 8),
  dataOffset: u64be(8),
  tableOffset: u64be(16),
  headerVersion: u32be(24),
  maxTableEntries: u32be(28),
  blockSize: u32be(32),
  checksum: u32be(36),
  parentUniqueId: bytes(40, 16),
  parentTimeStamp: u32be(56),
});

/** One's complement of the byte sum, skipping the 4 checksum bytes at `checksumAt`. */
export function vhdChecksum(b: Uint8Array, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < b.byteLength; i++) if (i < checksumAt || i >= checksumAt + 4) sum += b[i]!;
  return ~sum >>> 0;
}

/** Fill in the checksum field of an encoded footer (64) or dynamic header (36). */
export function sealChecksum(b: Uint8Array, checksumAt: number): Uint8Array {
  viewOf(b).setUint32(checksumAt, vhdChecksum(b, checksumAt), false);
  return b;
}

/**
 * CHS geometry from the size, the specification's appendix "CHS Calculation" (the algorithm
 * Windows uses): at most 65535 × 16 × 255 sectors; 17, 31 or 63 sectors per track below
 * 65535 × 16 × 63, else 255.
 */
export function vhdGeometry(totalBytes: number): { cylinders: number; heads: number; sectorsPerTrack: number } {
  let total = Math.floor(totalBytes / VHD_SECTOR);
  if (total > 65535 * 16 * 255) total = 65535 * 16 * 255;
  let spt: number;
  let heads: number;
  let cth: number;
  if (total >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(total / spt);
  } else {
    spt = 17;
    cth = Math.floor(total / spt);
    heads = Math.floor((cth + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(total / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(total / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

export interface VhdFooterFields {
  diskType: typeof DISK_TYPE_FIXED | typeof DISK_TYPE_DYNAMIC;
  currentSize: number;
  timeStamp: number;
  uniqueId: Uint8Array;
  creatorApplication: string;
}

export function encodeVhdFooter(f: VhdFooterFields): Uint8Array {
  const g = vhdGeometry(f.currentSize);
  const app = new Uint8Array(4);
  for (let i = 0; i < 4; i++) app[i] = f.creatorApplication.charCodeAt(i) || 0;
  const b = VhdFooter.encode({
    cookie: VHD_COOKIE,
    features: VHD_FEATURES_RESERVED,
    fileFormatVersion: VHD_VERSION,
    dataOffset: f.diskType === DISK_TYPE_FIXED ? VHD_NO_DATA_OFFSET : BigInt(VHD_SECTOR),
    timeStamp: f.timeStamp,
    creatorApplication: app,
    creatorVersion: 0x00010000,
    creatorHostOs: new TextEncoder().encode('Wi2k'),
    originalSize: BigInt(f.currentSize),
    currentSize: BigInt(f.currentSize),
    cylinders: g.cylinders,
    heads: g.heads,
    sectorsPerTrack: g.sectorsPerTrack,
    diskType: f.diskType,
    checksum: 0,
    uniqueId: f.uniqueId,
    savedState: 0,
  });
  return sealChecksum(b, 64);
}

export function encodeVhdDynamicHeader(tableOffset: number, maxTableEntries: number, blockSize: number): Uint8Array {
  const b = VhdDynamicHeader.encode({
    cookie: VHD_DYNAMIC_COOKIE,
    dataOffset: VHD_NO_DATA_OFFSET,
    tableOffset: BigInt(tableOffset),
    headerVersion: VHD_VERSION,
    maxTableEntries,
    blockSize,
    checksum: 0,
    parentUniqueId: new Uint8Array(16),
    parentTimeStamp: 0,
  });
  return sealChecksum(b, 36);
}

/** Bytes of a block's sector bitmap: one bit per sector, padded to a sector boundary. */
export function vhdBitmapBytes(blockSize: number): number {
  return Math.ceil(blockSize / VHD_SECTOR / 8 / VHD_SECTOR) * VHD_SECTOR;
}
