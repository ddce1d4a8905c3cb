/**
 * The rich test tree: every entry kind a writer meets, edge sizes around 4-byte padding, 2 KiB
 * sectors and 4 KiB blocks, hard links, dangling and looping symlinks, non-ASCII names, special
 * mode bits and owners. Device nodes, sockets and root ownership come from `fixtures/rich.manifest`
 * (apply it with `applyManifest`), so the tree itself can be made without root.
 *
 * Content is pseudo-random from a fixed seed and every time is fixed, so two calls make the same
 * tree.
 */
import { chmod, chown, link, lutimes, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, requireTool, run } from './tools.js';
import { xorshiftBytes } from './xorshift.js';

/** Path of the manifest that goes with the rich tree. */
export const RICH_MANIFEST_PATH = join(REPO_ROOT, 'fixtures/rich.manifest');
/** The bundled small tree and its manifest (the README's first command). */
export const DEFAULT_ROOTFS = join(REPO_ROOT, 'fixtures/rootfs');
export const DEFAULT_MANIFEST_PATH = join(REPO_ROOT, 'fixtures/rootfs.manifest');

export function richManifestText(): Promise<string> {
  return readFile(RICH_MANIFEST_PATH, 'utf8');
}

/** Base time of the rich tree's entries (2023-11-14). */
export const RICH_MTIME = 1_700_000_000;

/** Deterministic bytes: xorshift32 seeded by `seed`, with some repetition so it compresses a little. */
export function pseudoRandomBytes(size: number, seed: number): Uint8Array {
  return xorshiftBytes(size, seed * 2654435761, true);
}

interface Planned {
  path: string;
  mtime: number;
}

/** Build the rich tree in `dir` (created if missing). */
export async function makeRichTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const planned: Planned[] = [];
  let t = RICH_MTIME;
  const at = (p: string) => join(dir, p);
  const mkd = async (p: string, mode = 0o755) => {
    await mkdir(at(p), { recursive: true });
    await chmod(at(p), mode);
    planned.push({ path: p, mtime: t++ });
  };
  const file = async (p: string, content: Uint8Array | string, mode = 0o644) => {
    await writeFile(at(p), content);
    await chmod(at(p), mode);
    planned.push({ path: p, mtime: t++ });
  };
  const sym = async (p: string, target: string) => {
    await symlink(target, at(p));
    planned.push({ path: p, mtime: t++ });
  };

  await file('README', 'The rich test tree of imgkit.\n'.repeat(40));
  await file('empty', '');
  await mkd('sizes');
  for (const [i, n] of [1, 2, 3, 4, 5, 511, 512, 2047, 2048, 2049, 4095, 4096, 4097, 65537].entries()) {
    await file(`sizes/${String(n).padStart(5, '0')}`, pseudoRandomBytes(n, i + 1));
  }
  await file('sizes/big', pseudoRandomBytes(3 * 1024 * 1024 + 5, 99));
  await mkd('bin');
  await file('bin/tool', '#!/bin/sh\necho "imgkit rich tree tool"\n', 0o755);
  await file('bin/suid', '#!/bin/sh\nid\n', 0o4755);
  await file('bin/sgid', '#!/bin/sh\nid -g\n', 0o2755);
  await mkd('links');
  await sym('links/rel', '../README');
  await sym('links/abs', '/etc/hostname');
  await sym('links/dangling', 'nowhere/at/all');
  await sym('links/dir', '../sizes');
  await sym('links/loop1', 'loop2');
  await sym('links/loop2', 'loop1');
  await sym('links/long', `${'x'.repeat(200)}/${'y'.repeat(200)}`);
  await mkd('hard');
  await file('hard/a', pseudoRandomBytes(10_000, 7));
  await link(at('hard/a'), at('hard/b'));
  planned.push({ path: 'hard/b', mtime: 0 });
  await mkd('hard/sub');
  await link(at('hard/a'), at('hard/sub/c'));
  planned.push({ path: 'hard/sub/c', mtime: 0 });
  await file('hard/empty1', '');
  await link(at('hard/empty1'), at('hard/empty2'));
  planned.push({ path: 'hard/empty2', mtime: 0 });
  await file('hard/single', 'one name only\n');
  await mkd('misc');
  await run(requireTool('mkfifo', 'coreutils'), [at('misc/fifo')]);
  await chmod(at('misc/fifo'), 0o640);
  planned.push({ path: 'misc/fifo', mtime: t++ });
  await file('misc/name with spaces', 'spaces\n');
  await file('misc/-dash', 'leading dash\n');
  await file('misc/grüße.txt', 'Grüße aus Köln\n');
  await mkd('misc/日本語');
  await file('misc/日本語/ファイル', 'こんにちは\n');
  await file('misc/emoji-🙂', 'smile\n');
  await mkd('misc/sticky', 0o1777);
  await mkd('misc/private', 0o700);
  await file('misc/private/secret', 'top secret\n', 0o600);
  await file('misc/readonly', 'r\n', 0o444);
  await mkd('deep/a/b/c/d/e/f/g');
  for (const p of ['deep', 'deep/a', 'deep/a/b', 'deep/a/b/c', 'deep/a/b/c/d', 'deep/a/b/c/d/e', 'deep/a/b/c/d/e/f']) planned.push({ path: p, mtime: t++ });
  await file('deep/a/b/c/d/e/f/g/leaf', 'deep leaf\n');
  await mkd('home/user');
  planned.push({ path: 'home', mtime: t++ });
  await file('home/user/.profile', 'export PS1="# "\n');
  await mkd('owned');
  await file('owned/file', 'owned by someone else\n');
  await file('future', 'mtime after the usual test epoch\n');
  planned.push({ path: 'future', mtime: 2_100_000_000 });

  if (process.getuid?.() === 0) {
    await chown(at('owned'), 1234, 5678);
    await chown(at('owned/file'), 4321, 8765);
    await chown(at('misc/private'), 1000, 1000);
    await chown(at('misc/private/secret'), 1000, 1000);
    // chown clears set-id bits: restore them.
    await chmod(at('misc/private/secret'), 0o600);
  }
  // Times last, deepest first (creating children changes a directory's mtime).
  const last = new Map<string, number>();
  for (const p of planned) if (p.mtime !== 0) last.set(p.path, p.mtime);
  last.set('', RICH_MTIME - 1);
  const paths = [...last.keys()].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
  for (const p of paths) {
    const m = last.get(p)!;
    await lutimes(p === '' ? dir : at(p), m, m);
  }
}

/** Incompressible bytes from a xorshift32 stream (deterministic for a seed). */
export function noiseBytes(n: number, seed: number): Uint8Array {
  return xorshiftBytes(n, seed, false);
}
