/**
 * The deflate family (RFC 1951 raw, RFC 1950 zlib, RFC 1952 gzip) behind one small engine interface,
 * so `@imgkit/core/node` can swap pako for node:zlib. pako 3 (default hash) and Node 20's zlib
 * (Chromium's) were measured to give the same bytes at levels 1, 6 and 9; the tests only rely on
 * each realm kind being deterministic. The one-shot codec's level 9 bypasses the engine: it is the
 * pure-JS ratio profile below (`deflateRatio`), identical everywhere.
 */
import { concatBytes } from '../bytes.js';
import * as pako from 'pako';
import { codecLevel } from './levels.js';
import { codecFailure, codecOptionError } from './registry.js';
import type { Codec, CodecSpec } from './types.js';

export type DeflateFormat = 'gzip' | 'zlib' | 'deflate-raw';

export interface DeflateEngine {
  readonly name: string;
  deflate(format: DeflateFormat, data: Uint8Array, level: number, windowBits: number): Uint8Array;
  inflate(format: DeflateFormat, data: Uint8Array, windowBits: number): Uint8Array;
  /**
   * Raw deflate of one piece of a longer stream (pigz style): `dictionary` is the preceding input
   * (at most 32 KiB), and the piece ends with a sync flush (byte aligned, not final) unless `last`.
   */
  deflateRawPiece(data: Uint8Array, level: number, dictionary: Uint8Array | undefined, last: boolean): Uint8Array;
  /** A faster CRC-32 (gzip trailer) when the realm has one; core's `crc32` otherwise. */
  crc32?(data: Uint8Array): number;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}

/** pako: runs everywhere (browser, worker, Node). */
export const pakoEngine: DeflateEngine = {
  name: 'pako',
  deflate(format, data, level, windowBits) {
    if (format === 'gzip') return pako.gzip(data, { level, windowBits });
    if (format === 'zlib') return pako.deflate(data, { level, windowBits });
    return pako.deflateRaw(data, { level, windowBits });
  },
  inflate(format, data, windowBits) {
    if (format === 'deflate-raw') return pako.inflateRaw(data, { windowBits });
    return pako.inflate(data, format === 'gzip' ? {} : { windowBits });
  },
  deflateRawPiece(data, level, dictionary, last) {
    const opts: pako.DeflateOptions = { level, raw: true, windowBits: 15 };
    if (dictionary && dictionary.byteLength > 0) opts.dictionary = dictionary;
    const d = new pako.Deflate(opts);
    const parts: Uint8Array[] = [];
    d.onData = (chunk) => {
      parts.push(chunk);
    };
    d.onEnd = () => {};
    d.push(data, last ? pako.Z_FINISH : pako.Z_SYNC_FLUSH);
    if (d.err) throw new Error(`pako deflate error ${d.err}: ${d.msg}`);
    return concat(parts);
  },
};

/**
 * Level 9 of the one-shot codec is a ratio profile for independent blocks (squashfs "gzip" is one
 * zlib stream per 128 KiB block), the same code and bytes in every realm: pako with zlib's own
 * 3-byte rolling hash (`legacyHash`), a short match search (zlib's deflateTune() knobs) and Huffman
 * blocks of 4 Ki symbols.
 *
 * Why: Node's bundled zlib (Chromium's) and pako's default hash only chain strings whose first 4
 * bytes agree, so 3-byte matches are lost: on 128 KiB blocks of a Debian root filesystem that costs
 * 1.6% against the system zlib mksquashfs links. zlib's hash gets them back. Ending a Huffman block
 * every 4 Ki symbols instead of zlib's 16 Ki (memLevel 8) adapts the codes to the data and gains
 * more than level 9's 4096-long chains; 64-long chains keep it as fast as node:zlib level 9 in one
 * thread. (zlib ties the block size to the hash size through memLevel; memLevel 6 gives the same
 * blocks but a 13-bit hash that is 20% slower, so the block end is set on the state instead.)
 * Measured in benchmarks/deflate-ratio.ts (every 5th block of Debian minbase): the same size as
 * system zlib -9 (-0.03%) where node:zlib -9 is 1.5% larger, at 18 MB/s against node:zlib's 15.
 * The squashfs of that tree went from 1.8% larger than `mksquashfs -comp gzip`'s to 0.07% smaller.
 * Very compressible blocks lose a few % to the short chains; the sum wins. The stream header says
 * level 9 (FLEVEL 3); it is informational (RFC 1950 §2.2).
 */
export const RATIO_PROFILE = {
  memLevel: 8,
  goodLength: 4,
  maxLazy: 32,
  niceLength: 258,
  maxChain: 64,
  blockSymbols: 4096,
} as const;

/** zlib's deflate_state fields on pako's state (pako ports zlib's deflate.c field by field). */
interface PakoDeflateState {
  good_match: number;
  max_lazy_match: number;
  nice_match: number;
  max_chain_length: number;
  lit_bufsize: number;
  /** End of the symbol buffer, 3 bytes a symbol: the block is emitted when it fills. */
  sym_end: number;
}

const Z_DEFLATED = 8; // RFC 1950 CM: the only method

/** The level-9 ratio profile (see above): pure JS, deterministic, identical in Node, workers and browsers. */
export function deflateRatio(format: DeflateFormat, data: Uint8Array, windowBits: number): Uint8Array {
  const p = RATIO_PROFILE;
  const strm = new pako.ZStream();
  // zlib's windowBits convention: negative for raw deflate, +16 for a gzip wrapper
  const wbits = format === 'deflate-raw' ? -windowBits : format === 'gzip' ? windowBits + 16 : windowBits;
  let status = pako.zlibDeflateInit2(strm, 9, Z_DEFLATED, wbits, p.memLevel, pako.Z_DEFAULT_STRATEGY, true);
  if (status !== pako.Z_OK) throw new Error(`pako deflateInit2 error ${status}: ${strm.msg}`);
  const s = strm.state as Partial<PakoDeflateState> | undefined;
  if (!s || typeof s.max_chain_length !== 'number' || typeof s.lit_bufsize !== 'number' || s.sym_end !== (s.lit_bufsize - 1) * 3) {
    throw new Error("pako's deflate state is not zlib's (internals changed?); imgkit is built for pako 3.0");
  }
  s.good_match = p.goodLength;
  s.max_lazy_match = p.maxLazy;
  s.nice_match = p.niceLength;
  s.max_chain_length = p.maxChain;
  s.sym_end = Math.min(s.sym_end, (p.blockSymbols - 1) * 3); // a smaller buffer fill: always safe
  strm.input = data;
  strm.next_in = 0;
  strm.avail_in = data.byteLength;
  // deflateBound()'s conservative bound plus the largest wrapper: one output buffer in practice
  const parts: Uint8Array[] = [];
  let size = data.byteLength + (data.byteLength >>> 3) + (data.byteLength >>> 6) + 64;
  for (;;) {
    strm.output = new Uint8Array(size);
    strm.next_out = 0;
    strm.avail_out = size;
    status = pako.zlibDeflate(strm, pako.Z_FINISH);
    if (status !== pako.Z_OK && status !== pako.Z_STREAM_END) {
      throw new Error(`pako deflate error ${status}: ${strm.msg}`);
    }
    parts.push(strm.output.subarray(0, strm.next_out));
    if (status === pako.Z_STREAM_END) break;
    size = 64 * 1024;
  }
  pako.zlibDeflateEnd(strm);
  // copy to the exact length: results cross worker boundaries by transfer of the whole buffer
  return parts.length === 1 ? parts[0]!.slice() : concat(parts);
}

let engine: DeflateEngine = pakoEngine;

/** Replace the deflate engine of this realm (the Node entry installs node:zlib). */
export function setDeflateEngine(e: DeflateEngine): void {
  engine = e;
}
export function getDeflateEngine(): DeflateEngine {
  return engine;
}

/** Codec factory for 'gzip' | 'zlib' | 'deflate-raw' over the realm's engine. */
export function deflateCodec(spec: Readonly<CodecSpec>): Codec {
  const format = spec.name as DeflateFormat;
  const level = codecLevel(spec)!;
  const windowBits = spec.windowBits ?? 15;
  if (!Number.isInteger(windowBits) || windowBits < 8 || windowBits > 15 || (format === 'gzip' && windowBits < 9)) {
    throw codecOptionError(spec, 'windowBits', `windowBits ${windowBits} is outside ${format === 'gzip' ? 9 : 8}…15`);
  }
  const e = engine;
  return {
    spec,
    compress(block) {
      try {
        if (level === 9) return deflateRatio(format, block, windowBits);
        return e.deflate(format, block, level, windowBits);
      } catch (err) {
        throw codecFailure(spec, 'compress', err);
      }
    },
    decompress(data) {
      try {
        return e.inflate(format, data, windowBits);
      } catch (err) {
        throw codecFailure(spec, 'decompress', err);
      }
    },
  };
}
