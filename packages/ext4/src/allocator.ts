/**
 * Block bookkeeping for planning: the used blocks as a sorted list of disjoint runs. Metadata is
 * placed first (a few runs per group), then the journal, then everything else by a cursor that only
 * moves forward, so a new run almost always extends the one before it and the list stays short.
 */

export interface Run {
  start: number;
  count: number;
}

export class UsedBlocks {
  /** Sorted, disjoint, non-adjacent [start, end) pairs. */
  private starts: number[] = [];
  private ends: number[] = [];

  constructor(readonly firstBlock: number, readonly blockCount: number) {}

  /** Index of the first run whose end is > `block` (the run containing it, or the next one). */
  private find(block: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! <= block) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Mark [start, start + count) used (it may touch or overlap runs already there). */
  add(start: number, count: number): void {
    if (count <= 0) return;
    let end = start + count;
    let i = this.find(start - 1); // runs ending at start − 1 or later may merge
    if (i > 0 && this.ends[i - 1]! >= start) i--;
    let j = i;
    let s = start;
    while (j < this.starts.length && this.starts[j]! <= end) {
      s = Math.min(s, this.starts[j]!);
      end = Math.max(end, this.ends[j]!);
      j++;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, end);
  }

  isUsed(block: number): boolean {
    const i = this.find(block);
    return i < this.starts.length && this.starts[i]! <= block;
  }

  /** The end of the first used run overlapping [start, start + count), or undefined when all of it is free. */
  overlapEnd(start: number, count: number): number | undefined {
    const i = this.find(start);
    if (i < this.starts.length && this.starts[i]! < start + count) return this.ends[i]!;
    return undefined;
  }

  /** The first used block at or after `block` (blockCount when none). */
  nextUsed(block: number): number {
    const i = this.find(block);
    if (i >= this.starts.length) return this.blockCount;
    return Math.max(block, this.starts[i]!);
  }

  /** The first free block at or after `block` (blockCount when none). */
  nextFree(block: number): number {
    const i = this.find(block);
    if (i < this.starts.length && this.starts[i]! <= block) return this.ends[i]!;
    return block;
  }

  /** Used blocks in [start, end). */
  countUsed(start: number, end: number): number {
    let n = 0;
    for (let i = this.find(start); i < this.starts.length && this.starts[i]! < end; i++) {
      n += Math.min(end, this.ends[i]!) - Math.max(start, this.starts[i]!);
    }
    return n;
  }

  /** Used runs intersecting [start, end), clipped to it. */
  *runsIn(start: number, end: number): Generator<Run> {
    for (let i = this.find(start); i < this.starts.length && this.starts[i]! < end; i++) {
      const s = Math.max(start, this.starts[i]!);
      yield { start: s, count: Math.min(end, this.ends[i]!) - s };
    }
  }

  /** All used blocks. */
  total(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  /**
   * lib/ext2fs/alloc.c ext2fs_get_free_blocks2: the first `count` free blocks in a row, searching
   * from `start` (the first data block when 0) up to `finish` (wrapping to the start of the
   * filesystem when finish ≤ start; finish 0 means start). Undefined when there is none.
   */
  getFreeBlocks(start: number, finish: number, count: number): number | undefined {
    const first = this.firstBlock;
    let b = start === 0 ? first : start;
    if (finish === 0) finish = start;
    if (count === 0) count = 1;
    let wrapped = false;
    for (;;) {
      if (b + count - 1 >= this.blockCount) {
        if (finish > start || wrapped) return undefined;
        b = first;
        wrapped = true;
      }
      if (wrapped && b >= finish) return undefined;
      if (!wrapped && finish > start && b >= finish) return undefined;
      const over = this.overlapEnd(b, count);
      if (over === undefined) return b;
      // Every position up to the end of that run overlaps it too.
      b = Math.max(b + 1, over);
    }
  }
}
