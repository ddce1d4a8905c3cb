/**
 * Partition tables: the MBR (UEFI 2.10 §5.2.1) with its extended boot records (the DOS chain as
 * the kernel's block/partitions/msdos.c follows it), the protective MBR (§5.2.3) and the GPT
 * (§5.3: header and CRC32s, entry array, backup header and array at the end of the disk), decoded
 * with @imgkit/partition's structures, and checked:
 *
 *   - GPT: header signature and CRC, entry array CRC, the backup header where AlternateLBA says,
 *     its CRCs and fields mirrored, the backup array equal, AlternateLBA at the last LBA, usable
 *     range inside the disk, entries inside the usable range and not overlapping;
 *   - MBR: records inside the disk, not overlapping, a chain of EBRs without loops;
 *   - a GPT without a protective (0xEE) MBR entry: UEFI ignores it (a warning: xorriso's isohybrid
 *     MBR + GPT is built that way on purpose).
 *
 * Inside an ISO 9660 system area the tables describe files of the ISO (xorriso's "ISOHybrid"
 * entries over the whole ISO, the EFI image inside it): nesting there is expected, so only
 * partial overlaps are defects.
 */
import { crc32, type RandomAccessReader } from '@imgkit/core';
import {
  GPT_SIGNATURE,
  GPT_TYPES,
  LegacyMbr,
  MBR_EXTENDED_TYPES,
  MBR_SIGNATURE,
  MBR_TYPE_GPT_PROTECTIVE,
  MbrPartitionRecord,
  decodeGptEntryArray,
  decodeGptHeader,
  formatGuid,
  type DecodedGptEntry,
} from '@imgkit/partition';
import { defect, node, warning, type InspectNode } from './report.js';
import { errorText, hex } from './io.js';

/** A partition found in a table, in bytes. */
export interface FoundPartition {
  table: 'mbr' | 'gpt';
  number: number;
  offset: number;
  size: number;
  /** MBR type byte, or GPT type GUID (upper-case text). */
  type: number | string;
  name?: string;
  bootable?: boolean;
  node: InspectNode;
}

export interface PartitionTables {
  nodes: InspectNode[];
  partitions: FoundPartition[];
  sectorSize: number;
  /** The MBR has a 0xEE entry (protective or hybrid). */
  protective: boolean;
  hasGpt: boolean;
}

const GPT_TYPE_NAMES = new Map<string, string>(Object.entries(GPT_TYPES).map(([k, v]) => [v, k]));
const MBR_TYPE_NAMES: Record<number, string> = {
  0x00: 'empty', 0x01: 'FAT12', 0x04: 'FAT16 <32M', 0x05: 'extended', 0x06: 'FAT16', 0x07: 'NTFS/exFAT', 0x0b: 'FAT32', 0x0c: 'FAT32 LBA',
  0x0e: 'FAT16 LBA', 0x0f: 'extended LBA', 0x17: 'hidden NTFS (isohybrid)', 0x82: 'Linux swap', 0x83: 'Linux', 0x85: 'Linux extended',
  0x8e: 'Linux LVM', 0xcd: 'ISO 9660 (xorriso)', 0xea: 'XBOOTLDR', 0xee: 'GPT protective', 0xef: 'EFI System', 0xfd: 'Linux RAID',
};

export const ESP_GUID = GPT_TYPES.esp;

function isMbrSector(b: Uint8Array): boolean {
  return b.byteLength >= 512 && b[510] === 0x55 && b[511] === 0xaa;
}

/** Whether the first sector holds an MBR whose records are plausible (not a FAT boot sector). */
export function looksLikeMbr(b: Uint8Array, diskBytes: number): boolean {
  if (!isMbrSector(b)) return false;
  let any = false;
  for (let i = 0; i < 4; i++) {
    const r = MbrPartitionRecord.decode(b, 446 + 16 * i);
    if (r.osType === 0 && r.sizeInLba === 0) continue;
    if (r.bootIndicator !== 0 && r.bootIndicator !== 0x80) return false;
    if (r.osType !== 0 && r.sizeInLba === 0) return false;
    if (r.startingLba === 0 && r.osType !== 0 && r.osType !== 0x17 && r.osType !== 0xcd) return false;
    any = true;
  }
  return any || diskBytes > 0;
}

async function gptAt(reader: RandomAccessReader, sectorSize: number): Promise<boolean> {
  if (reader.size < 2 * sectorSize) return false;
  const b = await reader.read(sectorSize, 8);
  return b.byteLength === 8 && b.every((x, i) => x === GPT_SIGNATURE[i]);
}

/** Read the partition tables of a disk. `inIso`: the tables of an ISO's system area. */
export async function inspectPartitionTables(reader: RandomAccessReader, inIso: boolean): Promise<PartitionTables> {
  const out: PartitionTables = { nodes: [], partitions: [], sectorSize: 512, protective: false, hasGpt: false };
  const sector0 = await reader.read(0, 512);
  const sectorSize = (await gptAt(reader, 512)) ? 512 : (await gptAt(reader, 4096)) ? 4096 : 512;
  out.sectorSize = sectorSize;
  out.hasGpt = await gptAt(reader, sectorSize);
  const diskSectors = Math.floor(reader.size / sectorSize);
  if (isMbrSector(sector0)) {
    const mbr = await inspectMbr(reader, sector0, sectorSize, out);
    out.nodes.push(mbr);
  }
  if (out.hasGpt) {
    const gpt = await inspectGpt(reader, sectorSize, diskSectors, out);
    if (!out.protective) {
      warning(gpt, 'mbr.partitionRecords', isMbrSector(sector0)
        ? 'the MBR has no 0xEE (protective) entry: UEFI firmware uses the MBR and ignores this GPT'
        : 'no MBR signature in sector 0: UEFI requires a protective MBR in front of a GPT');
    }
    out.nodes.push(gpt);
  }
  checkOverlaps(out, inIso);
  return out;
}

async function inspectMbr(reader: RandomAccessReader, sector0: Uint8Array, sectorSize: number, out: PartitionTables): Promise<InspectNode> {
  const m = LegacyMbr.decode(sector0);
  const n = node('mbr', 0, 512, { diskSignature: hex(m.uniqueMbrDiskSignature), bootCode: m.bootCode.every((x) => x === 0) ? 'none' : 'present' });
  const diskBytes = reader.size;
  for (let i = 0; i < 4; i++) {
    const r = MbrPartitionRecord.decode(sector0, 446 + 16 * i);
    if (r.osType === 0 && r.sizeInLba === 0) continue;
    if (r.osType === MBR_TYPE_GPT_PROTECTIVE) out.protective = true;
    const p = mbrPartition(n, i + 1, r.osType, r.bootIndicator, r.startingLba, r.sizeInLba, sectorSize, diskBytes, out.hasGpt);
    if (r.osType !== MBR_TYPE_GPT_PROTECTIVE) out.partitions.push(p);
    if (MBR_EXTENDED_TYPES.includes(r.osType)) await followEbrs(reader, r.startingLba, sectorSize, p.node, out);
  }
  if (m.signature !== MBR_SIGNATURE) defect(n, 'mbr.signature', `signature ${hex(m.signature, 4)} is not 0xaa55`);
  return n;
}

function mbrPartition(parent: InspectNode, number: number, type: number, boot: number, startLba: number, sectors: number, sectorSize: number, diskBytes: number, hasGpt: boolean): FoundPartition {
  const offset = startLba * sectorSize;
  const size = sectors * sectorSize;
  const pn = node('partition', offset, size, {
    table: 'mbr',
    number,
    type: hex(type, 2),
    typeName: MBR_TYPE_NAMES[type] ?? 'unknown',
    bootable: boot === 0x80,
    startLba,
    sectors,
  }, `partition ${number}`);
  parent.children.push(pn);
  if (boot !== 0 && boot !== 0x80) defect(pn, `mbr.partitionRecords[${number - 1}].bootIndicator`, `boot indicator ${hex(boot, 2)} is neither 0x00 nor 0x80`);
  // A protective entry may claim 0xFFFFFFFF sectors for a bigger disk (§5.2.3); and past the end
  // of a GPT disk the rest is the backup GPT's concern.
  const protective = type === MBR_TYPE_GPT_PROTECTIVE;
  if (offset + size > diskBytes && !(protective && (sectors === 0xffffffff || hasGpt))) {
    defect(pn, `mbr.partitionRecords[${number - 1}].sizeInLba`, `partition ${number} (sectors ${startLba}…${startLba + sectors - 1}) runs past the end of the ${diskBytes}-byte disk by ${offset + size - diskBytes} bytes`);
  }
  return { table: 'mbr', number, offset, size, type, bootable: boot === 0x80, node: pn };
}

/** The EBR chain: each EBR's first record is a logical partition (relative to the EBR), its second the link to the next EBR (relative to the extended partition). */
async function followEbrs(reader: RandomAccessReader, extStart: number, sectorSize: number, ext: InspectNode, out: PartitionTables): Promise<void> {
  const seen = new Set<number>();
  let ebr = extStart;
  let number = 5;
  while (ebr !== 0) {
    if (seen.has(ebr) || seen.size > 256) {
      defect(ext, 'mbr.ebr', `the chain of extended boot records loops back to sector ${ebr}`);
      return;
    }
    seen.add(ebr);
    const b = await reader.read(ebr * sectorSize, 512);
    if (b.byteLength < 512) {
      defect(ext, 'mbr.ebr', `the extended boot record at sector ${ebr} lies past the end of the disk`);
      return;
    }
    if (!isMbrSector(b)) {
      defect(ext, 'mbr.ebr.signature', `the extended boot record at sector ${ebr} has no 0x55AA signature`);
      return;
    }
    const logical = MbrPartitionRecord.decode(b, 446);
    const link = MbrPartitionRecord.decode(b, 462);
    if (logical.sizeInLba > 0) {
      const p = mbrPartition(ext, number, logical.osType, logical.bootIndicator, ebr + logical.startingLba, logical.sizeInLba, sectorSize, reader.size, false);
      p.node.fields.ebrLba = ebr;
      out.partitions.push(p);
      const extEnd = ext.offset + ext.size;
      if (p.offset < ext.offset || p.offset + p.size > extEnd) {
        defect(p.node, `ebr@${ebr}.logical`, `logical partition ${number} lies outside its extended partition (bytes ${ext.offset}…${extEnd})`);
      }
      number++;
    }
    ebr = link.sizeInLba > 0 && MBR_EXTENDED_TYPES.includes(link.osType) ? extStart + link.startingLba : 0;
  }
}

async function inspectGpt(reader: RandomAccessReader, ss: number, diskSectors: number, out: PartitionTables): Promise<InspectNode> {
  const lastLba = diskSectors - 1;
  const n = node('gpt', ss, ss, { sectorSize: ss });
  const block = await reader.read(ss, ss);
  let h;
  try {
    h = decodeGptHeader(block);
  } catch (err) {
    defect(n, 'gpt.header', errorText(err));
    return n;
  }
  const entryCount = h.numberOfPartitionEntries;
  const entrySize = h.sizeOfPartitionEntry;
  Object.assign(n.fields, {
    diskGuid: formatGuid(h.diskGuid),
    firstUsableLba: Number(h.firstUsableLba),
    lastUsableLba: Number(h.lastUsableLba),
    alternateLba: Number(h.alternateLba),
    partitionEntryLba: Number(h.partitionEntryLba),
    entries: entryCount,
    entrySize,
  });
  if (!h.headerCrcOk) defect(n, 'gpt.header.headerCrc32', `primary header CRC ${hex(h.headerCrc32)} does not match its ${h.headerSize} bytes`);
  if (h.revision !== 0x00010000) warning(n, 'gpt.header.revision', `revision ${hex(h.revision)} is not 1.0`);
  if (Number(h.myLba) !== 1) defect(n, 'gpt.header.myLba', `the primary header says it is at LBA ${h.myLba}, not 1`);
  if (entrySize < 128 || (entrySize & (entrySize - 1)) !== 0 || entryCount > 65536) {
    defect(n, 'gpt.header.sizeOfPartitionEntry', `${entryCount} entries of ${entrySize} bytes is not a valid array (128 × 2^n bytes each)`);
    return n;
  }
  const arrayBytes = entryCount * entrySize;
  const array = await reader.read(Number(h.partitionEntryLba) * ss, arrayBytes);
  if (array.byteLength < arrayBytes) {
    defect(n, 'gpt.header.partitionEntryLba', `the entry array at LBA ${h.partitionEntryLba} runs past the end of the disk`);
    return n;
  }
  const arrayCrc = crc32(array);
  if (arrayCrc !== h.partitionEntryArrayCrc32) {
    defect(n, 'gpt.header.partitionEntryArrayCrc32', `entry array CRC ${hex(h.partitionEntryArrayCrc32)} stored, ${hex(arrayCrc)} computed`);
  }
  const first = Number(h.firstUsableLba);
  const last = Number(h.lastUsableLba);
  if (last > lastLba) defect(n, 'gpt.header.lastUsableLba', `last usable LBA ${last} lies past the last LBA of the disk (${lastLba})`);
  // The backup header and array (§5.3.2: AlternateLBA; the backup's PartitionEntryLBA).
  const alt = Number(h.alternateLba);
  if (alt > lastLba) {
    defect(n, 'gpt.header.alternateLba', `the backup header's LBA ${alt} lies past the last LBA of the disk (${lastLba}): the image is truncated`);
  } else {
    if (alt !== lastLba) warning(n, 'gpt.header.alternateLba', `the backup header is at LBA ${alt}, not at the disk's last LBA ${lastLba} (the disk grew after the table was written)`);
    await checkBackup(reader, ss, alt, h, array, n);
  }
  const entries = decodeGptEntryArray(array, entryCount, entrySize);
  n.fields.partitions = entries.length;
  for (const e of entries) out.partitions.push(gptPartition(n, e, ss, first, last, lastLba));
  return n;
}

async function checkBackup(reader: RandomAccessReader, ss: number, alt: number, h: ReturnType<typeof decodeGptHeader>, primaryArray: Uint8Array, n: InspectNode): Promise<void> {
  const block = await reader.read(alt * ss, ss);
  let b;
  try {
    b = decodeGptHeader(block);
  } catch {
    defect(n, 'gpt.backupHeader.signature', `no backup GPT header ("EFI PART") at LBA ${alt}`);
    return;
  }
  if (!b.headerCrcOk) defect(n, 'gpt.backupHeader.headerCrc32', `backup header CRC ${hex(b.headerCrc32)} at LBA ${alt} does not match its bytes`);
  if (Number(b.myLba) !== alt) defect(n, 'gpt.backupHeader.myLba', `the backup header at LBA ${alt} says it is at LBA ${b.myLba}`);
  if (Number(b.alternateLba) !== 1) defect(n, 'gpt.backupHeader.alternateLba', `the backup header points to LBA ${b.alternateLba} for the primary, not 1`);
  const same: (keyof typeof h & keyof typeof b)[] = ['firstUsableLba', 'lastUsableLba', 'numberOfPartitionEntries', 'sizeOfPartitionEntry', 'partitionEntryArrayCrc32'];
  for (const k of same) {
    if (h[k] !== b[k]) defect(n, `gpt.backupHeader.${k}`, `backup header ${k} ${String(b[k])} differs from the primary's ${String(h[k])}`);
  }
  if (!h.diskGuid.every((x, i) => x === b.diskGuid[i])) defect(n, 'gpt.backupHeader.diskGuid', `backup disk GUID ${formatGuid(b.diskGuid)} differs from the primary's ${formatGuid(h.diskGuid)}`);
  const arr = await reader.read(Number(b.partitionEntryLba) * ss, primaryArray.byteLength);
  if (arr.byteLength < primaryArray.byteLength) {
    defect(n, 'gpt.backupHeader.partitionEntryLba', `the backup entry array at LBA ${b.partitionEntryLba} runs past the end of the disk`);
    return;
  }
  const c = crc32(arr);
  if (c !== b.partitionEntryArrayCrc32) defect(n, 'gpt.backupEntries', `backup entry array CRC ${hex(c)} computed, ${hex(b.partitionEntryArrayCrc32)} stored in the backup header`);
  else if (!arr.every((x, i) => x === primaryArray[i])) defect(n, 'gpt.backupEntries', 'the backup entry array differs from the primary');
}

function gptPartition(parent: InspectNode, e: DecodedGptEntry, ss: number, first: number, last: number, lastLba: number): FoundPartition {
  const type = formatGuid(e.typeGuid);
  const offset = e.startLba * ss;
  const size = (e.endLba - e.startLba + 1) * ss;
  const pn = node('partition', offset, Math.max(0, size), {
    table: 'gpt',
    number: e.number,
    name: e.name,
    type,
    typeName: GPT_TYPE_NAMES.get(type) ?? 'unknown',
    guid: formatGuid(e.uniqueGuid),
    startLba: e.startLba,
    endLba: e.endLba,
    attributes: hex(Number(e.attributes & 0xffffffffn), 8) + (e.attributes >> 32n ? ` (high ${hex(Number(e.attributes >> 32n))})` : ''),
  }, `partition ${e.number}`);
  parent.children.push(pn);
  const f = `gpt.entries[${e.number - 1}]`;
  if (e.endLba < e.startLba) defect(pn, `${f}.endingLba`, `ending LBA ${e.endLba} is before starting LBA ${e.startLba}`);
  else if (e.endLba > lastLba) defect(pn, `${f}.endingLba`, `partition ${e.number} ends at LBA ${e.endLba}, past the last LBA of the disk (${lastLba})`);
  else if (e.startLba < first || e.endLba > last) pn.fields.outsideUsable = true; // judged with the ISO context in checkOverlaps
  return { table: 'gpt', number: e.number, offset, size, type, name: e.name, node: pn };
}

/** Overlaps within each table; entries outside the GPT's usable range. */
function checkOverlaps(t: PartitionTables, inIso: boolean): void {
  for (const table of ['mbr', 'gpt'] as const) {
    const ps = t.partitions.filter((p) => p.table === table && !MBR_EXTENDED_TYPES.includes(typeof p.type === 'number' ? p.type : -1));
    for (let i = 0; i < ps.length; i++) {
      for (let j = i + 1; j < ps.length; j++) {
        const a = ps[i]!;
        const b = ps[j]!;
        const overlap = a.offset < b.offset + b.size && b.offset < a.offset + a.size;
        if (!overlap) continue;
        const nested = (a.offset <= b.offset && b.offset + b.size <= a.offset + a.size) || (b.offset <= a.offset && a.offset + a.size <= b.offset + b.size);
        if (inIso && nested) continue; // xorriso: the ISO partition holds the EFI image's
        defect(b.node, `${table}.partition`, `${table.toUpperCase()} partitions ${a.number} (bytes ${a.offset}…${a.offset + a.size - 1}) and ${b.number} (bytes ${b.offset}…${b.offset + b.size - 1}) overlap`);
      }
    }
  }
  for (const p of t.partitions) {
    if (p.node.fields.outsideUsable !== true) continue;
    delete p.node.fields.outsideUsable;
    const msg = `partition ${p.number} lies outside the GPT's usable LBAs`;
    if (inIso) warning(p.node, `gpt.entries[${p.number - 1}].startingLba`, `${msg} (xorriso's ISO partitions do)`);
    else defect(p.node, `gpt.entries[${p.number - 1}].startingLba`, msg);
  }
}
