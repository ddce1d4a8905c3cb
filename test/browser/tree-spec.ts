/**
 * The tree the browser test writes, generated from a seed so the page (bundled for the browser) and
 * the Node test (which writes it to disk and snapshots what the tools extract) agree without
 * shipping the bytes. Pure code: no Node or DOM imports, it goes into the page bundle as is.
 *
 * What it holds, for the writers' sake: files around 4-byte padding and the 128 KiB squashfs block
 * (a 6-block file, an exact 2-block file, an all-zero 256 KiB file written as holes), an empty file,
 * two files with the same content (squashfs duplicates), an executable, absolute / relative /
 * dangling symlinks, nested and empty directories, a non-ASCII name.
 */
import { xorshiftBytes } from '../lib/xorshift.js';

export interface SpecEntry {
  path: string;
  kind: 'dir' | 'file' | 'symlink';
  /** Permission bits (dirs and files; symlinks are 0777). */
  mode: number;
  /** Files: byte count of `contentOf(entry, seed)`. */
  size?: number;
  /** Files: seed of the content; 0 means all zero bytes. */
  contentSeed?: number;
  linkTarget?: string;
}

/** Parents before children; paths relative to the tree root. */
export function treeSpec(seed: number): SpecEntry[] {
  const s = (n: number) => (seed * 7919 + n) >>> 0 || 1;
  const out: SpecEntry[] = [];
  const dir = (path: string, mode = 0o755) => out.push({ path, kind: 'dir', mode });
  const file = (path: string, size: number, contentSeed: number, mode = 0o644) => out.push({ path, kind: 'file', mode, size, contentSeed });
  const link = (path: string, linkTarget: string) => out.push({ path, kind: 'symlink', mode: 0o777, linkTarget });

  file('README', 1234, s(1));
  file('empty', 0, s(2));
  dir('bin');
  file('bin/tool', 77, s(3), 0o755);
  dir('data');
  for (const [i, n] of [1, 3, 4, 5, 4095, 4096, 4097, 65537].entries()) file(`data/size-${n}`, n, s(10 + i));
  file('data/multi-block', 6 * 131072 - 1000, s(30)); // 6 blocks, the last one short
  file('data/two-blocks', 2 * 131072, s(31)); // exactly 2 blocks, no tail
  file('data/zeros', 256 * 1024, 0); // all-zero blocks: squashfs holes
  file('data/copy-a', 5000, s(40));
  file('data/copy-b', 5000, s(40)); // same bytes as copy-a
  dir('deep');
  dir('deep/er');
  dir('deep/er/est', 0o700);
  file('deep/er/est/leaf', 100, s(50), 0o600);
  dir('empty-dir');
  dir('links');
  link('links/abs', '/data/size-1');
  link('links/rel', '../README');
  link('links/dangling', 'no/such/file');
  dir('naïve');
  file('naïve/café.txt', 42, s(60));
  return out;
}

/** Deterministic content of a spec file: xorshift32, every other 64-byte run text-like. */
export function contentOf(e: SpecEntry): Uint8Array {
  const size = e.size ?? 0;
  return e.contentSeed ? xorshiftBytes(size, e.contentSeed, true) : new Uint8Array(size);
}

/** Options both the page and Node use, so their images can be compared byte for byte. */
export const BROWSER_TEST = {
  seed: 20261124,
  /** Every lightning-fs time is "now" (it has no utimes), so all times are clamped to this. */
  epoch: 1_700_000_000,
  /** lightning-fs directory the page writes the tree into. */
  root: '/tree',
  workers: 2,
  squashfs: [
    { name: 'squashfs-zstd', compression: 'zstd' },
    { name: 'squashfs-gzip', compression: 'gzip' },
    // metadata blocks are compressed in the page realm: its liblzma.wasm comes through setWasmLoader
    { name: 'squashfs-xz', compression: 'xz' },
  ],
  cpio: [
    { name: 'cpio-gzip', compression: 'gzip', level: undefined },
    { name: 'cpio-zstd', compression: 'zstd', level: undefined },
    // preset 0: 256 KiB dictionary, so compressStream cuts 1 MiB pieces (preset 6 would make one 8 MiB piece)
    { name: 'cpio-xz', compression: 'xz', level: 0 },
  ],
} as const;

export type ImageName = (typeof BROWSER_TEST.squashfs)[number]['name'] | (typeof BROWSER_TEST.cpio)[number]['name'];
