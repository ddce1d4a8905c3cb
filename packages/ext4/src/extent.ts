/**
 * Extent trees: kernel Documentation/filesystems/ext4/ifork.rst ("Extent Tree"). The root lives
 * in i_block (a 12-byte header and up to 4 entries); deeper levels are whole blocks: a header,
 * (block size − 12) / 12 entries, and with metadata_csum a 4-byte tail right after the last entry
 * slot holding crc32c(inode seed, the block up to the tail). Leaves (depth 0) map runs of logical
 * blocks to physical ones; index entries (depth > 0) point at the block below.
 */
import { crc32cUpdate, struct, u16le, u32le } from '@imgkit/core';
import { IBLOCK_BYTES } from './inode.js';

export const EXTENT_MAGIC = 0xf30a;
/** Longest run an initialized extent maps (ee_len ≤ 32768; larger values mark unwritten extents). */
export const EXTENT_MAX_BLOCKS = 32768;
export const EXTENT_ENTRY_BYTES = 12;
/** Entries in i_block: (60 − 12) / 12. */
export const ROOT_ENTRIES = 4;

// ifork.rst "struct ext4_extent_header"
export const ExtentHeader = struct('ext4.extent-header', 12, {
  magic: u16le(0x0),
  entries: u16le(0x2),
  max: u16le(0x4),
  depth: u16le(0x6), //        0: the entries are leaves
  generation: u32le(0x8),
});
// ifork.rst "struct ext4_extent_idx"
export const ExtentIndex = struct('ext4.extent-idx', 12, {
  block: u32le(0x0), //        first logical block of the subtree
  leafLo: u32le(0x4),
  leafHi: u16le(0x8),
  unused: u16le(0xa),
});
// ifork.rst "struct ext4_extent"
export const ExtentLeaf = struct('ext4.extent', 12, {
  block: u32le(0x0), //        first logical block
  len: u16le(0x4), //          ≤ 32768: initialized
  startHi: u16le(0x6),
  startLo: u32le(0x8),
});

/** A run of a file: `count` logical blocks from `logical`, stored from `physical`. */
export interface Extent {
  logical: number;
  count: number;
  physical: number;
}

/** Entries of one extent block: (block size − 12) / 12. */
export function entriesPerBlock(blockSize: number): number {
  return Math.floor((blockSize - 12) / EXTENT_ENTRY_BYTES);
}

/** Split runs into extents of at most 32768 blocks, merging runs that continue each other. */
export function toExtents(runs: readonly Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const r of runs) {
    let { logical, count, physical } = r;
    const last = out[out.length - 1];
    if (last && last.logical + last.count === logical && last.physical + last.count === physical && last.count < EXTENT_MAX_BLOCKS) {
      const add = Math.min(count, EXTENT_MAX_BLOCKS - last.count);
      last.count += add;
      logical += add;
      physical += add;
      count -= add;
    }
    while (count > 0) {
      const n = Math.min(count, EXTENT_MAX_BLOCKS);
      out.push({ logical, count: n, physical });
      logical += n;
      physical += n;
      count -= n;
    }
  }
  return out;
}

/** Blocks the tree below i_block needs for `extentCount` extents (0 when they fit in the inode). */
export function treeBlocks(extentCount: number, blockSize: number): number {
  const per = entriesPerBlock(blockSize);
  let total = 0;
  let level = extentCount;
  while (level > ROOT_ENTRIES) {
    level = Math.ceil(level / per);
    total += level;
  }
  return total;
}

export interface ExtentTree {
  /** The 60 bytes of i_block. */
  root: Uint8Array;
  /** Blocks below the root, each with its physical block number (in the order `blocks` gave them). */
  nodes: { physical: number; bytes: Uint8Array }[];
}

function header(into: Uint8Array, at: number, entries: number, max: number, depth: number): void {
  ExtentHeader.encode({ magic: EXTENT_MAGIC, entries, max, depth, generation: 0 }, into, at);
}

/**
 * The tree for `extents` (sorted, from toExtents), with its blocks at `blocks` (treeBlocks(…)
 * of them, in any order; used bottom-up, leaves first). Leaves are filled completely, so the tree
 * is as shallow and as narrow as it can be (what e2fsck's "could be narrower/shallower" checks).
 * `checksumSeed` is the inode's checksum seed (metadata_csum), else undefined.
 */
export function buildExtentTree(extents: readonly Extent[], blocks: readonly number[], blockSize: number, checksumSeed: number | undefined): ExtentTree {
  const need = treeBlocks(extents.length, blockSize);
  if (blocks.length !== need) throw new Error(`internal: extent tree of ${extents.length} extents needs ${need} blocks, given ${blocks.length}`);
  const per = entriesPerBlock(blockSize);
  const root = new Uint8Array(IBLOCK_BYTES);
  const nodes: { physical: number; bytes: Uint8Array }[] = [];
  // The level being built: each item is an entry to place in the level above (first logical block + what to encode).
  type Item = { logical: number; encode: (into: Uint8Array, at: number) => void };
  let items: Item[] = extents.map((e) => ({
    logical: e.logical,
    encode: (into, at) => ExtentLeaf.encode({ block: e.logical, len: e.count, startHi: Math.floor(e.physical / 0x100000000), startLo: e.physical % 0x100000000 }, into, at),
  }));
  let depth = 0;
  let next = 0;
  while (items.length > ROOT_ENTRIES) {
    const up: Item[] = [];
    for (let i = 0; i < items.length; i += per) {
      const chunk = items.slice(i, i + per);
      const physical = blocks[next++]!;
      const bytes = new Uint8Array(blockSize);
      header(bytes, 0, chunk.length, per, depth);
      chunk.forEach((it, k) => it.encode(bytes, 12 + k * EXTENT_ENTRY_BYTES));
      if (checksumSeed !== undefined) {
        // ifork.rst "struct ext4_extent_tail": right after eh_max entries
        const tailAt = 12 + per * EXTENT_ENTRY_BYTES;
        new DataView(bytes.buffer).setUint32(tailAt, crc32cUpdate(checksumSeed, bytes.subarray(0, tailAt)), true);
      }
      nodes.push({ physical, bytes });
      const logical = chunk[0]!.logical;
      up.push({
        logical,
        encode: (into, at) => ExtentIndex.encode({ block: logical, leafLo: physical % 0x100000000, leafHi: Math.floor(physical / 0x100000000), unused: 0 }, into, at),
      });
    }
    items = up;
    depth++;
  }
  header(root, 0, items.length, ROOT_ENTRIES, depth);
  items.forEach((it, k) => it.encode(root, 12 + k * EXTENT_ENTRY_BYTES));
  return { root, nodes };
}
