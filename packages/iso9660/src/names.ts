/**
 * ISO 9660 identifiers: level 1–3 name mangling (ECMA-119 §7.5, §7.6, §10), the §9.3 sort order and
 * unique, deterministic collision resolution. Rock Ridge NM and Joliet carry the real names; these
 * are what a reader without extensions sees.
 */

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
 * Give each name of one directory a unique identifier. Names are processed in the order given
 * (the walk's UTF-8 order), so the result is deterministic; a clash gets a decimal counter in place
 * of the name's tail ("LONGNA_1", "LONGN_12"), d-characters only.
 */
export function mangleDirectory(items: readonly { name: string; isDir: boolean }[], level: IsoLevel, directoryDots = false): string[] {
  const used = new Set<string>();
  const out: string[] = [];
  for (const it of items) {
    const c = isoCandidate(it.name, it.isDir, level, directoryDots);
    const key = (p: IsoNameParts) => isoIdentifier(p, it.isDir);
    let p = c;
    for (let n = 1; used.has(key(p)); n++) {
      const suffix = `_${n}`;
      const extLen = c.ext?.length ?? 0;
      const max = level === 1 ? (it.isDir && c.ext === undefined ? LEVEL1.dir : LEVEL1.name) : it.isDir && c.ext === undefined ? LEVEL2_DIR : LEVEL2_TOTAL - extLen;
      p = { name: c.name.slice(0, Math.max(0, max - suffix.length)) + suffix, ext: c.ext };
    }
    used.add(key(p));
    out.push(key(p));
  }
  return out;
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
