/**
 * Random access to a host file (a tar archive used as a source, an input image), and a spool that
 * gives random access to a stream read once (a pipe, standard input).
 *
 * Why a spool and not one sequential pass: a tree is walked (all metadata) before any content is
 * read, and writers then read contents in their own order (squashfs: sorted tree order, and again
 * for duplicate checks), not archive order. So a stream is copied once to an unlinked temporary
 * file and read from there: memory stays bounded, disk use is the stream's length.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import { promisify } from 'node:util';
import * as nodePath from 'node:path';
import { ErrorCodes, ImgkitError, type RandomAccessReader } from '@imgkit/core';

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

export type ClosableReader = RandomAccessReader & { close(): Promise<void> };

/** What kind of non-regular file `st` is, for messages. */
function kindName(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

/** An open/stat failure as an error naming `path` and the reason. */
function openFailure(path: string, err: unknown): ImgkitError {
  const code = errCode(err);
  const base = { format: 'core', path, cause: err } as const;
  switch (code) {
    case 'ENOENT':
      return new ImgkitError(ErrorCodes.SOURCE_MISSING, { ...base, detail: 'no such file (ENOENT)', hint: 'check the path' });
    case 'ENOTDIR':
      return new ImgkitError(ErrorCodes.SOURCE_MISSING, { ...base, detail: 'a component of the path is not a directory (ENOTDIR)', hint: 'check the path' });
    case 'EACCES':
    case 'EPERM':
      return new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { ...base, detail: `permission denied (${code})`, hint: 'make the file readable by this user' });
    case 'EISDIR':
      return new ImgkitError(ErrorCodes.SOURCE_MISSING, { ...base, detail: 'is a directory (EISDIR), not a file' });
    case 'ENAMETOOLONG':
      return new ImgkitError(ErrorCodes.PATH_TOO_LONG, { ...base, detail: 'the path is too long for the system (ENAMETOOLONG)' });
    case 'ELOOP':
      return new ImgkitError(ErrorCodes.SOURCE_MISSING, { ...base, detail: 'too many levels of symbolic links (ELOOP)' });
    default:
      return new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { ...base, detail: `cannot open: ${code ?? String(err)}` });
  }
}

/** Positioned reads through an open handle of a file whose size is known. */
function handleReader(fh: fsp.FileHandle, size: number, path: string, onClose?: () => Promise<void>): ClosableReader {
  return {
    size,
    async read(offset, length) {
      const end = Math.min(offset + length, size);
      const out = new Uint8Array(Math.max(0, end - offset));
      let done = 0;
      try {
        while (done < out.byteLength) {
          const { bytesRead } = await fh.read(out, done, out.byteLength - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
      } catch (err) {
        throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path, detail: `read at ${offset} failed: ${errCode(err) ?? String(err)}`, cause: err });
      }
      return done === out.byteLength ? out : out.subarray(0, done);
    },
    async close() {
      await fh.close();
      await onClose?.();
    },
  };
}

/**
 * Open `path` (a regular file or block device) for positioned reads. Call `close()` when done with
 * the tree built on it. Errors name the path and the reason: E_SOURCE_MISSING (ENOENT, ENOTDIR, a
 * directory), E_SOURCE_UNREADABLE (EACCES, EPERM; a pipe, socket or character device: they cannot
 * be read at an offset; `nodeStreamReader` reads one once).
 */
export async function nodeFileReader(path: string): Promise<ClosableReader> {
  // stat first: opening a FIFO without a writer would block until one comes.
  let st: fs.Stats;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    throw openFailure(path, err);
  }
  if (!st.isFile() && !st.isBlockDevice()) throw notSeekable(path, st);
  let fh: fsp.FileHandle;
  try {
    // O_NONBLOCK: should a FIFO be swapped in after the stat, the open does not wait for a writer.
    fh = await fsp.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw openFailure(path, err);
  }
  const fst = await fh.stat();
  if (!fst.isFile() && !fst.isBlockDevice()) {
    await fh.close();
    throw notSeekable(path, fst);
  }
  // A block device's stat size is 0: its size is where a read ends (BLKGETSIZE64 is not reachable).
  const size = fst.isBlockDevice() ? await deviceSize(fh) : fst.size;
  return handleReader(fh, size, path);
}

function notSeekable(path: string, st: fs.Stats): ImgkitError {
  if (st.isDirectory()) {
    return new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'core', path, detail: 'is a directory, not a file' });
  }
  return new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, {
    format: 'core',
    path,
    detail: `is ${kindName(st)}: random access needs a regular file`,
    hint: 'read it once into a temporary file with nodeStreamReader (the CLI does this for pipes and "-")',
  });
}

/** Size of an open block device: the offset where reads stop (binary search over positioned reads). */
async function deviceSize(fh: fsp.FileHandle): Promise<number> {
  const probe = new Uint8Array(1);
  const has = async (at: number) => (await fh.read(probe, 0, 1, at)).bytesRead === 1;
  let lo = 0;
  let hi = 1;
  while (await has(hi - 1)) {
    lo = hi;
    hi *= 2;
  }
  // lo bytes are readable (lo = 0 or has(lo - 1)); hi are not.
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await has(mid - 1)) lo = mid;
    else hi = mid;
  }
  return (await has(0)) ? lo : 0;
}

export interface StreamReaderOptions {
  /** Directory of the temporary file. @default os.tmpdir() (TMPDIR) */
  dir?: string;
  /** What the stream is, for messages (e.g. "standard input" or the FIFO's path). @default 'stream' */
  name?: string;
}

/**
 * Random access to a stream read once: its bytes are copied to a temporary file that is unlinked
 * as soon as it is created (nothing is left behind, even if the process is killed) and read from
 * there until `close()`. For a pipe or standard input given where a seekable file is needed.
 */
export async function nodeStreamReader(input: AsyncIterable<Uint8Array>, opts: StreamReaderOptions = {}): Promise<ClosableReader> {
  const name = opts.name ?? 'stream';
  const dir = opts.dir ?? os.tmpdir();
  let fh: fsp.FileHandle;
  const tmp = nodePath.join(dir, `.imgkit-spool-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    fh = await fsp.open(tmp, 'wx+', 0o600);
  } catch (err) {
    throw new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, {
      format: 'core',
      path: tmp,
      detail: `cannot create a temporary file to hold ${name}: ${errCode(err) ?? String(err)}`,
      hint: 'set TMPDIR to a writable directory with room for it',
      cause: err,
    });
  }
  await fsp.unlink(tmp).catch(() => undefined);
  let size = 0;
  try {
    for await (const chunk of input) {
      let done = 0;
      while (done < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, done, chunk.byteLength - done, size);
        done += bytesWritten;
        size += bytesWritten;
      }
    }
  } catch (err) {
    await fh.close();
    if (err instanceof ImgkitError) throw err;
    const code = errCode(err);
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new ImgkitError(ErrorCodes.NO_SPACE, { format: 'core', path: dir, detail: `no space left for the temporary copy of ${name} (${code})`, hint: 'set TMPDIR to a directory with room for it', cause: err });
    }
    throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path: name, detail: `reading failed: ${code ?? String(err)}`, cause: err });
  }
  return handleReader(fh, size, name);
}

const openFd = promisify(fs.open);

/**
 * Open `path` for random access whatever it is: a regular file or block device directly, a FIFO by
 * reading it once (nodeStreamReader). The FIFO is opened with O_NONBLOCK (which returns at once,
 * writer or not) and read through the event loop (a libuv pipe handle, epoll): waiting for its
 * writer blocks nothing. A plain blocking open would park a libuv thread in open(2) until a writer
 * came, and the process could not exit even on SIGTERM (Node joins that thread at exit).
 */
export async function nodeAnyReader(path: string, opts: Omit<StreamReaderOptions, 'name'> = {}): Promise<ClosableReader> {
  let st: fs.Stats;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    throw openFailure(path, err);
  }
  if (!st.isFIFO()) return nodeFileReader(path);
  let fd: number;
  try {
    fd = await openFd(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw openFailure(path, err);
  }
  // Before any writer has connected, poll(2) on the read end reports nothing (no EOF): the socket
  // waits for the writer's data and ends when the last writer closes (pipe(7), fifo(7)).
  const stream = new net.Socket({ fd, readable: true, writable: false }); // owns fd: closed when destroyed
  try {
    return await nodeStreamReader(stream, { ...opts, name: path });
  } finally {
    stream.destroy();
  }
}
