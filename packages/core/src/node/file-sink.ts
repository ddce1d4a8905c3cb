/**
 * Node sinks: a file written under a temporary name and renamed into place on `close()`, and
 * standard output (sequential, with the stream's backpressure).
 *
 * The file sink coalesces small writes into a 1 MiB buffer, patches bytes with positioned writes
 * (inside the buffer, or on disk when already flushed), and turns `writeZeros` into holes: it only
 * moves the position, and `close()` extends the file with `ftruncate`, so a mostly-empty 5 GiB
 * image costs no disk.
 */
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Writable } from 'node:stream';
import { ErrorCodes, ImgkitError, NoSpaceError, type ByteSink } from '@imgkit/core';

export interface FileSinkOptions {
  /** Permission bits of the new file (before the umask). @default 0o666 */
  mode?: number;
  /** fsync the file before renaming it into place. @default false */
  fsync?: boolean;
  /** Size of the write-coalescing buffer. @default 1048576 */
  bufferBytes?: number;
}

/** Zero runs at least this long become holes; shorter ones are written. */
const HOLE_MIN_BYTES = 64 * 1024;

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

/** The temporary name used beside `target` while it is being written. */
export function tempNameFor(target: string): string {
  return nodePath.join(nodePath.dirname(target), `.${nodePath.basename(target)}.imgkit-${process.pid}.tmp`);
}

export interface FileSink extends ByteSink {
  /** The temporary file written until `close()`. */
  readonly tempPath: string;
  /** The final path. */
  readonly path: string;
}

/** A seekable sink writing `path` through a temporary file beside it. */
export async function fileSink(path: string, opts: FileSinkOptions = {}): Promise<FileSink> {
  const target = nodePath.resolve(path);
  const tempPath = tempNameFor(target);
  const mapError = (err: unknown, what: string): unknown => {
    if (err instanceof ImgkitError) return err;
    const code = errCode(err);
    if (code !== undefined && NO_SPACE.has(code)) {
      return new NoSpaceError({ format: 'core', path, detail: `no space left while ${what} (${code})`, hint: 'free space on the output filesystem or write elsewhere', cause: err });
    }
    return new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path, detail: `cannot write the output while ${what}: ${code ?? String(err)}`, cause: err });
  };
  let fh: fsp.FileHandle | null;
  try {
    fh = await fsp.open(tempPath, 'w', opts.mode ?? 0o666);
  } catch (err) {
    throw mapError(err, 'creating the temporary file');
  }
  const cap = opts.bufferBytes ?? 1 << 20;
  const buf = new Uint8Array(cap);
  let bufStart = 0; // file offset of buf[0]
  let bufLen = 0;
  let pos = 0; // logical end (includes pending holes)
  let state: 'open' | 'closed' | 'aborted' = 'open';

  const handle = (): fsp.FileHandle => {
    if (state !== 'open' || fh === null) {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', path, detail: `the output is already ${state}` });
    }
    return fh;
  };
  const writeFully = async (data: Uint8Array, at: number): Promise<void> => {
    const h = handle();
    let done = 0;
    try {
      while (done < data.byteLength) {
        const { bytesWritten } = await h.write(data, done, data.byteLength - done, at + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw mapError(err, `writing at offset ${at + done}`);
    }
  };
  const flush = async (): Promise<void> => {
    if (bufLen > 0) await writeFully(buf.subarray(0, bufLen), bufStart);
    bufStart = pos;
    bufLen = 0;
  };

  const sink: FileSink = {
    seekable: true,
    tempPath,
    path: target,
    get position() {
      return pos;
    },
    async write(chunk) {
      handle();
      if (chunk.byteLength === 0) return;
      if (bufLen + chunk.byteLength > cap) await flush();
      if (chunk.byteLength >= cap) {
        await writeFully(chunk, pos); // big chunks go straight to disk
        pos += chunk.byteLength;
        bufStart = pos;
        return;
      }
      buf.set(chunk, bufLen);
      bufLen += chunk.byteLength;
      pos += chunk.byteLength;
    },
    async writeAt(offset, chunk) {
      handle();
      const end = offset + chunk.byteLength;
      if (!Number.isSafeInteger(offset) || offset < 0 || end > pos) {
        throw new RangeError(`writeAt ${offset}+${chunk.byteLength} is outside the ${pos} bytes written`);
      }
      // The part inside the buffer is patched there; parts before it (flushed bytes or holes) on disk.
      const bufEnd = bufStart + bufLen;
      const lo = Math.max(offset, bufStart);
      const hi = Math.min(end, bufEnd);
      if (lo < hi) buf.set(chunk.subarray(lo - offset, hi - offset), lo - bufStart);
      if (offset < bufStart) await writeFully(chunk.subarray(0, Math.min(end, bufStart) - offset), offset);
      if (end > bufEnd && bufEnd > offset) await writeFully(chunk.subarray(bufEnd - offset), bufEnd);
    },
    async writeZeros(length) {
      handle();
      if (length <= 0) return;
      if (length < HOLE_MIN_BYTES && bufLen + length <= cap) {
        buf.fill(0, bufLen, bufLen + length); // small runs: not worth a hole
        bufLen += length;
        pos += length;
        return;
      }
      await flush();
      pos += length; // a hole: nothing written; close() extends the file to `pos`
      bufStart = pos;
    },
    async close() {
      const h = handle();
      try {
        await flush();
        const { size } = await h.stat();
        if (size < pos) await h.truncate(pos);
        if (opts.fsync) await h.sync();
      } catch (err) {
        throw mapError(err, 'finishing the file');
      }
      state = 'closed';
      fh = null;
      await h.close();
      try {
        await fsp.rename(tempPath, target);
      } catch (err) {
        await fsp.rm(tempPath, { force: true });
        throw mapError(err, `renaming ${tempPath} into place`);
      }
    },
    async abort() {
      if (state === 'aborted') return;
      const h = fh;
      const wasOpen = state === 'open';
      state = 'aborted';
      fh = null;
      if (h) await h.close().catch(() => undefined);
      if (wasOpen) await fsp.rm(tempPath, { force: true });
    },
  };
  return sink;
}

/**
 * A sequential sink over a Node Writable (standard output by default). Not seekable; `writeZeros`
 * writes zero bytes. Awaiting `write` waits for 'drain' when the stream's buffer is full.
 */
export function stdoutSink(stream: Writable = process.stdout): ByteSink {
  let pos = 0;
  let failed: unknown = null;
  const onError = (err: unknown) => {
    failed ??= err;
  };
  stream.on('error', onError);
  const check = () => {
    if (failed !== null) {
      const code = errCode(failed);
      if (code !== undefined && NO_SPACE.has(code)) throw new NoSpaceError({ format: 'core', path: '-', detail: `no space left (${code})`, cause: failed });
      throw new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path: '-', detail: `cannot write to the output stream: ${code ?? String(failed)}`, cause: failed });
    }
  };
  const waitDrain = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        stream.off('drain', done);
        stream.off('error', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('error', done);
      stream.on('close', done);
    });
  const zeros = new Uint8Array(1 << 20);
  const sink: ByteSink = {
    seekable: false,
    get position() {
      return pos;
    },
    async write(chunk) {
      check();
      if (chunk.byteLength === 0) return;
      // The stream may keep the chunk queued; callers reuse their buffers, so hand it a copy.
      const ok = stream.write(Buffer.from(chunk));
      pos += chunk.byteLength;
      if (!ok) await waitDrain();
      check();
    },
    async writeAt() {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', path: '-', detail: 'standard output cannot seek back', hint: 'write to a file instead of "-"' });
    },
    async writeZeros(length) {
      while (length > 0) {
        const n = Math.min(length, zeros.byteLength);
        await sink.write(zeros.subarray(0, n));
        length -= n;
      }
    },
    async close() {
      check();
      if (stream.writableNeedDrain) await waitDrain();
      stream.off('error', onError);
      check();
    },
    async abort() {
      stream.off('error', onError);
    },
  };
  return sink;
}
