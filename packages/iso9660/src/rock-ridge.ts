/**
 * System Use Sharing Protocol 1.12 (IEEE P1281) and Rock Ridge Interchange Protocol 1.12 (IEEE P1282)
 * entries, written into the System Use area of directory records. Each entry: signature (2 bytes),
 * length (1), version (1), data. Numbers are both-byte (ECMA-119 §7.3.3, "733").
 */
import { encodeUtf8 } from '@imgkit/core';
import { recordingTime } from './directory-record.js';
import { asciiBytes } from './names.js';

const ENTRY_MAX = 255;

function entry(sig: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.byteLength);
  out[0] = sig.charCodeAt(0);
  out[1] = sig.charCodeAt(1);
  out[2] = out.byteLength;
  out[3] = 1;
  out.set(data, 4);
  return out;
}

function both32(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setUint32(i * 8, v >>> 0, true);
    view.setUint32(i * 8 + 4, v >>> 0, false);
  });
  return out;
}

/** SUSP §5.3 "SP": first entry of the root's "." record; check bytes BE EF, skip 0. */
export function spEntry(): Uint8Array {
  return entry('SP', new Uint8Array([0xbe, 0xef, 0]));
}

/** SUSP §5.1 "CE": where the rest of the System Use entries continue. */
export function ceEntry(lba: number, offset: number, length: number): Uint8Array {
  return entry('CE', both32([lba, offset, length]));
}
export const CE_LENGTH = 28;

/**
 * RRIP §5.6 "ER" identifying the extension, in the root's "." record (SUSP §5.5): RRIP 1.12's
 * "IEEE_1282", or RRIP 1.10's "RRIP_1991A" (what mkisofs and xorriso's mkisofs emulation write).
 */
export function erEntry(version: RockRidgeVersion = '1.12'): Uint8Array {
  const rrip110 = version === '1.10';
  const id = asciiBytes(rrip110 ? 'RRIP_1991A' : 'IEEE_1282');
  const des = asciiBytes(rrip110 ? 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS' : 'THE IEEE 1282 PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS.');
  const src = asciiBytes(
    rrip110
      ? 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.'
      : 'PLEASE CONTACT THE IEEE STANDARDS DEPARTMENT, PISCATAWAY, NJ, USA FOR THE 1282 SPECIFICATION.',
  );
  const data = new Uint8Array(4 + id.byteLength + des.byteLength + src.byteLength);
  data[0] = id.byteLength;
  data[1] = des.byteLength;
  data[2] = src.byteLength;
  data[3] = 1; // extension version
  data.set(id, 4);
  data.set(des, 4 + id.byteLength);
  data.set(src, 4 + id.byteLength + des.byteLength);
  return entry('ER', data);
}

export type RockRidgeVersion = '1.10' | '1.12';

/**
 * RRIP 1.12 §4.1.1 "PX": mode (with file type bits), links, uid, gid, serial number; 44 bytes.
 * RRIP 1.10's PX has no serial number (36 bytes).
 */
export function pxEntry(mode: number, nlink: number, uid: number, gid: number, ino: number, version: RockRidgeVersion = '1.12'): Uint8Array {
  return entry('PX', both32(version === '1.10' ? [mode, nlink, uid, gid] : [mode, nlink, uid, gid, ino]));
}

/**
 * RRIP 1.12 §4.1.2 "PN": the device number as two 32-bit halves of the Linux dev_t (high 0 for
 * every dev_t below 2^32, which Linux's isofs reads as MKDEV(low >> 8, low & 0xff) and libisofs as
 * the dev_t itself).
 */
export function pnEntry(high: number, low: number): Uint8Array {
  return entry('PN', both32([high, low]));
}

// RRIP §4.1.6 "TF" flags: modify, access, attributes (ctime), 7-byte times.
const TF_MODIFY = 0x02;
const TF_ACCESS = 0x04;
const TF_ATTRIBUTES = 0x08;
export function tfEntry(mtime: number): Uint8Array {
  const t = recordingTime(mtime);
  const data = new Uint8Array(1 + 3 * 7);
  data[0] = TF_MODIFY | TF_ACCESS | TF_ATTRIBUTES;
  data.set(t, 1);
  data.set(t, 8);
  data.set(t, 15);
  return entry('TF', data);
}

// RRIP §4.1.4 "NM" flags.
const NM_CONTINUE = 0x01;
/** "NM" entries for a name (split into several with CONTINUE when longer than one entry holds). */
export function nmEntries(name: string): Uint8Array[] {
  const b = encodeUtf8(name);
  const room = ENTRY_MAX - 5;
  const out: Uint8Array[] = [];
  for (let at = 0; at < b.byteLength || out.length === 0; at += room) {
    const part = b.subarray(at, at + room);
    const data = new Uint8Array(1 + part.byteLength);
    data[0] = at + room < b.byteLength ? NM_CONTINUE : 0;
    data.set(part, 1);
    out.push(entry('NM', data));
  }
  return out;
}

// RRIP §4.1.3 "SL" flags and component record flags.
const SL_CONTINUE = 0x01;
const COMP_CONTINUE = 0x01;
const COMP_CURRENT = 0x02;
const COMP_PARENT = 0x04;
const COMP_ROOT = 0x08;

/**
 * "SL" entries for a symbolic link target. A long target spans several SL entries; readers differ
 * on whether a slash separates the last component of one entry from the first of the next (Linux
 * adds it, libarchive doesn't), so entries are only ever cut inside a component: the piece before
 * the cut carries COMP_CONTINUE (possibly with no bytes), and both readers then agree.
 */
export function slEntries(target: string): Uint8Array[] {
  type Comp = { flags: number; text: Uint8Array };
  const comps: Comp[] = [];
  if (target.startsWith('/')) comps.push({ flags: COMP_ROOT, text: new Uint8Array(0) });
  for (const p of target.split('/')) {
    if (p === '') continue;
    if (p === '.') comps.push({ flags: COMP_CURRENT, text: new Uint8Array(0) });
    else if (p === '..') comps.push({ flags: COMP_PARENT, text: new Uint8Array(0) });
    else comps.push({ flags: 0, text: encodeUtf8(p) });
  }
  const room = ENTRY_MAX - 5;
  const out: Uint8Array[][] = [];
  let cur: Uint8Array[] = [];
  let used = 0;
  const put = (flags: number, text: Uint8Array) => {
    const rec = new Uint8Array(2 + text.byteLength);
    rec[0] = flags;
    rec[1] = text.byteLength;
    rec.set(text, 2);
    cur.push(rec);
    used += rec.byteLength;
  };
  const flush = () => {
    out.push(cur);
    cur = [];
    used = 0;
  };
  comps.forEach((c, i) => {
    const last = i === comps.length - 1;
    let text = c.text;
    for (;;) {
      const left = room - used;
      const whole = 2 + text.byteLength;
      // Keep 2 bytes free after a whole component unless it is the last: a continued piece may follow.
      if (whole <= left - 2 || (last && whole <= left)) {
        put(c.flags, text);
        break;
      }
      if (c.flags !== 0) {
        put(COMP_CONTINUE, new Uint8Array(0));
        flush();
        continue;
      }
      const piece = Math.min(text.byteLength, left - 2);
      put(COMP_CONTINUE, text.subarray(0, piece));
      text = text.subarray(piece);
      flush();
    }
  });
  if (cur.length > 0 || out.length === 0) flush();
  return out.map((recs, i) => {
    const len = recs.reduce((n, r) => n + r.byteLength, 0);
    const data = new Uint8Array(1 + len);
    data[0] = i < out.length - 1 ? SL_CONTINUE : 0;
    let at = 1;
    for (const r of recs) {
      data.set(r, at);
      at += r.byteLength;
    }
    return entry('SL', data);
  });
}

/** RRIP §4.1.5.1 "CL": the relocated directory's extent, in the placeholder file's record. */
export function clEntry(lba: number): Uint8Array {
  return entry('CL', both32([lba]));
}
/** RRIP §4.1.5.2 "PL": the original parent's extent, in the relocated directory's ".." record. */
export function plEntry(lba: number): Uint8Array {
  return entry('PL', both32([lba]));
}
/** RRIP §4.1.5.3 "RE": marks the relocated directory's record in the relocation directory. */
export function reEntry(): Uint8Array {
  return entry('RE', new Uint8Array(0));
}

/**
 * Split System Use entries between the record (`room` bytes) and continuation areas (SUSP §5.1):
 * entries stay whole; when they don't all fit, a CE at the end of the record (and of each full area)
 * points on. Returns the inline entries' lengths and the continuation areas' contents (without the
 * CE entries, which the caller adds once their places are known).
 */
export function splitSystemUse(entries: readonly Uint8Array[], room: number, areaMax: number): { inline: Uint8Array[]; areas: Uint8Array[][] } {
  const total = entries.reduce((s, e) => s + e.byteLength, 0);
  if (total <= room) return { inline: [...entries], areas: [] };
  const inline: Uint8Array[] = [];
  let used = 0;
  let i = 0;
  for (; i < entries.length && used + entries[i]!.byteLength <= room - CE_LENGTH; i++) {
    inline.push(entries[i]!);
    used += entries[i]!.byteLength;
  }
  const areas: Uint8Array[][] = [];
  let area: Uint8Array[] = [];
  let areaLen = 0;
  const rest = entries.slice(i);
  const restTotal = (from: number) => rest.slice(from).reduce((s, e) => s + e.byteLength, 0);
  for (let k = 0; k < rest.length; k++) {
    const e = rest[k]!;
    const fitsAll = areaLen + restTotal(k) <= areaMax;
    if (!fitsAll && areaLen + e.byteLength > areaMax - CE_LENGTH) {
      areas.push(area);
      area = [];
      areaLen = 0;
    }
    area.push(e);
    areaLen += e.byteLength;
  }
  areas.push(area);
  return { inline, areas };
}
