/** Small byte helpers shared by every format. */

export const utf8 = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

export function encodeUtf8(s: string): Uint8Array {
  return utf8.encode(s);
}

/** Round `n` up to a multiple of `align` (a power of two or any positive integer). */
export function alignUp(n: number, align: number): number {
  const r = n % align;
  return r === 0 ? n : n + (align - r);
}

/** Number of padding bytes that bring `n` to a multiple of `align`. */
export function padLength(n: number, align: number): number {
  return alignUp(n, align) - n;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Byte-wise comparison (memcmp order), as used to sort UTF-8 names. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.byteLength - b.byteLength;
}

/** Compare two strings by the byte order of their UTF-8 encodings. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  // UTF-8 keeps code point order, so compare code points (not UTF-16 units: a surrogate pair, above
  // U+FFFF, would sort below U+E000…U+FFFF).
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

export function isAllZero(b: Uint8Array): boolean {
  // Check 4 bytes at a time where alignment allows.
  let i = 0;
  const n = b.byteLength;
  if ((b.byteOffset & 3) === 0) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    for (let w = 0; w < words.length; w++) if (words[w] !== 0) return false;
    i = words.length << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.byteLength; i++) s += b[i]!.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Collect an async iterable of chunks into one buffer (tests, small files only). */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return concatBytes(parts);
}

/**
 * Re-chunk a stream into blocks of exactly `size` bytes (the last one may be shorter).
 * Copies only when a block spans input chunks.
 */
export async function* rechunk(chunks: AsyncIterable<Uint8Array>, size: number): AsyncIterable<Uint8Array> {
  let pending: Uint8Array | null = null;
  let fill = 0;
  for await (let c of chunks) {
    while (c.byteLength > 0) {
      if (pending === null && c.byteLength >= size) {
        yield c.subarray(0, size);
        c = c.subarray(size);
        continue;
      }
      if (pending === null) {
        pending = new Uint8Array(size);
        fill = 0;
      }
      const n = Math.min(size - fill, c.byteLength);
      pending.set(c.subarray(0, n), fill);
      fill += n;
      c = c.subarray(n);
      if (fill === size) {
        yield pending;
        pending = null;
      }
    }
  }
  if (pending !== null && fill > 0) yield pending.subarray(0, fill);
}

/**
 * A copy of `u` in a buffer of its own. Not `u.slice()`: on a Node Buffer that is a view of the same
 * memory, so transferring or reusing it would reach the caller's bytes.
 */
export function copyBytes(u: Uint8Array): Uint8Array {
  const out = new Uint8Array(u.byteLength);
  out.set(u);
  return out;
}
