/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which VHDX uses for its headers, region
 * tables and log entries (VHDX specification v1.0 §2.2.2 "Checksum": "CRC-32C … over the entire
 * 4 KB structure, with the Checksum field taking the value of zero during the computation").
 */
const TABLE = (() => {
  const t = new Uint32Array(256 * 4);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  // slicing-by-4 tables
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 4; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

export function crc32c(data: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0;
  let i = 0;
  const n = data.byteLength;
  for (; i + 4 <= n; i += 4) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c = TABLE[768 + (c & 0xff)]! ^ TABLE[512 + ((c >>> 8) & 0xff)]! ^ TABLE[256 + ((c >>> 16) & 0xff)]! ^ TABLE[c >>> 24]!;
  }
  for (; i < n; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
