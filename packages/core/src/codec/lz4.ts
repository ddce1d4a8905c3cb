/**
 * LZ4: block format, frame format and the legacy format.
 *
 * The block compressor is our own greedy single-probe compressor rather than lz4js's
 * `compressBlock`, measured and read for this: lz4js may start the last match 10–11 bytes before
 * the block end, which lz4_Block_format.md ("End of block conditions": the last match starts at
 * least 12 bytes before the end) forbids and which `LZ4_decompress_safe` with an exact output size
 * (squashfs, the kernel's legacy initramfs reader, the lz4 CLI) rejects; it also returns 0 for
 * input it cannot compress and keeps a module-wide hash table. This one always returns a valid
 * block (possibly longer than the input: callers store raw data when the result is not smaller).
 */
import { concatBytes } from '../bytes.js';
import { codecLevel } from './levels.js';
import { codecFailure } from './registry.js';
import type { Codec, CodecSpec } from './types.js';

// lz4_Block_format.md: MINMATCH 4, LASTLITERALS 5, MFLIMIT 12, offsets 1…65535.
const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const MAX_OFFSET = 65535;
const HASH_LOG = 16;

/** Worst-case size of an LZ4 block for `n` input bytes (LZ4_compressBound). */
export function lz4CompressBound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

const hashTables: Int32Array[] = [];

/** Compress `src` into one LZ4 block. Deterministic: the hash table starts empty every call. */
export function lz4CompressBlock(src: Uint8Array): Uint8Array {
  const n = src.byteLength;
  const dst = new Uint8Array(lz4CompressBound(n));
  const table = hashTables.pop() ?? new Int32Array(1 << HASH_LOG);
  table.fill(-1);
  let op = 0;
  let anchor = 0;

  const writeLength = (len: number): void => {
    while (len >= 255) {
      dst[op++] = 255;
      len -= 255;
    }
    dst[op++] = len;
  };
  const read32 = (i: number): number => (src[i]! | (src[i + 1]! << 8) | (src[i + 2]! << 16) | (src[i + 3]! << 24)) | 0;
  const hash = (v: number): number => Math.imul(v, -1640531535) >>> (32 - HASH_LOG);

  if (n >= MF_LIMIT + 1) {
    const matchStartLimit = n - MF_LIMIT; // last match starts at or before this
    const matchEndLimit = n - LAST_LITERALS; // and ends at or before this
    let ip = 0;
    let misses = 0;
    while (ip <= matchStartLimit) {
      const seq = read32(ip);
      const h = hash(seq);
      let ref = table[h]!;
      table[h] = ip;
      if (ref < 0 || ip - ref > MAX_OFFSET || read32(ref) !== seq) {
        ip += 1 + (misses++ >> 6); // skip faster through incompressible data
        continue;
      }
      misses = 0;
      let start = ip;
      // extend backwards over literals not yet emitted
      while (start > anchor && ref > 0 && src[start - 1] === src[ref - 1]) {
        start--;
        ref--;
      }
      let end = ip + MIN_MATCH;
      let r = ref + (end - start);
      while (end < matchEndLimit && src[end] === src[r]) {
        end++;
        r++;
      }
      const litLen = start - anchor;
      const matchLen = end - start - MIN_MATCH;
      const token = op++;
      dst[token] = ((litLen >= 15 ? 15 : litLen) << 4) | (matchLen >= 15 ? 15 : matchLen);
      if (litLen >= 15) writeLength(litLen - 15);
      dst.set(src.subarray(anchor, start), op);
      op += litLen;
      const offset = start - ref;
      dst[op++] = offset & 0xff;
      dst[op++] = offset >>> 8;
      if (matchLen >= 15) writeLength(matchLen - 15);
      anchor = end;
      // prime the table inside the match so the next search finds nearby repeats
      if (end - 2 > start && end - 2 <= matchStartLimit) table[hash(read32(end - 2))] = end - 2;
      ip = end;
    }
  }
  // last sequence: literals only
  const litLen = n - anchor;
  dst[op++] = (litLen >= 15 ? 15 : litLen) << 4;
  if (litLen >= 15) writeLength(litLen - 15);
  dst.set(src.subarray(anchor, n), op);
  op += litLen;
  hashTables.push(table);
  return dst.slice(0, op);
}

/**
 * Decompress one LZ4 block with bounds checks. `maxSize` is the output capacity; the result is
 * exactly as long as the data decodes to.
 */
export function lz4DecompressBlock(src: Uint8Array, maxSize: number): Uint8Array {
  const dst = new Uint8Array(maxSize);
  let ip = 0;
  let op = 0;
  const end = src.byteLength;
  const bad = (what: string): never => {
    throw new Error(`corrupt LZ4 block: ${what} at input byte ${ip}`);
  };
  while (ip < end) {
    const token = src[ip++]!;
    let lit = token >>> 4;
    if (lit === 15) {
      let b;
      do {
        if (ip >= end) bad('truncated literal length');
        b = src[ip++]!;
        lit += b;
      } while (b === 255);
    }
    if (ip + lit > end || op + lit > maxSize) bad('literals overrun');
    dst.set(src.subarray(ip, ip + lit), op);
    ip += lit;
    op += lit;
    if (ip >= end) break; // last sequence has no match
    if (ip + 2 > end) bad('truncated offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) bad('bad offset');
    let len = token & 15;
    if (len === 15) {
      let b;
      do {
        if (ip >= end) bad('truncated match length');
        b = src[ip++]!;
        len += b;
      } while (b === 255);
    }
    len += MIN_MATCH;
    if (op + len > maxSize) bad('match overruns output');
    let m = op - offset;
    for (let i = 0; i < len; i++) dst[op++] = dst[m++]!;
  }
  return dst.subarray(0, op);
}

// ---------------------------------------------------------------------------------------------
// xxHash32 (xxhash_spec.md), for the frame descriptor's header checksum.
const P1 = 0x9e3779b1 | 0;
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const P5 = 0x165667b1 | 0;
const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

export function xxh32(data: Uint8Array, seed = 0): number {
  const n = data.byteLength;
  const u32 = (i: number): number => data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
  let i = 0;
  let h: number;
  if (n >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    for (; i + 16 <= n; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(u32(i), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(u32(i + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(u32(i + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(u32(i + 12), P2)) | 0, 13), P1);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + n) | 0;
  for (; i + 4 <= n; i += 4) h = Math.imul(rotl((h + Math.imul(u32(i), P3)) | 0, 17), P4);
  for (; i < n; i++) h = Math.imul(rotl((h + Math.imul(data[i]!, P5)) | 0, 11), P1);
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Frame format (lz4_Frame_format.md).
export const LZ4_FRAME_MAGIC = 0x184d2204;
/** Block maximum size id 7 = 4 MiB (BD byte bits 6-4). */
export const LZ4_FRAME_BLOCK_SIZE = 4 << 20;
const FLG_VERSION_01 = 0x40;
const FLG_BLOCK_INDEPENDENT = 0x20;
const FLG_CONTENT_SIZE = 0x08;
const BLOCK_UNCOMPRESSED = 0x80000000;

/** Frame header: magic, FLG (version 01, independent blocks, optional content size), BD, HC. */
export function lz4FrameHeader(contentSize?: number): Uint8Array {
  const withSize = contentSize !== undefined;
  const h = new Uint8Array(withSize ? 15 : 7);
  const v = new DataView(h.buffer);
  v.setUint32(0, LZ4_FRAME_MAGIC, true);
  h[4] = FLG_VERSION_01 | FLG_BLOCK_INDEPENDENT | (withSize ? FLG_CONTENT_SIZE : 0);
  h[5] = 7 << 4;
  if (withSize) v.setBigUint64(6, BigInt(contentSize), true);
  h[h.length - 1] = (xxh32(h.subarray(4, h.length - 1)) >>> 8) & 0xff;
  return h;
}

/** One frame data block (≤ 4 MiB of input): u32 size (high bit = stored) + data. */
export function lz4FrameBlock(data: Uint8Array): Uint8Array {
  const c = lz4CompressBlock(data);
  const stored = c.byteLength >= data.byteLength;
  const body = stored ? data : c;
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, (stored ? BLOCK_UNCOMPRESSED : 0) + body.byteLength, true);
  out.set(body, 4);
  return out;
}

export const LZ4_FRAME_END_MARK = new Uint8Array(4);

function lz4FrameCompress(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [lz4FrameHeader(data.byteLength)];
  for (let o = 0; o < data.byteLength; o += LZ4_FRAME_BLOCK_SIZE) {
    parts.push(lz4FrameBlock(data.subarray(o, Math.min(o + LZ4_FRAME_BLOCK_SIZE, data.byteLength))));
  }
  parts.push(LZ4_FRAME_END_MARK);
  return concatBytes(parts);
}

function lz4FrameDecompress(src: Uint8Array): Uint8Array {
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const parts: Uint8Array[] = [];
  let ip = 0;
  while (ip < src.byteLength) {
    if (v.getUint32(ip, true) !== LZ4_FRAME_MAGIC) throw new Error(`bad LZ4 frame magic at byte ${ip}`);
    const flg = src[ip + 4]!;
    const bd = src[ip + 5]!;
    const maxBlock = 1 << (8 + 2 * ((bd >>> 4) & 7));
    ip += 6 + (flg & FLG_CONTENT_SIZE ? 8 : 0) + (flg & 0x01 ? 4 : 0) + 1;
    for (;;) {
      const size = v.getUint32(ip, true);
      ip += 4;
      if (size === 0) break;
      const len = size & 0x7fffffff;
      const body = src.subarray(ip, ip + len);
      parts.push(size & BLOCK_UNCOMPRESSED ? body : lz4DecompressBlock(body, maxBlock));
      ip += len + (flg & 0x10 ? 4 : 0);
    }
    if (flg & 0x04) ip += 4; // content checksum (not verified)
  }
  return concatBytes(parts);
}

// ---------------------------------------------------------------------------------------------
// Legacy format (lz4_Frame_format.md "Legacy frame"): what `lz4 -l` writes and the only LZ4 format
// the kernel's initramfs/kernel unpacker (lib/decompress_unlz4.c) reads.
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Each legacy chunk holds up to 8 MiB of input (LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE). */
export const LZ4_LEGACY_CHUNK_SIZE = 8 << 20;

export function lz4LegacyMagic(): Uint8Array {
  const m = new Uint8Array(4);
  new DataView(m.buffer).setUint32(0, LZ4_LEGACY_MAGIC, true);
  return m;
}

/** One legacy chunk (≤ 8 MiB input): u32le compressed size + raw LZ4 block (never stored raw). */
export function lz4LegacyChunk(data: Uint8Array): Uint8Array {
  const c = lz4CompressBlock(data);
  const out = new Uint8Array(4 + c.byteLength);
  new DataView(out.buffer).setUint32(0, c.byteLength, true);
  out.set(c, 4);
  return out;
}

function lz4LegacyCompress(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [lz4LegacyMagic()];
  for (let o = 0; o < data.byteLength; o += LZ4_LEGACY_CHUNK_SIZE) {
    parts.push(lz4LegacyChunk(data.subarray(o, Math.min(o + LZ4_LEGACY_CHUNK_SIZE, data.byteLength))));
  }
  return concatBytes(parts);
}

function lz4LegacyDecompress(src: Uint8Array): Uint8Array {
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const parts: Uint8Array[] = [];
  let ip = 0;
  while (ip + 4 <= src.byteLength) {
    const word = v.getUint32(ip, true);
    ip += 4;
    if (word === LZ4_LEGACY_MAGIC) continue; // (concatenated) legacy stream start
    parts.push(lz4DecompressBlock(src.subarray(ip, ip + word), LZ4_LEGACY_CHUNK_SIZE));
    ip += word;
  }
  return concatBytes(parts);
}


/** Codec factory for 'lz4-block' | 'lz4-frame' | 'lz4-legacy'. No levels: fast mode only (CODEC_LEVELS). */
export function lz4Codec(spec: Readonly<CodecSpec>): Codec {
  codecLevel(spec); // any level is E_BAD_OPTION
  const wrap =
    (what: string, f: (d: Uint8Array, n?: number) => Uint8Array) =>
    (d: Uint8Array, n?: number): Uint8Array => {
      try {
        return f(d, n);
      } catch (err) {
        throw codecFailure(spec, what, err);
      }
    };
  switch (spec.name) {
    case 'lz4-block':
      return {
        spec,
        // May be longer than the block for incompressible data: store raw when not smaller.
        compress: wrap('compress', lz4CompressBlock),
        decompress: wrap("decompress", (d, n) => lz4DecompressBlock(d, n ?? Math.min(Math.max(255 * d.byteLength, 16), 1 << 26))),
      };
    case 'lz4-frame':
      return { spec, compress: wrap('compress', lz4FrameCompress), decompress: wrap('decompress', lz4FrameDecompress) };
    default:
      return { spec, compress: wrap('compress', lz4LegacyCompress), decompress: wrap('decompress', lz4LegacyDecompress) };
  }
}
