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
 */
import { compareBytes, copyBytes } from './bytes.js';
import { ErrorCodes, ImgkitError, UnsupportedEntryError } from './errors.js';
import { readRange, type RandomAccessReader } from './random-access.js';
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
  if (parts.includes('..')) throw formatError(offset, `member "${raw}" leaves the tree root ("..")`, 'tar refuses such members too; re-create the archive');
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

async function indexArchive(reader: RandomAccessReader): Promise<SourceEntry[]> {
  const win = new WindowedReader(reader);
  const members = new Map<string, Member>();
  let globalPax = new Map<string, Uint8Array>();
  let pax: Map<string, Uint8Array> | null = null;
  let longName: Uint8Array | null = null;
  let longLink: Uint8Array | null = null;
  let offset = 0;
  let root: Inode | null = null;

  const readData = async (at: number, size: number, hdr: number): Promise<Uint8Array> => {
    if (size > 16 << 20) throw formatError(hdr, `metadata member of ${size} bytes is implausibly large`);
    const d = await win.read(at, size);
    if (d.byteLength < size) throw formatError(hdr, 'archive ends inside a member');
    return copyBytes(d);
  };

  while (offset < reader.size) {
    const h = await win.read(offset, TAR_BLOCK_SIZE);
    if (h.byteLength < TAR_BLOCK_SIZE) throw formatError(offset, `archive ends inside a header (${h.byteLength} of 512 bytes)`);
    if (h.every((b) => b === 0)) break; // end-of-archive marker (two zero blocks; one is enough to stop)
    const f = TarHeader.decode(h);
    if (!checksumOk(h, parseTarNumber(f.chksum, 'checksum', offset))) {
      throw formatError(offset, 'header checksum mismatch (not a tar archive, or corrupted)');
    }
    const type = String.fromCharCode(f.typeflag[0]!);
    const size = parseTarNumber(f.size, 'size', offset);
    const paxSize = pax?.get('size') ?? globalPax.get('size');
    const dataSize = paxSize !== undefined && type !== 'x' && type !== 'g' ? Number(new TextDecoder().decode(paxSize)) : size;
    if (!Number.isSafeInteger(dataSize) || dataSize < 0) throw formatError(offset, 'invalid size');
    const dataOffset = offset + TAR_BLOCK_SIZE;
    const next = dataOffset + Math.ceil(dataSize / TAR_BLOCK_SIZE) * TAR_BLOCK_SIZE;
    if (dataOffset + dataSize > reader.size) throw formatError(offset, `member of ${dataSize} bytes runs past the end of the archive (${reader.size} bytes)`);

    if (type === 'x' || type === 'g') {
      const recs = parsePaxRecords(await readData(dataOffset, size, offset), offset);
      if (type === 'g') globalPax = new Map([...globalPax, ...recs]);
      else pax = recs;
      offset = next;
      continue;
    }
    if (type === 'L' || type === 'K') {
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
    for (const k of attrs.keys()) {
      if (k.startsWith('GNU.sparse.')) {
        throw new UnsupportedEntryError({ format: 'tar', field: `tar@${offset}`, detail: `at offset ${offset}: sparse members are not supported`, hint: 're-create the archive without --sparse' });
      }
    }

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
        throw new UnsupportedEntryError({ format: 'tar', field: `tar@${offset}`, path, detail: `at offset ${offset}: GNU sparse members are not supported`, hint: 're-create the archive without --sparse' });
      default:
        throw formatError(offset, `unsupported member type "${type}" for "${rawName}"`);
    }

    if (type === '1') {
      // Hard link: the name shares the inode of a member stored earlier.
      const target = normalize(rawLink, offset);
      const t = members.get(target) ?? (target === '' && root ? { inode: root } : undefined);
      if (!t) throw formatError(offset, `hard link "${rawName}" points to "${rawLink}", which is not earlier in the archive`);
      if (t.inode.kind === 'dir') throw formatError(offset, `hard link "${rawName}" points to a directory`);
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
      if (kind !== 'dir') throw formatError(offset, `the archive root "${rawName}" is a ${kind}, not a directory`);
      root = inode;
    } else {
      members.set(path, { path, inode, offset });
    }
    offset = next;
  }

  // Parents: synthesize missing directories; a non-directory parent is an error.
  const synthetic = (): Inode => ({ kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0, dataOffset: 0 });
  for (const m of [...members.values()]) {
    for (let p = parentPath(m.path); p !== ''; p = parentPath(p)) {
      const parent = members.get(p);
      if (parent) {
        if (parent.inode.kind !== 'dir') throw formatError(m.offset, `"${m.path}" lies under "${p}", which is a ${parent.inode.kind}`);
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

/**
 * A source tree over a tar archive (uncompressed; decompress first). The headers are indexed on the
 * first walk (memory: one record per member); content is read from the reader when asked.
 */
export function tarSource(reader: RandomAccessReader): SourceTree {
  let index: Promise<SourceEntry[]> | null = null;
  return {
    async *walk() {
      index ??= indexArchive(reader);
      yield* await index;
    },
  };
}
