/**
 * Manifests: the Linux kernel's gen_init_cpio file list (usr/gen_init_cpio.c, usage text), used as an
 * overlay on a source tree to set owners and modes and to add device nodes, fifos, sockets, symlinks,
 * directories and host files without root:
 *
 *     # a comment
 *     file <name> <location> <mode> <uid> <gid> [<hard links>...]
 *     dir <name> <mode> <uid> <gid>
 *     nod <name> <mode> <uid> <gid> <b|c> <maj> <min>
 *     slink <name> <target> <mode> <uid> <gid>
 *     pipe <name> <mode> <uid> <gid>
 *     sock <name> <mode> <uid> <gid>
 *     xattr <name> <key> <value>        imgkit's extension (value as text, or hex with a 0x prefix)
 *
 * Fields are separated by blanks; modes are octal permission bits; names are archive paths (a
 * leading "/" is optional). `${VAR}` in a location expands from `variables`, as gen_init_cpio
 * expands shell variables. The `xattr` line exists because Node has no API to read extended
 * attributes from the host, so a Node source cannot carry them by itself.
 *
 * Errors name the manifest, the line and the field (`field`: `manifest.<type>.<field>`, e.g.
 * `manifest.nod.major`), and quote at most 64 bytes of a name. Names follow Linux's limits (every
 * component ≤ NAME_MAX = 255 bytes, the whole ≤ PATH_MAX − 1), symlink targets ≤ 4095 bytes, xattr
 * names ≤ 255 bytes and values ≤ 64 KiB (XATTR_NAME_MAX, XATTR_SIZE_MAX). Two lines for the same
 * name (or the same xattr of a name) are applied in order, the later one winning; each such later
 * line is an E_NAME_COLLISION warning naming both line numbers, and an error with `strict`.
 */
import { fromHex } from './bytes.js';
import { ErrorCodes, ImgkitError, warnOrThrow, type WarningHandler } from './errors.js';
import { NAME_MAX, PATH_MAX, longComponent, quoteName, utf8Length } from './names.js';
import {
  compareTreePaths,
  emptyContent,
  makeDev,
  parentPath,
  type EntryKind,
  type SourceEntry,
  type SourceTree,
  type Xattr,
} from './source.js';

interface LineBase {
  /** 1-based line number in the manifest. */
  line: number;
  /** Tree path (no leading "/"; '' is the root). */
  path: string;
}
interface Owned {
  mode: number;
  uid: number;
  gid: number;
}
export type ManifestEntry =
  | (LineBase & Owned & { type: 'file'; location: string; hardLinks: string[] })
  | (LineBase & Owned & { type: 'dir' })
  | (LineBase & Owned & { type: 'nod'; devType: 'b' | 'c'; major: number; minor: number })
  | (LineBase & Owned & { type: 'slink'; target: string })
  | (LineBase & Owned & { type: 'pipe' })
  | (LineBase & Owned & { type: 'sock' })
  | (LineBase & { type: 'xattr'; name: string; value: Uint8Array });

export interface Manifest {
  fileName: string | undefined;
  entries: ManifestEntry[];
}

export interface ParseManifestOptions {
  /** Values for `${NAME}` in `file` locations. A name not given is an error. @default {} */
  variables?: Record<string, string>;
  /** Duplicate and conflicting lines (E_NAME_COLLISION, with the later line) are reported here. @default ignored */
  onWarning?: WarningHandler;
  /** Refuse duplicate and conflicting lines instead of warning. @default false */
  strict?: boolean;
}

/** Largest xattr name and value Linux takes (include/uapi/linux/limits.h XATTR_NAME_MAX, XATTR_SIZE_MAX). */
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

/** Content of the host files named by `file` lines. */
export interface HostFileReader {
  stat(location: string): Promise<{ size: number; mtime: number }>;
  read(location: string): AsyncIterable<Uint8Array>;
}

export interface ApplyManifestOptions {
  /** Reads `file` locations; required when the manifest has `file` lines. */
  hostFiles?: HostFileReader;
  /** mtime (seconds) of entries the manifest adds other than files (gen_init_cpio's -t). @default 0 */
  mtime?: number;
}

const USAGE: Record<string, string> = {
  file: 'file <name> <location> <mode> <uid> <gid> [<hard links>...]',
  dir: 'dir <name> <mode> <uid> <gid>',
  nod: 'nod <name> <mode> <uid> <gid> <b|c> <maj> <min>',
  slink: 'slink <name> <target> <mode> <uid> <gid>',
  pipe: 'pipe <name> <mode> <uid> <gid>',
  sock: 'sock <name> <mode> <uid> <gid>',
  xattr: 'xattr <name> <key> <value|0xHEX>',
};

/** Parse a gen_init_cpio file list. Syntax errors are E_MANIFEST_SYNTAX with the line number and field. */
export function parseManifest(text: string, fileName?: string, opts: ParseManifestOptions = {}): Manifest {
  const entries: ManifestEntry[] = [];
  const where = fileName !== undefined ? { path: fileName } : {};
  /** Tree path → the line that names it, and what that line makes of it. */
  const named = new Map<string, { line: number; type: string; text: string }>();
  /** "path\0key" → line of an xattr line. */
  const xattrLines = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const f = trimmed.split(/[ \t]+/);
    const type = f[0]!;
    const usage = USAGE[type];
    const fail = (detail: string, field?: string, code: typeof ErrorCodes.MANIFEST_SYNTAX | typeof ErrorCodes.NAME_TOO_LONG = ErrorCodes.MANIFEST_SYNTAX): never => {
      throw new ImgkitError(code, {
        format: 'manifest',
        ...where,
        field: field === undefined ? `manifest.${usage ? type : 'type'}` : `manifest.${type}.${field}`,
        line,
        detail,
        hint: usage ? `expected: ${usage}` : `a line starts with one of: ${Object.keys(USAGE).join(', ')}`,
      });
    };
    if (usage === undefined) fail(`unknown entry type ${quoteName(type)}`);
    const want = usage!.split(' [')[0]!.split(' ').length;
    if (f.length < want) fail(`${type} needs ${want - 1} fields, found ${f.length - 1}`);
    if (type !== 'file' && type !== 'xattr' && f.length > want) fail(`${type} takes ${want - 1} fields, found ${f.length - 1}: ${quoteName(f.slice(want).join(' '))} is extra`);
    const name = (s: string, field: string): string => {
      const parts = s.split('/').filter((x) => x !== '' && x !== '.');
      if (parts.includes('..')) fail(`${field} ${quoteName(s)} leaves the tree root ("..")`, field);
      const path = parts.join('/');
      const long = longComponent(path);
      if (long) fail(`${field} ${quoteName(s)} has a component of ${long.bytes} bytes; Linux names are at most ${NAME_MAX} bytes`, field, ErrorCodes.NAME_TOO_LONG);
      const bytes = path.length * 3 >= PATH_MAX ? utf8Length(path) : 0;
      if (bytes >= PATH_MAX) fail(`${field} ${quoteName(s)} is ${bytes} bytes; Linux paths are at most ${PATH_MAX - 1} bytes`, field, ErrorCodes.NAME_TOO_LONG);
      return path;
    };
    const octal = (s: string, field: string): number => {
      if (!/^[0-7]+$/.test(s)) fail(`${field} ${quoteName(s)} is not an octal number`, field);
      const v = Number.parseInt(s, 8);
      if (v > 0o7777) fail(`${field} ${s} has bits beyond 07777 (permission, set-id and sticky bits only; the type comes from the line)`, field);
      return v;
    };
    const dec = (s: string, field: string, max = 0xffffffff): number => {
      if (!/^\d+$/.test(s)) fail(`${field} ${quoteName(s)} is not a decimal number`, field);
      const v = Number(s);
      if (v > max) fail(`${field} ${quoteName(s)} is above ${max}`, field);
      return v;
    };
    /** A second line for a name already given: warn (or refuse with strict), naming both lines. */
    const claim = (path: string, field: string): void => {
      const prev = named.get(path);
      named.set(path, { line, type, text: trimmed });
      if (!prev) return;
      const shown = path === '' ? '"/"' : quoteName(path);
      const what =
        prev.text === trimmed ? 'the same line repeated' : prev.type !== type ? `this ${type} line replaces the ${prev.type} from there` : `this ${type} line replaces it (last one wins)`;
      warnOrThrow(
        { code: ErrorCodes.NAME_COLLISION, format: 'manifest', ...where, line, detail: `${field} ${shown} is already given on line ${prev.line}: ${what}` },
        opts.onWarning,
        opts.strict,
      );
    };
    const path = name(f[1]!, 'name');
    if (type === 'xattr') {
      const key = f[2]!;
      if (!/^[a-z]+\.[^\s]+$/.test(key)) fail(`xattr key ${quoteName(key)} needs a namespace prefix such as user., trusted. or security.`, 'key');
      if (utf8Length(key) > XATTR_NAME_MAX) fail(`xattr key ${quoteName(key)} is over ${XATTR_NAME_MAX} bytes (XATTR_NAME_MAX)`, 'key', ErrorCodes.NAME_TOO_LONG);
      // The value is the rest of the line after the key (it may contain blanks).
      const rest = /^\S+\s+\S+\s+\S+\s+(.*)$/.exec(trimmed)![1]!;
      let value: Uint8Array;
      if (/^0x/i.test(rest)) {
        const hex = rest.slice(2);
        if (!/^([0-9a-fA-F]{2})*$/.test(hex)) fail(`xattr value ${quoteName(rest)} is not an even number of hex digits`, 'value');
        value = fromHex(hex);
      } else value = new TextEncoder().encode(rest);
      if (value.byteLength > XATTR_SIZE_MAX) fail(`xattr value is ${value.byteLength} bytes; Linux takes at most ${XATTR_SIZE_MAX} (XATTR_SIZE_MAX)`, 'value');
      const k = `${path}\0${key}`;
      const prev = xattrLines.get(k);
      xattrLines.set(k, line);
      if (prev !== undefined) {
        warnOrThrow(
          { code: ErrorCodes.NAME_COLLISION, format: 'manifest', ...where, line, detail: `xattr ${quoteName(key)} of ${quoteName(path)} is already set on line ${prev}: this value replaces it` },
          opts.onWarning,
          opts.strict,
        );
      }
      entries.push({ type: 'xattr', line, path, name: key, value });
      return;
    }
    if (type === 'file') {
      let location = f[2]!;
      location = location.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, v: string) => {
        const val = opts.variables?.[v];
        if (val === undefined) {
          throw new ImgkitError(ErrorCodes.MANIFEST_REFERENCE, { format: 'manifest', ...where, field: 'manifest.file.location', line, detail: `\${${v}} is not defined`, hint: 'pass it in variables' });
        }
        return val;
      });
      const hardLinks = f.slice(6).map((h) => name(h, 'hard link'));
      const entry = { type, line, path, location, mode: octal(f[3]!, 'mode'), uid: dec(f[4]!, 'uid'), gid: dec(f[5]!, 'gid'), hardLinks } as const;
      claim(path, 'name');
      for (const h of hardLinks) claim(h, 'hard link');
      entries.push({ ...entry, hardLinks: [...hardLinks] });
      return;
    }
    if (type === 'slink') {
      const target = f[2]!;
      if (target.length * 3 >= PATH_MAX && utf8Length(target) >= PATH_MAX) {
        fail(`target ${quoteName(target)} is over ${PATH_MAX - 1} bytes; Linux symlinks hold at most that`, 'target', ErrorCodes.NAME_TOO_LONG);
      }
      const entry = { type, line, path, target, mode: octal(f[3]!, 'mode'), uid: dec(f[4]!, 'uid'), gid: dec(f[5]!, 'gid') } as const;
      claim(path, 'name');
      entries.push(entry);
      return;
    }
    const owned = { mode: octal(f[2]!, 'mode'), uid: dec(f[3]!, 'uid'), gid: dec(f[4]!, 'gid') };
    if (type === 'nod') {
      const devType = f[5]!;
      if (devType !== 'b' && devType !== 'c') fail(`device type ${quoteName(devType)} is not b (block) or c (character)`, 'devType');
      const entry = { type, line, path, ...owned, devType: devType as 'b' | 'c', major: dec(f[6]!, 'major', 0xfffff), minor: dec(f[7]!, 'minor', 0xfffff) } as const;
      claim(path, 'name');
      entries.push(entry);
      return;
    }
    claim(path, 'name');
    entries.push({ type: type as 'dir' | 'pipe' | 'sock', line, path, ...owned });
  });
  return { fileName, entries };
}

/** Host files from memory (browsers, tests): location → bytes. */
export function memoryHostFiles(files: Record<string, Uint8Array | string>, mtime = 0): HostFileReader {
  const get = (location: string): Uint8Array => {
    const v = files[location];
    if (v === undefined) throw new ImgkitError(ErrorCodes.MANIFEST_REFERENCE, { format: 'manifest', path: location, detail: 'no such host file' });
    return typeof v === 'string' ? new TextEncoder().encode(v) : v;
  };
  return {
    async stat(location) {
      return { size: get(location).byteLength, mtime };
    },
    async *read(location) {
      yield get(location);
    },
  };
}

const KIND_OF: Record<Exclude<ManifestEntry['type'], 'xattr' | 'nod'>, EntryKind> = {
  file: 'file',
  dir: 'dir',
  slink: 'symlink',
  pipe: 'fifo',
  sock: 'socket',
};

/**
 * Overlay a manifest on a tree. A `dir` or `file` line naming a directory or regular file the tree
 * already has sets its owner and mode only (children and content stay the tree's; the location is
 * not read); `nod`, `pipe`, `sock` and `slink` lines, and lines whose kind differs from the tree's
 * entry, replace it (a new `file` takes its content from the host location). Owner and mode are
 * per inode, so they apply to every hard link of the entry. New paths are added; every
 * parent must exist in the tree or the manifest (else E_MANIFEST_REFERENCE with the line). The
 * result walks in the canonical order; hard links get `hardLinkTo` = the first name in that order.
 *
 * The base tree's metadata is collected when the result is walked (memory: one record per entry).
 */
export function applyManifest(tree: SourceTree, manifest: Manifest, opts: ApplyManifestOptions = {}): SourceTree {
  const where = manifest.fileName !== undefined ? { path: manifest.fileName } : {};
  const refError = (line: number, detail: string, hint?: string, cause?: unknown) =>
    new ImgkitError(ErrorCodes.MANIFEST_REFERENCE, { format: 'manifest', ...where, line, detail, ...(hint ? { hint } : {}), ...(cause !== undefined ? { cause } : {}) });

  return {
    async *walk() {
      // Each entry belongs to a link group (an "inode"); names of one group are hard links.
      interface Node {
        entry: SourceEntry;
        group: object;
        line?: number;
      }
      const nodes = new Map<string, Node>();
      const groupOf = new Map<string, object>(); // base tree: primary path → group
      for await (const e of tree.walk()) {
        let group: object;
        if (e.hardLinkTo !== undefined) group = groupOf.get(e.hardLinkTo) ?? {};
        else {
          group = {};
          groupOf.set(e.path, group);
        }
        const { hardLinkTo: _drop, ...rest } = e;
        nodes.set(e.path, { entry: rest, group });
      }
      groupOf.clear();
      const mtime = opts.mtime ?? 0;

      for (const m of manifest.entries) {
        const existing = nodes.get(m.path);
        if (m.type === 'xattr') continue; // applied after every entry exists
        if ((m.type === 'dir' && existing?.entry.kind === 'dir') || (m.type === 'file' && existing?.entry.kind === 'file')) {
          // Same kind already in the tree: set owner and mode, keep the tree's content (lists made by
          // gen_initramfs.sh from the same directory name the same file as their location).
          existing.entry = { ...existing.entry, mode: m.mode, uid: m.uid, gid: m.gid };
          existing.line = m.line;
          if (m.type === 'file') {
            for (const h of m.hardLinks) {
              if (nodes.get(h)?.entry.kind === 'dir') throw refError(m.line, `hard link ${quoteName(h)} would replace a directory`);
              nodes.set(h, { entry: { ...existing.entry, path: h }, group: existing.group, line: m.line });
            }
          }
          continue;
        }
        if (m.type === 'dir' || existing?.entry.kind === 'dir') {
          // Replacing a directory by something else, or adding a new directory.
          if (existing && [...nodes.keys()].some((p) => p !== m.path && parentPath(p) === m.path)) {
            throw refError(m.line, `${quoteName(m.path)} is a directory with entries; a ${m.type} line cannot replace it`);
          }
        }
        const base = { path: m.path, mode: m.mode, uid: m.uid, gid: m.gid, mtime };
        let entry: SourceEntry;
        switch (m.type) {
          case 'dir':
            entry = { ...base, kind: 'dir', size: 0, read: emptyContent };
            break;
          case 'nod':
            entry = { ...base, kind: m.devType === 'b' ? 'block' : 'char', size: 0, rdev: makeDev(m.major, m.minor), read: emptyContent };
            break;
          case 'slink':
            entry = { ...base, kind: 'symlink', size: new TextEncoder().encode(m.target).byteLength, linkTarget: m.target, read: emptyContent };
            break;
          case 'pipe':
          case 'sock':
            entry = { ...base, kind: KIND_OF[m.type], size: 0, read: emptyContent };
            break;
          case 'file': {
            const host = opts.hostFiles;
            if (!host) throw refError(m.line, `file line for ${quoteName(m.path)} but no host file reader was given`, 'pass hostFiles (nodeHostFiles(manifestDir) in Node)');
            let st: { size: number; mtime: number };
            try {
              st = await host.stat(m.location);
            } catch (err) {
              throw refError(m.line, `cannot use ${quoteName(m.location)} for ${quoteName(m.path)}: ${err instanceof ImgkitError ? err.detail : String(err)}`, undefined, err);
            }
            const location = m.location;
            entry = { ...base, kind: 'file', mtime: st.mtime, size: st.size, read: () => host.read(location) };
            break;
          }
        }
        const group = {};
        // A replaced name leaves its old link group; the others keep the old content.
        nodes.set(m.path, { entry, group, line: m.line });
        if (m.type === 'file') {
          for (const h of m.hardLinks) {
            const old = nodes.get(h);
            if (old?.entry.kind === 'dir') throw refError(m.line, `hard link ${quoteName(h)} would replace a directory`);
            nodes.set(h, { entry: { ...entry, path: h }, group, line: m.line });
          }
        }
      }
      const byGroup = new Map<object, Node[]>();
      for (const n of nodes.values()) {
        const list = byGroup.get(n.group);
        if (list) list.push(n);
        else byGroup.set(n.group, [n]);
      }
      const members = (group: object) => byGroup.get(group) ?? [];
      // Owner and mode belong to the inode: an override of one name applies to all its links.
      for (const n of nodes.values()) {
        if (n.line === undefined) continue;
        for (const o of members(n.group)) {
          if (o !== n && o.line === undefined) o.entry = { ...o.entry, mode: n.entry.mode, uid: n.entry.uid, gid: n.entry.gid };
        }
      }
      for (const m of manifest.entries) {
        if (m.type !== 'xattr') continue;
        const n = nodes.get(m.path);
        if (!n) throw refError(m.line, `xattr for ${quoteName(m.path)}, which is neither in the tree nor in the manifest`);
        const xattrs: Xattr[] = (n.entry.xattrs ?? []).filter((x) => x.name !== m.name);
        xattrs.push({ name: m.name, value: m.value });
        for (const o of members(n.group)) o.entry = { ...o.entry, xattrs };
      }
      // Every parent must exist and be a directory.
      for (const [path, n] of nodes) {
        if (path === '') continue;
        const parent = nodes.get(parentPath(path));
        if (!parent || parent.entry.kind !== 'dir') {
          const line = n.line ?? 0;
          throw refError(
            line,
            parent ? `the parent of ${quoteName(path)} is a ${parent.entry.kind}, not a directory` : `the parent directory of ${quoteName(path)} is neither in the tree nor in the manifest`,
            parent ? undefined : `add "dir /${parentPath(path)} 0755 0 0" before it`,
          );
        }
      }
      const sorted = [...nodes.values()].sort((a, b) => compareTreePaths(a.entry.path, b.entry.path));
      const firstOf = new Map<object, string>();
      for (const n of sorted) {
        const first = firstOf.get(n.group);
        if (first === undefined) {
          firstOf.set(n.group, n.entry.path);
          yield n.entry;
        } else yield { ...n.entry, hardLinkTo: first };
      }
    },
  };
}
