/**
 * All-zero detection for blocks of a virtual disk: the hot loop of every sparse writer (a raw
 * image is read whole, holes included, because JavaScript runtimes expose no SEEK_DATA). Eight
 * 32-bit words are OR-ed per step; a block with data usually fails on its first word.
 */
export function isZeroBlock(b: Uint8Array): boolean {
  const n = b.byteLength;
  let i = 0;
  if ((b.byteOffset & 3) === 0 && n >= 32) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    const m = words.length;
    if (words[0] !== 0) return false;
    let w = 0;
    for (; w + 8 <= m; w += 8) {
      if ((words[w]! | words[w + 1]! | words[w + 2]! | words[w + 3]! | words[w + 4]! | words[w + 5]! | words[w + 6]! | words[w + 7]!) !== 0) return false;
    }
    for (; w < m; w++) if (words[w] !== 0) return false;
    i = m << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}
