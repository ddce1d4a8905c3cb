/**
 * What the page builds from: a folder (picked with `<input webkitdirectory>`, opened with the File
 * System Access API, or dropped), or a tar file, or — for conversions — a disk image file.
 * Folders become `fileSource` (@imgkit/core/browser) over the File objects, read in place; a tar
 * file becomes `tarSource` over a Blob reader, read by offset without extracting it.
 */
import { blobReader, tarSource, type HostFileReader, type SourceTree } from '@imgkit/core';
import { fileSource, type FileTreeItem } from '@imgkit/core/browser';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { excludeFrom } from './layout-files.js';

export interface PickedInput {
  kind: 'folder' | 'tar';
  /** What the page shows: the folder's or the archive's name. */
  name: string;
  /** Folder: files and (empty) directories, paths relative to the folder. */
  items?: FileTreeItem[];
  tar?: File;
  /** Files and bytes to read (progress totals); for a tar file, its size. */
  files: number;
  bytes: number;
}

/** `<input webkitdirectory>`'s FileList: paths start with the folder's name, which is dropped. */
export function fromFileList(list: ArrayLike<File>): PickedInput {
  const files = Array.from(list);
  if (files.length === 0) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'web', detail: 'the folder has no files (a browser lists files only: empty folders are not seen)' });
  const top = (files[0]!.webkitRelativePath || files[0]!.name).split('/')[0]!;
  const items: FileTreeItem[] = files.map((f) => {
    const rel = f.webkitRelativePath || f.name;
    return { path: rel.startsWith(`${top}/`) ? rel.slice(top.length + 1) : rel, file: f };
  });
  return { kind: 'folder', name: top, items, files: items.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}

/** File System Access API directory handle (showDirectoryPicker, or a drop's getAsFileSystemHandle). */
interface DirHandle {
  readonly kind: 'directory';
  readonly name: string;
  values(): AsyncIterable<DirHandle | { readonly kind: 'file'; readonly name: string; getFile(): Promise<File> }>;
}

/** Walk a directory handle: files and every directory, empty ones included. */
export async function fromDirectoryHandle(dir: DirHandle): Promise<PickedInput> {
  const items: FileTreeItem[] = [];
  let bytes = 0;
  const walk = async (h: DirHandle, prefix: string): Promise<void> => {
    for await (const child of h.values()) {
      const path = prefix ? `${prefix}/${child.name}` : child.name;
      if (child.kind === 'directory') {
        items.push({ path, kind: 'dir' });
        await walk(child, path);
      } else {
        const file = await child.getFile();
        bytes += file.size;
        items.push({ path, file });
      }
    }
  };
  await walk(dir, '');
  return { kind: 'folder', name: dir.name, items, files: items.filter((i) => i.kind !== 'dir').length, bytes };
}

/** A dropped folder through the File and Directory Entries API (every browser has it). */
export async function fromDroppedEntry(entry: FileSystemEntry): Promise<PickedInput> {
  const items: FileTreeItem[] = [];
  let bytes = 0;
  const readAll = (dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> =>
    new Promise((resolve, reject) => {
      const reader = dir.createReader();
      const out: FileSystemEntry[] = [];
      const next = () =>
        reader.readEntries((batch) => {
          if (batch.length === 0) resolve(out);
          else {
            out.push(...batch);
            next();
          }
        }, reject);
      next();
    });
  const walk = async (dir: FileSystemDirectoryEntry, prefix: string): Promise<void> => {
    for (const child of await readAll(dir)) {
      const path = prefix ? `${prefix}/${child.name}` : child.name;
      if (child.isDirectory) {
        items.push({ path, kind: 'dir' });
        await walk(child as FileSystemDirectoryEntry, path);
      } else {
        const file = await new Promise<File>((resolve, reject) => (child as FileSystemFileEntry).file(resolve, reject));
        bytes += file.size;
        items.push({ path, file });
      }
    }
  };
  await walk(entry as FileSystemDirectoryEntry, '');
  return { kind: 'folder', name: entry.name, items, files: items.filter((i) => i.kind !== 'dir').length, bytes };
}

export function fromTarFile(file: File): PickedInput {
  return { kind: 'tar', name: file.name, tar: file, files: 0, bytes: file.size };
}

/** The picked input as a source tree (a fresh walk each time), without what `exclude` names (--exclude). */
export function treeOf(input: PickedInput, exclude?: (path: string) => boolean): SourceTree {
  if (input.kind === 'tar') return tarSource(blobReader(input.tar!), { name: input.name, ...(exclude ? { exclude } : {}) });
  return excludeFrom(fileSource(input.items!, { stripTopDirectory: false }), exclude);
}

/**
 * A manifest's `file` lines name host files; in the page those are picked files, looked up by
 * their path inside the picked folder ("./" and "/" in front are ignored).
 */
export function pickedHostFiles(input: PickedInput): HostFileReader {
  const byPath = new Map<string, File>();
  for (const i of input.items ?? []) if (i.kind !== 'dir') byPath.set(i.path, i.file as File);
  const get = (location: string): File => {
    const f = byPath.get(location.replace(/^(\.\/|\/)+/, ''));
    if (!f) {
      throw new ImgkitError(ErrorCodes.MANIFEST_REFERENCE, {
        format: 'manifest',
        path: location,
        detail: 'no such file in the picked folder',
        hint: 'in the page, a file line names a file of the picked folder by its path inside it',
      });
    }
    return f;
  };
  return {
    async stat(location) {
      const f = get(location);
      return { size: f.size, mtime: Math.floor(f.lastModified / 1000) };
    },
    async *read(location) {
      const f = get(location);
      for (let at = 0; at < f.size; at += 1 << 20) yield new Uint8Array(await f.slice(at, Math.min(f.size, at + (1 << 20))).arrayBuffer());
    },
  };
}
