/**
 * Plan: walk the source once for metadata (no content is read), check names, build the directory
 * tree, resolve hard links to shared inodes, and number the inodes.
 *
 * Inode numbers are given as mksquashfs 4.5 gives them (checked by decoding its images): in walk
 * order (pre-order, names sorted), except the root, which gets the last number (the inode count).
 * The inode table itself is written depth first, children before their directory (writer.ts).
 * Hard-linked names share the inode of the first name met (any kind but directories, as
 * mksquashfs does).
 */
import { ErrorCodes, NAME_MAX, TreeChecker, encodeUtf8, utf8Length, type EntryKind, type NameProblem, type SourceEntry, type SourceTree } from '@imgkit/core';
import type { MetadataPosition } from './metadata.js';

/** Where a regular file's content went: filled in while data is written. */
export interface FileData {
  size: number;
  startBlock: number;
  blockSizes: number[];
  fragment: number;
  fragmentOffset: number;
  sparseBytes: number;
}

export interface InodeRecord {
  kind: EntryKind;
  /** The first name's entry: metadata of the inode. */
  entry: SourceEntry;
  nlink: number;
  number: number;
  ref?: MetadataPosition;
  /** Regular files: their content's location (shared with duplicates). */
  data?: FileData;
  xattr?: number;
}

export interface PlanNode {
  name: Uint8Array;
  path: string;
  inode: InodeRecord;
  children?: PlanNode[];
  parent?: PlanNode;
}

export interface Plan {
  root: PlanNode;
  /** Inodes in number order (index = number - 1). */
  inodes: InodeRecord[];
  /** Regular-file inodes in walk order: the order their content is written. */
  files: InodeRecord[];
  /** Count of regular files per size, to find candidate duplicates without reading content. */
  sizeCounts: Map<number, number>;
}

/**
 * The directory entry could hold 256 bytes (SQUASHFS_NAME_LEN) and the kernel reads that, but
 * Linux names stop at NAME_MAX (255): unsquashfs cannot extract a longer one onto any Linux
 * filesystem ("File name too long"), and no Linux tree can hold one.
 */
function nameProblem(name: string): NameProblem | undefined {
  if (name.length * 3 <= NAME_MAX) return undefined;
  const bytes = utf8Length(name);
  if (bytes <= NAME_MAX) return undefined;
  return {
    code: ErrorCodes.NAME_TOO_LONG,
    detail: `a name of ${bytes} bytes; Linux names are at most ${NAME_MAX} bytes (NAME_MAX), so unsquashfs could not extract it`,
    hint: 'rename it or exclude it',
  };
}

/**
 * One walk of the metadata, checked entry by entry by core's TreeChecker (walk order, parents,
 * hard-link targets of the same kind, name bytes), into the directory tree and the inodes.
 */
export async function planTree(source: SourceTree): Promise<Plan> {
  const dirs = new Map<string, PlanNode>();
  const byPath = new Map<string, InodeRecord>();
  const files: InodeRecord[] = [];
  const inodes: InodeRecord[] = [];
  const sizeCounts = new Map<number, number>();
  const checker = new TreeChecker({ format: 'squashfs', checkName: nameProblem });
  let root: PlanNode | undefined;

  for await (const walked of source.walk()) {
    const { entry, name: text, parent: parentPath } = checker.check(walked);
    if (parentPath === undefined) {
      root = { name: new Uint8Array(0), path: '', inode: { kind: 'dir', entry, nlink: 2, number: 0 }, children: [] };
      dirs.set('', root);
      continue;
    }
    const name = encodeUtf8(text);
    const parent = dirs.get(parentPath)!; // TreeChecker: a directory walked before
    let inode: InodeRecord;
    if (entry.hardLinkTo !== undefined) {
      // TreeChecker: an earlier entry of the same kind, not a directory, the group's first name.
      inode = byPath.get(entry.hardLinkTo)!;
      inode.nlink++;
    } else {
      inode = { kind: entry.kind, entry, nlink: entry.kind === 'dir' ? 2 : 1, number: inodes.length + 1 };
      inodes.push(inode);
      if (entry.kind === 'file') {
        files.push(inode);
        sizeCounts.set(entry.size, (sizeCounts.get(entry.size) ?? 0) + 1);
      }
    }
    const node: PlanNode = { name, path: entry.path, inode, parent };
    parent.children!.push(node);
    if (entry.kind === 'dir') {
      node.children = [];
      dirs.set(entry.path, node);
      parent.inode.nlink++; // nlink = 2 + subdirectories
    } else {
      byPath.set(entry.path, inode);
    }
  }
  checker.finish();

  inodes.push(root!.inode);
  root!.inode.number = inodes.length;
  return { root: root!, inodes, files, sizeCounts };
}

/** Visit children (in order) before their directory, without recursion. */
export function forEachPostOrder(root: PlanNode, visit: (node: PlanNode) => void): void {
  const stack: { node: PlanNode; next: number }[] = [{ node: root, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const kids = top.node.children;
    if (kids && top.next < kids.length) {
      const child = kids[top.next++]!;
      if (child.children) stack.push({ node: child, next: 0 });
      else visit(child);
    } else {
      stack.pop();
      visit(top.node);
    }
  }
}
