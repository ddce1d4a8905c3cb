/**
 * VHDX reader (fixed and dynamic disks). The current header is the valid one (CRC-32C) with the
 * higher sequence number (§2.2.2); a non-zero LogGuid means the log must be replayed first, which
 * imgkit does not do (E_BAD_INPUT: open the disk in Hyper-V or run `qemu-img check -r all`).
 * Differencing disks (HasParent) need their parent: E_BAD_INPUT. Blocks FULLY_PRESENT are read;
 * NOT_PRESENT, UNDEFINED, ZERO and UNMAPPED read as zeros, as qemu reads them.
 */
import { viewOf, type RandomAccessReader } from '@imgkit/core';
import { badInput } from '../errors.js';
import { readExact } from '../io.js';
import type { ByteRange, RangeSource } from '../range-source.js';
import {
  BAT_REGION_GUID,
  FILE_PARAMETERS_GUID,
  FILE_SIGNATURE,
  FP_HAS_PARENT,
  FileIdentifier,
  HEADER1_OFFSET,
  HEADER2_OFFSET,
  HEADER_BYTES,
  HEADER_SIGNATURE,
  LOGICAL_SECTOR_SIZE_GUID,
  METADATA_REGION_GUID,
  METADATA_SIGNATURE,
  METADATA_TABLE_BYTES,
  MetadataTableEntry,
  MetadataTableHeader,
  PAYLOAD_BLOCK_FULLY_PRESENT,
  PAYLOAD_BLOCK_PARTIALLY_PRESENT,
  PHYSICAL_SECTOR_SIZE_GUID,
  REGION_SIGNATURE,
  REGION_TABLE1_OFFSET,
  REGION_TABLE2_OFFSET,
  REGION_TABLE_BYTES,
  RegionTableEntry,
  RegionTableHeader,
  VIRTUAL_DISK_SIZE_GUID,
  VhdxHeader,
  batEntries,
  batIndex,
  chunkRatio,
  crcOk,
  getBatEntry,
  sameGuid,
} from './structures.js';

const FORMAT = 'vhdx';

export interface VhdxLayout {
  headers: { ok: boolean; sequence: bigint; logGuidZero: boolean }[];
  current: ReturnType<typeof VhdxHeader.decode>;
  regionTablesOk: boolean[];
  regionTablesEqual: boolean;
  bat: { offset: number; length: number };
  metadata: { offset: number; length: number };
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  virtualSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  blocks: number;
  ratio: number;
  batView: DataView;
  metadataItems: string[];
}

function guidHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export async function readVhdxLayout(reader: RandomAccessReader): Promise<VhdxLayout> {
  const id = FileIdentifier.decode(await readExact(reader, 0, FileIdentifier.size, FORMAT, 'file type identifier'));
  if (id.signature !== FILE_SIGNATURE) throw badInput(FORMAT, 'no "vhdxfile" signature at byte 0', { field: 'vhdx.fileIdentifier.signature' });
  const headers: VhdxLayout['headers'] = [];
  let current: ReturnType<typeof VhdxHeader.decode> | undefined;
  for (const at of [HEADER1_OFFSET, HEADER2_OFFSET]) {
    const b = await readExact(reader, at, HEADER_BYTES, FORMAT, 'header');
    const h = VhdxHeader.decode(b);
    const ok = h.signature === HEADER_SIGNATURE && crcOk(b);
    headers.push({ ok, sequence: h.sequenceNumber, logGuidZero: h.logGuid.every((x) => x === 0) });
    if (ok && (!current || h.sequenceNumber > current.sequenceNumber)) current = h;
  }
  if (!current) throw badInput(FORMAT, 'neither header has a valid signature and CRC-32C checksum', { field: 'vhdx.header.checksum' });
  if (current.version !== 1) throw badInput(FORMAT, `header version ${current.version} is not 1`, { field: 'vhdx.header.version' });
  if (!current.logGuid.every((x) => x === 0)) {
    throw badInput(FORMAT, 'the log holds entries that must be replayed before the disk can be read', {
      field: 'vhdx.header.logGuid',
      hint: 'open the disk once in Hyper-V, or run qemu-img check -r all on it',
    });
  }
  const tables: Uint8Array[] = [];
  const regionTablesOk: boolean[] = [];
  for (const at of [REGION_TABLE1_OFFSET, REGION_TABLE2_OFFSET]) {
    const b = await readExact(reader, at, REGION_TABLE_BYTES, FORMAT, 'region table');
    tables.push(b);
    regionTablesOk.push(RegionTableHeader.decode(b).signature === REGION_SIGNATURE && crcOk(b));
  }
  const rtIndex = regionTablesOk.indexOf(true);
  if (rtIndex < 0) throw badInput(FORMAT, 'neither region table has a valid signature and CRC-32C checksum', { field: 'vhdx.regionTable.checksum' });
  const rt = tables[rtIndex]!;
  const rth = RegionTableHeader.decode(rt);
  if (rth.entryCount > 2047) throw badInput(FORMAT, `region table lists ${rth.entryCount} entries (at most 2047)`);
  let bat: { offset: number; length: number } | undefined;
  let metadata: { offset: number; length: number } | undefined;
  for (let i = 0; i < rth.entryCount; i++) {
    const e = RegionTableEntry.decode(rt, 16 + i * 32);
    const region = { offset: Number(e.fileOffset), length: e.length };
    if (sameGuid(e.guid, BAT_REGION_GUID)) bat = region;
    else if (sameGuid(e.guid, METADATA_REGION_GUID)) metadata = region;
    else if (e.flags & 1) throw badInput(FORMAT, `required region ${guidHex(e.guid)} is unknown`);
  }
  if (!bat || !metadata) throw badInput(FORMAT, 'the region table lacks the BAT or the metadata region');
  const md = await readExact(reader, metadata.offset, METADATA_TABLE_BYTES, FORMAT, 'metadata table');
  const mh = MetadataTableHeader.decode(md);
  if (mh.signature !== METADATA_SIGNATURE) throw badInput(FORMAT, 'no "metadata" signature at the start of the metadata region', { field: 'vhdx.metadataTable.signature' });
  const item = async (guid: Uint8Array, what: string, length: number): Promise<DataView> => {
    for (let i = 0; i < mh.entryCount; i++) {
      const e = MetadataTableEntry.decode(md, 32 + i * 32);
      if (sameGuid(e.itemId, guid)) {
        if (e.length < length) throw badInput(FORMAT, `metadata item ${what} has ${e.length} bytes, needs ${length}`);
        return viewOf(await readExact(reader, metadata!.offset + e.offset, length, FORMAT, `metadata item ${what}`));
      }
    }
    throw badInput(FORMAT, `the required metadata item ${what} is missing`);
  };
  const fp = await item(FILE_PARAMETERS_GUID, 'File Parameters', 8);
  const blockSize = fp.getUint32(0, true);
  const fpFlags = fp.getUint32(4, true);
  const virtualSize = Number((await item(VIRTUAL_DISK_SIZE_GUID, 'Virtual Disk Size', 8)).getBigUint64(0, true));
  const logical = (await item(LOGICAL_SECTOR_SIZE_GUID, 'Logical Sector Size', 4)).getUint32(0, true);
  const physical = (await item(PHYSICAL_SECTOR_SIZE_GUID, 'Physical Sector Size', 4)).getUint32(0, true);
  if (blockSize < 1 << 20 || blockSize > 256 << 20 || (blockSize & (blockSize - 1)) !== 0) throw badInput(FORMAT, `block size ${blockSize} is not a power of two between 1 MiB and 256 MiB`);
  if (logical !== 512 && logical !== 4096) throw badInput(FORMAT, `logical sector size ${logical} is neither 512 nor 4096`);
  const hasParent = (fpFlags & FP_HAS_PARENT) !== 0;
  if (hasParent) throw badInput(FORMAT, 'this is a differencing VHDX, which needs its parent disk', { hint: 'merge it into its parent first' });
  const blocks = Math.ceil(virtualSize / blockSize);
  const ratio = chunkRatio(logical, blockSize);
  const need = batEntries(blocks, ratio) * 8;
  if (bat.length < need) throw badInput(FORMAT, `the BAT region has ${bat.length} bytes; ${need} are needed`);
  const batView = viewOf(await readExact(reader, bat.offset, need, FORMAT, 'BAT'));
  const metadataItems: string[] = [];
  for (let i = 0; i < mh.entryCount; i++) metadataItems.push(guidHex(MetadataTableEntry.decode(md, 32 + i * 32).itemId));
  return {
    headers,
    current,
    regionTablesOk,
    regionTablesEqual: tables[0]!.every((b, i) => b === tables[1]![i]),
    bat,
    metadata,
    blockSize,
    leaveBlocksAllocated: (fpFlags & 1) !== 0,
    hasParent,
    virtualSize,
    logicalSectorSize: logical,
    physicalSectorSize: physical,
    blocks,
    ratio,
    batView,
    metadataItems,
  };
}

export interface VhdxSource extends RangeSource {
  readonly layout: VhdxLayout;
}

export async function openVhdx(reader: RandomAccessReader): Promise<VhdxSource> {
  const L = await readVhdxLayout(reader);
  const bs = L.blockSize;
  const size = L.virtualSize;
  const at = (b: number): number => {
    const e = getBatEntry(L.batView, batIndex(b, L.ratio));
    if (e.state === PAYLOAD_BLOCK_PARTIALLY_PRESENT) throw badInput(FORMAT, `block ${b} is partially present, which only a differencing disk may be`);
    return e.state === PAYLOAD_BLOCK_FULLY_PRESENT ? e.fileOffset : -1;
  };
  return {
    virtualSize: size,
    format: FORMAT,
    layout: L,
    async *ranges(): AsyncIterable<ByteRange> {
      let runStart = -1;
      for (let b = 0; b < L.blocks; b++) {
        const data = at(b) >= 0;
        if (data && runStart < 0) runStart = b;
        else if (!data && runStart >= 0) {
          yield { offset: runStart * bs, length: b * bs - runStart * bs };
          runStart = -1;
        }
      }
      if (runStart >= 0) yield { offset: runStart * bs, length: size - runStart * bs };
    },
    async *read(offset, length) {
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const b = Math.floor(pos / bs);
        const inBlock = pos - b * bs;
        const n = Math.min(bs - inBlock, end - pos, 4 << 20);
        const host = at(b);
        yield host < 0 ? new Uint8Array(n) : await readExact(reader, host + inBlock, n, FORMAT, `block ${b}`);
        pos += n;
      }
    },
    close: async () => {
      await reader.close?.();
    },
  };
}
