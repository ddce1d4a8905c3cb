/**
 * The system area and partition tables of a hybrid ISO, decided the way xorriso (libisofs 1.5)
 * decides them, so that the same options give the same MBR, GPT and APM:
 *
 * - MBR: a template (isohdpfx.bin, GRUB's boot_hybrid.img) patched as isohybrid (boot image
 *   LBA × 4 at 432, disk signature at 440, partition 1 over the image: type 0x17, or 0x00 when boot
 *   images are marked in GPT/APM, which then also get 0xEF entries), or as GRUB2 (LBA × 4 + 4 at
 *   432) with a protective "msdos label"; a simple table for a partition offset or appended
 *   partitions; 0xEE over the disk when a GPT exists; an active entry where the MBR code needs one.
 * - GPT: entries for boot images marked -isohybrid-gpt-basdat/-hfsplus (plus one over the whole ISO),
 *   the prepended ESP (-efi-boot-part), appended partitions; gaps between them filled with basic
 *   data partitions ("Gap0", …; "ISO9660" for the one that is exactly the ISO); 248 entries from
 *   sector 2 (fewer, later, after an APM); the backup at the end of the image.
 * - APM: entries for boot images marked -isohybrid-apm-hfsplus, after the map's own entry.
 *
 * GUIDs come from the volume modification date (xorriso's "volume_date_uuid" mode, which it uses
 * under SOURCE_DATE_EPOCH), the MBR disk signature from the CRC32 of that date's digits.
 */
import { crc32, ErrorCodes, ImgkitError, warnOrThrow } from '@imgkit/core';
import {
  chs,
  encodeGpt,
  encodeMbr,
  encodeMbrRecord,
  GPT_ATTRIBUTE_BITS,
  GPT_TYPES,
  MBR_BOOTABLE,
  MBR_RECORDS_OFFSET,
  parseGuid as gptGuid,
  type ChsGeometry,
  type GptEntryFields,
  type MbrRecord,
} from '@imgkit/partition';
import { APM_BLOCK_SIZE, type ApmPartition, writeApm } from './apm.js';
import type { ResolvedIsoOptions } from './options.js';

export const SYSTEM_AREA_BYTES = 32768;
const BLOCK = 2048;
/** The system area's partition tables count 512-byte sectors, whatever the medium's block size. */
const SECTOR = 512;

const GUID_EFI_SYSTEM = gptGuid(GPT_TYPES.esp);
const GUID_BASIC_DATA = gptGuid(GPT_TYPES['basic-data']);
/** Apple HFS+ (Apple's type GUID; -isohybrid-gpt-hfsplus). */
const GUID_HFS_PLUS = gptGuid('48465300-0000-11AA-AA11-00306543ECAC');
/** GPT attributes xorriso sets on the entries it makes itself: required (bit 0) and read-only (bit 60). */
const GPT_ATTR_XORRISO = (1n << BigInt(GPT_ATTRIBUTE_BITS['read-only'])) | (1n << BigInt(GPT_ATTRIBUTE_BITS.required));
/** "No CHS address": what xorriso writes for the EFI/HFS+ images it lists in an isohybrid MBR. */
export const CHS_NONE = new Uint8Array([0xfe, 0xff, 0xff]);
/** CHS start of GRUB's protective msdos label and of a GPT's protective entry (UEFI §5.2.3 Table 5-4). */
const CHS_SECTOR_1 = new Uint8Array([0x00, 0x02, 0x00]);

/**
 * CHS of a sector as syslinux's isohybrid and xorriso write partition 1 of an isohybrid MBR: beyond
 * cylinder 1023 the head is `heads` (one past the last), not `heads − 1` as in the other entries
 * (partition's `chs`, libisofs write_mbr_partition_entry).
 */
export function isohybridChs(lba: number, g: ChsGeometry): Uint8Array {
  const c = chs(lba, g);
  if (Math.floor(lba / (g.heads * g.sectorsPerTrack)) > 1023) c[0] = g.heads & 0xff;
  return c;
}

/** Put MBR record `slot` (1…4) into the system area, and the 0x55AA signature (UEFI §5.2.1 Table 5-1). */
function putRecord(area: Uint8Array, slot: number, r: MbrRecord, g: ChsGeometry): void {
  area.set(encodeMbrRecord({ ...r, sectorCount: Math.min(r.sectorCount, 0xffffffff) }, g, `mbr.partitionRecords[${slot - 1}]`), recordAt(slot));
  area[510] = 0x55;
  area[511] = 0xaa;
}

function recordAt(slot: number): number {
  return MBR_RECORDS_OFFSET + 16 * (slot - 1);
}

function slotUsed(area: Uint8Array, slot: number): boolean {
  const at = recordAt(slot);
  return area.subarray(at, at + 16).some((b) => b !== 0);
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
  b[7] = (b[7]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return b;
}

export function gptPartitionGuid(base: Uint8Array, n: number): Uint8Array {
  const u = base.slice();
  u[9] = u[9]! ^ (n & 0xff);
  u[10] = u[10]! ^ ((n >>> 8) & 0xff);
  u[11] = u[11]! ^ ((n >>> 16) & 0xff);
  u[12] = u[12]! ^ ((n >>> 24) & 0xff);
  return u;
}

/** A boot image as the partition tables see it. */
export interface SaBootImage {
  platform: number;
  gptMark: 0 | 1 | 2;
  apmMark: boolean;
  /** 0-based appended partition, or -1 for a file of the ISO. */
  appended: number;
  /** For a file: its LBA and size. */
  lba: number;
  sizeBytes: number;
}

export interface SaAppended {
  startBlock: number;
  sizeBlocks: number;
  typeByte: number;
  typeGuid: Uint8Array | undefined;
}

/** What the tables need to know before the layout: does a GPT exist, where do its entries go. */
export interface PartitionTablePlan {
  gpt: boolean;
  /** Marked boot images counted by isohybrid (their index in the boot list). */
  marked: number[];
  apmEntries: number;
  gptEntriesLba: number;
  gptEntryCount: number;
  /** 2 KiB blocks of the backup GPT area at the end. */
  gptBackupBlocks: number;
}

function isohybridMarked(o: ResolvedIsoOptions): number[] {
  const out: number[] = [];
  o.boot.forEach((b, i) => {
    if (b.gptMark !== 0 && !(b.appended >= 0 && o.sa.appendedAsGpt)) out.push(i);
  });
  return out;
}

function haveAppended(o: ResolvedIsoOptions): boolean {
  return o.sa.appended.some((a) => a !== undefined);
}

/** libisofs precompute_gpt / assess_isohybrid_gpt_apm: which tables exist and their geometry. */
export function planPartitionTables(o: ResolvedIsoOptions): PartitionTablePlan {
  const sa = o.sa;
  const marksApply = sa.isohybrid || sa.partLikeIsohybrid;
  const marked = marksApply ? isohybridMarked(o) : [];
  const apmMarks = marksApply ? o.boot.filter((b) => b.apmMark).length : 0;
  let gptReqs = marked.length > 0 ? 1 : 0;
  if (sa.efiBootPartition !== undefined) gptReqs++;
  const gpt = gptReqs > 0 || (haveAppended(o) && sa.appendedAsGpt);
  const apmEntries = apmMarks > 0 ? apmMarks + 1 : 0;
  let entriesLba = apmEntries > 0 ? ((apmEntries + 1) * APM_BLOCK_SIZE) / SECTOR : 2;
  if (entriesLba < 2) entriesLba = 2;
  if (entriesLba >= 64) throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'apm.entries', detail: 'too many APM entries leave no room for the GPT' });
  const entryCount = (64 - entriesLba) * 4;
  return {
    gpt,
    marked,
    apmEntries,
    gptEntriesLba: entriesLba,
    gptEntryCount: entryCount,
    gptBackupBlocks: gpt ? Math.ceil(((entryCount / 4 + 1) * SECTOR) / BLOCK) : 0,
  };
}

/** libisofs iso_align_isohybrid: geometry for big images, and the padding that aligns the image to cylinders. */
export function alignment(
  o: ResolvedIsoOptions,
  imgBlocks: number,
  warn: (detail: string) => void,
): { heads: number; sectors: number; padBlocks: number; postPadBytes: number } {
  const sa = o.sa;
  let heads = sa.heads;
  let sectors = sa.sectors;
  const imgBytes = imgBlocks * BLOCK;
  const alignMode = sa.cylAlign;
  if (!(sa.appendedAsGpt && haveAppended(o)) && (sa.isohybrid || sa.protective || alignMode !== 'auto') && heads * sectors * 1024 * SECTOR < imgBytes) {
    // Small values that can still describe the image in 1024 cylinders: 32 sectors, else 63.
    const trySph = (sph: number): number | undefined => {
      const hdBlocks = Math.floor(imgBytes / SECTOR);
      let hpc = Math.ceil(hdBlocks / sph / 1024);
      if (sph % 4 === 0) {
        /* fine */
      } else if (sph % 2 === 0) hpc += hpc % 2;
      else if (hpc % 4) hpc += 4 - (hpc % 4);
      return hpc > 255 ? undefined : hpc;
    };
    const h32 = trySph(32);
    if (h32 !== undefined) {
      heads = h32;
      sectors = 32;
    } else {
      sectors = 63;
      heads = trySph(63) ?? 255;
    }
  }
  const none = { heads, sectors, padBlocks: 0, postPadBytes: 0 };
  if (alignMode === 'off') return none;
  const cylBytes = sa.isohybrid || alignMode === 'on' || alignMode === 'all' ? heads * sectors * SECTOR : 0;
  if (cylBytes === 0) return none;
  if (imgBytes / cylBytes > 1024) {
    warn('the image is larger than 1024 cylinders, so it cannot be aligned to them; some BIOSes are said not to boot such an image from its MBR');
    return none;
  }
  const frac = imgBytes % cylBytes;
  const extra = frac > 0 ? cylBytes - frac : 0;
  if (extra === 0) return none;
  return { heads, sectors, padBlocks: Math.ceil(extra / BLOCK), postPadBytes: extra % BLOCK ? BLOCK - (extra % BLOCK) : 0 };
}

export interface SystemAreaLayout {
  plan: PartitionTablePlan;
  heads: number;
  sectors: number;
  /** ECMA-119 volume space size: the whole image, or up to the appended partitions. */
  volumeBlocks: number;
  totalBlocks: number;
  /** Bytes of the alignment that a 2 KiB block count cannot express (odd geometries). */
  postPadBytes: number;
  partitionOffset: number;
  boot: SaBootImage[];
  appended: (SaAppended | undefined)[];
  /** The prepended ESP (-efi-boot-part), in 2 KiB blocks. */
  efiBootPart: { startBlock: number; sizeBlocks: number } | undefined;
  /** 16 digits of the volume modification date (seeds the GUIDs and the disk signature). */
  dateDigits: string;
}

export interface SystemAreaBytes {
  area: Uint8Array;
  /** Backup GPT (entries + header), to be the last bytes of the image. */
  gptBackup: Uint8Array | undefined;
  /** The ECMA-119 PVD volume space size counts the whole image (protective label, partition offset). */
  pvdCountsTotal: boolean;
}

interface GptReq {
  start: number;
  count: number;
  type: Uint8Array;
  name: string;
  attributes: bigint;
  filler?: boolean;
}

/** Compose the 32 KiB system area and the backup GPT. */
export function encodeSystemArea(o: ResolvedIsoOptions, l: SystemAreaLayout): SystemAreaBytes {
  const sa = o.sa;
  const area = new Uint8Array(SYSTEM_AREA_BYTES);
  if (sa.template) area.set(sa.template);
  const warn = (detail: string) => warnOrThrow({ code: ErrorCodes.BAD_OPTION, format: 'iso9660', detail }, o.onWarning, o.strict);
  const geometry: ChsGeometry = { heads: l.heads, sectorsPerTrack: l.sectors };
  const imgBlocks = l.volumeBlocks;
  const appendedOutside = l.appended.some((a) => a !== undefined);
  const gptBlocks = appendedOutside ? l.totalBlocks : imgBlocks;
  const firstBoot = l.boot[0];

  // GPT and APM requests (libisofs partprepend writer, assess_isohybrid_gpt_apm, assess_appended_gpt).
  const gptReqs: GptReq[] = [];
  const apmParts: ApmPartition[] = [];
  let overlapOk = false;
  if (l.efiBootPart) {
    gptReqs.push({ start: l.efiBootPart.startBlock * 4, count: l.efiBootPart.sizeBlocks * 4, type: GUID_EFI_SYSTEM, name: 'EFI boot partition', attributes: GPT_ATTR_XORRISO });
  }
  if (sa.isohybrid || sa.partLikeIsohybrid) {
    l.plan.marked.forEach((idx, n) => {
      const b = l.boot[idx]!;
      const a = b.appended >= 0 ? l.appended[b.appended]! : undefined;
      const start = a ? a.startBlock * 4 : b.lba * 4;
      const count = a ? a.sizeBlocks * 4 : Math.floor(b.sizeBytes / BLOCK) * 4;
      gptReqs.push({ start, count, type: b.gptMark === 2 ? GUID_HFS_PLUS : GUID_BASIC_DATA, name: `ISOHybrid${n + 1}`, attributes: GPT_ATTR_XORRISO });
    });
    l.boot.forEach((b) => {
      if (!b.apmMark) return;
      const a = b.appended >= 0 ? l.appended[b.appended]! : undefined;
      apmParts.push({ name: 'EFI', type: 'Apple_HFS', startBlock: a ? a.startBlock : b.lba, blockCount: a ? a.sizeBlocks : Math.floor(b.sizeBytes / BLOCK) });
    });
    if (sa.isohybrid && l.plan.marked.length > 0) {
      // The whole ISO, open ended (cut at the volume end below); partitions may overlap it.
      gptReqs.push({ start: l.partitionOffset * 4, count: 4 * 0xffffffff, type: GUID_BASIC_DATA, name: 'ISOHybrid', attributes: GPT_ATTR_XORRISO });
      overlapOk = true;
    }
  }
  if (appendedOutside && (gptReqs.length > 0 || sa.appendedAsGpt)) {
    l.appended.forEach((a, i) => {
      if (!a) return;
      if (gptReqs.some((r) => r.start === a.startBlock * 4 && r.count === a.sizeBlocks * 4)) return;
      const type = a.typeGuid ?? (a.typeByte === 0xef ? GUID_EFI_SYSTEM : GUID_BASIC_DATA);
      gptReqs.push({ start: a.startBlock * 4, count: a.sizeBlocks * 4, type, name: `Appended${i + 1}`, attributes: 0n });
    });
  }
  if (apmParts.length > 0) {
    apmParts.unshift({ name: 'Apple', type: 'Apple_partition_map', startBlock: 1, blockCount: 0 });
    apmParts.sort((a, b) => a.startBlock - b.startBlock || b.blockCount - a.blockCount);
    apmParts[0]!.blockCount = apmParts.length;
  }

  // MBR entries requested before the system area is composed: the ESP before the data needs a GPT,
  // and the MBR protects it with 0xEE from sector 1 (libisofs partprepend writer).
  const mbrReqs: { start: number; count: number; type: number }[] = [];
  if (l.efiBootPart) mbrReqs.push({ start: 1, count: imgBlocks * 4 - 1, type: 0xee });
  if (sa.isohybrid && mbrReqs.length > 0) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'iso9660',
      field: 'systemArea.efiBootPartition',
      detail: 'an isohybrid MBR and an ESP before the data (-efi-boot-part) both want MBR partition 1',
      hint: 'use -isohybrid-gpt-basdat on the EFI entry instead of -efi-boot-part, or --grub2-mbr instead of -isohybrid-mbr',
    });
  }

  if (apmParts.length > 0) writeApm(area, apmParts, sa.isohybrid);
  if (mbrReqs.length > 0) {
    // libisofs iso_write_mbr: the whole table is rewritten from the requests.
    area.fill(0, MBR_RECORDS_OFFSET, MBR_RECORDS_OFFSET + 64);
    mbrReqs.forEach((r, i) => putRecord(area, i + 1, { type: r.type, startLba: r.start, sectorCount: r.count }, geometry));
  }
  let riskOfEe = mbrReqs.length > 0;
  let gptBackup: Uint8Array | undefined;
  let gptWritten = false;
  if (gptReqs.length > 0) {
    if (!l.plan.gpt) throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'gpt', detail: 'GPT partitions were planned without a GPT (layout bug)' });
    gptBackup = encodeGptTable(o, l, gptReqs, overlapOk, gptBlocks, area);
    gptWritten = true;
  }

  let partType = 0;
  if (sa.protective && !sa.isohybrid) {
    if (mbrReqs.length === 0) {
      let blocks: number;
      if (gptWritten && !sa.partLikeIsohybrid) {
        partType = 0xee;
        blocks = gptBlocks;
      } else {
        partType = sa.isoMbrType >= 0 ? sa.isoMbrType : 0xcd;
        blocks = imgBlocks;
      }
      msdosLabel(area, blocks, geometry, partType, true);
      riskOfEe = true;
    }
  } else if (sa.isohybrid) {
    if (!firstBoot || firstBoot.appended >= 0) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', field: 'systemArea.mbrCode', detail: 'the isohybrid MBR needs the first boot image inside the ISO', hint: 'put the BIOS image (--bios-boot) first' });
    }
    let blocks = imgBlocks;
    let protectiveMbr = false;
    partType = l.plan.marked.length > 0 || apmParts.length > 0 ? 0x00 : sa.isoMbrType >= 0 ? sa.isoMbrType : 0x17;
    if (sa.appendedAsGpt && appendedOutside) {
      partType = 0xee;
      riskOfEe = true;
      blocks = gptBlocks;
      protectiveMbr = true;
    }
    isohybridMbr(area, l, blocks, partType, protectiveMbr, firstBoot.lba);
  } else if ((l.partitionOffset > 0 || appendedOutside) && mbrReqs.length === 0) {
    partType = sa.isoMbrType >= 0 ? sa.isoMbrType : 0xcd;
    msdosLabel(area, imgBlocks, geometry, partType, false);
    riskOfEe = true;
    if (sa.appendedAsGpt && appendedOutside) {
      partType = 0xee;
      putRecord(area, 1, { type: 0xee, startLba: 1, sectorCount: gptBlocks * 4 - 1 }, geometry);
    } else if (l.partitionOffset === 0) {
      partType = sa.isoMbrType >= 0 ? sa.isoMbrType : 0x83;
      putRecord(area, 1, { type: partType, startLba: 0, sectorCount: imgBlocks * 4 - l.postPadBytes / SECTOR }, geometry);
    }
  }
  // A requested 0xEE entry covers the GPT's disk.
  if (gptWritten && mbrReqs.length === 1 && mbrReqs[0]!.type === 0xee && area[MBR_RECORDS_OFFSET + 4] === 0xee) {
    partType = 0xee;
    riskOfEe = true;
    putRecord(area, 1, { type: 0xee, startLba: 1, sectorCount: gptBlocks * 4 - 1 }, geometry);
  }
  // With a partition offset, partition 1 starts there (libisofs iso_offset_partition_start).
  if (l.partitionOffset > 0 && mbrReqs.length === 0) {
    const protective = partType === 0xee && gptWritten;
    offsetPartitionOne(area, protective ? l.totalBlocks : imgBlocks, l, protective);
  }
  // Appended partitions as MBR entries (unless they went into the GPT).
  if (!sa.appendedAsGpt) {
    l.appended.forEach((a, i) => {
      if (!a) return;
      if (i < mbrReqs.length) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', field: 'systemArea.appendedPartitions', detail: `appended partition ${i + 1} collides with MBR entry ${i + 1}`, hint: 'use another partition number' });
      putRecord(area, i + 1, { type: a.typeByte, startLba: a.startBlock * 4, sectorCount: a.sizeBlocks * 4 }, geometry);
    });
  }
  // GRUB2's MBR code loads the sector at 432 + 4 (it reads sector +4 … onwards of its core).
  if (sa.grub2Mbr && !sa.isohybrid) {
    if (!firstBoot || firstBoot.appended >= 0) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', field: 'systemArea.mbrCode', detail: 'the GRUB2 MBR needs the first boot image inside the ISO', hint: 'put GRUB\'s eltorito.img (--bios-boot) first' });
    }
    new DataView(area.buffer).setBigUint64(432, BigInt(firstBoot.lba) * 4n + 4n, true);
  }
  // No 0xEE entry without a GPT behind it.
  if ((sa.protective || sa.isohybrid || riskOfEe) && (sa.partLikeIsohybrid || !gptWritten) && sa.isoMbrType !== 0xee) {
    for (let slot = 1; slot <= 4; slot++) {
      const at = recordAt(slot) + 4;
      if (area[at] === 0xee) {
        warn('an MBR partition of type 0xEE without a GPT behind it would make firmware look for one; it gets type 0xCD');
        area[at] = sa.isoMbrType >= 0 ? sa.isoMbrType : 0xcd;
      }
    }
  }
  // An MBR whose code or purpose needs an active partition (protective label, isohybrid, GRUB2, forced).
  if (sa.protective || sa.isohybrid || sa.grub2Mbr || sa.forceBootable) markActive(area, sa.forceBootable);
  return { area, gptBackup, pvdCountsTotal: (sa.protective && !sa.isohybrid) || l.partitionOffset > 0 };
}

/** GPT entries sorted by start (the largest first at equal starts), gaps filled, then encoded. */
function encodeGptTable(o: ResolvedIsoOptions, l: SystemAreaLayout, reqs: GptReq[], overlapOk: boolean, gptBlocks: number, area: Uint8Array): Uint8Array {
  const backupEnd = l.totalBlocks; // the backup GPT area is always the end of the image
  const backupEndLba = (backupEnd - l.plan.gptBackupBlocks) * 4;
  const byStart = (a: GptReq, b: GptReq) => a.start - b.start || b.count - a.count;
  reqs.sort(byStart);
  if (!o.sa.partLikeIsohybrid) {
    const sorted = [...reqs];
    let partEnd = 0;
    let gap = 0;
    for (let i = 0; i <= sorted.length; i++) {
      const goal = i < sorted.length ? sorted[i]!.start : Math.min(gptBlocks * 4, backupEndLba);
      let nextEnd: number;
      if (i === 0) {
        if (goal <= 64) continue;
        nextEnd = 64;
      } else nextEnd = sorted[i - 1]!.start + sorted[i - 1]!.count;
      if (nextEnd > partEnd) partEnd = nextEnd;
      if (partEnd > goal) {
        if (!overlapOk) {
          throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'gpt.entries', detail: `GPT partitions ${i} and ${i + 1} overlap by ${partEnd - goal} sectors (layout bug)` });
        }
      } else if (partEnd < goal) {
        let type = GUID_BASIC_DATA;
        let name = `Gap${gap}`;
        if (goal === l.volumeBlocks * 4 && partEnd === l.partitionOffset * 4) {
          name = 'ISO9660';
          if (o.sa.isoGptType) type = o.sa.isoGptType;
        }
        gap++;
        reqs.push({ start: partEnd, count: goal - partEnd, type, name, attributes: GPT_ATTR_XORRISO, filler: true });
      }
    }
    reqs.sort(byStart);
  }
  const base = baseGuid(o, l.dateDigits);
  const entries: GptEntryFields[] = reqs.map((r, i) => {
    let end = r.start + r.count;
    if (r.start === l.partitionOffset * 4 && r.count === 4 * 0xffffffff) end = l.volumeBlocks * 4;
    if (end > backupEndLba) end = backupEndLba;
    return { typeGuid: r.type, uniqueGuid: gptPartitionGuid(base, i + 1), startLba: r.start, endLba: end - 1, attributes: r.attributes, name: r.name };
  });
  // UEFI §5.3 through @imgkit/partition, with xorriso's geometry: the entry array right after the
  // header (or after an APM), first usable sector after it, the backup at the end of the image.
  const g = encodeGpt({ sectorSize: SECTOR, diskSectors: backupEnd * 4, diskGuid: base, entries, entryCount: l.plan.gptEntryCount, entryArrayLba: l.plan.gptEntriesLba });
  area.set(g.primaryHeader, SECTOR);
  area.set(g.entryArray, g.primaryEntryLba * SECTOR);
  // The backup area is whole 2 KiB blocks: zeros, entries, header in the last sector.
  const backup = new Uint8Array(l.plan.gptBackupBlocks * BLOCK);
  backup.set(g.backupHeader, backup.byteLength - SECTOR);
  backup.set(g.entryArray, backup.byteLength - SECTOR - g.entryArray.byteLength);
  return backup;
}

function baseGuid(o: ResolvedIsoOptions, dateDigits: string): Uint8Array {
  return o.sa.gptDiskGuid ?? gptGuidBase(dateDigits);
}

/**
 * GRUB's "protective msdos label" (libisofs make_grub_msdos_label): entry 1 from sector 1 to the end
 * of `blocks`, CHS start 0/2/0, active unless it is 0xEE/0xEF; the other entries cleared.
 */
function msdosLabel(area: Uint8Array, blocks: number, g: ChsGeometry, type: number, bootable: boolean): void {
  area.fill(0, MBR_RECORDS_OFFSET, 510);
  const last = blocks * 4 - 1;
  putRecord(area, 1, { bootable: bootable && type !== 0xee && type !== 0xef, type, startLba: 1, sectorCount: last, startingChs: CHS_SECTOR_1 }, g);
}

/**
 * syslinux isohybrid's MBR (libisofs make_isolinux_mbr): the template's code with the boot image's
 * 512-byte sector address as a u64 at 432, the disk signature from the volume date, and a new table.
 */
function isohybridMbr(area: Uint8Array, l: SystemAreaLayout, blocks: number, type: number, protectiveMbr: boolean, bootLba: number): void {
  const address = new Uint8Array(8);
  new DataView(address.buffer).setBigUint64(0, BigInt(bootLba) * 4n, true);
  const g: ChsGeometry = { heads: l.heads, sectorsPerTrack: l.sectors };
  const hdBlocks = blocks * 4 - l.postPadBytes / SECTOR;
  const partStart = protectiveMbr ? 1 : 0;
  const records: (MbrRecord | null)[] = [
    {
      bootable: !protectiveMbr,
      type,
      startLba: partStart,
      sectorCount: Math.min(hdBlocks - partStart, 0xffffffff),
      startingChs: isohybridChs(partStart, g),
      endingChs: isohybridChs(hdBlocks - 1, g),
    },
  ];
  // Marked images follow partition 1 as 0xEF (HFS+: 0x00) entries; the whole-ISO GPT entry and
  // images outside the ISO leave their slot empty.
  for (const idx of [...l.plan.marked, -1].slice(0, 3)) {
    const b = idx >= 0 ? l.boot[idx]! : undefined;
    records.push(b && b.appended < 0 ? { type: b.gptMark === 2 ? 0x00 : 0xef, startLba: b.lba * 4, sectorCount: Math.ceil(b.sizeBytes / SECTOR), startingChs: CHS_NONE, endingChs: CHS_NONE } : null);
  }
  const mbr = encodeMbr({
    bootCode: area.subarray(0, 440),
    bootCodePatches: [{ offset: 432, bytes: address }],
    diskSignature: crc32(new TextEncoder().encode(l.dateDigits)),
    records,
    geometry: g,
  });
  area.set(mbr, 0);
}

/** Partition 1 starts at the partition offset (libisofs iso_offset_partition_start). */
function offsetPartitionOne(area: Uint8Array, blocks: number, l: SystemAreaLayout, protective: boolean): void {
  const at = MBR_RECORDS_OFFSET;
  const g: ChsGeometry = { heads: l.heads, sectorsPerTrack: l.sectors };
  const start = protective ? 1 : l.partitionOffset * 4;
  const end = blocks * 4 - l.postPadBytes / SECTOR - 1;
  const r: MbrRecord = { bootable: area[at] === MBR_BOOTABLE, type: area[at + 4]!, startLba: start, sectorCount: end - start + 1 };
  if (protective) r.startingChs = CHS_SECTOR_1;
  putRecord(area, 1, r, g);
  if (protective) area.fill(0, at + 16, at + 64);
}

/** Some entry must be active; with --mbr-force-bootable add a dummy one (libisofs iso_dummy_mbr_partition). */
function markActive(area: Uint8Array, force: boolean): void {
  for (let s = 1; s <= 4; s++) if (area[recordAt(s)]! & MBR_BOOTABLE) return;
  for (let s = 1; s <= 4; s++) {
    const t = area[recordAt(s) + 4];
    if (slotUsed(area, s) && t !== 0xee && t !== 0xef) {
      area[recordAt(s)] = area[recordAt(s)]! | MBR_BOOTABLE;
      return;
    }
  }
  if (!force) return;
  for (let s = 1; s <= 4; s++) {
    if (!slotUsed(area, s)) {
      // Active, type 0, sector 0, one sector long, CHS 0/0/1 at both ends (the signature stays as it is).
      const chs001 = new Uint8Array([0x00, 0x01, 0x00]);
      area.set(encodeMbrRecord({ bootable: true, type: 0, startLba: 0, sectorCount: 1, startingChs: chs001, endingChs: chs001 }), recordAt(s));
      return;
    }
  }
  for (let s = 1; s <= 4; s++) {
    if (area[recordAt(s) + 4] !== 0xef) {
      area[recordAt(s)] = area[recordAt(s)]! | MBR_BOOTABLE;
      return;
    }
  }
  area[recordAt(4)] = area[recordAt(4)]! | MBR_BOOTABLE;
}
