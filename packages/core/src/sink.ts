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

/**
 * A window of another sink: writes a filesystem inside a partition. Offsets are relative to the
 * window; a write past `length` throws NoSpaceError. Closing it does not close the parent.
 */
export function subSink(parent: ByteSink, offset: number, length: number, what = 'partition'): ByteSink {
  let pos = 0;
  const check = (end: number, start = 0) => {
    if (start < 0) throw new NoSpaceError({ format: 'core', detail: `a write at ${start} starts before the ${what}` });
    if (end > length) {
      throw new NoSpaceError({ format: 'core', detail: `${what} of ${length} bytes is full (needs ${end})`, hint: 'raise the partition size' });
    }
  };
  return {
    get position() {
      return pos;
    },
    get seekable() {
      return parent.seekable;
    },
    async write(chunk) {
      check(pos + chunk.byteLength);
      if (parent.position === offset + pos) await parent.write(chunk);
      else await parent.writeAt(offset + pos, chunk);
      pos += chunk.byteLength;
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
      if (parent.position === offset + pos) await writeZeros(parent, n);
      else {
        for (let done = 0; done < n; ) {
          const k = Math.min(n - done, ZERO_CHUNK.byteLength);
          await parent.writeAt(offset + pos + done, ZERO_CHUNK.subarray(0, k));
          done += k;
        }
      }
      pos += n;
    },
    async close() {
      /* the parent owns the output */
    },
    async abort() {
      /* the parent owns the output */
    },
  };
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
