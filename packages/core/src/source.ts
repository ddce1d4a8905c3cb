/**
 * Source trees: what every writer consumes. A tree yields entries with metadata first; a file's
 * content is read only when the writer reaches it, in chunks, through `read()`.
 *
 * Walk order (every implementation): the root directory first (path ''), then depth-first pre-order
 * with each directory's children sorted by the byte order of their UTF-8 names — never readdir order.
 */
import { compareUtf8 } from './bytes.js';
import { ErrorCodes, ImgkitError, SourceChangedError } from './errors.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
export const ENTRY_KINDS: readonly EntryKind[] = ['file', 'dir', 'symlink', 'char', 'block', 'fifo', 'socket'];

/** POSIX file type bits (st_mode & S_IFMT), as cpio, squashfs and Rock Ridge store them. */
export const S_IFMT = 0o170000;
export const MODE_TYPE_BITS: Record<EntryKind, number> = {
  socket: 0o140000,
  symlink: 0o120000,
  file: 0o100000,
  block: 0o060000,
  dir: 0o040000,
  char: 0o020000,
  fifo: 0o010000,
};
export function kindFromMode(mode: number): EntryKind | undefined {
  const t = mode & S_IFMT;
  for (const k of ENTRY_KINDS) if (MODE_TYPE_BITS[k] === t) return k;
  return undefined;
}

export interface Xattr {
  /** Full name with namespace prefix, e.g. `security.capability`, `user.comment`. */
  name: string;
  value: Uint8Array;
}

export interface SourceEntry {
  /** POSIX, relative to the tree root, no leading "/", '' for the root itself. */
  path: string;
  kind: EntryKind;
  /** Permission bits and set-id/sticky bits only (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, whole seconds since the Unix epoch. */
  mtime: number;
  /** Content length for files, target length for symlinks, 0 otherwise. */
  size: number;
  linkTarget?: string;
  /** Device number for char/block devices, Linux encoding: major = (rdev >> 8) & 0xfff | ..., see `devMajor`. */
  rdev?: number;
  /** Set on the second and later names of a hard-linked file: the path of its first name in walk order. */
  hardLinkTo?: string;
  xattrs?: readonly Xattr[];
  /** Chunked content of a file; opened only when called. Non-files yield nothing. */
  read(): AsyncIterable<Uint8Array>;
  /**
   * Where a sparse file's data lies: sorted, disjoint, non-empty byte ranges; the rest of the file
   * reads as zeros (holes). A source that knows a file has holes provides it (nodeSource: a file
   * with fewer blocks allocated than its size); a format that stores holes (ext4) asks while
   * planning, before any content is read. Without it the whole file is data. @default undefined
   */
  dataRanges?(): Promise<readonly DataRange[]>;
  /**
   * `read()` does blocking I/O on the calling thread (nodeSource's default): reading it ahead
   * gains nothing, so ReadAhead reads it only when its turn comes. @default false
   */
  syncRead?: boolean;
}

/** A run of a sparse file's data: `length` bytes from byte `offset` (see `SourceEntry.dataRanges`). */
export interface DataRange {
  offset: number;
  length: number;
}

/** Blocking, sequential reads of one file's content (see `syncReaderOf`). */
export interface SyncContentReader {
  /** Reads up to `len` bytes into `dst` at `at`; fewer only at the end of the file. */
  read(dst: Uint8Array, at: number, len: number): number;
  /** Moves past `bytes` bytes without reading them (a sparse file's holes; see `dataRanges`). */
  skip?(bytes: number): void;
  close(): void;
}

/**
 * A file's content can also be read straight into a caller's buffer, without a chunk buffer of its
 * own, when its `read` function carries `openSync` (nodeSource's blocking entries do). The method
 * hangs on `read` itself so that a wrapper which replaces `read` (a manifest giving other content)
 * can never leave a stale one behind.
 */
export function syncReaderOf(entry: SourceEntry): (() => SyncContentReader) | undefined {
  return (entry.read as { openSync?: () => SyncContentReader }).openSync;
}

export interface SourceTree {
  walk(): AsyncIterable<SourceEntry>;
}

/** Linux's dev_t encoding (new_encode_dev / MKDEV as glibc's makedev does). */
export function makeDev(major: number, minor: number): number {
  // glibc gnu_dev_makedev, restricted to what fits a JS safe integer (major < 2^20, minor < 2^20).
  return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | (major & ~0xfff) * 2 ** 32;
}
export function devMajor(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
export function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
}

export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}
export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Validate and normalise a tree-relative POSIX path: no leading '/', no '.', '..' or empty parts. */
export function normalizeTreePath(p: string, format = 'core'): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  for (const part of parts) {
    if (part === '..') {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format, path: p, detail: 'path leaves the tree root ("..")' });
    }
  }
  return parts.join('/');
}

const EMPTY: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {
    /* nothing */
  },
};
export function emptyContent(): AsyncIterable<Uint8Array> {
  return EMPTY;
}

/**
 * Read an entry's content and check it still has the planned size: yields the chunks and throws
 * SourceChangedError naming the entry when it is longer or shorter.
 */
export async function* readChecked(entry: SourceEntry, format: string, expectedSize = entry.size): AsyncIterable<Uint8Array> {
  let seen = 0;
  for await (const chunk of entry.read()) {
    seen += chunk.byteLength;
    if (seen > expectedSize) throw fileGrew(format, entry.path, expectedSize);
    yield chunk;
  }
  if (seen !== expectedSize) throw fileShrank(format, entry.path, expectedSize, seen);
}

/** A file read past its planned size (E_SOURCE_CHANGED). */
export function fileGrew(format: string, path: string, planned: number): SourceChangedError {
  return new SourceChangedError({ format, path, detail: `file grew while being read: planned ${planned} bytes, read more` });
}
/** A file that ended before its planned size (E_SOURCE_CHANGED). */
export function fileShrank(format: string, path: string, planned: number, read: number): SourceChangedError {
  return new SourceChangedError({ format, path, detail: `file shrank while being read: planned ${planned} bytes, read ${read}` });
}

/** Compare two tree paths in walk order (pre-order, children by UTF-8 byte order). */
export function compareTreePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return -1;
  if (b === '') return 1;
  const pa = a.split('/');
  const pb = b.split('/');
  const n = Math.min(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const d = compareUtf8(pa[i]!, pb[i]!);
    if (d !== 0) return d;
  }
  return pa.length - pb.length;
}

export interface MemoryEntryInit {
  path: string;
  kind: EntryKind;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkTarget?: string;
  rdev?: number;
  hardLinkTo?: string;
  xattrs?: readonly Xattr[];
  /** File content: bytes, a string (UTF-8), or a producer that streams it (then `size` is required). */
  content?: Uint8Array | string | (() => AsyncIterable<Uint8Array>);
  size?: number;
}

/**
 * An in-memory tree (tests, composing images). Missing parent directories are added (0755, root,
 * mtime 0). Content may be a producer function, so another writer's output can be a file's content.
 */
export function memoryTree(inits: readonly MemoryEntryInit[], rootInit: Partial<MemoryEntryInit> = {}): SourceTree {
  const byPath = new Map<string, SourceEntry>();
  const mk = (i: MemoryEntryInit): SourceEntry => {
    const path = normalizeTreePath(i.path);
    const content = i.content;
    let bytes: Uint8Array | undefined;
    if (typeof content === 'string') bytes = new TextEncoder().encode(content);
    else if (content instanceof Uint8Array) bytes = content;
    const size =
      i.kind === 'file'
        ? (i.size ?? bytes?.byteLength ?? 0)
        : i.kind === 'symlink'
          ? new TextEncoder().encode(i.linkTarget ?? '').byteLength
          : 0;
    if (i.kind === 'file' && typeof content === 'function' && i.size === undefined) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'core', path, detail: 'a file produced by a function needs its size' });
    }
    const e: SourceEntry = {
      path,
      kind: i.kind,
      mode: (i.mode ?? (i.kind === 'dir' ? 0o755 : i.kind === 'symlink' ? 0o777 : 0o644)) & 0o7777,
      uid: i.uid ?? 0,
      gid: i.gid ?? 0,
      mtime: i.mtime ?? 0,
      size,
      read:
        typeof content === 'function'
          ? content
          : () =>
              bytes && bytes.byteLength > 0
                ? (async function* () {
                    yield bytes;
                  })()
                : emptyContent(),
    };
    if (i.linkTarget !== undefined) e.linkTarget = i.linkTarget;
    if (i.rdev !== undefined) e.rdev = i.rdev;
    if (i.hardLinkTo !== undefined) e.hardLinkTo = normalizeTreePath(i.hardLinkTo);
    if (i.xattrs !== undefined) e.xattrs = i.xattrs;
    return e;
  };
  byPath.set('', mk({ ...rootInit, path: '', kind: 'dir' }));
  for (const i of inits) {
    const e = mk(i);
    if (e.path === '') {
      byPath.set('', { ...e, kind: 'dir' });
      continue;
    }
    for (let p = parentPath(e.path); p !== '' && !byPath.has(p); p = parentPath(p)) byPath.set(p, mk({ path: p, kind: 'dir' }));
    byPath.set(e.path, e);
  }
  const sorted = [...byPath.values()].sort((a, b) => compareTreePaths(a.path, b.path));
  return {
    async *walk() {
      yield* sorted;
    },
  };
}

/** Options that rewrite owners and times of every entry, applied by `transformTree`. */
export interface OwnershipOptions {
  /** Every entry owned by 0:0 (mksquashfs -all-root, gen_init_cpio style). @default false */
  allRoot?: boolean;
  /** Force this uid on every entry. */
  uid?: number;
  /** Force this gid on every entry. */
  gid?: number;
  /** Clamp times newer than this (seconds) to it; SOURCE_DATE_EPOCH in the CLI. */
  epoch?: number;
}

/** Map every entry through `fn` (returning null drops it, and it is then the caller's job to say so). */
export function mapTree(tree: SourceTree, fn: (e: SourceEntry) => SourceEntry | null): SourceTree {
  return {
    async *walk() {
      for await (const e of tree.walk()) {
        const out = fn(e);
        if (out) yield out;
      }
    },
  };
}

/** Apply all-root / forced owners / epoch clamping to a tree. */
export function applyOwnership(tree: SourceTree, o: OwnershipOptions): SourceTree {
  if (!o.allRoot && o.uid === undefined && o.gid === undefined && o.epoch === undefined) return tree;
  return mapTree(tree, (e) => {
    const uid = o.uid ?? (o.allRoot ? 0 : e.uid);
    const gid = o.gid ?? (o.allRoot ? 0 : e.gid);
    const mtime = o.epoch !== undefined ? clampTime(e.mtime, o.epoch) : e.mtime;
    if (uid === e.uid && gid === e.gid && mtime === e.mtime) return e;
    return { ...e, uid, gid, mtime };
  });
}

/** Times newer than `epoch` become `epoch` (reproducible builds: SOURCE_DATE_EPOCH clamping). */
export function clampTime(t: number, epoch: number | undefined): number {
  const s = Math.floor(t);
  return epoch !== undefined && s > epoch ? epoch : s;
}
