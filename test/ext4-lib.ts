/**
 * Helpers of the ext4 image tests (test/ext4*.test.ts): the reference tools of e2fsprogs, loop
 * mounts, getfattr, and the rich tree with the extras ext4 stores (xattrs in the inode and in
 * shared blocks, a POSIX ACL, a hashed directory, a sparse file).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { applyManifest, applyOwnership, parseManifest, withSink, type SourceTree } from '@imgkit/core';
import { fileSink, nodeSource } from '@imgkit/core/node';
import { planExt4, type Ext4Plan, type Ext4Result, type PlanExt4Options } from '@imgkit/ext4';
import { RICH_MANIFEST_PATH, makeRichTree, richManifestText } from './lib/fixture.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';
import type { Snapshot } from './lib/tree.ts';

export const E2FSCK = () => requireTool('e2fsck', 'e2fsprogs');
export const DUMPE2FS = () => requireTool('dumpe2fs', 'e2fsprogs');
export const DEBUGFS = () => requireTool('debugfs', 'e2fsprogs');
export const MKE2FS = () => requireTool('mke2fs', 'e2fsprogs');
export const GETFATTR = () => requireTool('getfattr', 'attr');
export const MOUNT = () => requireTool('mount', 'mount');
export const UMOUNT = () => requireTool('umount', 'mount');

/** Lines of `e2fsck -fn` output that report a problem (anything but the pass headers and the summary). */
export function fsckProblems(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^e2fsck \d/.test(l) && !/^Pass \d/.test(l) && !/^[^:]+: \d+\/\d+ files \(.*\), \d+\/\d+ blocks$/.test(l));
}

/** `e2fsck -fn`: must exit 0 and report nothing. Returns its summary line. */
export async function assertFsckClean(image: string, what = image): Promise<string> {
  const r = await run(E2FSCK(), ['-fn', image], { allowFail: true });
  const out = `${r.stdout.toString()}${r.stderr}`;
  const problems = fsckProblems(out);
  assert.equal(r.code, 0, `e2fsck -fn ${what} exited ${r.code}:\n${out}`);
  assert.deepEqual(problems, [], `e2fsck -fn ${what} reported:\n${out}`);
  return out.split('\n').find((l) => / files \(/.test(l)) ?? '';
}

/** `dumpe2fs -h` as field → value. */
export async function dumpe2fsHeader(image: string): Promise<Map<string, string>> {
  const r = await run(DUMPE2FS(), ['-h', image], { env: { TZ: 'UTC' } });
  const m = new Map<string, string>();
  for (const line of r.stdout.toString().split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

/** A time as C's asctime prints it in UTC ("Tue Nov 14 22:15:00 2023"), as dumpe2fs with TZ=UTC shows it. */
export function asctime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()]!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!;
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${day} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** One debugfs request (read-only). */
export async function debugfs(image: string, request: string): Promise<string> {
  const r = await run(DEBUGFS(), ['-R', request, image]);
  return r.stdout.toString();
}

/** Mount `image` (a file) on a fresh directory, run `fn`, always unmount. */
export async function withMount<T>(image: string, opts: { readOnly?: boolean }, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = join(await tempDir('ext4-mnt'), 'm');
  await mkdir(dir);
  await run(MOUNT(), ['-t', 'ext4', '-o', `loop${opts.readOnly === false ? '' : ',ro'}`, image, dir]);
  try {
    return await fn(dir);
  } finally {
    await run(UMOUNT(), [dir]);
  }
}

/** Every extended attribute of `paths` under `dir`, as getfattr shows them (hex values), without following links. */
export async function getfattrAll(dir: string, paths: readonly string[]): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const p of paths) {
    const r = await run(GETFATTR(), ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', join(dir, p)], { allowFail: true });
    const kv: Record<string, string> = {};
    for (const line of r.stdout.toString().split('\n')) {
      const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line.trim());
      if (m) kv[m[1]!] = m[2]!;
    }
    out[p] = kv;
  }
  return out;
}

/** The snapshot of a mounted image without the lost+found e2fsck keeps in the root. */
export function withoutLostFound(s: Snapshot): Snapshot {
  const out = new Map(s);
  for (const k of [...out.keys()]) if (k === 'lost+found' || k.startsWith('lost+found/')) out.delete(k);
  return out;
}

/** Plan `tree` and write it to `<dir>/<name>`. */
export async function writeImage(tree: SourceTree, options: PlanExt4Options, name = 'fs.img', dir?: string): Promise<{ image: string; plan: Ext4Plan; result: Ext4Result }> {
  const d = dir ?? (await tempDir('ext4'));
  const image = join(d, name);
  const plan = await planExt4(tree, options);
  const result = await withSink(await fileSink(image), (s) => plan.write(s));
  return { image, plan, result };
}

export const EPOCH = 1_700_000_100;

/**
 * Extended attributes of the rich ext4 tree, by path (values as text or hex): in the inode, in a
 * block (user.big, 300 bytes) shared by two files with the same set, on a hard-linked file, a
 * directory and a device node, security.capability, security.selinux and a POSIX ACL.
 */
export const RICH_XATTRS: Record<string, Record<string, string>> = {
  'bin/tool': {
    'user.comment': 'hello',
    'security.capability': '0100000220000000000000000000000000000000',
    // POSIX ACL as the xattr API has it: version 2; user::rwx user:1000:r-x group::r-x mask::rwx other::r--
    'system.posix_acl_access': '0200000001000700ffffffff02000500e803000004000500ffffffff10000700ffffffff20000400ffffffff',
  },
  'bin/suid': { 'user.big': 'B'.repeat(300), 'security.selinux': 'system_u:object_r:bin_t:s0' },
  'bin/sgid': { 'user.big': 'B'.repeat(300), 'security.selinux': 'system_u:object_r:bin_t:s0' },
  'hard/a': { 'user.linked': 'one inode' },
  'hard/b': { 'user.linked': 'one inode' },
  'hard/sub/c': { 'user.linked': 'one inode' },
  'home/user': { 'user.dir': 'D', 'trusted.t': 'T' },
  'dev/console': { 'trusted.dev': 'console' },
};
const HEX_VALUE = /^(?:[0-9a-f]{2})+$/;
const isHexValue = (k: string, v: string) => k === 'security.capability' || k.startsWith('system.posix_acl') ? HEX_VALUE.test(v) : false;
/** getfattr's view of RICH_XATTRS (hex values). */
export function richXattrsHex(): Record<string, Record<string, string>> {
  return Object.fromEntries(Object.entries(RICH_XATTRS).map(([p, kv]) => [p, Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, isHexValue(k, v) ? v : Buffer.from(v).toString('hex')]))]));
}
function xattrManifest(): string {
  const lines: string[] = [];
  for (const [p, kv] of Object.entries(RICH_XATTRS)) {
    if (p === 'hard/b' || p === 'hard/sub/c') continue; // one inode: set once
    for (const [k, v] of Object.entries(kv)) lines.push(`xattr /${p} ${k} ${isHexValue(k, v) ? `0x${v}` : v}`);
  }
  return lines.join('\n');
}

/** Names of the hashed directory the rich ext4 tree adds (`many/`): enough for several blocks. */
export const MANY_NAMES = Array.from({ length: 400 }, (_, i) => `entry-${String(i).padStart(4, '0')}-with-a-rather-long-name`);
/** Data islands of the rich ext4 tree's sparse file (`sparse`, 40 MiB): offsets and lengths. */
export const SPARSE_ISLANDS: [number, number][] = [
  [0, 100],
  [4 << 20, 8192],
  [9 << 20, 1],
  [20 << 20, 70_000],
  [33 << 20, 4096],
  [(40 << 20) - 10, 10],
];
export const SPARSE_SIZE = 40 << 20;

/** The rich tree (test/lib/fixture.ts) plus a hashed directory and a sparse file, in `dir`. */
export async function makeExt4Tree(dir: string): Promise<void> {
  await makeRichTree(dir);
  await mkdir(join(dir, 'many'));
  for (const [i, n] of MANY_NAMES.entries()) await writeFile(join(dir, 'many', n), `${i}\n`);
  const fd = openSync(join(dir, 'sparse'), 'w');
  try {
    ftruncateSync(fd, SPARSE_SIZE);
    for (const [i, [off, len]] of SPARSE_ISLANDS.entries()) writeSync(fd, Buffer.alloc(len, 0x41 + i), 0, len, off);
  } finally {
    closeSync(fd);
  }
}

/** The rich ext4 tree as imgkit reads it: the directory, the rich manifest (devices, fifo, socket, owners) and RICH_XATTRS. */
export async function richExt4Source(dir: string): Promise<SourceTree> {
  const manifest = parseManifest(`${await richManifestText()}\n${xattrManifest()}\n`, RICH_MANIFEST_PATH);
  return applyManifest(nodeSource(dir), manifest, { mtime: EPOCH - 100 });
}

/** What the image must hold: the source with times clamped to the epoch. */
export function clamped(tree: SourceTree, epoch: number): SourceTree {
  return applyOwnership(tree, { epoch });
}
