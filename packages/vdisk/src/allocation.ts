/**
 * Allocation maps at block granularity. A table-first layout written to a stream (qcow2 as qemu's
 * scripts/qcow2-to-stdout.py lays it out, dynamic VHD, dynamic VHDX, monolithicSparse VMDK) must
 * know every allocated block before its first data byte; the caller gives byte ranges that may
 * hold data and these helpers turn them into sorted runs of blocks.
 */
import { badOption } from './errors.js';
import type { ByteRange } from './range-source.js';

export interface BlockRun {
  first: number;
  count: number;
}

/** Byte ranges → merged runs of the `blockSize` blocks they touch (validated: sorted, inside the disk). */
export function blockRuns(ranges: readonly ByteRange[], blockSize: number, virtualSize: number, format: string): BlockRun[] {
  const runs: BlockRun[] = [];
  let prevEnd = 0;
  ranges.forEach((r, i) => {
    if (!Number.isSafeInteger(r.offset) || !Number.isSafeInteger(r.length) || r.offset < 0 || r.length < 0) {
      throw badOption(format, `allocation[${i}]`, `range ${r.offset}+${r.length} is not a pair of whole byte counts`);
    }
    if (r.offset < prevEnd) throw badOption(format, `allocation[${i}]`, `range ${r.offset}+${r.length} starts before the previous range ends (${prevEnd}); give sorted, disjoint ranges`);
    if (r.offset + r.length > virtualSize) throw badOption(format, `allocation[${i}]`, `range ${r.offset}+${r.length} passes the end of the ${virtualSize}-byte disk`);
    prevEnd = r.offset + r.length;
    if (r.length === 0) return;
    const first = Math.floor(r.offset / blockSize);
    const end = Math.ceil((r.offset + r.length) / blockSize);
    const last = runs[runs.length - 1];
    if (last && last.first + last.count >= first) last.count = Math.max(last.count, end - last.first);
    else runs.push({ first, count: end - first });
  });
  return runs;
}

export function runBlocks(runs: readonly BlockRun[]): number {
  let n = 0;
  for (const r of runs) n += r.count;
  return n;
}

/** Walks runs with increasing block indices: is block `i` allocated, and how many come before it. */
export class RunCursor {
  private run = 0;
  /** Allocated blocks in runs before `run`. */
  private before = 0;
  constructor(private readonly runs: readonly BlockRun[]) {}

  /** The rank of block `i` among allocated blocks (0-based), or -1 when it is not allocated. Call with increasing `i`. */
  rank(i: number): number {
    while (this.run < this.runs.length && this.runs[this.run]!.first + this.runs[this.run]!.count <= i) {
      this.before += this.runs[this.run]!.count;
      this.run++;
    }
    const r = this.runs[this.run];
    if (!r || i < r.first) return -1;
    return this.before + (i - r.first);
  }
}
