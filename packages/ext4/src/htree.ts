/**
 * Hashed directories (htree): kernel Documentation/filesystems/ext4/directory.rst ("Hash Tree
 * Directories") and the hash functions of fs/ext4/hash.c (as e2fsprogs' lib/ext2fs/dirhash.c).
 *
 * Block 0 of the directory is the root: "." and ".." records (the latter's rec_len covering the
 * rest of the block, so that old readers see one linear block), struct dx_root_info, then a
 * count/limit header and dx_entry {hash, block} pairs, the first of which has no hash (it covers
 * hash 0). With indirect_levels = 1 the root's entries point at interior nodes (a fake empty
 * record spanning the block, then count/limit and entries), whose entries point at leaves. Leaves
 * are linear directory blocks; a leaf holds the names whose hashes lie between its entry's hash
 * and the next. An entry's hash has bit 0 set when the names of that hash continue from the
 * previous leaf. With metadata_csum, index blocks end with struct dx_tail (limit shrinks by one
 * entry) whose checksum covers the block up to the last used entry, then the tail.
 */
import { crc32cUpdate, struct, u8, u16le, u32le } from '@imgkit/core';
import { DirEntry, recLen } from './directory.js';
import { HASH_HALF_MD4, HASH_LEGACY, HASH_TEA } from './superblock.js';

// directory.rst "struct dx_root": dx_root_info after the "." (12) and ".." (12) records
export const DxRootInfo = struct('ext4.dx-root-info', 8, {
  reservedZero: u32le(0x0),
  hashVersion: u8(0x4),
  infoLength: u8(0x5), //     8
  indirectLevels: u8(0x6), // 0: entries point at leaves; 1: at interior nodes
  unusedFlags: u8(0x7),
});
// directory.rst "struct dx_countlimit" (overlays the first dx_entry's hash)
export const DxCountLimit = struct('ext4.dx-countlimit', 4, {
  limit: u16le(0x0),
  count: u16le(0x2),
});
// directory.rst "struct dx_entry"
export const DxEntry = struct('ext4.dx-entry', 8, {
  hash: u32le(0x0),
  block: u32le(0x4),
});
// directory.rst "struct dx_tail"
export const DxTail = struct('ext4.dx-tail', 8, {
  reserved: u32le(0x0),
  checksum: u32le(0x4),
});

/** Offset of count/limit in the root: "." (12) + ".." (12) + dx_root_info (8). */
export const ROOT_COUNT_OFFSET = 32;
/** Offset of count/limit in an interior node: the fake record (8). */
export const NODE_COUNT_OFFSET = 8;
export const DX_TAIL_BYTES = 8;

/** dx_entry slots of the root and of an interior node. */
export function rootLimit(blockSize: number, csum: boolean): number {
  return (blockSize - ROOT_COUNT_OFFSET - (csum ? DX_TAIL_BYTES : 0)) >> 3;
}
export function nodeLimit(blockSize: number, csum: boolean): number {
  return (blockSize - NODE_COUNT_OFFSET - (csum ? DX_TAIL_BYTES : 0)) >> 3;
}

// ---- hash functions (fs/ext4/hash.c) ----

const K2 = 0o13240474631;
const K3 = 0o15666365641;
const rotl = (x: number, s: number) => ((x << s) | (x >>> (32 - s))) >>> 0;

/** The cut-down MD4 of hash.c "half_md4_transform" (returns nothing; updates buf). */
function halfMd4Transform(buf: Uint32Array, inp: Uint32Array): void {
  let a = buf[0]!;
  let b = buf[1]!;
  let c = buf[2]!;
  let d = buf[3]!;
  const F = (x: number, y: number, z: number) => z ^ (x & (y ^ z));
  const G = (x: number, y: number, z: number) => ((x & y) + ((x ^ y) & z)) >>> 0;
  const H = (x: number, y: number, z: number) => x ^ y ^ z;
  const R = (f: (x: number, y: number, z: number) => number, p: number, q: number, r: number, s: number, x: number, sh: number) => rotl((p + f(q, r, s) + x) >>> 0, sh);
  const i = (k: number) => inp[k]!;
  // Round 1
  a = R(F, a, b, c, d, i(0), 3);
  d = R(F, d, a, b, c, i(1), 7);
  c = R(F, c, d, a, b, i(2), 11);
  b = R(F, b, c, d, a, i(3), 19);
  a = R(F, a, b, c, d, i(4), 3);
  d = R(F, d, a, b, c, i(5), 7);
  c = R(F, c, d, a, b, i(6), 11);
  b = R(F, b, c, d, a, i(7), 19);
  // Round 2
  a = R(G, a, b, c, d, (i(1) + K2) >>> 0, 3);
  d = R(G, d, a, b, c, (i(3) + K2) >>> 0, 5);
  c = R(G, c, d, a, b, (i(5) + K2) >>> 0, 9);
  b = R(G, b, c, d, a, (i(7) + K2) >>> 0, 13);
  a = R(G, a, b, c, d, (i(0) + K2) >>> 0, 3);
  d = R(G, d, a, b, c, (i(2) + K2) >>> 0, 5);
  c = R(G, c, d, a, b, (i(4) + K2) >>> 0, 9);
  b = R(G, b, c, d, a, (i(6) + K2) >>> 0, 13);
  // Round 3
  a = R(H, a, b, c, d, (i(3) + K3) >>> 0, 3);
  d = R(H, d, a, b, c, (i(7) + K3) >>> 0, 9);
  c = R(H, c, d, a, b, (i(2) + K3) >>> 0, 11);
  b = R(H, b, c, d, a, (i(6) + K3) >>> 0, 15);
  a = R(H, a, b, c, d, (i(1) + K3) >>> 0, 3);
  d = R(H, d, a, b, c, (i(5) + K3) >>> 0, 9);
  c = R(H, c, d, a, b, (i(0) + K3) >>> 0, 11);
  b = R(H, b, c, d, a, (i(4) + K3) >>> 0, 15);
  buf[0] = (buf[0]! + a) >>> 0;
  buf[1] = (buf[1]! + b) >>> 0;
  buf[2] = (buf[2]! + c) >>> 0;
  buf[3] = (buf[3]! + d) >>> 0;
}

/** hash.c "TEA_transform". */
function teaTransform(buf: Uint32Array, inp: Uint32Array): void {
  let sum = 0;
  let b0 = buf[0]!;
  let b1 = buf[1]!;
  const a = inp[0]!;
  const b = inp[1]!;
  const c = inp[2]!;
  const d = inp[3]!;
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) >>> 0) ^ ((b1 + sum) >>> 0) ^ (((b1 >>> 5) + b) >>> 0))) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) >>> 0) ^ ((b0 + sum) >>> 0) ^ (((b0 >>> 5) + d) >>> 0))) >>> 0;
  }
  buf[0] = (buf[0]! + b0) >>> 0;
  buf[1] = (buf[1]! + b1) >>> 0;
}

/** A name byte as the hash reads it: signed char (s_flags signed_directory_hash) or unsigned. */
const charOf = (b: number, unsigned: boolean) => (unsigned || b < 0x80 ? b : b - 256);

/** hash.c "str2hashbuf": up to `num` words of the name, padded with its length. */
function str2hashbuf(msg: Uint8Array, from: number, len: number, out: Uint32Array, num: number, unsigned: boolean): void {
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  if (len > num * 4) len = num * 4;
  let o = 0;
  for (let i = 0; i < len; i++) {
    val = (charOf(msg[from + i]!, unsigned) + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out[o++] = val;
      val = pad;
      num--;
    }
  }
  if (--num >= 0) out[o++] = val;
  while (--num >= 0) out[o++] = pad;
}

/** hash.c "dx_hack_hash": the legacy hash. */
function dxHackHash(name: Uint8Array, unsigned: boolean): number {
  let hash0 = 0x12a3fe2d;
  let hash1 = 0x37abe8f9;
  for (let i = 0; i < name.byteLength; i++) {
    const c = charOf(name[i]!, unsigned);
    let hash = (hash1 + ((hash0 ^ Math.imul(c, 7152373)) >>> 0)) >>> 0;
    if (hash & 0x80000000) hash = (hash - 0x7fffffff) >>> 0;
    hash1 = hash0;
    hash0 = hash;
  }
  return (hash0 << 1) >>> 0;
}

export interface NameHash {
  hash: number;
  minor: number;
}

/**
 * The hash of a name (hash.c "__ext4fs_dirhash"): `version` is s_def_hash_version, `seed` the four
 * words of s_hash_seed (all zero: the default MD4 constants), `unsigned` whether names hash as
 * unsigned chars. Bit 0 is cleared; the end-of-directory value 0xFFFFFFFE becomes 0xFFFFFFFC.
 */
export function dirHash(name: Uint8Array, version: number, seed: Uint32Array, unsigned: boolean): NameHash {
  const buf = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
  if (seed.some((w) => w !== 0)) buf.set(seed);
  let hash: number;
  let minor = 0;
  const inp = new Uint32Array(8);
  if (version === HASH_LEGACY) hash = dxHackHash(name, unsigned);
  else if (version === HASH_HALF_MD4) {
    for (let p = 0, len = name.byteLength; len > 0; p += 32, len -= 32) {
      str2hashbuf(name, p, len, inp, 8, unsigned);
      halfMd4Transform(buf, inp);
    }
    minor = buf[2]!;
    hash = buf[1]!;
  } else if (version === HASH_TEA) {
    for (let p = 0, len = name.byteLength; len > 0; p += 16, len -= 16) {
      str2hashbuf(name, p, len, inp, 4, unsigned);
      teaTransform(buf, inp);
    }
    hash = buf[0]!;
    minor = buf[1]!;
  } else throw new RangeError(`ext4: hash version ${version} is not legacy, half_md4 or tea`);
  hash = (hash & ~1) >>> 0;
  if (hash === 0xfffffffe) hash = 0xfffffffc; // EXT4_HTREE_EOF_32BIT << 1 is reserved
  return { hash, minor };
}

/** The seed words of s_hash_seed (16 bytes, four little-endian u32). */
export function hashSeedWords(seed: Uint8Array): Uint32Array {
  const v = new DataView(seed.buffer, seed.byteOffset, 16);
  return new Uint32Array([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true)]);
}

// ---- layout ----

export interface HtreeName {
  nameLen: number;
  hash: number;
  minor: number;
}

export interface HtreeLayout {
  /** 0: root → leaves; 1: root → interior nodes → leaves. */
  indirectLevels: number;
  /** Per leaf, the indexes (into the hash-sorted order) of its names: [start, end). */
  leaves: { start: number; end: number; hash: number }[];
  /** Interior nodes (indirectLevels 1): per node, the leaves it points at: [start, end). */
  nodes: { start: number; end: number }[];
  /** Directory blocks in all: root, nodes, leaves. */
  blockCount: number;
}

/**
 * Leaves for names sorted by (hash, minor) — `sorted` — each filled to the block's capacity, and
 * the index levels above them (root, then interior nodes when the root cannot hold every leaf).
 * Returns undefined when even two levels cannot hold them (the large_dir feature would be needed).
 * Directory block order: 0 the root, 1 … n the interior nodes, then the leaves.
 */
export function layoutHtree(sorted: readonly HtreeName[], blockSize: number, csum: boolean): HtreeLayout | undefined {
  const cap = blockSize - (csum ? 12 : 0);
  const leaves: HtreeLayout['leaves'] = [];
  let start = 0;
  let used = 0;
  for (let i = 0; i < sorted.length; i++) {
    const need = recLen(sorted[i]!.nameLen);
    if (used + need > cap) {
      leaves.push({ start, end: i, hash: 0 });
      start = i;
      used = 0;
    }
    used += need;
  }
  leaves.push({ start, end: sorted.length, hash: 0 });
  // A leaf's index hash: its first name's hash, | 1 when that hash continues from the previous leaf.
  for (let k = 1; k < leaves.length; k++) {
    const first = sorted[leaves[k]!.start]!.hash;
    const prevLast = sorted[leaves[k - 1]!.end - 1]!.hash;
    leaves[k]!.hash = (first | (first === prevLast ? 1 : 0)) >>> 0;
  }
  const rl = rootLimit(blockSize, csum);
  if (leaves.length <= rl) return { indirectLevels: 0, leaves, nodes: [], blockCount: 1 + leaves.length };
  const nl = nodeLimit(blockSize, csum);
  if (leaves.length > rl * nl) return undefined;
  const nodes: HtreeLayout['nodes'] = [];
  for (let s = 0; s < leaves.length; s += nl) nodes.push({ start: s, end: Math.min(leaves.length, s + nl) });
  return { indirectLevels: 1, leaves, nodes, blockCount: 1 + nodes.length + leaves.length };
}

/** The checksum of an index block (directory.rst "struct dx_tail"): the block up to count entries, then the tail with its checksum zero. */
function writeDxTail(block: Uint8Array, countOffset: number, count: number, limit: number, csumSeed: number): void {
  const tailAt = countOffset + limit * 8;
  DxTail.encode({ reserved: 0, checksum: 0 }, block, tailAt);
  let crc = crc32cUpdate(csumSeed, block.subarray(0, countOffset + count * 8));
  crc = crc32cUpdate(crc, block.subarray(tailAt, tailAt + DX_TAIL_BYTES));
  new DataView(block.buffer, block.byteOffset).setUint32(tailAt + 4, crc, true);
}

/** dx entries {hash, block} (the first's hash is the count/limit header). */
function writeEntries(block: Uint8Array, countOffset: number, limit: number, entries: readonly { hash: number; block: number }[], csumSeed: number | undefined): void {
  DxCountLimit.encode({ limit, count: entries.length }, block, countOffset);
  entries.forEach((e, k) => {
    const at = countOffset + k * 8;
    if (k > 0) DxEntry.encode(e, block, at);
    else new DataView(block.buffer, block.byteOffset).setUint32(at + 4, e.block, true);
  });
  if (csumSeed !== undefined) writeDxTail(block, countOffset, entries.length, limit, csumSeed);
}

/**
 * The root block: "." → `self`, ".." → `parent` (filetype: FT_DIR when `fileTypes`), dx_root_info
 * and the entries. `entries[k].block` are directory-relative block numbers.
 */
export function encodeDxRoot(
  self: number,
  parent: number,
  hashVersion: number,
  indirectLevels: number,
  entries: readonly { hash: number; block: number }[],
  blockSize: number,
  fileTypes: boolean,
  csumSeed: number | undefined,
  into: Uint8Array,
): void {
  const ft = fileTypes ? 2 : 0;
  DirEntry.encode({ inode: self, recLen: 12, nameLen: 1, fileType: ft }, into, 0);
  into[8] = 0x2e;
  DirEntry.encode({ inode: parent, recLen: blockSize - 12, nameLen: 2, fileType: ft }, into, 12);
  into[20] = 0x2e;
  into[21] = 0x2e;
  DxRootInfo.encode({ reservedZero: 0, hashVersion, infoLength: 8, indirectLevels, unusedFlags: 0 }, into, 24);
  writeEntries(into, ROOT_COUNT_OFFSET, rootLimit(blockSize, csumSeed !== undefined), entries, csumSeed);
}

/** An interior node: a fake empty record spanning the block, then the entries. */
export function encodeDxNode(entries: readonly { hash: number; block: number }[], blockSize: number, csumSeed: number | undefined, into: Uint8Array): void {
  DirEntry.encode({ inode: 0, recLen: blockSize, nameLen: 0, fileType: 0 }, into, 0);
  writeEntries(into, NODE_COUNT_OFFSET, nodeLimit(blockSize, csumSeed !== undefined), entries, csumSeed);
}
