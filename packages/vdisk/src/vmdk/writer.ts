/**
 * VMDK writer: a container sink (`vmdkSink`) and `writeVmdk(source, sink)`.
 *
 * streamOptimized ("Virtual Disk Format 5.0", "Stream-Optimized Compressed Sparse Extents") is a
 * stream by design and is written strictly in order, to a pipe as well as a file:
 *     header (version 3, gdOffset = GD_AT_END) · descriptor · zeros up to overHead
 *     · for each non-zero grain in guest order: grain marker (LBA, size) + zlib-compressed grain
 *     · after the grains of each 32 MiB stretch: GT marker + grain table (if any grain in it)
 *     · GD marker + grain directory · footer marker + footer (the header with gdOffset) · EOS marker
 *   Held: one grain and the grain table being filled (2 KiB), the grain directory (4 bytes per
 *   32 MiB of virtual disk), and the grains in flight to the workers.
 *   Version 3 headers: ESXi refuses older stream-optimized extents ("sparse VMDK version too old").
 *
 * monolithicSparse ("Hosted Sparse Extent Header", "Grain Directories and Grain Tables"), the
 * layout qemu-img writes: header · descriptor · redundant GD · redundant GTs · GD · GTs · grains
 * (uncompressed, from overHead). The tables come before the data, so a pipe needs an allocation
 * map; on a seekable output each grain table is patched (both copies) once its grains are written.
 */
import {
  ErrorCodes,
  ImgkitError,
  copyBytes,
  deterministicId,
  inlinePool,
  resolveEpoch,
  type ByteSink,
  type CompressJob,
  type CompressResult,
  type WorkerPool,
} from '@imgkit/core';
import { BlockSink, type BlockHandler } from '../block-sink.js';
import { WriteBehind } from '../write-behind.js';
import { OrderedJobs } from '../ordered-jobs.js';
import { RunCursor, blockRuns, type BlockRun } from '../allocation.js';
import { badOption, needsSeekable } from '../errors.js';
import { exactAllocation, pipeSource, type ByteRange, type RangeSource } from '../range-source.js';
import { encodeDescriptor, type VmdkAdapterType } from './descriptor.js';
import {
  VMDK_COMPRESSION_DEFLATE,
  VMDK_COMPRESSION_NONE,
  FLAG_COMPRESSED,
  FLAG_MARKERS,
  FLAG_REDUNDANT_GRAIN_TABLE,
  FLAG_VALID_NEWLINE_TEST,
  GD_AT_END,
  GRAIN_SECTORS,
  GTES_PER_GT,
  MARKER_FOOTER,
  MARKER_GD,
  MARKER_GT,
  SECTOR,
  encodeGrainMarker,
  encodeMetadataMarker,
  encodeSparseHeader,
} from './sparse-header.js';

const FORMAT = 'vmdk';
const GRAIN_BYTES = GRAIN_SECTORS * SECTOR;
/** Sectors reserved for the embedded descriptor (what qemu reserves). */
const DESCRIPTOR_SECTORS = 20;
/** VMDK_EXTENT_MAX_SECTORS: a sparse extent addresses 2^32 sectors (2 TiB). */
export const VMDK_MAX_BYTES = 2 ** 32 * SECTOR;

export interface VmdkOptions {
  /** Size of the virtual disk in bytes, a multiple of 512 (vmdkSink; writeVmdk takes the source's). */
  virtualSize: number;
  /** qemu-img's `subformat`. @default 'streamOptimized' */
  subformat?: 'streamOptimized' | 'monolithicSparse';
  /** ddb.adapterType (qemu-img's `adapter_type`). @default 'ide' */
  adapterType?: VmdkAdapterType;
  /** ddb.virtualHWVersion (qemu-img's `hwversion`). @default 10 */
  hwVersion?: number;
  /** Extent file name written in the descriptor (the .vmdk's own name). @default 'disk.vmdk' */
  fileName?: string;
  /** Seconds since 1970; seeds the CID and ddb.uuid. @default 0 */
  epoch?: number;
  /** Label seeding the ids, so two disks of one build differ. @default '' */
  label?: string;
  /** zlib level of stream-optimized grains. @default 6 */
  compressionLevel?: number;
  /** Where grains are compressed; the output is the same for any pool. @default inlinePool() */
  pool?: WorkerPool;
  /** monolithicSparse on a non-seekable output: the byte ranges that may hold data. */
  allocation?: readonly ByteRange[];
}

interface Resolved {
  virtualSize: number;
  capacity: number;
  subformat: 'streamOptimized' | 'monolithicSparse';
  descriptor: Uint8Array;
  level: number;
}

function resolve(o: VmdkOptions): Resolved {
  const v = o.virtualSize;
  if (!Number.isSafeInteger(v) || v < 0 || v % SECTOR !== 0) {
    throw badOption(FORMAT, 'virtualSize', `virtual size ${String(v)} is not a whole number of 512-byte sectors`);
  }
  if (v > VMDK_MAX_BYTES) throw badOption(FORMAT, 'virtualSize', `virtual size ${v} is over the 2 TiB a sparse VMDK extent addresses`);
  const subformat = o.subformat ?? 'streamOptimized';
  if (subformat !== 'streamOptimized' && subformat !== 'monolithicSparse') {
    throw badOption(FORMAT, 'subformat', `subformat "${String(subformat)}" is not streamOptimized or monolithicSparse`);
  }
  const adapterType = o.adapterType ?? 'ide';
  if (!['ide', 'buslogic', 'lsilogic', 'legacyESX'].includes(adapterType)) {
    throw badOption(FORMAT, 'adapter_type', `adapter type "${String(adapterType)}" is not ide, buslogic, lsilogic or legacyESX`);
  }
  const hwVersion = o.hwVersion ?? 10;
  if (!Number.isInteger(hwVersion) || hwVersion < 4 || hwVersion > 99) throw badOption(FORMAT, 'hwversion', `hardware version ${hwVersion} is outside 4…99`);
  const epoch = resolveEpoch(o.epoch, FORMAT);
  const label = o.label ?? '';
  const cidBytes = deterministicId('vmdk-cid', epoch, 4, label);
  const cid = ((cidBytes[0]! << 24) | (cidBytes[1]! << 16) | (cidBytes[2]! << 8) | cidBytes[3]!) >>> 0;
  const text = encodeDescriptor({
    cid,
    createType: subformat,
    capacitySectors: v / SECTOR,
    fileName: o.fileName ?? 'disk.vmdk',
    adapterType,
    hwVersion,
    uuid: deterministicId('vmdk-uuid', epoch, 16, label),
  });
  const descriptor = new TextEncoder().encode(text);
  if (descriptor.byteLength > DESCRIPTOR_SECTORS * SECTOR) {
    throw badOption(FORMAT, 'fileName', `the descriptor is ${descriptor.byteLength} bytes; ${DESCRIPTOR_SECTORS * SECTOR} are reserved`, 'use a shorter file name');
  }
  const level = o.compressionLevel ?? 6;
  if (o.allocation && subformat === 'streamOptimized') {
    throw badOption(FORMAT, 'allocation', 'a stream-optimized VMDK needs no allocation map: its tables follow the grains');
  }
  return { virtualSize: v, capacity: v / SECTOR, subformat, descriptor, level };
}

/** Whether this VMDK needs a seekable output (monolithicSparse without an allocation map). */
export function vmdkNeedsSeekable(o: Pick<VmdkOptions, 'subformat' | 'allocation'>): boolean {
  return (o.subformat ?? 'streamOptimized') === 'monolithicSparse' && o.allocation === undefined;
}

export function vmdkSink(out: ByteSink, o: VmdkOptions): ByteSink {
  return vmdkContainer(out, o, true);
}

/** The VMDK container sink; `ownsOut` false leaves `out` open (writeVmdk, the OVA). */
export function vmdkContainer(out: ByteSink, o: VmdkOptions, ownsOut: boolean): BlockSink {
  const r = resolve(o);
  let handler: BlockHandler;
  const wb = new WriteBehind(out);
  if (r.subformat === 'streamOptimized') handler = new StreamOptimized(wb, r, o.pool ?? inlinePool());
  else {
    if (!o.allocation && !out.seekable) {
      throw needsSeekable(FORMAT, 'a monolithicSparse VMDK keeps its grain tables before the grains; give an allocation map or use subformat=streamOptimized');
    }
    handler = new MonolithicSparse(wb, r, o.allocation ? blockRuns(o.allocation, GRAIN_BYTES, r.virtualSize, FORMAT) : undefined);
  }
  return new BlockSink(FORMAT, r.virtualSize, GRAIN_BYTES, handler, out, ownsOut, () => wb.drain());
}

/** Convert `source` into a VMDK on `out` (not closed). */
export async function writeVmdk(source: RangeSource, out: ByteSink, o: Omit<VmdkOptions, 'virtualSize'> = {}): Promise<void> {
  const opts: VmdkOptions = { ...o, virtualSize: source.virtualSize };
  if (vmdkNeedsSeekable(opts) && !out.seekable) opts.allocation = await exactAllocation(source, GRAIN_BYTES);
  const sink = vmdkContainer(out, opts, false);
  try {
    await pipeSource(source, sink);
    await sink.close();
  } catch (err) {
    await sink.abort(err).catch(() => undefined);
    throw err;
  }
}

/** u32 entries as stored (little-endian, whatever the host). */
function u32leBytes(a: Uint32Array, n: number): Uint8Array {
  const out = new Uint8Array(n * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) v.setUint32(i * 4, a[i]!, true);
  return out;
}

/** Header fields common to both subformats. */
function headerBase(r: Resolved): { capacity: bigint; grainSize: bigint; descriptorOffset: bigint; descriptorSize: bigint; numGTEsPerGT: number } {
  return {
    capacity: BigInt(r.capacity),
    grainSize: BigInt(GRAIN_SECTORS),
    descriptorOffset: 1n,
    descriptorSize: BigInt(DESCRIPTOR_SECTORS),
    numGTEsPerGT: GTES_PER_GT,
  };
}

function descriptorSectors(r: Resolved): Uint8Array {
  const d = new Uint8Array(DESCRIPTOR_SECTORS * SECTOR);
  d.set(r.descriptor);
  return d;
}

class StreamOptimized implements BlockHandler {
  private readonly base: number;
  /** Output position in sectors, relative to the image start. */
  private sector = 0;
  private readonly gd: Uint32Array;
  private readonly gt = new Uint32Array(GTES_PER_GT);
  private gtIndex = -1;
  private gtUsed = false;
  private started = false;
  private readonly overHead = GRAIN_SECTORS;
  private readonly jobs: OrderedJobs<CompressJob, CompressResult, number>;

  constructor(
    private readonly out: ByteSink,
    private readonly r: Resolved,
    pool: WorkerPool,
  ) {
    this.base = out.position;
    this.gd = new Uint32Array(Math.ceil(r.capacity / (GRAIN_SECTORS * GTES_PER_GT)));
    this.jobs = new OrderedJobs(pool, 'compress', Math.max(8, pool.workers * 8), (res, index) => this.putGrain(index, res.data));
  }

  private header(gdOffset: bigint): Uint8Array {
    return encodeSparseHeader({
      version: 3,
      flags: FLAG_VALID_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS,
      ...headerBase(this.r),
      rgdOffset: 0n,
      gdOffset,
      overHead: BigInt(this.overHead),
      compressAlgorithm: VMDK_COMPRESSION_DEFLATE,
    });
  }

  private async emit(bytes: Uint8Array): Promise<void> {
    await this.out.write(bytes);
    this.sector += bytes.byteLength / SECTOR;
  }

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.emit(this.header(GD_AT_END));
    await this.emit(descriptorSectors(this.r));
    await this.emit(new Uint8Array((this.overHead - this.sector) * SECTOR));
  }

  async data(index: number, block: Uint8Array): Promise<void> {
    await this.start();
    await this.jobs.push({ codec: { name: 'zlib', level: this.r.level }, data: copyBytes(block) }, index);
  }

  private async putGrain(index: number, compressed: Uint8Array): Promise<void> {
    const gti = Math.floor(index / GTES_PER_GT);
    if (gti !== this.gtIndex) {
      await this.flushGt();
      this.gtIndex = gti;
    }
    this.gt[index % GTES_PER_GT] = this.sector;
    this.gtUsed = true;
    await this.emit(encodeGrainMarker(index * GRAIN_SECTORS, compressed));
  }

  private async flushGt(): Promise<void> {
    if (!this.gtUsed) return;
    const sectors = (GTES_PER_GT * 4) / SECTOR;
    await this.emit(encodeMetadataMarker(MARKER_GT, sectors));
    this.gd[this.gtIndex] = this.sector;
    await this.emit(u32leBytes(this.gt, this.gt.length));
    this.gt.fill(0);
    this.gtUsed = false;
  }

  async finish(): Promise<void> {
    await this.start();
    await this.jobs.end();
    await this.flushGt();
    const gdSectors = Math.max(1, Math.ceil((this.gd.length * 4) / SECTOR));
    await this.emit(encodeMetadataMarker(MARKER_GD, gdSectors));
    const gdOffset = this.sector;
    const gd = new Uint8Array(gdSectors * SECTOR);
    gd.set(u32leBytes(this.gd, this.gd.length));
    await this.emit(gd);
    await this.emit(encodeMetadataMarker(MARKER_FOOTER, 1));
    await this.emit(this.header(BigInt(gdOffset)));
    await this.emit(new Uint8Array(SECTOR)); // end-of-stream marker: a sector of zeros
    if (this.out.position !== this.base + this.sector * SECTOR) {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: FORMAT, detail: 'internal layout error: output position and sector count disagree' });
    }
  }

  async abort(): Promise<void> {
    await this.jobs.abort();
  }
}

class MonolithicSparse implements BlockHandler {
  private readonly base: number;
  private readonly numGts: number;
  private readonly gdSectors: number;
  private readonly rgdOffset: number;
  private readonly gdOffset: number;
  private readonly overHead: number;
  private started = false;
  private sector = 0;
  private readonly gt = new Uint32Array(GTES_PER_GT);
  private gtIndex = -1;
  private gtUsed = false;
  private readonly cursor: RunCursor | undefined;

  constructor(
    private readonly out: ByteSink,
    private readonly r: Resolved,
    private readonly runs: readonly BlockRun[] | undefined,
  ) {
    this.base = out.position;
    this.numGts = Math.ceil(r.capacity / (GRAIN_SECTORS * GTES_PER_GT));
    this.gdSectors = Math.max(1, Math.ceil((this.numGts * 4) / SECTOR));
    const gtSectors = (GTES_PER_GT * 4) / SECTOR;
    this.rgdOffset = 1 + DESCRIPTOR_SECTORS;
    this.gdOffset = this.rgdOffset + this.gdSectors + this.numGts * gtSectors;
    this.overHead = Math.ceil((this.gdOffset + this.gdSectors + this.numGts * gtSectors) / GRAIN_SECTORS) * GRAIN_SECTORS;
    this.cursor = runs ? new RunCursor(runs) : undefined;
  }

  private gtSector(copy: 'primary' | 'redundant', gti: number): number {
    return (copy === 'primary' ? this.gdOffset : this.rgdOffset) + this.gdSectors + gti * 4;
  }

  private directory(copy: 'primary' | 'redundant'): Uint8Array {
    const d = new Uint8Array(this.gdSectors * SECTOR);
    const v = new DataView(d.buffer);
    for (let i = 0; i < this.numGts; i++) v.setUint32(i * 4, this.gtSector(copy, i), true);
    return d;
  }

  /** Grain table `gti` when the allocation map decides (grains numbered in guest order from overHead). */
  private mappedTable(gti: number, c: RunCursor): Uint8Array {
    const t = new Uint8Array(GTES_PER_GT * 4);
    const v = new DataView(t.buffer);
    for (let i = 0; i < GTES_PER_GT; i++) {
      const rank = c.rank(gti * GTES_PER_GT + i);
      if (rank >= 0) v.setUint32(i * 4, this.overHead + rank * GRAIN_SECTORS, true);
    }
    return t;
  }

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const header = encodeSparseHeader({
      version: 1,
      flags: FLAG_VALID_NEWLINE_TEST | FLAG_REDUNDANT_GRAIN_TABLE,
      ...headerBase(this.r),
      rgdOffset: BigInt(this.rgdOffset),
      gdOffset: BigInt(this.gdOffset),
      overHead: BigInt(this.overHead),
      compressAlgorithm: VMDK_COMPRESSION_NONE,
    });
    await this.out.write(header);
    await this.out.write(descriptorSectors(this.r));
    for (const copy of ['redundant', 'primary'] as const) {
      await this.out.write(this.directory(copy));
      if (this.runs) {
        const c = new RunCursor(this.runs);
        for (let g = 0; g < this.numGts; g++) await this.out.write(this.mappedTable(g, c));
      } else await this.out.write(new Uint8Array(this.numGts * GTES_PER_GT * 4)); // patched as grains are written
    }
    const at = this.out.position - this.base;
    await this.out.write(new Uint8Array(this.overHead * SECTOR - at));
    this.sector = this.overHead;
  }

  async data(index: number, block: Uint8Array): Promise<void> {
    await this.start();
    await this.put(index, block);
  }

  private async put(index: number, block: Uint8Array | undefined): Promise<void> {
    if (this.cursor) {
      const rank = this.cursor.rank(index);
      if (rank < 0) {
        if (!block) return;
        throw new ImgkitError(ErrorCodes.BAD_INPUT, {
          format: FORMAT,
          field: 'allocation',
          detail: `data at guest offset ${index * GRAIN_BYTES} lies outside the allocation map`,
          hint: 'include every range the disk writes in the allocation map',
        });
      }
      await this.out.write(block ?? new Uint8Array(GRAIN_BYTES));
      this.sector += GRAIN_SECTORS;
      return;
    }
    if (!block) return;
    const gti = Math.floor(index / GTES_PER_GT);
    if (gti !== this.gtIndex) {
      await this.flushGt();
      this.gtIndex = gti;
    }
    this.gt[index % GTES_PER_GT] = this.sector;
    this.gtUsed = true;
    await this.out.write(block);
    this.sector += GRAIN_SECTORS;
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

  private async flushGt(): Promise<void> {
    if (!this.gtUsed) return;
    const bytes = u32leBytes(this.gt, this.gt.length);
    for (const copy of ['redundant', 'primary'] as const) await this.out.writeAt(this.base + this.gtSector(copy, this.gtIndex) * SECTOR, bytes);
    this.gt.fill(0);
    this.gtUsed = false;
  }

  async finish(): Promise<void> {
    await this.start();
    await this.flushGt();
  }
}
