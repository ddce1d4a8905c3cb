/**
 * VHD consistency check (`qemu-img check` has none for vpc; these are the specification's rules):
 * footer and dynamic header checksums, the footer copy at offset 0 of a dynamic disk equal to the
 * footer, BAT entries inside the file (block bitmap and data before the footer), and no two
 * blocks sharing sectors. A truncated file loses its footer: that is corruption too.
 */
import { ImgkitError, type RandomAccessReader } from '@imgkit/core';
import type { CheckReport } from '../check-report.js';
import { readVhdLayout } from './reader.js';
import { VHD_BAT_UNUSED, VHD_SECTOR } from './footer.js';

export async function checkVhd(reader: RandomAccessReader): Promise<CheckReport> {
  const report: CheckReport = { format: 'vhd', errors: [], leaks: [], info: {} };
  let L;
  try {
    L = await readVhdLayout(reader, false);
  } catch (err) {
    // as qemu-img check: an image that cannot be opened is exit code 1, not a corruption count
    report.incomplete = `cannot open the image: ${err instanceof ImgkitError ? err.detail : String(err)}`;
    return report;
  }
  if (!L.footerChecksumOk) report.errors.push('footer checksum is wrong');
  report.info = { subformat: L.dynamic ? 'dynamic' : 'fixed', virtualSize: L.virtualSize, imageEndOffset: reader.size };
  if (!L.dynamic) return report;
  const D = L.dynamic;
  if (!D.headerChecksumOk) report.errors.push('dynamic disk header checksum is wrong');
  if (!D.footerCopyMatches) report.errors.push('the footer copy at offset 0 differs from the footer');
  const dataEnd = reader.size - VHD_SECTOR;
  const blockBytes = D.bitmapBytes + D.blockSize;
  const used: { start: number; b: number }[] = [];
  let allocated = 0;
  for (let b = 0; b < D.entries; b++) {
    const e = D.bat.getUint32(b * 4, false);
    if (e === VHD_BAT_UNUSED) continue;
    allocated++;
    const start = e * VHD_SECTOR;
    if (start + blockBytes > dataEnd) report.errors.push(`block ${b} at sector ${e} runs past the data area (the footer starts at ${dataEnd})`);
    if (start < Number(D.header.tableOffset) + D.entries * 4) report.errors.push(`block ${b} at sector ${e} overlaps the headers or the BAT`);
    used.push({ start, b });
  }
  used.sort((x, y) => x.start - y.start);
  for (let i = 1; i < used.length; i++) {
    if (used[i]!.start < used[i - 1]!.start + blockBytes) report.errors.push(`block ${used[i]!.b} overlaps block ${used[i - 1]!.b}`);
  }
  report.info = { ...report.info, blockSize: D.blockSize, allocatedBlocks: allocated, totalBlocks: D.entries };
  return report;
}
