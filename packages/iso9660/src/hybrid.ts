/**
 * Partition-table structures of a hybrid ISO's system area (the first 16 sectors, ECMA-119 §6.2.1):
 * the MBR partition entry (UEFI §5.2.1) with the CHS conventions isohybrid and xorriso use, and the
 * GPT header and entries (UEFI §5.3). Sectors here are 512 bytes. What goes where is decided in
 * system-area.ts.
 */
import { bytes, crc32, ErrorCodes, ImgkitError, struct, u32le, u64le, u8 } from '@imgkit/core';
import { parseGuid } from './options.js';

export const SECTOR = 512;

// MBR partition entry (UEFI §5.2.1, Table 5-2 "Legacy MBR Partition Record").
export const MbrPartition = struct('mbr.partition', 16, {
  status: u8(0),
  chsStart: bytes(1, 3),
  type: u8(4),
  chsEnd: bytes(5, 3),
  startLba: u32le(8),
  sectorCount: u32le(12),
});
export const MBR_TABLE_OFFSET = 446;

/**
 * CHS address of a 512-byte sector for a geometry of `heads` × `sectors` (cylinder bits 8–9 in the
 * top of the sector byte). Beyond cylinder 1023 the address is clamped; `clamp` chooses how:
 * 'last' (head = heads − 1, as libisofs' partition entries and fdisk), 'isohybrid' (head = heads,
 * as syslinux's isohybrid and xorriso's isohybrid partition 1).
 */
export function chs(lba: number, heads = 64, sectors = 32, clamp: 'last' | 'isohybrid' = 'last'): Uint8Array {
  let cyl = Math.floor(lba / (heads * sectors));
  let head = Math.floor(lba / sectors) % heads;
  let sec = (lba % sectors) + 1;
  if (cyl >= 1024) {
    cyl = 1023;
    head = clamp === 'last' ? heads - 1 : heads;
    sec = sectors;
  }
  return new Uint8Array([head & 0xff, (sec | ((cyl & 0x300) >> 2)) & 0xff, cyl & 0xff]);
}

/** "No CHS address": what xorriso writes for the EFI/HFS+ images it lists in an isohybrid MBR. */
export const CHS_NONE = new Uint8Array([0xfe, 0xff, 0xff]);

export interface MbrEntry {
  status: number;
  type: number;
  startLba: number;
  sectorCount: number;
  chsStart: Uint8Array;
  chsEnd: Uint8Array;
}

/** An entry whose CHS fields follow from its LBAs (libisofs write_mbr_partition_entry). */
export function mbrEntry(status: number, type: number, startLba: number, sectorCount: number, heads: number, sectors: number): MbrEntry {
  return { status, type, startLba, sectorCount, chsStart: chs(startLba, heads, sectors), chsEnd: chs(startLba + sectorCount - 1, heads, sectors) };
}

/** Write entry `slot` (1…4) of the MBR partition table in `mbr`, and the 0x55AA signature. */
export function putMbrEntry(mbr: Uint8Array, slot: number, e: MbrEntry): void {
  MbrPartition.encode({ status: e.status, chsStart: e.chsStart, type: e.type, chsEnd: e.chsEnd, startLba: e.startLba >>> 0, sectorCount: e.sectorCount >>> 0 }, mbr, MBR_TABLE_OFFSET + 16 * (slot - 1));
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
}

export function mbrSlotUsed(mbr: Uint8Array, slot: number): boolean {
  const at = MBR_TABLE_OFFSET + 16 * (slot - 1);
  return mbr.subarray(at, at + 16).some((b) => b !== 0);
}

// UEFI §5.3.2 GPT header (92 bytes, little-endian).
export const GptHeader = struct('gpt.header', 92, {
  signature: bytes(0, 8),
  revision: u32le(8),
  headerSize: u32le(12),
  headerCrc32: u32le(16),
  myLba: u64le(24),
  alternateLba: u64le(32),
  firstUsableLba: u64le(40),
  lastUsableLba: u64le(48),
  diskGuid: bytes(56, 16),
  partitionEntryLba: u64le(72),
  numberOfEntries: u32le(80),
  sizeOfEntry: u32le(84),
  entriesCrc32: u32le(88),
});
// UEFI §5.3.3 GPT partition entry (128 bytes).
export const GptEntry = struct('gpt.entry', 128, {
  typeGuid: bytes(0, 16),
  uniqueGuid: bytes(16, 16),
  startingLba: u64le(32),
  endingLba: u64le(40),
  attributes: u64le(48),
  name: bytes(56, 72),
});

export const GUID_EFI_SYSTEM = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const GUID_BASIC_DATA = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';
export const GUID_HFS_PLUS = '48465300-0000-11AA-AA11-00306543ECAC';
/** GPT partition attributes xorriso sets on the entries it makes itself: bit 60 (read-only) and bit 0 (required). */
export const GPT_ATTR_XORRISO = (1n << 60n) | 1n;

/** UEFI Appendix A GUID text → on-disk bytes (first three fields little-endian). */
export function guidBytes(text: string): Uint8Array {
  const b = parseGuid(text);
  if (!b) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', detail: `"${text}" is not a GUID`, hint: 'give XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX' });
  return b;
}

export interface GptPartition {
  typeGuid: Uint8Array;
  uniqueGuid: Uint8Array;
  startLba: number;
  /** Inclusive. */
  endLba: number;
  attributes?: bigint;
  name: string;
}

/** UTF-16LE partition name, 36 units (UEFI §5.3.3). */
function gptName(name: string): Uint8Array {
  const out = new Uint8Array(72);
  for (let k = 0; k < name.length && k < 36; k++) {
    out[2 * k] = name.charCodeAt(k) & 0xff;
    out[2 * k + 1] = name.charCodeAt(k) >> 8;
  }
  return out;
}

/** Encode a partition entry array of `count` entries. */
export function encodeGptEntries(parts: readonly GptPartition[], count: number): Uint8Array {
  if (parts.length > count) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'gpt.entries', detail: `${parts.length} GPT partitions; the entry array holds ${count}` });
  }
  const out = new Uint8Array(count * 128);
  parts.forEach((p, i) => {
    GptEntry.encode(
      { typeGuid: p.typeGuid, uniqueGuid: p.uniqueGuid, startingLba: BigInt(p.startLba), endingLba: BigInt(p.endLba), attributes: p.attributes ?? 0n, name: gptName(p.name) },
      out,
      i * 128,
    );
  });
  return out;
}

export interface GptGeometry {
  /** 512-byte sector of the last sector of the backup GPT area (the backup header). */
  backupHeaderLba: number;
  /** Sector where the primary entry array starts (2, or after an Apple Partition Map). */
  entriesLba: number;
  entryCount: number;
  diskGuid: Uint8Array;
}

/**
 * The primary GPT header (for sector 1) and the backup area: the entries followed by the backup
 * header in the last sector, per UEFI §5.3.1 with xorriso's geometry: first usable sector after the
 * primary entries, last usable one before the backup entries. CRC32s over the 92-byte header (its
 * CRC field zero) and over the whole entry array.
 */
export function encodeGpt(g: GptGeometry, parts: readonly GptPartition[]): { header: Uint8Array; entries: Uint8Array; backup: Uint8Array } {
  const entries = encodeGptEntries(parts, g.entryCount);
  const entriesCrc = crc32(entries);
  const entrySectors = g.entryCount / 4;
  const header = (my: number, alt: number, entryLba: number) => {
    const sector = new Uint8Array(SECTOR);
    const fields = {
      signature: new TextEncoder().encode('EFI PART'),
      revision: 0x00010000,
      headerSize: 92,
      headerCrc32: 0,
      myLba: BigInt(my),
      alternateLba: BigInt(alt),
      firstUsableLba: BigInt(g.entriesLba + entrySectors),
      lastUsableLba: BigInt(g.backupHeaderLba - entrySectors - 1),
      diskGuid: g.diskGuid,
      partitionEntryLba: BigInt(entryLba),
      numberOfEntries: g.entryCount,
      sizeOfEntry: 128,
      entriesCrc32: entriesCrc,
    };
    GptHeader.encode(fields, sector);
    GptHeader.encode({ ...fields, headerCrc32: crc32(sector.subarray(0, 92)) }, sector);
    return sector;
  };
  const backup = new Uint8Array(entries.byteLength + SECTOR);
  backup.set(entries);
  backup.set(header(g.backupHeaderLba, 1, g.backupHeaderLba - entrySectors), entries.byteLength);
  return { header: header(1, g.backupHeaderLba, g.entriesLba), entries, backup };
}

/**
 * xorriso's GUIDs (libisofs gpt_disk_guid_setup, mode "volume_date_uuid"): the 16 digits of the
 * volume date as bytes, centiseconds moved to bytes 9–10, marked as a version 4 UUID (RFC 4122
 * §4.1.3 with UEFI's byte order: version in byte 7, variant in byte 8). The disk GUID is that base;
 * partition GUID n (n = 1, 2, … in table order) is the base with n XORed into bytes 9–12.
 */
export function gptGuidBase(dateDigits: string): Uint8Array {
  const t = new TextEncoder().encode(dateDigits.padEnd(16, '0').slice(0, 16));
  const b = new Uint8Array(16);
  b.set(t.subarray(0, 9), 0);
  b.set(t.subarray(14, 16), 9);
  b.set(t.subarray(9, 14), 11);
  markGuidVersion4(b);
  return b;
}

export function markGuidVersion4(b: Uint8Array): void {
  b[7] = (b[7]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
}

export function gptPartitionGuid(base: Uint8Array, n: number): Uint8Array {
  const u = base.slice();
  u[9] = u[9]! ^ (n & 0xff);
  u[10] = u[10]! ^ ((n >>> 8) & 0xff);
  u[11] = u[11]! ^ ((n >>> 16) & 0xff);
  u[12] = u[12]! ^ ((n >>> 24) & 0xff);
  return u;
}
