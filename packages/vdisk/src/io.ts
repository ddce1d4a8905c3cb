/** Reading input images: exact reads that name the truncation, and frame lengths for decompression. */
import type { RandomAccessReader } from '@imgkit/core';
import { badInput } from './errors.js';

/** `length` bytes at `offset`, or E_BAD_INPUT saying the file is truncated. */
export async function readExact(reader: RandomAccessReader, offset: number, length: number, format: string, what: string): Promise<Uint8Array> {
  if (offset + length > reader.size) {
    throw badInput(format, `${what} at ${offset}+${length} lies past the end of the ${reader.size}-byte file: the image is truncated`);
  }
  const b = await reader.read(offset, length);
  if (b.byteLength !== length) throw badInput(format, `${what} at ${offset}: read ${b.byteLength} of ${length} bytes: the image is truncated`);
  return b;
}

/**
 * Length of the zstd frame at the start of `z` (RFC 8878 §3.1.1: frame header, blocks, optional
 * checksum), so that bytes after it (the next compressed cluster sharing a sector) can be cut off
 * before a one-shot decoder sees them. Returns -1 when the frame runs past the end.
 */
export function zstdFrameLength(z: Uint8Array): number {
  if (z.byteLength < 6 || z[0] !== 0x28 || z[1] !== 0xb5 || z[2] !== 0x2f || z[3] !== 0xfd) return -1;
  const fhd = z[4]!;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
  let p = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
  for (;;) {
    if (p + 3 > z.byteLength) return -1;
    const bh = z[p]! | (z[p + 1]! << 8) | (z[p + 2]! << 16); // §3.1.1.2 Block_Header
    const type = (bh >> 1) & 3;
    p += 3 + (type === 1 ? 1 : bh >>> 3);
    if (bh & 1) break;
  }
  p += checksum ? 4 : 0;
  return p <= z.byteLength ? p : -1;
}
