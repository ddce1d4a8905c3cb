/**
 * Names: which long names FAT holds, and the 8.3 short name each entry gets.
 *
 * Long names (fatgen103 "FAT Long Directory Entries", and Linux's vfat_bad_char): up to 255 UTF-16
 * units; no control characters (below 0x20) and none of " * / : < > ? \ |; no trailing dot or
 * space (Windows and Linux strip them, so the name would not come back as it went in). Two names
 * in one directory that differ only in case are one name to every FAT driver.
 *
 * Short names follow mtools (what `mcopy` and `mdir` make and show), which follows Windows 95:
 *
 * - Leading dots and spaces are dropped; the extension is what follows the last dot.
 * - The base takes the first 8 characters before that dot and the extension the first 3 after
 *   it; spaces and dots among them are dropped (mtools drops them after cutting, so "a b c d e f"
 *   gives "ABCD", not "ABCDEF"). ASCII letters are upper-cased.
 * - A character a short name cannot hold (; + = [ ] ' , and control characters) becomes '_'; so
 *   does any non-ASCII character (imgkit writes no OEM code page: mtools would put the CP850 letter
 *   where one exists, Windows the current OEM page's).
 * - A name that had to be cut, lost characters, or is a DOS device name (CON, AUX, PRN, NUL,
 *   COM1–4, LPT1–4) gets a numeric tail: "~1", or the next number free in the directory, the base
 *   cut shorter as the number grows ("ABCDEF~9" → "ABCDE~10"). mtools numbers on, where Windows
 *   switches to hashed tails after ~4; mtools' sequence is kept since it is what mdir shows.
 * - A name that fits 8.3 but mixes cases within its base or extension keeps its upper-cased
 *   short name without a tail and gets a long name. A name whose base and/or extension is all
 *   lower case (and that otherwise fits) gets the NT lower-case flags instead (dirent.ts) and no
 *   long name, as Windows NT and mtools do.
 *
 * Within a directory the names that need no tail are placed first, so a generated "~N" never takes
 * the short name of an entry that is literally called that; the tails then go in entry order.
 */
import { ErrorCodes, type NameProblem } from '@imgkit/core';
import { NT_LOWER_BASE, NT_LOWER_EXT } from './dirent.js';
import { LFN_MAX_UNITS } from './lfn.js';

/** Characters no long name may hold (besides controls below 0x20). */
export const LONG_NAME_FORBIDDEN = '"*/:<>?\\|';
/** Characters a short name may not hold (mtools' set: fatgen103's invalid list plus '). */
export const SHORT_NAME_FORBIDDEN = ';+=[]\',"*\\<>/?:|';

const isControl = (c: number) => c < 0x20 || c === 0x7f;

const FORBIDDEN_IN_LONG = /[\x00-\x1f"*/:<>?\\|]/;

/** Why `name` cannot be a FAT long name, or undefined. */
export function longNameProblem(name: string): NameProblem | undefined {
  if (name.length > LFN_MAX_UNITS) {
    return { code: ErrorCodes.NAME_TOO_LONG, detail: `the name is ${name.length} UTF-16 units; a FAT long name holds at most ${LFN_MAX_UNITS}`, hint: 'shorten it or exclude it' };
  }
  const bad = FORBIDDEN_IN_LONG.exec(name);
  if (bad) {
    const ch = bad[0];
    const c = ch.charCodeAt(0);
    return {
      code: ErrorCodes.NAME_UNENCODABLE,
      detail: `FAT names cannot hold ${c < 0x20 ? `control character U+${c.toString(16).padStart(4, '0')}` : JSON.stringify(ch)} (nor any of ${LONG_NAME_FORBIDDEN.split('').join(' ')} or controls)`,
      hint: 'rename it, exclude it, or pass --invalid-names replace to write "_" instead (with a warning)',
    };
  }
  const last = name.charCodeAt(name.length - 1);
  if (last === 0x2e || last === 0x20) {
    return {
      code: ErrorCodes.NAME_UNENCODABLE,
      detail: 'FAT names cannot end in a dot or a space (Windows and Linux strip them)',
      hint: 'rename it, exclude it, or pass --invalid-names replace to drop them (with a warning)',
    };
  }
  return undefined;
}

/** The opt-in mapping: forbidden characters → '_', trailing dots and spaces dropped ('_' if nothing is left). */
export function replaceInvalid(name: string): string {
  let out = '';
  for (const ch of name) out += ch.codePointAt(0)! < 0x20 || LONG_NAME_FORBIDDEN.includes(ch) ? '_' : ch;
  out = out.replace(/[. ]+$/, '');
  return out === '' ? '_' : out;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;

/** The key under which FAT drivers compare names: each character upper-cased where that keeps it one character. */
export function foldName(name: string): string {
  if (ASCII_ONLY.test(name)) return name.toUpperCase();
  let out = '';
  for (const ch of name) {
    const up = ch.toUpperCase();
    out += [...up].length === 1 ? up : ch;
  }
  return out;
}

export interface ShortName {
  /** DIR_Name: 8 + 3 bytes, space-padded. */
  bytes: Uint8Array;
  /** DIR_NTRes lower-case flags (only when there is no long name). */
  ntCase: number;
  /** The entry needs long-name entries to carry its name. */
  needsLfn: boolean;
}

/** A short name before its tail: base (≤ 8) and extension (≤ 3), upper-case ASCII. */
export interface Basis {
  base: string;
  ext: string;
  /** Needs a numeric tail (cut, lossy, reserved). */
  tail: boolean;
  /** Needs long-name entries. */
  lfn: boolean;
  /** NT lower-case flags, when no long name is needed. */
  ntCase: number;
}

const enum Case {
  None,
  Upper,
  Lower,
}

interface Part {
  text: string;
  tail: boolean;
  mixed: boolean;
  lower: boolean;
}

/** Class of each ASCII character in a short name: 0 kept, 1 lower-case letter, 2 upper-case, 3 dropped, 4 replaced by '_'. */
const ASCII_CLASS = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    t[c] = c >= 0x61 && c <= 0x7a ? 1 : c >= 0x41 && c <= 0x5a ? 2 : ch === ' ' || ch === '.' ? 3 : isControl(c) || SHORT_NAME_FORBIDDEN.includes(ch) ? 4 : 0;
  }
  return t;
})();

/** One part (base or extension) as mtools' TranslateToDos makes it: cut to `count` characters, then cleaned. */
function translatePart(part: string, count: number): Part {
  const out: number[] = [];
  let tail = false;
  let mixed = false;
  let state = Case.None;
  let taken = 0;
  for (let i = 0; i < part.length; i++) {
    if (taken === count) {
      tail = true; // more characters than the part holds
      break;
    }
    taken++;
    let c = part.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < part.length) i++; // a surrogate pair is one character
    if (c >= 0x80) c = 0x100; // non-ASCII: no OEM code page is written
    switch (c === 0x100 ? 4 : ASCII_CLASS[c]) {
      case 1:
        out.push(c - 0x20);
        if (state === Case.Upper) mixed = true;
        else state = Case.Lower;
        break;
      case 2:
        out.push(c);
        if (state === Case.Lower) mixed = true;
        else state = Case.Upper;
        break;
      case 3:
        tail = true;
        break;
      case 4:
        out.push(0x5f);
        tail = true;
        break;
      default:
        out.push(c);
    }
  }
  return { text: String.fromCharCode(...out), tail, mixed, lower: state === Case.Lower };
}

const DEVICES = /^(CON|AUX|PRN|NUL|COM[1-4]|LPT[1-4])$/;

/** The short name a long name starts from (see the top of this file). */
export function basisName(longName: string): Basis {
  let name = longName;
  const lead = /^[. ]*/.exec(name)![0].length;
  let tail = lead > 0;
  name = name.slice(lead);
  const dot = name.lastIndexOf('.');
  const base = translatePart(dot >= 0 ? name.slice(0, dot) : name, 8);
  const ext = dot >= 0 ? translatePart(name.slice(dot + 1), 3) : { text: '', tail: false, mixed: false, lower: false };
  tail ||= base.tail || ext.tail || DEVICES.test(base.text);
  const baseText = base.text === '' ? '_' : base.text;
  if (base.text === '') tail = true;
  const lfn = tail || base.mixed || ext.mixed;
  const ntCase = lfn ? 0 : (base.lower ? NT_LOWER_BASE : 0) | (ext.lower ? NT_LOWER_EXT : 0);
  return { base: baseText, ext: ext.text, tail, lfn, ntCase };
}

/** The base with "~n" in its last characters, as mtools' autorename writes it. */
export function withTail(base: string, n: number): string {
  const t = `~${n}`;
  return base.slice(0, Math.max(0, Math.min(base.length, 8 - t.length))) + t;
}

/** The 11 DIR_Name bytes of a base and extension (ASCII, space-padded). */
export function nameBytes(base: string, ext: string): Uint8Array {
  const out = new Uint8Array(11).fill(0x20);
  for (let i = 0; i < base.length; i++) out[i] = base.charCodeAt(i);
  for (let i = 0; i < ext.length; i++) out[8 + i] = ext.charCodeAt(i);
  return out;
}

/** "BASE.EXT" as mdir shows a short name without its flags. */
export function shortNameText(bytes: Uint8Array): string {
  const s = String.fromCharCode(...bytes);
  const base = s.slice(0, 8).trimEnd();
  const ext = s.slice(8).trimEnd();
  return ext ? `${base}.${ext}` : base;
}

/** The highest tail number: "~999999" leaves one character of the base. */
const MAX_TAIL = 999999;

/**
 * Short names for the long names of one directory, in entry order. Tails run out only past
 * 999999 names sharing a basis, which no directory (65536 entries at most) reaches.
 */
export function assignShortNames(longNames: readonly string[]): ShortName[] {
  const bases = longNames.map(basisName);
  const used = new Set<string>();
  const out: ShortName[] = new Array<ShortName>(longNames.length);
  bases.forEach((b, i) => {
    if (b.tail) return;
    used.add(`${b.base}.${b.ext}`);
    out[i] = { bytes: nameBytes(b.base, b.ext), ntCase: b.ntCase, needsLfn: b.lfn };
  });
  /** basis → the next tail number to try */
  const next = new Map<string, number>();
  bases.forEach((b, i) => {
    if (!b.tail) return;
    const key = `${b.base}.${b.ext}`;
    for (let n = next.get(key) ?? 1; n <= MAX_TAIL; n++) {
      const base = withTail(b.base, n);
      const k = `${base}.${b.ext}`;
      if (used.has(k)) continue;
      used.add(k);
      next.set(key, n + 1);
      out[i] = { bytes: nameBytes(base, b.ext), ntCase: 0, needsLfn: true };
      return;
    }
    throw new RangeError(`no free short name for "${longNames[i]}"`);
  });
  return out;
}
