/**
 * A source tree over a lightning-fs instance (@isomorphic-git/lightning-fs, IndexedDB-backed).
 * It has files, directories and symlinks only (no devices, fifos, hard links or xattrs: add those
 * with a manifest). Its `readdir` is unsorted, so names are sorted here by UTF-8 bytes; the kind
 * comes from `stat.type` and the permissions from `mode & 0o7777`; `readFile` reads one whole file.
 */
import { ErrorCodes, ImgkitError, compareUtf8, emptyContent, joinPath, type SourceEntry, type SourceTree } from '@imgkit/core';

/** The part of lightning-fs's `fs.promises` this source uses. */
export interface LightningFsPromises {
  lstat(path: string): Promise<{ type: 'file' | 'dir' | 'symlink'; mode: number; size: number; uid: number; gid: number; mtimeMs: number }>;
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  readFile(path: string): Promise<Uint8Array | string>;
}
/** A lightning-fs instance (`new LightningFS(name)`) or its `promises` object. */
export type LightningFsLike = { promises: LightningFsPromises } | LightningFsPromises;

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

export function lightningFsSource(fs: LightningFsLike, root = '/'): SourceTree {
  const p: LightningFsPromises = 'promises' in fs ? fs.promises : fs;
  const base = root === '/' ? '' : root.replace(/\/+$/, '');
  const abs = (path: string) => (path === '' ? base || '/' : `${base}/${path}`);
  const encoder = new TextEncoder();

  const entryOf = async (path: string): Promise<SourceEntry> => {
    const st = await p.lstat(abs(path));
    const e: SourceEntry = {
      path,
      kind: st.type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      size: st.type === 'file' ? st.size : 0,
      read: emptyContent,
    };
    if (st.type === 'symlink') {
      const target = await p.readlink(abs(path));
      e.linkTarget = target;
      e.size = encoder.encode(target).byteLength;
      if (e.mode === 0) e.mode = 0o777; // lightning-fs stores no permissions for symlinks; Linux shows 0777
    } else if (st.type === 'file') {
      const at = abs(path);
      e.read = async function* () {
        const data = await p.readFile(at);
        yield typeof data === 'string' ? encoder.encode(data) : data;
      };
    }
    return e;
  };

  async function* walkDir(path: string): AsyncGenerator<SourceEntry> {
    let names: string[];
    try {
      names = await p.readdir(abs(path));
    } catch (err) {
      throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path, detail: `cannot list the directory: ${errCode(err) ?? String(err)}`, cause: err });
    }
    names.sort(compareUtf8);
    const children: SourceEntry[] = [];
    for (const n of names) children.push(await entryOf(joinPath(path, n)));
    for (const c of children) {
      yield c;
      if (c.kind === 'dir') yield* walkDir(c.path);
    }
  }

  return {
    async *walk() {
      let rootEntry: SourceEntry;
      try {
        rootEntry = await entryOf('');
      } catch (err) {
        throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'core', path: root, detail: `the source directory does not exist: ${errCode(err) ?? String(err)}`, cause: err });
      }
      if (rootEntry.kind !== 'dir') throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'core', path: root, detail: 'the source is not a directory' });
      yield rootEntry;
      yield* walkDir('');
    },
  };
}
