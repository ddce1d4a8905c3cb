/**
 * Rehearsal and replay: how the composer writes a disk that patches bytes (the partition table
 * last, squashfs superblocks) onto an output that cannot seek back — a pipe, or a VM-image
 * container sink (qcow2, VMDK, VHD, VHDX), which takes the virtual disk strictly in order.
 *
 * 1. Rehearsal: the composer writes the disk once into a `RehearsalSink`, which stores nothing.
 *    It counts (so a squashfs without a size is measured and the layout solved with it), and it
 *    keeps every `writeAt` (the patches: a few table sectors and the 96-byte superblocks). The
 *    composer's own allocation map of that pass is the disk's exact allocation map when every
 *    content was written (the "full" rehearsal a table-first container on a pipe needs).
 * 2. Replay: the composer writes the disk again, into a `ReplaySink` over the real output. The
 *    sink claims to be seekable; when the stream reaches a range that was patched in the
 *    rehearsal it sends the final (patched) bytes at once, and when the writer then patches that
 *    range it checks the bytes are the rehearsal's and sends nothing. The output gets every byte
 *    once, in order. Writers are deterministic (same input, same bytes), so the two passes agree;
 *    if a source changes between them the replay fails with E_SOURCE_CHANGED instead of writing
 *    a disk whose tables describe other bytes.
 *
 * The cost is a second pass over what patches: squashfs is compressed twice, unless it is small.
 * A `HoldingTee` keeps the bytes a squashfs writes in the rehearsal (patched, as they end up) while
 * they fit in a memory budget (`rehearsalMemoryBytes`, 64 MiB for all contents by default); the
 * replay then sends those bytes instead of writing the squashfs again. Past the budget the copy is
 * dropped and the content is written again in the replay. Nothing goes to a temporary file.
 * Memory: the patches (the table sectors and superblocks, a few KiB) and the held contents.
 */
import { ErrorCodes, ImgkitError, SourceChangedError, copyBytes, writeZeros, type ByteSink } from '@imgkit/core';

/** Bytes written over earlier ones: `offset` from the start of the disk. */
export interface Patch {
  offset: number;
  bytes: Uint8Array;
}

/** A seekable sink that stores nothing: it counts and keeps the patches. */
export class RehearsalSink implements ByteSink {
  readonly seekable = true;
  private pos = 0;
  readonly patches: Patch[] = [];

  get position(): number {
    return this.pos;
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.pos += chunk.byteLength;
  }
  async writeZeros(length: number): Promise<void> {
    if (length > 0) this.pos += length;
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    // Only bytes already written are patched (ByteSink's contract); the replay relies on it.
    if (offset < 0 || offset + chunk.byteLength > this.pos) {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'disk', detail: `internal: a patch of ${chunk.byteLength} bytes at ${offset} lies past the ${this.pos} bytes written` });
    }
    this.patches.push({ offset, bytes: copyBytes(chunk) });
  }
  async expectSize(): Promise<void> {
    /* no limit */
  }
  async close(): Promise<void> {
    /* nothing held */
  }
}

interface PendingPatch extends Patch {
  /** Order of the patch in the rehearsal: a later patch of the same bytes wins. */
  seq: number;
  replayed: boolean;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Replays a rehearsal's patches onto a sequential sink (see the top of this file). Offsets of
 * patches are relative to the sink's position when the replay starts.
 */
export class ReplaySink implements ByteSink {
  readonly seekable = true;
  private readonly base: number;
  private readonly patches: PendingPatch[];

  constructor(
    private readonly inner: ByteSink,
    patches: readonly Patch[],
    /** The error for a replay that does not match its rehearsal (`offset` from the start of the disk). */
    private readonly changed: (offset: number, detail: string) => Error = (offset, detail) =>
      new SourceChangedError({ format: 'disk', detail: `byte ${offset} of the disk: ${detail}`, hint: 'keep the sources unchanged while the disk is written' }),
  ) {
    this.base = inner.position;
    this.patches = patches.map((p, seq) => ({ offset: p.offset, bytes: p.bytes, seq, replayed: false }));
  }

  get position(): number {
    return this.inner.position;
  }

  /** Patches overlapping [start, end), in rehearsal order. */
  private hits(start: number, end: number): PendingPatch[] {
    return this.patches.filter((p) => p.offset < end && p.offset + p.bytes.byteLength > start);
  }

  /** Lay the patches over `buf`, which holds the disk's bytes from `start`. */
  private static overlay(buf: Uint8Array, start: number, hits: readonly PendingPatch[]): void {
    for (const p of hits) {
      const from = Math.max(p.offset, start);
      const to = Math.min(p.offset + p.bytes.byteLength, start + buf.byteLength);
      if (to > from) buf.set(p.bytes.subarray(from - p.offset, to - p.offset), from - start);
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    const start = this.inner.position - this.base;
    const hits = this.hits(start, start + chunk.byteLength);
    if (hits.length === 0) return this.inner.write(chunk);
    const buf = copyBytes(chunk);
    ReplaySink.overlay(buf, start, hits);
    await this.inner.write(buf);
  }

  async writeZeros(length: number): Promise<void> {
    if (length <= 0) return;
    const start = this.inner.position - this.base;
    const end = start + length;
    const hits = this.hits(start, end).sort((a, b) => a.offset - b.offset);
    if (hits.length === 0) return writeZeros(this.inner, length);
    // Zeros between clusters of patched bytes stay zeros (holes); each cluster goes out as data.
    let at = start;
    let i = 0;
    while (i < hits.length) {
      const lo = Math.max(start, hits[i]!.offset);
      let hi = Math.min(end, hits[i]!.offset + hits[i]!.bytes.byteLength);
      let j = i + 1;
      while (j < hits.length && hits[j]!.offset <= hi) {
        hi = Math.max(hi, Math.min(end, hits[j]!.offset + hits[j]!.bytes.byteLength));
        j++;
      }
      await writeZeros(this.inner, lo - at);
      const buf = new Uint8Array(hi - lo);
      ReplaySink.overlay(buf, lo, this.hits(lo, hi));
      await this.inner.write(buf);
      at = hi;
      i = j;
    }
    await writeZeros(this.inner, end - at);
  }

  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    const rel = offset - this.base;
    const p = this.patches.find((q) => !q.replayed && q.offset === rel && equalBytes(q.bytes, chunk));
    if (!p) throw this.changed(rel, `${chunk.byteLength} bytes patched now differ from the rehearsal's`);
    p.replayed = true;
  }

  /** After the writer is done: every patch of the rehearsal was made again. */
  finish(): void {
    const missing = this.patches.find((p) => !p.replayed);
    if (missing) throw this.changed(missing.offset, 'a patch of the rehearsal was not made again');
  }

  async expectSize(end: number): Promise<void> {
    await this.inner.expectSize?.(end);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
  async abort(reason?: unknown): Promise<void> {
    await this.inner.abort?.(reason);
  }
}

/** A piece of a held content, at an offset from the content's start: bytes, or a run of zeros. */
export type HeldPiece = { offset: number; bytes: Uint8Array } | { offset: number; zeros: number };

/**
 * Passes a content's writes through to `parent` (the rehearsal) and keeps a copy of them — the
 * final bytes, with the content's own patches applied — while the copy fits in `budget` bytes
 * (zero runs cost nothing). Offsets are relative to `start` in the parent.
 */
export class HoldingTee implements ByteSink {
  private pieces: HeldPiece[] | undefined = [];
  /** Bytes held (zero runs not counted). */
  heldBytes = 0;

  constructor(
    private readonly parent: ByteSink,
    private readonly start: number,
    private readonly budget: number,
  ) {}

  get position(): number {
    return this.parent.position;
  }
  get seekable(): boolean {
    return this.parent.seekable;
  }
  /** The content's pieces in order, covering it from its start; undefined once past the budget. */
  get kept(): readonly HeldPiece[] | undefined {
    return this.pieces;
  }
  private hold(n: number): boolean {
    if (this.pieces && this.heldBytes + n > this.budget) this.pieces = undefined;
    if (!this.pieces) return false;
    this.heldBytes += n;
    return true;
  }
  async write(chunk: Uint8Array): Promise<void> {
    const at = this.parent.position - this.start;
    await this.parent.write(chunk);
    if (this.hold(chunk.byteLength)) this.pieces!.push({ offset: at, bytes: copyBytes(chunk) });
  }
  async writeZeros(length: number): Promise<void> {
    if (length <= 0) return;
    const at = this.parent.position - this.start;
    await writeZeros(this.parent, length);
    this.pieces?.push({ offset: at, zeros: length });
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    await this.parent.writeAt(offset, chunk);
    if (this.pieces) this.patch(offset - this.start, chunk);
  }
  /** Lay `chunk` over the held pieces; a zero run it touches is split around the bytes. */
  private patch(rel: number, chunk: Uint8Array): void {
    const end = rel + chunk.byteLength;
    const out: HeldPiece[] = [];
    for (const p of this.pieces!) {
      const len = 'bytes' in p ? p.bytes.byteLength : p.zeros;
      const lo = Math.max(rel, p.offset);
      const hi = Math.min(end, p.offset + len);
      if (hi <= lo) {
        out.push(p);
      } else if ('bytes' in p) {
        p.bytes.set(chunk.subarray(lo - rel, hi - rel), lo - p.offset);
        out.push(p);
      } else {
        if (!this.hold(hi - lo)) return;
        if (lo > p.offset) out.push({ offset: p.offset, zeros: lo - p.offset });
        out.push({ offset: lo, bytes: chunk.slice(lo - rel, hi - rel) });
        if (p.offset + len > hi) out.push({ offset: hi, zeros: p.offset + len - hi });
      }
    }
    this.pieces = out;
  }
  async expectSize(end: number): Promise<void> {
    await this.parent.expectSize?.(end);
  }
  async close(): Promise<void> {
    /* the disk owns the output */
  }
  async abort(): Promise<void> {
    /* the disk owns the output */
  }
}
