/**
 * The walk every format's plan makes, checked once: `checkTree(tree, rules)` passes the tree's
 * entries through in walk order and refuses, before a writer lays anything out,
 *
 * - a walk that breaks the SourceTree contract: the root ('' , a directory) first, then each path
 *   exactly once, parents before children, children in the byte order of their UTF-8 names
 *   (core/src/source.ts); a path with empty, '.' or '..' components; a parent that is not a
 *   directory walked before (E_BAD_INPUT, naming the path);
 * - hard links (`hardLinkTo`, on any kind but a directory: nodeSource reports hard-linked
 *   symlinks and device nodes too) whose target is not an entry of the same kind walked before it
 *   that is not itself a link, and directories with `hardLinkTo` (E_BAD_INPUT);
 * - entry kinds the format cannot store (E_UNSUPPORTED_ENTRY, with the format's own reason);
 * - names the format cannot hold: a byte limit per name or per path (E_NAME_TOO_LONG), and the
 *   format's own rule (`checkName`, any code it returns).
 *
 * It also counts links: once the walk has ended, `summary.linkCount(path)` is an entry's number of
 * names (its hard-link group) and a directory's 2 + its subdirectories, and `summary.linkGroups`
 * maps each multiply-linked entry's first name to all its names.
 *
 * Errors name the path as `messagePath` quotes it (a 2 MB name from a tar archive is cut).
 *
 * Memory: one record per directory and per non-directory path (hard-link targets may be any
 * earlier entry).
 * A plan that loops over `tree.walk()` itself uses `TreeChecker` (one `check(entry)` per entry).
 */
import { encodeUtf8 } from './bytes.js';
import { messagePath } from './names.js';
import { ErrorCodes, ImgkitError, UnsupportedEntryError, type ErrorCode } from './errors.js';
import type { EntryKind, SourceEntry, SourceTree } from './source.js';

/** Why a name is refused: the error's code, detail and way out. */
export interface NameProblem {
  code: ErrorCode;
  detail: string;
  hint?: string;
}

export interface TreeRules {
  /** Format named in errors ('fat', 'cpio', …). */
  format: string;
  /** Entry kinds the format stores; the others are refused. @default every kind */
  kinds?: readonly EntryKind[];
  /** The reason given for a refused kind, and the way out. @default "<format> cannot store a <kind>" */
  refuse?: Partial<Record<EntryKind, { detail: string; hint?: string }>>;
  /** Longest name (one path component) in UTF-8 bytes. @default no limit */
  maxNameBytes?: number;
  /** Longest path (relative to the root, no leading '/') in UTF-8 bytes. @default no limit */
  maxPathBytes?: number;
  /** The format's own name rule: the problem with `name`, or undefined when it is fine. @default none */
  checkName?: (name: string, entry: SourceEntry) => NameProblem | undefined;
}

/** One entry as checkTree passes it on. */
export interface CheckedEntry {
  entry: SourceEntry;
  /** Last path component ('' for the root). */
  name: string;
  /** Path of the parent directory; undefined for the root. */
  parent: string | undefined;
  /** 0 for the root, 1 for its children, … */
  depth: number;
}

/** What the walk found; complete once the iteration has ended. */
export interface TreeSummary {
  /** Entries walked, the root included. */
  entries: number;
  /** Each multiply-linked entry: its first name → all its names in walk order. */
  linkGroups: ReadonlyMap<string, readonly string[]>;
  /** An entry's number of names (hard links), a directory's 2 + subdirectories, 1 for unknown paths. */
  linkCount(path: string): number;
}

export interface CheckedTree extends AsyncIterable<CheckedEntry> {
  readonly summary: TreeSummary;
}

/**
 * compareTreePaths (source.ts) without allocating, for the check that runs once per entry: the
 * components in the byte order of their UTF-8 encodings, a component before its extensions ('/'
 * ends one). UTF-8 byte order is code point order; UTF-16 units are in code point order except that
 * surrogates (code points above U+FFFF) sort below U+E000…U+FFFF, so those two ranges are swapped.
 */
export function compareWalkOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 0x2f) return -1;
    if (y === 0x2f) return 1;
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** A path the SourceTree contract allows: no leading '/', no empty, '.' or '..' components, no NUL. */
function badPath(path: string): string | undefined {
  if (path === '') return undefined;
  if (path.includes('\0')) return 'the path contains a NUL character';
  if (path.charCodeAt(0) === 0x2f || path.charCodeAt(path.length - 1) === 0x2f || path.includes('//')) return 'the path has an empty component (a leading, trailing or doubled "/")';
  // A "." or ".." component starts the path or follows a '/' (the regular expression only then).
  if (path.charCodeAt(0) !== 0x2e && !path.includes('/.')) return undefined;
  const dots = /(?:^|\/)(\.\.?)(?:\/|$)/.exec(path);
  if (dots) return `the path has a "${dots[1]}" component`;
  return undefined;
}

/**
 * The checks, one entry at a time, for a plan that runs its own loop over `tree.walk()` (one
 * async iteration instead of two): `check(entry)` for each entry in walk order, `finish()` after
 * the last. `checkTree` is the same as an iterable.
 */
export class TreeChecker {
  readonly summary: TreeSummary;
  private readonly groups = new Map<string, string[]>();
  /** directory path → subdirectory count */
  private readonly dirs = new Map<string, number>();
  /** every name of a multiply-linked file → its group */
  private readonly linkOf = new Map<string, string[]>();
  /** Non-directories walked so far that a later name may link to, and their kinds. */
  private readonly linkable = new Map<string, EntryKind>();
  private readonly allowed: Set<string> | undefined;
  private prev: string | undefined;

  constructor(private readonly rules: TreeRules) {
    this.allowed = rules.kinds ? new Set(rules.kinds) : undefined;
    const { dirs, linkOf } = this;
    this.summary = {
      entries: 0,
      linkGroups: this.groups,
      linkCount(path) {
        const d = dirs.get(path);
        if (d !== undefined) return 2 + d;
        return linkOf.get(path)?.length ?? 1;
      },
    };
  }

  private fail(path: string, detail: string, hint?: string): ImgkitError {
    return new ImgkitError(ErrorCodes.BAD_INPUT, { format: this.rules.format, path: messagePath(path), detail, ...(hint ? { hint } : {}) });
  }

  /** Check the next entry of the walk; throws naming its path, or returns it with its name, parent and depth. */
  check(entry: SourceEntry): CheckedEntry {
    const { rules, dirs } = this;
    const path = entry.path;
    const slash = path.lastIndexOf('/');
    const parent = path === '' ? undefined : slash < 0 ? '' : path.slice(0, slash);
    if (this.prev === undefined) {
      if (path !== '' || entry.kind !== 'dir') throw this.fail(path, 'the walk must start with the root directory (path "")', 'a SourceTree yields its root first');
    } else {
      const why = badPath(path);
      if (why !== undefined) throw this.fail(path, why);
      if (path === '' || compareWalkOrder(this.prev, path) >= 0) {
        throw this.fail(path, `walked out of order or twice (after "${this.prev}")`, 'a SourceTree yields each path once, parents first, children sorted by the bytes of their names');
      }
      const siblings = dirs.get(parent!);
      if (siblings === undefined) throw this.fail(path, `its parent "${parent}" is not a directory walked before it`);
      if (entry.kind === 'dir') dirs.set(parent!, siblings + 1);
    }
    this.prev = path;

    if (this.allowed && !this.allowed.has(entry.kind)) {
      const r = rules.refuse?.[entry.kind];
      throw new UnsupportedEntryError({
        format: rules.format,
        path: messagePath(path),
        detail: r?.detail ?? `${rules.format} cannot store a ${entry.kind}`,
        ...(r?.hint ? { hint: r.hint } : { hint: 'exclude it' }),
      });
    }

    const name = slash < 0 ? path : path.slice(slash + 1);
    if (path !== '') {
      if (rules.maxNameBytes !== undefined) {
        const n = encodeUtf8(name).byteLength;
        if (n > rules.maxNameBytes) {
          throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, { format: rules.format, path: messagePath(path), detail: `the name is ${n} bytes; the limit is ${rules.maxNameBytes}`, hint: 'shorten it or exclude it' });
        }
      }
      if (rules.maxPathBytes !== undefined) {
        const n = encodeUtf8(path).byteLength;
        if (n > rules.maxPathBytes) {
          throw new ImgkitError(ErrorCodes.PATH_TOO_LONG, { format: rules.format, path: messagePath(path), detail: `the path is ${n} bytes; the limit is ${rules.maxPathBytes}`, hint: 'shorten it or exclude it' });
        }
      }
      const problem = rules.checkName?.(name, entry);
      if (problem) throw new ImgkitError(problem.code, { format: rules.format, path: messagePath(path), detail: problem.detail, ...(problem.hint ? { hint: problem.hint } : {}) });
    }

    if (entry.hardLinkTo !== undefined) {
      if (entry.kind === 'dir') throw this.fail(path, `a directory cannot be a hard link (to "${entry.hardLinkTo}")`);
      const target = this.linkable.get(entry.hardLinkTo);
      if (target !== entry.kind) {
        const what = entry.kind === 'file' ? 'a file' : `a ${entry.kind}`;
        throw this.fail(
          path,
          target === undefined ? `hard link to "${entry.hardLinkTo}", which is not ${what} walked before it` : `a ${entry.kind} cannot be a hard link to "${entry.hardLinkTo}", a ${target}`,
          'a source sets hardLinkTo on later names only, naming the first',
        );
      }
      let group = this.groups.get(entry.hardLinkTo);
      if (!group) {
        group = [entry.hardLinkTo];
        this.groups.set(entry.hardLinkTo, group);
        this.linkOf.set(entry.hardLinkTo, group);
      }
      group.push(path);
      this.linkOf.set(path, group);
    } else if (entry.kind !== 'dir') {
      this.linkable.set(path, entry.kind);
    }
    if (entry.kind === 'dir') dirs.set(path, 0);
    this.summary.entries++;
    let depth = path === '' ? 0 : 1;
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) depth++;
    return { entry, name, parent, depth };
  }

  /** After the last entry: a walk that yielded nothing is refused. */
  finish(): TreeSummary {
    if (this.prev === undefined) throw this.fail('', 'the tree is empty: not even a root directory', 'a SourceTree yields its root first');
    return this.summary;
  }
}

/** Check a tree's walk against the SourceTree contract and a format's rules (see the top of this file). */
export function checkTree(tree: SourceTree, rules: TreeRules): CheckedTree {
  const checker = new TreeChecker(rules);
  return {
    summary: checker.summary,
    async *[Symbol.asyncIterator]() {
      for await (const entry of tree.walk()) yield checker.check(entry);
      checker.finish();
    },
  };
}
