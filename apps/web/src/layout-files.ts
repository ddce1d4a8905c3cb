/**
 * The disk composer's file access (@imgkit/disk's `LayoutFiles`) over a picked folder: a layout's
 * paths name folders and files inside the folder the user picked, as `imgkit disk` resolves them
 * from the layout file's directory — so a layout kept at the top of the folder means the same on
 * both sides. A leading "/" also means the picked folder (the page sees nothing outside it).
 *
 * Folders become `fileSource` trees over the File objects below them (read in place, a folder's
 * time the newest below it, as everywhere in the page); files are read by offset through
 * `blobReader` (images, tar archives, boot code); manifests' `file` lines are relative to the
 * manifest, as on the command line.
 */
import { blobReader, ErrorCodes, ImgkitError, type HostFileReader, type RandomAccessReader, type SourceTree } from '@imgkit/core';
import { fileSource, type FileTreeItem } from '@imgkit/core/browser';
import { dirOf, joinLayoutPath, type LayoutFiles } from '@imgkit/disk';
import type { PickedInput } from './sources.js';

export interface PickedLayoutHooks {
  /** Wraps each tree (progress, cancel). */
  tree?: (t: SourceTree) => SourceTree;
  /** Wraps each reader (progress, cancel). */
  reader?: (r: RandomAccessReader) => RandomAccessReader;
}

/** A tree without the entries `exclude` names, nor anything below them (nodeSource's `exclude`). */
export function excludeFrom(tree: SourceTree, exclude: ((path: string) => boolean) | undefined): SourceTree {
  if (!exclude) return tree;
  return {
    async *walk() {
      const dropped: string[] = [];
      for await (const e of tree.walk()) {
        if (e.path === '') {
          yield e;
          continue;
        }
        if (dropped.some((d) => e.path.startsWith(`${d}/`))) continue;
        if (exclude(e.path)) {
          if (e.kind === 'dir') dropped.push(e.path);
          continue;
        }
        yield e;
      }
    },
  };
}

export function pickedLayoutFiles(input: PickedInput, hooks: PickedLayoutHooks = {}, base = ''): LayoutFiles {
  if (input.kind !== 'folder' || !input.items) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'web', field: 'layout', detail: 'a layout names folders and files of a picked folder', hint: 'pick the folder that holds what the layout names (a tar file can be named inside the layout instead)' });
  }
  const files = new Map<string, File>();
  const dirs = new Set<string>(['']);
  for (const i of input.items) {
    if (i.kind === 'dir') dirs.add(i.path);
    else files.set(i.path, i.file as File);
    for (let p = i.kind === 'dir' ? i.path : dirOf(i.path); p !== '' && p !== '/'; p = dirOf(p)) dirs.add(p);
  }
  /** A layout path as a path inside the picked folder ('' is the folder itself). */
  const norm = (p: string) => joinLayoutPath(base, p).replace(/^\/+|\/+$/g, '');
  const missing = (p: string) => new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'disk', path: norm(p), detail: 'no such file or folder in the picked folder', hint: 'layout paths are relative to the picked folder' });
  const fileAt = (path: string): File => {
    const f = files.get(path);
    if (!f) throw missing(path);
    return f;
  };
  const chunks = async function* (f: File) {
    for (let at = 0; at < f.size; at += 1 << 20) yield new Uint8Array(await f.slice(at, Math.min(f.size, at + (1 << 20))).arrayBuffer());
  };
  return {
    async stat(p) {
      const path = norm(p);
      if (files.has(path)) return { kind: 'file', size: files.get(path)!.size };
      return dirs.has(path) ? { kind: 'dir', size: 0 } : { kind: 'missing', size: 0 };
    },
    async tree(p, options) {
      const path = norm(p);
      if (!dirs.has(path)) throw missing(p);
      const prefix = path === '' ? '' : `${path}/`;
      const items: FileTreeItem[] = [];
      for (const i of input.items!) if (i.path.startsWith(prefix)) items.push({ ...i, path: i.path.slice(prefix.length) } as FileTreeItem);
      const tree = excludeFrom(fileSource(items, { stripTopDirectory: false }), options.exclude);
      return hooks.tree ? hooks.tree(tree) : tree;
    },
    async reader(p) {
      const r = blobReader(fileAt(norm(p)));
      return hooks.reader ? hooks.reader(r) : r;
    },
    async readText(p) {
      return fileAt(norm(p)).text();
    },
    hostFiles(manifestPath): HostFileReader {
      const dir = dirOf(norm(manifestPath));
      const at = (location: string) => fileAt(joinLayoutPath(dir, location).replace(/^\/+/, ''));
      return {
        async stat(location) {
          const f = at(location);
          return { size: f.size, mtime: Math.floor(f.lastModified / 1000) };
        },
        read: (location) => chunks(at(location)),
      };
    },
    at(dir) {
      return pickedLayoutFiles(input, hooks, norm(dir));
    },
    resolve: norm,
  };
}
