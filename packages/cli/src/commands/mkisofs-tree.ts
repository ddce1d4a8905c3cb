/**
 * The source tree of `imgkit mkisofs`: the pathspecs grafted together (mkisofs -graft-points,
 * -path-list, several source directories merged at the root), with -follow-links and the -m /
 * -exclude / -x patterns applied as xorriso applies them.
 *
 * One source directory at the root, without -follow-links, is the directory's nodeSource itself
 * (no extra work). Otherwise every graft is walked, its entries are placed under their ISO path
 * (a later graft replaces an earlier non-directory; directories merge, the first one's attributes
 * win — except the root, which takes the last one's, as in xorriso), missing parent directories
 * of a graft take the attributes of the source's parent directories on disk (xorriso: ISO path
 * and disk path matched from the end), and the merged entries are yielded parents first, names in
 * byte order. A root that no directory gives is 0755, owned by root, dated `now`.
 */
import { createReadStream, lstatSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import * as nodePath from 'node:path';
import { compareTreePaths, emptyContent, ErrorCodes, ImgkitError, joinPath, parentPath, type EntryKind, type SourceEntry, type SourceTree, type WarningHandler } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { excludeMatcher } from '../common.js';
import type { Graft } from './mkisofs-args.js';

export interface GraftTreeOptions {
  followLinks: boolean;
  /** Time of a root that no pathspec gives (xorriso: its "now", SOURCE_DATE_EPOCH). @default the newest time in the tree */
  now?: number;
  /** -m/-exclude/-x patterns: without "/" a leaf name (glob) anywhere, with "/" a disk path (glob). */
  excludes: readonly string[];
  cwd: string;
  onWarning?: WarningHandler;
}

/** xorriso's exclusion: leaf patterns match names anywhere, path patterns match disk paths. */
export function mkisofsExcluder(patterns: readonly string[], cwd: string): ((hostPath: string) => boolean) | undefined {
  const leaf = excludeMatcher(patterns.filter((p) => !p.includes('/')));
  const paths = patterns.filter((p) => p.includes('/')).map((p) => nodePath.resolve(cwd, p));
  const disk = excludeMatcher(paths.map((p) => p.replace(/^\/+/, '')));
  if (!leaf && !disk) return undefined;
  return (hostPath) => (leaf?.(nodePath.basename(hostPath)) ?? false) || (disk?.(hostPath.replace(/^\/+/, '')) ?? false);
}

function kindOf(st: Stats): EntryKind | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return undefined;
}

/** An entry for one host file (a pathspec source, or a followed symlink's target). */
function hostEntry(host: string, path: string, st: Stats): SourceEntry {
  const kind = kindOf(st);
  if (!kind) throw new ImgkitError(ErrorCodes.UNSUPPORTED_ENTRY, { format: 'cli', path: host, detail: `unknown file type (mode 0o${st.mode.toString(8)})` });
  const e: SourceEntry = {
    path,
    kind,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.floor(st.mtimeMs / 1000),
    size: kind === 'file' ? st.size : 0,
    read: kind === 'file' ? () => createReadStream(host, { highWaterMark: 1 << 20 }) as unknown as AsyncIterable<Uint8Array> : emptyContent,
  };
  if (kind === 'symlink') {
    e.linkTarget = readlinkSync(host, 'utf8');
    e.size = Buffer.byteLength(e.linkTarget);
  }
  if (kind === 'char' || kind === 'block') e.rdev = st.rdev;
  return e;
}

export function graftTree(grafts: readonly Graft[], o: GraftTreeOptions): SourceTree {
  const excluded = mkisofsExcluder(o.excludes, o.cwd);
  const single = grafts.length === 1 && grafts[0]!.isoPath === '' && !o.followLinks;
  if (single) {
    const root = grafts[0]!.hostPath;
    return nodeSource(root, excluded ? { exclude: (p) => excluded(nodePath.join(root, p)) } : {});
  }
  return {
    async *walk() {
      const entries = new Map<string, SourceEntry>();
      /** The host file of every file entry (device:inode): xorriso stores a host file's data once, whatever names it gets. */
      const fileIds = new Map<SourceEntry, string>();
      const idOf = (host: string) => {
        try {
          const st = statSync(host, { bigint: true });
          return `${st.dev}:${st.ino}`;
        } catch {
          return undefined;
        }
      };
      const put = (e: SourceEntry, host?: string) => {
        if (e.kind === 'file' && host !== undefined) {
          const id = idOf(host);
          if (id !== undefined) fileIds.set(e, id);
        }
        const old = entries.get(e.path);
        if (old && old.kind === 'dir' && e.kind === 'dir') {
          // Directories merge; the root takes the attributes of the last directory grafted onto it.
          if (e.path === '') entries.set('', { ...old, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime });
          return;
        }
        if (old && old.kind !== 'dir' && e.kind !== 'dir') {
          o.onWarning?.({ code: ErrorCodes.NAME_COLLISION, format: 'cli', path: e.path, detail: 'two pathspecs give this path; the later one is written' });
        }
        entries.set(e.path, e);
      };
      const graftDir = async (host: string, isoPath: string, seen: ReadonlySet<string>) => {
        const real = realpathSync(host);
        if (seen.has(real)) {
          o.onWarning?.({ code: ErrorCodes.UNSUPPORTED_ENTRY, format: 'cli', path: isoPath, detail: `-follow-links: ${host} loops back to a directory above it; it is left out` });
          return;
        }
        const inner = new Set(seen).add(real);
        const src = nodeSource(host, excluded ? { exclude: (p) => excluded(nodePath.join(host, p)) } : {});
        for await (const e of src.walk()) {
          const path = e.path === '' ? isoPath : joinPath(isoPath, e.path);
          if (e.kind === 'symlink' && o.followLinks) {
            const target = nodePath.join(host, e.path);
            let st: Stats;
            try {
              st = statSync(target);
            } catch {
              o.onWarning?.({ code: ErrorCodes.UNSUPPORTED_ENTRY, format: 'cli', path, detail: `-follow-links: the link target ${e.linkTarget ?? ''} does not exist; the link is kept` });
              put({ ...e, path });
              continue;
            }
            if (st.isDirectory()) await graftDir(target, path, inner);
            else put(hostEntry(realpathSync(target), path, st), target);
            continue;
          }
          const moved: SourceEntry = { ...e, path };
          delete moved.hardLinkTo;
          put(moved, e.kind === 'file' ? nodePath.join(host, e.path) : undefined);
        }
      };
      /** Missing ISO parents of a graft: the disk parents of its source, matched from the end. */
      const makeParents = (isoPath: string, hostPath: string) => {
        let iso = parentPath(isoPath);
        let host = nodePath.dirname(hostPath);
        for (; isoPath !== '' && iso !== '' && !entries.has(iso); iso = parentPath(iso), host = nodePath.dirname(host)) {
          let st: Stats | undefined;
          try {
            st = lstatSync(host);
          } catch {
            st = undefined;
          }
          const dir: SourceEntry = st?.isDirectory()
            ? { path: iso, kind: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: 0, read: emptyContent }
            : { path: iso, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: o.now ?? 0, size: 0, read: emptyContent };
          entries.set(iso, dir);
        }
      };
      for (const g of grafts) {
        if (excluded?.(g.hostPath)) continue;
        makeParents(g.isoPath, g.hostPath);
        let st: Stats;
        try {
          st = o.followLinks ? statSync(g.hostPath) : lstatSync(g.hostPath);
        } catch (err) {
          throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: g.hostPath, detail: `cannot read the pathspec source: ${(err as { code?: string }).code ?? String(err)}` });
        }
        if (st.isDirectory()) await graftDir(g.hostPath, g.isoPath, new Set());
        else put(hostEntry(o.followLinks ? realpathSync(g.hostPath) : g.hostPath, g.isoPath, st), g.hostPath);
      }
      // A root that no directory gave.
      if (!entries.has('')) {
        let newest = 0;
        for (const e of entries.values()) if (e.mtime > newest) newest = e.mtime;
        entries.set('', { path: '', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: o.now ?? newest, size: 0, read: emptyContent });
      }
      const sorted = [...entries.values()].sort((x, y) => compareTreePaths(x.path, y.path));
      // Names of one host file: the first in tree order holds the data, the others link to it.
      const firstName = new Map<string, string>();
      for (const e of sorted) {
        const id = fileIds.get(e);
        if (id === undefined) continue;
        const first = firstName.get(id);
        if (first === undefined) firstName.set(id, e.path);
        else e.hardLinkTo = first;
      }
      for (const e of sorted) {
        if (e.path !== '' && entries.get(parentPath(e.path))?.kind !== 'dir') {
          throw new ImgkitError(ErrorCodes.NAME_COLLISION, { format: 'cli', path: e.path, detail: 'a pathspec puts this entry below a file', hint: 'check the ISO paths of the pathspecs' });
        }
        yield e;
      }
    },
  };
}
