/**
 * Streaming decompression of a whole compressed stream read from a RandomAccessReader (an
 * initramfs, a compressed tar): gzip (RFC 1952, pako's streaming inflater, members back to back),
 * xz (xz-file-format 1.0.4, liblzma's stream decoder in the same wasm module the codec uses), zstd
 * (RFC 8878: frame by frame, each frame one-shot in the wasm), LZ4 legacy (lz4_Frame_format.md
 * "Legacy frame", what the kernel's unlz4 reads) and LZ4 frames with independent blocks.
 *
 * Memory is bounded: the output comes as chunks (at most one zstd frame or one LZ4 chunk at a
 * time, each at most `maxFrameBytes`), and `consumed` says where the compressed stream ended, so a
 * caller can look at what follows it (the kernel's initramfs may concatenate archives).
 */
import { ErrorCodes, ImgkitError } from '../errors.js';
import { readRange, type RandomAccessReader } from '../random-access.js';
import { lz4DecompressBlock, LZ4_FRAME_MAGIC, LZ4_LEGACY_MAGIC } from './lz4.js';
import { zstdReady } from './zstd.js';
import { xzReady } from './xz.js';
import * as pako from 'pako';

export type StreamCompression = 'gzip' | 'zstd' | 'xz' | 'lz4-legacy' | 'lz4-frame';

/** The compressed stream starting `head`, by its magic number; undefined for anything else. */
export function detectCompression(head: Uint8Array): StreamCompression | undefined {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip'; // RFC 1952 §2.3.1 ID1 ID2
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd'; // RFC 8878 §3.1.1 Magic_Number
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz'; // xz-file-format §2.1.1.1
  if (head.byteLength >= 4) {
    const m = (b(0) | (b(1) << 8) | (b(2) << 16) | (b(3) << 24)) >>> 0;
    if (m === LZ4_LEGACY_MAGIC) return 'lz4-legacy';
    if (m === LZ4_FRAME_MAGIC) return 'lz4-frame';
  }
  return undefined;
}

export interface DecompressStreamOptions {
  /** Largest zstd frame or LZ4 block (compressed or not) held at once. @default 256 MiB */
  maxFrameBytes?: number;
  /** Compressed bytes read per step. @default 1 MiB */
  chunkBytes?: number;
}

export interface DecompressedStream {
  /** Decompressed bytes in order, up to the end of the compressed stream. */
  chunks: AsyncIterable<Uint8Array>;
  /** Compressed bytes the stream took from `offset` (final once `chunks` is done). */
  readonly consumed: number;
}

const fail = (format: StreamCompression, detail: string, hint?: string): ImgkitError =>
  new ImgkitError(ErrorCodes.CODEC, { format: 'core', field: `codec.${format}`, detail, ...(hint ? { hint } : {}) });

/** Decompress the `format` stream that starts at `offset` of `reader`. */
export function decompressStream(reader: RandomAccessReader, offset: number, format: StreamCompression, o: DecompressStreamOptions = {}): DecompressedStream {
  const state = { consumed: 0 };
  const maxFrame = o.maxFrameBytes ?? 256 << 20;
  const chunkBytes = o.chunkBytes ?? 1 << 20;
  const input = () => readRange(reader, offset, reader.size - offset, chunkBytes);
  let gen: AsyncIterable<Uint8Array>;
  switch (format) {
    case 'gzip':
      gen = gzipChunks(input(), state);
      break;
    case 'xz':
      gen = xzChunks(input(), state);
      break;
    case 'zstd':
      gen = framedChunks(reader, offset, state, maxFrame, zstdFrame);
      break;
    case 'lz4-legacy':
      gen = lz4LegacyChunks(reader, offset, state, maxFrame);
      break;
    case 'lz4-frame':
      gen = framedChunks(reader, offset, state, maxFrame, lz4Frame);
      break;
  }
  return {
    chunks: gen,
    get consumed() {
      return state.consumed;
    },
  };
}

/**
 * RFC 1952 members through pako's zlib port (its `Inflate` class would go on decoding whatever
 * follows a member as another member): a member that ends is followed by another only when the
 * next bytes are a gzip magic; anything else ends the stream there.
 */
async function* gzipChunks(input: AsyncIterable<Uint8Array>, state: { consumed: number }): AsyncIterable<Uint8Array> {
  const OUT = 256 << 10;
  const strm = new pako.ZStream();
  if (pako.zlibInflateInit2(strm, 15 + 16) !== pako.Z_OK) throw fail('gzip', 'inflateInit2 failed');
  strm.output = new Uint8Array(OUT);
  let pushed = 0;
  let carry: Uint8Array | undefined; // a member ended and fewer than 2 bytes of this chunk are left
  let members = 0;
  for await (const piece of input) {
    let chunk = piece;
    if (carry) {
      chunk = new Uint8Array(carry.byteLength + piece.byteLength);
      chunk.set(carry);
      chunk.set(piece, carry.byteLength);
      pushed -= carry.byteLength;
      carry = undefined;
      // a member ended at the end of the last chunk: another follows only behind a gzip magic
      if (!(chunk[0] === 0x1f && chunk[1] === 0x8b)) {
        state.consumed = pushed;
        return;
      }
    }
    strm.input = chunk;
    strm.next_in = 0;
    strm.avail_in = chunk.byteLength;
    pushed += chunk.byteLength;
    while (strm.avail_in > 0) {
      strm.next_out = 0;
      strm.avail_out = OUT;
      const status = pako.zlibInflate(strm, pako.Z_NO_FLUSH);
      if (strm.next_out > 0) yield strm.output.slice(0, strm.next_out);
      if (status === pako.Z_STREAM_END) {
        members++;
        const at = strm.next_in;
        if (strm.avail_in >= 2 && chunk[at] === 0x1f && chunk[at + 1] === 0x8b) {
          pako.zlibInflateReset(strm);
          continue;
        }
        if (strm.avail_in < 2 && strm.avail_in > 0 && chunk[at] === 0x1f) {
          carry = chunk.slice(at);
          pako.zlibInflateReset(strm);
          break;
        }
        if (strm.avail_in === 0) {
          carry = new Uint8Array(0);
          pako.zlibInflateReset(strm);
          break;
        }
        state.consumed = pushed - strm.avail_in;
        return;
      }
      if (status !== pako.Z_OK && status !== pako.Z_BUF_ERROR) throw fail('gzip', `inflate failed: ${strm.msg || `status ${status}`} (member ${members + 1})`);
      if (status === pako.Z_BUF_ERROR && strm.avail_in > 0 && strm.next_out === 0) throw fail('gzip', 'inflate made no progress');
    }
  }
  // the input ended: cleanly only right after a member (carry holds 0 or 1 bytes then)
  if (carry !== undefined && members > 0) {
    state.consumed = pushed - carry.byteLength;
    return;
  }
  throw fail('gzip', `the gzip stream is truncated after ${pushed} bytes (no end of stream)`);
}

async function* xzChunks(input: AsyncIterable<Uint8Array>, state: { consumed: number }): AsyncIterable<Uint8Array> {
  const { api } = await xzReady();
  const mod = api.getModule();
  const OUT = 1 << 20;
  const stream = new api.WasmLzmaStream(mod);
  const outPtr = mod._malloc(OUT);
  let inPtr = 0;
  let inCap = 0;
  let pushed = 0;
  try {
    // lzma_stream_decoder(strm, uint64_t memlimit, uint32_t flags): this wasm build has no BigInt
    // integration, so the u64 is passed as two i32 halves (node-liblzma's decoderInit passes a BigInt).
    const init = mod._lzma_stream_decoder as unknown as (strm: number, memLow: number, memHigh: number, flags: number) => number;
    const ret = init(stream.ptr, 256 << 20, 0, 0);
    if (ret !== api.LZMA_OK) throw fail('xz', `liblzma stream decoder init returned ${ret}`);
    for await (const chunk of input) {
      if (chunk.byteLength > inCap) {
        if (inPtr) mod._free(inPtr);
        inCap = chunk.byteLength;
        inPtr = mod._malloc(inCap);
      }
      mod.HEAPU8.set(chunk, inPtr);
      stream.setInput(inPtr, chunk.byteLength);
      pushed += chunk.byteLength;
      for (;;) {
        stream.setOutput(outPtr, OUT);
        const ret = api.code(stream, api.LZMA_RUN);
        const produced = OUT - stream.availOut;
        if (produced > 0) yield mod.HEAPU8.slice(outPtr, outPtr + produced);
        if (ret === api.LZMA_STREAM_END) {
          state.consumed = pushed - stream.availIn;
          return;
        }
        if (ret !== api.LZMA_OK) throw fail('xz', `liblzma stream decoder returned ${ret} (corrupt data)`);
        if (stream.availIn === 0 && stream.availOut > 0) break;
      }
    }
    throw fail('xz', `the xz stream is truncated after ${pushed} bytes (no stream footer)`);
  } finally {
    api.end(stream);
    stream.free();
    mod._free(outPtr);
    if (inPtr) mod._free(inPtr);
  }
}

/** What a frame parser says about the bytes at the front of `buf`. */
type FrameScan =
  | { kind: 'frame'; length: number; contentSize?: number; bound?: number } // a whole frame of `length` bytes
  | { kind: 'skip'; length: number } // bytes to skip (a skippable frame)
  | { kind: 'more'; need: number } // at least this many bytes are needed to decide
  | { kind: 'end' }; // the stream ended before this point

/** RFC 8878 §3.1.1 (Zstandard frames) and §3.1.2 (skippable frames). */
function zstdFrame(buf: Uint8Array, eof: boolean): FrameScan {
  if (buf.byteLength < 4) return eof ? { kind: 'end' } : { kind: 'more', need: 4 };
  const magic = (buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24)) >>> 0;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if ((magic & 0xfffffff0) === 0x184d2a50) {
    if (buf.byteLength < 8) return eof ? { kind: 'end' } : { kind: 'more', need: 8 };
    return { kind: 'skip', length: 8 + v.getUint32(4, true) };
  }
  if (magic !== 0xfd2fb528) return { kind: 'end' };
  if (buf.byteLength < 6) return { kind: 'more', need: 6 };
  const fhd = buf[4]!;
  const single = (fhd >> 5) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
  const fcsAt = 5 + (single ? 0 : 1) + dictBytes;
  let p = fcsAt + fcsBytes;
  if (buf.byteLength < p) return { kind: 'more', need: p };
  let contentSize: number | undefined;
  if (fcsBytes === 1) contentSize = buf[fcsAt]!;
  else if (fcsBytes === 2) contentSize = v.getUint16(fcsAt, true) + 256;
  else if (fcsBytes === 4) contentSize = v.getUint32(fcsAt, true);
  else if (fcsBytes === 8) contentSize = Number(v.getBigUint64(fcsAt, true));
  let blocks = 0;
  for (;;) {
    if (buf.byteLength < p + 3) return { kind: 'more', need: p + 3 };
    const bh = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16); // §3.1.1.2 Block_Header
    const type = (bh >> 1) & 3;
    p += 3 + (type === 1 ? 1 : bh >>> 3);
    blocks++;
    if (bh & 1) break;
  }
  p += (fhd >> 2) & 1 ? 4 : 0;
  if (buf.byteLength < p) return { kind: 'more', need: p };
  // §3.1.1.2.4: a block regenerates at most Block_Maximum_Size (128 KiB)
  return contentSize === undefined ? { kind: 'frame', length: p, bound: blocks * (128 << 10) } : { kind: 'frame', length: p, contentSize };
}

/** lz4_Frame_format.md "General Structure of LZ4 Frame format". */
function lz4Frame(buf: Uint8Array, eof: boolean): FrameScan {
  if (buf.byteLength < 4) return eof ? { kind: 'end' } : { kind: 'more', need: 4 };
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = v.getUint32(0, true);
  if ((magic & 0xfffffff0) === 0x184d2a50) {
    if (buf.byteLength < 8) return { kind: 'more', need: 8 };
    return { kind: 'skip', length: 8 + v.getUint32(4, true) };
  }
  if (magic !== LZ4_FRAME_MAGIC) return { kind: 'end' };
  if (buf.byteLength < 7) return { kind: 'more', need: 7 };
  const flg = buf[4]!;
  let p = 6 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
  for (;;) {
    if (buf.byteLength < p + 4) return { kind: 'more', need: p + 4 };
    const size = v.getUint32(p, true);
    p += 4;
    if (size === 0) break;
    p += (size & 0x7fffffff) + (flg & 0x10 ? 4 : 0);
  }
  p += flg & 0x04 ? 4 : 0;
  if (buf.byteLength < p) return { kind: 'more', need: p };
  return { kind: 'frame', length: p };
}

/** Decode one whole LZ4 frame (independent blocks only). */
function decodeLz4Frame(f: Uint8Array): Uint8Array[] {
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const flg = f[4]!;
  const bd = f[5]!;
  if ((flg & 0x20) === 0) throw fail('lz4-frame', 'the LZ4 frame uses linked blocks (lz4 -BD), which imgkit does not decode', 'recompress with independent blocks (the lz4 default)');
  const maxBlock = 1 << (8 + 2 * ((bd >>> 4) & 7));
  const parts: Uint8Array[] = [];
  let p = 6 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
  for (;;) {
    const size = v.getUint32(p, true);
    p += 4;
    if (size === 0) break;
    const len = size & 0x7fffffff;
    const body = f.subarray(p, p + len);
    parts.push(size & 0x80000000 ? body.slice() : lz4DecompressBlock(body, maxBlock));
    p += len + (flg & 0x10 ? 4 : 0);
  }
  return parts;
}

/** Frame after frame (zstd, LZ4 frames): each frame is read whole, then decoded one-shot. */
async function* framedChunks(
  reader: RandomAccessReader,
  offset: number,
  state: { consumed: number },
  maxFrame: number,
  scan: (buf: Uint8Array, eof: boolean) => FrameScan,
): AsyncIterable<Uint8Array> {
  const format: StreamCompression = scan === zstdFrame ? 'zstd' : 'lz4-frame';
  const z = format === 'zstd' ? await zstdReady() : undefined;
  let at = offset;
  let frames = 0;
  for (;;) {
    // read ahead in growing steps until the scanner sees a whole frame
    let want = 64 << 10;
    let r: FrameScan;
    let buf: Uint8Array;
    for (;;) {
      buf = await reader.read(at, Math.min(want, reader.size - at));
      const eof = at + buf.byteLength >= reader.size;
      r = scan(buf, eof);
      if (r.kind !== 'more') break;
      if (eof) throw fail(format, `the ${format} stream is truncated: frame ${frames} at byte ${at} runs past the end`);
      if (r.need > maxFrame) {
        throw fail(format, `frame ${frames} at byte ${at} is larger than the ${maxFrame}-byte bound for one frame`, 'raise maxFrameBytes');
      }
      want = Math.max(r.need, want * 2);
    }
    if (r.kind === 'end') {
      if (frames === 0) throw fail(format, `no ${format} frame at byte ${at}`);
      state.consumed = at - offset;
      return;
    }
    if (r.kind === 'skip') {
      at += r.length;
      continue;
    }
    const frame = buf.subarray(0, r.length);
    if (z) {
      const holds = r.contentSize ?? r.bound ?? 0;
      if (holds > maxFrame) {
        throw fail(format, `frame ${frames} at byte ${at} holds ${r.contentSize !== undefined ? '' : 'up to '}${holds} bytes, more than the ${maxFrame}-byte bound for one frame`, 'raise maxFrameBytes');
      }
      try {
        yield z.decompress(frame);
      } catch (err) {
        throw fail(format, `frame ${frames} at byte ${at} does not decompress: ${err instanceof Error ? err.message : String(err)}`);
      }
    } else {
      yield* decodeLz4Frame(frame);
    }
    frames++;
    at += r.length;
  }
}

/** Legacy LZ4: the magic, then chunks (u32le size + block of up to 8 MiB); a repeated magic starts another stream. */
async function* lz4LegacyChunks(reader: RandomAccessReader, offset: number, state: { consumed: number }, maxFrame: number): AsyncIterable<Uint8Array> {
  const LEGACY_CHUNK = 8 << 20;
  const maxCompressed = LEGACY_CHUNK + Math.floor(LEGACY_CHUNK / 255) + 16; // LZ4_compressBound
  let at = offset + 4;
  for (;;) {
    const head = await reader.read(at, 4);
    if (head.byteLength < 4) break;
    const size = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
    if (size === LZ4_LEGACY_MAGIC) {
      at += 4;
      continue;
    }
    // lib/decompress_unlz4.c ends the stream at a size it cannot hold: padding or another archive
    if (size === 0 || size > maxCompressed || size > maxFrame || at + 4 + size > reader.size) break;
    const body = await reader.read(at + 4, size);
    try {
      yield lz4DecompressBlock(body, LEGACY_CHUNK);
    } catch (err) {
      throw fail('lz4-legacy', `chunk at byte ${at} does not decompress: ${err instanceof Error ? err.message : String(err)}`);
    }
    at += 4 + size;
  }
  state.consumed = at - offset;
}
