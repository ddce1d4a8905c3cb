/**
 * qcow2 writer: a container sink (`qcow2Sink`) and `writeQcow2(source, sink)`. Two layouts, each
 * deterministic, both checked by `qemu-img check`:
 *
 * Streaming (a seekable output; the only one for compressed clusters):
 *     header (patched last) · data clusters in guest order, each L2 table right after the data it
 *     maps · L1 table · refcount table · refcount blocks
 *   Every all-zero cluster stays unallocated. Held in memory: one cluster buffer, the L2 table
 *   being filled (one cluster), the offsets of the L2 tables written (8 bytes per L1 entry used)
 *   and 2 bytes of refcount per host cluster written (what the refcount blocks hold at the end).
 *
 * Table-first (an allocation map given; the only one for a pipe), as qemu's
 * scripts/qcow2-to-stdout.py lays it out:
 *     header · refcount table · refcount blocks · L1 table · L2 tables · data clusters
 *   The map decides allocation: a cluster in the map that turns out to be all zeros is stored
 *   (the tables were written before it was read). Held: the map as runs of clusters.
 *
 * Refcounts are exact: 1 for the header, tables and each standard data cluster; for compressed
 * clusters, one reference per compressed cluster whose sectors touch the host cluster (the count
 * `qemu-img check` derives from the L2 entries). The refcount blocks cover themselves (fixed point,
 * refcount.ts). COPIED (bit 63) is set on every L1 entry and standard L2 entry (refcount 1), never
 * on compressed entries.
 */
import {
  ErrorCodes,
  ImgkitError,
  copyBytes,
  inlinePool,
  type ByteSink,
  type CodecSpec,
  type CompressJob,
  type CompressResult,
  type WorkerPool,
} from '@imgkit/core';
import { BlockSink, type BlockHandler } from '../block-sink.js';
import { WriteBehind } from '../write-behind.js';
import { OrderedJobs } from '../ordered-jobs.js';
import { RunCursor, blockRuns, runBlocks, type BlockRun } from '../allocation.js';
import { badOption, needsSeekable } from '../errors.js';
import { exactAllocation, pipeSource, type ByteRange, type RangeSource } from '../range-source.js';
import { QCOW2_COMPRESSION_DEFLATE, QCOW2_COMPRESSION_ZSTD, encodeHeaderCluster } from './header.js';
import { QCOW_MAX_L1_BYTES, QCOW_MAX_REFTABLE_BYTES, l1SizeFor, setCompressedEntry, setStandardEntry } from './tables.js';
import { RefcountArray, encodeRefcountBlock, refcountMetadataFor, refcountsPerBlock } from './refcount.js';

const FORMAT = 'qcow2';

export interface Qcow2Options {
  /** Size of the virtual disk in bytes (qcow2Sink; writeQcow2 takes the source's). */
  virtualSize: number;
  /** Cluster size (qemu-img's `cluster_size`): a power of two, 512 … 2 MiB. @default 65536 */
  clusterSize?: number;
  /** qemu-img's `compat`: '1.1' writes version 3, '0.10' version 2. @default '1.1' */
  compat?: '1.1' | '0.10';
  /** Store data clusters compressed (qemu-img convert -c); a cluster that does not shrink is stored as is. @default false */
  compress?: boolean;
  /** qemu-img's `compression_type`: raw deflate with a 4 KiB window, or zstd (version 3 only). @default 'zlib' */
  compressionType?: 'zlib' | 'zstd';
  /** Compression level. @default 6 for zlib (qemu's Z_DEFAULT_COMPRESSION), 3 for zstd */
  compressionLevel?: number;
  /** Where clusters are compressed; the output is the same for any pool. @default inlinePool() */
  pool?: WorkerPool;
  /**
   * Byte ranges that may hold data (sorted, disjoint): selects the table-first layout, which a
   * non-seekable output needs. Uncompressed only. @default undefined (streaming layout)
   */
  allocation?: readonly ByteRange[];
  /**
   * When the virtual size needs an L1 table bigger than the 32 MiB qemu opens, use the smallest
   * cluster size that addresses it instead of refusing. @default false
   */
  raiseClusterSize?: boolean;
}

export interface ResolvedQcow2Options {
  virtualSize: number;
  clusterSize: number;
  clusterBits: number;
  version: 2 | 3;
  compress: boolean;
  compressionType: 'zlib' | 'zstd';
  codec: CodecSpec;
  l1Size: number;
}

export const QCOW2_MIN_CLUSTER = 512;
export const QCOW2_MAX_CLUSTER = 2 << 20;
export const QCOW2_DEFAULT_CLUSTER = 64 << 10;

export function resolveQcow2Options(o: Qcow2Options): ResolvedQcow2Options {
  const v = o.virtualSize;
  if (!Number.isSafeInteger(v) || v < 0) throw badOption(FORMAT, 'virtualSize', `virtual size ${String(v)} is not a whole number of bytes`);
  let cs = o.clusterSize ?? QCOW2_DEFAULT_CLUSTER;
  if (!Number.isInteger(cs) || cs < QCOW2_MIN_CLUSTER || cs > QCOW2_MAX_CLUSTER || (cs & (cs - 1)) !== 0) {
    throw badOption(FORMAT, 'cluster_size', `cluster size ${String(o.clusterSize)} is not a power of two between 512 and 2097152 bytes`, 'use e.g. -o cluster_size=65536');
  }
  const compat = o.compat ?? '1.1';
  if (compat !== '1.1' && compat !== '0.10') throw badOption(FORMAT, 'compat', `compat "${String(compat)}" is neither 1.1 nor 0.10`);
  const version = compat === '1.1' ? 3 : 2;
  const compressionType = o.compressionType ?? 'zlib';
  if (compressionType !== 'zlib' && compressionType !== 'zstd') {
    throw badOption(FORMAT, 'compression_type', `compression type "${String(compressionType)}" is neither zlib nor zstd`);
  }
  if (compressionType === 'zstd' && version === 2) {
    throw badOption(FORMAT, 'compression_type', 'zstd compression needs the compression_type header field, which version 2 (compat=0.10) has not', 'use compat=1.1 or compression_type=zlib');
  }
  if (o.allocation && o.compress) {
    throw badOption(FORMAT, 'allocation', 'the table-first layout cannot hold compressed clusters: their sizes are known only after the tables', 'write compressed images to a seekable output without an allocation map');
  }
  // L1 limit (qcow2.rst "Header", size note): at most 32 MiB of L1 entries.
  let l1 = l1SizeFor(v, cs);
  if (l1 * 8 > QCOW_MAX_L1_BYTES) {
    let need = cs;
    while (need < QCOW2_MAX_CLUSTER && l1SizeFor(v, need) * 8 > QCOW_MAX_L1_BYTES) need *= 2;
    const fits = l1SizeFor(v, need) * 8 <= QCOW_MAX_L1_BYTES;
    if (!o.raiseClusterSize || !fits) {
      throw badOption(
        FORMAT,
        'cluster_size',
        `a ${v}-byte virtual disk needs an L1 table of ${l1 * 8} bytes with ${cs}-byte clusters; qemu opens at most ${QCOW_MAX_L1_BYTES}`,
        fits ? `use a cluster size of at least ${need} (-o cluster_size=${need})` : 'the disk is larger than qcow2 can address with 2 MiB clusters',
      );
    }
    cs = need;
    l1 = l1SizeFor(v, cs);
  }
  const level = o.compressionLevel ?? (compressionType === 'zstd' ? 3 : 6);
  // qcow2.rst "compression_type": deflate clusters carry no zlib header; qemu inflates them with a 4 KiB window.
  const codec: CodecSpec = compressionType === 'zstd' ? { name: 'zstd', level } : { name: 'deflate-raw', level, windowBits: 12 };
  return { virtualSize: v, clusterSize: cs, clusterBits: Math.log2(cs), version, compress: o.compress === true, compressionType, codec, l1Size: l1 };
}

/** A qcow2 image needs a seekable output unless it is written table-first (allocation map, uncompressed). */
export function qcow2NeedsSeekable(o: Pick<Qcow2Options, 'allocation' | 'compress'>): boolean {
  return o.allocation === undefined;
}

/** qcow2 container sink over `out` (closed and aborted with it). */
export function qcow2Sink(out: ByteSink, o: Qcow2Options): ByteSink {
  return makeSink(out, o, true);
}

function makeSink(out: ByteSink, o: Qcow2Options, ownsOut: boolean): BlockSink {
  const r = resolveQcow2Options(o);
  let handler: BlockHandler;
  const wb = new WriteBehind(out);
  if (o.allocation) handler = new TableFirstLayout(wb, r, blockRuns(o.allocation, r.clusterSize, r.virtualSize, FORMAT));
  else {
    if (!out.seekable) {
      throw needsSeekable(FORMAT, r.compress ? 'compressed cluster sizes are known only once compressed, after the tables that point to them' : 'without an allocation map the tables are written after the data and the header patched last');
    }
    handler = new StreamingLayout(wb, r, o.pool ?? inlinePool());
  }
  return new BlockSink(FORMAT, r.virtualSize, r.clusterSize, handler, out, ownsOut, () => wb.drain());
}

/**
 * Convert `source` into a qcow2 image on `out` (not closed: the caller's withSink does). A
 * non-seekable output gets the table-first layout from the source's exact allocation (the source
 * is read twice); compression then is E_SINK_UNSUPPORTED.
 */
export async function writeQcow2(source: RangeSource, out: ByteSink, o: Omit<Qcow2Options, 'virtualSize'> = {}): Promise<void> {
  const opts: Qcow2Options = { ...o, virtualSize: source.virtualSize };
  if (!out.seekable && !opts.allocation) {
    if (opts.compress) throw needsSeekable(FORMAT, 'compressed cluster sizes are known only once compressed, after the tables that point to them');
    const r = resolveQcow2Options(opts);
    opts.allocation = await exactAllocation(source, r.clusterSize);
  }
  const sink = makeSink(out, opts, false);
  try {
    await pipeSource(source, sink);
    await sink.close();
  } catch (err) {
    await sink.abort(err).catch(() => undefined);
    throw err;
  }
}

function ensureAt(out: ByteSink, base: number, offset: number): void {
  if (out.position !== base + offset) {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
      format: FORMAT,
      detail: `internal layout error: about to write image offset ${offset} at output position ${out.position - base}`,
    });
  }
}

/** Writes the L1 table (`l1Size` entries in whole clusters) from sorted (index, L2 offset) pairs. */
async function writeL1(out: ByteSink, r: ResolvedQcow2Options, entries: readonly { index: number; offset: number }[]): Promise<number> {
  const cs = r.clusterSize;
  const clusters = Math.max(1, Math.ceil((r.l1Size * 8) / cs));
  const perCluster = cs / 8;
  let e = 0;
  for (let c = 0; c < clusters; c++) {
    const buf = new Uint8Array(cs);
    const view = new DataView(buf.buffer);
    while (e < entries.length && entries[e]!.index < (c + 1) * perCluster) {
      setStandardEntry(view, entries[e]!.index - c * perCluster, entries[e]!.offset, true);
      e++;
    }
    await out.write(buf);
  }
  return clusters;
}

async function writeRefcounts(out: ByteSink, r: ResolvedQcow2Options, rtStart: number, tableClusters: number, blockClusters: number, refcount: (c: number) => number): Promise<void> {
  const cs = r.clusterSize;
  if (tableClusters * cs > QCOW_MAX_REFTABLE_BYTES) {
    throw new ImgkitError(ErrorCodes.NO_SPACE, {
      format: FORMAT,
      field: 'cluster_size',
      detail: `the image needs a ${tableClusters * cs}-byte refcount table; qemu opens at most ${QCOW_MAX_REFTABLE_BYTES}`,
      hint: 'use a larger cluster size',
    });
  }
  const rbStart = rtStart + tableClusters;
  const perTable = cs / 8;
  for (let t = 0; t < tableClusters; t++) {
    const buf = new Uint8Array(cs);
    const view = new DataView(buf.buffer);
    for (let i = 0; i < perTable && t * perTable + i < blockClusters; i++) setStandardEntry(view, i, (rbStart + t * perTable + i) * cs, false);
    await out.write(buf);
  }
  const per = refcountsPerBlock(cs);
  for (let b = 0; b < blockClusters; b++) await out.write(encodeRefcountBlock(cs, b * per, refcount));
}

/** The streaming layout (module comment). */
class StreamingLayout implements BlockHandler {
  private readonly cs: number;
  private readonly l2Entries: number;
  private readonly base: number;
  /** Next whole host cluster. */
  private hostNext = 1;
  /** Byte offset inside a partly filled compressed cluster, or -1 when the next write starts a cluster. */
  private cursor = -1;
  private readonly refs = new RefcountArray();
  private readonly l1: { index: number; offset: number }[] = [];
  private readonly l2: Uint8Array;
  private readonly l2View: DataView;
  private l2Index = -1;
  private l2Used = false;
  private started = false;
  private readonly jobs: OrderedJobs<CompressJob, CompressResult, number> | undefined;

  constructor(
    private readonly out: ByteSink,
    private readonly r: ResolvedQcow2Options,
    pool: WorkerPool,
  ) {
    this.cs = r.clusterSize;
    this.l2Entries = r.clusterSize / 8;
    this.base = out.position;
    this.l2 = new Uint8Array(this.cs);
    this.l2View = new DataView(this.l2.buffer);
    if (r.compress) {
      this.jobs = new OrderedJobs(pool, 'compress', Math.max(8, pool.workers * 8), (res, index) => this.put(index, res.input!, res.data));
    }
  }

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.out.write(new Uint8Array(this.cs)); // the header cluster, patched by finish()
    this.refs.add(0);
  }

  async data(index: number, block: Uint8Array): Promise<void> {
    await this.start();
    if (this.jobs) await this.jobs.push({ codec: this.r.codec, data: copyBytes(block), returnInput: true }, index);
    else await this.put(index, block, undefined);
  }

  private async put(index: number, raw: Uint8Array, compressed: Uint8Array | undefined): Promise<void> {
    const l1i = Math.floor(index / this.l2Entries);
    if (l1i !== this.l2Index) {
      await this.flushL2();
      this.l2Index = l1i;
    }
    const slot = index % this.l2Entries;
    const cs = this.cs;
    // qemu stores a cluster uncompressed unless it compresses below the cluster size (qcow2_co_pwritev_compressed).
    if (compressed && compressed.byteLength < cs) {
      let at = this.cursor;
      if (at < 0) at = this.hostNext * cs;
      ensureAt(this.out, this.base, at);
      await this.out.write(compressed);
      const end = at + compressed.byteLength;
      const firstCluster = Math.floor(at / cs);
      const lastCluster = Math.floor((end - 1) / cs);
      this.refs.add(firstCluster, lastCluster - firstCluster + 1);
      this.hostNext = lastCluster + 1;
      this.cursor = end % cs === 0 ? -1 : end;
      setCompressedEntry(this.l2View, slot, this.r.clusterBits, at, compressed.byteLength);
    } else {
      await this.alignToCluster();
      const at = this.hostNext * cs;
      ensureAt(this.out, this.base, at);
      await this.out.write(raw);
      this.refs.add(this.hostNext);
      this.hostNext++;
      setStandardEntry(this.l2View, slot, at, true);
    }
    this.l2Used = true;
  }

  /** Pad a partly filled compressed cluster: the next structure starts on a cluster boundary. */
  private async alignToCluster(): Promise<void> {
    if (this.cursor < 0) return;
    const end = this.hostNext * this.cs;
    await this.out.write(new Uint8Array(end - this.cursor));
    this.cursor = -1;
  }

  private async flushL2(): Promise<void> {
    if (!this.l2Used) return;
    await this.alignToCluster();
    const at = this.hostNext * this.cs;
    ensureAt(this.out, this.base, at);
    await this.out.write(this.l2);
    this.refs.add(this.hostNext);
    this.hostNext++;
    this.l1.push({ index: this.l2Index, offset: at });
    this.l2.fill(0);
    this.l2Used = false;
  }

  async finish(): Promise<void> {
    await this.start();
    if (this.jobs) await this.jobs.end();
    await this.flushL2();
    await this.alignToCluster();
    const cs = this.cs;
    const l1Start = this.hostNext;
    ensureAt(this.out, this.base, l1Start * cs);
    const l1Clusters = await writeL1(this.out, this.r, this.l1);
    this.refs.add(l1Start, l1Clusters);
    this.hostNext += l1Clusters;
    const { tableClusters, blockClusters } = refcountMetadataFor(this.hostNext, cs);
    const rtStart = this.hostNext;
    this.refs.add(rtStart, tableClusters + blockClusters);
    await writeRefcounts(this.out, this.r, rtStart, tableClusters, blockClusters, (c) => this.refs.get(c));
    const header = encodeHeaderCluster(
      {
        version: this.r.version,
        clusterBits: this.r.clusterBits,
        size: this.r.virtualSize,
        l1Size: this.r.l1Size,
        l1TableOffset: l1Start * cs,
        refcountTableOffset: rtStart * cs,
        refcountTableClusters: tableClusters,
        compressionType: this.r.compressionType === 'zstd' ? QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_DEFLATE,
      },
      cs,
    );
    await this.out.writeAt(this.base, header);
  }

  async abort(): Promise<void> {
    await this.jobs?.abort();
  }
}

/** The table-first layout (module comment): everything is placed before the first data byte. */
class TableFirstLayout implements BlockHandler {
  private readonly cs: number;
  private readonly base: number;
  private readonly cursor: RunCursor;
  private readonly dataStart: number;
  private readonly total: number;
  private started = false;
  private written = 0;
  private readonly l2Tables: number[];

  constructor(
    private readonly out: ByteSink,
    private readonly r: ResolvedQcow2Options,
    private readonly runs: readonly BlockRun[],
  ) {
    this.cs = r.clusterSize;
    this.base = out.position;
    this.cursor = new RunCursor(runs);
    const l2Entries = this.cs / 8;
    // L1 indices that have an L2 table, in order.
    const tables: number[] = [];
    for (const run of runs) {
      const from = Math.floor(run.first / l2Entries);
      const to = Math.floor((run.first + run.count - 1) / l2Entries);
      for (let t = from; t <= to; t++) if (tables[tables.length - 1] !== t) tables.push(t);
    }
    this.l2Tables = tables;
    const l1Clusters = Math.max(1, Math.ceil((r.l1Size * 8) / this.cs));
    const before = 1 + l1Clusters + tables.length + runBlocks(runs);
    const { tableClusters, blockClusters } = refcountMetadataFor(before, this.cs);
    this.layout = { tableClusters, blockClusters, l1Clusters };
    this.l1Start = 1 + tableClusters + blockClusters;
    this.dataStart = this.l1Start + l1Clusters + tables.length;
    this.total = this.dataStart + runBlocks(runs);
  }
  private readonly layout: { tableClusters: number; blockClusters: number; l1Clusters: number };
  private readonly l1Start: number;

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const cs = this.cs;
    const { tableClusters, blockClusters } = this.layout;
    await this.out.write(
      encodeHeaderCluster(
        {
          version: this.r.version,
          clusterBits: this.r.clusterBits,
          size: this.r.virtualSize,
          l1Size: this.r.l1Size,
          l1TableOffset: this.l1Start * cs,
          refcountTableOffset: cs,
          refcountTableClusters: tableClusters,
          compressionType: this.r.compressionType === 'zstd' ? QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_DEFLATE,
        },
        cs,
      ),
    );
    await writeRefcounts(this.out, this.r, 1, tableClusters, blockClusters, (c) => (c < this.total ? 1 : 0));
    const l2Start = this.l1Start + this.layout.l1Clusters;
    await writeL1(this.out, this.r, this.l2Tables.map((index, k) => ({ index, offset: (l2Start + k) * cs })));
    // L2 tables: data clusters are numbered in guest order from dataStart.
    const l2Entries = cs / 8;
    const c = new RunCursor(this.runs);
    for (const t of this.l2Tables) {
      const buf = new Uint8Array(cs);
      const view = new DataView(buf.buffer);
      const first = t * l2Entries;
      for (const run of this.runs) {
        const lo = Math.max(run.first, first);
        const hi = Math.min(run.first + run.count, first + l2Entries);
        for (let g = lo; g < hi; g++) setStandardEntry(view, g - first, (this.dataStart + c.rank(g)) * cs, true);
      }
      await this.out.write(buf);
    }
    ensureAt(this.out, this.base, this.dataStart * cs);
  }

  private async put(index: number, block: Uint8Array | undefined): Promise<void> {
    const rank = this.cursor.rank(index);
    if (rank < 0) {
      if (!block) return;
      throw new ImgkitError(ErrorCodes.BAD_INPUT, {
        format: FORMAT,
        field: 'allocation',
        detail: `data at guest offset ${index * this.cs} lies outside the allocation map given for the table-first layout`,
        hint: 'include every range the disk writes in the allocation map',
      });
    }
    ensureAt(this.out, this.base, (this.dataStart + rank) * this.cs);
    await this.out.write(block ?? new Uint8Array(this.cs));
    this.written++;
  }

  async data(index: number, block: Uint8Array): Promise<void> {
    await this.start();
    await this.put(index, block);
  }

  async zeros(first: number, count: number): Promise<void> {
    await this.start();
    // only clusters inside the map cost a write; walk the runs that intersect [first, first + count)
    for (const run of this.runs) {
      const lo = Math.max(run.first, first);
      const hi = Math.min(run.first + run.count, first + count);
      for (let g = lo; g < hi; g++) await this.put(g, undefined);
    }
  }

  async finish(): Promise<void> {
    await this.start();
    const expected = runBlocks(this.runs);
    if (this.written !== expected) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: FORMAT, field: 'allocation', detail: `${this.written} of the ${expected} mapped clusters were written` });
    }
  }
}
