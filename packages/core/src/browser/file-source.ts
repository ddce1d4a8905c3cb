/**
 * A source tree over File (or Blob) objects, read where they are: what `<input webkitdirectory>`,
 * a drop of a folder and File System Access API directory handles give a page. No copy into
 * IndexedDB (lightning-fs) first.
 *
 * What a browser tells about a picked file is its relative path, size, bytes and `lastModified`;
 * nothing else. So:
 * - files are 0644 and directories 0755, everything is owned by 0:0 (a manifest sets other modes,
 *   owners, symlinks, device nodes, as with the CLI's --manifest);
 * - a file's time is `lastModified` in whole seconds; a directory's is the newest time found
 *   below it (a browser has none for directories), 0 for an empty one;
 * - parent directories come from the paths; empty directories only from `{ path, kind: 'dir' }`
 *   items (`<input webkitdirectory>` lists files only, a directory handle walk sees empty ones).
 * The walk order is core's (parents first, children by UTF-8 bytes). Content is read in slices of
 * `chunkBytes` when the writer reaches the file; a file that changed on disk since it was picked
 * fails to read in the browser (NotReadableError), reported as E_SOURCE_UNREADABLE naming it.
 */
import { ErrorCodes, ImgkitError, compareTreePaths, emptyContent, normalizeTreePath, parentPath, type SourceEntry, type SourceTree } from '@imgkit/core';

/** The part of `Blob` this source uses (File, Blob, and Node 20's File and Blob all have it). */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** One item of a picked tree: a file with its path, or a directory (to keep an empty one). */
export type FileTreeItem = { path: string; kind?: 'file'; file: BlobLike & { lastModified?: number } } | { path: string; kind: 'dir'; lastModified?: number };

export interface FileSourceOptions {
  /**
   * Drop the first path component when every path has the same one (`webkitRelativePath` starts
   * with the picked folder's name: "rootfs/etc/motd" becomes "etc/motd"). @default true for File
   * objects given with their webkitRelativePath, false for `{ path }` items
   */
  stripTopDirectory?: boolean;
  /** Bytes per read of a file's content. @default 1 MiB */
  chunkBytes?: number;
}

/** A File from `<input webkitdirectory>`: its path is `webkitRelativePath` (or its name). */
interface PickedFile extends BlobLike {
  readonly name: string;
  readonly lastModified: number;
  readonly webkitRelativePath?: string;
}

const isPicked = (x: PickedFile | FileTreeItem): x is PickedFile => typeof (x as PickedFile).name === 'string' && typeof (x as PickedFile).slice === 'function';

function unreadable(path: string, err: unknown): ImgkitError {
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, {
    format: 'core',
    path,
    detail: `cannot read the file: ${what}`,
    hint: 'it may have changed or been removed since it was picked: pick the folder again',
    cause: err,
  });
}

/** A source over picked files: File objects (`input.files`) or `{ path, file }` / `{ path, kind: 'dir' }` items. */
export function fileSource(items: Iterable<PickedFile | FileTreeItem>, options: FileSourceOptions = {}): SourceTree {
  const chunk = options.chunkBytes ?? 1 << 20;
  const list: { path: string; file?: BlobLike; mtime: number }[] = [];
  let picked = false;
  for (const it of items) {
    if (isPicked(it)) {
      picked = true;
      list.push({ path: it.webkitRelativePath || it.name, file: it, mtime: Math.floor(it.lastModified / 1000) });
    } else if (it.kind === 'dir') list.push({ path: it.path, mtime: Math.floor((it.lastModified ?? 0) / 1000) });
    else list.push({ path: it.path, file: it.file, mtime: Math.floor((it.file.lastModified ?? 0) / 1000) });
  }
  const strip = options.stripTopDirectory ?? picked;
  if (strip && list.length > 0) {
    const top = list[0]!.path.split('/')[0]!;
    if (list.every((e) => e.path.startsWith(`${top}/`) || (e.path === top && !e.file))) {
      for (const e of list) e.path = e.path === top ? '' : e.path.slice(top.length + 1);
    }
  }

  const entries = new Map<string, SourceEntry>();
  const dir = (path: string): SourceEntry => {
    let d = entries.get(path);
    if (!d) {
      d = { path, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, read: emptyContent };
      entries.set(path, d);
    }
    if (d.kind !== 'dir') throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'core', path, detail: 'is both a file and a directory in the picked files' });
    return d;
  };
  dir('');
  for (const item of list) {
    const path = normalizeTreePath(item.path);
    if (item.file) {
      if (path === '' || entries.has(path)) {
        const detail = path === '' ? 'a file cannot be the root of the tree' : entries.get(path)!.kind === 'dir' ? 'is both a file and a directory in the picked files' : 'picked twice';
        throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'core', path: item.path, detail });
      }
      const file = item.file;
      entries.set(path, {
        path,
        kind: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: item.mtime,
        size: file.size,
        read: async function* () {
          for (let at = 0; at < file.size; at += chunk) {
            let buf: ArrayBuffer;
            try {
              buf = await file.slice(at, Math.min(at + chunk, file.size)).arrayBuffer();
            } catch (err) {
              throw unreadable(path, err);
            }
            yield new Uint8Array(buf);
          }
        },
      });
    } else dir(path).mtime = Math.max(dir(path).mtime, item.mtime);
    // Every ancestor exists and is at least as new as what is below it.
    for (let p = path, t = item.mtime; p !== ''; ) {
      p = parentPath(p);
      const d = dir(p);
      if (t > d.mtime) d.mtime = t;
      t = d.mtime;
    }
  }
  const sorted = [...entries.values()].sort((a, b) => compareTreePaths(a.path, b.path));
  return {
    async *walk() {
      yield* sorted;
    },
  };
}
