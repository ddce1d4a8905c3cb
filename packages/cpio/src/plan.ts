/**
 * Planning pass: walk the tree's metadata once (no content is read), validate every entry against
 * the newc limits, and give each entry its header values. Memory: one record per entry. The walk
 * itself (order, parents, hard-link targets, link counts) is checked by core's TreeChecker, as in
 * every format; the size of the uncompressed archive follows from the plan (`archiveSize`).
 *
 * - Root: the tree's root ('') is written as "." so its mode, owner and time reach the target
 *   (the kernel's initramfs unpacker mkdirs "." — EEXIST — then chowns and chmods it; `cpio -i`
 *   and bsdcpio treat "." as the existing extraction directory, as in `find . | cpio -o`).
 * - Inode numbers: sequential in walk order from 1, so they never depend on the host.
 * - Hard links (regular files): every name carries the group's inode number and link count;
 *   the data is stored once, on the LAST name, the others have filesize 0. This is what
 *   gen_init_cpio and GNU cpio write; the kernel (maybe_link: later names link to the first and
 *   write their body into it), GNU cpio (defers size-0 links until the data arrives) and libarchive
 *   read it. Other kinds with several names are written as independent entries.
 * - Directories get nlink = 2 + their subdirectories; everything else 1.
 * - Names: at most PATH_MAX bytes with the NUL (the kernel skips longer ones), and every component
 *   at most NAME_MAX (255) bytes: the kernel, GNU cpio and bsdcpio create entries on a Linux
 *   filesystem, which refuses a longer component ("File name too long"), so such an entry would be
 *   missing from the unpacked tree. Both are E_NAME_TOO_LONG naming the path.
 */
import {
  ErrorCodes,
  FieldRangeError,
  ImgkitError,
  MODE_TYPE_BITS,
  NAME_MAX,
  TreeChecker,
  alignUp,
  messagePath,
  clampTime,
  devMajor,
  devMinor,
  encodeUtf8,
  longComponent,
  warnOrThrow,
  type SourceEntry,
  type SourceTree,
  type WarningHandler,
} from '@imgkit/core';
import { CPIO_FIELD_MAX, CPIO_HEADER_SIZE, CPIO_PATH_MAX, CPIO_TRAILER_NAME } from './newc-header.js';

export interface PlannedEntry {
  entry: SourceEntry;
  /** Archive name bytes (no NUL). */
  name: Uint8Array;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  /** Bytes of data written after the name (0 for all but the last name of a hard-link group). */
  filesize: number;
  rdevmajor: number;
  rdevminor: number;
  /** File whose content is the data (the group's first name for hard links). */
  content?: SourceEntry;
  /** Symlink target bytes. */
  target?: Uint8Array;
}

export interface PlanOptions {
  epoch?: number;
  onWarning?: WarningHandler;
  strict?: boolean;
}

const FORMAT = 'cpio';

function checkField(path: string, field: string, value: number, hint?: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > CPIO_FIELD_MAX) {
    throw new FieldRangeError({
      format: FORMAT,
      path,
      field: `cpio.newc.${field}`,
      detail: `${field} ${value} does not fit the newc header's 8 hex digits (0…${CPIO_FIELD_MAX})`,
      ...(hint ? { hint } : {}),
    });
  }
}

/**
 * The newc name rules, on the archive name's UTF-8 bytes (encoded once, for the header too): at
 * most PATH_MAX bytes with the NUL, every component at most NAME_MAX bytes.
 */
function checkName(path: string, name: Uint8Array): void {
  if (name.byteLength + 1 > CPIO_PATH_MAX) {
    throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, {
      format: FORMAT,
      path: messagePath(path),
      detail: `the name is ${name.byteLength + 1} bytes with its NUL; the kernel's limit (PATH_MAX) is ${CPIO_PATH_MAX}`,
      hint: 'shorten the path or exclude it',
    });
  }
  const long = name.byteLength > NAME_MAX ? longComponent(path) : undefined;
  if (long) {
    throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, {
      format: FORMAT,
      path: messagePath(path),
      detail: `a path component is ${long.bytes} bytes; Linux names are at most ${NAME_MAX} bytes (NAME_MAX), so the kernel and cpio could not create it`,
      hint: 'rename it or exclude it',
    });
  }
}

/** The bytes one planned entry takes in the archive: header + name + NUL, padded to 4; data, padded to 4. */
function entryBytes(p: PlannedEntry): number {
  return alignUp(CPIO_HEADER_SIZE + p.name.byteLength + 1, 4) + alignUp(p.filesize, 4);
}

/**
 * The exact size of the uncompressed archive `archiveBytes` writes for `planned`: the entries, the
 * trailer (buffer-format.rst "cpio_trailer"), and zeros up to a multiple of `align`.
 */
export function archiveSize(planned: readonly PlannedEntry[], align = 4): number {
  let n = 0;
  for (const p of planned) n += entryBytes(p);
  n += alignUp(CPIO_HEADER_SIZE + CPIO_TRAILER_NAME.length + 1, 4);
  return alignUp(n, align);
}

/**
 * Plan the entries of one archive (see the top of this file): one walk of the metadata, checked
 * entry by entry by core's TreeChecker (walk order, parents, hard-link targets, link counts) and
 * the newc rules; no content is read.
 */
export async function planArchive(tree: SourceTree, opts: PlanOptions = {}): Promise<PlannedEntry[]> {
  const planned: PlannedEntry[] = [];
  const dirs: PlannedEntry[] = [];
  /** hard-link group (first name's path) → its names in walk order */
  const groups = new Map<string, PlannedEntry[]>();
  // The walk's own checks here; the name rules below, on the bytes the header needs anyway.
  const checker = new TreeChecker({ format: FORMAT });
  let nextIno = 1;

  for await (const entry of tree.walk()) {
    const { entry: e } = checker.check(entry);
    const name = encodeUtf8(e.path === '' ? '.' : e.path);
    checkName(e.path, name);
    if (e.xattrs && e.xattrs.length > 0) {
      warnOrThrow(
        { code: ErrorCodes.UNSUPPORTED_ENTRY, format: FORMAT, path: e.path, detail: `newc cannot store extended attributes; ${e.xattrs.length} dropped (${e.xattrs.map((x) => x.name).join(', ')})` },
        opts.onWarning,
        opts.strict,
      );
    }
    const mtime = clampTime(e.mtime, opts.epoch);
    checkField(e.path, 'mtime', mtime, 'set the file time within 1970…2106');
    checkField(e.path, 'uid', e.uid, 'force the owner: --all-root or --uid (library: applyOwnership)');
    checkField(e.path, 'gid', e.gid, 'force the group: --all-root or --gid (library: applyOwnership)');
    const p: PlannedEntry = {
      entry: e,
      name,
      ino: 0,
      mode: MODE_TYPE_BITS[e.kind] | (e.mode & 0o7777),
      uid: e.uid,
      gid: e.gid,
      nlink: 1,
      mtime,
      filesize: 0,
      rdevmajor: 0,
      rdevminor: 0,
    };
    switch (e.kind) {
      case 'file': {
        // TreeChecker has seen to it that hardLinkTo names an earlier file that is a group's first name.
        const group = e.hardLinkTo !== undefined ? groups.get(e.hardLinkTo)! : undefined;
        if (group) {
          const first = group[0]!;
          p.ino = first.ino;
          p.content = first.content!;
          group.push(p);
        } else {
          checkField(e.path, 'filesize', e.size, 'newc stores at most 4 GiB − 1 per file; split the file or exclude it');
          p.ino = nextIno++;
          p.content = e;
          groups.set(e.path, [p]);
        }
        break;
      }
      case 'symlink': {
        const target = encodeUtf8(e.linkTarget ?? '');
        if (target.byteLength > CPIO_PATH_MAX - 1) {
          throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, {
            format: FORMAT,
            path: messagePath(e.path),
            detail: `the symlink target is ${target.byteLength} bytes; the limit (PATH_MAX − 1) is ${CPIO_PATH_MAX - 1}`,
          });
        }
        p.target = target;
        p.filesize = target.byteLength;
        p.ino = nextIno++;
        break;
      }
      case 'char':
      case 'block': {
        const rdev = e.rdev ?? 0;
        p.rdevmajor = devMajor(rdev);
        p.rdevminor = devMinor(rdev);
        p.ino = nextIno++;
        break;
      }
      case 'dir':
        dirs.push(p);
        p.ino = nextIno++;
        break;
      default:
        // fifos and sockets; other kinds with several names are written as independent entries
        p.ino = nextIno++;
    }
    planned.push(p);
  }
  const summary = checker.finish();
  // Directories: 2 + subdirectories. Hard links: every name gets the link count, the data goes on the last name.
  for (const d of dirs) d.nlink = summary.linkCount(d.entry.path);
  for (const names of groups.values()) {
    const last = names[names.length - 1]!;
    for (const n of names) n.nlink = names.length;
    last.filesize = last.content!.size;
  }
  return planned;
}
