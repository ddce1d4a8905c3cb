/**
 * Two sink adapters the composer needs (local until core's subSink grows the same abilities):
 *
 * - `ContentWindow`: a partition seen by its content. Offsets are relative to the partition;
 *   writes at the parent's end go through `write`/`writeZeros` (so zero runs stay holes), others
 *   through `writeAt`. A write past the window does not fail at once: the window stops writing,
 *   keeps counting, and the composer then reports E_NO_SPACE with the bytes the content really
 *   needs (a squashfs's size is only known once it is written). `expectSize` (FAT knows its size
 *   before the first byte) refuses at once.
 * - `TrackingSink`: passes everything through and records which byte ranges were written with
 *   data (`write`, `writeAt`) as opposed to skipped (`writeZeros`: holes on a file sink). That is
 *   the disk's allocation map, for a VM-image writer that allocates only what holds data.
 */
import { writeZeros, type ByteSink } from '@imgkit/core';

const ZEROS = new Uint8Array(1 << 16);

export class ContentWindow implements ByteSink {
  private pos = 0;
  /** The content went past the window: nothing more is written, only counted. */
  overflowed = false;
  /** The furthest byte the content wrote or asked to write (its size, padding included). */
  extent = 0;

  constructor(
    private readonly parent: ByteSink,
    /** Where the window starts in the parent. */
    readonly start: number,
    /** Its length; `Infinity` for content measured as it is written. */
    readonly limit: number,
    private readonly onExpectTooBig?: (needed: number) => Error,
    /** Present the window as not seekable (a content that must not patch: see rehearsal.ts). */
    private readonly sequential = false,
  ) {}

  get position(): number {
    return this.pos;
  }
  get seekable(): boolean {
    return !this.sequential && this.parent.seekable;
  }
  private grow(end: number): boolean {
    if (end > this.extent) this.extent = end;
    if (end > this.limit) this.overflowed = true;
    return !this.overflowed;
  }
  async write(chunk: Uint8Array): Promise<void> {
    const at = this.pos;
    this.pos += chunk.byteLength;
    if (!this.grow(this.pos)) return;
    if (this.parent.position === this.start + at) await this.parent.write(chunk);
    else await this.parent.writeAt(this.start + at, chunk);
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    if (!this.grow(offset + chunk.byteLength)) return;
    await this.parent.writeAt(this.start + offset, chunk);
  }
  async writeZeros(length: number): Promise<void> {
    if (length <= 0) return;
    const at = this.pos;
    this.pos += length;
    if (!this.grow(this.pos)) return;
    if (this.parent.position === this.start + at) return writeZeros(this.parent, length);
    for (let done = 0; done < length; ) {
      const n = Math.min(length - done, ZEROS.byteLength);
      await this.parent.writeAt(this.start + at + done, ZEROS.subarray(0, n));
      done += n;
    }
  }
  async expectSize(end: number): Promise<void> {
    if (end > this.limit && this.onExpectTooBig) throw this.onExpectTooBig(end);
    await this.parent.expectSize?.(this.start + Math.min(end, this.limit));
  }
  async close(): Promise<void> {
    /* the disk owns the output */
  }
  async abort(): Promise<void> {
    /* the disk owns the output */
  }
}

/** A written byte range: `offset` from the start of the disk, `length` bytes. */
export interface ByteRange {
  offset: number;
  length: number;
}

export class TrackingSink implements ByteSink {
  /** Sorted, disjoint, not touching (adjacent ranges are merged). Offsets relative to `base`. */
  readonly ranges: ByteRange[] = [];
  readonly base: number;

  constructor(private readonly parent: ByteSink) {
    this.base = parent.position;
  }
  get position(): number {
    return this.parent.position;
  }
  get seekable(): boolean {
    return this.parent.seekable;
  }
  private record(offset: number, length: number): void {
    if (length <= 0) return;
    const start = offset - this.base;
    const end = start + length;
    const r = this.ranges;
    const last = r[r.length - 1];
    if (!last || start > last.offset + last.length) {
      r.push({ offset: start, length });
      return;
    }
    if (start >= last.offset) {
      last.length = Math.max(last.length, end - last.offset);
      return;
    }
    // Out of order (a patch): insert and merge.
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[mid]!.offset + r[mid]!.length < start) lo = mid + 1;
      else hi = mid;
    }
    const i = lo;
    let s = start;
    let e = end;
    let j = i;
    while (j < r.length && r[j]!.offset <= e) {
      s = Math.min(s, r[j]!.offset);
      e = Math.max(e, r[j]!.offset + r[j]!.length);
      j++;
    }
    r.splice(i, j - i, { offset: s, length: e - s });
  }
  async write(chunk: Uint8Array): Promise<void> {
    const at = this.parent.position;
    await this.parent.write(chunk);
    this.record(at, chunk.byteLength);
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    await this.parent.writeAt(offset, chunk);
    this.record(offset, chunk.byteLength);
  }
  async writeZeros(length: number): Promise<void> {
    await writeZeros(this.parent, length);
  }
  async expectSize(end: number): Promise<void> {
    await this.parent.expectSize?.(end);
  }
  async close(): Promise<void> {
    await this.parent.close();
  }
  async abort(reason?: unknown): Promise<void> {
    await this.parent.abort?.(reason);
  }
}
