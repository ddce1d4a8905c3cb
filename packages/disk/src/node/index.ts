/**
 * `nodeLayoutFiles(dir)`: the files a layout names, on the local filesystem, relative paths taken
 * from `dir` (the layout file's directory). Directories are walked by core's `nodeSource`, files
 * are read through `nodeFileReader` (by offset, one handle each); symlinks given as a layout path
 * are followed, as mkfs tools follow their arguments (symlinks inside a tree are entries).
 */
import { readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { nodeFileReader, nodeHostFiles, nodeSource } from '@imgkit/core/node';
import type { LayoutFiles, LayoutFileKind } from '@imgkit/disk';

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

export function nodeLayoutFiles(dir: string): LayoutFiles {
  const base = nodePath.resolve(dir);
  const resolve = (p: string) => nodePath.resolve(base, p);
  return {
    async stat(p) {
      try {
        const st = await fsp.stat(resolve(p));
        const kind: LayoutFileKind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
        return { kind, size: st.size };
      } catch (err) {
        const code = errCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing', size: 0 };
        throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'disk', path: resolve(p), detail: `cannot stat: ${code ?? String(err)}`, cause: err });
      }
    },
    async tree(p, options) {
      return nodeSource(await fsp.realpath(resolve(p)), options.exclude ? { exclude: options.exclude } : {});
    },
    async reader(p) {
      return nodeFileReader(resolve(p));
    },
    async readText(p) {
      try {
        return readFileSync(resolve(p), 'utf8');
      } catch (err) {
        throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'disk', path: resolve(p), detail: `cannot read: ${errCode(err) ?? String(err)}`, cause: err });
      }
    },
    hostFiles(manifestPath) {
      return nodeHostFiles(nodePath.dirname(resolve(manifestPath)));
    },
    at(sub) {
      return nodeLayoutFiles(resolve(sub || '.'));
    },
    resolve,
  };
}
