/**
 * `nodeBuildHost(recipePath, outDir)`: a build's files and outputs on the local filesystem. The
 * recipe's relative paths are taken from the recipe's directory (@imgkit/disk's `nodeLayoutFiles`,
 * plus globbing in a path's last component); outputs go to `outDir` through core's `fileSink`
 * (a temporary name, renamed into place on close, removed on abort).
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { fileSink, nodeFileReader } from '@imgkit/core/node';
import { nodeLayoutFiles } from '@imgkit/disk/node';
import type { BuildFiles, BuildOutput } from '@imgkit/build';
import type { LayoutFiles } from '@imgkit/disk';

/** `*` and `?` within one path component, as the shell matches them (no hidden-file rule). */
function componentPattern(p: string): RegExp {
  return new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

export function nodeBuildFiles(dir: string): BuildFiles {
  const base = nodePath.resolve(dir);
  const wrap = (files: LayoutFiles, at: string): BuildFiles => ({
    ...files,
    at: (sub: string) => wrap(files.at(sub), nodePath.resolve(at, sub || '.')),
    async glob(pattern: string) {
      // Every component may hold * or ?: expanded left to right.
      const abs = nodePath.resolve(at, pattern);
      const parts = abs.split('/').filter(Boolean);
      let found = ['/'];
      for (const part of parts) {
        const next: string[] = [];
        for (const d of found) {
          if (!/[*?]/.test(part)) {
            next.push(nodePath.join(d, part));
            continue;
          }
          let names: string[];
          try {
            names = readdirSync(d);
          } catch {
            continue;
          }
          const re = componentPattern(part);
          for (const n of names) if (re.test(n)) next.push(nodePath.join(d, n));
        }
        found = next;
      }
      return found.filter((p) => {
        try {
          statSync(p);
          return true;
        } catch {
          return false;
        }
      }).sort();
    },
  });
  return wrap(nodeLayoutFiles(base), base);
}

export function nodeBuildOutput(outDir: string): BuildOutput {
  const dir = nodePath.resolve(outDir);
  const resolve = (name: string) => nodePath.join(dir, name);
  return {
    async create(name) {
      await fsp.mkdir(dir, { recursive: true });
      return fileSink(resolve(name), { mode: 0o644 });
    },
    reader: (name) => nodeFileReader(resolve(name)),
    async remove(name) {
      await fsp.rm(resolve(name), { force: true });
    },
    resolve,
    async sha256(name) {
      const h = createHash('sha256');
      let sizeBytes = 0;
      for await (const chunk of createReadStream(resolve(name), { highWaterMark: 4 << 20 })) {
        h.update(chunk as Buffer);
        sizeBytes += (chunk as Buffer).byteLength;
      }
      return { sha256: h.digest('hex'), sizeBytes };
    },
  };
}

/** Files relative to the recipe's directory, outputs in `outDir`. */
export function nodeBuildHost(recipePath: string, outDir: string): { files: BuildFiles; output: BuildOutput } {
  return { files: nodeBuildFiles(nodePath.dirname(nodePath.resolve(recipePath))), output: nodeBuildOutput(outDir) };
}
