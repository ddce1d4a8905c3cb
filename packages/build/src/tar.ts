/**
 * A source tree as a tar archive of the root (the "rootfs tarball" artifact: docker import,
 * machinectl import-tar, LXC). POSIX.1-2001 pax format (IEEE Std 1003.1, pax "ustar Interchange
 * Format" and "pax Extended Header"): ustar headers, and a pax extended header ('x') before an
 * entry whose path or link target does not fit ustar's name/prefix fields or is not ASCII, whose
 * size, uid or gid is too big for octal, or which carries xattrs (SCHILY.xattr.*, as GNU tar and
 * bsdtar write them). Names are `./`-prefixed with the root as `./`, as `tar -C root -cf - .`
 * writes them. The archive ends with two zero blocks and is padded to a 10 KiB record (GNU tar's
 * default blocking factor 20). Sockets cannot be archived: skipped with a warning, as tar does.
 */
import { concatBytes, ErrorCodes, ImgkitError, devMajor, devMinor, readChecked, type ByteSink, type SourceEntry, type SourceTree, type WarningHandler } from '@imgkit/core';

export const TAR_BLOCK = 512;
const TAR_RECORD = 20 * TAR_BLOCK;
const MAX_OCTAL_11 = 8 ** 11 - 1;
const MAX_OCTAL_7 = 8 ** 7 - 1;

// pax "ustar Interchange Format": typeflag values.
const TYPEFLAG: Record<Exclude<SourceEntry['kind'], 'socket'>, string> = { file: '0', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const TYPE_HARDLINK = '1';
const TYPE_PAX = 'x';

export interface TarOptions {
  onWarning?: WarningHandler;
  /** Warnings (a socket skipped) become errors. @default false */
  strict?: boolean;
}

export interface TarResult {
  entries: number;
  bytes: number;
}

const enc = new TextEncoder();

function putString(h: Uint8Array, at: number, len: number, s: string): void {
  const b = enc.encode(s);
  if (b.byteLength > len) throw new RangeError(`tar field at ${at}: ${s} is longer than ${len} bytes`);
  h.set(b, at);
}

/** A NUL-terminated octal number of `len - 1` digits. */
function putOctal(h: Uint8Array, at: number, len: number, n: number): void {
  putString(h, at, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
}

/** Split a path into ustar's prefix (≤ 155 bytes) and name (≤ 100 bytes) at a '/', or undefined. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  const bytes = enc.encode(path);
  if (bytes.byteLength <= 100) return { prefix: '', name: path };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== '/') continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (enc.encode(prefix).byteLength <= 155 && enc.encode(name).byteLength <= 100 && name !== '') return { prefix, name };
  }
  return undefined;
}

// biome-ignore lint: control characters are the point
const ASCII = /^[\x20-\x7e]*$/;

/** pax "pax Extended Header": records `"%d %s=%s\n"`, the length counting itself. */
function paxRecord(key: string, value: Uint8Array | string): Uint8Array {
  const v = typeof value === 'string' ? enc.encode(value) : value;
  const keyBytes = enc.encode(key);
  const rest = 1 + keyBytes.byteLength + 1 + v.byteLength + 1; // ' ' key '=' value '\n'
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  const out = new Uint8Array(len);
  const head = enc.encode(`${len} ${key}=`);
  out.set(head);
  out.set(v, head.byteLength);
  out[len - 1] = 0x0a;
  return out;
}

function header(o: { name: string; mode: number; uid: number; gid: number; size: number; mtime: number; type: string; linkname?: string; devmajor?: number; devminor?: number }): Uint8Array {
  const h = new Uint8Array(TAR_BLOCK);
  const split = splitUstar(o.name) ?? { prefix: '', name: o.name.slice(0, 99) };
  putString(h, 0, 100, split.name);
  putOctal(h, 100, 8, o.mode & 0o7777);
  putOctal(h, 108, 8, Math.min(o.uid, MAX_OCTAL_7));
  putOctal(h, 116, 8, Math.min(o.gid, MAX_OCTAL_7));
  putOctal(h, 124, 12, Math.min(o.size, MAX_OCTAL_11));
  putOctal(h, 136, 12, Math.max(0, Math.min(o.mtime, MAX_OCTAL_11)));
  putString(h, 156, 1, o.type);
  if (o.linkname !== undefined) {
    const lb = enc.encode(o.linkname);
    h.set(lb.subarray(0, 100), 157);
  }
  putString(h, 257, 6, 'ustar\0');
  putString(h, 263, 2, '00');
  putString(h, 265, 32, o.uid === 0 ? 'root' : '');
  putString(h, 297, 32, o.gid === 0 ? 'root' : '');
  if (o.devmajor !== undefined) putOctal(h, 329, 8, o.devmajor);
  if (o.devminor !== undefined) putOctal(h, 337, 8, o.devminor);
  if (split.prefix) putString(h, 345, 155, split.prefix);
  // Checksum: the byte sum with the checksum field as eight spaces, six octal digits, NUL, space.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** Write `tree` as a pax tar archive at the sink's position. Sequential: no patching. */
export async function writeTar(tree: SourceTree, sink: ByteSink, o: TarOptions = {}): Promise<TarResult> {
  const start = sink.position;
  let entries = 0;
  const zeros = new Uint8Array(TAR_BLOCK);
  for await (const e of tree.walk()) {
    if (e.kind === 'socket') {
      const w = { code: ErrorCodes.UNSUPPORTED_ENTRY, format: 'build', path: e.path, detail: 'a socket cannot be archived in tar; skipped (as tar does)' };
      if (o.strict) throw new ImgkitError(ErrorCodes.UNSUPPORTED_ENTRY, { format: 'build', path: e.path, detail: w.detail, hint: 'leave the socket out of the tree (sockets are made by the programs that listen on them)' });
      o.onWarning?.(w);
      continue;
    }
    const name = e.path === '' ? './' : `./${e.path}${e.kind === 'dir' ? '/' : ''}`;
    const isLink = e.hardLinkTo !== undefined && e.kind === 'file';
    const linkname = isLink ? `./${e.hardLinkTo}` : e.kind === 'symlink' ? (e.linkTarget ?? '') : undefined;
    const size = e.kind === 'file' && !isLink ? e.size : 0;
    const pax: Uint8Array[] = [];
    if (!ASCII.test(name) || splitUstar(name) === undefined) pax.push(paxRecord('path', name));
    if (linkname !== undefined && (!ASCII.test(linkname) || enc.encode(linkname).byteLength > 100)) pax.push(paxRecord('linkpath', linkname));
    if (size > MAX_OCTAL_11) pax.push(paxRecord('size', String(size)));
    if (e.uid > MAX_OCTAL_7) pax.push(paxRecord('uid', String(e.uid)));
    if (e.gid > MAX_OCTAL_7) pax.push(paxRecord('gid', String(e.gid)));
    if (e.mtime < 0 || e.mtime > MAX_OCTAL_11) pax.push(paxRecord('mtime', String(e.mtime)));
    for (const x of e.xattrs ?? []) pax.push(paxRecord(`SCHILY.xattr.${x.name}`, x.value));
    if (pax.length > 0) {
      const body = concatBytes(pax);
      const base = (e.path.split('/').pop() || '.').slice(0, 80);
      await sink.write(header({ name: `./PaxHeaders/${ASCII.test(base) ? base : 'entry'}`, mode: 0o644, uid: 0, gid: 0, size: body.byteLength, mtime: Math.max(0, Math.min(e.mtime, MAX_OCTAL_11)), type: TYPE_PAX }));
      await sink.write(body);
      if (body.byteLength % TAR_BLOCK) await sink.write(zeros.subarray(0, TAR_BLOCK - (body.byteLength % TAR_BLOCK)));
    }
    const h: Parameters<typeof header>[0] = { name, mode: e.mode, uid: e.uid, gid: e.gid, size, mtime: e.mtime, type: isLink ? TYPE_HARDLINK : TYPEFLAG[e.kind] };
    if (linkname !== undefined) h.linkname = linkname;
    if (e.kind === 'char' || e.kind === 'block') {
      h.devmajor = devMajor(e.rdev ?? 0);
      h.devminor = devMinor(e.rdev ?? 0);
    }
    await sink.write(header(h));
    if (size > 0) {
      for await (const chunk of readChecked(e, 'build', size)) await sink.write(chunk);
      if (size % TAR_BLOCK) await sink.write(zeros.subarray(0, TAR_BLOCK - (size % TAR_BLOCK)));
    }
    entries++;
  }
  // Two zero blocks end the archive; then up to a whole record.
  await sink.write(zeros);
  await sink.write(zeros);
  const written = sink.position - start;
  if (written % TAR_RECORD) await sink.write(new Uint8Array(TAR_RECORD - (written % TAR_RECORD)));
  return { entries, bytes: sink.position - start };
}
