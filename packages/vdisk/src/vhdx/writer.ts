/**
 * VHDX writer (VHDX Format Specification v1.0): a container sink (`vhdxSink`) and
 * `writeVhdx(source, sink)`. File layout, every region 1 MiB aligned (§2.1):
 *
 *     0      header section: file type identifier, header 1 and 2 (CRC-32C; sequence numbers
 *            1 and 2, so the second is current), region table 1 and 2 (CRC-32C, identical)
 *     1 MiB  log, 1 MiB of zeros: empty (the headers' LogGuid is zero, nothing to replay)
 *     2 MiB  metadata region (1 MiB): table, then from 64 KiB File Parameters, Virtual Disk
 *            Size, Page 83 Data (virtual disk id), Logical and Physical Sector Size
 *     3 MiB  BAT, rounded up to whole MiB
 *     …      payload blocks
 *
 * fixed: every block FULLY_PRESENT (File Parameters LeaveBlockAllocated), blocks contiguous in
 * guest order: the disk passes through after the tables, a stream by design.
 *
 * dynamic: all-zero blocks NOT_PRESENT, the others FULLY_PRESENT and stored in guest order.
 * The BAT precedes the data: on a seekable output it is patched at the end (held: 8 bytes per
 * block of the disk); a pipe needs an allocation map. Sector bitmap entries are NOT_PRESENT
 * (no parent). Identifiers (FileWriteGuid, DataWriteGuid, Page 83 id) derive from the epoch.
 */
import { deterministicId, resolveEpoch, ErrorCodes, ImgkitError, type ByteSink } from '@imgkit/core';
import { BlockSink, type BlockHandler } from '../block-sink.js';
import { PassthroughSink } from '../passthrough.js';
import { WriteBehind } from '../write-behind.js';
import { RunCursor, blockRuns, type BlockRun } from '../allocation.js';
import { badOption, needsSeekable } from '../errors.js';
import { exactAllocation, pipeSource, type ByteRange, type RangeSource } from '../range-source.js';
import {
  BAT_REGION_GUID,
  FILE_PARAMETERS_GUID,
  FILE_SIGNATURE,
  FP_LEAVE_BLOCKS_ALLOCATED,
  FileIdentifier,
  HEADER1_OFFSET,
  HEADER2_OFFSET,
  HEADER_SIGNATURE,
  LOGICAL_SECTOR_SIZE_GUID,
  MAX_BLOCK_SIZE,
  MAX_VIRTUAL_SIZE,
  METADATA_REGION_GUID,
  METADATA_SIGNATURE,
  META_IS_REQUIRED,
  META_IS_VIRTUAL_DISK,
  MIN_BLOCK_SIZE,
  MetadataTableEntry,
  MetadataTableHeader,
  MiB,
  PAGE83_DATA_GUID,
  PAYLOAD_BLOCK_FULLY_PRESENT,
  PAYLOAD_BLOCK_NOT_PRESENT,
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
  sealCrc,
  setBatEntry,
} from './structures.js';

const FORMAT = 'vhdx';
const LOG_OFFSET = 1 * MiB;
const LOG_LENGTH = 1 * MiB;
const METADATA_OFFSET = 2 * MiB;
const METADATA_LENGTH = 1 * MiB;
const BAT_OFFSET = 3 * MiB;

export interface VhdxOptions {
  /** Size of the virtual disk in bytes (vhdxSink; writeVhdx takes the source's). Rounded up to a logical sector. */
  virtualSize: number;
  /** qemu-img's `subformat`. @default 'dynamic' */
  subformat?: 'dynamic' | 'fixed';
  /** qemu-img's `block_size`: 1 MiB … 256 MiB, a power of two. @default as qemu-img: 8 MiB up to 1 GiB, 16 MiB up to 100 GiB, 32 MiB up to 32 TiB, else 64 MiB */
  blockSize?: number;
  /** Logical sector size. @default 512 */
  logicalSectorSize?: 512 | 4096;
  /** Physical sector size. @default 512 */
  physicalSectorSize?: 512 | 4096;
  /** Seconds since 1970; seeds the GUIDs. @default 0 */
  epoch?: number;
  /** Seeds the GUIDs, so two disks of one build differ. @default '' */
  label?: string;
  /** dynamic on a non-seekable output: the byte ranges that may hold data. */
  allocation?: readonly ByteRange[];
}

interface Resolved {
  virtualSize: number;
  diskSize: number;
  subformat: 'dynamic' | 'fixed';
  blockSize: number;
  logical: number;
  physical: number;
  blocks: number;
  ratio: number;
  batEntries: number;
  batLength: number;
  dataStart: number;
  epoch: number;
  label: string;
}

export function defaultVhdxBlockSize(virtualSize: number): number {
  if (virtualSize > 32 * 2 ** 40) return 64 * MiB;
  if (virtualSize > 100 * 2 ** 30) return 32 * MiB;
  if (virtualSize > 2 ** 30) return 16 * MiB;
  return 8 * MiB;
}

function resolve(o: VhdxOptions): Resolved {
  const logical = o.logicalSectorSize ?? 512;
  const physical = o.physicalSectorSize ?? 512;
  if (logical !== 512 && logical !== 4096) throw badOption(FORMAT, 'logicalSectorSize', `logical sector size ${String(logical)} is neither 512 nor 4096`);
  if (physical !== 512 && physical !== 4096) throw badOption(FORMAT, 'physicalSectorSize', `physical sector size ${String(physical)} is neither 512 nor 4096`);
  const v = o.virtualSize;
  if (!Number.isSafeInteger(v) || v < 0) throw badOption(FORMAT, 'virtualSize', `virtual size ${String(v)} is not a whole number of bytes`);
  const diskSize = Math.ceil(v / logical) * logical;
  if (diskSize > MAX_VIRTUAL_SIZE) throw badOption(FORMAT, 'virtualSize', `virtual size ${diskSize} is over the VHDX limit of 64 TiB`);
  const subformat = o.subformat ?? 'dynamic';
  if (subformat !== 'dynamic' && subformat !== 'fixed') throw badOption(FORMAT, 'subformat', `subformat "${String(subformat)}" is neither dynamic nor fixed`);
  const blockSize = o.blockSize ?? defaultVhdxBlockSize(diskSize);
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw badOption(FORMAT, 'block_size', `block size ${blockSize} is not a power of two between 1 MiB and 256 MiB`, 'use e.g. -o block_size=1M');
  }
  if (o.allocation && subformat === 'fixed') throw badOption(FORMAT, 'allocation', 'a fixed VHDX is written in order and needs no allocation map');
  const blocks = Math.ceil(diskSize / blockSize);
  const ratio = chunkRatio(logical, blockSize);
  const entries = batEntries(blocks, ratio);
  const batLength = Math.max(MiB, Math.ceil((entries * 8) / MiB) * MiB);
  return {
    virtualSize: v,
    diskSize,
    subformat,
    blockSize,
    logical,
    physical,
    blocks,
    ratio,
    batEntries: entries,
    batLength,
    dataStart: BAT_OFFSET + batLength,
    epoch: resolveEpoch(o.epoch, FORMAT),
    label: o.label ?? '',
  };
}

function guid(purpose: string, r: Resolved): Uint8Array {
  const id = deterministicId(purpose, r.epoch, 16, r.label);
  id[7] = (id[7]! & 0x0f) | 0x40; // RFC 9562 version 4 (Data3's high nibble; Data3 is stored little-endian)
  id[8] = (id[8]! & 0x3f) | 0x80; // variant
  return id;
}

/** The first 3 MiB: header section, empty log, metadata region. */
function encodeHeadRegions(r: Resolved): Uint8Array {
  const out = new Uint8Array(BAT_OFFSET);
  // §2.2.1 file type identifier; creator "imgkit" in UTF-16LE
  const creator = new Uint8Array(512);
  const name = 'imgkit';
  for (let i = 0; i < name.length; i++) creator[i * 2] = name.charCodeAt(i);
  FileIdentifier.encode({ signature: FILE_SIGNATURE, creator }, out, 0);
  // §2.2.2 two headers; the one with the higher sequence number is current
  const fileWrite = guid('vhdx-file-write', r);
  const dataWrite = guid('vhdx-data-write', r);
  for (const [at, seq] of [
    [HEADER1_OFFSET, 1n],
    [HEADER2_OFFSET, 2n],
  ] as const) {
    const h = VhdxHeader.encode({
      signature: HEADER_SIGNATURE,
      checksum: 0,
      sequenceNumber: seq,
      fileWriteGuid: fileWrite,
      dataWriteGuid: dataWrite,
      logGuid: new Uint8Array(16),
      logVersion: 0,
      version: 1,
      logLength: LOG_LENGTH,
      logOffset: BigInt(LOG_OFFSET),
    });
    out.set(sealCrc(h), at);
  }
  // §2.2.3 region table: BAT and metadata, both required
  const rt = new Uint8Array(REGION_TABLE_BYTES);
  RegionTableHeader.encode({ signature: REGION_SIGNATURE, checksum: 0, entryCount: 2, reserved: 0 }, rt, 0);
  RegionTableEntry.encode({ guid: BAT_REGION_GUID, fileOffset: BigInt(BAT_OFFSET), length: r.batLength, flags: 1 }, rt, 16);
  RegionTableEntry.encode({ guid: METADATA_REGION_GUID, fileOffset: BigInt(METADATA_OFFSET), length: METADATA_LENGTH, flags: 1 }, rt, 48);
  sealCrc(rt);
  out.set(rt, REGION_TABLE1_OFFSET);
  out.set(rt, REGION_TABLE2_OFFSET);
  // §2.5 metadata region: table, items from 64 KiB
  const md = out.subarray(METADATA_OFFSET, METADATA_OFFSET + METADATA_LENGTH);
  const items: [Uint8Array, Uint8Array, number][] = [];
  const u32 = (v: number): Uint8Array => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  };
  const fileParams = new Uint8Array(8); // §2.6.2.1 BlockSize, flags
  new DataView(fileParams.buffer).setUint32(0, r.blockSize, true);
  new DataView(fileParams.buffer).setUint32(4, r.subformat === 'fixed' ? FP_LEAVE_BLOCKS_ALLOCATED : 0, true);
  const size = new Uint8Array(8); // §2.6.2.2
  new DataView(size.buffer).setBigUint64(0, BigInt(r.diskSize), true);
  items.push([FILE_PARAMETERS_GUID, fileParams, META_IS_REQUIRED]);
  items.push([VIRTUAL_DISK_SIZE_GUID, size, META_IS_REQUIRED | META_IS_VIRTUAL_DISK]);
  items.push([PAGE83_DATA_GUID, guid('vhdx-page83', r), META_IS_REQUIRED | META_IS_VIRTUAL_DISK]); // §2.6.2.3
  items.push([LOGICAL_SECTOR_SIZE_GUID, u32(r.logical), META_IS_REQUIRED | META_IS_VIRTUAL_DISK]); // §2.6.2.4
  items.push([PHYSICAL_SECTOR_SIZE_GUID, u32(r.physical), META_IS_REQUIRED | META_IS_VIRTUAL_DISK]); // §2.6.2.5
  MetadataTableHeader.encode({ signature: METADATA_SIGNATURE, reserved: 0, entryCount: items.length }, md, 0);
  let at = 64 * 1024;
  items.forEach(([id, data, flags], i) => {
    MetadataTableEntry.encode({ itemId: id, offset: at, length: data.byteLength, flags }, md, 32 + i * 32);
    md.set(data, at);
    at += data.byteLength;
  });
  return out;
}

/** The BAT region (`batLength` bytes); `state(i)` gives payload block i's state and file offset. */
function encodeBat(r: Resolved, block: (i: number) => number): Uint8Array {
  const b = new Uint8Array(r.batLength);
  const v = new DataView(b.buffer);
  for (let i = 0; i < r.blocks; i++) {
    const at = block(i);
    if (at >= 0) setBatEntry(v, batIndex(i, r.ratio), PAYLOAD_BLOCK_FULLY_PRESENT, at);
    else setBatEntry(v, batIndex(i, r.ratio), PAYLOAD_BLOCK_NOT_PRESENT, 0);
  }
  return b;
}

export function vhdxNeedsSeekable(o: Pick<VhdxOptions, 'subformat' | 'allocation'>): boolean {
  return (o.subformat ?? 'dynamic') === 'dynamic' && o.allocation === undefined;
}

export function vhdxSink(out: ByteSink, o: VhdxOptions): ByteSink {
  return makeSink(out, o, true);
}

function makeSink(out: ByteSink, o: VhdxOptions, ownsOut: boolean): ByteSink & { abort(reason?: unknown): Promise<void> } {
  const r = resolve(o);
  if (r.subformat === 'fixed') {
    const head = new Uint8Array(r.dataStart);
    head.set(encodeHeadRegions(r));
    head.set(encodeBat(r, (i) => r.dataStart + i * r.blockSize), BAT_OFFSET);
    return new PassthroughSink(out, { format: FORMAT, diskSize: r.blocks * r.blockSize, prefix: head, ownsOut });
  }
  if (!o.allocation && !out.seekable) {
    throw needsSeekable(FORMAT, 'a dynamic VHDX keeps its BAT before the blocks; give an allocation map or use subformat=fixed');
  }
  const wb = new WriteBehind(out);
  const handler = new DynamicVhdx(wb, r, o.allocation ? blockRuns(o.allocation, r.blockSize, r.diskSize, FORMAT) : undefined);
  return new BlockSink(FORMAT, r.diskSize, r.blockSize, handler, out, ownsOut, () => wb.drain());
}

/** Convert `source` into a VHDX on `out` (not closed). */
export async function writeVhdx(source: RangeSource, out: ByteSink, o: Omit<VhdxOptions, 'virtualSize'> = {}): Promise<void> {
  const opts: VhdxOptions = { ...o, virtualSize: source.virtualSize };
  if (vhdxNeedsSeekable(opts) && !out.seekable) opts.allocation = await exactAllocation(source, resolve(opts).blockSize);
  const sink = makeSink(out, opts, false);
  try {
    await pipeSource(source, sink);
    await sink.close();
  } catch (err) {
    await sink.abort(err).catch(() => undefined);
    throw err;
  }
}

class DynamicVhdx implements BlockHandler {
  private readonly base: number;
  private readonly offsets: Float64Array | undefined;
  private next: number;
  private started = false;
  private readonly cursor: RunCursor | undefined;

  constructor(
    private readonly out: ByteSink,
    private readonly r: Resolved,
    private readonly runs: readonly BlockRun[] | undefined,
  ) {
    this.base = out.position;
    this.next = r.dataStart;
    if (!runs) this.offsets = new Float64Array(r.blocks).fill(-1);
    this.cursor = runs ? new RunCursor(runs) : undefined;
  }

  private bat(): Uint8Array {
    if (this.offsets) return encodeBat(this.r, (i) => this.offsets![i]!);
    const c = new RunCursor(this.runs!);
    return encodeBat(this.r, (i) => {
      const rank = c.rank(i);
      return rank < 0 ? -1 : this.r.dataStart + rank * this.r.blockSize;
    });
  }

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.out.write(encodeHeadRegions(this.r));
    await this.out.write(this.bat());
  }

  private async put(index: number, block: Uint8Array | undefined): Promise<void> {
    if (this.cursor) {
      if (this.cursor.rank(index) < 0) {
        if (!block) return;
        throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: FORMAT, field: 'allocation', detail: `data at guest offset ${index * this.r.blockSize} lies outside the allocation map` });
      }
    } else {
      if (!block) return;
      this.offsets![index] = this.next;
    }
    if (block) await this.out.write(block);
    else await this.out.write(new Uint8Array(this.r.blockSize));
    this.next += this.r.blockSize;
  }

  async data(index: number, block: Uint8Array): Promise<void> {
    await this.start();
    await this.put(index, block);
  }

  async zeros(first: number, count: number): Promise<void> {
    await this.start();
    if (!this.runs) return;
    for (const run of this.runs) {
      const lo = Math.max(run.first, first);
      const hi = Math.min(run.first + run.count, first + count);
      for (let g = lo; g < hi; g++) await this.put(g, undefined);
    }
  }

  async finish(): Promise<void> {
    await this.start();
    if (this.offsets) await this.out.writeAt(this.base + BAT_OFFSET, this.bat());
  }
}

