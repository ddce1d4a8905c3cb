/**
 * Walks the frames of a zstd stream (RFC 8878 §3.1.1: Frame_Header_Descriptor, Window_Descriptor,
 * blocks) without decoding them: what the kernel's unzstd looks at before it allocates.
 */
import assert from 'node:assert/strict';

export interface ZstdFrameInfo {
  /** The window the frame declares (a single-segment frame's window is its content size). */
  window: number;
  /** Frame_Content_Size, when the header has one. */
  contentSize: number | undefined;
  singleSegment: boolean;
}

export function zstdFrames(z: Uint8Array): ZstdFrameInfo[] {
  const v = new DataView(z.buffer, z.byteOffset, z.byteLength);
  const out: ZstdFrameInfo[] = [];
  let at = 0;
  while (at < z.byteLength) {
    assert.equal(v.getUint32(at, true), 0xfd2fb528, `zstd magic at ${at}`);
    const fhd = z[at + 4]!;
    const fcsFlag = fhd >> 6;
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    let p = at + 5;
    let window = 0;
    if (!single) {
      const wd = z[p++]!; // §3.1.1.1.2: Exponent (5 bits), Mantissa (3 bits)
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += dictBytes;
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
    let fcs = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) fcs = fcs * 256 + z[p + i]!;
    if (fcsBytes === 2) fcs += 256;
    p += fcsBytes;
    out.push({ window: single ? fcs : window, contentSize: fcsBytes > 0 ? fcs : undefined, singleSegment: single === 1 });
    for (;;) {
      const bh = z[p]! | (z[p + 1]! << 8) | (z[p + 2]! << 16); // §3.1.1.2: Last_Block, Block_Type, Block_Size
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      p += 3 + (type === 1 ? 1 : size); // an RLE block stores one byte
      if (bh & 1) break;
    }
    at = p + (checksum ? 4 : 0);
  }
  return out;
}

/** The window of each frame. */
export function zstdFrameWindows(z: Uint8Array): number[] {
  return zstdFrames(z).map((f) => f.window);
}
