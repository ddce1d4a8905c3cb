/**
 * Deterministic test bytes from a xorshift32 stream (Marsaglia's 13/17/5 shifts): the same bytes in
 * Node and in the browser bundle, for a given starting state.
 */
export function xorshiftBytes(size: number, state: number, textLike: boolean): Uint8Array {
  const out = new Uint8Array(size);
  let x = state >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    // textLike: every other 64-byte run is lower-case letters (compresses a little), the rest random
    out[i] = textLike && (i >> 6) & 1 ? 0x61 + (x % 26) : x & 0xff;
  }
  return out;
}
