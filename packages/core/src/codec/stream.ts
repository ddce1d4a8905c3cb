/**
 * compressStream: compress a byte stream, in parallel where the format allows, into ONE stream the
 * Linux initramfs unpacker accepts. init/initramfs.c `unpack_to_rootfs` runs one decompressor call
 * per compressed segment and then requires the cpio parser to be in state Reset ("junk at the end of
 * compressed archive"), so a compressed segment may only end between two cpio entries.
 *
 * - gzip, deflate-raw: pigz style. Fixed-size pieces (deterministic), each raw-deflated with the
 *   32 KiB before it as dictionary and ended by a sync flush, the last one by finish; gzip header
 *   (mtime 0, OS 3) and a trailer from crc32Combine. Parallel.
 * - lz4-legacy: 8 MiB chunks, each a u32le size + independent LZ4 block. Parallel.
 * - lz4-frame: 4 MiB independent blocks. Parallel.
 * - xz: each piece encoded as a single-block stream in a worker, the blocks re-assembled into one
 *   stream with a new Index (as `xz -T` does). Parallel. The kernel's xz_dec reads multi-block
 *   streams; the check is CRC32 unless `codec.check` says otherwise.
 * - zstd: lib/decompress_unzstd.c decodes one frame per call, and @cloudpss/zstd's wasm only has
 *   one-shot compression (ZSTD_compressCCtx). The unpacker does accept a new compressed segment wherever the cpio parser is
 *   between two entries (booted: segments cut at entry boundaries unpack; a cut inside a file's data
 *   fails with "junk at the end of compressed archive"). So the writer marks entry boundaries with
 *   STREAM_BOUNDARY, and each frame ends at the first boundary after `chunkSize` bytes: parallel. An
 *   entry that would make a frame hold more than `maxHeldBytes` (32 MiB) is not held: the frame goes
 *   on in pieces of up to 4 MiB, each compressed one-shot and re-encoded by a worker so that they
 *   splice into one frame (zstd-splice.ts; booted with a 40 MiB file). Memory: at most
 *   `maxHeldBytes` per frame being built plus the jobs in flight, whatever the size of a file.
 *   Without boundaries the whole input is one frame.
 * - none: passes the input through.
 */
import { ImgkitError, ErrorCodes } from '../errors.js';
import { fileGrew, fileShrank, type SyncContentReader } from '../source.js';
import { crc32Combine } from '../hash.js';
import { rechunk, copyBytes } from '../bytes.js';
import type { WorkerPool } from '../pool-types.js';
import { inlinePool } from '../pool.js';
import type { CodecSpec } from './types.js';
import type { CompressJob, CompressResult, StreamChunkJob, StreamChunkResult } from '../worker-tasks.js';
import { LZ4_FRAME_BLOCK_SIZE, LZ4_FRAME_END_MARK, LZ4_LEGACY_CHUNK_SIZE, lz4FrameHeader, lz4LegacyMagic } from './lz4.js';
import { codecLevel } from './levels.js';
import { resolveXz, xzIndexAndFooter, xzStreamHeader } from './xz.js';
import { splicedFrameHeader } from './zstd-splice.js';

export interface CompressStreamOptions {
  codec: CodecSpec;
  /** Where pieces are compressed. @default inlinePool() */
  pool?: WorkerPool;
  /**
   * Input bytes per piece (the output depends on it, never on the pool).
   * @default gzip/deflate-raw 256 KiB (≥ 32 KiB), xz max(1 MiB, dictionary), lz4-legacy 8 MiB (max), lz4-frame 4 MiB (max)
   */
  chunkSize?: number;
  /**
   * zstd: most input a frame is built from in memory. An entry that would make a frame hold more is
   * compressed in pieces of min(chunkSize, 4 MiB) that are spliced into one frame (see
   * zstd-splice.ts), so memory stays bounded whatever the size of a file. @default 32 MiB
   */
  maxHeldBytes?: number;
}

const DEFLATE_WINDOW = 32 * 1024;

/**
 * Marks a place in the input where a new compressed segment may start (between two cpio entries).
 * Only zstd uses it; every other container is one segment and ignores it.
 */
export const STREAM_BOUNDARY: unique symbol = Symbol('imgkit.streamBoundary');

/**
 * `size` bytes of a file that the stream reads itself, straight into its own buffer (zstd frames),
 * instead of taking them as chunks: no chunk buffers to allocate and copy. A file whose length
 * differs from `size` when read is E_SOURCE_CHANGED naming `path`.
 */
export class ContentFill {
  constructor(
    readonly size: number,
    readonly open: () => SyncContentReader,
    readonly path: string,
    readonly format: string,
  ) {}
}
export type StreamInput = AsyncIterable<Uint8Array | typeof STREAM_BOUNDARY | ContentFill>;

async function* bytesOnly(input: StreamInput): AsyncIterable<Uint8Array> {
  for await (const c of input) {
    if (c === STREAM_BOUNDARY) continue;
    if (c instanceof ContentFill) yield* fillChunks(c);
    else yield c;
  }
}

/** A ContentFill as chunks of at most 1 MiB (codecs other than zstd). */
function* fillChunks(f: ContentFill): Iterable<Uint8Array> {
  const reader = f.open();
  try {
    let left = f.size;
    while (left > 0) {
      const chunk = new Uint8Array(Math.min(left, 1 << 20));
      readExactly(f, reader, chunk, 0, chunk.byteLength, f.size - left);
      left -= chunk.byteLength;
      yield chunk;
    }
    checkEnd(f, reader);
  } finally {
    reader.close();
  }
}

/** Fill dst[at, at + len) from the reader; fewer bytes mean the file shrank. */
function readExactly(f: ContentFill, reader: SyncContentReader, dst: Uint8Array, at: number, len: number, before: number): void {
  let got = 0;
  while (got < len) {
    const k = reader.read(dst, at + got, len - got);
    if (k === 0) throw fileShrank(f.format, f.path, f.size, before + got);
    got += k;
  }
}

const PROBE = new Uint8Array(1);
/** After `size` bytes the file must be at its end. */
function checkEnd(f: ContentFill, reader: SyncContentReader): void {
  if (reader.read(PROBE, 0, 1) > 0) throw fileGrew(f.format, f.path, f.size);
}

function badOption(field: string, detail: string, hint?: string): ImgkitError {
  const info: ConstructorParameters<typeof ImgkitError>[1] = { format: 'core', field: `compressStream.${field}`, detail };
  if (hint) info.hint = hint;
  return new ImgkitError(ErrorCodes.BAD_OPTION, info);
}

/** Compress `input` into one stream of `codec`'s container format; see the module comment. */
export async function* compressStream(marked: StreamInput, options: CompressStreamOptions): AsyncIterable<Uint8Array> {
  const { codec } = options;
  codecLevel(codec); // a bad level is E_BAD_OPTION before any input is read
  const input = bytesOnly(marked);
  const pool = options.pool ?? inlinePool();
  const size = (def: number, min: number, max: number): number => {
    const n = options.chunkSize ?? def;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw badOption('chunkSize', `chunkSize ${n} is outside ${min}…${max} for ${codec.name}`);
    }
    return n;
  };
  switch (codec.name) {
    case 'none':
      // copy: the source may reuse its buffer, and other codecs never hand out input views either
      for await (const c of input) yield copyBytes(c);
      return;
    case 'gzip':
    case 'deflate-raw':
      yield* deflateStream(input, codec, pool, size(256 * 1024, DEFLATE_WINDOW, 64 << 20));
      return;
    case 'lz4-legacy':
      yield lz4LegacyMagic();
      for await (const r of pool.map<StreamChunkJob, StreamChunkResult>(pieces(input, codec, size(LZ4_LEGACY_CHUNK_SIZE, 64 * 1024, LZ4_LEGACY_CHUNK_SIZE)), 'stream-chunk')) {
        yield r.data;
      }
      return;
    case 'lz4-frame':
      yield lz4FrameHeader();
      for await (const r of pool.map<StreamChunkJob, StreamChunkResult>(pieces(input, codec, size(LZ4_FRAME_BLOCK_SIZE, 64 * 1024, LZ4_FRAME_BLOCK_SIZE)), 'stream-chunk')) {
        yield r.data;
      }
      yield LZ4_FRAME_END_MARK;
      return;
    case 'xz': {
      const { dictSize: dict, check } = resolveXz(codec); // E_BAD_OPTION for what the encoder cannot run
      const chunk = size(Math.max(1 << 20, dict), 64 * 1024, 256 << 20);
      yield xzStreamHeader(check);
      const records: { unpaddedSize: number; uncompressedSize: number }[] = [];
      for await (const r of pool.map<StreamChunkJob, StreamChunkResult>(pieces(input, codec, chunk), 'stream-chunk')) {
        if (r.uncompressedSize === 0) continue;
        records.push({ unpaddedSize: r.unpaddedSize!, uncompressedSize: r.uncompressedSize! });
        yield r.data;
      }
      yield xzIndexAndFooter(records, check);
      return;
    }
    case 'zstd': {
      const frameBytes = size(4 << 20, 64 * 1024, 1 << 30);
      const maxHeld = options.maxHeldBytes ?? Math.max(32 << 20, 2 * frameBytes);
      if (!Number.isInteger(maxHeld) || maxHeld < frameBytes || maxHeld > 2 ** 31) {
        throw badOption('maxHeldBytes', `maxHeldBytes ${maxHeld} is outside ${frameBytes} (chunkSize)…${2 ** 31}`);
      }
      const splice = { pieceBytes: Math.min(frameBytes, ZSTD_PIECE_BYTES), kinds: [] as PieceKind[] };
      const windowLog = Math.max(10, Math.ceil(Math.log2(splice.pieceBytes)));
      const spare: Uint8Array[] = [];
      const jobs = zstdFrames(marked, codec, frameBytes, maxHeld, splice, spare);
      for await (const r of pool.map<CompressJob, CompressResult>(jobs, 'compress', { transferInput: true })) {
        const kind = splice.kinds.shift()!;
        // Only buffers of the usual size come back into use (a grown one is dropped).
        if (r.input && r.input.byteLength === frameBytes + (256 << 10) && spare.length < 4) spare.push(r.input);
        if (kind === 'frame') {
          yield r.data;
          continue;
        }
        // A piece of a spliced frame: the frame header before the first, Last_Block on the last.
        if (kind === 'first' || kind === 'only') yield splicedFrameHeader(windowLog);
        if (kind === 'last' || kind === 'only') r.data[r.lastBlockAt!] = r.data[r.lastBlockAt!]! | 1;
        yield r.data;
      }
      return;
    }
    default:
      throw badOption(
        'codec',
        `${codec.name} has no stream container that compressStream can split`,
        'use gzip, zstd, xz, lz4-legacy, lz4-frame, deflate-raw or none',
      );
  }
}

/** Pieces bigger than this would need a window over 4 MiB (the kernel takes up to 8 MiB). */
const ZSTD_PIECE_BYTES = 4 << 20;
type PieceKind = 'frame' | 'first' | 'middle' | 'last' | 'only';

/**
 * zstd frame jobs: each ends at the first boundary after `frameBytes` input bytes, or at the end.
 * Input is copied once, into a buffer the job then owns (and the pool transfers, not copies).
 * When an entry would make a frame hold more than `maxHeld` bytes, the rest of that frame (up to
 * the next boundary) goes out as pieces of `pieceBytes`, compressed and re-encoded by the workers
 * to be spliced into one frame ('compress' jobs with `zstdPiece`). `splice.kinds` gets each job's
 * place, in job order, for the consumer.
 */
async function* zstdFrames(
  input: StreamInput,
  codec: CodecSpec,
  frameBytes: number,
  maxHeld: number,
  splice: { pieceBytes: number; kinds: PieceKind[] },
  spare: Uint8Array[],
): AsyncIterable<CompressJob> {
  // Room for a frame's worth plus the entry that crosses the mark; an entry bigger than that grows it.
  const capacity = frameBytes + (256 << 10);
  // A buffer the worker has sent back is reused: fresh ones cost a page fault per 4 KiB when filled.
  const take = (): Uint8Array => spare.pop() ?? new Uint8Array(capacity);
  const P = splice.pieceBytes;
  let buf = take();
  let held = 0;
  let splicing = false;
  let piecesOut = 0;
  const frame = (): CompressJob => {
    splice.kinds.push('frame');
    return { codec, data: buf, size: held, returnInput: true };
  };
  const piece = (data: Uint8Array, size: number, last: boolean): CompressJob => {
    splice.kinds.push(piecesOut === 0 ? (last ? 'only' : 'first') : last ? 'last' : 'middle');
    piecesOut++;
    return { codec, data, size, zstdPiece: true };
  };
  for await (const c of input) {
    if (c === STREAM_BOUNDARY) {
      if (splicing) {
        yield piece(buf, held, true);
        splicing = false;
        buf = take();
        held = 0;
      } else if (held >= frameBytes) {
        yield frame();
        buf = take();
        held = 0;
      }
      continue;
    }
    const fill = c instanceof ContentFill ? c : undefined;
    const n = fill ? fill.size : (c as Uint8Array).byteLength;
    if (n === 0) continue;
    if (!splicing && held + n > maxHeld) {
      // Switch this frame to pieces: what is held goes out in pieces, the rest streams through.
      splicing = true;
      piecesOut = 0;
      let o = 0;
      for (; held - o >= P; o += P) yield piece(buf.slice(o, o + P), P, false);
      const rest = new Uint8Array(P);
      rest.set(buf.subarray(o, held));
      held -= o;
      buf = rest;
    }
    if (splicing) {
      const reader = fill?.open();
      try {
        let k = 0;
        while (k < n) {
          const m = Math.min(P - held, n - k);
          if (reader) readExactly(fill!, reader, buf, held, m, k);
          else buf.set((c as Uint8Array).subarray(k, k + m), held);
          held += m;
          k += m;
          if (held === P) {
            yield piece(buf, P, false);
            buf = new Uint8Array(P);
            held = 0;
          }
        }
        if (reader) checkEnd(fill!, reader);
      } finally {
        reader?.close();
      }
      continue;
    }
    if (held + n > buf.byteLength) {
      const grown = new Uint8Array(Math.min(maxHeld, Math.max(buf.byteLength * 2, held + n)));
      grown.set(buf.subarray(0, held));
      buf = grown;
    }
    if (fill) {
      // read straight into the frame
      const reader = fill.open();
      try {
        readExactly(fill, reader, buf, held, n, 0);
        checkEnd(fill, reader);
      } finally {
        reader.close();
      }
    } else buf.set(c as Uint8Array, held); // the source may reuse its buffer: always a copy
    held += n;
  }
  yield splicing ? piece(buf, held, true) : frame();
}

async function* pieces(input: AsyncIterable<Uint8Array>, codec: CodecSpec, size: number): AsyncIterable<StreamChunkJob> {
  for await (const c of rechunk(input, size)) yield { codec, data: c };
}

async function* deflateStream(input: AsyncIterable<Uint8Array>, codec: CodecSpec, pool: WorkerPool, size: number): AsyncIterable<Uint8Array> {
  const level = codecLevel(codec)!;
  if (codec.windowBits !== undefined && codec.windowBits !== 15) {
    throw badOption('codec.windowBits', 'compressStream writes 32 KiB-window deflate only', 'omit windowBits');
  }
  const gzip = codec.name === 'gzip';
  const spec: CodecSpec = { name: codec.name, level };
  const lengths: number[] = [];
  async function* jobs(): AsyncIterable<StreamChunkJob> {
    // Hold one piece back to know which is last; copy it, the source may reuse its buffer.
    let held: Uint8Array | undefined;
    let dictionary: Uint8Array | undefined;
    for await (const c of rechunk(input, size)) {
      if (held) {
        lengths.push(held.byteLength);
        yield dictionary ? { codec: spec, data: held, dictionary, last: false } : { codec: spec, data: held, last: false };
        dictionary = held.subarray(held.byteLength - DEFLATE_WINDOW);
      }
      held = copyBytes(c);
    }
    const last = held ?? new Uint8Array(0);
    lengths.push(last.byteLength);
    yield dictionary ? { codec: spec, data: last, dictionary, last: true } : { codec: spec, data: last, last: true };
  }
  if (gzip) {
    // RFC 1952 §2.3 member header: ID1 ID2 CM=8 FLG=0 MTIME=0 XFL OS=3 (Unix)
    const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
    yield new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, xfl, 0x03]);
  }
  let crc = 0;
  let total = 0;
  for await (const r of pool.map<StreamChunkJob, StreamChunkResult>(jobs(), 'stream-chunk')) {
    const len = lengths.shift()!;
    crc = crc32Combine(crc, r.crc!, len);
    total = (total + len) % 2 ** 32;
    yield r.data;
  }
  if (gzip) {
    // RFC 1952 §2.3.1: CRC32, ISIZE (input size mod 2^32), little-endian
    const t = new Uint8Array(8);
    const v = new DataView(t.buffer);
    v.setUint32(0, crc, true);
    v.setUint32(4, total, true);
    yield t;
  }
}
