/**
 * Planning: everything known before a byte is written. One walk of the tree's metadata (checked
 * entry by entry by core's TreeChecker, the checks every format shares; no content is read) builds the volume's directory tree; then names, sizes,
 * the volume layout and every cluster are decided, so `write` only streams.
 *
 * 1. Walk: files and directories become nodes; a name FAT cannot hold is refused (or replaced, as
 *    an opt-in with a warning); device nodes, fifos and sockets are refused; symbolic links are
 *    refused, or followed (options.symlinks = 'follow') when they lead to something inside the
 *    tree. Hard-linked names become copies: FAT has no links, and two entries sharing clusters
 *    are "cross-linked" to fsck.fat. Files over 4 GiB − 1 are refused (DIR_FileSize is 32 bits).
 * 2. Links: each followed link is resolved inside the tree (relative targets only; `..` may not
 *    leave the root; chains up to 40 links) and replaced by a copy of what it points to: a file,
 *    or a directory's subtree. A directory link that would contain itself is refused.
 * 3. Names: per directory, a case-insensitive collision check, then the short names (short-name.ts)
 *    and the slots each entry takes (long-name entries + 1).
 * 4. Layout: the size given, or the smallest that holds everything (geometry.ts), and the layout
 *    mkfs.fat gives that size.
 * 5. Clusters: one contiguous run per file and directory, in walk order (FAT32's root first, at
 *    cluster 2), so reading the tree and writing the volume go the same way.
 *
 * Memory: one node per entry of the volume; no content.
 */
import {
  ErrorCodes,
  FieldRangeError,
  ImgkitError,
  NoSpaceError,
  UnsupportedEntryError,
  TreeChecker,
  clampTime,
  warnOrThrow,
  type ByteSink,
  type CodecName,
  type ImagePlan,
  type SourceEntry,
  type SourceTree,
} from '@imgkit/core';
import { DIRENT_BYTES, FAT_TIME_MAX, FAT_TIME_MIN } from './dirent.js';
import { MAX_DIR_ENTRIES, MIN_CLUSTERS_32, geometryFor, fits, smallestFit, type FatBits, type FatGeometry, type SpaceNeed } from './geometry.js';
import { lfnEntryCount } from './lfn.js';
import { resolveOptions, type FatOptions, type ResolvedFatOptions } from './options.js';
import { assignShortNames, foldName, longNameProblem, replaceInvalid, type ShortName } from './short-name.js';
import { writePlanned, type FatProgress, type FatResult } from './writer.js';

const FORMAT = 'fat';
/** DIR_FileSize is 32 bits. */
export const FAT_MAX_FILE_BYTES = 0xffffffff;
/** Links followed in one resolution, as Linux's MAXSYMLINKS. */
const MAX_LINK_HOPS = 40;

export interface FatNode {
  /** Name in the volume (the long name). */
  name: string;
  /** Path in the volume ('' for the root), as errors name it. */
  path: string;
  kind: 'file' | 'dir';
  /** Seconds, clamped to the epoch when one is given. */
  mtime: number;
  /** No write permission in the source: ATTR_READ_ONLY. */
  readOnly: boolean;
  /** File bytes. */
  size: number;
  /** Where a file's bytes come from (the first name of a hard-linked file; a link's target). */
  content?: SourceEntry;
  children?: FatNode[];
  short?: ShortName;
  /** Directory entries (32-byte slots) of a directory, '.', '..', label and long names included. */
  slots: number;
  /** First cluster (0: none) and cluster count. */
  cluster: number;
  clusters: number;
}

interface LinkNode {
  name: string;
  /** Path in the volume. */
  path: string;
  /** Path in the source tree (targets are resolved from there). */
  source: string;
  target: string;
}
type WalkNode = FatNode | (LinkNode & { kind: 'symlink' });

/** A planned FAT volume (core's ImagePlan: the contract every format's plan follows). */
export interface FatPlan extends ImagePlan<FatResult> {
  /** Bytes the image takes: exact. */
  sizeBytes: number;
  /** The smallest size that holds the tree (and the margin, when the size was chosen here). */
  minSizeBytes: number;
  /** FAT is written front to back: any sink will do. */
  needsSeekableSink: false;
  /** FAT compresses nothing. */
  codecs: readonly CodecName[];
  fatBits: FatBits;
  clusterBytes: number;
  geometry: FatGeometry;
  volumeId: number;
  label: string | undefined;
  /** Files and directories in the volume (the root excluded). */
  files: number;
  directories: number;
  /** Clusters taken (FAT32's root included) and free. */
  usedClusters: number;
  freeClusters: number;
  /** Write the image at the sink's current position. */
  write(sink: ByteSink): Promise<FatResult>;
}

/** Everything the writer needs. */
export interface PlannedVolume {
  geometry: FatGeometry;
  options: ResolvedFatOptions;
  root: FatNode;
  /** Files and directories in cluster order (the root excluded). */
  order: FatNode[];
  /** Last cluster of each run, ascending. */
  runEnds: number[];
  usedClusters: number;
  onProgress: ((p: FatProgress) => void) | undefined;
}

function warn(o: ResolvedFatOptions, code: (typeof ErrorCodes)[keyof typeof ErrorCodes], path: string, detail: string): void {
  warnOrThrow({ code, format: FORMAT, path, detail }, o.onWarning, o.strict);
}

/** Walk the tree into nodes (step 1). */
async function walk(tree: SourceTree, o: ResolvedFatOptions): Promise<{ root: FatNode; byPath: Map<string, WalkNode>; links: (LinkNode & { kind: 'symlink' })[] }> {
  const refuseHint = 'exclude it, or give it in a manifest as a file';
  const checker = new TreeChecker({
    format: FORMAT,
    kinds: o.followSymlinks ? ['file', 'dir', 'symlink'] : ['file', 'dir'],
    refuse: {
      symlink: { detail: 'FAT has no symbolic links', hint: 'pass --dereference to store what it points to (inside the tree), or exclude it' },
      char: { detail: 'FAT cannot store a character device', hint: refuseHint },
      block: { detail: 'FAT cannot store a block device', hint: refuseHint },
      fifo: { detail: 'FAT cannot store a fifo', hint: refuseHint },
      socket: { detail: 'FAT cannot store a socket', hint: refuseHint },
    },
    checkName: (name) => {
      const p = longNameProblem(name);
      // With the opt-in mapping only the length stays an error; the rest is replaced below.
      return p && (!o.replaceInvalid || p.code === ErrorCodes.NAME_TOO_LONG) ? p : undefined;
    },
  });
  const byPath = new Map<string, WalkNode>();
  const links: (LinkNode & { kind: 'symlink' })[] = [];
  let root: FatNode | undefined;
  for await (const entry of tree.walk()) {
    const { entry: e, name: sourceName, parent } = checker.check(entry);
    let name = sourceName;
    if (o.replaceInvalid && e.path !== '') {
      const mapped = replaceInvalid(name);
      if (mapped !== name) {
        warn(o, ErrorCodes.NAME_UNENCODABLE, e.path, `FAT cannot hold this name: stored as "${mapped}"`);
        name = mapped;
      }
    }
    const parentNode = parent === undefined ? undefined : (byPath.get(parent) as FatNode);
    const path = parentNode ? (parentNode.path === '' ? name : `${parentNode.path}/${name}`) : '';
    if (e.xattrs && e.xattrs.length > 0) {
      warn(o, ErrorCodes.UNSUPPORTED_ENTRY, e.path, `FAT cannot store extended attributes; ${e.xattrs.length} dropped (${e.xattrs.map((x) => x.name).join(', ')})`);
    }
    let node: WalkNode;
    if (e.kind === 'symlink') {
      node = { kind: 'symlink', name, path, source: e.path, target: e.linkTarget ?? '' };
      links.push(node);
    } else {
      let mtime = o.clampTimes ? clampTime(e.mtime, o.epoch) : Math.floor(e.mtime);
      if (mtime < FAT_TIME_MIN || mtime > FAT_TIME_MAX) {
        if (e.path !== '') warn(o, ErrorCodes.FIELD_RANGE, e.path, `time ${mtime} lies outside what FAT dates hold (1980–2107): stored as ${mtime < FAT_TIME_MIN ? '1980-01-01 00:00:00' : '2107-12-31 23:59:58'}`);
        mtime = Math.min(Math.max(mtime, FAT_TIME_MIN), FAT_TIME_MAX);
      }
      const f: FatNode = { name, path, kind: e.kind as 'file' | 'dir', mtime, readOnly: (e.mode & 0o222) === 0, size: 0, slots: 0, cluster: 0, clusters: 0 };
      if (e.kind === 'dir') f.children = [];
      else {
        // A later name of a hard-linked file is a copy of the first (FAT cannot share clusters).
        const first = e.hardLinkTo !== undefined ? (byPath.get(e.hardLinkTo) as FatNode | undefined) : undefined;
        f.content = first?.content ?? e;
        f.size = f.content.size;
        if (f.size > FAT_MAX_FILE_BYTES) {
          throw new FieldRangeError({
            format: FORMAT,
            path: e.path,
            field: 'fat.dirent.fileSize',
            detail: `the file is ${f.size} bytes; FAT stores at most ${FAT_MAX_FILE_BYTES} (4 GiB − 1) per file`,
            hint: 'split it or exclude it (or use another filesystem)',
          });
        }
      }
      node = f;
      if (e.path === '') root = f;
    }
    if (parentNode) (parentNode.children as WalkNode[]).push(node);
    byPath.set(e.path, node);
  }
  checker.finish();
  return { root: root!, byPath, links };
}

/** A link that cannot be followed, named by its path in the source tree (what the user can fix). */
function linkError(link: LinkNode, detail: string): UnsupportedEntryError {
  return new UnsupportedEntryError({ format: FORMAT, path: link.source, detail, hint: 'make it point inside the tree, or exclude it' });
}

/** What `link` leads to: a file or directory node of the tree, and its source path (step 2). */
function resolveLink(link: LinkNode, byPath: Map<string, WalkNode>, hops = 0): { node: FatNode; source: string } {
  if (link.target.startsWith('/')) throw linkError(link, `the link points to "${link.target}": an absolute target lies outside the tree`);
  if (link.target === '') throw linkError(link, 'the link has an empty target');
  const at: string[] = link.source.split('/').slice(0, -1);
  let node: WalkNode | undefined = byPath.get(at.join('/'));
  const parts = link.target.split('/').filter((p) => p !== '' && p !== '.');
  for (const [i, part] of parts.entries()) {
    if (node?.kind !== 'dir') throw linkError(link, `the link points to "${link.target}", through something that is not a directory`);
    if (part === '..') {
      if (at.length === 0) throw linkError(link, `the link points to "${link.target}", outside the tree`);
      at.pop();
      node = byPath.get(at.join('/'));
      continue;
    }
    at.push(part);
    node = byPath.get(at.join('/'));
    if (!node) throw linkError(link, `the link points to "${link.target}", which does not exist in the tree`);
    if (node.kind === 'symlink') {
      if (hops >= MAX_LINK_HOPS) throw linkError(link, `the link points to "${link.target}" through more than ${MAX_LINK_HOPS} links (a loop)`);
      const r = resolveLink(node, byPath, hops + 1);
      node = r.node;
      at.splice(0, at.length, ...(r.source === '' ? [] : r.source.split('/')));
    }
    if (i < parts.length - 1 && node.kind !== 'dir') throw linkError(link, `the link points to "${link.target}", through a file`);
  }
  return { node: node as FatNode, source: at.join('/') };
}

/**
 * The volume's tree with every followed link replaced by a copy of what it leads to (step 2):
 * a fresh node for every position, since layout is recorded on the nodes. `realDirs` holds the
 * source directories the current volume path runs through: a link back into one of them would
 * make the volume infinite.
 */
function materialize(real: FatNode, name: string, path: string, realDirs: Set<FatNode>, byPath: Map<string, WalkNode>): FatNode {
  const out: FatNode = { ...real, name, path, children: [] };
  realDirs.add(real);
  for (const c of real.children as WalkNode[]) {
    const childPath = path === '' ? c.name : `${path}/${c.name}`;
    if (c.kind === 'symlink') {
      const { node: target } = resolveLink(c, byPath);
      if (target.kind === 'file') out.children!.push({ ...target, name: c.name, path: childPath });
      else {
        if (realDirs.has(target)) throw linkError(c, `the link points to "${c.target}", a directory that contains the link: following it never ends`);
        out.children!.push(materialize(target, c.name, childPath, realDirs, byPath));
      }
    } else if (c.kind === 'dir') out.children!.push(materialize(c, c.name, childPath, realDirs, byPath));
    else out.children!.push({ ...c, path: childPath });
  }
  realDirs.delete(real);
  return out;
}

/** Names, short names and slots of every directory (step 3). */
function layoutNames(root: FatNode, label: string | undefined): { files: number; dirs: number } {
  let files = 0;
  let dirs = 0;
  const visit = (d: FatNode) => {
    const kids = d.children!;
    const seen = new Map<string, string>();
    for (const k of kids) {
      const key = foldName(k.name);
      const other = seen.get(key);
      if (other !== undefined) {
        throw new ImgkitError(ErrorCodes.NAME_COLLISION, {
          format: FORMAT,
          path: k.path,
          detail: `FAT compares names without case: "${k.name}" and "${other}" are one name in this directory`,
          hint: 'rename one of them or exclude it',
        });
      }
      seen.set(key, k.name);
    }
    const shorts = assignShortNames(kids.map((k) => k.name));
    let slots = d.path === '' ? (label !== undefined ? 1 : 0) : 2; // the label entry, or '.' and '..'
    kids.forEach((k, i) => {
      k.short = shorts[i]!;
      slots += 1 + (k.short.needsLfn ? lfnEntryCount(k.name.length) : 0);
    });
    if (slots > MAX_DIR_ENTRIES) {
      throw new FieldRangeError({
        format: FORMAT,
        path: d.path,
        field: 'fat.directory',
        detail: `the directory needs ${slots} 32-byte entries (long names included); FAT allows at most ${MAX_DIR_ENTRIES}`,
        hint: 'split it into subdirectories, or use shorter (8.3) names',
      });
    }
    d.slots = slots;
    for (const k of kids) {
      if (k.kind === 'dir') {
        dirs++;
        visit(k);
      } else files++;
    }
  };
  visit(root);
  return { files, dirs };
}

/** What the tree needs from a volume, per cluster size (cached: 8 sizes × 3 types at most). */
function spaceNeed(root: FatNode, o: ResolvedFatOptions): SpaceNeed {
  const fileSizes: number[] = [];
  const dirBytes: number[] = [];
  const collect = (d: FatNode) => {
    for (const k of d.children!) {
      if (k.kind === 'dir') {
        dirBytes.push(k.slots * DIRENT_BYTES);
        collect(k);
      } else fileSizes.push(k.size);
    }
  };
  collect(root);
  const cache = new Map<number, number>();
  return {
    rootEntries: root.slots,
    clusters(cb, bits) {
      const key = cb * 64 + bits;
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      let n = 0;
      for (const s of fileSizes) n += Math.ceil(s / cb);
      for (const b of dirBytes) n += Math.max(1, Math.ceil(b / cb));
      if (bits === 32) n += Math.max(1, Math.ceil((root.slots * DIRENT_BYTES) / cb));
      const margin = 'bytes' in o.margin ? o.margin.bytes : Math.ceil((n * cb * o.margin.percent) / 100);
      n += Math.ceil(margin / cb);
      cache.set(key, n);
      return n;
    },
  };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(n % 1048576 === 0 ? 0 : 2)} MiB`;
}

/**
 * The layout (step 4). An automatic size never makes a FAT32 volume of fewer than 65525 clusters
 * (mkfs.fat -F 32 would, with a warning: mtools and other drivers that go by the cluster count
 * then read it as FAT12/16); a size given that leads there is written, with a warning.
 */
function chooseGeometry(need: SpaceNeed, o: ResolvedFatOptions): { geometry: FatGeometry; minSize: number } {
  const type = o.fatBits !== undefined ? `FAT${o.fatBits}` : 'FAT';
  const proper: SpaceNeed = {
    rootEntries: need.rootEntries,
    clusters: (cb, bits) => (bits === 32 ? Math.max(MIN_CLUSTERS_32, need.clusters(cb, bits)) : need.clusters(cb, bits)),
  };
  const min = smallestFit(proper, o.fatBits);
  if (o.size === undefined) {
    if (min === undefined) {
      throw new NoSpaceError({
        format: FORMAT,
        detail: `no ${type} volume holds this tree (${need.clusters(32768, o.fatBits ?? 32)} clusters of 32 KiB)`,
        hint: o.fatBits !== undefined && o.fatBits !== 32 ? 'let the FAT type be chosen, or use FAT32' : 'split the tree',
      });
    }
    return { geometry: geometryFor(min, need, o.fatBits)!, minSize: min };
  }
  const g = geometryFor(o.size, need, o.fatBits);
  if (g && fits(g, need)) {
    if (g.fatBits === 32 && g.clusterCount < MIN_CLUSTERS_32) {
      warn(o, ErrorCodes.BAD_OPTION, '', `a FAT32 volume of ${o.size} bytes has ${g.clusterCount} clusters, fewer than ${MIN_CLUSTERS_32}: drivers that go by the cluster count (mtools, some firmware) read it as FAT12/16`);
    }
    return { geometry: g, minSize: Math.min(o.size, smallestFit(need, o.fatBits) ?? o.size) };
  }
  const needed = smallestFit(need, o.fatBits);
  if (needed !== undefined && needed <= o.size) {
    // The tree would fit, but mkfs.fat makes no volume of this type and size.
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: FORMAT,
      field: 'size',
      detail: `mkfs.fat makes no ${type} volume of ${o.size} bytes (too many or too few clusters for that type)`,
      hint: o.fatBits !== undefined ? 'choose another size or let the FAT type be chosen' : 'choose another size',
    });
  }
  const want = min ?? needed;
  throw new NoSpaceError({
    format: FORMAT,
    field: 'size',
    detail: `the tree needs a ${type} volume of ${want !== undefined ? `${want} bytes (${mib(want)})` : 'more than 2 TiB'}; the size given is ${o.size} bytes (${mib(o.size)})`,
    hint: want !== undefined ? `raise --size to ${Math.ceil(want / 1048576)}M, or leave it out to size the volume automatically` : 'split the tree',
  });
}

/** Clusters for every file and directory, in walk order (step 5). */
function allocate(root: FatNode, g: FatGeometry): { order: FatNode[]; runEnds: number[]; used: number } {
  const order: FatNode[] = [];
  const runEnds: number[] = [];
  let next = 2;
  const take = (n: FatNode, count: number) => {
    n.clusters = count;
    n.cluster = count > 0 ? next : 0;
    if (count > 0) {
      next += count;
      runEnds.push(next - 1);
    }
  };
  const dirClusters = (slots: number) => Math.max(1, Math.ceil((slots * DIRENT_BYTES) / g.clusterBytes));
  if (g.fatBits === 32) take(root, dirClusters(root.slots));
  const visit = (d: FatNode) => {
    for (const k of d.children!) {
      take(k, k.kind === 'dir' ? dirClusters(k.slots) : Math.ceil(k.size / g.clusterBytes));
      order.push(k);
      if (k.kind === 'dir') visit(k);
    }
  };
  visit(root);
  const used = next - 2;
  if (used > g.clusterCount) throw new Error(`internal: ${used} clusters allocated on a volume of ${g.clusterCount}`);
  return { order, runEnds, used };
}

export interface PlanFatOptions extends FatOptions {
  /** Called after each file or directory is written (progress display). @default none */
  onProgress?: (p: FatProgress) => void;
}

/** Plan a FAT volume for `tree` (see the top of this file); `plan.write(sink)` writes it. */
export async function planFat(tree: SourceTree, options: PlanFatOptions = {}): Promise<FatPlan> {
  const o = resolveOptions(options);
  const { root: walked, byPath, links } = await walk(tree, o);
  const root = links.length > 0 ? materialize(walked, '', '', new Set(), byPath) : walked;
  const { files, dirs } = layoutNames(root, o.label);
  const need = spaceNeed(root, o);
  const { geometry, minSize } = chooseGeometry(need, o);
  const { order, runEnds, used } = allocate(root, geometry);
  const volume: PlannedVolume = { geometry, options: o, root, order, runEnds, usedClusters: used, onProgress: options.onProgress };
  return {
    sizeBytes: geometry.imageBytes,
    minSizeBytes: minSize,
    needsSeekableSink: false,
    codecs: [],
    fatBits: geometry.fatBits,
    clusterBytes: geometry.clusterBytes,
    geometry,
    volumeId: o.volumeId,
    label: o.label,
    files,
    directories: dirs,
    usedClusters: used,
    freeClusters: geometry.clusterCount - used,
    write: (sink) => writePlanned(volume, sink),
  };
}
