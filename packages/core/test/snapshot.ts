// Snapshot of a SourceTree's entries as the source reports them (hardLinkTo kept as is), for
// comparing two sources of the same tree in core's tests.
import { createHash } from 'node:crypto';
import { readChecked, type SourceTree } from '@imgkit/core';

export type Snap = Map<string, Record<string, unknown>>;
export async function snapshot(tree: SourceTree): Promise<Snap> {
  const out: Snap = new Map();
  for await (const e of tree.walk()) {
    const s: Record<string, unknown> = { kind: e.kind, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.size };
    if (e.linkTarget !== undefined) s.linkTarget = e.linkTarget;
    if (e.rdev !== undefined) s.rdev = e.rdev;
    if (e.hardLinkTo !== undefined) s.hardLinkTo = e.hardLinkTo;
    if (e.kind === 'file') {
      const h = createHash('sha256');
      for await (const c of readChecked(e, 'test')) h.update(c);
      s.sha256 = h.digest('hex');
    }
    out.set(e.path, s);
  }
  return out;
}
