/**
 * VFAT long names, fatgen103 "FAT Long Directory Entries": a name of up to 255 UTF-16 units is
 * stored in 32-byte entries of 13 units each, placed before the short (8.3) entry they belong to,
 * last part first. The first entry on disk carries ord N | 0x40 ("last long entry"), the one just
 * before the short entry ord 1. Every part carries the checksum of the short name, so a reader can
 * tell the long name still belongs to it. After the name comes one 0x0000 unit when there is room,
 * then 0xFFFF padding.
 */
import { bytes, struct, u8, u16le, type StructValues } from '@imgkit/core';
import { ATTR_LONG_NAME, DIRENT_BYTES } from './dirent.js';

/** UTF-16 units per long-name entry: 5 + 6 + 2. */
export const LFN_UNITS_PER_ENTRY = 13;
/** fatgen103: a long name has at most 255 characters (UTF-16 units), without a terminating NUL. */
export const LFN_MAX_UNITS = 255;
/** Ord flag of the last (first on disk) entry of a set. */
export const LAST_LONG_ENTRY = 0x40;

// fatgen103 "FAT Long Directory Entry Structure".
export const LfnEntry = struct('fat.lfn', DIRENT_BYTES, {
  ord: u8(0), //             1 … 20, | 0x40 on the last one
  name1: bytes(1, 10), //    units 1–5
  attr: u8(11), //           ATTR_LONG_NAME (0x0F)
  type: u8(12), //           0: a name part
  checksum: u8(13), //       shortNameChecksum() of the short entry that follows
  name2: bytes(14, 12), //   units 6–11
  fstClusLo: u16le(26), //   0
  name3: bytes(28, 4), //    units 12–13
});
export type LfnEntryValues = StructValues<typeof LfnEntry.fields>;

/** fatgen103 "ChkSum": rotate right by one bit, add the next byte, over the 11 name bytes. */
export function shortNameChecksum(name11: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = ((((sum & 1) << 7) | (sum >> 1)) + name11[i]!) & 0xff;
  return sum;
}

/** Long-name entries a name of `units` UTF-16 units needs. */
export function lfnEntryCount(units: number): number {
  return Math.ceil(units / LFN_UNITS_PER_ENTRY);
}

function unitsBytes(units: Uint16Array, from: number, count: number): Uint8Array {
  const out = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) {
    const u = units[from + i]!;
    out[2 * i] = u & 0xff;
    out[2 * i + 1] = u >> 8;
  }
  return out;
}

/**
 * The long-name entries of `name` for a short name with `checksum`, in the order they are stored,
 * written into `into` at `at`. Returns the number of bytes written.
 */
export function encodeLfnEntries(name: string, checksum: number, into: Uint8Array, at: number): number {
  const count = lfnEntryCount(name.length);
  // Units of all parts, the name then 0x0000 (if the last part has room) then 0xFFFF.
  const units = new Uint16Array(count * LFN_UNITS_PER_ENTRY).fill(0xffff);
  for (let i = 0; i < name.length; i++) units[i] = name.charCodeAt(i);
  if (name.length < units.length) units[name.length] = 0;
  for (let k = 0; k < count; k++) {
    const ord = count - k; // the first entry on disk holds the last part
    const from = (ord - 1) * LFN_UNITS_PER_ENTRY;
    LfnEntry.encode(
      {
        ord: ord === count ? ord | LAST_LONG_ENTRY : ord,
        name1: unitsBytes(units, from, 5),
        attr: ATTR_LONG_NAME,
        type: 0,
        checksum,
        name2: unitsBytes(units, from + 5, 6),
        fstClusLo: 0,
        name3: unitsBytes(units, from + 11, 2),
      },
      into,
      at + k * DIRENT_BYTES,
    );
  }
  return count * DIRENT_BYTES;
}

/** The name held by a set of long-name entries in stored order (tests, decoders). */
export function decodeLfnEntries(entries: Uint8Array, count: number): string {
  let s = '';
  for (let k = count - 1; k >= 0; k--) {
    const e = LfnEntry.decode(entries, k * DIRENT_BYTES);
    for (const part of [e.name1, e.name2, e.name3]) {
      for (let i = 0; i < part.length; i += 2) {
        const u = part[i]! | (part[i + 1]! << 8);
        if (u === 0 || u === 0xffff) return s;
        s += String.fromCharCode(u);
      }
    }
  }
  return s;
}
