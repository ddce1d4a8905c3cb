/**
 * FAT test helpers: the FAT test tree (the rich tree minus what FAT refuses, plus names, sizes and
 * directories that exercise FAT), the expected view of a tree after a trip through FAT, and the
 * reference tools: fsck.fat's verdict, mtools' listing and extraction.
 *
 * mtools runs with TZ=UTC (imgkit writes FAT times in UTC), LANG=C.UTF-8 (long names in UTF-8) and
 * MTOOLS_SKIP_CHECK=1 (no complaints about the geometry of an image file).
 */
import { link, lutimes, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeSource } from '@imgkit/core/node';
import type { SourceTree } from '@imgkit/core';
import { RICH_MTIME, makeRichTree, pseudoRandomBytes } from './fixture.ts';
import { requireTool, run } from './tools.ts';
import type { Snapshot } from './tree.ts';

export const MTOOLS_ENV = { TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', MTOOLS_SKIP_CHECK: '1' };

/** Rich-tree entries FAT cannot hold: symbolic links and the fifo. */
export const FAT_EXCLUDED = (p: string) => p === 'links' || p.startsWith('links/') || p === 'misc/fifo';

/**
 * The FAT test tree in `dir`: the rich tree (fixture.ts) without its links and fifo, plus
 * - case/: names whose case FAT must keep (all lower → NT flags, mixed → long name, upper → plain);
 * - names/: characters long names hold but short names do not, leading dots and spaces, a
 *   255-character name, many dots;
 * - clusters/: sizes around 512-byte, 2 KiB, 4 KiB and 64 KiB cluster boundaries;
 * - big-dir/: 700 files with long names (a directory of many clusters);
 * - emptydir/.
 */
export async function makeFatTree(dir: string): Promise<void> {
  await makeRichTree(dir);
  const { rm } = await import('node:fs/promises');
  await rm(join(dir, 'links'), { recursive: true, force: true });
  await rm(join(dir, 'misc/fifo'), { force: true });
  let t = RICH_MTIME + 10_000;
  const stamp: [string, number][] = [];
  const file = async (p: string, content: Uint8Array | string) => {
    await writeFile(join(dir, p), content);
    stamp.push([p, t++]);
  };
  for (const d of ['case', 'names', 'clusters', 'big-dir', 'emptydir']) {
    await mkdir(join(dir, d), { recursive: true });
  }
  for (const n of ['readme.txt', 'README2.TXT', 'ReadMe.md', 'MAKEFILE', 'makefile.am', 'lower.TXT', 'UPPER.txt', 'Mixed Case Name With Spaces.Text']) {
    await file(`case/${n}`, `${n}\n`);
  }
  for (const n of ['a+b=c[1];2,3.txt', '.hidden', ' leading space', 'many.dots.in.the.name.tar.gz', "it's", 'L'.repeat(255), '@at', '{brace}', 'ünïcödé ünïcödé.txt']) {
    await file(`names/${n}`, `${n}\n`);
  }
  for (const [i, n] of [511, 512, 513, 2047, 2048, 2049, 4095, 4096, 4097, 65535, 65536, 65537].entries()) {
    await file(`clusters/${String(n).padStart(6, '0')}`, pseudoRandomBytes(n, 200 + i));
  }
  for (let i = 0; i < 700; i++) await file(`big-dir/entry number ${String(i).padStart(4, '0')} with a long name.txt`, `entry ${i}\n`);
  await link(join(dir, 'case/readme.txt'), join(dir, 'case/hard-link-to-readme.txt'));
  stamp.push(['case/hard-link-to-readme.txt', t - 1]);
  // Directory times last (creating entries changed them).
  for (const [p, m] of stamp) await lutimes(join(dir, p), m, m);
  for (const d of ['case', 'names', 'clusters', 'big-dir', 'emptydir']) await lutimes(join(dir, d), t, t);
}

/** The FAT test tree as a source (links and the fifo excluded, in case a caller made the full rich tree). */
export function fatSource(dir: string): SourceTree {
  return nodeSource(dir, { exclude: FAT_EXCLUDED });
}

/**
 * What a tree looks like after a trip through FAT: kinds, sizes and contents as they were; file
 * times in 2-second steps (clamped to `epoch`); no owners, modes or link counts (FAT has none;
 * hard links come back as separate files). Directory times are not compared (extractors set them).
 */
export function fatView(snap: Snapshot, epoch?: number): Snapshot {
  const out: Snapshot = new Map();
  for (const [p, e] of snap) {
    const m = epoch !== undefined ? Math.min(e.mtime, epoch) : e.mtime;
    const v = { kind: e.kind, mode: 0, uid: 0, gid: 0, mtime: e.kind === 'file' ? m - (m % 2) : 0, size: e.size } as Snapshot extends Map<string, infer V> ? V : never;
    if (e.sha256 !== undefined) v.sha256 = e.sha256;
    out.set(p, v);
  }
  return out;
}

/** The parts fatView keeps. */
export const FAT_IGNORED = ['mode', 'uid', 'gid', 'nlink', 'hardLinkGroup', 'root'] as const;

export interface FsckReport {
  output: string;
  /** "N files, U/C clusters" from fsck.fat's last line. */
  files: number;
  usedClusters: number;
  clusters: number;
}

/** fsck.fat -n -v: must exit 0 and report nothing to fix; returns its counts. */
export async function fsckFat(image: string): Promise<FsckReport> {
  const r = await run(requireTool('fsck.fat', 'dosfstools'), ['-n', '-v', image], { allowFail: true });
  const output = r.stdout.toString('utf8') + r.stderr;
  if (r.code !== 0) throw new Error(`fsck.fat -n -v exited with ${r.code}:\n${output}`);
  const m = /(\d+) files, (\d+)\/(\d+) clusters\s*$/.exec(output.trim());
  if (!m) throw new Error(`fsck.fat printed no summary:\n${output}`);
  return { output, files: Number(m[1]), usedClusters: Number(m[2]), clusters: Number(m[3]) };
}

/**
 * fsck.fat's words for something it would change or finds wrong (its "Checking …" progress lines
 * are dropped first: see fsckProblems).
 */
export const FSCK_PROBLEMS = /fix|dirty|differ|wrong|uninitiali|invalid|\bbad\b|corrupt|lost|cross-link|orphan|reclaim|fragment|does not|chain length|truncat|warning|error/i;

/** fsck.fat's output without its progress lines ("Checking we can access …", "Checking for unused clusters."). */
export function fsckProblems(output: string): string {
  return output
    .split('\n')
    .filter((l) => !/^Checking /.test(l.trim()))
    .join('\n');
}

/** mcopy -s -m: extract the whole volume into `dir` (times kept). */
export async function mcopyExtract(image: string, dir: string): Promise<void> {
  await run(requireTool('mcopy', 'mtools'), ['-s', '-m', '-n', '-i', image, '::/', dir], { env: MTOOLS_ENV });
}

export interface MdirEntry {
  /** The short name as mdir prints it ("README   TXT" → "README.TXT"; lower case when the NT flags say so). */
  short: string;
  /** The long name, when the entry has one. */
  long: string | undefined;
  dir: boolean;
  size: number;
}

/** `mdir -a` of one directory, parsed (entries other than '.' and '..'). */
export async function mdir(image: string, path = '::/'): Promise<MdirEntry[]> {
  const r = await run(requireTool('mdir', 'mtools'), ['-a', '-i', image, path], { env: MTOOLS_ENV });
  const out: MdirEntry[] = [];
  for (const line of r.stdout.toString('utf8').split('\n')) {
    // "NAME     EXT     size date time  long name": name in columns 0–7, extension 9–11, then the
    // time, one space, and " <long name>" when there is one (a long name may start with a space).
    const m = /^(.{8}) (.{3}) +(<DIR>|\d+) +\d{4}-\d\d-\d\d +\d+:\d\d (?: (.*))?$/.exec(line);
    if (!m) continue;
    const base = m[1]!.trimEnd();
    const ext = m[2]!.trimEnd();
    if (base === '.' || base === '..') continue;
    out.push({ short: ext ? `${base}.${ext}` : base, long: m[4] === undefined || m[4] === '' ? undefined : m[4], dir: m[3] === '<DIR>', size: m[3] === '<DIR>' ? 0 : Number(m[3]) });
  }
  return out;
}
