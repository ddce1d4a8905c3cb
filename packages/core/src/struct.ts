/**
 * Declarative on-disk structures. A structure is declared once, with each field's offset, width and
 * byte order, and encoded and decoded from that declaration:
 *
 *     // squashfs on-disk format, "The superblock": 96 bytes at offset 0, little-endian
 *     export const Superblock = struct('squashfs.superblock', 96, { magic: u32le(0), … });
 *     Superblock.encode({ magic: 0x73717368, … })   // → Uint8Array(96)
 *
 * Encoding checks every value against its field's width and throws a FieldRangeError naming
 * `<struct>.<field>` instead of truncating. 64-bit fields take `bigint`; others take safe integers.
 */
import { FieldRangeError } from './errors.js';

export interface Field<T> {
  readonly offset: number;
  readonly size: number;
  write(view: DataView, bytes: Uint8Array, at: number, value: T, name: string): void;
  read(view: DataView, bytes: Uint8Array, at: number): T;
}

type ValueOf<F> = F extends Field<infer T> ? T : never;
export type StructValues<F extends Record<string, Field<unknown>>> = { [K in keyof F]: ValueOf<F[K]> };

export interface Struct<F extends Record<string, Field<unknown>>> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
  /** Encode into `into` at `at` (or a new zeroed buffer of `size` bytes). Returns the buffer written. */
  encode(values: StructValues<F>, into?: Uint8Array, at?: number): Uint8Array;
  decode(bytes: Uint8Array, at?: number): StructValues<F>;
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function struct<F extends Record<string, Field<unknown>>>(name: string, size: number, fields: F): Struct<F> {
  for (const [key, f] of Object.entries(fields)) {
    if (f.offset < 0 || f.offset + f.size > size) {
      throw new RangeError(`${name}.${key}: field at ${f.offset}+${f.size} lies outside the ${size}-byte structure`);
    }
  }
  const entries = Object.entries(fields) as [keyof F & string, Field<unknown>][];
  return {
    name,
    size,
    fields,
    encode(values, into, at = 0) {
      const out = into ?? new Uint8Array(size);
      if (at + size > out.byteLength) throw new RangeError(`${name}: ${size} bytes do not fit at ${at} in ${out.byteLength}`);
      const view = viewOf(out);
      for (const [key, f] of entries) {
        const v = values[key];
        if (v === undefined) throw new FieldRangeError({ field: `${name}.${key}`, detail: 'value is missing' });
        f.write(view, out, at + f.offset, v, `${name}.${key}`);
      }
      return out;
    },
    decode(bytes, at = 0) {
      if (at + size > bytes.byteLength) throw new RangeError(`${name}: needs ${size} bytes at ${at}, have ${bytes.byteLength - at}`);
      const view = viewOf(bytes);
      const out: Record<string, unknown> = {};
      for (const [key, f] of entries) out[key] = f.read(view, bytes, at + f.offset);
      return out as StructValues<F>;
    },
  };
}

function checkInt(value: number, max: number, name: string, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new FieldRangeError({ field: name, detail: `value ${value} does not fit; the range is ${min}…${max}` });
  }
}
function checkBig(value: bigint, bits: number, name: string): void {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << BigInt(bits)) {
    throw new FieldRangeError({ field: name, detail: `value ${String(value)} does not fit in ${bits} bits` });
  }
}

export const u8 = (offset: number): Field<number> => ({
  offset,
  size: 1,
  write: (v, _b, at, x, n) => (checkInt(x, 0xff, n), v.setUint8(at, x)),
  read: (v, _b, at) => v.getUint8(at),
});
export const i8 = (offset: number): Field<number> => ({
  offset,
  size: 1,
  write: (v, _b, at, x, n) => (checkInt(x, 127, n, -128), v.setInt8(at, x)),
  read: (v, _b, at) => v.getInt8(at),
});
const int16 = (offset: number, le: boolean): Field<number> => ({
  offset,
  size: 2,
  write: (v, _b, at, x, n) => (checkInt(x, 0xffff, n), v.setUint16(at, x, le)),
  read: (v, _b, at) => v.getUint16(at, le),
});
const int32 = (offset: number, le: boolean): Field<number> => ({
  offset,
  size: 4,
  write: (v, _b, at, x, n) => (checkInt(x, 0xffffffff, n), v.setUint32(at, x, le)),
  read: (v, _b, at) => v.getUint32(at, le),
});
const int64 = (offset: number, le: boolean): Field<bigint> => ({
  offset,
  size: 8,
  write: (v, _b, at, x, n) => (checkBig(x, 64, n), v.setBigUint64(at, x, le)),
  read: (v, _b, at) => v.getBigUint64(at, le),
});
export const u16le = (o: number) => int16(o, true);
export const u16be = (o: number) => int16(o, false);
export const u32le = (o: number) => int32(o, true);
export const u32be = (o: number) => int32(o, false);
export const u64le = (o: number) => int64(o, true);
export const u64be = (o: number) => int64(o, false);
export const i32le = (offset: number): Field<number> => ({
  offset,
  size: 4,
  write: (v, _b, at, x, n) => (checkInt(x, 0x7fffffff, n, -0x80000000), v.setInt32(at, x, true)),
  read: (v, _b, at) => v.getInt32(at, true),
});

/** ECMA-119 §7.2.3 both-byte orders: 16-bit LE then BE (4 bytes). */
export const u16both = (offset: number): Field<number> => ({
  offset,
  size: 4,
  write: (v, _b, at, x, n) => {
    checkInt(x, 0xffff, n);
    v.setUint16(at, x, true);
    v.setUint16(at + 2, x, false);
  },
  read: (v, _b, at) => v.getUint16(at, true),
});
/** ECMA-119 §7.3.3 both-byte orders: 32-bit LE then BE (8 bytes). */
export const u32both = (offset: number): Field<number> => ({
  offset,
  size: 8,
  write: (v, _b, at, x, n) => {
    checkInt(x, 0xffffffff, n);
    v.setUint32(at, x, true);
    v.setUint32(at + 4, x, false);
  },
  read: (v, _b, at) => v.getUint32(at, true),
});

/** Raw bytes; shorter values are zero-padded, longer ones are an error. */
export const bytes = (offset: number, size: number): Field<Uint8Array> => ({
  offset,
  size,
  write: (_v, b, at, x, n) => {
    if (x.byteLength > size) throw new FieldRangeError({ field: n, detail: `${x.byteLength} bytes do not fit; the field holds ${size}` });
    b.set(x, at);
    b.fill(0, at + x.byteLength, at + size);
  },
  read: (_v, b, at) => b.slice(at, at + size),
});

function asciiField(offset: number, size: number, pad: number, allowed: RegExp | null, what: string): Field<string> {
  return {
    offset,
    size,
    write: (_v, b, at, x, n) => {
      if (x.length > size) throw new FieldRangeError({ field: n, detail: `"${x}" is ${x.length} characters; the field holds ${size}` });
      for (let i = 0; i < x.length; i++) {
        const c = x.charCodeAt(i);
        if (c > 0x7e || c < 0x20 || (allowed && !allowed.test(x[i]!))) {
          throw new FieldRangeError({ field: n, detail: `"${x}" has a character outside ${what}: ${JSON.stringify(x[i])}` });
        }
        b[at + i] = c;
      }
      b.fill(pad, at + x.length, at + size);
    },
    read: (_v, b, at) => {
      let end = size;
      while (end > 0 && b[at + end - 1] === pad) end--;
      let s = '';
      for (let i = 0; i < end; i++) s += String.fromCharCode(b[at + i]!);
      return s;
    },
  };
}
/** ECMA-119 §7.4.1 d-characters (A–Z 0–9 _), space-padded. */
export const dchars = (o: number, size: number) => asciiField(o, size, 0x20, /[A-Z0-9_]/, 'd-characters (A-Z 0-9 _)');
/** ECMA-119 §7.4.1 a-characters, space-padded. */
export const achars = (o: number, size: number) =>
  asciiField(o, size, 0x20, /[A-Z0-9_ !"%&'()*+,\-./:;<=>?]/, 'a-characters');
/** Printable ASCII, space-padded. */
export const ascii = (o: number, size: number) => asciiField(o, size, 0x20, null, 'printable ASCII');
/** Printable ASCII, NUL-padded. */
export const asciiz = (o: number, size: number) => asciiField(o, size, 0, null, 'printable ASCII');

/** Big-endian UCS-2 (Joliet), padded with U+0020. Characters outside the BMP are an error. */
export const utf16be = (offset: number, size: number): Field<string> => ({
  offset,
  size,
  write: (v, _b, at, x, n) => {
    if (x.length * 2 > size) throw new FieldRangeError({ field: n, detail: `"${x}" is ${x.length} UTF-16 units; the field holds ${size >> 1}` });
    let i = 0;
    for (; i < x.length; i++) v.setUint16(at + 2 * i, x.charCodeAt(i), false);
    for (; 2 * i + 1 < size; i++) v.setUint16(at + 2 * i, 0x0020, false);
    if (size & 1) v.setUint8(at + size - 1, 0);
  },
  read: (v, _b, at) => {
    let units = size >> 1;
    while (units > 0 && v.getUint16(at + 2 * (units - 1), false) === 0x20) units--;
    let s = '';
    for (let i = 0; i < units; i++) s += String.fromCharCode(v.getUint16(at + 2 * i, false));
    return s;
  },
});

/** An unsigned integer as `digits` ASCII hex digits (cpio newc: 8 digits, upper case). */
export const hex = (offset: number, digits: number): Field<number> => ({
  offset,
  size: digits,
  write: (_v, b, at, x, n) => {
    checkInt(x, 16 ** digits - 1, n);
    // digit by digit from the right (no string building: cpio writes 13 of these per entry)
    let rest = x;
    for (let i = digits - 1; i >= 0; i--) {
      const d = rest % 16;
      b[at + i] = d < 10 ? 0x30 + d : 0x37 + d; // '0'…'9', 'A'…'F'
      rest = Math.floor(rest / 16);
    }
  },
  read: (_v, b, at) => {
    let s = '';
    for (let i = 0; i < digits; i++) s += String.fromCharCode(b[at + i]!);
    if (!/^[0-9a-fA-F]+$/.test(s)) return Number.NaN;
    return Number.parseInt(s, 16);
  },
});
/** An unsigned integer as `digits` ASCII octal digits, NUL- or space-terminated (tar, odc cpio). */
export const octal = (offset: number, size: number): Field<number> => ({
  offset,
  size,
  write: (_v, b, at, x, n) => {
    checkInt(x, 8 ** (size - 1) - 1, n);
    const s = x.toString(8).padStart(size - 1, '0');
    for (let i = 0; i < size - 1; i++) b[at + i] = s.charCodeAt(i);
    b[at + size - 1] = 0;
  },
  read: (_v, b, at) => {
    let s = '';
    for (let i = 0; i < size; i++) {
      const c = b[at + i]!;
      if (c >= 0x30 && c <= 0x37) s += String.fromCharCode(c);
      else if (s.length > 0 || (c !== 0x20 && c !== 0)) break;
    }
    return s.length ? Number.parseInt(s, 8) : 0;
  },
});
