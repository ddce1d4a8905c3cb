/**
 * Archives: cpio "newc"/"crc" (the kernel's buffer-format.rst, @imgkit/cpio's NewcHeader), tar
 * (core's tarSource), and compressed streams (gzip, zstd, xz, LZ4) decompressed as a stream with
 * bounded memory (core's decompressStream) to count the archive inside. An initramfs is a run of
 * such segments, as the kernel's unpacker (init/initramfs.c) reads them: archives, zero padding
 * (in 4-byte steps) and compressed archives, one after the other.
 *
 * Checks: every archive ends with its TRAILER!!! (tar: its end-of-archive marker); headers parse;
 * compressed streams decode to their end.
 */
import { decompressStream, detectCompression, ErrorCodes, ImgkitError, tarSource, type RandomAccessReader, type StreamCompression } from '@imgkit/core';
import { CPIO_HEADER_SIZE, CPIO_TRAILER_NAME, CRC_MAGIC, NEWC_MAGIC, NewcHeader } from '@imgkit/cpio';
import { ascii, errorText, isAllZero } from './io.js';
import { defect, incomplete, node, warning, type InspectNode } from './report.js';

export function looksLikeArchive(head: Uint8Array): boolean {
  return ascii(head, 0, 4) === '0707' || detectCompression(head) !== undefined || looksLikeTar(head);
}

export function looksLikeTar(head: Uint8Array): boolean {
  return head.byteLength >= 263 && ascii(head, 257, 5) === 'ustar';
}

const KINDS: Record<number, string> = { 0o040000: 'directory', 0o100000: 'file', 0o120000: 'symlink', 0o020000: 'char device', 0o060000: 'block device', 0o010000: 'fifo', 0o140000: 'socket' };

/** A push parser of newc/crc cpio data (any chunking), counting entries by kind; data is skipped. */
class CpioCounter {
  entries = 0;
  archives = 0;
  trailer = false;
  dataBytes = 0;
  byType: Record<string, number> = {};
  problem: string | undefined;
  format: string | undefined;
  private buf: Uint8Array = new Uint8Array(0);
  /** Bytes of data and padding still to skip. */
  skip = 0;
  /** Stream offset of the first byte not yet parsed. */
  pos = 0;
  inArchive = false;
  /** Stop at the first trailer (an uncompressed archive followed by something else). */
  done = false;
  constructor(private readonly stopAtTrailer = false) {}

  push(chunk: Uint8Array): void {
    let c = chunk;
    while (c.byteLength > 0 && this.problem === undefined && !this.done) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, c.byteLength);
        this.skip -= n;
        this.pos += n;
        c = c.subarray(n);
        continue;
      }
      const merged = new Uint8Array(this.buf.byteLength + c.byteLength);
      merged.set(this.buf);
      merged.set(c, this.buf.byteLength);
      this.buf = merged;
      c = new Uint8Array(0);
      this.parse();
    }
  }

  private parse(): void {
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, this.buf.byteLength);
        this.skip -= n;
        this.pos += n;
        this.buf = this.buf.subarray(n);
        if (this.skip > 0) return;
      }
      if (!this.inArchive) {
        // between archives: zero padding in 4-byte steps (init/initramfs.c do_start/do_skip)
        let z = 0;
        while (z + 4 <= this.buf.byteLength && this.buf[z] === 0 && this.buf[z + 1] === 0 && this.buf[z + 2] === 0 && this.buf[z + 3] === 0) z += 4;
        this.buf = this.buf.subarray(z);
        this.pos += z;
        if (this.buf.byteLength < 6) return;
      }
      if (this.buf.byteLength < CPIO_HEADER_SIZE) return;
      const magic = ascii(this.buf, 0, 6);
      if (magic !== NEWC_MAGIC && magic !== CRC_MAGIC) {
        this.problem = `no cpio header at byte ${this.pos} of the archive stream (magic "${magic.replace(/[^\x20-\x7e]/g, '?')}"; newc 070701 or crc 070702 expected)`;
        return;
      }
      this.format ??= magic === NEWC_MAGIC ? 'newc' : 'crc';
      const h = NewcHeader.decode(this.buf);
      if (Number.isNaN(h.namesize) || Number.isNaN(h.filesize) || Number.isNaN(h.mode) || h.namesize < 1) {
        this.problem = `cpio header at byte ${this.pos} has fields that are not hexadecimal`;
        return;
      }
      const nameEnd = CPIO_HEADER_SIZE + h.namesize;
      const dataStart = (nameEnd + 3) & ~3;
      if (this.buf.byteLength < nameEnd) return;
      const name = new TextDecoder().decode(this.buf.subarray(CPIO_HEADER_SIZE, nameEnd - 1));
      if (!this.inArchive) {
        this.inArchive = true;
        this.archives++;
      }
      const total = dataStart + ((h.filesize + 3) & ~3);
      if (name === CPIO_TRAILER_NAME) {
        this.trailer = true;
        this.inArchive = false;
        if (this.stopAtTrailer) this.done = true;
      } else {
        this.entries++;
        this.dataBytes += h.filesize;
        const kind = KINDS[h.mode & 0o170000] ?? 'unknown';
        this.byType[kind] = (this.byType[kind] ?? 0) + 1;
        this.trailer = false;
      }
      const n = Math.min(total, this.buf.byteLength);
      this.buf = this.buf.subarray(n);
      this.pos += n;
      this.skip = total - n;
      if (this.done) return;
    }
  }

  /** The stream ended: inside an archive, or cut inside an entry. */
  finish(): string | undefined {
    if (this.problem) return this.problem;
    if (this.done) return undefined;
    if (this.skip > 0 || (this.inArchive && !this.trailer) || (this.buf.byteLength > 0 && !isAllZero(this.buf))) {
      return `the archive ends at byte ${this.pos + this.buf.byteLength} inside an entry or without the ${CPIO_TRAILER_NAME} entry: it is truncated`;
    }
    return undefined;
  }
}

function cpioNode(c: CpioCounter, offset: number, size: number): InspectNode {
  const n = node('cpio', offset, size, {
    format: c.format ?? null,
    entries: c.entries,
    byType: { ...c.byType },
    dataBytes: c.dataBytes,
  });
  if (c.archives > 1) n.fields.archives = c.archives;
  const p = c.finish();
  if (p) defect(n, c.problem ? 'cpio.newc' : 'cpio.trailer', p);
  return n;
}

/** The segments of a cpio archive, initramfs, compressed stream or tar archive at the start of `reader`. */
export async function inspectArchive(reader: RandomAccessReader, offset: number): Promise<InspectNode> {
  const segments: InspectNode[] = [];
  let pos = 0;
  const CHUNK = 1 << 20;
  while (pos < reader.size) {
    const head = await reader.read(pos, 512);
    if (isAllZero(head.subarray(0, 4))) {
      // zero padding between segments, in 4-byte steps
      let z = pos;
      for (;;) {
        const b = await reader.read(z, CHUNK);
        if (b.byteLength === 0) break;
        const i = b.findIndex((x) => x !== 0);
        if (i < 0) z += b.byteLength;
        else {
          z += i & ~3;
          break;
        }
      }
      if (z >= reader.size) break;
      pos = z;
      continue;
    }
    const compression = detectCompression(head);
    if (ascii(head, 0, 4) === '0707') {
      if (ascii(head, 0, 6) === '070707') {
        const s = node('cpio', offset + pos, reader.size - pos, { format: 'odc' });
        warning(s, 'cpio.odc', 'an old-format (odc, 070707) cpio archive: entries not counted; the kernel reads only newc and crc');
        segments.push(s);
        break;
      }
      // an uncompressed archive: headers read by offset, data skipped
      const c = new CpioCounter(true);
      let at = pos;
      while (at < reader.size) {
        const b = await reader.read(at, CHUNK);
        if (b.byteLength === 0) break;
        c.push(b);
        at += b.byteLength;
        if (c.problem || c.done) break;
      }
      // where the archive ended: after the trailer and its padding
      const end = pos + c.pos + c.skip;
      segments.push(cpioNode(c, offset + pos, end - pos));
      if (c.problem || !c.trailer) break;
      pos = end;
      continue;
    }
    if (compression) {
      const s = await compressedSegment(reader, pos, offset, compression);
      segments.push(s.node);
      if (s.consumed <= 0) break;
      pos += s.consumed;
      continue;
    }
    if (looksLikeTar(head)) {
      segments.push(await inspectTar(reader, pos, offset));
      break;
    }
    const s = node('unknown', offset + pos, reader.size - pos);
    if (segments.length > 0) warning(s, 'initramfs', `${reader.size - pos} bytes after the last archive are neither padding nor an archive`);
    segments.push(s);
    break;
  }
  if (segments.length === 1) return segments[0]!;
  const n = node('initramfs', offset, reader.size, { segments: segments.length });
  n.children = segments;
  return n;
}

async function compressedSegment(reader: RandomAccessReader, pos: number, offset: number, compression: StreamCompression): Promise<{ node: InspectNode; consumed: number }> {
  const n = node('compressed', offset + pos, reader.size - pos, { compression });
  const s = decompressStream(reader, pos, compression);
  let out = 0;
  let kind: 'cpio' | 'tar' | 'data' | undefined;
  const c = new CpioCounter();
  const tarHead: Uint8Array[] = [];
  let tarEntries = 0;
  let tarSkip = 0;
  let tarEnded = false;
  let tarBuf: Uint8Array = new Uint8Array(0);
  try {
    for await (const chunk of s.chunks) {
      if (kind === undefined && chunk.byteLength > 0) {
        tarHead.push(chunk);
        const first = tarHead.length === 1 ? chunk : concatChunks(tarHead);
        if (first.byteLength >= 512 || ascii(first, 0, 4) === '0707') kind = ascii(first, 0, 4) === '0707' ? 'cpio' : looksLikeTar(first) ? 'tar' : 'data';
        if (kind === undefined) continue;
        if (kind !== 'tar') tarHead.length = 0;
        if (kind === 'cpio') c.push(first);
        if (kind === 'tar') {
          tarBuf = first;
          tarHead.length = 0;
        }
        out += first.byteLength;
      } else {
        out += chunk.byteLength;
        if (kind === 'cpio') c.push(chunk);
        else if (kind === 'tar') tarBuf = tarBuf.byteLength ? concatChunks([tarBuf, chunk]) : chunk;
      }
      if (kind === 'tar' && !tarEnded) {
        // ustar headers: 512-byte blocks, the size in octal at 124; two zero blocks end the archive
        for (;;) {
          if (tarSkip > 0) {
            const k = Math.min(tarSkip, tarBuf.byteLength);
            tarSkip -= k;
            tarBuf = tarBuf.subarray(k);
            if (tarSkip > 0) break;
          }
          if (tarBuf.byteLength < 512) break;
          const h = tarBuf.subarray(0, 512);
          tarBuf = tarBuf.subarray(512);
          if (isAllZero(h)) {
            tarEnded = true;
            break;
          }
          const size = Number.parseInt(ascii(h, 124, 12).replace(/[^0-7]/g, '') || '0', 8);
          const type = String.fromCharCode(h[156]!);
          if (!'xgLK'.includes(type)) tarEntries++;
          tarSkip = Math.ceil(size / 512) * 512;
        }
      }
    }
  } catch (err) {
    const msg = errorText(err);
    if (msg.includes('bound')) incomplete(n, `compressed.${compression}`, msg);
    else defect(n, `compressed.${compression}`, msg);
    n.fields.decompressedBytes = out;
    return { node: n, consumed: 0 };
  }
  n.size = s.consumed;
  n.fields.compressedBytes = s.consumed;
  n.fields.decompressedBytes = out;
  if (kind === 'cpio') n.children.push(cpioNode(c, 0, out));
  else if (kind === 'tar') {
    const t = node('tar', 0, out, { entries: tarEntries });
    if (!tarEnded) defect(t, 'tar.end', 'the tar archive inside the stream has no end-of-archive marker: it is truncated');
    n.children.push(t);
  } else n.fields.content = 'data';
  return { node: n, consumed: s.consumed };
}

function concatChunks(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((k, p) => k + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** An uncompressed tar archive: members counted by kind through core's tarSource. */
export async function inspectTar(reader: RandomAccessReader, pos: number, offset: number): Promise<InspectNode> {
  const sub: RandomAccessReader = { size: reader.size - pos, read: (at, n) => reader.read(pos + at, n) };
  const n = node('tar', offset + pos, sub.size);
  const byType: Record<string, number> = {};
  let entries = 0;
  let bytes = 0;
  try {
    for await (const e of tarSource(sub).walk()) {
      if (e.path === '') continue;
      entries++;
      bytes += e.kind === 'file' ? e.size : 0;
      byType[e.kind] = (byType[e.kind] ?? 0) + 1;
    }
    Object.assign(n.fields, { entries, byType, dataBytes: bytes });
  } catch (err) {
    if (err instanceof ImgkitError && err.code === ErrorCodes.TAR_FORMAT) defect(n, 'tar', err.message);
    else throw err;
  }
  return n;
}
