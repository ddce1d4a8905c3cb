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

/** Limits per interchange level: level 1 is 8.3 (§10.1); levels 2 and 3 allow 30 characters for
 * name + extension of a file and 31 for a directory (§10.2, §7.5.1, §7.6.3). */
function limits(level: IsoLevel): { name: number; ext: number; total: number; dir: number } {
  return level === 1 ? { name: 8, ext: 3, total: 11, dir: 8 } : { name: 30, ext: 30, total: 30, dir: 31 };
}

export interface IsoNameParts {
  name: string;
  ext: string;
}

/** The unmangled-as-far-as-possible candidate for a file or directory name. */
export function isoCandidate(original: string, isDir: boolean, level: IsoLevel): IsoNameParts {
  const lim = limits(level);
  if (isDir) {
    const n = toDChars(original).slice(0, lim.dir);
    return { name: n === '' ? '_' : n, ext: '' };
  }
  const dot = original.lastIndexOf('.');
  let name = toDChars(dot > 0 ? original.slice(0, dot) : dot === 0 ? '' : original);
  let ext = toDChars(dot >= 0 ? original.slice(dot + 1) : '');
  ext = ext.slice(0, level === 1 ? lim.ext : Math.min(ext.length, 8));
  name = name.slice(0, Math.min(lim.name, lim.total - ext.length));
  if (name === '' && ext === '') name = '_';
  return { name, ext };
}

/** The §7.5.1 file identifier ("NAME.EXT;1") or §7.6 directory identifier ("NAME"). */
export function isoIdentifier(p: IsoNameParts, isDir: boolean): string {
  return isDir ? p.name : `${p.name}.${p.ext};1`;
}

/**
 * Give each name of one directory a unique identifier. Names are processed in the order given
 * (the walk's UTF-8 order), so the result is deterministic; a clash gets a decimal counter in place
 * of the name's tail ("LONGNAM1", "LONGNA12"), d-characters only.
 */
export function mangleDirectory(items: readonly { name: string; isDir: boolean }[], level: IsoLevel): string[] {
  const used = new Set<string>();
  // Per candidate, the counter that gave its last free name: every smaller one is taken for good
  // (`used` only grows), so the search resumes there. Same names as counting from 1, but linear
  // where thousands of names share a candidate (/usr/lib at level 1 took 60 s).
  const nextCounter = new Map<string, number>();
  const lim = limits(level);
  const out: string[] = [];
  for (const it of items) {
    const c = isoCandidate(it.name, it.isDir, level);
    const key = (p: IsoNameParts) => (it.isDir ? p.name : `${p.name}.${p.ext}`);
    let p = c;
    let n = nextCounter.get(key(c)) ?? 1;
    for (; used.has(key(p)); n++) {
      const suffix = `_${n}`;
      const max = it.isDir ? lim.dir : Math.min(lim.name, lim.total - c.ext.length);
      p = { name: c.name.slice(0, Math.max(0, max - suffix.length)) + suffix, ext: c.ext };
    }
    nextCounter.set(key(c), n);
    used.add(key(p));
    out.push(isoIdentifier(p, it.isDir));
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
