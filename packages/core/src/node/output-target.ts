/**
 * What an output path is, decided before any work, so that a bad output fails at once instead of
 * after the build, and a device is never replaced by a regular file:
 *
 * - missing, in an existing directory: a new regular file;
 * - a regular file: replaced (temporary file + rename), if it could be written in place: a
 *   read-only file is refused the way `cp` and a shell redirect refuse it;
 * - a symlink: followed to its final target, which is then the output (a dangling link whose
 *   directory exists gets its target created, like `cp` and `>` do);
 * - a block device, character device or FIFO: written in place (see file-sink.ts);
 * - anything else (directory, socket), a missing or unwritable directory: refused, saying what to do.
 *
 * `inspectOutput` only looks (lstat, stat, readlink, access): it creates and opens nothing.
 */
import * as fs from 'node:fs';
import { constants as fsc } from 'node:fs';
import * as nodePath from 'node:path';
import { ErrorCodes, ImgkitError } from '@imgkit/core';

export type OutputKind = 'file' | 'block' | 'char' | 'fifo';

export interface OutputTarget {
  /** The path as given. */
  path: string;
  /** The absolute path written: symlinks followed to the final target, directories canonical. */
  target: string;
  kind: OutputKind;
  /** The target exists (a regular file to replace, or the device or FIFO itself). */
  exists: boolean;
  /** `path` is a symlink (or a chain of them) to `target`. */
  viaSymlink: boolean;
  /** Identity of an existing target (device + inode; `rdev` for devices). */
  dev?: number;
  ino?: number;
  rdev?: number;
  /** Permission bits and owner of an existing regular file (kept by its replacement). */
  mode?: number;
  uid?: number;
  gid?: number;
}

/** Linux's MAXSYMLINKS (fs/namei.c): more links than this in one path is ELOOP. */
const MAX_SYMLINKS = 40;
/** The sticky bit (inode(7)); Node does not export it. */
const S_ISVTX = 0o1000;

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

function refuse(path: string, detail: string, hint: string, cause?: unknown): ImgkitError {
  return new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path, detail, hint, ...(cause !== undefined ? { cause } : {}) });
}

/** "a directory", "a socket", … for messages. */
function kindName(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return `an unknown kind of file (mode 0o${st.mode.toString(8)})`;
}

/** Follow `abs` through symlinks to the first path that is not one (it may not exist). */
function followLinks(path: string, abs: string): { final: string; st: fs.Stats | undefined; hops: number } {
  let cur = abs;
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(cur);
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT') return { final: cur, st: undefined, hops };
      if (code === 'ENOTDIR') {
        throw refuse(path, `a component of ${cur} is not a directory`, 'check the output path');
      }
      if (code === 'ELOOP') throw refuse(path, 'too many levels of symbolic links', 'point the link at a file');
      throw refuse(path, `cannot look at the output: ${code ?? String(err)}`, 'check the output path', err);
    }
    if (!st.isSymbolicLink()) return { final: cur, st, hops };
    cur = nodePath.resolve(nodePath.dirname(cur), fs.readlinkSync(cur, 'utf8'));
  }
  throw refuse(path, `more than ${MAX_SYMLINKS} symbolic links in a row`, 'point the link at a file');
}

/** Decide what `path` is as an output; throws an ImgkitError (E_OUTPUT_UNWRITABLE) for what imgkit refuses. */
export function inspectOutput(path: string): OutputTarget {
  const { final, st, hops } = followLinks(path, nodePath.resolve(path));
  const dir = nodePath.dirname(final);
  const shownDir = hops > 0 ? `${dir} (where the symlink ${path} points)` : dir;
  let dirSt: fs.Stats;
  try {
    dirSt = fs.statSync(dir);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT') throw refuse(shownDir, 'the output directory does not exist', `create it first with mkdir -p ${dir}, or write elsewhere`);
    throw refuse(shownDir, `cannot use the output directory: ${code ?? String(err)}`, 'check the output path', err);
  }
  if (!dirSt.isDirectory()) throw refuse(shownDir, 'is not a directory', 'check the output path');
  // The directory's canonical name: what the inside-the-source check and messages compare.
  const target = nodePath.join(fs.realpathSync(dir), nodePath.basename(final));
  const out: OutputTarget = { path, target, kind: 'file', exists: st !== undefined, viaSymlink: hops > 0 };
  if (st === undefined) {
    checkDirWritable(path, dir, dirSt);
    return out;
  }
  out.dev = st.dev;
  out.ino = st.ino;
  if (st.isFile()) {
    out.mode = st.mode & 0o7777;
    out.uid = st.uid;
    out.gid = st.gid;
    try {
      fs.accessSync(final, fsc.W_OK);
    } catch (err) {
      const code = errCode(err);
      const what = code === 'EROFS' ? 'is on a read-only filesystem' : `is read-only (mode 0${(st.mode & 0o777).toString(8)})`;
      throw refuse(path, `the output file ${what}; imgkit does not replace what cp and a shell redirect would refuse to overwrite`, code === 'EROFS' ? 'write elsewhere' : `make it writable (chmod u+w ${final}) or remove it first`, err);
    }
    checkDirWritable(path, dir, dirSt, st);
    return out;
  }
  if (st.isBlockDevice() || st.isCharacterDevice() || st.isFIFO()) {
    out.kind = st.isBlockDevice() ? 'block' : st.isCharacterDevice() ? 'char' : 'fifo';
    if (st.isBlockDevice() || st.isCharacterDevice()) out.rdev = st.rdev;
    try {
      fs.accessSync(final, fsc.W_OK);
    } catch (err) {
      throw refuse(path, `cannot write to the ${out.kind === 'fifo' ? 'FIFO' : 'device'}: ${errCode(err) ?? String(err)}`, 'check its permissions', err);
    }
    return out;
  }
  throw refuse(
    path,
    `the output is ${kindName(st)}${hops > 0 ? ` (${final}, where the symlink points)` : ''}; imgkit writes regular files, block or character devices and FIFOs`,
    st.isDirectory() ? `give a file name, e.g. ${nodePath.join(path, 'image.img')}` : 'give a file name',
  );
}

/**
 * The temporary file is created in `dir` and renamed over the target, so the directory must be
 * writable; in a sticky directory (/tmp) only the owner of an existing file may replace it.
 */
function checkDirWritable(path: string, dir: string, dirSt: fs.Stats, existing?: fs.Stats): void {
  try {
    fs.accessSync(dir, fsc.W_OK | fsc.X_OK);
  } catch (err) {
    const code = errCode(err);
    throw refuse(dir, code === 'EROFS' ? 'the output directory is on a read-only filesystem' : `cannot create files in the output directory (${code ?? String(err)})`, `write ${nodePath.basename(path)} elsewhere`, err);
  }
  const euid = process.geteuid?.();
  if (existing && euid !== undefined && euid !== 0 && dirSt.mode & S_ISVTX && existing.uid !== euid && dirSt.uid !== euid) {
    throw refuse(path, `the output file belongs to uid ${existing.uid} in a sticky directory (${dir}), so it cannot be replaced`, 'remove it first (as its owner) or write elsewhere');
  }
}
