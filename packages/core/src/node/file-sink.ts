/**
 * Node sinks: an output path of any kind (see output-target.ts), and standard output.
 *
 * - A regular file is written under a temporary name beside the target and renamed into place on
 *   `close()`. The temporary file is created with O_CREAT|O_EXCL|O_NOFOLLOW under a random name, so
 *   a link planted in the directory is never written through. A replaced file keeps its permission
 *   bits (and, for root, its owner), as it would when written in place by `cp` or `>`.
 * - A block device is written in place (no temporary name, nothing removed on failure): opened with
 *   O_EXCL, which Linux refuses while the device or one of its partitions is mounted; its size is
 *   found first, and a write past it is E_NO_SPACE. `expectSize` lets a writer that knows its size
 *   (the ISO, after planning) fail before the first byte. It is fsynced on close.
 * - A character device or FIFO is written in place too. Whether it can seek is asked of the kernel
 *   with a zero-length positioned write (ESPIPE: a pipe, a terminal; /dev/null can); one that cannot
 *   gets sequential writes and refuses `writeAt`.
 *
 * All of them coalesce small writes into a 1 MiB buffer and patch bytes with positioned writes
 * (inside the buffer, or on disk when already flushed). Only a regular file turns `writeZeros` into
 * holes (it moves the position, and `close()` extends the file with `ftruncate`, so a mostly-empty
 * 5 GiB image costs no disk); a device gets real zeros, since it holds old data.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { constants as fsc } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { Writable } from 'node:stream';
import { ErrorCodes, ImgkitError, NoSpaceError, type ByteSink } from '@imgkit/core';
import { inspectOutput, type OutputKind, type OutputTarget } from './output-target.js';

export interface FileSinkOptions {
  /** Permission bits of a new file (before the umask); an existing file keeps its own. @default 0o666 */
  mode?: number;
  /** fsync before renaming into place (files) or closing (devices). @default false for files, true for block devices */
  fsync?: boolean;
  /** Size of the write-coalescing buffer. @default 1048576 */
  bufferBytes?: number;
  /** What `inspectOutput(path)` found, when the caller already asked. */
  target?: OutputTarget;
}

/** Zero runs at least this long become holes; shorter ones are written. */
const HOLE_MIN_BYTES = 64 * 1024;

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** The temporary name is `.<name>.imgkit-<random>.tmp`, with <name> cut to keep it under NAME_MAX (255 bytes). */
const TEMP_NAME_MAX_BASE_BYTES = 200;

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

function tempNameIn(dir: string, base: string): string {
  let b = base;
  while (Buffer.byteLength(b) > TEMP_NAME_MAX_BASE_BYTES) b = b.slice(0, -1);
  return nodePath.join(dir, `.${b}.imgkit-${randomBytes(8).toString('hex')}.tmp`);
}

/**
 * Create `path` exclusively (O_CREAT|O_EXCL), never through a symlink (O_NOFOLLOW: a link at the
 * name is EEXIST like any other file), for writing.
 */
export function createExclusive(path: string, mode: number): Promise<fsp.FileHandle> {
  return fsp.open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
}

/** Temporary files of this process's open file sinks, from the moment they exist. */
const liveTempFiles = new Set<string>();

/**
 * For a signal handler that exits right after: remove every temporary file an open file sink has
 * (also one created but not yet handed to the caller), synchronously.
 */
export function removeTempFilesSync(): void {
  for (const p of liveTempFiles) fs.rmSync(p, { force: true });
  liveTempFiles.clear();
}

export interface FileSink extends ByteSink {
  /** What the output is: a regular file (temporary + rename), or a device or FIFO written in place. */
  readonly kind: OutputKind;
  /** The final path (absolute, symlinks followed). */
  readonly path: string;
  /** The temporary file written until `close()` (regular files only). */
  readonly tempPath: string | undefined;
  /** Size of a block device; a write past it is E_NO_SPACE. */
  readonly capacityBytes: number | undefined;
  /** Bytes handed to the OS so far: for a device, how much of its old content this image has replaced. */
  readonly bytesWritten: number;
  readonly state: 'open' | 'closed' | 'aborted';
  /**
   * For a signal handler that exits right after: remove the temporary file now, synchronously
   * (devices and FIFOs keep what they were sent). Later calls fail as aborted.
   */
  abortSync(): void;
}

/**
 * A sink writing `path`: a regular file through a temporary file beside it, a device or FIFO in
 * place (symlinks followed). Refuses what `inspectOutput` refuses.
 */
export async function fileSink(path: string, opts: FileSinkOptions = {}): Promise<FileSink> {
  const t = opts.target ?? inspectOutput(path);
  const mapError = errorMapper(path, t.kind);
  let fh: fsp.FileHandle;
  let tempPath: string | undefined;
  let capacity: number | undefined;
  let positioned = true;
  if (t.kind === 'file') {
    const dir = nodePath.dirname(t.target);
    const newMode = opts.mode ?? (t.mode !== undefined ? t.mode & 0o777 : 0o666);
    for (let attempt = 0; ; attempt++) {
      tempPath = tempNameIn(dir, nodePath.basename(t.target));
      try {
        fh = await createExclusive(tempPath, newMode);
        liveTempFiles.add(tempPath);
        break;
      } catch (err) {
        if (errCode(err) === 'EEXIST' && attempt < 8) continue;
        throw mapError(err, 'creating the temporary file');
      }
    }
    if (t.exists && opts.mode === undefined) {
      // open() applied the umask; the replacement keeps the old file's bits and owner.
      try {
        await fh.chmod(t.mode! & 0o777);
        if (process.geteuid?.() === 0 && (t.uid !== 0 || t.gid !== 0)) await fh.chown(t.uid!, t.gid!);
      } catch (err) {
        await fh.close().catch(() => undefined);
        await fsp.rm(tempPath, { force: true });
        liveTempFiles.delete(tempPath);
        throw mapError(err, 'setting the mode of the temporary file');
      }
    }
  } else {
    // In place: no O_CREAT, no O_TRUNC. O_NOFOLLOW: the final target was not a symlink when
    // inspected; one swapped in since is refused (ELOOP) rather than followed.
    const flags = fsc.O_NOFOLLOW | (t.kind === 'block' ? fsc.O_RDWR | fsc.O_EXCL : fsc.O_WRONLY);
    try {
      fh = await fsp.open(t.target, flags);
    } catch (err) {
      const code = errCode(err);
      if (t.kind === 'block' && code === 'EBUSY') {
        throw new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path, detail: 'the device is in use: it or one of its partitions is mounted, or another program holds it', hint: 'unmount it first', cause: err });
      }
      throw mapError(err, `opening the ${t.kind === 'fifo' ? 'FIFO' : 'device'}`);
    }
    const st = await fh.stat();
    const same = t.kind === 'block' ? st.isBlockDevice() : t.kind === 'char' ? st.isCharacterDevice() : st.isFIFO();
    if (!same || st.ino !== t.ino || st.dev !== t.dev) {
      await fh.close();
      throw new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path, detail: 'the output was replaced while it was being opened', hint: 'try again' });
    }
    if (t.kind === 'block') capacity = deviceSize(fh.fd);
    else positioned = canSeek(fh.fd);
  }
  return bufferedSink(fh, {
    path,
    target: t,
    tempPath,
    capacity,
    positioned,
    holes: t.kind === 'file',
    bufferBytes: opts.bufferBytes ?? 1 << 20,
    fsync: opts.fsync ?? t.kind === 'block',
    mapError,
  });
}

function errorMapper(path: string, kind: OutputKind): (err: unknown, what: string) => unknown {
  return (err, what) => {
    if (err instanceof ImgkitError) return err;
    const code = errCode(err);
    if (code !== undefined && NO_SPACE.has(code)) {
      const hint = kind === 'file' ? 'free space on the output filesystem or write elsewhere' : 'the device is full: use a bigger one, or write to a file';
      return new NoSpaceError({ format: 'core', path, detail: `no space left while ${what} (${code})`, hint, cause: err });
    }
    if (code === 'EPIPE') {
      return new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path, detail: `the reader of the output went away while ${what} (EPIPE)`, hint: 'keep the reading program running until imgkit ends', cause: err });
    }
    return new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path, detail: `cannot write the output while ${what}: ${code ?? String(err)}`, cause: err });
  };
}

/**
 * Size of a block device. fstat reports 0 and Node has no lseek or BLKGETSIZE64, but a positioned
 * read returns a byte below the end and none at or past it: binary search over 512-byte sectors
 * (a block device's size is a multiple of its logical block size, at least 512). ~50 reads.
 */
function deviceSize(fd: number): number {
  const one = Buffer.alloc(1);
  const hasSector = (n: number) => fs.readSync(fd, one, 0, 1, n * 512 - 1) === 1; // is sector n-1 there?
  let lo = 0;
  let hi = 1;
  while (hasSector(hi)) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (hasSector(mid)) lo = mid;
    else hi = mid;
  }
  return lo * 512;
}

/**
 * Whether positioned writes work: the kernel refuses pwrite with ESPIPE on pipes and on devices
 * that cannot seek (terminals, tapes), before looking at the length, so a zero-length one asks
 * without writing anything.
 */
function canSeek(fd: number): boolean {
  try {
    fs.writeSync(fd, Buffer.alloc(0), 0, 0, 0);
  } catch (err) {
    if (errCode(err) === 'ESPIPE') return false;
  }
  return true;
}

interface BufferedConfig {
  path: string;
  target: OutputTarget;
  tempPath: string | undefined;
  capacity: number | undefined;
  /** Positioned writes (seekable) or sequential ones (pipes). */
  positioned: boolean;
  /** `writeZeros` leaves holes (regular files). */
  holes: boolean;
  bufferBytes: number;
  fsync: boolean;
  mapError: (err: unknown, what: string) => unknown;
}

function bufferedSink(fhIn: fsp.FileHandle, c: BufferedConfig): FileSink {
  const { path, mapError } = c;
  const kind = c.target.kind;
  let fh: fsp.FileHandle | null = fhIn;
  const cap = c.bufferBytes;
  const buf = new Uint8Array(cap);
  let bufStart = 0; // file offset of buf[0]
  let bufLen = 0;
  let pos = 0; // logical end (includes pending holes)
  let written = 0;
  let state: 'open' | 'closed' | 'aborted' = 'open';
  const what = kind === 'file' ? 'file' : kind === 'fifo' ? 'FIFO' : 'device';

  const handle = (): fsp.FileHandle => {
    if (state !== 'open' || fh === null) {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', path, detail: `the output is already ${state}` });
    }
    return fh;
  };
  const fits = (end: number, exact = false) => {
    if (c.capacity !== undefined && end > c.capacity) {
      throw new NoSpaceError({
        format: 'core',
        path,
        detail: `the image does not fit: the device holds ${c.capacity} bytes, the image ${exact ? 'is' : 'needs at least'} ${end}`,
        hint: 'use a bigger device, or write to a file',
      });
    }
  };
  const writeFully = async (data: Uint8Array, at: number): Promise<void> => {
    const h = handle();
    let done = 0;
    try {
      while (done < data.byteLength) {
        const { bytesWritten } = await h.write(data, done, data.byteLength - done, c.positioned ? at + done : null);
        done += bytesWritten;
        written += bytesWritten;
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
  const appendZeros = async (length: number): Promise<void> => {
    // Devices and pipes hold old or no data: zeros are written (through the buffer).
    while (length > 0) {
      if (bufLen === cap) await flush();
      const n = Math.min(length, cap - bufLen);
      buf.fill(0, bufLen, bufLen + n);
      bufLen += n;
      pos += n;
      length -= n;
    }
  };
  const seekRefused = () =>
    new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', path, detail: `the ${kind === 'fifo' ? 'FIFO' : 'device'} cannot seek back`, hint: 'write to a regular file or a block device' });

  const sink: FileSink = {
    kind,
    seekable: c.positioned,
    tempPath: c.tempPath,
    path: c.target.target,
    capacityBytes: c.capacity,
    get bytesWritten() {
      return written;
    },
    get state() {
      return state;
    },
    get position() {
      return pos;
    },
    async write(chunk) {
      handle();
      if (chunk.byteLength === 0) return;
      fits(pos + chunk.byteLength);
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
      if (!c.positioned) throw seekRefused();
      const end = offset + chunk.byteLength;
      if (!Number.isSafeInteger(offset) || offset < 0 || end > pos) {
        throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', field: 'sink.writeAt', detail: `writeAt ${offset}+${chunk.byteLength} is outside the ${pos} bytes written`, hint: 'a file sink patches only bytes already written' });
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
      fits(pos + length);
      if (!c.holes) return appendZeros(length);
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
    async expectSize(end) {
      handle();
      fits(end, true);
    },
    async close() {
      const h = handle();
      try {
        await flush();
        if (c.holes) {
          const { size } = await h.stat();
          if (size < pos) await h.truncate(pos);
        }
        if (c.fsync) await h.sync();
      } catch (err) {
        throw mapError(err, `finishing the ${what}`);
      }
      state = 'closed';
      fh = null;
      await h.close();
      if (c.tempPath === undefined) return;
      try {
        await fsp.rename(c.tempPath, c.target.target);
      } catch (err) {
        await fsp.rm(c.tempPath, { force: true });
        throw mapError(err, `renaming ${c.tempPath} into place`);
      } finally {
        liveTempFiles.delete(c.tempPath);
      }
    },
    async abort() {
      if (state === 'aborted') return;
      const h = fh;
      const wasOpen = state === 'open';
      state = 'aborted';
      fh = null;
      if (h) await h.close().catch(() => undefined);
      if (wasOpen && c.tempPath !== undefined) {
        await fsp.rm(c.tempPath, { force: true });
        liveTempFiles.delete(c.tempPath);
      }
    },
    abortSync() {
      if (state !== 'open') return;
      state = 'aborted';
      // The descriptor closes when the process exits; an async write in flight lands in an unlinked file.
      if (c.tempPath !== undefined) {
        fs.rmSync(c.tempPath, { force: true });
        liveTempFiles.delete(c.tempPath);
      }
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
