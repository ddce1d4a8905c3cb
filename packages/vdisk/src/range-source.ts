/**
 * RangeSource: what every VM-disk writer reads. A virtual disk is its size, an allocation map
 * (sorted, disjoint byte ranges that may hold data; everything else reads as zeros) and a way to
 * read each range in order. A raw image file, an image of another format (qcow2, VMDK, VHD,
 * VHDX: `openImage`) and the disk composer (which knows which ranges it writes) all provide one.
 *
 * The writers themselves are container sinks (ByteSink): `pipeSource(source, sink)` writes the
 * ranges with `write` and the gaps with `writeZeros`, which the container turns into unallocated
 * clusters. A source that can be read twice also gives the exact allocation a format needs up
 * front when its output cannot seek (`exactAllocation`).
 */
import { ErrorCodes, ImgkitError, type ByteSink, type RandomAccessReader } from '@imgkit/core';
import { isZeroBlock } from './zero.js';

/** A byte range of the virtual disk. */
export interface ByteRange {
  offset: number;
  length: number;
}

export interface RangeSource {
  /** Size of the virtual disk in bytes. */
  readonly virtualSize: number;
  /** The format the source reads ('raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', or a caller's name). */
  readonly format: string;
  /** Sorted, disjoint ranges that may hold non-zero bytes; everything else reads as zeros. */
  ranges(): AsyncIterable<ByteRange>;
  /** The bytes of [offset, offset + length), which lies inside one range, as chunks in order. */
  read(offset: number, length: number): AsyncIterable<Uint8Array>;
  /** Release files or handles. */
  close?(): Promise<void>;
}

export const SECTOR_SIZE = 512;

/** Whole bytes → a multiple of `align` (towards +infinity). */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Write a source into a sink: ranges with `write`, gaps and the tail with `writeZeros`. */
export async function pipeSource(source: RangeSource, sink: ByteSink): Promise<void> {
  const base = sink.position;
  for await (const r of source.ranges()) {
    const gap = base + r.offset - sink.position;
    if (gap < 0) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: source.format, detail: `range ${r.offset}+${r.length} overlaps the previous one or is out of order` });
    }
    if (gap > 0) await zeros(sink, gap);
    let done = 0;
    for await (const chunk of source.read(r.offset, r.length)) {
      await sink.write(chunk);
      done += chunk.byteLength;
    }
    if (done !== r.length) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, {
        format: source.format,
        detail: `range ${r.offset}+${r.length} gave ${done} bytes: the input is truncated`,
      });
    }
  }
  const tail = base + source.virtualSize - sink.position;
  if (tail > 0) await zeros(sink, tail);
}

async function zeros(sink: ByteSink, n: number): Promise<void> {
  if (sink.writeZeros) return sink.writeZeros(n);
  const z = new Uint8Array(Math.min(n, 1 << 20));
  while (n > 0) {
    const k = Math.min(n, z.byteLength);
    await sink.write(z.subarray(0, k));
    n -= k;
  }
}

/**
 * Which `granule`-sized blocks of the source hold non-zero bytes: the source is read once and
 * every block checked. Returns sorted ranges aligned to `granule` (adjacent blocks merged). This is
 * the allocation map a table-first layout needs when its output cannot seek; it costs one extra
 * read of the allocated ranges (the writer reads them again).
 */
export async function exactAllocation(source: RangeSource, granule: number): Promise<ByteRange[]> {
  const out: ByteRange[] = [];
  const add = (block: number) => {
    const offset = block * granule;
    const last = out[out.length - 1];
    if (last && last.offset + last.length === offset) last.length += granule;
    else if (!last || last.offset + last.length < offset) out.push({ offset, length: granule });
  };
  for await (const r of source.ranges()) {
    let pos = r.offset;
    let fill = pos % granule;
    let block = Math.floor(pos / granule);
    let nonZero = false;
    for await (const chunk of source.read(r.offset, r.length)) {
      let at = 0;
      while (at < chunk.byteLength) {
        const n = Math.min(granule - fill, chunk.byteLength - at);
        if (!nonZero && !isZeroBlock(chunk.subarray(at, at + n))) nonZero = true;
        at += n;
        fill += n;
        pos += n;
        if (fill === granule) {
          if (nonZero) add(block);
          block++;
          fill = 0;
          nonZero = false;
        }
      }
    }
    if (fill > 0 && nonZero) add(block);
  }
  return out;
}

/** Chunks a raw source keeps in flight. */
const READ_AHEAD = 3;

export interface RawSourceOptions {
  /**
   * Treat the input as raw even when it starts like a qcow2, VMDK, VHD or VHDX image. Without it
   * such an input is E_BAD_INPUT: converting an image as if it were a raw disk is almost always a
   * mistake (`openImage` detects the format). @default false
   */
  force?: boolean;
  /** Bytes per read. @default 4 MiB */
  chunkBytes?: number;
  /** Name for messages. */
  path?: string;
  /**
   * Whether the file has any allocated blocks (a Node caller passes `stat.blocks > 0`): a file
   * that is one hole is known to be all zeros without reading it. @default true
   */
  hasData?: boolean;
}

/**
 * A raw disk image read through a RandomAccessReader (`nodeFileReader` in Node, `blobReader` in
 * a browser). Its virtual size is the file size rounded up to a whole 512-byte sector (as qemu
 * reads raw files); the allocation map is the whole file, and the container sinks skip all-zero
 * clusters as they read them (Node exposes no SEEK_DATA/SEEK_HOLE, so holes are found by reading).
 */
export async function rawSource(reader: RandomAccessReader, options: RawSourceOptions = {}): Promise<RangeSource> {
  if (!options.force && reader.size > 0) {
    const { detectFormat } = await import('./detect.js');
    const found = await detectFormat(reader);
    if (found !== 'raw') {
      const info: ConstructorParameters<typeof ImgkitError>[1] = {
        format: 'vdisk',
        detail: `the input is a ${found} image, not a raw disk`,
        hint: 'open it with openImage() (the CLI detects the input format), or force raw (-f raw) to copy its bytes as a disk',
      };
      if (options.path !== undefined) info.path = options.path;
      throw new ImgkitError(ErrorCodes.BAD_INPUT, info);
    }
  }
  const size = reader.size;
  const chunk = options.chunkBytes ?? 4 << 20;
  const hasData = options.hasData ?? true;
  return {
    virtualSize: alignUp(size, SECTOR_SIZE),
    format: 'raw',
    async *ranges() {
      if (size > 0 && hasData) yield { offset: 0, length: size };
    },
    async *read(offset, length) {
      // Reads ahead: the next chunks are in flight while the sink works on this one.
      const ahead: Promise<Uint8Array>[] = [];
      let requested = 0;
      const request = () => {
        while (ahead.length < READ_AHEAD && requested < length) {
          const want = Math.min(chunk, length - requested);
          const p = reader.read(offset + requested, want);
          p.catch(() => {}); // observed when its turn comes
          ahead.push(p);
          requested += want;
        }
      };
      request();
      while (ahead.length > 0) {
        const got = await ahead.shift()!;
        request();
        if (got.byteLength === 0) return;
        yield got;
      }
    },
    close: async () => {
      await reader.close?.();
    },
  };
}

/** A source over bytes in memory (tests, small images in a browser). */
export function memorySource(bytes: Uint8Array, virtualSize = alignUp(bytes.byteLength, SECTOR_SIZE)): RangeSource {
  return {
    virtualSize,
    format: 'raw',
    async *ranges() {
      if (bytes.byteLength > 0) yield { offset: 0, length: bytes.byteLength };
    },
    async *read(offset, length) {
      for (let at = 0; at < length; at += 1 << 20) yield bytes.subarray(offset + at, offset + Math.min(length, at + (1 << 20)));
    },
  };
}
