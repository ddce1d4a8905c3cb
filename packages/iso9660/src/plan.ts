/**
 * Planning: walk the source once (metadata only) into a tree, give every entry its ISO 9660 and
 * Joliet identifier, relocate directories deeper than 8 levels (RRIP §4.1.5) and number inodes.
 * The block layout (which LBA holds what) is computed in writer.ts, which then emits the image
 * strictly in LBA order.
 */
import {
  alignUp,
  baseName,
  clampTime,
  encodeUtf8,
  ErrorCodes,
  ImgkitError,
  MODE_TYPE_BITS,
  parentPath,
  type SourceEntry,
  type SourceTree,
  TreeChecker,
  UnsupportedEntryError,
  warnOrThrow,
} from '@imgkit/core';
import { DIR_RECORD_MAX, recordLength } from './directory-record.js';
import { compareUcs2, jolietName, ucs2be, uniqueJolietNames } from './joliet.js';
import { asciiBytes, compareIsoIdentifiers, mangleDirectory } from './names.js';
import type { IsoContent, ResolvedIsoOptions } from './options.js';
import { ISO_SECTOR_SIZE } from './volume-descriptor.js';

/** ECMA-119 §9.1.4: one extent holds at most 2^32 − 1 bytes; multi-extent files use 4 GiB − 2048. */
export const MAX_EXTENT_BYTES = 0xfffff800;
/** ECMA-119 §6.8.2.1: at most 8 levels of directories, the root being level 1. */
export const MAX_ISO_DEPTH = 8;
export const RELOCATION_DIR = 'rr_moved';

/** A file's content and where it lies; shared by the names of a hard-linked file. */
export interface FileData {
  size: number;
  lba: number;
  /** The source entry whose `read()` streams the content, or given content (host file, catalog). */
  entry?: SourceEntry;
  content?: IsoContent;
  /** Boot catalog placeholder: the writer supplies the bytes. */
  catalog?: boolean;
  bootInfoTable?: boolean;
  grub2BootInfo?: boolean;
  /** --sort-weight: higher weights are written first. */
  weight?: number;
  /** The weight came from a rule (boot images only get their default weight without one). */
  explicitWeight?: boolean;
  /** Path of (one of) the names of this content, for messages. */
  path?: string;
}

export interface IsoNode {
  name: string;
  path: string;
  kind: SourceEntry['kind'] | 'placeholder';
  /** st_mode with type bits (Rock Ridge PX). */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkTarget?: string;
  rdev?: number;
  ino: number;
  nlink: number;
  parent: IsoDir | null;
  isoId: Uint8Array;
  jolietId?: Uint8Array;
  data?: FileData;
  /** For a placeholder (RRIP CL): the relocated directory. */
  relocated?: IsoDir;
}

export interface IsoDir extends IsoNode {
  kind: 'dir';
  children: IsoNode[];
  /** Children in the ISO tree (after relocation, with placeholders), §9.3 order. */
  isoChildren: IsoNode[];
  jolietChildren: IsoNode[];
  /** Parent in the ISO tree (differs from `parent` when relocated). */
  isoParent: IsoDir | null;
  isoDepth: number;
  /** Set on a relocated directory: the record in rr_moved carries RE, its ".." a PL. */
  isRelocated?: boolean;
  lba: number;
  sizeBytes: number;
  /** Rock Ridge continuation areas right after the extent (SUSP §5.1). */
  ceLba: number;
  ceBlocks: number;
  jLba: number;
  jSizeBytes: number;
  /** The second copy's extents (partition offset, see options.partitionOffsetBlocks); absolute. */
  lba1: number;
  ceLba1: number;
  jLba1: number;
}

export interface IsoTree {
  root: IsoDir;
  /** Directories in path-table order (ISO tree) and Joliet order. */
  isoDirs: IsoDir[];
  jolietDirs: IsoDir[];
  files: FileData[];
  byPath: Map<string, IsoNode>;
  catalog?: FileData;
  /** File data of each El Torito entry (undefined for an appended partition). */
  bootImages: (FileData | undefined)[];
  nodeCount: number;
  /** Newest modification time in the tree (seconds), for the default volume date. */
  newestMtime: number;
  /** A digest of the tree's names and sizes (FNV-1a), for a reproducible date when it has no times. */
  digest: number;
  /** The image's "now": the time of what the writer adds (catalog, made directories), set before planning them. */
  now: number;
}

/** RRIP 1.12 §4.1.4 puts no limit on NM names, but Linux's isofs and libarchive stop at 255 bytes. */
export const RR_NAME_MAX_BYTES = 255;

function modeOf(e: { kind: SourceEntry['kind']; mode: number }): number {
  return MODE_TYPE_BITS[e.kind] | (e.mode & 0o7777);
}

function newDir(name: string, path: string, parent: IsoDir | null, e: { mode: number; uid: number; gid: number; mtime: number }): IsoDir {
  return {
    name,
    path,
    kind: 'dir',
    mode: MODE_TYPE_BITS.dir | (e.mode & 0o7777),
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    ino: 0,
    nlink: 2,
    parent,
    isoId: new Uint8Array([0]),
    children: [],
    isoChildren: [],
    jolietChildren: [],
    isoParent: parent,
    isoDepth: parent ? parent.isoDepth + 1 : 1,
    lba: 0,
    sizeBytes: 0,
    ceLba: 0,
    ceBlocks: 0,
    jLba: 0,
    jSizeBytes: 0,
    lba1: 0,
    ceLba1: 0,
    jLba1: 0,
  };
}

/** Walk the tree and build the node hierarchy (no layout yet). */
export async function buildTree(source: SourceTree, o: ResolvedIsoOptions): Promise<IsoTree> {
  let root: IsoDir | undefined;
  const byPath = new Map<string, IsoNode>();
  const files: FileData[] = [];
  let ino = 0;
  let newest = 0;
  let digest = 0x811c9dc5;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) digest = Math.imul(digest ^ text.charCodeAt(i), 0x01000193) >>> 0;
  };
  // The checks every format's walk shares (core's TreeChecker): root first, parents before their
  // children, sorted, each path once, hard-link targets walked before; and Rock Ridge's name limit.
  const checker = new TreeChecker({
    format: 'iso9660',
    ...(o.rockRidge
      ? {
          checkName: (name: string) => {
            const bytes = encodeUtf8(name).byteLength;
            if (bytes <= RR_NAME_MAX_BYTES) return undefined;
            return { code: ErrorCodes.NAME_TOO_LONG, detail: `the name is ${bytes} bytes; Rock Ridge readers (Linux isofs, libarchive) stop at ${RR_NAME_MAX_BYTES}`, hint: 'rename or exclude it' };
          },
        }
      : {}),
  });
  for await (const e of source.walk()) {
    // Hard-linked symlinks and device nodes (nodeSource reports them) share an inode here too; the
    // core check takes hard links of files only, so it sees them as separate entries.
    checker.check(e.hardLinkTo !== undefined && e.kind !== 'file' ? { ...e, hardLinkTo: undefined } : e);
    if (e.mtime > newest) newest = e.mtime;
    mix(`${e.path}\0${e.kind}\0${e.size}\0`);
    const mtime = o.allFileDates ?? clampTime(e.mtime, o.clampTo);
    if (e.path === '') {
      root = newDir('', '', null, { ...e, mtime });
      root.ino = ++ino;
      byPath.set('', root);
      continue;
    }
    const parent = byPath.get(parentPath(e.path))!;
    const pdir = parent as IsoDir;
    let node: IsoNode;
    if (e.kind === 'dir') {
      const d = newDir(baseName(e.path), e.path, pdir, { ...e, mtime });
      d.ino = ++ino;
      pdir.nlink++;
      node = d;
    } else {
      if (!o.rockRidge && e.kind !== 'file') {
        warnOrThrow(
          { code: ErrorCodes.UNSUPPORTED_ENTRY, format: 'iso9660', path: e.path, detail: `a ${e.kind} needs Rock Ridge; without it the entry is left out` },
          o.onWarning,
          o.strict,
        );
        continue;
      }
      if (e.kind === 'socket' && !o.rockRidge) throw new UnsupportedEntryError({ format: 'iso9660', path: e.path, detail: 'sockets need Rock Ridge' });
      node = { name: baseName(e.path), path: e.path, kind: e.kind, mode: modeOf(e), uid: e.uid, gid: e.gid, mtime, ino: 0, nlink: 1, parent: pdir, isoId: new Uint8Array(0) };
      if (e.linkTarget !== undefined) node.linkTarget = e.linkTarget;
      if (e.rdev !== undefined) node.rdev = e.rdev;
      const target = e.hardLinkTo !== undefined ? byPath.get(e.hardLinkTo) : undefined;
      if (target && target.kind === e.kind) {
        // Hard link: same extent, same inode number; every name counts in PX links.
        node.ino = target.ino;
        node.data = target.data;
        target.nlink++;
        node.nlink = target.nlink;
        node.mode = target.mode;
        node.uid = target.uid;
        node.gid = target.gid;
        node.mtime = target.mtime;
      } else {
        node.ino = ++ino;
        if (e.kind === 'file') {
          if (e.size > 0xffffffff && o.level < 3) {
            throw new ImgkitError(ErrorCodes.FIELD_RANGE, {
              format: 'iso9660',
              path: e.path,
              detail: `file is ${e.size} bytes; below interchange level 3 a file holds at most 4294967295`,
              hint: 'pass --iso-level 3',
            });
          }
          node.data = { size: e.size, lba: 0, entry: e, path: e.path };
          files.push(node.data);
        }
      }
    }
    pdir.children.push(node);
    byPath.set(e.path, node);
  }
  checker.finish();
  if (!root) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'iso9660', detail: 'the source tree is empty' });
  // nlink of hard links: every name shows the final count.
  for (const n of byPath.values()) if (n.kind !== 'dir' && n.data) n.nlink = 1;
  const links = new Map<FileData, number>();
  for (const n of byPath.values()) if (n.data) links.set(n.data, (links.get(n.data) ?? 0) + 1);
  for (const n of byPath.values()) if (n.data) n.nlink = links.get(n.data)!;
  return { root, isoDirs: [], jolietDirs: [], files, byPath, nodeCount: ino, bootImages: [], newestMtime: newest, digest, now: 0 };
}

/**
 * Add a file that isn't in the source (boot catalog, host EFI image) at `path`. With `replaceFile`
 * (the boot catalog, as xorriso does: a remastered tree carries the old one) a regular file of the
 * tree at that path is replaced, with a warning.
 */
export function addVirtualFile(plan: IsoTree, path: string, data: FileData, o: ResolvedIsoOptions, what: string, replaceFile = false): IsoNode {
  const old = plan.byPath.get(path);
  if (old) {
    if (!replaceFile || old.kind !== 'file') {
      throw new ImgkitError(ErrorCodes.NAME_COLLISION, { format: 'iso9660', path, detail: `the ${what} would replace an entry of the tree`, hint: `choose another path for the ${what}` });
    }
    warnOrThrow({ code: ErrorCodes.NAME_COLLISION, format: 'iso9660', path, detail: `the ${what} replaces the file of the tree at this path` }, o.onWarning, o.strict);
    const parent = old.parent!;
    parent.children = parent.children.filter((c) => c !== old);
    plan.byPath.delete(path);
    if (old.data && ![...plan.byPath.values()].some((n) => n.data === old.data)) plan.files = plan.files.filter((f) => f !== old.data);
  }
  const parent = ensureDir(plan, parentPath(path), o, what);
  const node: IsoNode = {
    name: baseName(path),
    path,
    kind: 'file',
    mode: MODE_TYPE_BITS.file | 0o444,
    uid: 0,
    gid: 0,
    mtime: plan.now,
    ino: ++plan.nodeCount,
    nlink: 1,
    parent,
    isoId: new Uint8Array(0),
    data,
  };
  parent.children.push(node);
  parent.children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  plan.byPath.set(path, node);
  plan.files.push(data);
  return node;
}

/** The directory at `path`, created (0755, root, epoch time) with its parents when missing. */
function ensureDir(plan: IsoTree, path: string, o: ResolvedIsoOptions, what: string): IsoDir {
  const found = plan.byPath.get(path);
  if (found) {
    if (found.kind !== 'dir') {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', path, detail: `the ${what} would go below a ${found.kind}`, hint: 'choose a path inside a directory' });
    }
    return found as IsoDir;
  }
  const parent = ensureDir(plan, parentPath(path), o, what);
  const d = newDir(baseName(path), path, parent, { mode: 0o755, uid: 0, gid: 0, mtime: plan.now });
  d.ino = ++plan.nodeCount;
  parent.nlink++;
  parent.children.push(d);
  parent.children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  plan.byPath.set(path, d);
  return d;
}

/** Relocate directories below ECMA-119's depth limit into /rr_moved (RRIP §4.1.5). */
function relocate(plan: IsoTree, o: ResolvedIsoOptions): void {
  let moved: IsoDir | undefined;
  const visit = (d: IsoDir) => {
    for (const c of d.children) {
      if (c.kind !== 'dir') continue;
      const cd = c as IsoDir;
      cd.isoParent = d;
      cd.isoDepth = d.isoDepth + 1;
      if (cd.isoDepth > MAX_ISO_DEPTH) {
        if (!moved) {
          if (plan.root.children.some((x) => x.name === RELOCATION_DIR)) {
            throw new ImgkitError(ErrorCodes.NAME_COLLISION, { format: 'iso9660', path: RELOCATION_DIR, detail: 'the tree has its own rr_moved and needs relocation too', hint: 'rename the tree\'s rr_moved' });
          }
          moved = newDir(RELOCATION_DIR, RELOCATION_DIR, plan.root, { mode: 0o755, uid: 0, gid: 0, mtime: plan.now });
          moved.ino = ++plan.nodeCount;
          plan.root.nlink++;
        }
        // The placeholder keeps the name in the original parent; the directory moves.
        const ph: IsoNode = { ...cd, kind: 'placeholder', relocated: cd, isoId: new Uint8Array(0) };
        delete ph.data;
        d.isoChildren.push(ph);
        cd.isoParent = moved;
        cd.isoDepth = moved.isoDepth + 1;
        cd.isRelocated = true;
        moved.nlink++;
        moved.isoChildren.push(cd);
      } else d.isoChildren.push(cd);
      visit(cd);
    }
    for (const c of d.children) if (c.kind !== 'dir') d.isoChildren.push(c);
  };
  visit(plan.root);
  if (moved) plan.root.isoChildren.push(moved);
}

/** Names (ISO identifiers and Joliet names), then §9.3 order. */
function assignNames(plan: IsoTree, o: ResolvedIsoOptions): void {
  const dirs: IsoDir[] = [];
  const collect = (d: IsoDir) => {
    dirs.push(d);
    for (const c of d.isoChildren) if (c.kind === 'dir') collect(c as IsoDir);
  };
  collect(plan.root);
  for (const d of dirs) {
    const kids = [...d.isoChildren].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const ids = mangleDirectory(kids.map((k) => ({ name: k.name, isDir: k.kind === 'dir' || k.kind === 'placeholder' })), o.level, o.directoryDots);
    kids.forEach((k, i) => {
      const id = ids[i]!;
      k.isoId = asciiBytes(id);
    });
    d.isoChildren = kids.sort((a, b) => compareIsoIdentifiers(ascii(a.isoId), ascii(b.isoId)));
  }
  if (!o.joliet) return;
  const jdirs: IsoDir[] = [];
  const jcollect = (d: IsoDir) => {
    jdirs.push(d);
    for (const c of d.children) if (c.kind === 'dir') jcollect(c as IsoDir);
  };
  jcollect(plan.root);
  for (const d of jdirs) {
    // Joliet has no symlinks or device nodes: they are in the Rock Ridge tree only (as xorriso does).
    const kids = d.children.filter((c) => c.kind === 'file' || c.kind === 'dir');
    const names = kids.map((c) => jolietName(c.name, c.path, o.jolietMax, c.kind === 'dir', o.jolietTruncate, o.onWarning, o.strict));
    const unique = uniqueJolietNames(names, o.jolietMax);
    const withNames = kids.map((c, i) => ({ c, n: unique[i]! }));
    withNames.sort((a, b) => compareUcs2(a.n, b.n));
    for (const { c, n } of withNames) c.jolietId = ucs2be(n);
    d.jolietChildren = withNames.map((x) => x.c);
  }
}

function ascii(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

/** Directories in path-table order (ECMA-119 §6.9.1: by level, then parent number, then identifier). */
function pathTableOrder(root: IsoDir, children: (d: IsoDir) => IsoNode[]): IsoDir[] {
  const out: IsoDir[] = [root];
  for (let i = 0; i < out.length; i++) for (const c of children(out[i]!)) if (c.kind === 'dir') out.push(c as IsoDir);
  return out;
}

export function planTree(plan: IsoTree, o: ResolvedIsoOptions): void {
  if (o.rockRidge && o.relocate) relocate(plan, o);
  else {
    const flat = (d: IsoDir) => {
      d.isoChildren = [...d.children];
      for (const c of d.children) if (c.kind === 'dir') flat(c as IsoDir);
    };
    flat(plan.root);
    if (!o.rockRidge || !o.relocate) {
      // Without relocation a deep tree is still readable by Linux, libisofs and 7-Zip; say so.
      for (const n of plan.byPath.values()) {
        if (n.kind === 'dir' && n.path.split('/').length + 1 > MAX_ISO_DEPTH && n.path !== '') {
          warnOrThrow({ code: ErrorCodes.PATH_TOO_LONG, format: 'iso9660', path: n.path, detail: `directory is deeper than ECMA-119's ${MAX_ISO_DEPTH} levels and is not relocated` }, o.onWarning, o.strict);
          break;
        }
      }
    }
  }
  assignNames(plan, o);
  plan.isoDirs = pathTableOrder(plan.root, (d) => d.isoChildren);
  if (o.joliet) plan.jolietDirs = pathTableOrder(plan.root, (d) => d.jolietChildren);
}

/** Number of extents (directory records) of a file. */
export function extentCount(size: number): number {
  return size <= 0xffffffff ? 1 : Math.ceil(size / MAX_EXTENT_BYTES);
}

/** Size of a directory extent from its record lengths: records never cross a sector (§6.8.1.1). */
export function directoryBytes(lengths: readonly number[]): number {
  let at = 0;
  for (const len of lengths) {
    if ((at % ISO_SECTOR_SIZE) + len > ISO_SECTOR_SIZE) at = alignUp(at, ISO_SECTOR_SIZE);
    at += len;
  }
  return alignUp(at, ISO_SECTOR_SIZE);
}

export function sectorsOf(bytes: number): number {
  return Math.ceil(bytes / ISO_SECTOR_SIZE);
}

export { DIR_RECORD_MAX, recordLength };
