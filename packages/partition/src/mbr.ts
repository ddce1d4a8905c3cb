/**
 * The master boot record: the first logical block of the disk (UEFI 2.10 §5.2.1 "Legacy Master Boot
 * Record (MBR)", Table 5-1 and Table 5-2), the protective MBR that precedes a GPT (§5.2.3, Tables
 * 5-3 and 5-4), and the CHS addresses its records still carry.
 *
 * The structure is 512 bytes even on disks with 4096-byte logical blocks (the rest of block 0 is
 * zero). Table 5-1 names bytes 0–423 BootCode and leaves 424–439 unnamed; PC boot code (syslinux's
 * mbr.bin, isohybrid's isohdpfx.bin, GRUB's boot.img) uses all of 0–439, so `bootCode` covers both.
 */
import { ErrorCodes, ImgkitError, bytes, struct, u16le, u32le, u8 } from '@imgkit/core';

export const MBR_SIZE = 512;
export const MBR_SIGNATURE = 0xaa55;
export const MBR_BOOT_CODE_BYTES = 440;
export const MBR_RECORDS_OFFSET = 446;
export const MBR_RECORD_COUNT = 4;
/** Boot indicator of the active (legacy-bootable) partition. */
export const MBR_BOOTABLE = 0x80;

// UEFI 2.10 §5.2.1 Table 5-2 "Legacy MBR Partition Record", 16 bytes, little-endian.
export const MbrPartitionRecord = struct('mbr.partition', 16, {
  bootIndicator: u8(0), // 0x80 = bootable (legacy), 0x00 otherwise
  startingChs: bytes(1, 3), // head, sector | cylinder bits 8–9 << 6, cylinder bits 0–7
  osType: u8(4),
  endingChs: bytes(5, 3),
  startingLba: u32le(8),
  sizeInLba: u32le(12),
});

// UEFI 2.10 §5.2.1 Table 5-1 "Legacy MBR" (§5.2.3 Table 5-3 for the protective MBR: same layout).
export const LegacyMbr = struct('mbr', MBR_SIZE, {
  bootCode: bytes(0, MBR_BOOT_CODE_BYTES),
  uniqueMbrDiskSignature: u32le(440),
  unknown: u16le(444), // zero; some old tools call it copy protection
  partitionRecords: bytes(MBR_RECORDS_OFFSET, 16 * MBR_RECORD_COUNT),
  signature: u16le(510), // 0xAA55: bytes 55 AA
});

/** Heads per cylinder and sectors per track for CHS addresses. */
export interface ChsGeometry {
  heads: number;
  sectorsPerTrack: number;
}
/** fdisk, sfdisk, sgdisk and genimage: 255 heads, 63 sectors per track. */
export const DEFAULT_CHS_GEOMETRY: ChsGeometry = { heads: 255, sectorsPerTrack: 63 };
/** isohybrid (syslinux) and xorriso's isohybrid MBR: 64 heads, 32 sectors per track. */
export const ISOHYBRID_CHS_GEOMETRY: ChsGeometry = { heads: 64, sectorsPerTrack: 32 };

/**
 * The 3-byte CHS address of `lba`. Beyond cylinder 1023 it is the largest address the geometry has
 * (cylinder 1023, last head, last sector: FE FF FF for 255/63), as fdisk, sfdisk and libisofs write
 * it; UEFI §5.2.3 wants FF FF FF instead in the protective record (see `protectiveRecord`).
 */
export function chs(lba: number, geometry: ChsGeometry = DEFAULT_CHS_GEOMETRY): Uint8Array {
  const { heads, sectorsPerTrack: spt } = geometry;
  let cyl = Math.floor(lba / (heads * spt));
  let head = Math.floor(lba / spt) % heads;
  let sector = (lba % spt) + 1;
  if (cyl > 1023) {
    cyl = 1023;
    head = heads - 1;
    sector = spt;
  }
  return new Uint8Array([head, sector | ((cyl >> 2) & 0xc0), cyl & 0xff]);
}

/** One MBR partition record (or EBR entry) in LBA terms. */
export interface MbrRecord {
  /** Boot indicator 0x80. @default false */
  bootable?: boolean;
  /** System indicator (OS type) byte, 0x01–0xff. */
  type: number;
  startLba: number;
  sectorCount: number;
  /** CHS bytes to write instead of the computed ones (for reproducing another tool's bytes). */
  startingChs?: Uint8Array;
  endingChs?: Uint8Array;
}

export interface MbrContents {
  /** Boot code for bytes 0–439: at most 440 bytes (shorter is zero-padded), or a whole 512-byte MBR sector whose first 440 bytes are taken. */
  bootCode?: Uint8Array;
  /**
   * Bytes patched into the boot code area after `bootCode`, e.g. isohybrid's boot image address at
   * 432 (El Torito boot image LBA × 4, u32 little-endian). Each must lie inside bytes 0–439.
   */
  bootCodePatches?: readonly { offset: number; bytes: Uint8Array }[];
  /** UniqueMBRDiskSignature at 440 (fdisk's "disk identifier"). @default 0 (what UEFI §5.2.3 asks of a protective MBR) */
  diskSignature?: number;
  /** Up to four records for slots 1–4; `null` leaves a slot empty. */
  records: readonly (MbrRecord | null)[];
  /** @default DEFAULT_CHS_GEOMETRY */
  geometry?: ChsGeometry;
}

/** Encode one 16-byte partition record. */
export function encodeMbrRecord(r: MbrRecord, geometry: ChsGeometry = DEFAULT_CHS_GEOMETRY, field = 'mbr.partition'): Uint8Array {
  if (r.sectorCount < 1) throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'partition', field, detail: `an MBR record needs at least one sector, not ${r.sectorCount}` });
  return MbrPartitionRecord.encode({
    bootIndicator: r.bootable ? MBR_BOOTABLE : 0,
    startingChs: r.startingChs ?? chs(r.startLba, geometry),
    osType: r.type,
    endingChs: r.endingChs ?? chs(r.startLba + r.sectorCount - 1, geometry),
    startingLba: r.startLba,
    sizeInLba: r.sectorCount,
  });
}

/** Encode the 512-byte MBR. */
export function encodeMbr(m: MbrContents): Uint8Array {
  if (m.records.length > MBR_RECORD_COUNT) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'partition', field: 'mbr.partitionRecords', detail: `an MBR holds ${MBR_RECORD_COUNT} records, not ${m.records.length}` });
  }
  let code = m.bootCode ?? new Uint8Array(0);
  if (code.byteLength === MBR_SIZE) code = code.subarray(0, MBR_BOOT_CODE_BYTES);
  if (code.byteLength > MBR_BOOT_CODE_BYTES) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, {
      format: 'partition',
      field: 'mbr.bootCode',
      detail: `boot code is ${code.byteLength} bytes; the MBR holds 440 (or give a whole 512-byte sector)`,
    });
  }
  const area = new Uint8Array(MBR_BOOT_CODE_BYTES);
  area.set(code);
  for (const p of m.bootCodePatches ?? []) {
    if (p.offset < 0 || p.offset + p.bytes.byteLength > MBR_BOOT_CODE_BYTES) {
      throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'partition', field: 'mbr.bootCode', detail: `patch at ${p.offset}+${p.bytes.byteLength} lies outside bytes 0–439` });
    }
    area.set(p.bytes, p.offset);
  }
  const records = new Uint8Array(16 * MBR_RECORD_COUNT);
  m.records.forEach((r, i) => {
    if (r) records.set(encodeMbrRecord(r, m.geometry, `mbr.partitionRecords[${i}]`), 16 * i);
  });
  return LegacyMbr.encode({
    bootCode: area,
    uniqueMbrDiskSignature: (m.diskSignature ?? 0) >>> 0,
    unknown: 0,
    partitionRecords: records,
    signature: MBR_SIGNATURE,
  });
}

export interface DecodedMbrRecord {
  slot: number;
  bootIndicator: number;
  type: number;
  startLba: number;
  sectorCount: number;
  startingChs: Uint8Array;
  endingChs: Uint8Array;
}

/** Decode an MBR (or EBR) sector: signature check, the non-empty records. */
export function decodeMbr(sector: Uint8Array): { bootCode: Uint8Array; diskSignature: number; records: DecodedMbrRecord[] } {
  const m = LegacyMbr.decode(sector);
  if (m.signature !== MBR_SIGNATURE) {
    throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'partition', field: 'mbr.signature', detail: `signature is 0x${m.signature.toString(16)}, not 0xaa55` });
  }
  const records: DecodedMbrRecord[] = [];
  for (let i = 0; i < MBR_RECORD_COUNT; i++) {
    const r = MbrPartitionRecord.decode(m.partitionRecords, 16 * i);
    if (r.osType === 0 && r.sizeInLba === 0) continue;
    records.push({ slot: i + 1, bootIndicator: r.bootIndicator, type: r.osType, startLba: r.startingLba, sectorCount: r.sizeInLba, startingChs: r.startingChs, endingChs: r.endingChs });
  }
  return { bootCode: m.bootCode, diskSignature: m.uniqueMbrDiskSignature, records };
}

/**
 * UEFI 2.10 §5.2.3 Table 5-4: the protective record, type 0xEE from LBA 1 over the rest of the disk
 * (SizeInLBA capped at 0xFFFFFFFF), StartingCHS 0x000200, EndingCHS the CHS of the last block or
 * FF FF FF when it cannot be represented (what sgdisk writes too).
 */
export function protectiveRecord(diskSectors: number, geometry: ChsGeometry = DEFAULT_CHS_GEOMETRY): MbrRecord {
  const last = diskSectors - 1;
  const fits = Math.floor(last / (geometry.heads * geometry.sectorsPerTrack)) <= 1023;
  return {
    type: 0xee,
    startLba: 1,
    sectorCount: Math.min(diskSectors - 1, 0xffffffff),
    startingChs: new Uint8Array([0x00, 0x02, 0x00]),
    endingChs: fits ? chs(last, geometry) : new Uint8Array([0xff, 0xff, 0xff]),
  };
}
