/**
 * Reading for inspection: windows over a RandomAccessReader (a partition, an appended partition,
 * an OVA member), a virtual disk read through a container's RangeSource as a RandomAccessReader,
 * and exact reads that say what was cut short.
 */
import { ErrorCodes, ImgkitError, type RandomAccessReader } from '@imgkit/core';
import type { RangeSource } from '@imgkit/vdisk';

/** The bytes [offset, offset + size) of `reader` as a reader of its own (clamped to the parent). */
export function windowReader(reader: RandomAccessReader, offset: number, size: number): RandomAccessReader {
  const length = Math.max(0, Math.min(size, reader.size - offset));
  return {
    size: length,
    async read(at, n) {
      if (at >= length) return new Uint8Array(0);
      return reader.read(offset + at, Math.min(n, length - at));
    },
  };
}

/**
 * A container's virtual disk as a RandomAccessReader. The readers (qcow2, VMDK, VHD, VHDX) read
 * any range of the disk, unallocated parts as zeros; a small cache of 64 KiB pages serves the
 * many small reads of table and directory walks.
 */
export function sourceReader(source: RangeSource): RandomAccessReader {
  const PAGE = 64 << 10;
  const cache = new Map<number, Uint8Array>();
  const size = source.virtualSize;
  const page = async (p: number): Promise<Uint8Array> => {
    const hit = cache.get(p);
    if (hit) {
      cache.delete(p);
      cache.set(p, hit);
      return hit;
    }
    const start = p * PAGE;
    const len = Math.min(PAGE, size - start);
    const out = new Uint8Array(len);
    let at = 0;
    for await (const chunk of source.read(start, len)) {
      out.set(chunk.subarray(0, len - at), at);
      at += chunk.byteLength;
      if (at >= len) break;
    }
    cache.set(p, out);
    if (cache.size > 64) cache.delete(cache.keys().next().value!);
    return out;
  };
  return {
    size,
    async read(offset, length) {
      const end = Math.min(offset + length, size);
      if (offset >= end) return new Uint8Array(0);
      const out = new Uint8Array(end - offset);
      for (let pos = offset; pos < end; ) {
        const p = Math.floor(pos / PAGE);
        const data = await page(p);
        const from = pos - p * PAGE;
        const n = Math.min(data.byteLength - from, end - pos);
        out.set(data.subarray(from, from + n), pos - offset);
        pos += n;
      }
      return out;
    },
  };
}

/** `length` bytes at `offset`, or E_BAD_INPUT naming what lies past the end. */
export async function readExact(reader: RandomAccessReader, offset: number, length: number, format: string, what: string): Promise<Uint8Array> {
  const b = offset < reader.size ? await reader.read(offset, length) : new Uint8Array(0);
  if (b.byteLength !== length) {
    throw new ImgkitError(ErrorCodes.BAD_INPUT, { format, detail: `${what} at ${offset}+${length} lies past the end of the ${reader.size}-byte input: it is truncated` });
  }
  return b;
}

export function isAllZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.byteLength; i++) if (b[i] !== 0) return false;
  return true;
}

export function ascii(b: Uint8Array, at: number, n: number): string {
  let s = '';
  for (let i = 0; i < n && at + i < b.byteLength; i++) s += String.fromCharCode(b[at + i]!);
  return s;
}

/** Trailing spaces and NULs off. */
export function trimText(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

export function hex(n: number, digits = 8): string {
  return `0x${n.toString(16).padStart(digits, '0')}`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
