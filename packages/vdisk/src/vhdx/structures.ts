/**
 * VHDX on-disk structures, Microsoft "VHDX Format Specification" v1.0 (all little-endian, GUIDs in
 * the Windows layout: Data1–Data3 little-endian, Data4 as bytes):
 *   §2.1   header section: file type identifier (0), headers (64 KiB, 128 KiB), region tables
 *          (192 KiB, 256 KiB), 1 MiB in all
 *   §2.2.1 file type identifier  §2.2.2 header  §2.2.3 region table
 *   §2.3   log  §2.4 BAT  §2.5 metadata region (table, then items from 64 KiB)
 */
// CRC-32C: VHDX specification v1.0 §2.2.2 "Checksum" (over the whole structure, its Checksum field zero).
import { bytes, crc32c, struct, u16le, u32le, u64le, viewOf } from '@imgkit/core';

export const KiB = 1024;
export const MiB = 1 << 20;
export const HEADER1_OFFSET = 64 * KiB;
export const HEADER2_OFFSET = 128 * KiB;
export const REGION_TABLE1_OFFSET = 192 * KiB;
export const REGION_TABLE2_OFFSET = 256 * KiB;
export const HEADER_SECTION_BYTES = 1 * MiB;
export const HEADER_BYTES = 4 * KiB;
export const REGION_TABLE_BYTES = 64 * KiB;
export const METADATA_TABLE_BYTES = 64 * KiB;
/** §2.4: 2^23 sectors are described by one sector bitmap block. */
export const SECTORS_PER_BITMAP_BLOCK = 2 ** 23;
/** §2.6.1 BlockSize: 1 MiB … 256 MiB, a power of two. */
export const MIN_BLOCK_SIZE = 1 * MiB;
export const MAX_BLOCK_SIZE = 256 * MiB;
/** §2.6.2 VirtualDiskSize: at most 64 TiB. */
export const MAX_VIRTUAL_SIZE = 64 * 2 ** 40;

/** "vhdxfile", "head", "regi", "metadata" as little-endian integers. */
export const FILE_SIGNATURE = 0x656c696678646876n;
export const HEADER_SIGNATURE = 0x64616568;
export const REGION_SIGNATURE = 0x69676572;
export const METADATA_SIGNATURE = 0x617461646174656dn;

/** GUID text → the 16 stored bytes (Windows layout). */
export function guidBytes(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  const t = new Uint8Array(16);
  for (let i = 0; i < 16; i++) t[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  t.subarray(0, 4).reverse();
  t.subarray(4, 6).reverse();
  t.subarray(6, 8).reverse();
  return t;
}

export function guidText(b: Uint8Array): string {
  const t = Uint8Array.from(b);
  t.subarray(0, 4).reverse();
  t.subarray(4, 6).reverse();
  t.subarray(6, 8).reverse();
  const h = [...t].map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const sameGuid = (a: Uint8Array, b: Uint8Array): boolean => a.every((x, i) => x === b[i]);

/** §2.2.3.2 known regions. */
export const BAT_REGION_GUID = guidBytes('2DC27766-F623-4200-9D64-115E9BFD4A08');
export const METADATA_REGION_GUID = guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E');
/** §2.6.2 known metadata items. */
export const FILE_PARAMETERS_GUID = guidBytes('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
export const VIRTUAL_DISK_SIZE_GUID = guidBytes('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
export const PAGE83_DATA_GUID = guidBytes('BECA12AB-B2E6-4523-93EF-C309E000C746');
export const LOGICAL_SECTOR_SIZE_GUID = guidBytes('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
export const PHYSICAL_SECTOR_SIZE_GUID = guidBytes('CDA348C7-445D-4471-9CC9-E9885251C556');
export const PARENT_LOCATOR_GUID = guidBytes('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');

/** §2.2.1 File Type Identifier: signature, then the creator as UTF-16 (256 units). */
export const FileIdentifier = struct('vhdx.fileIdentifier', 8 + 512, {
  signature: u64le(0),
  creator: bytes(8, 512),
});

/** §2.2.2 Header (4 KiB; fields in the first 80 bytes, the rest reserved). */
export const VhdxHeader = struct('vhdx.header', HEADER_BYTES, {
  signature: u32le(0),
  checksum: u32le(4),
  sequenceNumber: u64le(8),
  fileWriteGuid: bytes(16, 16),
  dataWriteGuid: bytes(32, 16),
  logGuid: bytes(48, 16),
  logVersion: u16le(64),
  version: u16le(66),
  logLength: u32le(68),
  logOffset: u64le(72),
});

/** §2.2.3 Region table header (16 bytes) and entries (32 bytes each) in a 64 KiB table. */
export const RegionTableHeader = struct('vhdx.regionTableHeader', 16, {
  signature: u32le(0),
  checksum: u32le(4),
  entryCount: u32le(8),
  reserved: u32le(12),
});
export const RegionTableEntry = struct('vhdx.regionTableEntry', 32, {
  guid: bytes(0, 16),
  fileOffset: u64le(16),
  length: u32le(24),
  /** bit 0: Required */
  flags: u32le(28),
});

/** §2.5.1 Metadata table header (32 bytes) and entries (32 bytes each). */
export const MetadataTableHeader = struct('vhdx.metadataTableHeader', 32, {
  signature: u64le(0),
  reserved: u16le(8),
  entryCount: u16le(10),
});
export const MetadataTableEntry = struct('vhdx.metadataTableEntry', 32, {
  itemId: bytes(0, 16),
  offset: u32le(16),
  length: u32le(20),
  /** bit 0 IsUser, bit 1 IsVirtualDisk, bit 2 IsRequired */
  flags: u32le(24),
});
export const META_IS_USER = 1;
export const META_IS_VIRTUAL_DISK = 2;
export const META_IS_REQUIRED = 4;
/** §2.6.2.1 File Parameters flags. */
export const FP_LEAVE_BLOCKS_ALLOCATED = 1;
export const FP_HAS_PARENT = 2;

/** §2.4.1 payload block states and §2.4.2 sector bitmap block states (BAT entry bits 0–2). */
export const PAYLOAD_BLOCK_NOT_PRESENT = 0;
export const PAYLOAD_BLOCK_UNDEFINED = 1;
export const PAYLOAD_BLOCK_ZERO = 2;
export const PAYLOAD_BLOCK_UNMAPPED = 3;
export const PAYLOAD_BLOCK_FULLY_PRESENT = 6;
export const PAYLOAD_BLOCK_PARTIALLY_PRESENT = 7;
export const SB_BLOCK_NOT_PRESENT = 0;
export const SB_BLOCK_PRESENT = 6;

/** §2.4: a BAT entry is State (bits 0–2) and FileOffsetMB (bits 20–63). */
export function setBatEntry(view: DataView, index: number, state: number, fileOffset: number): void {
  const mb = fileOffset / MiB;
  view.setUint32(index * 8, ((mb & 0xfff) << 20 | state) >>> 0, true);
  view.setUint32(index * 8 + 4, Math.floor(mb / 4096), true);
}

export function getBatEntry(view: DataView, index: number): { state: number; fileOffset: number; reservedBits: boolean } {
  const lo = view.getUint32(index * 8, true);
  const hi = view.getUint32(index * 8 + 4, true);
  return { state: lo & 7, fileOffset: (hi * 4096 + (lo >>> 20)) * MiB, reservedBits: (lo & 0xffff8) !== 0 };
}

/** §2.4: chunk ratio and the BAT index of payload block `i` (a sector bitmap entry follows every chunk). */
export function chunkRatio(logicalSectorSize: number, blockSize: number): number {
  return (SECTORS_PER_BITMAP_BLOCK * logicalSectorSize) / blockSize;
}
export function batIndex(block: number, ratio: number): number {
  return block + Math.floor(block / ratio);
}
/** §2.4 "Total BAT entries" for a disk without a parent. */
export function batEntries(payloadBlocks: number, ratio: number): number {
  return payloadBlocks === 0 ? 0 : payloadBlocks + Math.floor((payloadBlocks - 1) / ratio);
}

/** Set a 4 KiB header's or 64 KiB region table's CRC-32C (the checksum field is at 4). */
export function sealCrc(b: Uint8Array): Uint8Array {
  const v = viewOf(b);
  v.setUint32(4, 0, true);
  v.setUint32(4, crc32c(b), true);
  return b;
}

export function crcOk(b: Uint8Array): boolean {
  const v = viewOf(b);
  const stored = v.getUint32(4, true);
  const copy = Uint8Array.from(b);
  viewOf(copy).setUint32(4, 0, true);
  return crc32c(copy) === stored;
}
