/**
 * VHD writer (Microsoft "Virtual Hard Disk Image Format Specification"): a container sink
 * (`vhdSink`) and `writeVhd(source, sink)`.
 *
 * fixed: the disk's bytes as they are, then the 512-byte footer. A stream by design: zeros go to
 * the output's `writeZeros` (holes in a file), nothing is held. `sizeAlign: 'mib'` rounds the
 * disk up to a whole MiB with zeros, as Azure requires of uploaded VHDs.
 *
 * dynamic: footer copy (offset 0) · dynamic disk header (512) · BAT (1536) · blocks in guest
 * order, each a sector bitmap (all sectors marked present, as qemu writes it) and the block's
 * data · footer. All-zero blocks are not stored. The BAT precedes the data: on a seekable output it
 * is patched at the end (held: 4 bytes per block of the disk); a pipe needs an allocation map.
 */
import { deterministicId, resolveEpoch, ErrorCodes, ImgkitError, type ByteSink } from '@imgkit/core';
import { BlockSink, type BlockHandler } from '../block-sink.js';
import { PassthroughSink } from '../passthrough.js';
import { WriteBehind } from '../write-behind.js';
import { RunCursor, blockRuns, type BlockRun } from '../allocation.js';
import { badOption, needsSeekable } from '../errors.js';
import { exactAllocation, pipeSource, type ByteRange, type RangeSource } from '../range-source.js';
import {
  DISK_TYPE_DYNAMIC,
  DISK_TYPE_FIXED,
  VHD_BAT_UNUSED,
  VHD_EPOCH_OFFSET,
  VHD_MAX_BYTES,
  VHD_SECTOR,
  encodeVhdDynamicHeader,
  encodeVhdFooter,
  vhdBitmapBytes,
} from './footer.js';

const FORMAT = 'vhd';
const MiB = 1 << 20;

export interface VhdOptions {
  /** Size of the virtual disk in bytes (vhdSink; writeVhd takes the source's). */
  virtualSize: number;
  /** qemu-img's `subformat` for vpc. @default 'dynamic' */
  subformat?: 'fixed' | 'dynamic';
  /** Round the disk size up to a whole MiB (Azure): `--vhd-size-align mib`. @default 'sector' */
  sizeAlign?: 'sector' | 'mib';
  /** Dynamic block size, a power of two from 512 bytes. @default 2 MiB */
  blockSize?: number;
  /**
   * Footer "Creator Application" (4 characters). 'qem2' tells readers that the footer's current
   * size, not the CHS geometry, is the disk size (qemu up to 9.x reads the geometry for any other
   * creator but win , d2v , CTXS and tap); it is what `qemu-img convert -O vpc -o force_size` writes.
   * @default 'qem2'
   */
  creatorApplication?: string;
  /** Seconds since 1970: the footer's time stamp and the seed of its unique id. @default 0 */
  epoch?: number;
  /** Seeds the unique id, so two disks of one build differ. @default '' */
  label?: string;
  /** dynamic on a non-seekable output: the byte ranges that may hold data. */
  allocation?: readonly ByteRange[];
}

interface Resolved {
  virtualSize: number;
  currentSize: number;
  subformat: 'fixed' | 'dynamic';
  blockSize: number;
  footer: Uint8Array;
}

function resolve(o: VhdOptions): Resolved {
  const v = o.virtualSize;
  if (!Number.isSafeInteger(v) || v < 0) throw badOption(FORMAT, 'virtualSize', `virtual size ${String(v)} is not a whole number of bytes`);
  const align = o.sizeAlign ?? 'sector';
  if (align !== 'sector' && align !== 'mib') throw badOption(FORMAT, 'sizeAlign', `size alignment "${String(align)}" is neither sector nor mib`);
  const currentSize = Math.ceil(v / (align === 'mib' ? MiB : VHD_SECTOR)) * (align === 'mib' ? MiB : VHD_SECTOR);
  if (currentSize > VHD_MAX_BYTES) throw badOption(FORMAT, 'virtualSize', `a VHD holds at most ${VHD_MAX_BYTES} bytes (2040 GiB); the disk has ${currentSize}`, 'use VHDX or qcow2');
  const subformat = o.subformat ?? 'dynamic';
  if (subformat !== 'fixed' && subformat !== 'dynamic') throw badOption(FORMAT, 'subformat', `subformat "${String(subformat)}" is neither fixed nor dynamic`);
  const blockSize = o.blockSize ?? 2 * MiB;
  if (!Number.isInteger(blockSize) || blockSize < VHD_SECTOR || blockSize > 256 * MiB || (blockSize & (blockSize - 1)) !== 0) {
    throw badOption(FORMAT, 'block_size', `block size ${blockSize} is not a power of two between 512 bytes and 256 MiB`);
  }
  const app = o.creatorApplication ?? 'qem2';
  if (!/^[\x20-\x7e]{1,4}$/.test(app)) throw badOption(FORMAT, 'creatorApplication', `creator application "${app}" is not 1–4 printable ASCII characters`);
  const epoch = resolveEpoch(o.epoch, FORMAT);
  const id = deterministicId('vhd-unique-id', epoch, 16, o.label ?? '');
  id[6] = (id[6]! & 0x0f) | 0x40; // RFC 9562 version 4
  id[8] = (id[8]! & 0x3f) | 0x80; // variant
  const footer = encodeVhdFooter({
    diskType: subformat === 'fixed' ? DISK_TYPE_FIXED : DISK_TYPE_DYNAMIC,
    currentSize,
    timeStamp: Math.max(0, epoch - VHD_EPOCH_OFFSET),
    uniqueId: id,
    creatorApplication: app.padEnd(4, ' '),
  });
  if (o.allocation && subformat === 'fixed') throw badOption(FORMAT, 'allocation', 'a fixed VHD is written in order and needs no allocation map');
  return { virtualSize: v, currentSize, subformat, blockSize, footer };
}

export function vhdNeedsSeekable(o: Pick<VhdOptions, 'subformat' | 'allocation'>): boolean {
  return (o.subformat ?? 'dynamic') === 'dynamic' && o.allocation === undefined;
}

export function vhdSink(out: ByteSink, o: VhdOptions): ByteSink {
  return makeSink(out, o, true);
}

function makeSink(out: ByteSink, o: VhdOptions, ownsOut: boolean): ByteSink & { abort(reason?: unknown): Promise<void> } {
  const r = resolve(o);
  if (r.subformat === 'fixed') return new PassthroughSink(out, { format: FORMAT, diskSize: r.currentSize, suffix: r.footer, ownsOut });
  if (!o.allocation && !out.seekable) {
    throw needsSeekable(FORMAT, 'a dynamic VHD keeps its block allocation table before the blocks; give an allocation map or use subformat=fixed');
  }
  const wb = new WriteBehind(out);
  const handler = new DynamicVhd(wb, r, o.allocation ? blockRuns(o.allocation, r.blockSize, r.currentSize, FORMAT) : undefined);
  return new BlockSink(FORMAT, r.currentSize, r.blockSize, handler, out, ownsOut, () => wb.drain());
}

/** Convert `source` into a VHD on `out` (not closed). */
export async function writeVhd(source: RangeSource, out: ByteSink, o: Omit<VhdOptions, 'virtualSize'> = {}): Promise<void> {
  const opts: VhdOptions = { ...o, virtualSize: source.virtualSize };
  if (vhdNeedsSeekable(opts) && !out.seekable) opts.allocation = await exactAllocation(source, o.blockSize ?? 2 * MiB);
  const sink = makeSink(out, opts, false);
  try {
    await pipeSource(source, sink);
    await sink.close();
  } catch (err) {
    await sink.abort(err).catch(() => undefined);
    throw err;
  }
}

class DynamicVhd implements BlockHandler {
  private readonly base: number;
  private readonly entries: number;
  private readonly batBytes: number;
  private readonly dataStart: number;
  private readonly bitmap: Uint8Array;
  private readonly bat: Uint32Array | undefined;
  private next: number;
  private started = false;
  private readonly cursor: RunCursor | undefined;

  constructor(
    private readonly out: ByteSink,
    private readonly r: Resolved,
    private readonly runs: readonly BlockRun[] | undefined,
  ) {
    this.base = out.position;
    this.entries = Math.ceil(r.currentSize / r.blockSize);
    this.batBytes = Math.ceil((this.entries * 4) / VHD_SECTOR) * VHD_SECTOR;
    this.dataStart = 3 * VHD_SECTOR + this.batBytes;
    this.bitmap = new Uint8Array(vhdBitmapBytes(r.blockSize)).fill(0xff);
    this.next = this.dataStart;
    if (!runs) this.bat = new Uint32Array(this.entries).fill(VHD_BAT_UNUSED);
    this.cursor = runs ? new RunCursor(runs) : undefined;
    const blockBytes = this.bitmap.byteLength + r.blockSize;
    const last = this.dataStart + this.entries * blockBytes;
    if (last / VHD_SECTOR > 0xffffffff) throw badOption(FORMAT, 'virtualSize', 'the BAT addresses sectors with 32 bits: this disk could outgrow it', 'use a larger block size, or VHDX');
  }

  private encodeBat(): Uint8Array {
    const b = new Uint8Array(this.batBytes).fill(0xff);
    const v = new DataView(b.buffer);
    if (this.bat) for (let i = 0; i < this.entries; i++) v.setUint32(i * 4, this.bat[i]!, false);
    else {
      const blockBytes = this.bitmap.byteLength + this.r.blockSize;
      const c = new RunCursor(this.runs!);
      for (let i = 0; i < this.entries; i++) {
        const rank = c.rank(i);
        if (rank >= 0) v.setUint32(i * 4, (this.dataStart + rank * blockBytes) / VHD_SECTOR, false);
      }
    }
    return b;
  }

  private async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.out.write(this.r.footer);
    await this.out.write(encodeVhdDynamicHeader(3 * VHD_SECTOR, this.entries, this.r.blockSize));
    await this.out.write(this.encodeBat());
  }

  private async put(index: number, block: Uint8Array | undefined): Promise<void> {
    if (this.cursor) {
      if (this.cursor.rank(index) < 0) {
        if (!block) return;
        throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: FORMAT, field: 'allocation', detail: `data at guest offset ${index * this.r.blockSize} lies outside the allocation map` });
      }
    } else {
      if (!block) return;
      this.bat![index] = this.next / VHD_SECTOR;
    }
    await this.out.write(this.bitmap);
    await this.out.write(block ?? new Uint8Array(this.r.blockSize));
    this.next += this.bitmap.byteLength + this.r.blockSize;
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
    await this.out.write(this.r.footer);
    if (this.bat) await this.out.writeAt(this.base + 3 * VHD_SECTOR, this.encodeBat());
  }
}
