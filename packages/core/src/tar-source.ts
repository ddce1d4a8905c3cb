/**
 * A tar archive as a source tree, without extracting it. One pass over the headers (content is
 * skipped by offset) builds the entries; a file's content is read later from its offset.
 *
 * Formats: POSIX ustar (IEEE Std 1003.1-2017, pax "ustar Interchange Format"), pax extended
 * headers (pax "pax Extended Header": path, linkpath, size, uid, gid, mtime, SCHILY.xattr.*), GNU
 * long names and link names (GNU tar manual "Basic Tar Format": typeflags 'L' and 'K') and GNU
 * base-256 numbers. As extraction would: a duplicate path is replaced by the later member, missing
 * parent directories are created (0755, 0:0, mtime 0), and hard links share their target's inode.
 * The entries are re-sorted into the canonical walk order (core/src/source.ts).
 *
 * What is accepted (compared with GNU tar 1.34, bsdtar 3.6 and mksquashfs 4.5 -tar on the same cuts):
 *
 *   archive                                  imgkit         GNU tar        bsdtar         mksquashfs -tar
 *   ends with two zero blocks                ok             ok             ok             ok
 *   ends with one zero block                 ok             ok, warns      ok             ok
 *   ends after a member, no zero block       E_TAR_FORMAT   ok             ok             refused
 *   ends inside a header                     E_TAR_FORMAT   ok (!)         refused        refused
 *   ends inside a member's data or padding   E_TAR_FORMAT   refused        refused        refused
 *   empty file                               E_TAR_FORMAT   refused        ok (empty)     refused
 *   first block fails its checksum (text)    E_TAR_FORMAT   refused        refused        refused
 *   gzip/xz/zstd/bzip2/lz4-compressed tar    E_TAR_FORMAT   decompresses   decompresses   refused
 *
 * The end-of-archive marker is required because an archive cut at a member boundary is otherwise
 * indistinguishable from a complete one: a missing marker is how truncation shows. Messages say
 * "not a tar archive" when the first header is not one (empty, too short, bad checksum; compressed
 * data is named), and "truncated" or "corrupted" with the offset and the member otherwise. Blocks
 * after the first zero block are not read.
 */
import { compareBytes, copyBytes } from './bytes.js';
import { ErrorCodes, ImgkitError, UnsupportedEntryError } from './errors.js';
import { readRange, type RandomAccessReader } from './random-access.js';
import { quoteName } from './names.js';
import { compareTreePaths, emptyContent, makeDev, parentPath, type EntryKind, type SourceEntry, type SourceTree, type Xattr } from './source.js';
import { bytes, struct } from './struct.js';

export const TAR_BLOCK_SIZE = 512;

// pax "ustar Interchange Format", Table: ustar Header Block. Numbers are octal text (GNU tar also
// writes base-256 when the high bit of the first byte is set); `prefix` exists only with the POSIX
// magic "ustar\0" — GNU's "ustar  \0" header keeps atime/ctime there.
export const TarHeader = struct('tar.header', TAR_BLOCK_SIZE, {
  name: bytes(0, 100),
  mode: bytes(100, 8),
  uid: bytes(108, 8),
  gid: bytes(116, 8),
  size: bytes(124, 12),
  mtime: bytes(136, 12),
  chksum: bytes(148, 8),
  typeflag: bytes(156, 1),
  linkname: bytes(157, 100),
  magic: bytes(257, 6),
  version: bytes(263, 2),
  uname: bytes(265, 32),
  gname: bytes(297, 32),
  devmajor: bytes(329, 8),
  devminor: bytes(337, 8),
  prefix: bytes(345, 155),
});

const POSIX_MAGIC = new Uint8Array([0x75, 0x73, 0x74, 0x61, 0x72, 0x00]); // "ustar\0"
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** What a tar member gives an entry, and where its data starts in the archive. */
interface Inode extends Pick<SourceEntry, 'kind' | 'mode' | 'uid' | 'gid' | 'mtime' | 'size' | 'linkTarget' | 'rdev'> {
  dataOffset: number;
  xattrs?: Xattr[];
}

function formatError(offset: number, detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.TAR_FORMAT, { format: 'tar', field: `tar@${offset}`, detail: `at offset ${offset}: ${detail}`, ...(hint ? { hint } : {}) });
}

const TRUNCATED_HINT = 'the archive is incomplete: copy or download it again';

/** Magic numbers of what people pass instead of a tar archive. */
const NOT_TAR_KINDS: readonly { magic: number[]; what: string; hint?: string }[] = [
  { magic: [0x1f, 0x8b], what: 'gzip-compressed data', hint: 'decompress it first: gzip -dc' },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'xz-compressed data', hint: 'decompress it first: xz -dc' },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], what: 'zstd-compressed data', hint: 'decompress it first: zstd -dc' },
  { magic: [0x42, 0x5a, 0x68], what: 'bzip2-compressed data', hint: 'decompress it first: bzip2 -dc' },
  { magic: [0x04, 0x22, 0x4d, 0x18], what: 'lz4-compressed data', hint: 'decompress it first: lz4 -dc' },
  { magic: [0x02, 0x21, 0x4c, 0x18], what: 'lz4-compressed data (legacy format)', hint: 'decompress it first: lz4 -dc' },
  { magic: [0x30, 0x37, 0x30, 0x37, 0x30], what: 'a cpio archive' },
  { magic: [0x68, 0x73, 0x71, 0x73], what: 'a squashfs image' },
];

/** "not a tar archive": the first block is not a tar header (or there is none). */
function notTar(head: Uint8Array, why: string): ImgkitError {
  const kind = NOT_TAR_KINDS.find((k) => head.byteLength >= k.magic.length && k.magic.every((b, i) => head[i] === b));
  return new ImgkitError(ErrorCodes.TAR_FORMAT, {
    format: 'tar',
    field: 'tar@0',
    detail: `not a tar archive: ${why}${kind ? `; it looks like ${kind.what}` : ''}`,
    hint: kind?.hint ?? 'give an uncompressed tar archive (ustar, pax or GNU format)',
  });
}

/** The error with the archive's name as its path (errors from the header parsers carry only the offset). */
function named(err: unknown, name: string | undefined): unknown {
  if (name === undefined || !(err instanceof ImgkitError) || err.path !== undefined || err.format !== 'tar') return err;
  return ImgkitError.fromJSON({ ...err.toJSON(), path: name });
}

/** Bytes up to the first NUL. */
function cString(b: Uint8Array): Uint8Array {
  const i = b.indexOf(0);
  return i < 0 ? b : b.subarray(0, i);
}

/** A numeric header field: octal text, or GNU base-256 (two's complement) when the top bit is set. */
export function parseTarNumber(b: Uint8Array, what: string, offset: number): number {
  if (b.byteLength > 0 && (b[0]! & 0x80) !== 0) {
    const negative = (b[0]! & 0x40) !== 0;
    let v = BigInt(b[0]! & 0x7f) - (negative ? 0x80n : 0n);
    for (let i = 1; i < b.byteLength; i++) v = (v << 8n) | BigInt(b[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw formatError(offset, `${what} does not fit a safe integer`);
    return Number(v);
  }
  let i = 0;
  while (i < b.byteLength && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < b.byteLength; i++) {
    const c = b[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw formatError(offset, `${what} field is not octal`);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < b.byteLength; i++) if (b[i] !== 0x20 && b[i] !== 0) throw formatError(offset, `${what} field has text after its terminator`);
  return digits === 0 ? 0 : v;
}

function checksumOk(h: Uint8Array, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK_SIZE; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += c;
    signed += c >= 0x80 ? c - 0x100 : c;
  }
  return stored === unsigned || stored === signed; // some old tars summed signed chars
}

/** pax "pax Extended Header": records "<len> <key>=<value>\n", len counting the whole record. */
export function parsePaxRecords(data: Uint8Array, offset: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let p = 0;
  while (p < data.byteLength) {
    if (data[p] === 0) break; // padding
    let len = 0;
    let q = p;
    while (q < data.byteLength && data[q]! >= 0x30 && data[q]! <= 0x39) len = len * 10 + (data[q++]! - 0x30);
    if (q === p || data[q] !== 0x20 || len <= q - p + 1 || p + len > data.byteLength || data[p + len - 1] !== 0x0a) {
      throw formatError(offset, `malformed pax record at byte ${p} of the extended header`);
    }
    const rec = data.subarray(q + 1, p + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw formatError(offset, `pax record without "=" at byte ${p} of the extended header`);
    let key: string;
    try {
      key = strictUtf8.decode(rec.subarray(0, eq));
    } catch {
      throw formatError(offset, 'pax record key is not UTF-8');
    }
    out.set(key, rec.subarray(eq + 1));
    p += len;
  }
  return out;
}

function normalize(raw: string, offset: number): string {
  const parts = raw.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) throw formatError(offset, `member ${quoteName(raw)} leaves the tree root ("..")`, 'tar refuses such members too; re-create the archive');
  return parts.join('/');
}

function decodeName(b: Uint8Array, offset: number, what: string): string {
  try {
    return strictUtf8.decode(b);
  } catch {
    throw new ImgkitError(ErrorCodes.NAME_UNENCODABLE, { format: 'tar', field: `tar@${offset}`, detail: `at offset ${offset}: the ${what} is not valid UTF-8` });
  }
}

/** Reads headers through a window so that runs of small members cost few reader calls. */
class WindowedReader {
  private start = 0;
  private data: Uint8Array = new Uint8Array(0);
  constructor(private readonly reader: RandomAccessReader, private readonly windowBytes = 64 << 10) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset >= this.start && offset + length <= this.start + this.data.byteLength) {
      return this.data.subarray(offset - this.start, offset - this.start + length);
    }
    if (length > this.windowBytes) return this.reader.read(offset, length);
    this.start = offset;
    this.data = await this.reader.read(offset, this.windowBytes);
    return this.data.subarray(0, Math.min(length, this.data.byteLength));
  }
}

interface Member {
  path: string;
  inode: Inode;
  offset: number;
}

async function indexArchive(reader: RandomAccessReader, opts: TarSourceOptions): Promise<SourceEntry[]> {
  const win = new WindowedReader(reader);
  const members = new Map<string, Member>();
  let globalPax = new Map<string, Uint8Array>();
  let pax: Map<string, Uint8Array> | null = null;
  let longName: Uint8Array | null = null;
  let longLink: Uint8Array | null = null;
  let offset = 0;
  let root: Inode | null = null;
  /** Name of the last member read, for messages about what follows it. */
  let lastMember: string | undefined;
  const afterLast = () => (lastMember === undefined ? '' : ` (after member ${quoteName(lastMember)})`);
  let sawEnd = false;

  const readData = async (at: number, size: number, hdr: number): Promise<Uint8Array> => {
    if (size > 16 << 20) throw formatError(hdr, `metadata member of ${size} bytes is implausibly large`);
    const d = await win.read(at, size);
    if (d.byteLength < size) throw formatError(hdr, `truncated: the archive ends inside an extended header${afterLast()}`, TRUNCATED_HINT);
    return copyBytes(d);
  };
  /** A member's data and its padding to the next 512-byte block must be in the archive. */
  const checkDataInside = (hdr: number, end: number, what: string): void => {
    if (end > reader.size) {
      throw formatError(
        hdr,
        `truncated: the archive ends inside ${what}: its data and padding run to offset ${end}, the archive has ${reader.size} bytes`,
        TRUNCATED_HINT,
      );
    }
  };

  while (offset < reader.size) {
    const h = await win.read(offset, TAR_BLOCK_SIZE);
    if (h.byteLength < TAR_BLOCK_SIZE) {
      if (offset === 0) throw notTar(h, `it has ${h.byteLength} bytes, less than one 512-byte header`);
      throw formatError(offset, `truncated: the archive ends ${h.byteLength} bytes into a header${afterLast()}`, TRUNCATED_HINT);
    }
    if (h.every((b) => b === 0)) {
      // End-of-archive marker: two zero blocks; one is accepted (GNU tar warns, bsdtar does not).
      sawEnd = true;
      break;
    }
    const f = TarHeader.decode(h);
    let stored = -1;
    try {
      stored = parseTarNumber(f.chksum, 'checksum', offset);
    } catch {
      /* not a number: a mismatch */
    }
    if (!checksumOk(h, stored)) {
      if (offset === 0) throw notTar(h, "the first header's checksum does not match");
      throw formatError(offset, `corrupted: the header's checksum does not match${afterLast()}`, 'the archive is damaged: re-create or copy it again');
    }
    const type = String.fromCharCode(f.typeflag[0]!);
    const size = parseTarNumber(f.size, 'size', offset);
    const paxSize = pax?.get('size') ?? globalPax.get('size');
    const dataSize = paxSize !== undefined && type !== 'x' && type !== 'g' ? Number(new TextDecoder().decode(paxSize)) : size;
    if (!Number.isSafeInteger(dataSize) || dataSize < 0) throw formatError(offset, 'invalid size');
    const dataOffset = offset + TAR_BLOCK_SIZE;
    const next = dataOffset + Math.ceil(dataSize / TAR_BLOCK_SIZE) * TAR_BLOCK_SIZE;

    if (type === 'x' || type === 'g') {
      checkDataInside(offset, next, `a pax extended header${afterLast()}`);
      const recs = parsePaxRecords(await readData(dataOffset, size, offset), offset);
      if (type === 'g') globalPax = new Map([...globalPax, ...recs]);
      else pax = recs;
      offset = next;
      continue;
    }
    if (type === 'L' || type === 'K') {
      checkDataInside(offset, next, `a GNU long ${type === 'L' ? 'name' : 'link name'}${afterLast()}`);
      const d = cString(await readData(dataOffset, size, offset));
      if (type === 'L') longName = d;
      else longLink = d;
      offset = next;
      continue;
    }
    const attrs = new Map([...globalPax, ...(pax ?? [])]);
    pax = null;
    const text = (k: string) => {
      const v = attrs.get(k);
      return v === undefined ? undefined : decodeName(v, offset, `pax ${k}`);
    };
    const num = (k: string, fallback: number, what: string): number => {
      const v = text(k);
      if (v === undefined) return fallback;
      if (!/^-?\d+(\.\d*)?$/.test(v)) throw formatError(offset, `pax ${k} "${v}" is not a number`);
      const n = Math.floor(Number(v));
      if (!Number.isSafeInteger(n)) throw formatError(offset, `pax ${what} out of range`);
      return n;
    };

    let nameBytes: Uint8Array = cString(f.name);
    if (compareBytes(f.magic, POSIX_MAGIC) === 0) {
      const prefix = cString(f.prefix);
      if (prefix.byteLength > 0) nameBytes = new Uint8Array([...prefix, 0x2f, ...nameBytes]);
    }
    if (longName) nameBytes = longName;
    const rawName = text('path') ?? decodeName(nameBytes, offset, 'member name');
    const rawLink = text('linkpath') ?? decodeName(longLink ?? cString(f.linkname), offset, 'link name');
    longName = null;
    longLink = null;
    lastMember = rawName;
    checkDataInside(offset, next, `member ${quoteName(rawName)}`);
    for (const k of attrs.keys()) {
      if (k.startsWith('GNU.sparse.')) {
        throw new UnsupportedEntryError({ format: 'tar', field: `tar@${offset}`, detail: `at offset ${offset}: member ${quoteName(rawName)} is sparse; sparse members are not supported`, hint: 're-create the archive without --sparse' });
      }
    }
    const path = normalize(rawName, offset);

    let kind: EntryKind;
    switch (type) {
      case '0':
      case '\0':
      case '7':
        kind = rawName.endsWith('/') ? 'dir' : 'file'; // pre-POSIX tars mark directories with a trailing '/'
        break;
      case '1':
      case '2':
        kind = 'symlink';
        break;
      case '3':
        kind = 'char';
        break;
      case '4':
        kind = 'block';
        break;
      case '5':
      case 'D': // GNU dumpdir: a directory whose data lists its contents
        kind = 'dir';
        break;
      case '6':
        kind = 'fifo';
        break;
      case 'V': // GNU volume label: not an entry
        offset = next;
        continue;
      case 'S':
        throw new UnsupportedEntryError({ format: 'tar', field: `tar@${offset}`, detail: `at offset ${offset}: member ${quoteName(rawName)} is a GNU sparse member; those are not supported`, hint: 're-create the archive without --sparse' });
      default:
        throw formatError(offset, `unsupported member type "${type}" for ${quoteName(rawName)}`);
    }

    if (type === '1') {
      // Hard link: the name shares the inode of a member stored earlier.
      const target = normalize(rawLink, offset);
      const t = members.get(target) ?? (target === '' && root ? { inode: root } : undefined);
      if (!t) throw formatError(offset, `hard link ${quoteName(rawName)} points to ${quoteName(rawLink)}, which is not earlier in the archive`);
      if (t.inode.kind === 'dir') throw formatError(offset, `hard link ${quoteName(rawName)} points to a directory`);
      if (path === '') throw formatError(offset, 'a hard link cannot be the root');
      members.set(path, { path, inode: t.inode, offset });
      offset = next;
      continue;
    }

    const inode: Inode = {
      kind,
      mode: parseTarNumber(f.mode, 'mode', offset) & 0o7777,
      uid: num('uid', parseTarNumber(f.uid, 'uid', offset), 'uid'),
      gid: num('gid', parseTarNumber(f.gid, 'gid', offset), 'gid'),
      mtime: num('mtime', parseTarNumber(f.mtime, 'mtime', offset), 'mtime'),
      size: kind === 'file' ? dataSize : 0,
      dataOffset,
    };
    if (kind === 'symlink') {
      inode.linkTarget = rawLink;
      inode.size = new TextEncoder().encode(rawLink).byteLength;
    }
    if (kind === 'char' || kind === 'block') {
      const major = num('SCHILY.devmajor', parseTarNumber(f.devmajor, 'devmajor', offset), 'devmajor');
      const minor = num('SCHILY.devminor', parseTarNumber(f.devminor, 'devminor', offset), 'devminor');
      inode.rdev = makeDev(major, minor);
    }
    const xattrs: Xattr[] = [];
    for (const [k, v] of attrs) if (k.startsWith('SCHILY.xattr.')) xattrs.push({ name: k.slice('SCHILY.xattr.'.length), value: copyBytes(v) });
    for (const [k, v] of attrs) {
      // libarchive's own form: URL-encoded name, base64 value; used when no SCHILY record names it.
      if (!k.startsWith('LIBARCHIVE.xattr.')) continue;
      const name = decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length));
      if (xattrs.some((x) => x.name === name)) continue;
      xattrs.push({ name, value: decodeBase64(new TextDecoder().decode(v), offset) });
    }
    if (xattrs.length > 0) inode.xattrs = xattrs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    if (path === '') {
      if (kind !== 'dir') throw formatError(offset, `the archive root ${quoteName(rawName)} is a ${kind}, not a directory`);
      root = inode;
    } else {
      members.set(path, { path, inode, offset });
    }
    offset = next;
  }
  if (!sawEnd) {
    if (offset === 0) throw notTar(new Uint8Array(0), 'it is empty (0 bytes)');
    throw formatError(
      offset,
      `truncated: the archive ends${afterLast()} without the end-of-archive marker (two 512-byte zero blocks)`,
      'if the archive is complete, append the marker: head -c 1024 /dev/zero >> ARCHIVE (mksquashfs -tar refuses it too)',
    );
  }

  // Excluded members go, with everything below an excluded directory. Hard links to an excluded
  // name keep their content: the inode is shared, and the first name left becomes the stored one.
  const exclude = opts.exclude;
  if (exclude) {
    const verdict = new Map<string, boolean>();
    const excluded = (path: string): boolean => {
      let v = verdict.get(path);
      if (v === undefined) {
        const parent = parentPath(path);
        v = (parent !== '' && excluded(parent)) || exclude(path);
        verdict.set(path, v);
      }
      return v;
    };
    for (const path of [...members.keys()]) if (excluded(path)) members.delete(path);
  }

  // Parents: synthesize missing directories; a non-directory parent is an error.
  const synthetic = (): Inode => ({ kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, dataOffset: 0 });
  for (const m of [...members.values()]) {
    for (let p = parentPath(m.path); p !== ''; p = parentPath(p)) {
      const parent = members.get(p);
      if (parent) {
        if (parent.inode.kind !== 'dir') throw formatError(m.offset, `${quoteName(m.path)} lies under ${quoteName(p)}, which is a ${parent.inode.kind}`);
        break;
      }
      members.set(p, { path: p, inode: synthetic(), offset: m.offset });
    }
  }

  const sorted = [...members.values()].sort((a, b) => compareTreePaths(a.path, b.path));
  const out: SourceEntry[] = [toEntry('', root ?? synthetic(), reader, undefined)];
  const firstName = new Map<Inode, string>();
  for (const m of sorted) {
    const first = firstName.get(m.inode);
    if (first === undefined) firstName.set(m.inode, m.path);
    out.push(toEntry(m.path, m.inode, reader, first));
  }
  return out;
}

function decodeBase64(s: string, offset: number): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const clean = s.replace(/=+$/, '');
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const ch of clean) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw formatError(offset, 'LIBARCHIVE.xattr value is not base64');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return new Uint8Array(out);
}

function toEntry(path: string, inode: Inode, reader: RandomAccessReader, hardLinkTo: string | undefined): SourceEntry {
  const e: SourceEntry = {
    path,
    kind: inode.kind,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    mtime: inode.mtime,
    size: inode.size,
    read: inode.kind === 'file' && inode.size > 0 ? () => readRange(reader, inode.dataOffset, inode.size) : emptyContent,
  };
  if (inode.linkTarget !== undefined) e.linkTarget = inode.linkTarget;
  if (inode.rdev !== undefined) e.rdev = inode.rdev;
  if (inode.xattrs !== undefined) e.xattrs = inode.xattrs;
  if (hardLinkTo !== undefined) e.hardLinkTo = hardLinkTo;
  return e;
}

export interface TarSourceOptions {
  /** The archive's name (e.g. its file path): the `path` of E_TAR_FORMAT errors. @default none */
  name?: string;
  /** Leave out a member and everything below its path (as nodeSource's `exclude`). Called with tree paths. */
  exclude?: (path: string) => boolean;
}

/**
 * A source tree over a tar archive (uncompressed; decompress first). The headers are indexed on the
 * first walk (memory: one record per member); content is read from the reader when asked. What
 * is accepted, and what is E_TAR_FORMAT, is in the table at the top of this module.
 */
export function tarSource(reader: RandomAccessReader, opts: TarSourceOptions = {}): SourceTree {
  let index: Promise<SourceEntry[]> | null = null;
  return {
    async *walk() {
      index ??= indexArchive(reader, opts).catch((err: unknown) => {
        throw named(err, opts.name);
      });
      yield* await index;
    },
  };
}
