/**
 * The same directory as every kind of SourceTree a writer must accept, so one test body runs with
 * each: `for (const { name, tree } of await makeSources(dir)) …`.
 *
 * - 'node': nodeSource over the directory.
 * - 'lightning-fs': the directory copied into a lightning-fs instance (fake-indexeddb), read by
 *   lightningFsSource. lightning-fs has no device nodes, fifos, sockets or hard links: those entries
 *   are left out of its copy (hard links become separate files), so compare it with its own snapshot.
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceTree } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { lightningFsEnvironment } from './lightning-env.ts';

export interface NamedSource {
  name: 'node' | 'lightning-fs';
  tree: SourceTree;
}

let fsCounter = 0;

/** Copy `dir` into a fresh lightning-fs and return a source over it (or null if unavailable). */
export async function lightningFsTree(dir: string): Promise<SourceTree | null> {
  let browser: Record<string, unknown>;
  try {
    browser = (await import('@imgkit/core/browser')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const make = browser.lightningFsSource as ((fs: unknown, root: string) => SourceTree) | undefined;
  if (typeof make !== 'function') return null;
  await lightningFsEnvironment();
  const { default: FS } = (await import('@isomorphic-git/lightning-fs')) as unknown as { default: new (name: string, o: object) => LfsLike };
  const fs = new FS(`imgkit-test-${process.pid}-${fsCounter++}`, { wipe: true });
  const p = fs.promises;
  const copy = async (abs: string, rel: string): Promise<void> => {
    const st = await lstat(abs);
    const target = `/${rel}`;
    if (st.isDirectory()) {
      if (rel !== '') await p.mkdir(target, { mode: st.mode & 0o7777 });
      for (const n of await readdir(abs)) await copy(join(abs, n), rel === '' ? n : `${rel}/${n}`);
    } else if (st.isSymbolicLink()) {
      await p.symlink(await readlink(abs), target);
    } else if (st.isFile()) {
      await p.writeFile(target, await readFile(abs), { mode: st.mode & 0o7777 });
    }
  };
  await copy(dir, '');
  return make(fs, '/');
}

interface LfsLike {
  promises: {
    mkdir(p: string, o?: { mode?: number }): Promise<void>;
    writeFile(p: string, d: Uint8Array, o?: { mode?: number }): Promise<void>;
    symlink(target: string, p: string): Promise<void>;
  };
}

/** Sources over `dir`: node always; lightning-fs once core/browser exports lightningFsSource. */
export async function makeSources(dir: string): Promise<NamedSource[]> {
  const out: NamedSource[] = [{ name: 'node', tree: nodeSource(dir) }];
  const lfs = await lightningFsTree(dir);
  if (lfs) out.push({ name: 'lightning-fs', tree: lfs });
  return out;
}
