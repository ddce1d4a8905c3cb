/**
 * Tree snapshots: what a test compares. A snapshot maps each tree path ('' for the root, POSIX,
 * no leading '/') to its metadata and the sha256 of its content. Made from an extracted directory
 * (`snapshotDir`, lstat, never follows symlinks) or from a SourceTree (`snapshotTree`), so an image
 * written from a tree can be compared with what the reference tool extracted from it.
 *
 * Hard links: every name of a multiply-linked file carries `hardLinkGroup` = the group's first path
 * in walk order, and `nlink` = the group's size (files only), so "these names share one inode" is
 * compared too.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { compareTreePaths, type EntryKind, type SourceTree } from '@imgkit/core';

export interface SnapEntry {
  kind: EntryKind;
  /** Permission, set-id and sticky bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds. */
  mtime: number;
  /** Bytes for files, target bytes for symlinks, 0 otherwise. */
  size: number;
  linkTarget?: string;
  /** Linux dev_t (glibc makedev encoding) for char/block devices. */
  rdev?: number;
  /** sha256 hex of file content. */
  sha256?: string;
  /** Link count of regular files. */
  nlink?: number;
  /** First path (walk order) of this file's hard-link group; absent for single-linked files. */
  hardLinkGroup?: string;
}
export type Snapshot = Map<string, SnapEntry>;

function kindOf(st: import('node:fs').Stats): EntryKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Snapshot a directory on disk (lstat; symlinks are not followed). */
export async function snapshotDir(dir: string): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  const inodes = new Map<string, string[]>();
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = await lstat(abs);
    const kind = kindOf(st);
    const e: SnapEntry = {
      kind,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      size: kind === 'file' || kind === 'symlink' ? st.size : 0,
    };
    if (kind === 'symlink') e.linkTarget = await readlink(abs);
    if (kind === 'char' || kind === 'block') e.rdev = st.rdev;
    if (kind === 'file') {
      e.sha256 = await sha256File(abs);
      e.nlink = st.nlink;
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const names = inodes.get(key) ?? [];
        names.push(rel);
        inodes.set(key, names);
      }
    }
    snap.set(rel, e);
    if (kind === 'dir') {
      const names = await readdir(abs);
      for (const n of names) await visit(rel === '' ? n : `${rel}/${n}`);
    }
  };
  await visit('');
  for (const names of inodes.values()) {
    names.sort(compareTreePaths);
    for (const n of names) snap.get(n)!.hardLinkGroup = names[0]!;
  }
  return sortSnapshot(snap);
}

/** Snapshot a SourceTree (reads every file's content). */
export async function snapshotTree(tree: SourceTree): Promise<Snapshot> {
  const snap: Snapshot = new Map();
  const groups = new Map<string, string[]>();
  for await (const entry of tree.walk()) {
    const e: SnapEntry = { kind: entry.kind, mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, mtime: Math.floor(entry.mtime), size: entry.size };
    if (entry.kind === 'dir' || entry.kind === 'char' || entry.kind === 'block' || entry.kind === 'fifo' || entry.kind === 'socket') e.size = 0;
    if (entry.linkTarget !== undefined && entry.kind === 'symlink') e.linkTarget = entry.linkTarget;
    if ((entry.kind === 'char' || entry.kind === 'block') && entry.rdev !== undefined) e.rdev = entry.rdev;
    if (entry.kind === 'file') {
      if (entry.hardLinkTo !== undefined) {
        const first = snap.get(entry.hardLinkTo);
        if (!first) throw new Error(`snapshotTree: ${entry.path} links to ${entry.hardLinkTo}, which was not walked before it`);
        e.sha256 = first.sha256!;
        e.size = first.size;
        groups.get(entry.hardLinkTo)!.push(entry.path);
      } else {
        const h = createHash('sha256');
        for await (const c of entry.read()) h.update(c);
        e.sha256 = h.digest('hex');
        groups.set(entry.path, [entry.path]);
      }
    }
    snap.set(entry.path, e);
  }
  for (const [first, names] of groups) {
    for (const n of names) {
      const e = snap.get(n)!;
      e.nlink = names.length;
      if (names.length > 1) e.hardLinkGroup = first;
    }
  }
  return sortSnapshot(snap);
}

function sortSnapshot(s: Snapshot): Snapshot {
  return new Map([...s.entries()].sort((a, b) => compareTreePaths(a[0], b[0])));
}

export type SnapField = 'kind' | 'mode' | 'uid' | 'gid' | 'mtime' | 'size' | 'linkTarget' | 'rdev' | 'sha256' | 'nlink' | 'hardLinkGroup';
const FIELDS: readonly SnapField[] = ['kind', 'mode', 'uid', 'gid', 'mtime', 'size', 'linkTarget', 'rdev', 'sha256', 'nlink', 'hardLinkGroup'];

export interface CompareOptions {
  /**
   * Fields not compared. 'root' skips the root entry ''; 'dirMtime' / 'symlinkMtime' skip the
   * mtimes of directories / symlinks (tools that cannot restore them).
   */
  ignore?: readonly (SnapField | 'root' | 'dirMtime' | 'symlinkMtime')[];
  /** Compare only these paths. */
  only?: readonly string[];
}

function show(field: SnapField, v: unknown): string {
  if (v === undefined) return '(none)';
  if (field === 'mode' && typeof v === 'number') return `0${v.toString(8)}`;
  if (field === 'rdev' && typeof v === 'number') return `${v} (${(v >>> 8) & 0xfff},${(v & 0xff) | ((v >>> 12) & 0xfff00)})`;
  return JSON.stringify(v);
}

/** List the differences between two snapshots (empty when equal). */
export function diffTrees(actual: Snapshot, expected: Snapshot, opts: CompareOptions = {}): string[] {
  const ignore = new Set<string>(opts.ignore ?? []);
  const only = opts.only ? new Set(opts.only) : undefined;
  const wanted = (p: string) => (only ? only.has(p) : true) && !(p === '' && ignore.has('root'));
  const out: string[] = [];
  for (const [p, exp] of expected) {
    if (!wanted(p)) continue;
    const act = actual.get(p);
    if (!act) {
      out.push(`- missing  ${p || '(root)'} (${exp.kind})`);
      continue;
    }
    for (const f of FIELDS) {
      if (ignore.has(f)) continue;
      if (f === 'mtime' && exp.kind === 'dir' && ignore.has('dirMtime')) continue;
      if (f === 'mtime' && exp.kind === 'symlink' && ignore.has('symlinkMtime')) continue;
      const a = act[f];
      const e = exp[f];
      if (a !== e) out.push(`~ differs  ${p || '(root)'}: ${f} expected ${show(f, e)}, got ${show(f, a)}`);
    }
  }
  for (const [p, act] of actual) {
    if (!wanted(p)) continue;
    if (!expected.has(p)) out.push(`+ extra    ${p || '(root)'} (${act.kind})`);
  }
  return out;
}

/** Fail with a readable diff unless the snapshots are equal. */
export function assertSameTree(actual: Snapshot, expected: Snapshot, opts: CompareOptions = {}): void {
  const d = diffTrees(actual, expected, opts);
  if (d.length > 0) {
    const shown = d.slice(0, 60).join('\n');
    assert.fail(`trees differ (${d.length} difference${d.length === 1 ? '' : 's'}; expected ${expected.size} entries, got ${actual.size}):\n${shown}${d.length > 60 ? `\n… ${d.length - 60} more` : ''}`);
  }
}

/** Render a snapshot as `ls -l`-like lines (debug output in failures). */
export function formatSnapshot(s: Snapshot): string {
  const lines: string[] = [];
  for (const [p, e] of s) {
    lines.push(
      `${e.kind.padEnd(7)} ${show('mode', e.mode).padStart(6)} ${e.uid}:${e.gid} ${e.mtime} ${e.size} ${p || '.'}${e.linkTarget !== undefined ? ` -> ${e.linkTarget}` : ''}${e.rdev !== undefined ? ` rdev ${show('rdev', e.rdev)}` : ''}${e.hardLinkGroup ? ` [link ${e.hardLinkGroup}]` : ''}`,
    );
  }
  return lines.join('\n');
}
