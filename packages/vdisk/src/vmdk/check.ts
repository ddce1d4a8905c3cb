/**
 * VMDK consistency check. What `qemu-img check` verifies for VMDK (block/vmdk.c vmdk_co_check:
 * every grain offset lies inside the file) and what the format itself requires: grain directory
 * and tables inside the file, the redundant copies equal to the primary ones (monolithicSparse),
 * stream-optimized grain markers carrying the LBA of their grain table slot and a size that
 * inflates to one grain, no two grains sharing sectors, and the footer and end-of-stream marker.
 */
import { ImgkitError, loadCodec, viewOf, type RandomAccessReader } from '@imgkit/core';
import type { CheckReport } from '../check-report.js';
import { readVmdkLayout } from './reader.js';
import { FLAG_REDUNDANT_GRAIN_TABLE, SECTOR } from './sparse-header.js';

const FORMAT = 'vmdk';

export async function checkVmdk(reader: RandomAccessReader): Promise<CheckReport> {
  const report: CheckReport = { format: FORMAT, errors: [], leaks: [], info: {} };
  let L;
  try {
    L = await readVmdkLayout(reader);
  } catch (err) {
    // as qemu-img check: an image that cannot be opened is exit code 1, not a corruption count
    report.incomplete = `cannot open the image: ${err instanceof ImgkitError ? err.detail : String(err)}`;
    return report;
  }
  const size = reader.size;
  const gb = L.grainBytes;
  const read = async (offset: number, length: number): Promise<Uint8Array | undefined> => {
    if (offset < 0 || offset + length > size) return undefined;
    const b = await reader.read(offset, length);
    return b.byteLength === length ? b : undefined;
  };
  const gdBytes = await read(L.gdOffset, L.numGts * 4);
  if (!gdBytes) {
    report.errors.push(`grain directory at ${L.gdOffset} (+${L.numGts * 4}) lies past the end of the ${size}-byte file`);
    return report;
  }
  const gd = viewOf(gdBytes);
  const h = L.footer ?? L.header;
  let rgd: DataView | undefined;
  if (h.flags & FLAG_REDUNDANT_GRAIN_TABLE && h.rgdOffset !== 0n) {
    const b = await read(Number(h.rgdOffset) * SECTOR, L.numGts * 4);
    if (!b) report.errors.push(`redundant grain directory at sector ${h.rgdOffset} lies past the end of the file`);
    else rgd = viewOf(b);
  }
  const codec = L.compressed ? await loadCodec({ name: 'zlib' }) : undefined;
  const used: { start: number; end: number; what: string }[] = [];
  let allocated = 0;
  for (let t = 0; t < L.numGts; t++) {
    const gtSector = gd.getUint32(t * 4, true);
    if (gtSector === 0) continue;
    const gtBytes = await read(gtSector * SECTOR, L.gtEntries * 4);
    if (!gtBytes) {
      report.errors.push(`grain table ${t} at sector ${gtSector} lies past the end of the file`);
      continue;
    }
    used.push({ start: gtSector * SECTOR, end: gtSector * SECTOR + L.gtEntries * 4, what: `grain table ${t}` });
    if (rgd) {
      const rs = rgd.getUint32(t * 4, true);
      const r = rs === 0 ? undefined : await read(rs * SECTOR, L.gtEntries * 4);
      if (!r || !r.every((b, i) => b === gtBytes[i])) report.errors.push(`redundant grain table ${t} differs from the primary one`);
    }
    const gt = viewOf(gtBytes);
    for (let i = 0; i < L.gtEntries; i++) {
      const s = gt.getUint32(i * 4, true);
      if (s === 0 || (s === 1 && L.zeroGrains)) continue;
      const g = t * L.gtEntries + i;
      if (g * gb >= L.capacity) {
        report.errors.push(`grain ${g} is mapped past the ${L.capacity}-byte capacity`);
        continue;
      }
      allocated++;
      const at = s * SECTOR;
      if (!L.compressed) {
        if (at + gb > size) report.errors.push(`grain ${g} at sector ${s} lies past the end of the ${size}-byte file`);
        used.push({ start: at, end: at + gb, what: `grain ${g}` });
        continue;
      }
      const head = await read(at, 12);
      if (!head) {
        report.errors.push(`grain ${g} at sector ${s} lies past the end of the ${size}-byte file`);
        continue;
      }
      const hv = viewOf(head);
      const lba = Number(hv.getBigUint64(0, true));
      const n = hv.getUint32(8, true);
      if (lba !== g * (gb / SECTOR)) report.errors.push(`grain marker at sector ${s} has LBA ${lba}, expected ${g * (gb / SECTOR)}`);
      const data = await read(at + 12, n);
      if (!data) {
        report.errors.push(`compressed grain ${g} at sector ${s} (${n} bytes) runs past the end of the file`);
        continue;
      }
      used.push({ start: at, end: at + 12 + n, what: `grain ${g}` });
      try {
        const out = codec!.decompress(data, gb);
        if (out.byteLength !== gb) report.errors.push(`grain ${g} inflates to ${out.byteLength} bytes, not ${gb}`);
      } catch (err) {
        report.errors.push(`grain ${g} at sector ${s} does not inflate: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  used.sort((a, b) => a.start - b.start);
  for (let i = 1; i < used.length; i++) {
    if (used[i]!.start < used[i - 1]!.end) report.errors.push(`${used[i]!.what} at ${used[i]!.start} overlaps ${used[i - 1]!.what}`);
  }
  report.info = {
    createType: L.descriptor.createType,
    version: h.version,
    virtualSize: L.capacity,
    grainSize: gb,
    allocatedGrains: allocated,
    totalGrains: Math.ceil(L.capacity / gb),
    imageEndOffset: size,
  };
  return report;
}
