/**
 * A source tree over a host directory, through `fs.promises`.
 *
 * - `lstat` only: symlinks are entries, never followed (a symlink loop is just two symlinks).
 * - Walk order per core/src/source.ts: the root ('') first, then pre-order with each directory's
 *   children sorted by the bytes of their names. Names are read as Buffers, so a name that is not
 *   valid UTF-8 is reported (E_NAME_UNENCODABLE) instead of being mangled into U+FFFD.
 * - Memory: one directory's stats per level of the current path; no content is held.
 * - Hard links: the first name met in walk order (dev + ino) is the primary; later names get
 *   `hardLinkTo`, and keep size and `read()` so writers without hard links can still copy content.
 * - Extended attributes: Node has no xattr API and library code may not spawn `getfattr`, so this
 *   source reports none; add them with manifest `xattr` lines or use a tar source.
 */
import { constants as fsc, type BigIntStats } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import {
  ErrorCodes,
  ImgkitError,
  SourceChangedError,
  emptyContent,
  joinPath,
  type EntryKind,
  type SourceEntry,
  type SourceTree,
} from '@imgkit/core';

export interface NodeSourceOptions {
  /** Leave out an entry (and, for a directory, everything below it). Called with tree paths. */
  exclude?: (path: string) => boolean;
  /** Bytes per `read()` chunk, 256 KiB … 1 MiB. @default 1048576 */
  chunkSize?: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const NS_PER_S = 1_000_000_000n;
/** lstat/access/readlink calls in flight within one directory. */
const STAT_CONCURRENCY = 16;

/** Error codes from the OS that mean "cannot read this", not "it changed". */
const UNREADABLE = new Set(['EACCES', 'EPERM', 'EIO', 'ENXIO', 'EOVERFLOW']);
/** Codes that mean the entry was removed or replaced since the walk. */
const CHANGED = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP']);

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

function kindOf(st: BigIntStats): EntryKind | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return undefined;
}

/** Whole seconds, rounded towards minus infinity (times before 1970 included). */
function floorSeconds(ns: bigint): number {
  let s = ns / NS_PER_S;
  if (ns < 0n && s * NS_PER_S !== ns) s -= 1n;
  return Number(s);
}

function decodeName(raw: Buffer, parent: string): string {
  try {
    return strictUtf8.decode(raw);
  } catch {
    const shown = [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
    throw new ImgkitError(ErrorCodes.NAME_UNENCODABLE, {
      format: 'core',
      path: joinPath(parent, shown),
      detail: 'the name is not valid UTF-8',
      hint: 'rename it (e.g. convmv -f latin1 -t utf8) or exclude it',
    });
  }
}

function unreadable(path: string, err: unknown): ImgkitError {
  return new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, {
    format: 'core',
    path,
    detail: `cannot read: ${errCode(err) ?? String(err)}`,
    hint: 'fix its permissions or exclude it',
    cause: err,
  });
}

/** Stream a regular file through a FileHandle in fixed-size chunks (fresh buffer per chunk). */
async function* readFileChunks(abs: string, treePath: string, chunkSize: number, plannedSize: number): AsyncIterable<Uint8Array> {
  // One byte more than planned lets a single read of a small file see both its content and EOF.
  const bufferBytes = Math.min(chunkSize, plannedSize + 1);
  let fh: fsp.FileHandle;
  try {
    // O_NOFOLLOW: a symlink swapped in after the walk is a change, not something to follow.
    fh = await fsp.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    const code = errCode(err);
    if (code !== undefined && CHANGED.has(code)) {
      throw new SourceChangedError({ format: 'core', path: treePath, detail: `file is gone or no longer a regular file (${code})`, cause: err });
    }
    throw unreadable(treePath, err);
  }
  try {
    for (;;) {
      const buf = new Uint8Array(bufferBytes);
      let n: number;
      try {
        n = (await fh.read(buf, 0, bufferBytes, null)).bytesRead;
      } catch (err) {
        const code = errCode(err);
        if (code === 'EISDIR') throw new SourceChangedError({ format: 'core', path: treePath, detail: 'became a directory', cause: err });
        throw unreadable(treePath, err);
      }
      if (n === 0) return;
      if (n === bufferBytes) yield buf;
      else {
        yield buf.subarray(0, n);
        return; // a short read of a regular file is its end
      }
    }
  } finally {
    await fh.close();
  }
}

/** A source tree over the host directory `root` (Node). */
export function nodeSource(root: string, opts: NodeSourceOptions = {}): SourceTree {
  const chunkSize = Math.min(Math.max(opts.chunkSize ?? 1 << 20, 256 << 10), 1 << 20);
  const exclude = opts.exclude;
  const absRoot = nodePath.resolve(root);

  const makeEntry = async (abs: string, path: string, st: BigIntStats): Promise<SourceEntry> => {
    const kind = kindOf(st);
    if (kind === undefined) {
      throw new ImgkitError(ErrorCodes.UNSUPPORTED_ENTRY, { format: 'core', path, detail: `unknown file type (mode 0o${st.mode.toString(8)})` });
    }
    const entry: SourceEntry = {
      path,
      kind,
      mode: Number(st.mode) & 0o7777,
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: floorSeconds(st.mtimeNs),
      size: kind === 'file' ? Number(st.size) : 0,
      read: kind === 'file' ? () => readFileChunks(abs, path, chunkSize, Number(st.size)) : emptyContent,
    };
    if (kind === 'symlink') {
      let raw: Buffer;
      try {
        raw = await fsp.readlink(abs, { encoding: 'buffer' });
      } catch (err) {
        throw unreadable(path, err);
      }
      try {
        entry.linkTarget = strictUtf8.decode(raw);
      } catch {
        throw new ImgkitError(ErrorCodes.NAME_UNENCODABLE, { format: 'core', path, detail: 'the symlink target is not valid UTF-8' });
      }
      entry.size = raw.byteLength;
    } else if (kind === 'char' || kind === 'block') {
      entry.rdev = Number(st.rdev);
    } else if (kind === 'file' && path !== '') {
      // Cheap readability check at walk time, so the plan fails before any output is written.
      // (root bypasses permission bits; EACCES/EIO at read time are mapped as well.)
      try {
        await fsp.access(abs, fsc.R_OK);
      } catch (err) {
        throw unreadable(path, err);
      }
    }
    return entry;
  };
  const linkOf = (entry: SourceEntry, st: BigIntStats, links: Map<string, string>): SourceEntry => {
    if (entry.kind !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first === undefined) links.set(key, entry.path);
      else entry.hardLinkTo = first;
    }
    return entry;
  };

  /** Map `fn` over `items` with at most `limit` in flight (libuv runs fs calls on its thread pool). */
  async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
    const out = new Array<R>(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return out;
  }

  async function* walkDir(abs: string, path: string, links: Map<string, string>): AsyncGenerator<SourceEntry> {
    let raw: Buffer[];
    try {
      raw = await fsp.readdir(abs, { encoding: 'buffer' });
    } catch (err) {
      const code = errCode(err);
      if (code !== undefined && CHANGED.has(code)) {
        throw new SourceChangedError({ format: 'core', path: path || root, detail: `directory is gone (${code})`, cause: err });
      }
      throw unreadable(path || root, err); // the root itself is named by the path the caller gave
    }
    raw.sort(Buffer.compare);
    const names: { abs: string; path: string }[] = [];
    for (const r of raw) {
      const name = decodeName(r, path);
      const childPath = joinPath(path, name);
      if (!exclude?.(childPath)) names.push({ abs: nodePath.join(abs, name), path: childPath });
    }
    // Stat this directory's children concurrently (bounded by one directory), then descend in order.
    // Hard links are assigned while yielding, so "first" really is first in walk order.
    const children = await mapLimited(names, STAT_CONCURRENCY, async (c) => {
      let st: BigIntStats;
      try {
        st = await fsp.lstat(c.abs, { bigint: true });
      } catch (err) {
        if (errCode(err) === 'ENOENT') return null; // removed between readdir and lstat: not part of the tree
        throw unreadable(c.path, err);
      }
      return { ...c, st, entry: await makeEntry(c.abs, c.path, st) };
    });
    for (const c of children) {
      if (c === null) continue;
      yield linkOf(c.entry, c.st, links);
      if (c.st.isDirectory()) yield* walkDir(c.abs, c.path, links);
    }
  }

  return {
    async *walk() {
      let st: BigIntStats;
      try {
        st = await fsp.lstat(absRoot, { bigint: true });
      } catch (err) {
        if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') {
          throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'core', path: root, detail: 'the source directory does not exist', cause: err });
        }
        throw unreadable(root, err);
      }
      if (!st.isDirectory()) {
        throw new ImgkitError(ErrorCodes.SOURCE_MISSING, {
          format: 'core',
          path: root,
          detail: st.isSymbolicLink() ? 'the source is a symlink, not a directory' : 'the source is not a directory',
          hint: st.isSymbolicLink() ? 'pass the directory it points to' : 'pass a directory',
        });
      }
      const links = new Map<string, string>();
      yield await makeEntry(absRoot, '', st);
      yield* walkDir(absRoot, '', links);
    },
  };
}
