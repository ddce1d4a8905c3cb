/**
 * VHDX consistency check: what `qemu-img check` verifies for VHDX (block/vhdx.c vhdx_co_check:
 * a log that needs replaying, payload blocks past the end of the file or overlapping each other
 * or the metadata) plus the checksums the specification requires (§2.2.2 headers, §2.2.3 region
 * tables: CRC-32C), equal region table copies, the required metadata items, 1 MiB aligned
 * blocks, and no sector bitmap or partially present block in a disk without a parent.
 */
import { ImgkitError, type RandomAccessReader } from '@imgkit/core';
import type { CheckReport } from '../check-report.js';
import { readVhdxLayout } from './reader.js';
import { MiB, PAYLOAD_BLOCK_FULLY_PRESENT, PAYLOAD_BLOCK_PARTIALLY_PRESENT, SB_BLOCK_NOT_PRESENT, batIndex, getBatEntry } from './structures.js';

export async function checkVhdx(reader: RandomAccessReader): Promise<CheckReport> {
  const report: CheckReport = { format: 'vhdx', errors: [], leaks: [], info: {} };
  let L;
  try {
    L = await readVhdxLayout(reader);
  } catch (err) {
    // as qemu-img check: an image that cannot be opened is exit code 1, not a corruption count
    report.incomplete = `cannot open the image: ${err instanceof ImgkitError ? err.detail : String(err)}`;
    return report;
  }
  L.headers.forEach((h, i) => {
    if (!h.ok) report.errors.push(`header ${i + 1} has a bad signature or CRC-32C checksum`);
  });
  L.regionTablesOk.forEach((ok, i) => {
    if (!ok) report.errors.push(`region table ${i + 1} has a bad signature or CRC-32C checksum`);
  });
  if (L.regionTablesOk.every(Boolean) && !L.regionTablesEqual) report.errors.push('the two region tables differ');
  const size = reader.size;
  const regions = [
    { start: 0, end: MiB, what: 'header section' },
    { start: Number(L.current.logOffset), end: Number(L.current.logOffset) + L.current.logLength, what: 'log' },
    { start: L.bat.offset, end: L.bat.offset + L.bat.length, what: 'BAT' },
    { start: L.metadata.offset, end: L.metadata.offset + L.metadata.length, what: 'metadata region' },
  ];
  for (const r of regions) {
    if (r.start % MiB !== 0) report.errors.push(`${r.what} at ${r.start} is not 1 MiB aligned`);
    if (r.end > size) report.errors.push(`${r.what} at ${r.start} (+${r.end - r.start}) lies past the end of the ${size}-byte file`);
  }
  const used = [...regions];
  let allocated = 0;
  const total = L.blocks + Math.floor(Math.max(0, L.blocks - 1) / L.ratio);
  for (let i = 0; i < total; i++) {
    const e = getBatEntry(L.batView, i);
    const isBitmap = (i + 1) % (L.ratio + 1) === 0;
    if (isBitmap) {
      if (e.state !== SB_BLOCK_NOT_PRESENT) report.errors.push(`sector bitmap entry ${i} is present in a disk without a parent`);
      continue;
    }
    if (e.reservedBits) report.errors.push(`BAT entry ${i} has reserved bits set`);
    if (e.state === PAYLOAD_BLOCK_PARTIALLY_PRESENT) report.errors.push(`BAT entry ${i} is partially present in a disk without a parent`);
    if (e.state > 3 && e.state !== PAYLOAD_BLOCK_FULLY_PRESENT && e.state !== PAYLOAD_BLOCK_PARTIALLY_PRESENT) report.errors.push(`BAT entry ${i} has the undefined state ${e.state}`);
    if (e.state !== PAYLOAD_BLOCK_FULLY_PRESENT) continue;
    allocated++;
    const block = i - Math.floor(i / (L.ratio + 1));
    if (batIndex(block, L.ratio) !== i) report.errors.push(`internal: BAT index ${i} maps to block ${block}`);
    if (e.fileOffset + L.blockSize > size) report.errors.push(`block ${block} at ${e.fileOffset} lies past the end of the ${size}-byte file`);
    used.push({ start: e.fileOffset, end: e.fileOffset + L.blockSize, what: `block ${block}` });
  }
  used.sort((a, b) => a.start - b.start);
  for (let i = 1; i < used.length; i++) {
    if (used[i]!.start < used[i - 1]!.end) report.errors.push(`${used[i]!.what} at ${used[i]!.start} overlaps ${used[i - 1]!.what}`);
  }
  report.info = {
    subformat: L.leaveBlocksAllocated ? 'fixed' : 'dynamic',
    virtualSize: L.virtualSize,
    blockSize: L.blockSize,
    logicalSectorSize: L.logicalSectorSize,
    physicalSectorSize: L.physicalSectorSize,
    allocatedBlocks: allocated,
    totalBlocks: L.blocks,
    imageEndOffset: size,
  };
  return report;
}
