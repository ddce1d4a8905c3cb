/**
 * qcow2 consistency check, the checks `qemu-img check` makes (block/qcow2-refcount.c,
 * qcow2_check_refcounts): the references every structure makes (header, L1 table, L2 tables,
 * data clusters, the sectors of compressed clusters, refcount table and blocks) are counted and
 * compared with the stored refcounts: fewer stored than referenced is corruption, more is a leak.
 * COPIED flags must match refcount 1 (L1 entries, standard L2 entries) and never appear on
 * compressed entries; references past the end of the file (a truncated image) and misaligned
 * offsets are corruption.
 */
import { ImgkitError, viewOf, type RandomAccessReader } from '@imgkit/core';
import type { CheckReport } from '../check-report.js';
import { readQcow2Header } from './reader.js';
import { decodeL1Entry, decodeL2Entry } from './tables.js';

const FORMAT = 'qcow2';

export async function checkQcow2(reader: RandomAccessReader): Promise<CheckReport> {
  const report: CheckReport = { format: FORMAT, errors: [], leaks: [], info: {} };
  let h;
  try {
    h = await readQcow2Header(reader);
  } catch (err) {
    report.incomplete = err instanceof ImgkitError ? err.detail : String(err);
    return report;
  }
  if (h.nbSnapshots > 0) {
    report.incomplete = `the image has ${h.nbSnapshots} internal snapshots, which imgkit does not check`;
    return report;
  }
  const cs = h.clusterSize;
  const fileSize = reader.size;
  const fileClusters = Math.ceil(fileSize / cs);
  // Expected references per host cluster (grown on demand: a damaged table may point anywhere).
  let refs = new Uint32Array(Math.max(fileClusters, 1) + 1);
  const ref = (offset: number, bytes: number, what: string): void => {
    if (bytes <= 0) return;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + bytes - 1) / cs);
    if (offset + bytes > fileSize) report.errors.push(`${what} at offset ${offset} (+${bytes}) lies past the end of the ${fileSize}-byte file`);
    if (last >= 2 ** 27) {
      report.errors.push(`${what} at offset ${offset} is beyond any plausible image size`);
      return;
    }
    if (last >= refs.length) {
      const grown = new Uint32Array(Math.max(last + 1, refs.length * 2));
      grown.set(refs);
      refs = grown;
    }
    for (let c = first; c <= last; c++) refs[c]!++;
  };
  const read = async (offset: number, length: number): Promise<Uint8Array | undefined> => {
    if (offset + length > fileSize) return undefined;
    const b = await reader.read(offset, length);
    return b.byteLength === length ? b : undefined;
  };

  // Header cluster, L1 table.
  ref(0, cs, 'header');
  if (h.l1TableOffset % cs !== 0) report.errors.push(`L1 table offset ${h.l1TableOffset} is not cluster aligned`);
  ref(h.l1TableOffset, h.l1Size * 8, 'L1 table');
  const l1Bytes = await read(h.l1TableOffset, h.l1Size * 8);
  const l2Tables: { index: number; offset: number; copied: boolean }[] = [];
  const dataRefs: { what: string; offset: number; copied: boolean }[] = [];
  let allocated = 0;
  let compressedClusters = 0;
  if (!l1Bytes) report.errors.push(`L1 table at ${h.l1TableOffset} (+${h.l1Size * 8}) cannot be read: the image is truncated`);
  else {
    const l1 = viewOf(l1Bytes);
    const l2Entries = cs / 8;
    const clusters = Math.ceil(h.size / cs);
    for (let i = 0; i < h.l1Size; i++) {
      const e = decodeL1Entry(l1, i);
      if (e.offset === 0) continue;
      if (e.reservedBits) report.errors.push(`L1 entry ${i} has reserved bits set`);
      if (e.offset % cs !== 0) {
        report.errors.push(`L2 table offset ${e.offset} of L1 entry ${i} is not cluster aligned`);
        continue;
      }
      ref(e.offset, cs, `L2 table of L1 entry ${i}`);
      l2Tables.push({ index: i, offset: e.offset, copied: e.copied });
      const t = await read(e.offset, cs);
      if (!t) continue;
      const view = viewOf(t);
      for (let j = 0; j < l2Entries; j++) {
        const g = i * l2Entries + j;
        const le = decodeL2Entry(view, j, h.clusterBits, h.version);
        if (le.kind === 'unallocated') continue;
        if (g >= clusters && le.kind !== 'zero') {
          report.errors.push(`L2 entry for guest cluster ${g} lies beyond the ${h.size}-byte virtual disk`);
        }
        if (le.kind === 'compressed') {
          allocated++;
          compressedClusters++;
          if (le.copied) report.errors.push(`compressed cluster of guest offset ${g * cs} at ${le.offset} has OFLAG_COPIED set`);
          // qcow2.rst: the data occupies `sectors` 512-byte sectors from the one holding its first byte
          const start = Math.floor(le.offset / 512) * 512;
          ref(start, le.sectors * 512, `compressed cluster of guest offset ${g * cs}`);
          continue;
        }
        if (le.kind === 'standard' && le.reservedBits) report.errors.push(`L2 entry for guest offset ${g * cs} has reserved bits set`);
        if (le.offset === 0) continue; // a zero cluster without preallocation
        if (le.offset % cs !== 0) {
          report.errors.push(`data cluster of guest offset ${g * cs} at ${le.offset} is not cluster aligned`);
          continue;
        }
        if (le.kind === 'standard') allocated++;
        ref(le.offset, cs, `data cluster of guest offset ${g * cs}`);
        dataRefs.push({ what: `data cluster of guest offset ${g * cs}`, offset: le.offset, copied: le.copied });
      }
    }
  }

  // Refcount table and blocks: referenced, and the stored counts read.
  if (h.refcountTableOffset % cs !== 0) report.errors.push(`refcount table offset ${h.refcountTableOffset} is not cluster aligned`);
  ref(h.refcountTableOffset, h.refcountTableClusters * cs, 'refcount table');
  const refBits = 2 ** h.refcountOrder;
  const perBlock = (cs * 8) / refBits;
  const stored = new Map<number, number>();
  const rt = await read(h.refcountTableOffset, h.refcountTableClusters * cs);
  if (!rt) report.errors.push(`refcount table at ${h.refcountTableOffset} cannot be read: the image is truncated`);
  else {
    const rtv = viewOf(rt);
    for (let i = 0; i < rt.byteLength / 8; i++) {
      const e = decodeL1Entry(rtv, i); // same offset bits 9–63; refcount table entries have no flags
      if (e.offset === 0) continue;
      if (e.offset % cs !== 0) {
        report.errors.push(`refcount block offset ${e.offset} (refcount table entry ${i}) is not cluster aligned`);
        continue;
      }
      ref(e.offset, cs, `refcount block ${i}`);
      const b = await read(e.offset, cs);
      if (!b) continue;
      const bv = viewOf(b);
      for (let k = 0; k < perBlock; k++) {
        let v: number;
        if (refBits === 16) v = bv.getUint16(k * 2, false);
        else if (refBits === 8) v = b[k]!;
        else if (refBits === 32) v = bv.getUint32(k * 4, false);
        else if (refBits === 64) v = Number(bv.getBigUint64(k * 8, false));
        else v = (b[Math.floor((k * refBits) / 8)]! >> ((k * refBits) % 8)) & ((1 << refBits) - 1);
        if (v !== 0) stored.set(i * perBlock + k, v);
      }
    }
  }

  // Compare.
  let last = refs.length;
  for (const c of stored.keys()) if (c + 1 > last) last = c + 1;
  let leaked = 0;
  for (let c = 0; c < last; c++) {
    const want = c < refs.length ? refs[c]! : 0;
    const have = stored.get(c) ?? 0;
    if (have < want) report.errors.push(`cluster ${c} refcount=${have} reference=${want}`);
    else if (have > want) {
      leaked++;
      report.leaks.push(`cluster ${c} refcount=${have} reference=${want}`);
    }
  }
  for (const t of l2Tables) {
    const rc = stored.get(t.offset / cs) ?? 0;
    if (t.copied !== (rc === 1)) report.errors.push(`OFLAG_COPIED L2 cluster: l1_index=${t.index} l1_entry=${t.offset} refcount=${rc}`);
  }
  for (const d of dataRefs) {
    const rc = stored.get(d.offset / cs) ?? 0;
    if (d.copied !== (rc === 1)) report.errors.push(`OFLAG_COPIED data cluster: ${d.what} l2_entry=${d.offset} refcount=${rc}`);
  }
  report.info = {
    version: h.version,
    clusterSize: cs,
    virtualSize: h.size,
    allocatedClusters: allocated,
    compressedClusters,
    totalClusters: Math.ceil(h.size / cs),
    imageEndOffset: fileSize,
    leakedClusters: leaked,
  };
  return report;
}
