/**
 * Byte sinks: where images go. Writers await every `write` (that is the backpressure) and patch
 * bytes they already wrote with `writeAt` (squashfs superblock, qcow2 tables) when the sink is
 * seekable. Output that may be read as valid while half-written goes to a temporary name and is
 * renamed on `close()`; `abort()` removes it. Outputs that cannot be renamed (a block device, a
 * pipe) are written in place; `abort()` then stops writing and the caller says what is left.
 */
import { copyBytes } from './bytes.js';
import { ErrorCodes, ImgkitError, NoSpaceError } from './errors.js';

export interface ByteSink {
  /** Bytes written so far by `write` (the end of the sequential stream). */
  readonly position: number;
  /** Whether `writeAt` works (files, memory) or not (stdout, Web streams). */
  readonly seekable: boolean;
  write(chunk: Uint8Array): Promise<void>;
  /** Overwrite bytes already written (offset + length ≤ position). */
  writeAt(offset: number, chunk: Uint8Array): Promise<void>;
  /**
   * Append `length` zero bytes. Sinks that can leave holes (sparse files) do so; the default
   * writes zeros in bounded chunks.
   */
  writeZeros?(length: number): Promise<void>;
  /**
   * The writer's image ends at `end` (an offset: the position at entry plus the image size). A sink
   * with a fixed size (a block device, a partition window) refuses now, with E_NO_SPACE, before the
   * first byte is written. Writers that know their size before writing call it (`expectSinkSize`).
   */
  expectSize?(end: number): Promise<void>;
  /** Finish: flush, and for file sinks rename the temporary file into place. */
  close(): Promise<void>;
  /** Give up: release resources and remove any partial output. Safe to call after a failure. */
  abort?(reason?: unknown): Promise<void>;
}

const ZERO_CHUNK = new Uint8Array(1 << 20);

/** Append `length` zero bytes to a sink, as holes where it can. */
export async function writeZeros(sink: ByteSink, length: number): Promise<void> {
  if (length <= 0) return;
  if (sink.writeZeros) return sink.writeZeros(length);
  while (length > 0) {
    const n = Math.min(length, ZERO_CHUNK.byteLength);
    await sink.write(ZERO_CHUNK.subarray(0, n));
    length -= n;
  }
}

/** Tell the sink where the image will end (see `ByteSink.expectSize`); a no-op for sinks without a size. */
export async function expectSinkSize(sink: ByteSink, end: number): Promise<void> {
  await sink.expectSize?.(end);
}

/** Pad the sink with zeros up to a multiple of `align` bytes. */
export async function padSinkTo(sink: ByteSink, align: number): Promise<void> {
  const r = sink.position % align;
  if (r !== 0) await writeZeros(sink, align - r);
}

/** Refuse a non-seekable sink for a writer that patches earlier bytes. */
export function requireSeekable(sink: ByteSink, format: string, why: string): void {
  if (!sink.seekable) {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
      format,
      detail: `this writer needs a seekable output: ${why}`,
      hint: 'write to a file instead of standard output or a stream',
    });
  }
}

/**
 * Run `fn` against a sink and close it; if either fails, abort the sink (removing partial output)
 * and rethrow.
 */
export async function withSink<T>(sink: ByteSink, fn: (sink: ByteSink) => Promise<T>): Promise<T> {
  try {
    const result = await fn(sink);
    await sink.close();
    return result;
  } catch (err) {
    try {
      await sink.abort?.(err);
    } catch {
      /* keep the first error */
    }
    throw err;
  }
}

/** A growable in-memory sink (tests, browser downloads of small images). */
export class MemorySink implements ByteSink {
  private buf: Uint8Array;
  private len = 0;
  readonly seekable = true;
  closed = false;

  constructor(initialCapacity = 1 << 16, private readonly maxBytes = Number.MAX_SAFE_INTEGER) {
    this.buf = new Uint8Array(initialCapacity);
  }
  get position(): number {
    return this.len;
  }
  private ensure(n: number): void {
    if (n > this.maxBytes) {
      throw new NoSpaceError({ format: 'core', detail: `memory sink limit of ${this.maxBytes} bytes reached` });
    }
    if (n <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2 || 1024;
    while (cap < n) cap *= 2;
    const next = new Uint8Array(Math.min(cap, Math.max(n, this.maxBytes === Number.MAX_SAFE_INTEGER ? cap : this.maxBytes)));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.ensure(this.len + chunk.byteLength);
    this.buf.set(chunk, this.len);
    this.len += chunk.byteLength;
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    if (offset < 0 || offset + chunk.byteLength > this.len) {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', field: 'sink.writeAt', detail: `writeAt ${offset}+${chunk.byteLength} is outside the ${this.len} bytes written`, hint: 'a memory sink patches only bytes already written' });
    }
    this.buf.set(chunk, offset);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  async abort(): Promise<void> {
    this.len = 0;
  }
  /** The bytes written (a view; copy it if the sink is written again). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** How a window names itself in errors (the partition it is), and the way out it suggests. */
export interface SubSinkOptions {
  /** What the window is, in messages: 'partition 2 ("system-a")', 'El Torito image'. @default 'partition' */
  label?: string;
  /** Format named in its errors. @default 'core' */
  format?: string;
  /** Field of the caller's input that sets the window's size ('partitions[1].size'), put on E_NO_SPACE. @default none */
  field?: string;
  /** The way out on E_NO_SPACE. @default 'raise the partition size' */
  hint?: string;
}

/** A window of another sink (see `subSink`). */
export interface SubSink extends ByteSink {
  /** Where the window starts in the parent, and its length. */
  readonly offset: number;
  readonly length: number;
  /**
   * Bytes the content used: the end of what was written into the window (its `position`), not
   * counting what `finish()` padded. A filesystem's real size inside its partition.
   */
  readonly bytesUsed: number;
  /**
   * Pad the window with zeros up to its end (holes in a file sink), so the parent is at the
   * window's end, and resolve with `bytesUsed`. Later writes are refused. Idempotent.
   */
  finish(): Promise<number>;
}

/**
 * A window of `length` bytes at `offset` of `parent`: writes an image inside a partition (or any
 * region of a bigger image). Offsets and `position` are relative to the window, so a writer that
 * starts where its sink is (every imgkit writer) puts its image at `offset`.
 *
 * - The parent may be behind the window: the gap is filled with zeros first (`writeZeros`: holes in
 *   a file sink), at the first write.
 * - The parent may be past the window's start (content written out of order, a window over a disk
 *   already written): the window then patches with `writeAt`, and appends whatever goes beyond the
 *   parent's end. A parent that cannot seek is refused with E_SINK_UNSUPPORTED, at once when it is
 *   already past the start when the window is made, otherwise at the write that would go back.
 * - A write past the window's end is E_NO_SPACE (NoSpaceError) naming the window (`label`), its
 *   length and the bytes needed; `expectSize` checks the same before anything is written and
 *   passes the end on to the parent (a block device checks its own size).
 * - `bytesUsed` reports the content's end; `finish()` pads to the window's end.
 *
 * `close()` and `abort()` leave the parent alone: the parent owns the output.
 */
export function subSink(parent: ByteSink, offset: number, length: number, options: string | SubSinkOptions = {}): SubSink {
  const o: SubSinkOptions = typeof options === 'string' ? { label: options } : options;
  const label = o.label ?? 'partition';
  const format = o.format ?? 'core';
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format, detail: `${label}: a window needs a whole, non-negative offset and length (got ${offset} and ${length})` });
  }
  const refuseSeek = (at: number) =>
    new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
      format,
      detail: `${label} starts at byte ${offset} and is written at byte ${at}, but the output is already at byte ${parent.position} and cannot seek back`,
      hint: 'write the parts of the image in offset order, or to a seekable output (a file)',
    });
  if (parent.position > offset && !parent.seekable) throw refuseSeek(offset);
  let pos = 0;
  let used = 0;
  let finished = false;
  const check = (end: number, start = 0) => {
    if (finished) throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format, detail: `${label} is already finished (padded to its end)` });
    if (start < 0) throw new NoSpaceError({ format, ...(o.field !== undefined ? { field: o.field } : {}), detail: `a write at ${start} starts before the ${label}` });
    if (end > length) {
      throw new NoSpaceError({
        format,
        ...(o.field !== undefined ? { field: o.field } : {}),
        detail: `${label} of ${length} bytes is full (needs ${end})`,
        hint: o.hint ?? 'raise the partition size',
      });
    }
  };
  /** Bring the parent up to `abs` (zeros: holes), or see that it is past it and can go back. */
  const reach = async (abs: number): Promise<void> => {
    if (parent.position < abs) await writeZeros(parent, abs - parent.position);
    else if (parent.position > abs && !parent.seekable) throw refuseSeek(abs);
  };
  /** Put `n` bytes at parent offset `abs`: patched where the parent already has bytes, appended after. */
  const put = async (abs: number, n: number, bytes: Uint8Array | null): Promise<void> => {
    await reach(abs);
    const patch = Math.min(n, parent.position - abs);
    for (let done = 0; done < patch; ) {
      const k = bytes ? patch - done : Math.min(patch - done, ZERO_CHUNK.byteLength);
      await parent.writeAt(abs + done, bytes ? bytes.subarray(done, done + k) : ZERO_CHUNK.subarray(0, k));
      done += k;
    }
    if (patch < n) {
      if (bytes) await parent.write(patch === 0 ? bytes : bytes.subarray(patch));
      else await writeZeros(parent, n - patch);
    }
  };
  const sink: SubSink = {
    offset,
    length,
    get position() {
      return pos;
    },
    get bytesUsed() {
      return used;
    },
    get seekable() {
      return parent.seekable;
    },
    async write(chunk) {
      check(pos + chunk.byteLength);
      if (chunk.byteLength === 0) return;
      await put(offset + pos, chunk.byteLength, chunk);
      pos += chunk.byteLength;
      used = pos;
    },
    async writeAt(at, chunk) {
      check(at + chunk.byteLength, at); // never before the window either
      await parent.writeAt(offset + at, chunk);
    },
    async expectSize(end) {
      check(end);
      await parent.expectSize?.(offset + end);
    },
    async writeZeros(n) {
      check(pos + n);
      if (n <= 0) return;
      await put(offset + pos, n, null);
      pos += n;
      used = pos;
    },
    async finish() {
      if (finished) return used;
      if (pos < length) {
        await put(offset + pos, length - pos, null);
        pos = length;
      }
      finished = true;
      return used;
    },
    async close() {
      /* the parent owns the output */
    },
    async abort() {
      /* the parent owns the output */
    },
  };
  return sink;
}

/** A sink over a Web Streams WritableStream (browser downloads, Node's Writable.toWeb). Sequential only. */
export class WebStreamSink implements ByteSink {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private pos = 0;
  readonly seekable = false;
  constructor(stream: WritableStream<Uint8Array>) {
    this.writer = stream.getWriter();
  }
  get position(): number {
    return this.pos;
  }
  async write(chunk: Uint8Array): Promise<void> {
    await this.writer.ready;
    // The stream may hold on to the chunk: hand it a copy so callers can reuse their buffers.
    await this.writer.write(copyBytes(chunk));
    this.pos += chunk.byteLength;
  }
  async writeAt(): Promise<void> {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', detail: 'a Web stream cannot seek back', hint: 'use a file or memory sink' });
  }
  async close(): Promise<void> {
    await this.writer.close();
  }
  async abort(reason?: unknown): Promise<void> {
    await this.writer.abort(reason);
  }
}

/**
 * Gathers a writer's small writes into one reused buffer (1 MiB by default) and hands the sink
 * long zero runs as `writeZeros` (holes in a file). `space()` + `commit(n)` let a writer read file
 * content straight into the buffer. FAT and ext4 write through it, front to back.
 */
export class BufferedOutput {
  private readonly buf: Uint8Array;
  private fill = 0;
  /** Bytes handed to this output so far (buffered or written). */
  written = 0;
  constructor(
    private readonly sink: ByteSink,
    private readonly bufferBytes = 1 << 20,
  ) {
    this.buf = new Uint8Array(bufferBytes);
  }

  async flush(): Promise<void> {
    if (this.fill === 0) return;
    await this.sink.write(this.buf.subarray(0, this.fill));
    this.fill = 0;
  }
  async bytes(b: Uint8Array): Promise<void> {
    this.written += b.byteLength;
    if (b.byteLength >= this.bufferBytes) {
      await this.flush();
      await this.sink.write(b);
      return;
    }
    let rest = b;
    while (rest.byteLength > 0) {
      const n = Math.min(rest.byteLength, this.bufferBytes - this.fill);
      this.buf.set(rest.subarray(0, n), this.fill);
      this.fill += n;
      rest = rest.subarray(n);
      if (this.fill === this.bufferBytes) await this.flush();
    }
  }
  async zeros(n: number): Promise<void> {
    if (n <= 0) return;
    this.written += n;
    if (n <= this.bufferBytes - this.fill && n < 64 * 1024) {
      this.buf.fill(0, this.fill, this.fill + n);
      this.fill += n;
      return;
    }
    await this.flush();
    await writeZeros(this.sink, n);
  }
  /** Free space in the buffer to read into (flushing first when it is full). */
  async space(): Promise<Uint8Array> {
    if (this.fill === this.bufferBytes) await this.flush();
    return this.buf.subarray(this.fill);
  }
  commit(n: number): void {
    this.fill += n;
    this.written += n;
  }
}
