/**
 * Trees a build composes: the root from layers (overlays applied in order), and the generated
 * trees (the ISO's, the ESP's) made of host files and text.
 *
 * Layers follow the overlay filesystem's rules (Documentation/filesystems/overlayfs.rst): an entry
 * of a later layer replaces the same path of the earlier ones; a directory over a directory merges;
 * anything else over a directory hides the directory's whole subtree; a whiteout deletes. Whiteouts
 * are written the two common ways: overlayfs's character device 0/0, and the OCI image layer's
 * `.wh.<name>` file with `.wh..wh..opq` making its directory opaque (OCI image-spec layer.md
 * "Whiteouts"). Metadata only is held (one entry per path); contents are read when written.
 */
import { compareTreePaths, ErrorCodes, ImgkitError, normalizeTreePath, parentPath, baseName, emptyContent, type SourceEntry, type SourceTree } from '@imgkit/core';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

/** Apply `layers` in order into one tree, sorted parents first. */
export function overlayTrees(layers: readonly SourceTree[]): SourceTree {
  if (layers.length === 1) return layers[0]!;
  return {
    async *walk() {
      const byPath = new Map<string, SourceEntry>();
      const removeSubtree = (dir: string) => {
        const prefix = dir === '' ? '' : `${dir}/`;
        for (const p of [...byPath.keys()]) if (p !== dir && p.startsWith(prefix)) byPath.delete(p);
      };
      for (const layer of layers) {
        const opaque: string[] = [];
        const seen: SourceEntry[] = [];
        for await (const e of layer.walk()) seen.push(e);
        // Opaque markers first: they empty their directory of what earlier layers put there.
        for (const e of seen) if (baseName(e.path) === OPAQUE_MARKER) opaque.push(parentPath(e.path));
        for (const d of opaque) removeSubtree(d);
        for (const e of seen) {
          const name = baseName(e.path);
          if (name === OPAQUE_MARKER) continue;
          if (name.startsWith(WHITEOUT_PREFIX)) {
            const target = joinTree(parentPath(e.path), name.slice(WHITEOUT_PREFIX.length));
            byPath.delete(target);
            removeSubtree(target);
            continue;
          }
          if (e.kind === 'char' && (e.rdev ?? 0) === 0 && e.path !== '') {
            byPath.delete(e.path);
            removeSubtree(e.path);
            continue;
          }
          const prev = byPath.get(e.path);
          if (prev && prev.kind === 'dir' && e.kind !== 'dir') removeSubtree(e.path);
          byPath.set(e.path, e);
        }
      }
      // A hard link whose first name was replaced by a later layer keeps the earlier content: it
      // cannot, so it becomes an error naming both (a silent copy would change what the layer meant).
      for (const e of byPath.values()) {
        if (e.hardLinkTo !== undefined && !byPath.has(e.hardLinkTo)) {
          throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'build', path: e.path, detail: `hard link to ${e.hardLinkTo}, which a later layer removed or replaced`, hint: 'give the file itself in the later layer too' });
        }
      }
      yield* [...byPath.values()].sort((a, b) => compareTreePaths(a.path, b.path));
    },
  };
}

function joinTree(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** A file of a generated tree: text, bytes, or a host file streamed when written. */
export interface GeneratedFile {
  path: string;
  mode?: number;
  /** Text or bytes; or `size` + `read` (a host file). */
  content?: string | Uint8Array;
  size?: number;
  read?: () => AsyncIterable<Uint8Array>;
}

/**
 * A tree of generated files (and the directories they need): owned by root, dated `mtime`,
 * directories 0755, files 0644 unless given.
 */
export function generatedTree(files: readonly GeneratedFile[], mtime: number): SourceTree {
  const entries = new Map<string, SourceEntry>();
  const dir = (path: string): SourceEntry => ({ path, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime, size: 0, read: emptyContent });
  entries.set('', dir(''));
  for (const f of files) {
    const path = normalizeTreePath(f.path, 'build');
    for (let p = parentPath(path); p !== '' && !entries.has(p); p = parentPath(p)) entries.set(p, dir(p));
    const bytes = typeof f.content === 'string' ? new TextEncoder().encode(f.content) : f.content;
    const size = bytes ? bytes.byteLength : (f.size ?? 0);
    const read = bytes
      ? () =>
          (async function* () {
            if (bytes.byteLength > 0) yield bytes;
          })()
      : (f.read ?? emptyContent);
    entries.set(path, { path, kind: 'file', mode: f.mode ?? 0o644, uid: 0, gid: 0, mtime, size, read });
  }
  const sorted = [...entries.values()].sort((a, b) => compareTreePaths(a.path, b.path));
  return {
    async *walk() {
      yield* sorted;
    },
  };
}
