/**
 * How the composer reaches the files a layout names, without importing anything Node-only: paths
 * are as written in the layout (relative to the layout file, or absolute) and the host resolves
 * them. `nodeLayoutFiles(dir)` (in `@imgkit/disk/node`) serves a directory on disk;
 * `memoryLayoutFiles` serves trees and bytes held in memory (tests, browsers).
 */
import { ErrorCodes, ImgkitError, memoryReader, type HostFileReader, type RandomAccessReader, type SourceTree } from '@imgkit/core';

export type LayoutFileKind = 'dir' | 'file' | 'other' | 'missing';

export interface LayoutFiles {
  /** What is at `path` (symlinks followed, as mkfs tools follow their arguments). */
  stat(path: string): Promise<{ kind: LayoutFileKind; size: number }>;
  /** A directory as a source tree (metadata first, content when read). */
  tree(path: string, options: { exclude?: (treePath: string) => boolean }): Promise<SourceTree>;
  /** A file read by offset: an image, a tar archive, boot code. Close it when done. */
  reader(path: string): Promise<RandomAccessReader & { close?(): Promise<void> }>;
  /** A nested layout's text. */
  readText(path: string): Promise<string>;
  /** Host files for a manifest's `file` lines (relative to the manifest's directory). */
  hostFiles(manifestPath: string): HostFileReader;
  /** The same host, with relative paths resolved from `dir` (a nested layout's directory). */
  at(dir: string): LayoutFiles;
  /** Where `path` is, for messages and for checking that the output is none of the inputs. */
  resolve(path: string): string;
}

/** POSIX dirname of a layout path ('' for a bare name). */
export function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : i === 0 ? '/' : path.slice(0, i);
}

/** Join POSIX paths; an absolute `rel` wins; `.` and `..` are resolved where they can be. */
export function joinLayoutPath(base: string, rel: string): string {
  const full = rel.startsWith('/') || base === '' ? rel : `${base.replace(/\/+$/, '')}/${rel}`;
  const abs = full.startsWith('/');
  const out: string[] = [];
  for (const part of full.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (part === '..' && abs) continue;
    else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

export type MemoryLayoutEntry = SourceTree | Uint8Array | string;

/**
 * Files from memory: a `SourceTree` is a directory, a `Uint8Array` a file, a `string` a text file
 * (a nested layout, a manifest). Keys are paths relative to the layout (no leading './').
 */
export function memoryLayoutFiles(entries: Readonly<Record<string, MemoryLayoutEntry>>, base = ''): LayoutFiles {
  const norm = (p: string) => joinLayoutPath(base, p).replace(/\/+$/, '');
  const getAbs = (key: string): MemoryLayoutEntry | undefined => entries[key] ?? entries[`${key}/`];
  const get = (p: string): MemoryLayoutEntry | undefined => getAbs(norm(p));
  const missing = (p: string) => new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'disk', path: norm(p), detail: 'no such file or directory' });
  const isTree = (e: MemoryLayoutEntry): e is SourceTree => typeof e === 'object' && !(e instanceof Uint8Array);
  const bytesOf = (p: string, resolved = false): Uint8Array => {
    const e = resolved ? getAbs(p) : get(p);
    if (e === undefined || isTree(e)) throw missing(p);
    return typeof e === 'string' ? new TextEncoder().encode(e) : e;
  };
  return {
    async stat(p) {
      const e = get(p);
      if (e === undefined) return { kind: 'missing', size: 0 };
      if (isTree(e)) return { kind: 'dir', size: 0 };
      return { kind: 'file', size: typeof e === 'string' ? new TextEncoder().encode(e).byteLength : e.byteLength };
    },
    async tree(p) {
      const e = get(p);
      if (e === undefined || !isTree(e)) throw missing(p);
      return e;
    },
    async reader(p) {
      return memoryReader(bytesOf(p));
    },
    async readText(p) {
      return new TextDecoder().decode(bytesOf(p));
    },
    hostFiles(manifestPath) {
      const dir = dirOf(norm(manifestPath));
      return {
        async stat(location) {
          return { size: bytesOf(joinLayoutPath(dir, location), true).byteLength, mtime: 0 };
        },
        async *read(location) {
          yield bytesOf(joinLayoutPath(dir, location), true);
        },
      };
    },
    at(dir) {
      return memoryLayoutFiles(entries, norm(dir));
    },
    resolve: norm,
  };
}
