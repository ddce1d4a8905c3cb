/**
 * One image inside another (STYLE.md "Composing images"): an initramfs or a FAT ESP as a file of
 * an ISO, a squashfs as a file of another image. The container needs the inner image's size
 * before its content (directory records, extents), so:
 *
 * - when the inner plan knows its exact size and writes front to back (`sizeBytes` set,
 *   `needsSeekableSink` false: a FAT volume, an uncompressed cpio archive, an ISO), the inner
 *   image is written while the container copies it, through `streamImage`: no temporary file, no
 *   copy in memory (one chunk at a time is handed over);
 * - otherwise (a compressed initramfs, a squashfs) it is written to a spool first (memory up to a
 *   bound, then a temporary file: `nodeSpoolSink` in Node) and read back from there.
 *
 * `imageContent(plan)` picks the way and says which (`how`): 'stream', 'memory' or 'file'. The
 * result is what @imgkit/iso9660 takes as `IsoContent` ({ size, read() }) and what a memoryTree
 * file takes as `content` and `size`.
 */
import { ErrorCodes, ImgkitError } from './errors.js';
import type { ImagePlan } from './plan.js';
import type { ByteSink } from './sink.js';
import { spoolSink, type Spool } from './spool.js';

/** An image ready to be a file's content in another image. */
export interface ImageContent {
  /** Its exact size in bytes. */
  readonly size: number;
  /** How it reaches the container: written while copied ('stream'), or spooled first ('memory', 'file'). */
  readonly how: 'stream' | 'memory' | 'file';
  /** Its bytes, in order (views: copy what you keep). May be called more than once. */
  read(): AsyncIterable<Uint8Array>;
  /** Free the spool (memory, temporary file); nothing to do for a stream. */
  dispose(): Promise<void>;
}

export interface ImageContentOptions {
  /** What the image is, in messages ('the initramfs'). @default 'the image' */
  label?: string;
  /**
   * Makes the spool for an image whose size only writing tells. @default spoolSink({ label }):
   * memory only, up to 64 MiB (pass `() => nodeSpoolSink({ label })` in Node to go on in a temporary file)
   */
  spool?: () => Spool;
}

const ZEROS = new Uint8Array(1 << 20);

/**
 * The bytes `plan.write` produces, as an async iterable: each read() runs the writer into a sink
 * that hands every chunk to the consumer and waits until the consumer asks for the next one (no
 * copy, one chunk in flight). Sequential only: a plan that needs a seekable sink is refused. With
 * `sizeBytes`, a writer that produced another length is E_SOURCE_CHANGED.
 */
export function streamImage(plan: ImagePlan, options: { label?: string } = {}): AsyncIterable<Uint8Array> {
  const label = options.label ?? 'the image';
  if (plan.needsSeekableSink) {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
      format: 'core',
      detail: `${label} is written with patches to earlier bytes, so it cannot be streamed into another image`,
      hint: 'spool it first (imageContent does)',
    });
  }
  const expected = plan.sizeBytes;
  return {
    async *[Symbol.asyncIterator]() {
      type Handoff = { chunk: Uint8Array; taken: () => void; refused: (e: unknown) => void };
      let pending: Handoff | null = null;
      /** Yielded, not yet released: the consumer holds the chunk. */
      let held: Handoff | null = null;
      let wake: (() => void) | null = null;
      let finished = false;
      let failure: { error: unknown } | undefined;
      let stopped = false;
      const signal = () => {
        const w = wake;
        wake = null;
        w?.();
      };
      const stopError = () => new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', detail: `the reader of ${label} stopped before its end` });
      const hand = (chunk: Uint8Array) =>
        new Promise<void>((resolve, reject) => {
          if (stopped) return reject(stopError());
          pending = { chunk, taken: resolve, refused: reject };
          signal();
        });
      let pos = 0;
      const sink: ByteSink = {
        seekable: false,
        get position() {
          return pos;
        },
        async write(chunk) {
          if (chunk.byteLength === 0) return;
          pos += chunk.byteLength;
          await hand(chunk);
        },
        async writeAt() {
          throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', detail: `${label} is streamed into its container and cannot seek back` });
        },
        async writeZeros(n) {
          while (n > 0) {
            const k = Math.min(n, ZEROS.byteLength);
            pos += k;
            await hand(ZEROS.subarray(0, k));
            n -= k;
          }
        },
        async close() {},
      };
      const writing = plan.write(sink).then(
        () => {
          finished = true;
          signal();
        },
        (error: unknown) => {
          failure = { error };
          finished = true;
          signal();
        },
      );
      try {
        for (;;) {
          const p = pending as Handoff | null;
          if (p) {
            pending = null;
            held = p;
            yield p.chunk;
            held = null;
            p.taken();
            continue;
          }
          if (finished) break;
          await new Promise<void>((r) => (wake = r));
        }
        if (failure) throw failure.error;
        if (expected !== undefined && pos !== expected) {
          throw new ImgkitError(ErrorCodes.SOURCE_CHANGED, { format: 'core', detail: `${label} was planned as ${expected} bytes, but its writer produced ${pos}` });
        }
      } finally {
        if (!finished) {
          // The consumer stopped early (an error in the container): end the writer too.
          stopped = true;
          for (const p of [held, pending] as (Handoff | null)[]) p?.refused(stopError());
          held = null;
          pending = null;
          await writing;
        }
      }
    },
  };
}

/**
 * Make `plan`'s image the content of a file in another image: streamed when its size is known
 * and it is written front to back, else spooled now (see the top of this file). Call `dispose()`
 * once the container is written.
 */
export async function imageContent(plan: ImagePlan, options: ImageContentOptions = {}): Promise<ImageContent> {
  const label = options.label ?? 'the image';
  if (plan.sizeBytes !== undefined && !plan.needsSeekableSink) {
    const size = plan.sizeBytes;
    return { size, how: 'stream', read: () => streamImage(plan, { label }), dispose: async () => undefined };
  }
  const spool = options.spool ? options.spool() : spoolSink({ label });
  try {
    await plan.write(spool);
    await spool.close();
  } catch (err) {
    await spool.dispose();
    throw err;
  }
  return { size: spool.sizeBytes, how: spool.where, read: () => spool.read(), dispose: () => spool.dispose() };
}
