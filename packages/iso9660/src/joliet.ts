/**
 * Joliet (Microsoft "Joliet Specification", 1995): a supplementary volume descriptor (ECMA-119 §8.5)
 * whose escape sequence "%/E" selects UCS-2 level 3, and a second directory tree whose identifiers
 * are big-endian UCS-2. Names are at most 64 units (103 with the common "joliet-long" relaxation);
 * the characters * / : ; ? \ and controls are not allowed.
 */
import { ErrorCodes, ImgkitError, type WarningHandler, warnOrThrow } from '@imgkit/core';

/** UCS-2 level 3 escape sequence, at offset 88 of the SVD (Joliet spec, "Identification"). */
export const JOLIET_ESCAPE = new Uint8Array([0x25, 0x2f, 0x45]);
export const JOLIET_MAX_UNITS = 64;
export const JOLIET_LONG_MAX_UNITS = 103;

const FORBIDDEN = new Set(['*', '/', ':', ';', '?', '\\']);

/**
 * Map a name to UCS-2: characters outside the BMP and forbidden ones become "_" (with a warning).
 * A name over `maxUnits` is an error, or with `truncate` (xorriso's behaviour, which `imgkit
 * mkisofs` follows) shortened as libisofs does, with a warning: a file keeps its extension (cut to
 * 3 units when the rest would get too short), the name gives up the rest; the dot is not counted.
 */
export function jolietName(
  name: string,
  path: string,
  maxUnits: number,
  isDir: boolean,
  truncate: boolean,
  onWarning: WarningHandler | undefined,
  strict: boolean | undefined,
): string {
  let out = '';
  let replaced = false;
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (cp > 0xffff || cp < 0x20 || FORBIDDEN.has(ch)) {
      out += '_';
      replaced = true;
    } else out += ch;
  }
  if (replaced) {
    warnOrThrow(
      { code: ErrorCodes.NAME_UNENCODABLE, format: 'iso9660', path, detail: `Joliet name of "${name}" has characters UCS-2 Joliet cannot hold; written as "${out}"` },
      onWarning,
      strict,
    );
  }
  if (out.length <= maxUnits) return out;
  if (!truncate || strict) {
    // (Shortening is a warning; strict makes it this error.)
    throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, {
      format: 'iso9660',
      path,
      detail: `Joliet name is ${out.length} UTF-16 units; the limit is ${maxUnits}`,
      hint: maxUnits < JOLIET_LONG_MAX_UNITS ? 'pass --joliet-long (103 units) or leave Joliet off' : 'leave Joliet off (Rock Ridge keeps 255-byte names)',
    });
  }
  const short = truncatedJolietName(out, maxUnits, isDir);
  onWarning?.({ code: ErrorCodes.NAME_TOO_LONG, format: 'iso9660', path, detail: `Joliet name is ${out.length} UTF-16 units, over the limit of ${maxUnits}; written as "${short}"` });
  return short;
}

/** libisofs iso_j_file_id / iso_j_dir_id: how xorriso shortens a Joliet name. */
export function truncatedJolietName(name: string, maxUnits: number, isDir: boolean): string {
  let cut: string;
  if (isDir) cut = name.slice(0, maxUnits);
  else {
    const dot = name.lastIndexOf('.');
    if (dot < 0 || dot === name.length - 1) cut = name.slice(0, maxUnits);
    else {
      const ext = name.slice(dot + 1);
      const base = name.slice(0, dot);
      const keepExt = name.length > maxUnits + 1 && ext.length > 3 ? (base.length < maxUnits - 3 ? maxUnits - base.length : 3) : ext.length;
      const keepName = name.length > maxUnits + 1 ? maxUnits - keepExt : base.length;
      cut = `${base.slice(0, keepName)}.${ext.slice(0, keepExt)}`;
    }
  }
  // Never end inside a surrogate pair (cannot happen after the BMP mapping, kept for safety).
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? `${cut.slice(0, -1)}_` : cut;
}

/** Make the Joliet names of one directory unique (after replacement two may clash). */
export function uniqueJolietNames(names: readonly string[], maxUnits: number): string[] {
  const used = new Set<string>();
  return names.map((n) => {
    let c = n;
    for (let i = 1; used.has(c); i++) {
      const suffix = `~${i}`;
      c = n.slice(0, maxUnits - suffix.length) + suffix;
    }
    used.add(c);
    return c;
  });
}

/** Joliet directory records sort by UCS-2 code units (ECMA-119 §9.3 applied to UCS-2). */
export function compareUcs2(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Big-endian UCS-2 bytes of a BMP-only string. */
export function ucs2be(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c >> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}
