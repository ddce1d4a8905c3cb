/**
 * Splices independently compressed zstd frames into ONE frame, so that a long run of input (a big
 * file inside a cpio archive, which the kernel needs inside a single frame) is compressed piece by
 * piece — in parallel, with bounded memory — by a one-shot compressor.
 *
 * Why re-encoding is needed (RFC 8878, zstd_compression_format.md): a compressed block may refer
 * to three "repeat offsets" (§3.1.1.5 Repeat offsets), which start at 1, 4, 8 in each frame and
 * carry over from block to block. Each piece was compressed as a fresh frame, so inside the spliced
 * frame its sequences would meet other repeat offsets. Literals sections (§3.1.1.3.1) and the
 * literals-length / match-length codes do not depend on them and are copied as they are; the
 * sequences bitstream (§3.1.1.3.2) is decoded to actual offsets and re-encoded, offsets with the
 * predefined distribution (§3.1.1.3.2.2 Default Distributions), literals and match lengths with the
 * block's own tables.
 *
 * A piece is transcoded without knowing what came before it (so it runs in a worker, right after
 * its compression): until the piece itself has pushed three offsets into the history, every offset
 * is written explicitly (Offset_Value = offset + 3), which is correct whatever the history; from
 * then on the history is known and repeat codes are used again. The first block never repeats a
 * table (Repeat_Mode) or a Huffman tree (Treeless literals) from before the piece.
 *
 * Limits: a piece must not exceed the window the spliced frame declares, so no match reaches
 * across pieces.
 */
import { concatBytes } from '../bytes.js';
import { ErrorCodes, ImgkitError } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// Code tables (§3.1.1.3.2.1 "The codes for literals lengths, match lengths, and offsets")

const LL_BASE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
const LL_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const ML_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67,
  83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539,
];
const ML_BITS = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13,
  14, 15, 16,
];
// §3.1.1.3.2.2 Default Distributions (accuracy logs 6, 6, 5)
const LL_DEFAULT = [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1];
const ML_DEFAULT = [
  1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1,
  -1, -1, -1,
];
const OF_DEFAULT = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1];

const BLOCK_MAX = 128 * 1024; // §3.1.1.2.3 Block_Maximum_Size

function corrupt(detail: string): ImgkitError {
  return new ImgkitError(ErrorCodes.CODEC, { format: 'core', field: 'codec.zstd.splice', detail: `cannot splice a zstd frame: ${detail}` });
}

const highbit = (v: number): number => 31 - Math.clz32(v);

// ---------------------------------------------------------------------------------------------
// FSE tables (§4.1 FSE): one description serves decoding and encoding.

interface FseTable {
  /** 0 for RLE: one symbol, no state bits. */
  log: number;
  counts: number[];
  rleSymbol?: number;
  /** Decoding: per state. */
  symbol: Uint8Array;
  nbBits: Uint8Array;
  baseline: Uint16Array;
  /** Encoding (FSE_buildCTable's layout). */
  stateTable: Uint16Array;
  deltaNbBits: Int32Array;
  deltaFind: Int32Array;
  /** How the table is written in a sequences section: mode and description bytes. */
  mode: 0 | 1 | 2;
  description: Uint8Array;
}

/** §4.1.1 "From normalized distribution to decoding tables", and the matching encoder. */
function buildTable(counts: number[], log: number, mode: 0 | 2, description: Uint8Array): FseTable {
  const size = 1 << log;
  const symbol = new Uint8Array(size);
  let high = size - 1;
  const next: number[] = [];
  for (let s = 0; s < counts.length; s++) {
    if (counts[s] === -1) {
      symbol[high--] = s;
      next[s] = 1;
    } else next[s] = counts[s]!;
  }
  const step = (size >> 1) + (size >> 3) + 3;
  const mask = size - 1;
  let pos = 0;
  for (let s = 0; s < counts.length; s++) {
    for (let i = 0; i < counts[s]!; i++) {
      symbol[pos] = s;
      do pos = (pos + step) & mask;
      while (pos > high);
    }
  }
  if (pos !== 0) throw corrupt('FSE distribution does not fill its table');
  const nbBits = new Uint8Array(size);
  const baseline = new Uint16Array(size);
  const nextDec = next.slice();
  for (let u = 0; u < size; u++) {
    const x = nextDec[symbol[u]!]!++;
    nbBits[u] = log - highbit(x);
    baseline[u] = (x << nbBits[u]!) - size;
  }
  // encoder: cumulative counts, state table in spread order, per-symbol transforms
  const cumul: number[] = [0];
  for (let s = 0; s < counts.length; s++) cumul[s + 1] = cumul[s]! + (counts[s] === -1 ? 1 : Math.max(counts[s]!, 0));
  const stateTable = new Uint16Array(size);
  const c = cumul.slice();
  for (let u = 0; u < size; u++) stateTable[c[symbol[u]!]!++] = size + u;
  const deltaNbBits = new Int32Array(counts.length);
  const deltaFind = new Int32Array(counts.length);
  let total = 0;
  for (let s = 0; s < counts.length; s++) {
    const n = counts[s]!;
    if (n === 0) {
      deltaNbBits[s] = ((log + 1) << 16) - size;
    } else if (n === -1 || n === 1) {
      deltaNbBits[s] = (log << 16) - size;
      deltaFind[s] = total - 1;
      total++;
    } else {
      const maxBitsOut = log - highbit(n - 1);
      deltaNbBits[s] = (maxBitsOut << 16) - (n << maxBitsOut);
      deltaFind[s] = total - n;
      total += n;
    }
  }
  return { log, counts, symbol, nbBits, baseline, stateTable, deltaNbBits, deltaFind, mode, description };
}

function rleTable(sym: number): FseTable {
  const z16 = new Uint16Array(1);
  return {
    log: 0,
    counts: [],
    rleSymbol: sym,
    symbol: Uint8Array.of(sym),
    nbBits: new Uint8Array(1),
    baseline: z16,
    stateTable: z16,
    deltaNbBits: new Int32Array(0),
    deltaFind: new Int32Array(0),
    mode: 1,
    description: Uint8Array.of(sym),
  };
}

const PREDEFINED = {
  ll: buildTable(LL_DEFAULT, 6, 0, new Uint8Array(0)),
  ml: buildTable(ML_DEFAULT, 6, 0, new Uint8Array(0)),
  of: buildTable(OF_DEFAULT, 5, 0, new Uint8Array(0)),
};

/** §4.1.1 FSE Table Description: forward little-endian bitstream; returns the table and its size. */
function readDescription(buf: Uint8Array, at: number, end: number, maxSymbol: number, maxLog: number): { table: FseTable; size: number } {
  let bit = 0;
  const peek = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const b = bit + i;
      const byte = at + (b >> 3) < end ? buf[at + (b >> 3)]! : 0;
      v |= ((byte >> (b & 7)) & 1) << i;
    }
    return v >>> 0;
  };
  const take = (n: number): number => {
    const v = peek(n);
    bit += n;
    return v;
  };
  const log = take(4) + 5;
  if (log > maxLog) throw corrupt(`accuracy log ${log} above ${maxLog}`);
  let remaining = (1 << log) + 1;
  let threshold = 1 << log;
  let nbBits = log + 1;
  const counts: number[] = [];
  let previous0 = false;
  while (remaining > 1 && counts.length <= maxSymbol) {
    if (previous0) {
      for (;;) {
        const r = take(2);
        for (let i = 0; i < r; i++) counts.push(0);
        if (r !== 3) break;
      }
      if (counts.length > maxSymbol) break;
    }
    const max = 2 * threshold - 1 - remaining;
    let count: number;
    const low = peek(nbBits - 1);
    if (low < max) {
      count = low;
      bit += nbBits - 1;
    } else {
      count = peek(nbBits);
      if (count >= threshold) count -= max;
      bit += nbBits;
    }
    count--;
    remaining -= Math.abs(count);
    counts.push(count);
    previous0 = count === 0;
    while (remaining < threshold) {
      nbBits--;
      threshold >>= 1;
    }
  }
  if (remaining !== 1 || counts.length > maxSymbol + 1) throw corrupt('bad FSE table description');
  const size = (bit + 7) >> 3;
  if (at + size > end) throw corrupt('FSE table description runs past the block');
  return { table: buildTable(counts, log, 2, buf.slice(at, at + size)), size };
}

/**
 * An offsets table fitted to this block's offset codes (FSE_Compressed_Mode, accuracy log ≤ 8, the
 * offsets maximum of §3.1.1.3.2.1), RLE_Mode for a single code, the predefined one for few sequences.
 */
function offsetTableFor(codes: Uint8Array | number[], n: number): FseTable {
  const hist = new Array<number>(32).fill(0);
  for (let i = 0; i < n; i++) hist[codes[i]!]!++;
  let maxSym = 0;
  let present = 0;
  for (let s = 0; s < 32; s++) {
    if (hist[s]! > 0) {
      maxSym = s;
      present++;
    }
  }
  if (present === 1) return rleTable(maxSym);
  if (n < 64 && maxSym <= 28) return PREDEFINED.of;
  const log = Math.min(8, Math.max(5, highbit(n - 1) + 1));
  const size = 1 << log;
  const counts = hist.slice(0, maxSym + 1).map((c) => (c === 0 ? 0 : Math.max(1, Math.floor((c * size) / n))));
  let sum = counts.reduce((a, b) => a + b, 0);
  let big = 0;
  for (let s = 1; s <= maxSym; s++) if (counts[s]! > counts[big]!) big = s;
  if (sum < size) counts[big]! += size - sum;
  while (sum > size) {
    // too many symbols forced up to 1: take from the largest
    let k = 0;
    for (let s = 1; s <= maxSym; s++) if (counts[s]! > counts[k]!) k = s;
    counts[k]!--;
    sum--;
  }
  return buildTable(counts, log, 2, writeDescription(counts, log));
}

/** §4.1.1 FSE Table Description, written as its reader (readDescription) expects it. */
function writeDescription(counts: number[], log: number): Uint8Array {
  const w = new ForwardWriter();
  w.add(log - 5, 4);
  let remaining = (1 << log) + 1;
  let threshold = 1 << log;
  let nbBits = log + 1;
  let s = 0;
  let previous0 = false;
  while (remaining > 1) {
    if (previous0) {
      let zeros = 0;
      while (counts[s] === 0) {
        zeros++;
        s++;
      }
      while (zeros >= 3) {
        w.add(3, 2);
        zeros -= 3;
      }
      w.add(zeros, 2);
    }
    const count = counts[s++]!;
    const value = count + 1;
    const max = 2 * threshold - 1 - remaining;
    if (value < max) w.add(value, nbBits - 1);
    else if (value < threshold) w.add(value, nbBits);
    else w.add(value + max, nbBits);
    remaining -= Math.abs(count);
    previous0 = count === 0;
    while (remaining < threshold) {
      nbBits--;
      threshold >>= 1;
    }
  }
  return w.bytes();
}

// ---------------------------------------------------------------------------------------------
// Bitstreams (§4.1: written forward, read backward from the end mark)

class BackwardReader {
  private pos: number;
  constructor(
    private readonly buf: Uint8Array,
    private readonly start: number,
    end: number,
  ) {
    if (end <= start || buf[end - 1] === 0) throw corrupt('sequence bitstream has no end mark');
    this.pos = (end - 1 - start) * 8 + highbit(buf[end - 1]!);
  }
  read(n: number): number {
    if (n === 0) return 0;
    if (n > 24) {
      const high = this.read(n - 16);
      return high * 65536 + this.read(16);
    }
    const pos = this.pos - n;
    if (pos < 0) throw corrupt('sequence bitstream too short');
    this.pos = pos;
    const b = this.buf;
    const i = this.start + (pos >> 3);
    // 4 bytes cover any 24 bits after a shift of up to 7 (bytes past the stream are masked off);
    // the bounds test keeps reads past the buffer (undefined) off the hot path
    const w =
      i + 3 < b.length
        ? b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)
        : b[i]! | ((b[i + 1] ?? 0) << 8) | ((b[i + 2] ?? 0) << 16) | ((b[i + 3] ?? 0) << 24);
    return (w >>> (pos & 7)) & ((1 << n) - 1);
  }
  get done(): boolean {
    return this.pos === 0;
  }
}

class ForwardWriter {
  private out = new Uint8Array(1024);
  private len = 0;
  private acc = 0;
  private bits = 0;
  add(value: number, n: number): void {
    if (n === 0) return;
    if (n > 24) {
      this.add(value % 65536, 16);
      this.add(Math.floor(value / 65536), n - 16);
      return;
    }
    // bits < 8 before, ≤ 31 after: fits the 32-bit accumulator, and at most 3 bytes come out
    let acc = (this.acc | ((value & ((1 << n) - 1)) << this.bits)) >>> 0;
    let bits = this.bits + n;
    if (bits >= 8) {
      if (this.len + 4 > this.out.byteLength) this.grow();
      const out = this.out;
      do {
        out[this.len++] = acc & 0xff;
        acc >>>= 8;
        bits -= 8;
      } while (bits >= 8);
    }
    this.acc = acc;
    this.bits = bits;
  }
  private grow(): void {
    const g = new Uint8Array(this.out.byteLength * 2);
    g.set(this.out);
    this.out = g;
  }
  /** Start again (keeping the buffer: what `close()` returned is overwritten). */
  reset(): void {
    this.len = 0;
    this.acc = 0;
    this.bits = 0;
  }
  private push(b: number): void {
    if (this.len === this.out.byteLength) this.grow();
    this.out[this.len++] = b;
  }
  /** What was written, padded with zero bits to the byte (no end mark: table descriptions). */
  bytes(): Uint8Array {
    if (this.bits > 0) this.push(this.acc & 0xff);
    this.acc = 0;
    this.bits = 0;
    return this.out.slice(0, this.len);
  }
  /** End mark (a 1 bit), then zero padding to the byte. A view of the writer's buffer, valid until `reset()`. */
  close(): Uint8Array {
    this.add(1, 1);
    if (this.bits > 0) this.push(this.acc & 0xff);
    this.acc = 0;
    this.bits = 0;
    return this.out.subarray(0, this.len);
  }
}

class Encoder {
  state = 0;
  private readonly log: number;
  private readonly stateTable: Uint16Array;
  private readonly deltaNbBits: Int32Array;
  private readonly deltaFind: Int32Array;
  constructor(t: FseTable) {
    this.log = t.log;
    this.stateTable = t.stateTable;
    this.deltaNbBits = t.deltaNbBits;
    this.deltaFind = t.deltaFind;
  }
  init(sym: number): void {
    if (this.log === 0) return;
    const d = this.deltaNbBits[sym]!;
    const nb = (d + (1 << 15)) >> 16;
    const value = (nb << 16) - d;
    this.state = this.stateTable[(value >> nb) + this.deltaFind[sym]!]!;
  }
  encode(w: ForwardWriter, sym: number): void {
    if (this.log === 0) return;
    const nb = (this.state + this.deltaNbBits[sym]!) >> 16;
    w.add(this.state, nb);
    this.state = this.stateTable[(this.state >> nb) + this.deltaFind[sym]!]!;
  }
  flush(w: ForwardWriter): void {
    if (this.log !== 0) w.add(this.state, this.log);
  }
}

/** 2 ** n for the offset codes 0…31 (a table: `2 ** n` with a variable n is a float pow call). */
const POW2 = Float64Array.from({ length: 32 }, (_, n) => 2 ** n);

/**
 * One block's decoded sequences, in arrays a transcoder reuses from block to block (a block holds
 * at most 128 KiB / 3 sequences; they grow when a bigger count is read).
 */
class SequenceArrays {
  ll = new Int32Array(0);
  ml = new Int32Array(0);
  offsets = new Float64Array(0); // actual offsets may exceed 2^31 − 1 in principle
  ofValues = new Float64Array(0);
  llCode = new Uint8Array(0);
  mlCode = new Uint8Array(0);
  ofCode = new Uint8Array(0);
  ensure(n: number): void {
    if (this.ll.length >= n) return;
    const k = Math.max(n, 2 * this.ll.length, 1024);
    this.ll = new Int32Array(k);
    this.ml = new Int32Array(k);
    this.offsets = new Float64Array(k);
    this.ofValues = new Float64Array(k);
    this.llCode = new Uint8Array(k);
    this.mlCode = new Uint8Array(k);
    this.ofCode = new Uint8Array(k);
  }
}

// ---------------------------------------------------------------------------------------------
// The splicer

/** Offset history (§3.1.1.5): apply one sequence, return its actual offset. */
function applyOffset(rep: number[], offsetValue: number, ll: number): number {
  if (offsetValue > 3) {
    const o = offsetValue - 3;
    rep[2] = rep[1]!;
    rep[1] = rep[0]!;
    rep[0] = o;
    return o;
  }
  const idx = offsetValue - 1 + (ll === 0 ? 1 : 0);
  if (idx === 0) return rep[0]!;
  if (idx === 3) {
    const o = rep[0]! - 1;
    rep[2] = rep[1]!;
    rep[1] = rep[0]!;
    rep[0] = o;
    return o;
  }
  const o = rep[idx]!;
  if (idx === 2) rep[2] = rep[1]!;
  rep[1] = rep[0]!;
  rep[0] = o;
  return o;
}

/** The Offset_Value that gives actual offset `o` against history `rep` (a repeat code when one fits). */
function offsetValueFor(rep: number[], o: number, ll: number): number {
  if (ll > 0) {
    if (o === rep[0]) return 1;
    if (o === rep[1]) return 2;
    if (o === rep[2]) return 3;
  } else {
    if (o === rep[1]) return 1;
    if (o === rep[2]) return 2;
    if (o === rep[0]! - 1) return 3;
  }
  return o + 3;
}

interface TableSet {
  ll?: FseTable;
  ml?: FseTable;
}
interface PieceTables extends TableSet {
  of?: FseTable;
}

/** §3.1.1.1 frame header of a spliced frame: no content size, not single-segment, no checksum. */
export function splicedFrameHeader(windowLog: number): Uint8Array {
  if (windowLog < 10 || windowLog > 23) throw corrupt(`window log ${windowLog} outside 10…23`);
  // magic 0xFD2FB528 (LE), Frame_Header_Descriptor 0, Window_Descriptor: Exponent = windowLog − 10, Mantissa 0
  return Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3);
}

/**
 * The blocks of one-shot `frame` (which decodes to `input`), re-encoded to sit anywhere inside a
 * spliced frame; `lastBlockAt` is where the final block's header starts (its Last_Block bit is
 * clear: set it on the frame's final piece).
 */
export function transcodePiece(frame: Uint8Array, input: Uint8Array, options: { maxBlockBytes?: number } = {}): { data: Uint8Array; lastBlockAt: number } {
  return new PieceTranscoder(options.maxBlockBytes ?? BLOCK_MAX).run(frame, input);
}

class PieceTranscoder {
  /** The spliced frame's offset history as far as this piece has set it (`known` slots). */
  private readonly rep = [0, 0, 0];
  private known = 0;
  /** Tables and Huffman state the decoder holds because of this piece's own blocks. */
  private dec: TableSet = {};
  private huffmanValid = false;
  private readonly seq = new SequenceArrays();
  private readonly writer = new ForwardWriter();

  /** `maxBlock`: largest re-encoded block kept (Block_Maximum_Size; tests lower it to force raw blocks). */
  constructor(private readonly maxBlock: number) {}

  run(frame: Uint8Array, input: Uint8Array): { data: Uint8Array; lastBlockAt: number } {
    const out: Uint8Array[] = [];
    let length = 0;
    let lastBlockAt = 0;
    const put = (bytes: Uint8Array): void => {
      lastBlockAt = length;
      out.push(bytes);
      length += bytes.byteLength;
    };
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (frame.byteLength < 6 || v.getUint32(0, true) !== 0xfd2fb528) throw corrupt('not a zstd frame');
    const fhd = frame[4]!;
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    let at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
    // The piece's own state, as its compressor saw it: a fresh frame.
    const pieceRep = [1, 4, 8];
    const piece: PieceTables = {};
    let pos = 0; // decompressed position within the piece
    for (;;) {
      if (at + 3 > frame.byteLength) throw corrupt('truncated block header');
      const bh = frame[at]! | (frame[at + 1]! << 8) | (frame[at + 2]! << 16);
      const isLast = bh & 1;
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      at += 3;
      if (type === 0) {
        put(blockBytes(0, input.subarray(pos, pos + size)));
        pos += size;
        at += size;
      } else if (type === 1) {
        put(rleBlockBytes(frame[at]!, size));
        pos += size;
        at += 1;
      } else if (type === 2) {
        const repBefore = this.rep.slice();
        const knownBefore = this.known;
        const r = this.transcode(frame, at, at + size, pieceRep, piece);
        if (r.body && r.body.byteLength <= this.maxBlock) {
          put(blockBytes(2, r.body));
          if (r.literalsType === 2) this.huffmanValid = true;
          this.dec = r.decTables;
        } else {
          // Does not fit, or its literals need a Huffman table the decoder lacks: store the block's
          // bytes raw. Raw blocks leave the decoder's offset history and tables as they were.
          put(blockBytes(0, input.subarray(pos, pos + r.decodedSize)));
          this.rep.splice(0, 3, ...repBefore);
          this.known = knownBefore;
          if (r.literalsType === 2) this.huffmanValid = false;
        }
        pos += r.decodedSize;
        at += size;
      } else throw corrupt('reserved block type');
      if (isLast) break;
    }
    if (checksum) at += 4;
    if (at !== frame.byteLength) throw corrupt('data after the frame');
    if (pos !== input.byteLength) throw corrupt(`piece decodes to ${pos} bytes, not ${input.byteLength}`);
    return { data: concatBytes(out), lastBlockAt };
  }

  /** Offset_Value for actual offset `o`, and the history update (explicit until the history is known). */
  private offsetValue(o: number, ll: number): number {
    const ov = this.known < 3 ? o + 3 : offsetValueFor(this.rep, o, ll);
    if (ov > 3 || (ov === 3 && ll === 0)) this.known = Math.min(3, this.known + 1);
    applyOffset(this.rep, ov, ll);
    return ov;
  }

  /** One compressed block: literals copied, sequences re-encoded against this frame's history. */
  private transcode(
    buf: Uint8Array,
    start: number,
    end: number,
    pieceRep: number[],
    piece: PieceTables,
  ): { body: Uint8Array | undefined; decodedSize: number; literalsType: number; decTables: TableSet } {
    // §3.1.1.3.1.1 Literals_Section_Header
    const b0 = buf[start]!;
    const litType = b0 & 3;
    const sizeFormat = (b0 >> 2) & 3;
    let headerLen: number;
    let regen: number;
    let contentLen: number;
    if (litType < 2) {
      if (sizeFormat === 0 || sizeFormat === 2) {
        headerLen = 1;
        regen = b0 >> 3;
      } else if (sizeFormat === 1) {
        headerLen = 2;
        regen = (b0 >> 4) + (buf[start + 1]! << 4);
      } else {
        headerLen = 3;
        regen = (b0 >> 4) + (buf[start + 1]! << 4) + (buf[start + 2]! << 12);
      }
      contentLen = litType === 0 ? regen : 1;
    } else {
      const h = b0 + buf[start + 1]! * 2 ** 8 + buf[start + 2]! * 2 ** 16 + (buf[start + 3] ?? 0) * 2 ** 24 + (buf[start + 4] ?? 0) * 2 ** 32;
      const bitsFor = [10, 10, 14, 18][sizeFormat]!;
      headerLen = [3, 3, 4, 5][sizeFormat]!;
      regen = Math.floor(h / 16) % 2 ** bitsFor;
      contentLen = Math.floor(h / 2 ** (4 + bitsFor)) % 2 ** bitsFor;
    }
    const litEnd = start + headerLen + contentLen;
    if (litEnd > end) throw corrupt('literals section runs past the block');
    if (litType === 3 && !this.huffmanValid) {
      // Treeless literals against a table the spliced frame's decoder does not have: store raw.
      const d = this.decodeSequences(buf, litEnd, end, pieceRep, piece);
      return { body: undefined, decodedSize: regen + d.matchTotal, literalsType: litType, decTables: this.dec };
    }
    const d = this.decodeSequences(buf, litEnd, end, pieceRep, piece);
    const decodedSize = regen + d.matchTotal;
    if (d.nbSeq === 0) {
      return { body: buf.subarray(start, end), decodedSize, literalsType: litType, decTables: this.dec };
    }
    // Re-encode: offsets against this frame's history, predefined offset table.
    const n = d.nbSeq;
    const { ll: lls, ml: mls, llCode, mlCode, offsets, ofValues, ofCode } = this.seq;
    for (let i = 0; i < n; i++) {
      const v = this.offsetValue(offsets[i]!, lls[i]!);
      ofValues[i] = v;
      ofCode[i] = highbit(v);
    }
    const w = this.writer;
    w.reset();
    const ll = new Encoder(d.llTable);
    const ml = new Encoder(d.mlTable);
    const ofTable = offsetTableFor(ofCode, n);
    const of = new Encoder(ofTable);
    const last = n - 1;
    ml.init(mlCode[last]!);
    of.init(ofCode[last]!);
    ll.init(llCode[last]!);
    w.add(lls[last]! - LL_BASE[llCode[last]!]!, LL_BITS[llCode[last]!]!);
    w.add(mls[last]! - ML_BASE[mlCode[last]!]!, ML_BITS[mlCode[last]!]!);
    w.add(ofValues[last]! - POW2[ofCode[last]!]!, ofCode[last]!);
    for (let i = last - 1; i >= 0; i--) {
      const oc = ofCode[i]!;
      const mc = mlCode[i]!;
      const lc = llCode[i]!;
      of.encode(w, oc);
      ml.encode(w, mc);
      ll.encode(w, lc);
      w.add(lls[i]! - LL_BASE[lc]!, LL_BITS[lc]!);
      w.add(mls[i]! - ML_BASE[mc]!, ML_BITS[mc]!);
      w.add(ofValues[i]! - POW2[oc]!, oc);
    }
    ml.flush(w);
    of.flush(w);
    ll.flush(w);
    const stream = w.close();
    // §3.1.1.3.2.1 Sequences_Section_Header; tables the decoder already holds are repeated.
    const head: number[] = [];
    if (n < 128) head.push(n);
    else if (n < 0x7f00) head.push((n >> 8) + 0x80, n & 0xff);
    else head.push(0xff, (n - 0x7f00) & 0xff, (n - 0x7f00) >> 8);
    const llMode = this.dec.ll === d.llTable ? 3 : d.llTable.mode;
    const mlMode = this.dec.ml === d.mlTable ? 3 : d.mlTable.mode;
    head.push((llMode << 6) | (ofTable.mode << 4) | (mlMode << 2));
    const parts: Uint8Array[] = [buf.subarray(start, litEnd), Uint8Array.from(head)];
    if (llMode !== 3) parts.push(d.llTable.description);
    parts.push(ofTable.description);
    if (mlMode !== 3) parts.push(d.mlTable.description);
    parts.push(stream); // a view of the reused writer: concatBytes copies it
    return { body: concatBytes(parts), decodedSize, literalsType: litType, decTables: { ll: d.llTable, ml: d.mlTable } };
  }

  /** §3.1.1.3.2 Sequences_Section, decoded to lengths, codes and actual offsets (piece history). */
  private decodeSequences(buf: Uint8Array, at: number, end: number, pieceRep: number[], piece: PieceTables) {
    const b0 = buf[at]!;
    let nbSeq: number;
    if (b0 < 128) {
      nbSeq = b0;
      at += 1;
    } else if (b0 < 255) {
      nbSeq = ((b0 - 0x80) << 8) + buf[at + 1]!;
      at += 2;
    } else {
      nbSeq = buf[at + 1]! + (buf[at + 2]! << 8) + 0x7f00;
      at += 3;
    }
    if (nbSeq === 0) return { nbSeq: 0, matchTotal: 0, llTable: PREDEFINED.ll, mlTable: PREDEFINED.ml };
    const modes = buf[at++]!;
    const pick = (mode: number, kind: 'll' | 'of' | 'ml', maxSymbol: number, maxLog: number, prev: FseTable | undefined): FseTable => {
      if (mode === 0) return PREDEFINED[kind];
      if (mode === 1) return rleTable(buf[at++]!);
      if (mode === 2) {
        const r = readDescription(buf, at, end, maxSymbol, maxLog);
        at += r.size;
        return r.table;
      }
      if (!prev) throw corrupt('repeat mode without a previous table');
      return prev;
    };
    const llTable = pick(modes >> 6, 'll', 35, 9, piece.ll);
    const ofTable = pick((modes >> 4) & 3, 'of', 31, 8, piece.of);
    const mlTable = pick((modes >> 2) & 3, 'ml', 52, 9, piece.ml);
    piece.ll = llTable;
    piece.ml = mlTable;
    piece.of = ofTable;
    const r = new BackwardReader(buf, at, end);
    let sLL = r.read(llTable.log);
    let sOF = r.read(ofTable.log);
    let sML = r.read(mlTable.log);
    // Into the transcoder's arrays (sequences i < nbSeq), read back by transcode() before the next block.
    this.seq.ensure(nbSeq);
    const { ll, ml, offsets, llCode, mlCode } = this.seq;
    // The tables' arrays in locals: table objects come in more than one shape (RLE, predefined, read)
    const ofSym = ofTable.symbol, ofBits = ofTable.nbBits, ofBase = ofTable.baseline;
    const mlSym = mlTable.symbol, mlBits = mlTable.nbBits, mlBase = mlTable.baseline;
    const llSym = llTable.symbol, llBits = llTable.nbBits, llBase = llTable.baseline;
    let matchTotal = 0;
    for (let i = 0; i < nbSeq; i++) {
      const oc = ofSym[sOF]!;
      const mc = mlSym[sML]!;
      const lc = llSym[sLL]!;
      if (lc >= LL_BASE.length || mc >= ML_BASE.length || oc > 31) throw corrupt('code out of range');
      const ofValue = POW2[oc]! + r.read(oc);
      const m = ML_BASE[mc]! + r.read(ML_BITS[mc]!);
      const l = LL_BASE[lc]! + r.read(LL_BITS[lc]!);
      offsets[i] = applyOffset(pieceRep, ofValue, l);
      ll[i] = l;
      ml[i] = m;
      llCode[i] = lc;
      mlCode[i] = mc;
      matchTotal += m;
      if (i !== nbSeq - 1) {
        sLL = llBase[sLL]! + r.read(llBits[sLL]!);
        sML = mlBase[sML]! + r.read(mlBits[sML]!);
        sOF = ofBase[sOF]! + r.read(ofBits[sOF]!);
      }
    }
    if (!r.done) throw corrupt('sequence bitstream not fully consumed');
    return { nbSeq, matchTotal, llTable, mlTable };
  }
}

/** §3.1.1.2 Block_Header (3 bytes LE: Last_Block, Block_Type, Block_Size) + content. */
function blockBytes(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + body.byteLength);
  const h = (body.byteLength << 3) | (type << 1);
  out[0] = h & 0xff;
  out[1] = (h >> 8) & 0xff;
  out[2] = (h >> 16) & 0xff;
  out.set(body, 3);
  return out;
}
function rleBlockBytes(byte: number, len: number): Uint8Array {
  const h = (len << 3) | (1 << 1);
  return Uint8Array.of(h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, byte);
}
