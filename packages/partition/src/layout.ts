/**
 * The geometry solver: a table description in, exact sectors and the table bytes out. Pure: it
 * reads nothing and writes nothing, so a composer can plan a whole disk before any content exists.
 *
 * Placement, in the order the partitions are given (the order is also their numbering):
 *   1. A pinned `offset` is taken as is (it must be a multiple of the partition's alignment).
 *   2. Otherwise the partition starts at the first aligned sector after everything placed so far
 *      (the table head, and the furthest end of the partitions before it that are not `mayOverlap`),
 *      as genimage does. A
 *      logical partition first leaves one alignment unit for its EBR, as fdisk, sfdisk and genimage do.
 *   3. One partition may be `'fill'`: it grows to the next pinned partition after it, or to the end of
 *      the usable space; the partitions between it and that fence are packed at the end of the gap
 *      instead (each aligned), so the fill partition takes everything else.
 *   4. Without `sizeBytes` the disk ends at the last partition plus the backup GPT, rounded up to the
 *      table's alignment.
 * Sizes: bytes (a number), a string with K/M/G/T (KiB…TiB; KB/MB/GB/TB are powers of 1000, as in
 * util-linux), a percentage of the disk (rounded down to the partition's alignment), or `'fill'`.
 * Without a size the partition gets its content's minimum (`minSizeBytes`) rounded up to its
 * alignment, as genimage sizes a partition from its image.
 *
 * MBR: more than four primary entries is an error that names them. Logical partitions are asked
 * for explicitly (`logical: true`, or `extendedPartition: n` as genimage's `extended-partition`);
 * the extended partition is then created in the slot of the first logical one and spans from its
 * first EBR to the end of its last logical partition. sfdisk in the same situation silently drops
 * the fifth partition, which is why imgkit refuses instead of guessing.
 *
 * Hybrid (genimage's `partition-table-type = "hybrid"`): every partition is in the GPT; those with an
 * `mbrType` are mirrored into the MBR in order (at most three), followed by a 0xEE entry over the
 * GPT header and primary entry array (LBA 1 to the end of the array), exactly where genimage puts it.
 */
import { ErrorCodes, ImgkitError, NoSpaceError, deterministicId } from '@imgkit/core';
import { resolveAttributes, GPT_ATTRIBUTE_BITS, type GptAttributeName } from './attributes.js';
import { encodeEbr } from './ebr.js';
import { GPT_DEFAULT_ENTRY_COUNT, encodeGptName } from './gpt-entry.js';
import { encodeGpt, entryArraySectors } from './gpt-header.js';
import { deterministicGuid, formatGuid, parseGuid } from './guid.js';
import { DEFAULT_CHS_GEOMETRY, encodeMbr, protectiveRecord, type ChsGeometry, type MbrRecord } from './mbr.js';
import { MBR_TYPES, MBR_TYPE_GPT_PROTECTIVE, resolveGptType, resolveMbrType, type PartitionType } from './types.js';

export type TableKind = 'gpt' | 'mbr' | 'hybrid';
export type SectorSize = 512 | 4096;
/** Bytes, "16M"-style text, "25%" of the disk, or "fill". */
export type SizeSpec = number | string;

export const DEFAULT_ALIGNMENT_BYTES = 1 << 20;
const MBR_MAX = 0xffffffff;

export interface PartitionSpec {
  /** GPT partition name (at most 36 UTF-16 units); also how errors name the partition. @default '' */
  name?: string;
  /**
   * GPT and hybrid: a name from GPT_TYPES or a type GUID. MBR: a name from MBR_TYPES or a byte.
   * @default 'linux'
   */
  type?: PartitionType;
  /** Hybrid: mirror this partition into the MBR with this type (a name from MBR_TYPES or a byte). */
  mbrType?: PartitionType;
  /** Hybrid: put this entry in the MBR only, not in the GPT (needs `mbrType`). @default false */
  mbrOnly?: boolean;
  /** @default the content's minimum (`minSizeBytes`) rounded up to the alignment */
  size?: SizeSpec;
  /** Pin the start (bytes or "1M"-style text); must be a multiple of the alignment. @default placed after the previous partition */
  offset?: number | string;
  /** Start alignment in bytes (or text). @default the table's `alignment` */
  alignment?: number | string;
  /** What the content needs (a plan's `minSizeBytes`); a smaller size is an error. @default 0 */
  minSizeBytes?: number;
  /** MBR boot indicator 0x80; in a GPT the legacy BIOS bootable attribute (bit 2), as genimage does. @default false */
  bootable?: boolean;
  /** GPT attributes: names, bit numbers (0–2, 48–63) or the 64-bit value. @default none */
  attributes?: readonly (GptAttributeName | number)[] | bigint;
  /** Unique partition GUID. @default derived from epoch, label, name and number */
  guid?: string;
  /** MBR: a logical partition inside the extended partition. @default false */
  logical?: boolean;
  /**
   * Skip the overlap checks for this partition (against partitions and table structures): for entries
   * that describe data inside another, as xorriso's GPT and MBR entries over an ISO do. Disk end
   * and GPT usable-range checks still apply. @default false
   */
  mayOverlap?: boolean;
}

export interface PartitionTableSpec {
  table: TableKind;
  /** Logical block size. @default 512 */
  sectorSize?: SectorSize;
  /** Disk size (bytes or text). @default just big enough, rounded up to `alignment` */
  sizeBytes?: number | string;
  /** Default partition alignment (bytes or text). @default 1 MiB */
  alignment?: number | string;
  partitions: readonly PartitionSpec[];
  /** Seconds; seeds derived GUIDs and the MBR disk signature. @default 0 */
  epoch?: number;
  /** Seeds derived GUIDs and the disk signature; give each disk of a build its own. @default '' */
  label?: string;
  /** GPT disk GUID. @default derived from epoch and label */
  diskGuid?: string;
  /** MBR disk signature (offset 440). @default derived from epoch and label for mbr and hybrid; 0 for a protective MBR */
  diskSignature?: number;
  /** Boot code for MBR bytes 0–439 (≤ 440 bytes, or a whole 512-byte sector). @default zeros */
  bootCode?: Uint8Array;
  /** Bytes patched into the boot code area, e.g. isohybrid's u32 at 432. @default none */
  bootCodePatches?: readonly { offset: number; bytes: Uint8Array }[];
  /** GPT NumberOfPartitionEntries. @default 128 */
  gptEntryCount?: number;
  /** GPT PartitionEntryLBA of the primary array (genimage's gpt-location / 512). @default 2 */
  gptEntryArrayLba?: number;
  /** GPT FirstUsableLBA. @default the block after the primary array */
  gptFirstUsableLba?: number;
  /** MBR: type byte of the extended partition and its EBR links (0x05, 0x0F or 0x85). @default 0x0f */
  extendedType?: number;
  /** MBR, as genimage's `extended-partition`: slot n holds the extended partition and partitions n… are logical. @default none */
  extendedPartition?: 1 | 2 | 3 | 4;
  /** Hybrid: where the 0xEE entry goes: after the mirrored ones (genimage), first (gdisk's default), or none (xorriso's isohybrid MBR beside a GPT). @default 'after' */
  hybridProtective?: 'after' | 'first' | 'none';
  /** CHS geometry of the MBR records. @default 255 heads, 63 sectors per track */
  geometry?: ChsGeometry;
}

export interface ResolvedPartition {
  /** Index in `spec.partitions`. */
  index: number;
  /** The number the OS gives it: GPT entry number; MBR slot 1–4, logical partitions 5, 6, … */
  number: number;
  /** The spec's name ('' when none). */
  name: string;
  startLba: number;
  /** Inclusive, as GPT stores it. */
  endLba: number;
  sectorCount: number;
  /** Bytes from the start of the disk. */
  offset: number;
  sizeBytes: number;
  /** GPT type GUID (text), when the partition is in a GPT. */
  typeGuid?: string;
  /** Unique partition GUID (text), when in a GPT. */
  uniqueGuid?: string;
  /** MBR type byte, when the partition is in an MBR (or an EBR). */
  mbrType?: number;
  /** MBR slot 1–4 (mbr and hybrid), absent for logical partitions and GPT-only entries. */
  mbrSlot?: number;
  attributes: bigint;
  bootable: boolean;
  logical: boolean;
  /** LBA of the EBR in front of a logical partition. */
  ebrLba?: number;
}

export interface TableRegion {
  /** Bytes from the start of the disk. */
  offset: number;
  bytes: Uint8Array;
  what: string;
}

export interface DiskLayout {
  table: TableKind;
  sectorSize: SectorSize;
  sizeBytes: number;
  diskSectors: number;
  /** GPT disk GUID (text). */
  diskGuid?: string;
  /** MBR disk signature. */
  diskSignature: number;
  /** First and last LBA a partition may use. */
  firstUsableLba: number;
  lastUsableLba: number;
  /** In spec order. */
  partitions: ResolvedPartition[];
  /** MBR: the extended partition, when there are logical partitions. */
  extended?: { slot: number; startLba: number; sectorCount: number; type: number };
  /** The table bytes, sorted by offset, not overlapping: MBR, primary GPT, EBRs, backup GPT. */
  regions: TableRegion[];
}

const F = 'partition';

function bad(field: string, detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, hint === undefined ? { format: F, field, detail } : { format: F, field, detail, hint });
}

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
const DECIMAL_UNITS: Record<string, number> = { k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

type ParsedSize = { kind: 'bytes'; bytes: number } | { kind: 'percent'; percent: number } | { kind: 'fill' };

/** Parse a size: bytes, "512", "16M", "1.5GiB", "100MB" (10^6), "25%", "fill". */
export function parseSize(value: SizeSpec, field: string, allow: { percent?: boolean; fill?: boolean } = {}): ParsedSize {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw bad(field, `size ${value} is not a whole number of bytes`);
    return { kind: 'bytes', bytes: value };
  }
  const s = value.trim();
  if (s.toLowerCase() === 'fill') {
    if (!allow.fill) throw bad(field, '"fill" is only a partition size');
    return { kind: 'fill' };
  }
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (pct) {
    if (!allow.percent) throw bad(field, `"${value}": a percentage is only a partition size`);
    const percent = Number(pct[1]);
    if (percent <= 0 || percent > 100) throw bad(field, `"${value}" is not a percentage from 0 to 100`);
    return { kind: 'percent', percent };
  }
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgtKMGT])(i?[bB])?|[bB])?$/.exec(s);
  if (!m) throw bad(field, `"${value}" is not a size`, 'give bytes, or a number with K, M, G or T (powers of 1024), a percentage, or "fill"');
  const unit = (m[2] ?? '').toLowerCase();
  const factor = m[3] !== undefined && m[3].toLowerCase() === 'b' ? DECIMAL_UNITS[unit]! : UNITS[unit]!;
  const bytes = Number(m[1]) * factor;
  if (!Number.isSafeInteger(bytes)) throw bad(field, `"${value}" is not a whole number of bytes (${bytes})`);
  return { kind: 'bytes', bytes };
}

const roundUp = (x: number, a: number) => Math.ceil(x / a) * a;
const roundDown = (x: number, a: number) => Math.floor(x / a) * a;

interface Work {
  spec: PartitionSpec;
  index: number;
  who: string;
  inGpt: boolean;
  inMbr: boolean;
  logical: boolean;
  alignSectors: number;
  minSectors: number;
  size: ParsedSize | undefined;
  sectors: number;
  start: number;
  pinned: boolean;
  typeGuid?: Uint8Array;
  typeGuidText?: string;
  mbrType?: number;
  attributes: bigint;
  name: string;
}

/** Who a partition is in messages: `"root" (partitions[1])` or `partitions[1]`. */
function describe(spec: PartitionSpec, index: number): string {
  return spec.name ? `"${spec.name}" (partitions[${index}])` : `partitions[${index}]`;
}

/** Solve the geometry of a partition table and encode its bytes. */
export function planPartitionTable(spec: PartitionTableSpec): DiskLayout {
  const kind = spec.table;
  if (kind !== 'gpt' && kind !== 'mbr' && kind !== 'hybrid') throw bad('table', `table "${String(kind)}" is not gpt, mbr or hybrid`);
  const ss = spec.sectorSize ?? 512;
  if (ss !== 512 && ss !== 4096) throw bad('sectorSize', `sector size ${String(ss)} is not 512 or 4096`);
  const gptish = kind !== 'mbr';
  const geometry = spec.geometry ?? DEFAULT_CHS_GEOMETRY;
  const epoch = spec.epoch ?? 0;
  const label = spec.label ?? '';

  const toSectors = (bytes: number, field: string, what: string): number => {
    if (bytes % ss !== 0) throw bad(field, `${what} ${bytes} bytes is not a multiple of the ${ss}-byte sector`, `give a multiple of ${ss}`);
    return bytes / ss;
  };
  const alignmentSectors = (value: number | string | undefined, field: string, fallback: number): number => {
    if (value === undefined) return fallback;
    const p = parseSize(value, field);
    if (p.kind !== 'bytes' || p.bytes === 0) throw bad(field, `alignment ${String(value)} must be a positive number of bytes`);
    return toSectors(p.bytes, field, 'alignment');
  };
  const tableAlign = alignmentSectors(spec.alignment, 'alignment', Math.max(1, DEFAULT_ALIGNMENT_BYTES / ss));

  let diskSectors: number | undefined;
  if (spec.sizeBytes !== undefined) {
    const p = parseSize(spec.sizeBytes, 'sizeBytes');
    if (p.kind !== 'bytes' || p.bytes === 0) throw bad('sizeBytes', `disk size ${String(spec.sizeBytes)} must be a positive number of bytes`);
    diskSectors = toSectors(p.bytes, 'sizeBytes', 'disk size');
  }

  // --- per-partition resolution: types, names, attributes, flags --------------------------------
  const extIdx = spec.extendedPartition;
  if (extIdx !== undefined && (kind !== 'mbr' || ![1, 2, 3, 4].includes(extIdx))) {
    throw bad('extendedPartition', kind !== 'mbr' ? 'an extended partition exists only in an MBR table' : `extended partition slot ${String(extIdx)} is not 1–4`);
  }
  const work: Work[] = spec.partitions.map((p, i) => {
    const field = `partitions[${i}]`;
    const who = describe(p, i);
    const logical = kind === 'mbr' ? (p.logical ?? false) || (extIdx !== undefined && i >= extIdx - 1) : false;
    if (p.logical && kind !== 'mbr') throw bad(`${field}.logical`, `${who}: logical partitions exist only in an MBR table, not in ${kind}`);
    if (p.mbrOnly && kind !== 'hybrid') throw bad(`${field}.mbrOnly`, `${who}: mbrOnly applies to hybrid tables only`);
    if (p.mbrType !== undefined && kind !== 'hybrid') throw bad(`${field}.mbrType`, `${who}: mbrType applies to hybrid tables; in an MBR table give the byte as type`);
    if (p.mbrOnly && p.mbrType === undefined) throw bad(`${field}.mbrType`, `${who}: an MBR-only entry of a hybrid table needs mbrType`);
    const inGpt = gptish && !p.mbrOnly;
    const inMbr = kind === 'mbr' || p.mbrType !== undefined;
    const w: Work = {
      spec: p,
      index: i,
      who,
      inGpt,
      inMbr,
      logical,
      alignSectors: alignmentSectors(p.alignment, `${field}.alignment`, tableAlign),
      minSectors: 0,
      size: p.size === undefined ? undefined : parseSize(p.size, `${field}.size`, { percent: true, fill: true }),
      sectors: 0,
      start: 0,
      pinned: p.offset !== undefined,
      attributes: 0n,
      name: p.name ?? '',
    };
    if (p.minSizeBytes !== undefined) {
      if (!Number.isSafeInteger(p.minSizeBytes) || p.minSizeBytes < 0) throw bad(`${field}.minSizeBytes`, `${who}: minSizeBytes ${p.minSizeBytes} is not a byte count`);
      w.minSectors = Math.ceil(p.minSizeBytes / ss);
    }
    if (inGpt) {
      const t = resolveGptType(p.type ?? 'linux', `${field}.type`);
      w.typeGuid = t.guid;
      w.typeGuidText = t.text;
      encodeGptName(w.name, `${field}.name`); // > 36 UTF-16 units: E_NAME_TOO_LONG, never cut
      w.attributes = resolveAttributes(p.attributes, `${field}.attributes`);
      if (p.bootable) w.attributes |= 1n << BigInt(GPT_ATTRIBUTE_BITS['legacy-bios-bootable']);
    } else if (p.attributes !== undefined) {
      throw bad(`${field}.attributes`, `${who}: attributes exist only in a GPT`);
    }
    if (kind === 'mbr') w.mbrType = resolveMbrType(p.type ?? 'linux', `${field}.type`);
    else if (p.mbrType !== undefined) w.mbrType = resolveMbrType(p.mbrType, `${field}.mbrType`);
    if (w.mbrType === MBR_TYPES.extended || w.mbrType === 0x05 || w.mbrType === 0x85) {
      throw bad(`${field}.type`, `${who}: extended partitions are created by imgkit; mark the partitions inside it logical: true`);
    }
    if (p.guid !== undefined && !inGpt) throw bad(`${field}.guid`, `${who}: a partition GUID exists only in a GPT`);
    if (p.guid !== undefined) parseGuid(p.guid, `${field}.guid`);
    return w;
  });

  // --- slots -------------------------------------------------------------------------------------
  const extendedType = spec.extendedType ?? MBR_TYPES.extended;
  if (![0x05, 0x0f, 0x85].includes(extendedType)) throw bad('extendedType', `extended type 0x${extendedType.toString(16)} is not 0x05, 0x0f or 0x85`);
  const hybridProtective = spec.hybridProtective ?? 'after';
  const mbrEntries: { w?: Work; extended?: boolean; protective?: boolean }[] = [];
  if (kind === 'mbr') {
    let extendedAdded = false;
    for (const w of work) {
      if (!w.logical) mbrEntries.push({ w });
      else if (!extendedAdded) {
        mbrEntries.push({ extended: true });
        extendedAdded = true;
      }
    }
    if (mbrEntries.length > 4) {
      const primaries = work.filter((w) => !w.logical);
      const listed = primaries.map((w) => w.who).join(', ');
      throw bad(
        'partitions',
        `an MBR holds 4 primary entries; ${primaries.length} primary partitions${extendedAdded ? ' and the extended partition' : ''} make ${mbrEntries.length}: ${listed}`,
        'mark the partitions from the fourth on logical: true (or set extendedPartition: 4), or use a GPT',
      );
    }
  } else if (kind === 'hybrid') {
    const mirrored = work.filter((w) => w.inMbr);
    if (mirrored.length === 0) throw bad('partitions', 'a hybrid table needs at least one partition with mbrType (the entries mirrored into the MBR)', 'or use table: "gpt"');
    const room = hybridProtective === 'none' ? 4 : 3;
    if (mirrored.length > room) {
      throw bad(
        'partitions',
        `a hybrid MBR holds ${room} mirrored entries${room === 3 ? ' beside its 0xEE entry' : ''}; ${mirrored.length} partitions have mbrType: ${mirrored.map((w) => w.who).join(', ')}`,
        'drop mbrType from the ones legacy BIOS does not need',
      );
    }
    if (hybridProtective === 'first') mbrEntries.push({ protective: true });
    for (const w of mirrored) mbrEntries.push({ w });
    if (hybridProtective === 'after') mbrEntries.push({ protective: true });
  }

  // --- GPT head and tail ---------------------------------------------------------------------
  const gptEntries = work.filter((w) => w.inGpt);
  const entryCount = spec.gptEntryCount ?? GPT_DEFAULT_ENTRY_COUNT;
  if (gptish && gptEntries.length > entryCount) {
    throw bad('gptEntryCount', `${gptEntries.length} GPT partitions do not fit a ${entryCount}-entry array`, 'raise gptEntryCount');
  }
  const arraySectors = gptish ? entryArraySectors(entryCount, ss) : 0;
  const entryArrayLba = spec.gptEntryArrayLba ?? 2;
  if (gptish && (!Number.isSafeInteger(entryArrayLba) || entryArrayLba < 2)) throw bad('gptEntryArrayLba', `entry array LBA ${entryArrayLba} must be 2 or more`);
  const firstUsable = gptish ? (spec.gptFirstUsableLba ?? entryArrayLba + arraySectors) : 1;
  if (gptish && firstUsable < entryArrayLba + arraySectors) {
    throw bad('gptFirstUsableLba', `first usable LBA ${firstUsable} lies inside the primary entry array (LBA ${entryArrayLba}–${entryArrayLba + arraySectors - 1})`);
  }
  const tailSectors = gptish ? arraySectors + 1 : 0;
  /** End (exclusive) of the space partitions may use. */
  const usableEnd = (disk: number) => disk - tailSectors;

  // --- sizes -----------------------------------------------------------------------------------
  const fills = work.filter((w) => w.size?.kind === 'fill');
  if (fills.length > 1) throw bad('partitions', `only one partition may fill the rest of the disk; ${fills.map((w) => w.who).join(' and ')} both ask to`);
  const needsDisk = work.filter((w) => w.size?.kind === 'fill' || w.size?.kind === 'percent');
  if (needsDisk.length > 0 && diskSectors === undefined) {
    throw bad(`partitions[${needsDisk[0]!.index}].size`, `${needsDisk[0]!.who}: size "${String(needsDisk[0]!.spec.size)}" needs the disk size`, 'give sizeBytes');
  }
  for (const w of work) {
    const field = `partitions[${w.index}].size`;
    if (w.size === undefined) {
      if (w.minSectors === 0) throw bad(field, `${w.who} has neither a size nor content to size it from`, 'give size (bytes, "16M", "25%" or "fill") or minSizeBytes');
      w.sectors = roundUp(w.minSectors, w.alignSectors);
    } else if (w.size.kind === 'bytes') {
      if (w.size.bytes === 0) throw bad(field, `${w.who}: size 0`);
      w.sectors = toSectors(w.size.bytes, field, `${w.who}: size`);
    } else if (w.size.kind === 'percent') {
      const raw = Math.floor((diskSectors! * w.size.percent) / 100);
      w.sectors = raw >= w.alignSectors ? roundDown(raw, w.alignSectors) : raw;
      if (w.sectors === 0) throw bad(field, `${w.who}: ${w.size.percent}% of the disk is less than one sector`);
    }
    if (w.size?.kind !== 'fill' && w.sectors < w.minSectors) throw tooSmall(w, w.sectors, ss);
  }

  // --- placement -------------------------------------------------------------------------------
  const pinnedStart = (w: Work): number => {
    const field = `partitions[${w.index}].offset`;
    const p = parseSize(w.spec.offset!, field);
    if (p.kind !== 'bytes') throw bad(field, `${w.who}: offset must be bytes`);
    const lba = toSectors(p.bytes, field, `${w.who}: offset`);
    if (lba % w.alignSectors !== 0) {
      throw bad(
        field,
        `${w.who}: offset ${p.bytes} bytes (sector ${lba}) is not a multiple of its ${w.alignSectors * ss}-byte alignment`,
        `move it to ${roundDown(lba, w.alignSectors) * ss} or ${roundUp(lba, w.alignSectors) * ss}, or set its alignment`,
      );
    }
    return lba;
  };
  const lead = (w: Work) => (w.logical ? w.alignSectors : 0);
  const fill = fills[0];
  let fenceIdx = work.length;
  if (fill) {
    for (let j = fill.index + 1; j < work.length; j++) if (work[j]!.pinned) { fenceIdx = j; break; }
  }
  const deferred = (w: Work) => fill !== undefined && w.index > fill.index && w.index < fenceIdx && !w.pinned;
  let now = firstUsable;
  for (const w of work) {
    if (deferred(w)) continue;
    w.start = w.pinned ? pinnedStart(w) : roundUp(now + lead(w), w.alignSectors);
    // an entry that describes data inside others (mayOverlap) does not move the cursor
    if (!w.spec.mayOverlap) now = Math.max(now, w.start + w.sectors);
  }
  if (fill) {
    const fence = fenceIdx < work.length ? work[fenceIdx]!.start - lead(work[fenceIdx]!) : usableEnd(diskSectors!);
    let bound = fence;
    for (let j = fenceIdx - 1; j > fill.index; j--) {
      const w = work[j]!;
      w.start = roundDown(bound - w.sectors, w.alignSectors);
        bound = w.start - lead(w);
    }
    const room = bound - fill.start;
    if (room < Math.max(1, fill.minSectors)) {
      throw new NoSpaceError({
        format: F,
        field: `partitions[${fill.index}].size`,
        detail: `${fill.who} is to fill the disk from sector ${fill.start}, but only ${Math.max(0, room)} sectors are left before sector ${bound}${fill.minSectors ? `; its content needs ${fill.minSectors}` : ''}`,
        hint: 'raise sizeBytes or shrink the partitions after it',
      });
    }
    fill.sectors = room;
  }

  // --- the disk --------------------------------------------------------------------------------
  let maxEnd = firstUsable;
  for (const w of work) maxEnd = Math.max(maxEnd, w.start + w.sectors);
  if (diskSectors === undefined) diskSectors = roundUp(maxEnd + tailSectors, tableAlign);
  const disk = diskSectors;
  if (gptish && usableEnd(disk) <= firstUsable) {
    throw new NoSpaceError({ format: F, field: 'sizeBytes', detail: `a disk of ${disk} sectors cannot hold the GPT (${firstUsable} sectors at the start, ${tailSectors} at the end)`, hint: 'raise sizeBytes' });
  }
  const lastUsable = usableEnd(disk) - 1;
  for (const w of work) {
    const end = w.start + w.sectors;
    const limit = w.inGpt ? lastUsable + 1 : disk;
    if (end > limit) {
      throw new NoSpaceError({
        format: F,
        field: `partitions[${w.index}].size`,
        detail: `${w.who} (sectors ${w.start}–${end - 1}) ends past ${w.inGpt ? `the last usable sector ${lastUsable}` : `the disk end (${disk} sectors)`} of a ${disk * ss}-byte disk`,
        hint: 'raise sizeBytes or shrink the partition',
      });
    }
    if (w.inGpt && w.start < firstUsable) {
      throw bad(`partitions[${w.index}].offset`, `${w.who} starts at sector ${w.start}, before the first usable sector ${firstUsable} of the GPT`);
    }
    if (w.inMbr && (w.start > MBR_MAX || w.sectors > MBR_MAX)) {
      throw bad(`partitions[${w.index}]`, `${w.who} (start ${w.start}, ${w.sectors} sectors) is beyond what an MBR entry can address (2^32 − 1 sectors)`, 'use a GPT');
    }
  }

  // --- extended partition and EBRs ---------------------------------------------------------------
  const logicals = work.filter((w) => w.logical);
  let extended: DiskLayout['extended'];
  const ebrLbas = new Map<Work, number>();
  for (let k = 0; k < logicals.length; k++) {
    const w = logicals[k]!;
    ebrLbas.set(w, w.start - w.alignSectors);
    if (k > 0) {
      const prev = logicals[k - 1]!;
      if (w.start - w.alignSectors < prev.start + prev.sectors) {
        throw bad(
          `partitions[${w.index}].offset`,
          `${w.who} (sectors ${w.start}–${w.start + w.sectors - 1}) needs its EBR at sector ${w.start - w.alignSectors}, inside or before ${prev.who} (sectors ${prev.start}–${prev.start + prev.sectors - 1})`,
          'logical partitions go in disk order, each one alignment unit after the previous one',
        );
      }
    }
  }
  if (logicals.length > 0) {
    const first = logicals[0]!;
    const last = logicals[logicals.length - 1]!;
    const start = ebrLbas.get(first)!;
    extended = { slot: mbrEntries.findIndex((e) => e.extended) + 1, startLba: start, sectorCount: last.start + last.sectors - start, type: extendedType };
  }

  // --- overlaps ------------------------------------------------------------------------------
  interface Span { what: string; start: number; end: number; w?: Work; container?: boolean }
  const spans: Span[] = [];
  spans.push({ what: kind === 'mbr' ? 'the MBR (sector 0)' : `the protective MBR and primary GPT (sectors 0–${firstUsable - 1})`, start: 0, end: kind === 'mbr' ? 1 : firstUsable });
  if (gptish) spans.push({ what: `the backup GPT (sectors ${lastUsable + 1}–${disk - 1})`, start: lastUsable + 1, end: disk });
  if (extended) spans.push({ what: `the extended partition (sectors ${extended.startLba}–${extended.startLba + extended.sectorCount - 1})`, start: extended.startLba, end: extended.startLba + extended.sectorCount, container: true });
  for (const [w, lba] of ebrLbas) spans.push({ what: `the EBR of ${w.who} (sector ${lba})`, start: lba, end: lba + 1 });
  for (const w of work) spans.push({ what: `${w.who} (sectors ${w.start}–${w.start + w.sectors - 1})`, start: w.start, end: w.start + w.sectors, w });
  for (let a = 0; a < spans.length; a++) {
    for (let b = a + 1; b < spans.length; b++) {
      const x = spans[a]!;
      const y = spans[b]!;
      if (x.start >= y.end || y.start >= x.end) continue;
      if (x.w?.spec.mayOverlap || y.w?.spec.mayOverlap) continue;
      // logical partitions and their EBRs live inside the extended partition
      const inside = (s: Span) => s.w?.logical || s.what.startsWith('the EBR');
      if ((x.container && inside(y)) || (y.container && inside(x))) continue;
      const culprit = y.w ?? x.w;
      throw bad(
        culprit ? `partitions[${culprit.index}].offset` : 'partitions',
        `${y.what} overlaps ${x.what}`,
        'move or shrink one of them',
      );
    }
  }

  // --- numbering, GUIDs ---------------------------------------------------------------------------
  const diskGuid = gptish ? (spec.diskGuid !== undefined ? parseGuid(spec.diskGuid, 'diskGuid') : deterministicGuid('partition.gpt.disk', epoch, label, 0)) : undefined;
  let diskSignature = spec.diskSignature;
  if (diskSignature !== undefined && (!Number.isInteger(diskSignature) || diskSignature < 0 || diskSignature > MBR_MAX)) {
    throw bad('diskSignature', `disk signature ${diskSignature} does not fit 32 bits`);
  }
  if (diskSignature === undefined) {
    if (kind === 'gpt') diskSignature = 0;
    else {
      const b = deterministicId('partition.mbr.signature', epoch, 4, label);
      diskSignature = new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
    }
  }
  const resolved: ResolvedPartition[] = [];
  const gptNumber = new Map<Work, number>(gptEntries.map((w, i) => [w, i + 1]));
  const mbrSlot = new Map<Work, number>();
  mbrEntries.forEach((e, i) => {
    if (e.w) mbrSlot.set(e.w, i + 1);
  });
  const logicalNumber = new Map<Work, number>(logicals.map((w, i) => [w, 5 + i]));
  const uniqueGuids = new Map<Work, Uint8Array>();
  for (const w of work) {
    const number = gptNumber.get(w) ?? mbrSlot.get(w) ?? logicalNumber.get(w)!;
    const r: ResolvedPartition = {
      index: w.index,
      number,
      name: w.name,
      startLba: w.start,
      endLba: w.start + w.sectors - 1,
      sectorCount: w.sectors,
      offset: w.start * ss,
      sizeBytes: w.sectors * ss,
      attributes: w.attributes,
      bootable: w.spec.bootable ?? false,
      logical: w.logical,
    };
    if (w.inGpt) {
      const g = w.spec.guid !== undefined ? parseGuid(w.spec.guid) : deterministicGuid('partition.gpt.part', epoch, `${label}\u0000${w.name}`, number);
      uniqueGuids.set(w, g);
      r.typeGuid = w.typeGuidText!;
      r.uniqueGuid = formatGuid(g);
    }
    if (w.mbrType !== undefined) r.mbrType = w.mbrType;
    const slot = mbrSlot.get(w);
    if (slot !== undefined) r.mbrSlot = slot;
    const ebr = ebrLbas.get(w);
    if (ebr !== undefined) r.ebrLba = ebr;
    resolved.push(r);
  }

  // --- table bytes -----------------------------------------------------------------------------
  const regions: TableRegion[] = [];
  const block = (b: Uint8Array) => {
    const out = new Uint8Array(ss);
    out.set(b);
    return out;
  };
  const gptArrayEnd = entryArrayLba + arraySectors;
  const records: (MbrRecord | null)[] = [];
  if (kind === 'gpt') records.push(protectiveRecord(disk, geometry));
  else {
    for (const e of mbrEntries) {
      if (e.protective) records.push({ type: MBR_TYPE_GPT_PROTECTIVE, startLba: 1, sectorCount: gptArrayEnd - 1 });
      else if (e.extended) records.push({ type: extended!.type, startLba: extended!.startLba, sectorCount: extended!.sectorCount });
      else {
        const w = e.w!;
        records.push({ bootable: w.spec.bootable ?? false, type: w.mbrType!, startLba: w.start, sectorCount: w.sectors });
      }
    }
  }
  const mbrContents: Parameters<typeof encodeMbr>[0] = { diskSignature, records, geometry };
  if (spec.bootCode) mbrContents.bootCode = spec.bootCode;
  if (spec.bootCodePatches) mbrContents.bootCodePatches = spec.bootCodePatches;
  regions.push({ offset: 0, bytes: block(encodeMbr(mbrContents)), what: kind === 'gpt' ? 'protective MBR' : kind === 'hybrid' ? 'hybrid MBR' : 'MBR' });

  if (gptish) {
    const g = encodeGpt({
      sectorSize: ss,
      diskSectors: disk,
      diskGuid: diskGuid!,
      entries: gptEntries.map((w) => ({
        typeGuid: w.typeGuid!,
        uniqueGuid: uniqueGuids.get(w)!,
        startLba: w.start,
        endLba: w.start + w.sectors - 1,
        attributes: w.attributes,
        name: w.name,
      })),
      entryCount,
      entryArrayLba,
      firstUsableLba: firstUsable,
      lastUsableLba: lastUsable,
    });
    if (entryArrayLba === 2) {
      const head = new Uint8Array(ss * (1 + arraySectors));
      head.set(g.primaryHeader);
      head.set(g.entryArray, ss);
      regions.push({ offset: ss, bytes: head, what: 'primary GPT header and entries' });
    } else {
      regions.push({ offset: ss, bytes: g.primaryHeader, what: 'primary GPT header' });
      regions.push({ offset: entryArrayLba * ss, bytes: g.entryArray, what: 'primary GPT entries' });
    }
    const tail = new Uint8Array(ss * (1 + arraySectors));
    tail.set(g.entryArray);
    tail.set(g.backupHeader, ss * arraySectors);
    regions.push({ offset: g.backupEntryLba * ss, bytes: tail, what: 'backup GPT entries and header' });
  }
  for (let k = 0; k < logicals.length; k++) {
    const w = logicals[k]!;
    const next = logicals[k + 1];
    const ebrLba = ebrLbas.get(w)!;
    const ebr = encodeEbr({
      ebrLba,
      extendedStartLba: extended!.startLba,
      logical: { type: w.mbrType!, startLba: w.start, sectorCount: w.sectors, bootable: w.spec.bootable ?? false },
      ...(next ? { next: { ebrLba: ebrLbas.get(next)!, endLba: next.start + next.sectors } } : {}),
      linkType: extendedType,
      geometry,
    });
    regions.push({ offset: ebrLba * ss, bytes: block(ebr), what: `EBR of ${w.who}` });
  }
  regions.sort((a, b) => a.offset - b.offset);

  const layout: DiskLayout = {
    table: kind,
    sectorSize: ss,
    sizeBytes: disk * ss,
    diskSectors: disk,
    diskSignature,
    firstUsableLba: firstUsable,
    lastUsableLba: lastUsable,
    partitions: resolved,
    regions,
  };
  if (diskGuid) layout.diskGuid = formatGuid(diskGuid);
  if (extended) layout.extended = extended;
  return layout;
}

function tooSmall(w: Work, sectors: number, ss: number): NoSpaceError {
  return new NoSpaceError({
    format: F,
    field: `partitions[${w.index}].size`,
    detail: `${w.who} is ${sectors * ss} bytes (${sectors} sectors); its content needs at least ${w.minSectors * ss} bytes (${w.minSectors} sectors)`,
    hint: 'raise the partition size, or leave size out to size it from its content',
  });
}
