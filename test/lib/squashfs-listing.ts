/**
 * `unsquashfs -lln` listings (run with TZ=UTC): parsed, and compared with a source snapshot
 * (permissions, owners, minute of mtime, sizes, device numbers, link targets).
 */
import assert from 'node:assert/strict';
import { permString } from './cpio-listing.js';
import type { Snapshot } from './tree.js';

/** Parse `unsquashfs -lln` (TZ=UTC) into path → listing fields. */
export function parseLln(text: string): Map<string, { perms: string; uid: number; gid: number; size: string; minute: string; target?: string }> {
  const out = new Map<string, { perms: string; uid: number; gid: number; size: string; minute: string; target?: string }>();
  for (const line of text.split('\n')) {
    const m = /^(\S{10}) (\d+)\/(\d+)\s+(\d+|\d+,\s*\d+) (\d{4}-\d\d-\d\d \d\d:\d\d) squashfs-root(?:\/(.*))?$/.exec(line);
    if (!m) continue;
    let name = m[6] ?? '';
    let target: string | undefined;
    if (m[1]!.startsWith('l')) {
      const i = name.indexOf(' -> ');
      target = name.slice(i + 4);
      name = name.slice(0, i);
    }
    out.set(name, { perms: m[1]!, uid: Number(m[2]), gid: Number(m[3]), size: m[4]!.replace(/\s+/g, ''), minute: m[5]!, ...(target !== undefined ? { target } : {}) });
  }
  return out;
}

function minuteOf(t: number): string {
  return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

/** Compare an `unsquashfs -lln` listing with the source snapshot. */
export function assertListingMatches(listing: ReturnType<typeof parseLln>, expected: Snapshot): void {
  assert.equal(listing.size, expected.size, `listing has ${listing.size} entries, the source ${expected.size}`);
  for (const [p, e] of expected) {
    const l = listing.get(p);
    assert.ok(l, `listing lacks ${p}`);
    assert.equal(l.perms, permString(e.kind, e.mode), `${p}: permissions`);
    assert.equal(l.uid, e.uid, `${p}: uid`);
    assert.equal(l.gid, e.gid, `${p}: gid`);
    assert.equal(l.minute, minuteOf(e.mtime), `${p}: mtime`);
    if (e.kind === 'file' || e.kind === 'symlink') assert.equal(l.size, String(e.size), `${p}: size`);
    if (e.kind === 'char' || e.kind === 'block') {
      const rdev = e.rdev!;
      const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
      const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff & 0xfffff);
      // unsquashfs 4.5.1 -lln prints the stored 32-bit number as (n >> 8, n & 0xff): right for small
      // numbers, odd-looking for wide ones (mksquashfs's images show the same); extraction decodes it
      // properly (checked through unsquashfs -d below).
      const stored = ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
      assert.equal(l.size, `${stored >>> 8},${stored & 0xff}`, `${p}: device number`);
    }
    if (e.kind === 'symlink') assert.equal(l.target, e.linkTarget, `${p}: link target`);
  }
}

