/**
 * The deflate family (RFC 1951 raw, RFC 1950 zlib, RFC 1952 gzip) behind one small engine interface,
 * so `@imgkit/core/node` can swap pako for node:zlib. pako 3 (default hash) and Node 20's zlib
 * (Chromium's) were measured to give the same bytes at levels 1, 6 and 9; the tests only rely on
 * each realm kind being deterministic.
 */
import * as pako from 'pako';
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
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
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
 * zlib stream per 128 KiB block), the same in every realm: pako with zlib's canonical 3-byte rolling
 * hash (`legacyHash`), memLevel {@link RATIO_MEM_LEVEL} and zlib's level-6 match search.
 *
 * Why: Node's bundled zlib (Chromium's) and pako's default hash only chain strings whose first 4
 * bytes agree, so 3-byte matches are lost; on 128 KiB blocks of a Debian root filesystem that costs
 * 1.6% against the system zlib that mksquashfs links. zlib's own hash gets them back, and the smaller
 * memLevel ends Huffman blocks more often (4 Ki symbols instead of 16 Ki), which gains more than
 * zlib level 9's long chains at a fifth of their cost. benchmarks/deflate-ratio.ts has the numbers;
 * measured there: 0.4% smaller than system zlib -9 (memLevel 8) at 0.6× node:zlib level 9's speed.
 */
// TEMP-EXPERIMENT
const TMP = String((globalThis as any).process?.env?.IMGKIT_RATIO ?? '6,6').split(',').map(Number);
export const RATIO_MEM_LEVEL = TMP[0]!;
/** zlib's configuration_table entry whose match search the ratio profile uses. */
export const RATIO_SEARCH_LEVEL = TMP[1]!;

/** The level-9 ratio profile (see above); pure JS, identical bytes in Node, workers and browsers. */
export function deflateRatio(format: DeflateFormat, data: Uint8Array, windowBits: number): Uint8Array {
  const opts: pako.DeflateOptions = {
    level: RATIO_SEARCH_LEVEL,
    memLevel: RATIO_MEM_LEVEL,
    windowBits,
    legacyHash: true,
    // one output chunk for a whole block (pako's default 16 KiB chunks are concatenated afterwards)
    chunkSize: Math.max(16384, data.byteLength + (data.byteLength >>> 3) + 64),
  };
  if (TMP.length > 2) {
    if (format === 'gzip') opts.gzip = true;
    if (format === 'deflate-raw') opts.raw = true;
    const d = new pako.Deflate(opts);
    const st = (d as any).strm.state;
    [st.good_match, st.max_lazy_match, st.nice_match, st.max_chain_length] = TMP.slice(2);
    d.push(data, true);
    return d.result;
  }
  if (format === 'gzip') return pako.gzip(data, opts);
  if (format === 'zlib') return pako.deflate(data, opts);
  return pako.deflateRaw(data, opts);
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
  const level = spec.level ?? 6;
  const windowBits = spec.windowBits ?? 15;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw codecOptionError(spec, 'level', `level ${level} is outside 0…9`);
  }
  if (!Number.isInteger(windowBits) || windowBits < 8 || windowBits > 15 || (format === 'gzip' && windowBits < 9)) {
    throw codecOptionError(spec, 'windowBits', `windowBits ${windowBits} is outside ${format === 'gzip' ? 9 : 8}…15`);
  }
  const e = engine;
  return {
    spec,
    compress(block) {
      try {
        if (level === 9 && RATIO_MEM_LEVEL > 0) return deflateRatio(format, block, windowBits);
        if (level === 9 && RATIO_MEM_LEVEL < 0) return (e as any).deflate(format, block, level, windowBits, -RATIO_MEM_LEVEL);
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
