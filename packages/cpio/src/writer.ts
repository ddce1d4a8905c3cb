/**
 * writeCpio: a tree → a (compressed) newc/crc cpio archive, the kernel's initramfs format.
 *
 * Order of work:
 *   1. plan the optional early archive and the main archive (`planCpio`: metadata only, all checks
 *      up front, so a bad name or an oversized file fails before a byte is written; the size of
 *      each uncompressed archive is known from the plan);
 *   2. stream the early archive uncompressed (e.g. CPU microcode, which the kernel looks for before
 *      it decompresses anything), padded with zeros to 512 bytes as `cpio -o` pads its blocks;
 *   3. stream the main archive's bytes — header+name, then the content chunk by chunk as the
 *      source yields it, then padding — through `compressStream`, which compresses fixed-size
 *      blocks (in parallel on a pool) into one kernel-readable stream.
 * No file is held whole: memory is the plan (one record per entry) plus the blocks in flight. zstd
 * frames may only end between entries (each ends at the first entry boundary after 4 MiB); a file
 * that would make a frame hold more than 32 MiB goes out in 4 MiB pieces spliced into that frame
 * (core's compressStream and zstd-splice.ts), so zstd's memory is bounded too.
 *
 * buffer-format.rst grammar: initramfs := ("\0" | cpio_archive | cpio_compressed_archive)*, so an
 * uncompressed archive, zero padding and a compressed archive may simply follow each other.
 */
import {
  CODEC_LEVELS,
  ContentFill,
  ErrorCodes,
  XZ_PRESET_LEVELS,
  checkLevel,
  narrowLevels,
  ImgkitError,
  STREAM_BOUNDARY,
  syncReaderOf,
  SourceChangedError,
  compressStream,
  expectSinkSize,
  padLength,
  readChecked,
  ReadAhead,
  type ByteSink,
  type CodecSpec,
  type ImagePlan,
  type ImageRequirements,
  type LevelRange,
  type SourceTree,
  type WarningHandler,
  type WorkerPool,
} from '@imgkit/core';
import { CPIO_TRAILER_NAME, CRC_MAGIC, NEWC_MAGIC, byteSum, encodeEntryHead } from './newc-header.js';
import { archiveSize, planArchive, type PlannedEntry } from './plan.js';

export type CpioCompression = 'gzip' | 'zstd' | 'lz4' | 'xz' | 'none';

export interface CpioOptions {
  /** 'newc' (070701) or 'crc' (070702: like newc, plus a byte sum of each file's data). @default 'newc' */
  format?: 'newc' | 'crc';
  /**
   * Compression of the main archive. 'lz4' is the legacy format (`lz4 -l`), the only lz4 format
   * the kernel reads; 'xz' uses the CRC32 check the kernel requires. @default 'gzip'
   */
  compression?: CpioCompression;
  /** Compression level, within CPIO_LEVELS[compression] (lz4 and none take none). @default gzip 6, zstd 3, xz 6 */
  level?: number;
  /** Pool that compresses blocks in parallel; output is the same either way. @default inline (main thread) */
  pool?: WorkerPool;
  /** Seconds; file times newer than it are clamped to it (SOURCE_DATE_EPOCH). @default no clamping */
  epoch?: number;
  /** An uncompressed archive put in front of the main one (e.g. kernel/x86/microcode/…). @default none */
  early?: SourceTree;
  /** Lossy conversions (extended attributes dropped) are reported here. @default ignored */
  onWarning?: WarningHandler;
  /** Turn warnings into errors. @default false */
  strict?: boolean;
  /** Called after each entry is written (progress display). @default none */
  onProgress?: (p: CpioProgress) => void;
}

export interface CpioProgress {
  /** Entries written so far, and in all. */
  entries: number;
  totalEntries: number;
  /** Uncompressed archive bytes produced so far. */
  bytes: number;
}

export interface CpioResult {
  /** Entries written (both archives, trailers excluded). */
  entries: number;
  /** Uncompressed size of the main archive. */
  archiveBytes: number;
  /** Bytes written to the sink. */
  outputBytes: number;
}

const FORMAT = 'cpio';
/** Blocks handed to the compressor: small header pieces are gathered into blocks of this size. */
const BLOCK_BYTES = 256 * 1024;
const ZEROS = new Uint8Array(512);
/**
 * Highest zstd level whose frames the kernel unpacks: up to 19 the window stays ≤ 8 MiB
 * (ZSTD_WINDOWSIZE_MAX in lib/decompress_unzstd.c) whatever the frame size.
 */
export const ZSTD_KERNEL_MAX_LEVEL = 19;

/**
 * The levels each compression takes here: the codec's own (core's CODEC_LEVELS), narrowed where the
 * kernel's unpacker or this build needs it. lz4 (fast mode only) and none take no level.
 */
export const CPIO_LEVELS: Readonly<Record<CpioCompression, LevelRange | undefined>> = {
  gzip: CODEC_LEVELS.gzip,
  // lib/decompress_unzstd.c refuses frames whose window exceeds ZSTD_WINDOWSIZE_MAX (8 MiB);
  // levels 20–22 give a frame over 8 MiB a window as large as the frame (up to 128 MiB).
  zstd: narrowLevels(CODEC_LEVELS.zstd!, {
    max: ZSTD_KERNEL_MAX_LEVEL,
    why: `levels above ${ZSTD_KERNEL_MAX_LEVEL} use windows over 8 MiB, which the kernel's initramfs unpacker rejects ("too large a window size"); its own initramfs uses 19`,
  }),
  // The preset's own dictionary is used: 8 and 9 need more than the wasm encoder can allocate.
  xz: XZ_PRESET_LEVELS,
  lz4: undefined,
  none: undefined,
};
/** Alignment of the early archive's end. */
const EARLY_ALIGN = 512;

/** Each compression option as the codec that writes what the kernel's initramfs unpacker reads (the one table). */
const CODECS: Record<Exclude<CpioCompression, 'none'>, CodecSpec> = {
  gzip: { name: 'gzip' },
  zstd: { name: 'zstd' },
  lz4: { name: 'lz4-legacy' },
  xz: { name: 'xz', check: 'crc32' },
};

interface Resolved {
  format: 'newc' | 'crc';
  compression: CpioCompression;
  level: number | undefined;
  epoch: number | undefined;
}

function resolveOptions(o: CpioOptions): Resolved {
  const format = o.format ?? 'newc';
  if (format !== 'newc' && format !== 'crc') {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: FORMAT, field: 'format', detail: `unknown cpio format "${String(format)}"`, hint: "use 'newc' or 'crc'" });
  }
  const compression = o.compression ?? 'gzip';
  if (compression !== 'none' && !(compression in CODECS)) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: FORMAT, field: 'compression', detail: `unknown compression "${String(compression)}"`, hint: 'use gzip, zstd, lz4, xz or none' });
  }
  checkLevel(o.level, { label: compression === 'none' ? 'compression none' : compression, format: FORMAT, field: 'level', range: CPIO_LEVELS[compression] });
  if (o.epoch !== undefined && (!Number.isSafeInteger(o.epoch) || o.epoch < 0 || o.epoch > 0xffffffff)) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: FORMAT, field: 'epoch', detail: `epoch ${o.epoch} is not a whole number of seconds in 0…4294967295` });
  }
  return { format, compression, level: o.level, epoch: o.epoch };
}

/** Gathers pieces into fresh blocks of BLOCK_BYTES; large pieces pass through without a copy. */
class BlockGatherer {
  private buf: Uint8Array | null = null;
  private fill = 0;
  total = 0;
  *push(piece: Uint8Array): Iterable<Uint8Array> {
    this.total += piece.byteLength;
    if (piece.byteLength >= BLOCK_BYTES / 4) {
      yield* this.flush();
      yield piece;
      return;
    }
    let rest = piece;
    while (rest.byteLength > 0) {
      this.buf ??= new Uint8Array(BLOCK_BYTES);
      const n = Math.min(BLOCK_BYTES - this.fill, rest.byteLength);
      this.buf.set(rest.subarray(0, n), this.fill);
      this.fill += n;
      rest = rest.subarray(n);
      if (this.fill === BLOCK_BYTES) yield* this.flush();
    }
  }
  *flush(): Iterable<Uint8Array> {
    if (!this.buf || this.fill === 0) return;
    if (this.fill === BLOCK_BYTES) {
      // A full block changes hands; the next piece starts a new one.
      yield this.buf;
      this.buf = null;
    } else {
      // A partial block (at an entry boundary, or the end) is copied out and the buffer reused:
      // boundaries come after every entry with zstd, most of them after a few hundred bytes.
      yield this.buf.slice(0, this.fill);
    }
    this.fill = 0;
  }
}

/**
 * Hands pieces on as they are: for zstd, whose frame builder (core's compressStream) copies every
 * piece into the frame's own buffer anyway, so gathering first would be one more copy.
 */
class PassThrough {
  total = 0;
  *push(piece: Uint8Array): Iterable<Uint8Array> {
    this.total += piece.byteLength;
    yield piece;
  }
  *flush(): Iterable<Uint8Array> {}
}

/** The 32-bit byte sum of a file's content ("crc" format), read in a first pass. */
async function contentSum(p: PlannedEntry): Promise<number> {
  let sum = 0;
  for await (const c of readChecked(p.content!, FORMAT, p.content!.size)) sum = byteSum(c, sum);
  return sum;
}

/**
 * The uncompressed archive bytes, in blocks. With `markBoundaries`, STREAM_BOUNDARY follows each
 * entry: a place where a new compressed segment may start (see core's compressStream: the
 * kernel's unpacker accepts a new zstd frame wherever its cpio parser is between two entries).
 */
async function* archiveBytes(
  planned: readonly PlannedEntry[],
  format: 'newc' | 'crc',
  progress: { done: number; total: number; bytes: number; cb?: ((p: CpioProgress) => void) | undefined },
  align = 4,
  markBoundaries = false,
): AsyncIterable<Uint8Array | typeof STREAM_BOUNDARY | ContentFill> {
  const g = markBoundaries ? new PassThrough() : new BlockGatherer();
  const magic = format === 'crc' ? CRC_MAGIC : NEWC_MAGIC;
  // Small files are read a few ahead of the one being written (the copy is latency-bound, not CPU-bound);
  // the crc format reads each file twice and keeps plain in-order reads.
  const ahead = format === 'crc' ? undefined : new ReadAhead(planned.map((p) => (p.target || p.filesize === 0 ? undefined : p.content)));
  for (const [index, p] of planned.entries()) {
    let check = 0;
    if (format === 'crc' && p.filesize > 0 && p.content) check = await contentSum(p);
    const head = encodeEntryHead(
      {
        magic,
        ino: p.ino,
        mode: p.mode,
        uid: p.uid,
        gid: p.gid,
        nlink: p.nlink,
        mtime: p.mtime,
        filesize: p.filesize,
        devmajor: 0,
        devminor: 0,
        rdevmajor: p.rdevmajor,
        rdevminor: p.rdevminor,
        check,
      },
      p.name,
    );
    yield* g.push(head);
    if (p.target) {
      yield* g.push(p.target);
    } else if (p.filesize > 0 && p.content && markBoundaries && format === 'newc' && syncReaderOf(p.content)) {
      // zstd: the frame builder reads the file straight into its frame (no chunk buffers)
      yield new ContentFill(p.filesize, syncReaderOf(p.content)!, p.entry.path, FORMAT);
      g.total += p.filesize;
    } else if (p.filesize > 0 && p.content) {
      let sum = 0;
      const content = ahead ? { ...p.content, read: () => ahead.read(index) } : p.content;
      for await (const chunk of readChecked(content, FORMAT, p.filesize)) {
        if (format === 'crc') sum = byteSum(chunk, sum);
        yield* g.push(chunk);
      }
      if (format === 'crc' && sum !== check) {
        throw new SourceChangedError({ format: FORMAT, path: p.entry.path, detail: 'content changed between the checksum pass and the copy' });
      }
    }
    const pad = padLength(p.filesize, 4);
    if (pad > 0) yield* g.push(ZEROS.subarray(0, pad));
    if (markBoundaries) {
      yield* g.flush();
      yield STREAM_BOUNDARY;
    }
    progress.done++;
    progress.bytes = g.total;
    progress.cb?.({ entries: progress.done, totalEntries: progress.total, bytes: progress.bytes });
  }
  // buffer-format.rst "cpio_trailer": a header named TRAILER!!! with nlink 1, everything else 0.
  yield* g.push(
    encodeEntryHead(
      { magic, ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, filesize: 0, devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, check: 0 },
      new TextEncoder().encode(CPIO_TRAILER_NAME),
    ),
  );
  const endPad = padLength(g.total, align);
  if (endPad > 0) yield* g.push(new Uint8Array(endPad));
  yield* g.flush();
  progress.bytes = g.total;
}

/** A planned cpio archive (core's ImagePlan): sizes known before writing, and `write`. */
export interface CpioPlan extends ImagePlan<CpioResult> {
  /** Exact bytes of the output for compression 'none' (early archive included); undefined when compressed. */
  readonly sizeBytes: number | undefined;
  /** The early archive's bytes (it is never compressed), or, uncompressed, `sizeBytes`. */
  readonly minSizeBytes: number;
  /** cpio is written front to back: a pipe will do. */
  readonly needsSeekableSink: false;
  /** Entries in both archives (trailers excluded). */
  readonly entries: number;
  /** Exact bytes of the main archive before compression (CpioResult.archiveBytes). */
  readonly archiveBytes: number;
  /** Exact bytes of the early archive, zero padding to 512 included; 0 without one. */
  readonly earlyBytes: number;
}

/** What a cpio archive with these options needs from its output and its pool, before any walk. */
export function cpioRequirements(options: Pick<CpioOptions, 'compression'> = {}): ImageRequirements & { needsSeekableSink: false } {
  const compression = options.compression ?? 'gzip';
  const codec = compression === 'none' ? undefined : CODECS[compression];
  return { needsSeekableSink: false, codecs: codec ? [codec.name] : [] };
}

/**
 * Plan `source` as a cpio archive (metadata only: every check runs here, before a byte is
 * written). Errors: E_NAME_TOO_LONG (name over PATH_MAX or a component over NAME_MAX), E_FIELD_RANGE
 * (file over 4 GiB − 1, id or time beyond 32 bits), E_BAD_INPUT (a walk that breaks the SourceTree
 * contract), E_BAD_OPTION. `plan.write(sink)` writes it at the sink's position.
 */
export async function planCpio(source: SourceTree, options: CpioOptions = {}): Promise<CpioPlan> {
  const o = resolveOptions(options);
  const planOpts = { epoch: o.epoch, onWarning: options.onWarning, strict: options.strict };
  const early = options.early ? await planArchive(options.early, planOpts) : [];
  const main = await planArchive(source, planOpts);
  const earlyBytes = options.early ? archiveSize(early, EARLY_ALIGN) : 0;
  const archiveBytes = archiveSize(main, 4);
  const sizeBytes = o.compression === 'none' ? earlyBytes + archiveBytes : undefined;
  return {
    ...cpioRequirements(o),
    sizeBytes,
    minSizeBytes: sizeBytes ?? earlyBytes,
    entries: early.length + main.length,
    archiveBytes,
    earlyBytes,
    write: (sink) => writePlanned(sink, o, options, options.early ? early : undefined, main, sizeBytes),
  };
}

/** Stream the planned archives to `sink`, from its current position. */
async function writePlanned(
  sink: ByteSink,
  o: Resolved,
  options: CpioOptions,
  early: readonly PlannedEntry[] | undefined,
  main: readonly PlannedEntry[],
  sizeBytes: number | undefined,
): Promise<CpioResult> {
  const progress = { done: 0, total: (early?.length ?? 0) + main.length, bytes: 0, cb: options.onProgress };
  const start = sink.position;
  // Uncompressed, the size is known: a device or a partition too small fails before the first byte.
  if (sizeBytes !== undefined) await expectSinkSize(sink, start + sizeBytes);

  if (early) {
    // The early archive is always plain newc: the x86 microcode loader scans it uncompressed.
    for await (const block of archiveBytes(early, 'newc', progress, EARLY_ALIGN)) if (block instanceof Uint8Array) await sink.write(block);
  }
  progress.bytes = 0;
  // zstd: frames may end only between entries, so the entry boundaries are marked.
  const raw = archiveBytes(main, o.format, progress, 4, o.compression === 'zstd');
  if (o.compression === 'none') {
    for await (const block of raw) if (block instanceof Uint8Array) await sink.write(block);
  } else {
    const codec: CodecSpec = { ...CODECS[o.compression] };
    if (o.level !== undefined) codec.level = o.level;
    const opts: Parameters<typeof compressStream>[1] = { codec };
    if (options.pool) opts.pool = options.pool;
    for await (const out of compressStream(raw, opts)) await sink.write(out);
  }
  return { entries: progress.total, archiveBytes: progress.bytes, outputBytes: sink.position - start };
}

/**
 * Write `source` as a cpio archive to `sink`, starting at its current position (does not close
 * the sink: wrap in `withSink`). The same as `planCpio(source, options).then((p) => p.write(sink))`;
 * errors as planCpio's, and E_SOURCE_CHANGED / E_SOURCE_UNREADABLE from the source while writing.
 */
export async function writeCpio(source: SourceTree, sink: ByteSink, options: CpioOptions = {}): Promise<CpioResult> {
  const plan = await planCpio(source, options);
  return plan.write(sink);
}
