/**
 * xz (LZMA2) through node-liblzma@4.0.2's wasm build (`node-liblzma/wasm`), never its native addon.
 *
 * node-liblzma's JS API only offers presets (`lzma_easy_*`), but its wasm exports
 * `lzma_stream_buffer_encode(filters, check, allocator, in, in_size, out, out_pos, out_size)`, so we
 * build the filter chain ourselves: one LZMA2 filter whose `lzma_options_lzma` is the preset's values
 * (liblzma lzma_encoder_presets.c, re-stated below) with `dict_size` replaced, exactly as mksquashfs
 * (xz_wrapper.c: lzma_lzma_preset(LZMA_PRESET_DEFAULT), dict_size = block size, LZMA_CHECK_CRC32)
 * does. The result is one .xz stream with one block whose header records both sizes.
 */
import { ErrorCodes, ImgkitError } from '../errors.js';
import { CODEC_LEVELS, codecLevel, XZ_MAX_DICT_SIZE, XZ_PRESET_LEVELS } from './levels.js';
import { codecFailure, codecOptionError, getWasmLoader } from './registry.js';
import type { Codec, CodecSpec } from './types.js';
import { crc32 } from '../hash.js';

type Wasm = typeof import('node-liblzma/wasm');
type LzmaModule = Awaited<ReturnType<Wasm['initModule']>>;
let ready: Promise<{ api: Wasm; mod: LzmaModule }> | undefined;

export function xzReady(): Promise<{ api: Wasm; mod: LzmaModule }> {
  ready ??= (async () => {
    const api = await import('node-liblzma/wasm');
    const loader = getWasmLoader('xz');
    let mod: LzmaModule;
    if (loader) {
      const src = await loader();
      const { default: createLZMA } = await import('node-liblzma/wasm/liblzma.js');
      const arg: Record<string, unknown> =
        typeof src === 'string' || src instanceof URL
          ? { locateFile: () => (src instanceof URL ? src.href : src) }
          : { wasmBinary: src instanceof Uint8Array ? src : new Uint8Array(src) };
      mod = await api.initModule(() => createLZMA(arg));
    } else {
      mod = await api.initModule();
    }
    return { api, mod };
  })();
  return ready;
}

// xz-file-format.txt §2.1.1.2 Stream Flags / §3.1.1 check ids
export const XZ_CHECK_IDS = { none: 0, crc32: 1, crc64: 4 } as const;
const CHECK_SIZES = { none: 0, crc32: 4, crc64: 8 } as const;
/** xz-file-format.txt §5.3.1 LZMA2 filter id. */
const LZMA_FILTER_LZMA2 = 0x21;
// lzma12.h enums
const LZMA_MODE_FAST = 1;
const LZMA_MODE_NORMAL = 2;
const LZMA_MF_HC3 = 0x03;
const LZMA_MF_HC4 = 0x04;
const LZMA_MF_BT4 = 0x14;
const LZMA_OK = 0;

/** Dictionary size of xz preset `level` (0…9): 256 KiB … 64 MiB (liblzma lzma_encoder_presets.c). */
export function xzPresetDictSize(level: number): number {
  const log = [18, 20, 21, 22, 22, 23, 23, 24, 25, 26][level];
  if (!Number.isInteger(level) || log === undefined) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'core', field: 'codec.xz.level', detail: `xz preset ${String(level)} is outside ${CODEC_LEVELS.xz!.min}…${CODEC_LEVELS.xz!.max}` });
  }
  return 2 ** log;
}

/** xz-file-format.txt §5.3.1: LZMA2 dictionary sizes are 2^n or 2^n + 2^(n-1), 4 KiB … 1.5 GiB. */
export function isXzDictSize(n: number): boolean {
  if (!Number.isInteger(n) || n < 4096 || n > 1536 * 2 ** 20) return false;
  const p = 2 ** Math.floor(Math.log2(n));
  return n === p || n === p + p / 2;
}

interface XzParams {
  level: number;
  dictSize: number;
  check: keyof typeof XZ_CHECK_IDS;
}

/**
 * Preset, dictionary and check of an xz spec. The encoder's memory grows with the dictionary, and
 * this WebAssembly build has room for XZ_MAX_DICT_SIZE: a larger dictionary (given, or a preset's
 * own: presets 8 and 9) is E_BAD_OPTION saying so, before any data is compressed.
 */
function resolveXz(spec: Readonly<CodecSpec>): XzParams {
  const level = codecLevel(spec)!;
  const dictSize = spec.dictSize ?? xzPresetDictSize(level);
  if (!isXzDictSize(dictSize)) {
    throw codecOptionError(spec, 'dictSize', `dictionary ${dictSize} is not 2^n or 2^n+2^(n-1) in 4 KiB…1.5 GiB`);
  }
  if (dictSize > XZ_MAX_DICT_SIZE) {
    const limit = `this WebAssembly build of liblzma encodes with dictionaries of at most ${XZ_MAX_DICT_SIZE >> 20} MiB`;
    if (spec.dictSize !== undefined) throw codecOptionError(spec, 'dictSize', `dictionary ${dictSize} bytes: ${limit}`, `use a dictionary of at most ${XZ_MAX_DICT_SIZE} bytes`);
    throw codecOptionError(spec, 'level', `preset ${level} uses a ${dictSize >> 20} MiB dictionary: ${limit}`, `use a preset of ${XZ_PRESET_LEVELS.min}…${XZ_PRESET_LEVELS.max}`);
  }
  const check = spec.check ?? 'crc32';
  if (!(check in XZ_CHECK_IDS)) throw codecOptionError(spec, 'check', `unknown check "${check}"`);
  return { level, dictSize, check };
}

/** Encode `input` as one .xz stream (one block) with the given preset, dictionary and check. */
function encode(mod: LzmaModule, input: Uint8Array, p: XzParams): Uint8Array {
  const OPT_SIZE = 128; // sizeof(lzma_options_lzma) is 80 on wasm32; zeroed reserved tail
  const cap = input.byteLength + (input.byteLength >>> 3) + 1024; // lzma_stream_buffer_bound-like
  const opt = mod._malloc(OPT_SIZE);
  const filters = mod._malloc(32);
  const inPtr = mod._malloc(Math.max(1, input.byteLength));
  const outPtr = mod._malloc(cap);
  const outPos = mod._malloc(4);
  try {
    mod.HEAPU8.fill(0, opt, opt + OPT_SIZE);
    const v = new DataView(mod.HEAPU8.buffer);
    const L = p.level;
    // lzma_options_lzma (lzma12.h) filled like lzma_lzma_preset(level), then dict_size replaced
    v.setUint32(opt + 0, p.dictSize, true); // dict_size
    v.setUint32(opt + 12, 3, true); // lc = LZMA_LC_DEFAULT
    v.setUint32(opt + 16, 0, true); // lp = LZMA_LP_DEFAULT
    v.setUint32(opt + 20, 2, true); // pb = LZMA_PB_DEFAULT
    v.setUint32(opt + 24, L <= 3 ? LZMA_MODE_FAST : LZMA_MODE_NORMAL, true); // mode
    v.setUint32(opt + 28, L <= 3 ? (L <= 1 ? 128 : 273) : L === 4 ? 16 : L === 5 ? 32 : 64, true); // nice_len
    v.setUint32(opt + 32, L <= 3 ? (L === 0 ? LZMA_MF_HC3 : LZMA_MF_HC4) : LZMA_MF_BT4, true); // mf
    v.setUint32(opt + 36, L <= 3 ? [4, 8, 24, 48][L]! : 0, true); // depth
    // lzma_filter[2] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } }, 16 bytes each
    v.setBigUint64(filters + 0, BigInt(LZMA_FILTER_LZMA2), true);
    v.setUint32(filters + 8, opt, true);
    v.setUint32(filters + 12, 0, true);
    v.setBigUint64(filters + 16, 0xffffffffffffffffn, true);
    v.setUint32(filters + 24, 0, true);
    v.setUint32(filters + 28, 0, true);
    v.setUint32(outPos, 0, true);
    mod.HEAPU8.set(input, inPtr);
    const ret = mod._lzma_stream_buffer_encode(filters, XZ_CHECK_IDS[p.check], 0, inPtr, input.byteLength, outPtr, outPos, cap);
    if (ret !== LZMA_OK) throw new Error(`lzma_stream_buffer_encode returned ${ret}`);
    const n = new DataView(mod.HEAPU8.buffer).getUint32(outPos, true); // HEAP may have grown
    return mod.HEAPU8.slice(outPtr, outPtr + n);
  } finally {
    for (const ptr of [opt, filters, inPtr, outPtr, outPos]) mod._free(ptr);
  }
}

/**
 * Decode a whole .xz file with lzma_stream_buffer_decode (node-liblzma's own streamBufferDecode
 * aborts in this wasm build: it writes the u64 memlimit with setValue(i64), built without WASM_BIGINT).
 */
function decode(mod: LzmaModule, input: Uint8Array, expectedSize?: number): Uint8Array {
  const LZMA_BUF_ERROR = 10;
  let outSize = expectedSize ?? Math.max(4096, input.byteLength * 4);
  for (let attempt = 0; attempt < 8; attempt++) {
    const memlimit = mod._malloc(8);
    const inPos = mod._malloc(4);
    const outPos = mod._malloc(4);
    const inPtr = mod._malloc(Math.max(1, input.byteLength));
    const outPtr = mod._malloc(Math.max(1, outSize));
    try {
      const v = new DataView(mod.HEAPU8.buffer);
      v.setBigUint64(memlimit, 256n << 20n, true);
      v.setUint32(inPos, 0, true);
      v.setUint32(outPos, 0, true);
      mod.HEAPU8.set(input, inPtr);
      const ret = mod._lzma_stream_buffer_decode(memlimit, 0, 0, inPtr, inPos, input.byteLength, outPtr, outPos, outSize);
      if (ret === LZMA_OK) {
        const n = new DataView(mod.HEAPU8.buffer).getUint32(outPos, true);
        return mod.HEAPU8.slice(outPtr, outPtr + n);
      }
      if (ret !== LZMA_BUF_ERROR) throw new Error(`lzma_stream_buffer_decode returned ${ret}`);
      outSize *= 4;
    } finally {
      for (const ptr of [memlimit, inPos, outPos, inPtr, outPtr]) mod._free(ptr);
    }
  }
  throw new Error('xz output larger than expected');
}

export async function xzCodec(spec: Readonly<CodecSpec>): Promise<Codec> {
  const params = resolveXz(spec);
  const { mod } = await xzReady();
  return {
    spec,
    compress(block) {
      try {
        return encode(mod, block, params);
      } catch (err) {
        throw codecFailure(spec, 'compress', err);
      }
    },
    decompress(data, expectedSize) {
      try {
        return decode(mod, data, expectedSize);
      } catch (err) {
        throw codecFailure(spec, 'decompress', err);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Rebuilding one multi-block stream from single-block streams (what `xz -T` writes).

/** One xz Block cut out of a single-block stream, with its Index record. */
export interface XzBlock {
  /** Block Header + Compressed Data + Block Padding + Check (xz-file-format.txt §3). */
  block: Uint8Array;
  /** Index record §4.3.1: size of the block without its padding. */
  unpaddedSize: number;
  uncompressedSize: number;
}

function readVli(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 9; i++) {
    const byte = b[at + i]!;
    v += (byte & 0x7f) * mul;
    if (!(byte & 0x80)) return [v, at + i + 1];
    mul *= 128;
  }
  throw new Error('bad xz VLI');
}
function writeVli(v: number, out: number[]): void {
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

/** Split a stream made by `compress` into its block and index record (empty input → null). */
export function xzSplitSingleBlock(stream: Uint8Array): XzBlock | null {
  const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const end = stream.byteLength;
  // §2.1.2 Stream Footer: CRC32, Backward Size, Stream Flags, 'YZ'
  const indexSize = (v.getUint32(end - 8, true) + 1) * 4;
  const indexStart = end - 12 - indexSize;
  // §4 Index: indicator 0x00, Number of Records, records…
  let at = indexStart + 1;
  const [count, a1] = readVli(stream, at);
  if (count === 0) return null;
  if (count !== 1) throw new Error(`expected one xz block, found ${count}`);
  const [unpaddedSize, a2] = readVli(stream, a1);
  const [uncompressedSize] = readVli(stream, a2);
  at = a2;
  return { block: stream.subarray(12, indexStart), unpaddedSize, uncompressedSize };
}

/** xz-file-format.txt §2.1.1 Stream Header for `check`. */
export function xzStreamHeader(check: keyof typeof XZ_CHECK_IDS): Uint8Array {
  const h = new Uint8Array(12);
  h.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, XZ_CHECK_IDS[check]]);
  new DataView(h.buffer).setUint32(8, crc32(h.subarray(6, 8)), true);
  return h;
}

/** §4 Index for the given blocks followed by the §2.1.2 Stream Footer. */
export function xzIndexAndFooter(records: readonly Pick<XzBlock, 'unpaddedSize' | 'uncompressedSize'>[], check: keyof typeof XZ_CHECK_IDS): Uint8Array {
  const idx: number[] = [0x00];
  writeVli(records.length, idx);
  for (const r of records) {
    writeVli(r.unpaddedSize, idx);
    writeVli(r.uncompressedSize, idx);
  }
  while (idx.length % 4) idx.push(0); // Index Padding
  const index = new Uint8Array(idx.length + 4);
  index.set(idx);
  new DataView(index.buffer).setUint32(idx.length, crc32(index.subarray(0, idx.length)), true);
  const footer = new Uint8Array(12);
  const fv = new DataView(footer.buffer);
  fv.setUint32(4, index.byteLength / 4 - 1, true); // Backward Size
  footer[9] = XZ_CHECK_IDS[check];
  fv.setUint32(0, crc32(footer.subarray(4, 10)), true);
  footer[10] = 0x59; // 'Y'
  footer[11] = 0x5a; // 'Z'
  const out = new Uint8Array(index.byteLength + 12);
  out.set(index);
  out.set(footer, index.byteLength);
  return out;
}

export { resolveXz, CHECK_SIZES };
