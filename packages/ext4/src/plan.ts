/**
 * Planning: everything known before a byte is written. One walk of the tree's metadata (checked
 * entry by entry by core's TreeChecker; no file content is read, only sparse files' data maps)
 * gives every inode its number and every directory its names; then the size, the layout and every
 * block are decided, so `write` only streams, front to back.
 *
 * 1. Walk: inode numbers in walk order from 12 (2 the root, 11 lost+found, which a tree may bring
 *    along, 1 and 3–10 reserved), hard links sharing one inode, link counts, attributes split
 *    between inode and block (blocks shared by inodes with identical ones).
 * 2. Directories: linear blocks filled as mke2fs -d fills them; a directory that needs more than
 *    one block becomes a hashed tree (dir_index), as the kernel does when a directory outgrows its
 *    first block.
 * 3. Size: the size given, or the smallest whole number of MiB whose layout (geometry.ts) holds the
 *    tree, the margin and the inode reserve.
 * 4. Blocks: metadata and journal as mke2fs places them, then the root, lost+found and the resize
 *    inode's block, then each inode in walk order — attribute block, directory blocks or file data,
 *    then its extent-tree blocks — from one cursor that only moves forward, so reading the tree and
 *    writing the image go the same way. Holes of sparse files take no blocks.
 *
 * Memory: one record per inode and per name, and per file its extents; no content.
 */
import {
  ErrorCodes,
  FieldRangeError,
  ImgkitError,
  NoSpaceError,
  TreeChecker,
  UnsupportedEntryError,
  clampTime,
  devMajor,
  devMinor,
  encodeUtf8,
  warnOrThrow,
  type ByteSink,
  type CodecName,
  type DataRange,
  type SourceEntry,
  type SourceTree,
} from '@imgkit/core';
import { type Run } from './allocator.js';
import { blockCapacity as dirBlockCapacity, packLinear, recLen, FT_BLKDEV, FT_CHRDEV, FT_DIR, FT_FIFO, FT_REG_FILE, FT_SOCK, FT_SYMLINK, NAME_MAX, type DirName } from './directory.js';
import { toExtents, treeBlocks, type Extent } from './extent.js';
import {
  COMPAT_DIR_INDEX,
  COMPAT_EXT_ATTR,
  COMPAT_HAS_JOURNAL,
  COMPAT_RESIZE_INODE,
  INCOMPAT_FILETYPE,
  RO_COMPAT_DIR_NLINK,
  RO_COMPAT_HUGE_FILE,
  RO_COMPAT_LARGE_FILE,
  RO_COMPAT_METADATA_CSUM,
  RO_COMPAT_SPARSE_SUPER,
  type FeatureWords,
} from './features.js';
import { computeGeometry, journalGoal, type Geometry } from './geometry.js';
import { dirHash, hashSeedWords, layoutHtree, type HtreeLayout } from './htree.js';
import { IBLOCK_BYTES, LINK_MAX, LOST_FOUND_INO, ROOT_INO, EXTRA_ISIZE, OLD_TIME_MAX, OLD_TIME_MIN } from './inode.js';
import { resolveOptions, type Ext4Options, type ResolvedExt4Options } from './options.js';
import { resizeInodeLayout, type ResizeInodeLayout } from './resize-inode.js';
import { FIRST_INO } from './superblock.js';
import { XATTR_REFCOUNT_MAX, blockKey, placeXattrs, prepareXattr, type StoredXattr } from './xattr.js';
import { writePlanned, type Ext4Progress, type Ext4Result } from './writer.js';

const FORMAT = 'ext4';
const MIB = 1024 * 1024;

/** An attribute block, shared by up to 1024 inodes with the same attributes. */
export interface SharedXattrBlock {
  attrs: StoredXattr[];
  refcount: number;
  block: number;
}

export interface Ext4Node {
  ino: number;
  kind: SourceEntry['kind'];
  /** Path in the source tree (errors name it); the first name of a hard-linked file. */
  path: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** File bytes, symlink target bytes; directories: blocks × block size (set by the layout). */
  size: number;
  links: number;
  /** Files: where the content comes from. */
  entry?: SourceEntry;
  /** Symlinks: the target. */
  target?: Uint8Array;
  rdev?: number;
  ibodyXattrs?: StoredXattr[];
  xattrBlock?: SharedXattrBlock;
  /** Directories: the parent and the names in walk order ('.' and '..' not included). */
  parent?: Ext4Node;
  children?: { name: Uint8Array; node: Ext4Node }[];
  /** Directories: linear blocks (indexes into children, -1 '.' and -2 '..') or the hashed layout. */
  linear?: number[][];
  htree?: { layout: HtreeLayout; order: Uint32Array; hashes: Uint32Array };
  /** Logical blocks that hold data (files: from the data ranges; dirs and slow symlinks: all). */
  logicalRuns?: Run[];
  dataBlocks: number;
  /** Physical placement, in logical order. */
  extents?: Extent[];
  treeBlocks?: number[];
  flags: number;
  /** The part of i_block that is not an extent tree (fast symlink target, device numbers). */
  iblock?: Uint8Array;
}

export interface Ext4Plan {
  /** Bytes the image takes: exact (the size given, or the automatic size). */
  sizeBytes: number;
  /** The smallest size that holds the tree (whole MiB; with the margin and inode reserve when the size was chosen here). */
  minSizeBytes: number;
  /** Written front to back, nothing patched: any sink will do. */
  needsSeekableSink: false;
  /** ext4 compresses nothing. */
  codecs: readonly CodecName[];
  geometry: Geometry;
  blockSize: number;
  blocks: number;
  inodes: number;
  freeBlocks: number;
  freeInodes: number;
  uuid: Uint8Array;
  features: FeatureWords;
  /** Files, directories and other inodes of the tree (the root and lost+found included). */
  usedInodes: number;
  /** Write the image at the sink's current position. */
  write(sink: ByteSink): Promise<Ext4Result>;
}

/** Everything the writer needs. */
export interface PlannedFs {
  g: Geometry;
  o: ResolvedExt4Options;
  /** Index = inode number (1 … lastIno); undefined for reserved inodes without content. */
  inodes: (Ext4Node | undefined)[];
  lastIno: number;
  root: Ext4Node;
  lostFound: Ext4Node;
  resize: { layout: ResizeInodeLayout; dindBlock: number } | undefined;
  journal: { extents: Extent[]; treeBlocks: number[] } | undefined;
  sharedBlocks: SharedXattrBlock[];
  freeBlocks: number;
  freeInodes: number;
  /** Per group: free blocks, free inodes, directories, used inode count. */
  groupFree: Uint32Array;
  groupDirs: Uint32Array;
  /** Blocks of the tree's files and metadata written, for progress and s_kbytes_written. */
  usedBlocks: number;
  csum: boolean;
  fsSeed: number | undefined;
  onProgress: ((p: Ext4Progress) => void) | undefined;
}

function warn(o: ResolvedExt4Options, code: (typeof ErrorCodes)[keyof typeof ErrorCodes], path: string | undefined, detail: string): void {
  warnOrThrow({ code, format: FORMAT, ...(path !== undefined ? { path } : {}), detail }, o.onWarning, o.strict);
}

const has = (w: FeatureWords, set: keyof FeatureWords, bit: number) => (w[set] & bit) !== 0;

/** Logical blocks holding data, from a file's data ranges (block-aligned, merged). */
function dataRuns(ranges: readonly DataRange[] | undefined, size: number, bs: number): Run[] {
  if (size === 0) return [];
  if (!ranges) return [{ start: 0, count: Math.ceil(size / bs) }];
  const out: Run[] = [];
  for (const r of ranges) {
    if (r.length <= 0) continue;
    const a = Math.floor(r.offset / bs);
    const b = Math.ceil(Math.min(r.offset + r.length, size) / bs);
    if (b <= a) continue;
    const last = out[out.length - 1];
    if (last && a <= last.start + last.count) last.count = Math.max(last.count, b - last.start);
    else out.push({ start: a, count: b - a });
  }
  return out;
}

interface Walked {
  root: Ext4Node;
  lostFound: Ext4Node | undefined;
  nodes: Ext4Node[];
  /** Inodes in walk order (the root first; lost+found where the tree has it). */
  order: Ext4Node[];
  lastIno: number;
  files: number;
  dirs: number;
}

/** Step 1: the walk. */
async function walk(tree: SourceTree, o: ResolvedExt4Options): Promise<Walked> {
  const bs = o.blockSize;
  const checker = new TreeChecker({ format: FORMAT, maxNameBytes: NAME_MAX });
  const byPath = new Map<string, Ext4Node>();
  const order: Ext4Node[] = [];
  let root: Ext4Node | undefined;
  let lostFound: Ext4Node | undefined;
  let nextIno = FIRST_INO + 1;
  let files = 0;
  let dirs = 0;
  const extAttr = has(o.features, 'compat', COMPAT_EXT_ATTR);
  for await (const entry of tree.walk()) {
    const { entry: e, name, parent } = checker.check(entry);
    const parentNode = parent === undefined ? undefined : byPath.get(parent);
    if (e.hardLinkTo !== undefined) {
      const first = byPath.get(e.hardLinkTo)!;
      first.links++;
      parentNode!.children!.push({ name: encodeUtf8(name), node: first });
      continue;
    }
    let mtime = o.clampTimes ? clampTime(e.mtime, o.epoch) : Math.floor(e.mtime);
    if (o.inodeSize === 128 && (mtime < OLD_TIME_MIN || mtime > OLD_TIME_MAX)) {
      warn(o, ErrorCodes.FIELD_RANGE, e.path, `time ${mtime} does not fit a 128-byte inode (1901 … 2038): stored as the nearest end`);
      mtime = Math.min(Math.max(mtime, OLD_TIME_MIN), OLD_TIME_MAX);
    }
    const isLostFound = parent === '' && name === 'lost+found';
    if (isLostFound && e.kind !== 'dir') {
      throw new ImgkitError(ErrorCodes.NAME_COLLISION, { format: FORMAT, path: e.path, detail: `"lost+found" in the root must be a directory (ext4 keeps e2fsck's lost+found there); this is a ${e.kind}`, hint: 'rename or remove it' });
    }
    const node: Ext4Node = {
      ino: e.path === '' ? ROOT_INO : isLostFound ? LOST_FOUND_INO : nextIno++,
      kind: e.kind,
      path: e.path,
      mode: e.mode & 0o7777,
      uid: e.uid,
      gid: e.gid,
      mtime,
      size: 0,
      links: 1,
      dataBlocks: 0,
      flags: 0,
    };
    if (e.kind === 'dir') {
      node.children = [];
      node.links = 2;
      if (parentNode) node.parent = parentNode;
      dirs++;
    } else if (e.kind === 'file') {
      node.entry = e;
      node.size = e.size;
      files++;
    } else if (e.kind === 'symlink') {
      node.target = encodeUtf8(e.linkTarget ?? '');
      node.size = node.target.byteLength;
      if (node.size === 0) throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: FORMAT, path: e.path, detail: 'the symbolic link has an empty target' });
      if (node.size >= bs) {
        throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, { format: FORMAT, path: e.path, detail: `the link target is ${node.size} bytes; with ${bs}-byte blocks the limit is ${bs - 1}`, hint: 'use 4 KiB blocks or shorten the target' });
      }
    } else if (e.kind === 'char' || e.kind === 'block') {
      node.rdev = e.rdev ?? 0;
    }
    if (e.xattrs && e.xattrs.length > 0) {
      if (!extAttr) {
        throw new UnsupportedEntryError({ format: FORMAT, path: e.path, detail: `ext_attr is off, so its ${e.xattrs.length} extended attribute(s) cannot be stored`, hint: 'turn ext_attr on, or drop the attributes' });
      }
      const stored: StoredXattr[] = [];
      const seen = new Set<string>();
      for (const x of e.xattrs) {
        if (seen.has(x.name)) throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: FORMAT, path: e.path, detail: `extended attribute "${x.name}" is given twice` });
        seen.add(x.name);
        const p = prepareXattr(x);
        if ('problem' in p) throw new UnsupportedEntryError({ format: FORMAT, path: e.path, detail: p.problem, hint: 'drop or rename the attribute' });
        stored.push(p.ok);
      }
      const placed = placeXattrs(stored, o.inodeSize, EXTRA_ISIZE, bs);
      if (!placed) {
        throw new FieldRangeError({ format: FORMAT, path: e.path, field: 'ext4.xattr', detail: `its extended attributes do not fit the inode and one ${bs}-byte block (ea_inode, for bigger ones, is not written)`, hint: 'drop some, or use bigger blocks' });
      }
      if (placed.ibody.length > 0) node.ibodyXattrs = placed.ibody;
      if (placed.block.length > 0) node.xattrBlock = { attrs: placed.block, refcount: 0, block: 0 };
    }
    if (parentNode) {
      parentNode.children!.push({ name: encodeUtf8(name), node });
      if (e.kind === 'dir') parentNode.links++;
    }
    if (e.path === '') root = node;
    if (isLostFound) lostFound = node;
    byPath.set(e.path, node);
    order.push(node);
  }
  checker.finish();
  return { root: root!, lostFound, nodes: order, order, lastIno: nextIno - 1, files, dirs };
}

/** Step 2: a directory's blocks (linear, or hashed when it needs more than one and dir_index is on). */
function layoutDirectory(d: Ext4Node, o: ResolvedExt4Options, minBlocks: number, seed: Uint32Array): void {
  const bs = o.blockSize;
  const csum = has(o.features, 'ro_compat', RO_COMPAT_METADATA_CSUM);
  const fileTypes = has(o.features, 'incompat', INCOMPAT_FILETYPE);
  const kids = d.children!;
  const names: DirName[] = [
    { name: DOT, ino: d.ino, fileType: fileTypes ? FT_DIR : 0 },
    { name: DOTDOT, ino: (d.parent ?? d).ino, fileType: fileTypes ? FT_DIR : 0 },
  ];
  for (const k of kids) names.push({ name: k.name, ino: k.node.ino, fileType: fileTypes ? fileTypeOf(k.node.kind) : 0 });
  // With dir_index, a directory that needs more than one block is hashed: its linear layout is only
  // worked out when it fits one block (names are then simply in order).
  const dirIndex = has(o.features, 'compat', COMPAT_DIR_INDEX);
  let bytes = 0;
  for (const n of names) bytes += recLen(n.name.byteLength);
  const oneBlock = bytes <= dirBlockCapacity(bs, csum);
  const linear = oneBlock ? [names.map((_, i) => i)] : dirIndex ? [] : packLinear(names, bs, csum);
  if (!oneBlock && dirIndex) {
    const hashes = new Uint32Array(kids.length);
    const minors = new Uint32Array(kids.length);
    const unsigned = false; // s_flags: signed_directory_hash, as mke2fs sets on x86
    kids.forEach((k, i) => {
      const h = dirHash(k.name, o.hashVersion, seed, unsigned);
      hashes[i] = h.hash;
      minors[i] = h.minor;
    });
    const order = new Uint32Array(kids.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => hashes[a]! - hashes[b]! || minors[a]! - minors[b]! || a - b);
    const layout = layoutHtree(
      Array.from(order, (i) => ({ nameLen: kids[i]!.name.byteLength, hash: hashes[i]!, minor: minors[i]! })),
      bs,
      csum,
    );
    if (!layout) {
      throw new FieldRangeError({ format: FORMAT, path: d.path, field: 'ext4.htree', detail: `the directory has ${kids.length} names, more than a two-level hashed directory holds with ${bs}-byte blocks (large_dir is not written)`, hint: 'split it into subdirectories' });
    }
    d.htree = { layout, order, hashes };
    d.dataBlocks = layout.blockCount;
    d.flags |= 0x1000; // INDEX_FL
  } else {
    // Names as indexes into children: −2 '.', −1 '..'.
    d.linear = linear.map((blk) => blk.map((i) => i - 2));
    while (d.linear.length < minBlocks) d.linear.push([]);
    d.dataBlocks = d.linear.length;
  }
  d.size = d.dataBlocks * bs;
  d.logicalRuns = [{ start: 0, count: d.dataBlocks }];
}

const DOT = Uint8Array.of(0x2e);
const DOTDOT = Uint8Array.of(0x2e, 0x2e);

function fileTypeOf(kind: SourceEntry['kind']): number {
  switch (kind) {
    case 'file':
      return FT_REG_FILE;
    case 'dir':
      return FT_DIR;
    case 'symlink':
      return FT_SYMLINK;
    case 'char':
      return FT_CHRDEV;
    case 'block':
      return FT_BLKDEV;
    case 'fifo':
      return FT_FIFO;
    case 'socket':
      return FT_SOCK;
  }
}

/** lost+found's size as mke2fs makes it: at least 16 KiB and 2 blocks, at most 12 blocks (create_lost_and_found). */
export function lostFoundBlocks(blockSize: number): number {
  return Math.max(2, Math.min(12, Math.ceil(16384 / blockSize)));
}

/** What the tree needs, independent of the filesystem size. */
interface Need {
  /** Blocks for data, directories, symlinks, attribute blocks, extent trees (contiguous estimate), the resize inode's block. */
  blocks: number;
  /** Inodes up to the last one used. */
  inodes: number;
}

function estimateNeed(nodes: readonly Ext4Node[], sharedBlocks: number, lastIno: number, o: ResolvedExt4Options): Need {
  const bs = o.blockSize;
  let blocks = sharedBlocks;
  for (const n of nodes) {
    blocks += n.dataBlocks;
    if (n.logicalRuns && n.kind === 'file') {
      let extents = 0;
      for (const r of n.logicalRuns) extents += Math.ceil(r.count / 32768);
      blocks += treeBlocks(extents, bs);
    }
  }
  if (has(o.features, 'compat', COMPAT_RESIZE_INODE)) blocks += 1;
  return { blocks, inodes: lastIno };
}

/** Step 3 (automatic size): the smallest whole-MiB size whose layout holds `need` plus the margin and inode reserve. */
function autoSize(need: Need, o: ResolvedExt4Options): { size: number; inodes: number | undefined } {
  const bs = o.blockSize;
  const marginBlocks = 'bytes' in o.margin ? Math.ceil(o.margin.bytes / bs) : Math.ceil((need.blocks * o.margin.percent) / 100);
  const reserveInodes = 'count' in o.inodeReserve ? o.inodeReserve.count : Math.ceil(((need.inodes - FIRST_INO) * o.inodeReserve.percent) / 100);
  const wantInodes = need.inodes + reserveInodes;
  let size = Math.max(MIB, Math.ceil(((need.blocks + marginBlocks) * bs) / MIB) * MIB);
  for (let tries = 0; tries < 10000; tries++) {
    const blocks = Math.floor(size / bs);
    // The inode count: the ratio's, or what the tree needs when that is more (mke2fs -N).
    const ratioInodes = o.inodes ?? Math.floor((blocks * bs) / o.inodeRatio);
    const inodes = o.inodes === undefined && ratioInodes < wantInodes ? wantInodes : undefined;
    let g: Geometry | undefined;
    try {
      g = computeGeometry(geometryInput(o, blocks, inodes));
    } catch (err) {
      if (!(err instanceof NoSpaceError)) throw err;
    }
    if (g) {
      const wantJournal = has(o.features, 'compat', COMPAT_HAS_JOURNAL) && o.journalBlocks === undefined;
      const free = g.blocks - g.used.total() - g.journalBlocks - g.firstDataBlock;
      const room = free - g.reservedBlocks - marginBlocks - need.blocks;
      if (g.inodes < wantInodes && o.inodes !== undefined) {
        throw new NoSpaceError({ format: FORMAT, field: 'inodes', detail: `the tree needs ${wantInodes} inodes (with the reserve); ${o.inodes} were asked for`, hint: 'raise the inode count (-N) or leave it out' });
      }
      if (wantJournal && g.journalDropped) size = Math.max(size + MIB, Math.ceil((2048 * bs) / MIB) * MIB);
      else if (room < 0) size += Math.max(MIB, Math.ceil((-room * bs) / MIB) * MIB); // no smaller size can close the gap
      else if (g.inodes < wantInodes) size += MIB;
      else return { size, inodes };
    } else size += MIB;
  }
  throw new NoSpaceError({ format: FORMAT, detail: 'no filesystem size holds this tree', hint: 'split the tree' });
}

function geometryInput(o: ResolvedExt4Options, blocks: number, inodes: number | undefined) {
  const inodeCount = inodes ?? o.inodes;
  return {
    blocks,
    blockSize: o.blockSize,
    inodeSize: o.inodeSize,
    inodeRatio: o.inodeRatio,
    ...(inodeCount !== undefined ? { inodes: inodeCount } : {}),
    reservedRatio: o.reservedPercent,
    features: o.features,
    flexBgSize: o.flexBgSize,
    ...(o.journalBlocks !== undefined ? { journalBlocks: o.journalBlocks } : {}),
  };
}

/** A cursor over free blocks that only moves forward (step 4); it may wrap once to the start. */
class Cursor {
  private wrapped = false;
  constructor(
    private readonly g: Geometry,
    private at: number,
    private readonly wrap = false,
  ) {}
  /** `count` blocks as runs of physical blocks; undefined when the filesystem is full. */
  take(count: number): Run[] | undefined {
    const used = this.g.used;
    const out: Run[] = [];
    let left = count;
    while (left > 0) {
      this.at = used.nextFree(this.at);
      if (this.at >= this.g.blocks) {
        if (!this.wrap || this.wrapped) return undefined;
        this.wrapped = true;
        this.at = this.g.firstDataBlock;
        continue;
      }
      // up to where the next used run starts
      const n = Math.min(left, used.nextUsed(this.at) - this.at);
      used.add(this.at, n);
      const last = out[out.length - 1];
      if (last && last.start + last.count === this.at) last.count += n;
      else out.push({ start: this.at, count: n });
      this.at += n;
      left -= n;
    }
    return out;
  }
}

/** Physical runs laid over logical runs: the file's extents (before splitting at 32768 blocks). */
function mapRuns(logical: readonly Run[], physical: readonly Run[]): Extent[] {
  const out: Extent[] = [];
  let pi = 0;
  let pOff = 0;
  for (const l of logical) {
    let lStart = l.start;
    let left = l.count;
    while (left > 0) {
      const p = physical[pi]!;
      const n = Math.min(left, p.count - pOff);
      out.push({ logical: lStart, count: n, physical: p.start + pOff });
      lStart += n;
      left -= n;
      pOff += n;
      if (pOff === p.count) {
        pi++;
        pOff = 0;
      }
    }
  }
  return toExtents(out);
}

export interface PlanExt4Options extends Ext4Options {
  /** Called as the image is written (progress display). @default none */
  onProgress?: (p: Ext4Progress) => void;
}

/** Plan an ext4 filesystem for `tree` (see the top of this file); `plan.write(sink)` writes it. */
export async function planExt4(tree: SourceTree, options: PlanExt4Options = {}): Promise<Ext4Plan> {
  const o = resolveOptions(options);
  const bs = o.blockSize;
  const w = await walk(tree, o);
  const seed = hashSeedWords(o.hashSeed);
  const csum = has(o.features, 'ro_compat', RO_COMPAT_METADATA_CSUM);

  // lost+found: the tree's, or one made as mke2fs makes it (0700, root's, dated by the filesystem).
  let lostFound = w.lostFound;
  const synthesized = !lostFound;
  const kids = w.root.children!;
  if (!lostFound) {
    lostFound = { ino: LOST_FOUND_INO, kind: 'dir', path: 'lost+found', mode: 0o700, uid: 0, gid: 0, mtime: o.now, size: 0, links: 2, dataBlocks: 0, flags: 0, children: [], parent: w.root };
    kids.unshift({ name: encodeUtf8('lost+found'), node: lostFound });
    w.root.links++;
  } else {
    // mke2fs makes lost+found before it copies the tree, so it is the root's first name.
    const at = kids.findIndex((k) => k.node === lostFound);
    kids.unshift(...kids.splice(at, 1));
  }
  const minLostFound = lostFoundBlocks(bs);

  // Step 1 (end): attribute blocks shared among identical sets, at most 1024 inodes each.
  const sharedBlocks: SharedXattrBlock[] = [];
  const byKey = new Map<string, SharedXattrBlock>();
  const inodesInOrder = synthesized ? [w.root, lostFound, ...w.order.slice(1)] : w.order;
  for (const n of inodesInOrder) {
    if (!n.xattrBlock) continue;
    const key = blockKey(n.xattrBlock.attrs);
    let b = byKey.get(key);
    if (!b || b.refcount >= XATTR_REFCOUNT_MAX) {
      b = { attrs: n.xattrBlock.attrs, refcount: 0, block: 0 };
      byKey.set(key, b);
      sharedBlocks.push(b);
    }
    b.refcount++;
    n.xattrBlock = b;
  }

  // Step 2: directories, files, symlinks.
  const dirNlink = has(o.features, 'ro_compat', RO_COMPAT_DIR_NLINK);
  for (const n of inodesInOrder) {
    if (n.kind === 'dir') {
      layoutDirectory(n, o, n === lostFound ? minLostFound : 1, seed);
      if (n.links >= LINK_MAX) {
        if (!dirNlink) throw new FieldRangeError({ format: FORMAT, path: n.path, field: 'ext4.inode.linksCount', detail: `the directory has ${n.links - 2} subdirectories; without dir_nlink the limit is ${LINK_MAX - 2}`, hint: 'turn dir_nlink on' });
        n.links = 1; // dir_nlink: "many"
      }
    } else if (n.kind === 'file') {
      if (n.links > LINK_MAX) {
        throw new FieldRangeError({ format: FORMAT, path: n.path, field: 'ext4.inode.linksCount', detail: `the file has ${n.links} names (hard links); ext4 allows ${LINK_MAX} (EXT4_LINK_MAX)`, hint: 'make some of them copies or symbolic links' });
      }
      const ranges = n.entry!.dataRanges && n.size > 0 ? await n.entry!.dataRanges() : undefined;
      n.logicalRuns = dataRuns(ranges, n.size, bs);
      n.dataBlocks = n.logicalRuns.reduce((s, r) => s + r.count, 0);
    } else if (n.kind === 'symlink') {
      if (n.size < IBLOCK_BYTES) {
        n.iblock = new Uint8Array(IBLOCK_BYTES);
        n.iblock.set(n.target!);
      } else {
        n.logicalRuns = [{ start: 0, count: 1 }];
        n.dataBlocks = 1;
      }
    }
  }

  // Step 3: size and layout.
  const need = estimateNeed(inodesInOrder, sharedBlocks.length, w.lastIno, o);
  let autoInodes: number | undefined;
  let size: number;
  let minSize: number;
  if (o.size === undefined) {
    const a = autoSize(need, o);
    size = a.size;
    minSize = a.size;
    autoInodes = a.inodes;
  } else {
    size = o.size;
    minSize = o.size;
  }
  let g = computeGeometry(geometryInput(o, Math.floor(size / bs), autoInodes));
  if (g.journalDropped) {
    warn(o, ErrorCodes.NO_SPACE, undefined, `a filesystem of ${g.blocks} blocks is too small for a journal (mke2fs needs 2048 blocks): written without one`);
  }
  if (w.lastIno > g.inodes) {
    throw new NoSpaceError({
      format: FORMAT,
      field: 'inodes',
      detail: `the tree needs ${w.lastIno} inodes (${w.lastIno - FIRST_INO} of its own); a filesystem of ${size} bytes has ${g.inodes}`,
      hint: 'raise --size, give more inodes (-N) or a smaller inode ratio (-i)',
    });
  }

  // Step 4: blocks.
  let placed = allocate(g, o, w, lostFound, synthesized, sharedBlocks);
  if (!placed) {
    if (o.size !== undefined) {
      const want = autoSize(need, { ...o, margin: { bytes: 0 }, inodeReserve: { count: 0 } });
      throw new NoSpaceError({
        format: FORMAT,
        field: 'size',
        detail: `the tree needs a filesystem of about ${want.size} bytes (${want.size / MIB} MiB); the size given is ${o.size} bytes (${(o.size / MIB).toFixed(2)} MiB)`,
        hint: `raise --size to ${want.size / MIB}M, or leave it out to size the filesystem automatically`,
      });
    }
    // Automatic size: fragmentation needed more extent blocks than estimated; grow until it fits.
    for (;;) {
      size += MIB;
      minSize = size;
      g = computeGeometry(geometryInput(o, Math.floor(size / bs), autoInodes));
      placed = allocate(g, o, w, lostFound, synthesized, sharedBlocks);
      if (placed) break;
    }
  }

  // large_file: set when an inode reaches 2 GiB (the resize inode always does), as
  // ext2fs_inode_size_set does for mke2fs even when it was turned off.
  if (placed.resize || inodesInOrder.some((n) => n.size >= 0x80000000) || g.journalBlocks * bs >= 0x80000000) g.features.ro_compat |= RO_COMPAT_LARGE_FILE;

  // Counts per group.
  const groupFree = new Uint32Array(g.groupCount);
  const groupDirs = new Uint32Array(g.groupCount);
  let freeBlocks = 0;
  for (let i = 0; i < g.groupCount; i++) {
    const gr = g.groups[i]!;
    const f = gr.end - gr.start - g.used.countUsed(gr.start, gr.end);
    groupFree[i] = f;
    freeBlocks += f;
  }
  const inodes: (Ext4Node | undefined)[] = new Array(w.lastIno + 1);
  for (const n of inodesInOrder) {
    inodes[n.ino] = n;
    if (n.kind === 'dir') groupDirs[Math.floor((n.ino - 1) / g.inodesPerGroup)]!++;
  }
  const freeInodes = g.inodes - w.lastIno;
  const usedBlocks = g.blocks - freeBlocks;
  const fs: PlannedFs = {
    g,
    o,
    inodes,
    lastIno: w.lastIno,
    root: w.root,
    lostFound,
    resize: placed.resize,
    journal: placed.journal,
    sharedBlocks,
    freeBlocks,
    freeInodes,
    groupFree,
    groupDirs,
    usedBlocks,
    csum,
    fsSeed: undefined,
    onProgress: options.onProgress,
  };
  return {
    sizeBytes: size,
    minSizeBytes: minSize,
    needsSeekableSink: false,
    codecs: [],
    geometry: g,
    blockSize: bs,
    blocks: g.blocks,
    inodes: g.inodes,
    freeBlocks,
    freeInodes,
    uuid: o.uuid,
    features: g.features,
    usedInodes: inodesInOrder.length,
    write: (sink) => writePlanned(fs, sink, size),
  };
}

/**
 * Step 4 for geometry `g`: every block, or undefined when the filesystem is full. Fills in the
 * nodes' extents and tree blocks and the shared attribute blocks' numbers.
 */
function allocate(
  g: Geometry,
  o: ResolvedExt4Options,
  w: Walked,
  lostFound: Ext4Node,
  synthesized: boolean,
  shared: SharedXattrBlock[],
): { resize: PlannedFs['resize']; journal: PlannedFs['journal'] } | undefined {
  const bs = g.blockSize;
  const cursor = new Cursor(g, g.firstDataBlock);
  for (const b of shared) b.block = 0;
  const place = (n: Ext4Node): boolean => {
    if (n.xattrBlock && n.xattrBlock.block === 0) {
      const r = cursor.take(1);
      if (!r) return false;
      n.xattrBlock.block = r[0]!.start;
    }
    if (!n.logicalRuns || n.dataBlocks === 0) {
      delete n.extents;
      delete n.treeBlocks;
      if (n.kind === 'file' || n.kind === 'dir') {
        n.extents = [];
        n.treeBlocks = [];
      }
      return true;
    }
    const runs = cursor.take(n.dataBlocks);
    if (!runs) return false;
    n.extents = mapRuns(n.logicalRuns, runs);
    const t = treeBlocks(n.extents.length, bs);
    n.treeBlocks = [];
    if (t > 0) {
      const tr = cursor.take(t);
      if (!tr) return false;
      for (const r of tr) for (let k = 0; k < r.count; k++) n.treeBlocks.push(r.start + k);
    }
    return true;
  };
  // As mke2fs: the root, lost+found, the resize inode's block (from sb + descriptors + reserved
  // GDT + 2 + an inode table's blocks: resize_inode.c), then the journal from its goal (free runs
  // in order, so it fills what the flex group's tables left free), its tree blocks, then the tree.
  if (!place(w.root)) return undefined;
  if (synthesized && !place(lostFound)) return undefined;
  let resize: PlannedFs['resize'];
  if (has(g.features, 'compat', COMPAT_RESIZE_INODE)) {
    const goal = g.firstDataBlock + g.descBlocks + g.reservedGdtBlocks + 2 + g.inodeBlocksPerGroup;
    const b = g.used.getFreeBlocks(goal, 0, 1);
    if (b === undefined) return undefined;
    g.used.add(b, 1);
    resize = { layout: resizeInodeLayout(g, has(g.features, 'ro_compat', RO_COMPAT_SPARSE_SUPER)), dindBlock: b };
  }
  let journal: PlannedFs['journal'];
  if (g.journalBlocks > 0) {
    const runs = new Cursor(g, journalGoal(g), true).take(g.journalBlocks);
    if (!runs) return undefined;
    const extents = mapRuns([{ start: 0, count: g.journalBlocks }], runs);
    const t = treeBlocks(extents.length, bs);
    const tree: number[] = [];
    if (t > 0) {
      const tr = cursor.take(t);
      if (!tr) return undefined;
      for (const r of tr) for (let k = 0; k < r.count; k++) tree.push(r.start + k);
    }
    journal = { extents, treeBlocks: tree };
  }
  for (let i = 1; i < w.order.length; i++) if (!place(w.order[i]!)) return undefined;
  // i_blocks: data + tree + attribute block, in 512-byte units.
  const huge = has(g.features, 'ro_compat', RO_COMPAT_HUGE_FILE);
  for (const n of [w.root, lostFound, ...w.order.slice(1)]) {
    const blocks512 = (n.dataBlocks + (n.treeBlocks?.length ?? 0) + (n.xattrBlock ? 1 : 0)) * (bs / 512);
    if (blocks512 > 0xffffffff && !huge) {
      throw new FieldRangeError({ format: FORMAT, path: n.path, field: 'ext4.inode.blocks', detail: 'the file takes more than 2 TiB; without huge_file i_blocks cannot count it', hint: 'turn huge_file on' });
    }
  }
  void o;
  return { resize, journal };
}
