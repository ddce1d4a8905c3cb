/**
 * Parse `cpio -itvn` / `bsdcpio -itvn` listings (ls -l style with numeric owners) and compare them
 * with a snapshot: names, type + permission string, uid/gid, link targets, device numbers, sizes.
 */
import assert from 'node:assert/strict';
import { devMajor, devMinor, type EntryKind } from '@imgkit/core';
import type { Snapshot } from './tree.js';

export interface ListedEntry {
  perms: string;
  nlink: number;
  uid: number;
  gid: number;
  size?: number;
  major?: number;
  minor?: number;
  name: string;
  linkTarget?: string;
  /** bsdcpio marks later names of a hard-linked file: "name link to first". */
  hardLinkTo?: string;
}

const LINE = /^(\S{10})\s+(\d+)\s+(\d+)\s+(\d+)\s+(?:(\d+),\s*(\d+)|(\d+))\s+\w{3}\s+\d+\s+(?:\d{4}|\d\d:\d\d)\s(.*)$/;

export function parseCpioListing(text: string): ListedEntry[] {
  const out: ListedEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || /^\d+ blocks?$/.test(line.trim())) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unparsed listing line: ${JSON.stringify(line)}`);
    const e: ListedEntry = { perms: m[1]!, nlink: Number(m[2]), uid: Number(m[3]), gid: Number(m[4]), name: m[8]! };
    if (m[5] !== undefined) {
      e.major = Number(m[5]);
      e.minor = Number(m[6]);
    } else e.size = Number(m[7]);
    if (e.perms[0] === 'l') {
      const i = e.name.indexOf(' -> ');
      e.linkTarget = e.name.slice(i + 4);
      e.name = e.name.slice(0, i);
    } else {
      const i = e.name.indexOf(' link to ');
      if (i >= 0) {
        e.hardLinkTo = e.name.slice(i + 9);
        e.name = e.name.slice(0, i);
      }
    }
    out.push(e);
  }
  return out;
}

const TYPE_CHAR: Record<EntryKind, string> = { file: '-', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', socket: 's' };

/** `ls -l` permission string of a kind + mode. */
export function permString(kind: EntryKind, mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string) =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return (
    TYPE_CHAR[kind] +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

/** Compare a listing with the snapshot of the tree the archive was written from. */
export function assertListingMatches(listed: ListedEntry[], expected: Snapshot, tool: string): void {
  const names = listed.map((e) => (e.name === '.' ? '' : e.name.replace(/^\.\//, '')));
  assert.deepEqual([...names].sort(), [...expected.keys()].sort(), `${tool}: names`);
  const problems: string[] = [];
  listed.forEach((e, i) => {
    const path = names[i]!;
    const x = expected.get(path)!;
    const want = permString(x.kind, x.mode);
    if (e.perms !== want) problems.push(`${path}: perms ${e.perms}, expected ${want}`);
    if (e.uid !== x.uid || e.gid !== x.gid) problems.push(`${path}: owner ${e.uid}:${e.gid}, expected ${x.uid}:${x.gid}`);
    if (x.kind === 'symlink' && e.linkTarget !== x.linkTarget) problems.push(`${path}: target ${e.linkTarget}, expected ${x.linkTarget}`);
    if (x.kind === 'char' || x.kind === 'block') {
      if (e.major !== devMajor(x.rdev!) || e.minor !== devMinor(x.rdev!)) problems.push(`${path}: device ${e.major},${e.minor}, expected ${devMajor(x.rdev!)},${devMinor(x.rdev!)}`);
    }
    // Hard links: only the last name carries the data, the others list size 0.
    if (x.kind === 'file' && (x.nlink ?? 1) === 1 && e.size !== x.size) problems.push(`${path}: size ${e.size}, expected ${x.size}`);
    if (e.hardLinkTo !== undefined && e.hardLinkTo !== x.hardLinkGroup) problems.push(`${path}: listed as a link to ${e.hardLinkTo}, expected ${x.hardLinkGroup}`);
    if (x.kind === 'file' && e.nlink !== (x.nlink ?? 1)) problems.push(`${path}: nlink ${e.nlink}, expected ${x.nlink ?? 1}`);
  });
  assert.deepEqual(problems, [], `${tool} listing differs from the source:\n${problems.join('\n')}`);
}
