/**
 * ISO 9660 identifiers: level 1–3 name mangling (ECMA-119 §7.5, §7.6, §10), the §9.3 sort order and
 * unique, deterministic collision resolution. Rock Ridge NM and Joliet carry the real names; these
 * are what a reader without extensions sees.
 */

import { ErrorCodes, ImgkitError } from '@imgkit/core';

export type IsoLevel = 1 | 2 | 3;

/** ECMA-119 §7.4.1 d-characters. */
const D_CHAR = /[A-Z0-9_]/;

function toDChars(s: string): string {
  let out = '';
  for (const ch of s.toUpperCase()) out += D_CHAR.test(ch) && ch.length === 1 ? ch : '_';
  return out;
}

/** ECMA-119 §7.5.1: a file identifier holds at most 30 d-characters of name and extension at
 * levels 2 and 3; a directory identifier 31 (§7.6.3); level 1 is 8.3 and 8 (§10.1). */
const LEVEL1 = { name: 8, ext: 3, dir: 8 };
const LEVEL2_TOTAL = 30;
const LEVEL2_DIR = 31;

export interface IsoNameParts {
  name: string;
  /** Undefined: no '.' at all (directories). */
  ext: string | undefined;
}

/**
 * The unmangled-as-far-as-possible candidate for a name, by the rules xorriso (libisofs
 * iso_1_fileid / iso_2_fileid) applies, so that the names match its images:
 * - level 1: up to 8 characters of name and 3 of extension (a leading dot of a name longer than 4
 *   starts no extension);
 * - levels 2–3: name and extension share 30 characters; a long name gives up its extension down
 *   to 3 characters first;
 * - directories: 8 (level 1) or 31 characters without a dot; with `directoryDots` (xorriso's
 *   mkisofs emulation) they keep an extension like files, without the forced dot.
 */
export function isoCandidate(original: string, isDir: boolean, level: IsoLevel, directoryDots = false): IsoNameParts {
  if (isDir && !directoryDots) {
    const n = toDChars(original).slice(0, level === 1 ? LEVEL1.dir : LEVEL2_DIR);
    return { name: n === '' ? '_' : n, ext: undefined };
  }
  let dot = original.lastIndexOf('.');
  if (level === 1) {
    if (dot === 0 && original.length > 4) dot = -1;
    const name = toDChars(dot >= 0 ? original.slice(0, dot) : original).slice(0, LEVEL1.name);
    const ext = dot >= 0 ? toDChars(original.slice(dot + 1)).slice(0, LEVEL1.ext) : '';
    return { name: name === '' && ext === '' ? '_' : name, ext: isDir && ext === '' ? undefined : ext };
  }
  if (dot < 0 || dot === original.length - 1) {
    const name = toDChars(original).slice(0, LEVEL2_TOTAL);
    return { name: name === '' ? '_' : name, ext: isDir ? undefined : '' };
  }
  const lext = original.length - dot - 1;
  const lname = dot;
  const long = original.length > LEVEL2_TOTAL + 1;
  const keepExt = long && lext > 3 ? (lname < LEVEL2_TOTAL - 3 ? LEVEL2_TOTAL - lname : 3) : lext;
  const keepName = long ? LEVEL2_TOTAL - keepExt : lname;
  return { name: toDChars(original.slice(0, keepName)), ext: toDChars(original.slice(dot + 1, dot + 1 + keepExt)) };
}

/** The §7.5.1 file identifier ("NAME.EXT;1") or §7.6 directory identifier ("NAME", "NAME.EXT"). */
export function isoIdentifier(p: IsoNameParts, isDir: boolean): string {
  if (isDir) return p.ext === undefined || p.ext === '' ? p.name : `${p.name}.${p.ext}`;
  return `${p.name}.${p.ext ?? ''};1`;
}

/**
 * Give each name of one directory a unique identifier, the way xorriso (libisofs
 * mangle_single_dir) does, so that the names match its images: names whose candidates are equal
 * form a group (in the order given: the walk's UTF-8 order) and every member of the group is
 * renumbered, the name cut to make room for 1 digit ("GCRY_SH0.MOD", "GCRY_SH1.MOD"), or more when
 * 10 do not suffice; a number already used in the directory is skipped. Level 1 keeps room for a
 * 3-character extension.
 */
export function mangleDirectory(items: readonly { name: string; isDir: boolean }[], level: IsoLevel, directoryDots = false): string[] {
  const maxFile = level === 1 ? 12 : 31; // name + "." + extension
  const maxDir = level === 1 ? LEVEL1.dir : LEVEL2_DIR;
  const ids = items.map((it) => {
    const p = isoCandidate(it.name, it.isDir, level, directoryDots);
    return it.isDir ? isoIdentifier(p, true) : `${p.name}.${p.ext ?? ''}`;
  });
  const order = items.map((_, i) => i).sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : a - b));
  const used = new Set(ids);
  for (let g = 0; g < order.length; ) {
    let h = g + 1;
    while (h < order.length && ids[order[h]!] === ids[order[g]!]) h++;
    if (h - g > 1) {
      const first = order[g]!;
      const isDir = items[first]!.isDir;
      const full = ids[first]!;
      const dot = full.lastIndexOf('.');
      const hasExt = dot >= 0 && (!isDir || directoryDots);
      let done = false;
      for (let digits = 1; digits < 8 && !done; digits++) {
        let name: string;
        let ext: string | undefined;
        if (hasExt) {
          ext = full.slice(dot + 1);
          let extLen = level === 1 ? 3 : ext.length;
          let max = maxFile - extLen - 1 - digits;
          if (max <= 0) {
            // A long extension gives the name room (down to 3 characters).
            extLen = extLen + max - 1;
            ext = ext.slice(0, extLen);
            max = maxFile - extLen - 1 - digits;
          }
          name = full.slice(0, Math.min(dot, max));
        } else {
          name = full.slice(0, (isDir ? maxDir : maxFile) - digits);
        }
        const renamed: [number, string][] = [];
        let change = 0;
        let ok = true;
        for (let k = g; k < h && ok; k++) {
          for (;;) {
            const cand = `${name}${String(change).padStart(digits, '0')}${ext !== undefined ? `.${ext}` : ''}`;
            change++;
            if (change > 10 ** digits) {
              ok = false;
              break;
            }
            if (!used.has(cand)) {
              used.add(cand);
              renamed.push([order[k]!, cand]);
              break;
            }
          }
        }
        if (ok) {
          for (const [i, cand] of renamed) {
            used.delete(ids[i]!);
            ids[i] = cand;
          }
          done = true;
        } else for (const [, cand] of renamed) used.delete(cand);
      }
      if (!done) {
        throw new ImgkitError(ErrorCodes.NAME_COLLISION, { format: 'iso9660', path: items[first]!.name, detail: `more than 9999999 names of one directory map to the ISO 9660 name ${full}`, hint: 'pass --iso-level 3 (longer names)' });
      }
    }
    g = h;
  }
  return ids.map((id, i) => (items[i]!.isDir ? id : `${id};1`));
}

/**
 * ECMA-119 §9.3 order of directory records: by file name, then extension (shorter ones padded with
 * spaces), then version number descending. Identifiers are ASCII d-characters here.
 */
export function compareIsoIdentifiers(a: string, b: string): number {
  const split = (s: string): [string, string, string] => {
    const semi = s.indexOf(';');
    const base = semi < 0 ? s : s.slice(0, semi);
    const ver = semi < 0 ? '' : s.slice(semi + 1);
    const dot = base.indexOf('.');
    return dot < 0 ? [base, '', ver] : [base.slice(0, dot), base.slice(dot + 1), ver];
  };
  const [na, ea, va] = split(a);
  const [nb, eb, vb] = split(b);
  const d = comparePadded(na, nb) || comparePadded(ea, eb);
  if (d !== 0) return d;
  return (Number(vb) || 0) - (Number(va) || 0);
}

function comparePadded(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = i < a.length ? a.charCodeAt(i) : 0x20;
    const y = i < b.length ? b.charCodeAt(i) : 0x20;
    if (x !== y) return x - y;
  }
  return 0;
}

/** Byte encoding of an ASCII identifier. */
export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}
