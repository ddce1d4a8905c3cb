/**
 * The layout mke2fs gives a filesystem of a given size: block groups, inodes per group, group
 * descriptor and reserved GDT blocks, where each group's bitmaps and inode table go (flex_bg packs
 * them at the start of each flex group), and where the journal goes. Follows e2fsprogs 1.47:
 * misc/mke2fs.c (PRS: inode count, reserved blocks), lib/ext2fs/initialize.c (ext2fs_initialize:
 * groups, inodes per group, reserved GDT blocks, trimming a last group too small for its
 * metadata), alloc_tables.c (ext2fs_allocate_group_table, flexbg_offset), alloc_sb.c
 * (ext2fs_reserve_super_and_bgd), closefs.c (ext2fs_bg_has_super) and mkjournal.c (journal size,
 * get_midpoint_journal_block); kernel Documentation/filesystems/ext4/overview.rst ("Layout",
 * "Flexible Block Groups", "Meta Block Groups") for the on-disk meaning.
 */
import { ErrorCodes, ImgkitError, NoSpaceError } from '@imgkit/core';
import { UsedBlocks } from './allocator.js';
import {
  COMPAT_HAS_JOURNAL,
  COMPAT_RESIZE_INODE,
  INCOMPAT_64BIT,
  INCOMPAT_FLEX_BG,
  RO_COMPAT_SPARSE_SUPER,
  type FeatureWords,
} from './features.js';
import { DESC_SIZE_32, DESC_SIZE_64 } from './group-descriptor.js';
import { FIRST_INO } from './superblock.js';
import { defaultJournalBlocks, JBD2_MIN_JOURNAL_BLOCKS } from './journal.js';

const FORMAT = 'ext4';
const MAX_32 = 0xffffffff;

export interface GeometryInput {
  /** Blocks of the device (size / block size). */
  blocks: number;
  blockSize: number;
  inodeSize: number;
  /** Bytes per inode (mke2fs -i), used when `inodes` is not given. */
  inodeRatio: number;
  /** Inode count asked for (mke2fs -N), before rounding to whole inode-table blocks. */
  inodes?: number;
  /** Percentage of blocks reserved for the superuser (mke2fs -m). */
  reservedRatio: number;
  features: FeatureWords;
  /** Groups per flex group (mke2fs -G), a power of two. */
  flexBgSize: number;
  /** Journal blocks (mke2fs -J size=); undefined: mke2fs's default for the size. */
  journalBlocks?: number;
}

export interface GroupLayout {
  /** First block of the group and the block after it. */
  start: number;
  end: number;
  /** The group holds a superblock copy and the descriptor table (and reserved GDT blocks). */
  hasSuper: boolean;
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number;
}

export interface Geometry {
  blockSize: number;
  /** The filesystem's block count (maybe fewer than the device's: see ext2fs_initialize). */
  blocks: number;
  /** 1 with 1 KiB blocks (block 0 is the boot block), else 0. */
  firstDataBlock: number;
  blocksPerGroup: number;
  groupCount: number;
  inodesPerGroup: number;
  inodes: number;
  inodeSize: number;
  inodeBlocksPerGroup: number;
  descSize: number;
  descBlocks: number;
  reservedGdtBlocks: number;
  /** Reserved blocks (s_r_blocks_count). */
  reservedBlocks: number;
  features: FeatureWords;
  /** log2(flex group size), 0 without flex_bg. */
  logGroupsPerFlex: number;
  groups: GroupLayout[];
  /** Blocks taken by superblocks, descriptors, reserved GDT blocks, bitmaps and inode tables. */
  metadataBlocks: number;
  /** Journal blocks (0: no journal); the plan places them (journalGoal). */
  journalBlocks: number;
  /** s_overhead_clusters as mke2fs sets it: metadata + journal + first data block. */
  overhead: number;
  /** The metadata above, marked used; the plan allocates the rest (journal included) from it. */
  used: UsedBlocks;
  /** Set when the journal was dropped because the filesystem is too small for one (as mke2fs does). */
  journalDropped: boolean;
}

/** `a` is a power of `b` (closefs.c test_root). */
function isPowerOf(a: number, b: number): boolean {
  for (;;) {
    if (a < b) return false;
    if (a === b) return true;
    if (a % b !== 0) return false;
    a /= b;
  }
}

/** closefs.c ext2fs_bg_has_super: groups 0 and 1, and with sparse_super odd powers of 3, 5, 7. */
export function groupHasSuper(group: number, sparseSuper: boolean): boolean {
  if (group <= 1 || !sparseSuper) return true;
  if ((group & 1) === 0) return false;
  return isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
}

/** The groups holding backup superblocks, in order (res_gdt.c list_backups). */
export function backupGroups(groupCount: number, sparseSuper: boolean): number[] {
  const out: number[] = [];
  for (let g = 1; g < groupCount; g++) if (groupHasSuper(g, sparseSuper)) out.push(g);
  return out;
}

function bad(field: string, detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, { format: FORMAT, field, detail, ...(hint ? { hint } : {}) });
}

function tooSmall(blocks: number, blockSize: number, why: string): NoSpaceError {
  return new NoSpaceError({ format: FORMAT, field: 'size', detail: `a filesystem of ${blocks} blocks of ${blockSize} bytes is too small: ${why}`, hint: 'raise --size' });
}

/**
 * The layout for `input` (see the top of this file). Throws E_NO_SPACE when the size cannot hold
 * even the metadata, E_BAD_OPTION when the options contradict the size (too many inodes, more
 * than 2^32 blocks without 64bit).
 */
export function computeGeometry(input: GeometryInput): Geometry {
  const bs = input.blockSize;
  const features: FeatureWords = { ...input.features };
  const has64 = (features.incompat & INCOMPAT_64BIT) !== 0;
  const sparse = (features.ro_compat & RO_COMPAT_SPARSE_SUPER) !== 0;
  const flex = (features.incompat & INCOMPAT_FLEX_BG) !== 0;
  const firstDataBlock = bs === 1024 ? 1 : 0;
  const paramBlocks = input.blocks;

  // mke2fs.c PRS: 32-bit block numbers unless 64bit; resize_inode cannot go past 2^32 blocks.
  if (paramBlocks > MAX_32) {
    if (!has64) {
      throw bad('features', `${paramBlocks} blocks of ${bs} bytes do not fit 32-bit block numbers`, 'turn 64bit on (it is on by default), or use bigger blocks or a smaller size');
    }
    features.compat &= ~COMPAT_RESIZE_INODE;
  }
  if (paramBlocks < 64) throw tooSmall(paramBlocks, bs, 'mke2fs needs at least 64 blocks');
  const resize = (features.compat & COMPAT_RESIZE_INODE) !== 0;

  // mke2fs.c PRS: inode count from the ratio, unless given.
  let inodesParam: number;
  if (input.inodes !== undefined) {
    if (input.inodes > MAX_32) throw bad('inodes', `${input.inodes} inodes: the limit is 2^32 − 1`);
    inodesParam = input.inodes;
  } else {
    const n = Math.floor((paramBlocks * bs) / input.inodeRatio);
    if (n > MAX_32) {
      if (!has64) throw bad('inodeRatio', `${n} inodes do not fit 32 bits`, 'raise the inode ratio');
      inodesParam = MAX_32;
    } else inodesParam = n;
  }
  if (inodesParam * input.inodeSize >= paramBlocks * bs) {
    throw bad('inodes', `${inodesParam} inodes of ${input.inodeSize} bytes do not fit a filesystem of ${paramBlocks * bs} bytes`, 'raise the inode ratio or lower the inode count');
  }
  const paramReserved = Math.floor((input.reservedRatio * paramBlocks) / 100.0);
  let reservedBlocks = paramReserved;

  // initialize.c ext2fs_initialize
  let blocksPerGroup = Math.min(bs * 8, 65528);
  const descSize = has64 ? DESC_SIZE_64 : DESC_SIZE_32;
  const descPerBlock = bs / descSize;
  let blocks = paramBlocks;
  let groupCount: number;
  let descBlocks: number;
  let inodesPerGroup: number;
  let inodeBlocksPerGroup: number;
  let reservedGdtBlocks: number;
  for (;;) {
    groupCount = Math.ceil((blocks - firstDataBlock) / blocksPerGroup);
    if (groupCount === 0) throw tooSmall(blocks, bs, 'not one block group');
    descBlocks = Math.ceil(groupCount / descPerBlock);
    let inodes = inodesParam;
    if (inodes < FIRST_INO + 1) inodes = FIRST_INO + 1;
    let ipg = Math.ceil(inodes / groupCount);
    if (ipg > bs * 8) {
      if (blocksPerGroup >= 256) {
        blocksPerGroup -= 8;
        blocks = paramBlocks;
        continue;
      }
      throw bad('inodes', `${inodes} inodes need more than ${bs * 8} per group`, 'lower the inode count or raise the inode ratio');
    }
    const maxIpg = 65536 - bs / input.inodeSize;
    if (ipg > maxIpg) ipg = maxIpg;
    for (;;) {
      inodeBlocksPerGroup = Math.ceil((ipg * input.inodeSize) / bs);
      inodesPerGroup = Math.floor((inodeBlocksPerGroup * bs) / input.inodeSize);
      if (inodesPerGroup < 8) inodesPerGroup = 8;
      inodesPerGroup &= ~7;
      inodeBlocksPerGroup = Math.ceil((inodesPerGroup * input.inodeSize) / bs);
      if (inodesPerGroup * groupCount > MAX_32) {
        ipg--;
        continue;
      }
      break;
    }
    // initialize.c calc_reserved_gdt_blocks: room to grow to 1024 × the size, or 2^32 blocks.
    if (resize) {
      const maxBlocks = blocks < Math.floor(MAX_32 / 1024) ? blocks * 1024 : MAX_32;
      const rsvGroups = Math.ceil((maxBlocks - firstDataBlock) / blocksPerGroup);
      reservedGdtBlocks = Math.min(Math.ceil(rsvGroups / descPerBlock) - descBlocks, bs / 4);
    } else reservedGdtBlocks = 0;
    if (reservedGdtBlocks + descBlocks > Math.floor((blocksPerGroup * 3) / 4)) {
      throw bad('size', `the group descriptors would fill most of a block group (meta_bg, which imgkit does not write, would be needed)`, 'use bigger blocks');
    }
    const overheadFull = 3 + inodeBlocksPerGroup + reservedGdtBlocks + descBlocks;
    if (overheadFull > blocksPerGroup) throw bad('inodes', `the inode table does not fit a block group`, 'raise the inode ratio or lower the inode count');
    let overheadLast = 2 + inodeBlocksPerGroup;
    if (groupHasSuper(groupCount - 1, sparse)) overheadLast += 1 + descBlocks + reservedGdtBlocks;
    const rem = (blocks - firstDataBlock) % blocksPerGroup;
    if (groupCount === 1 && rem !== 0 && rem < overheadLast) throw tooSmall(blocks, bs, `its one group cannot hold ${overheadLast} blocks of metadata`);
    if (rem !== 0 && rem < overheadLast + 50) {
      // The last group is too small for its metadata: drop it, and scale the reserve with it.
      blocks -= rem;
      const ratio = (100.0 * paramReserved) / paramBlocks;
      reservedBlocks = Math.floor((ratio * blocks) / 100.0);
      continue;
    }
    break;
  }
  if (reservedBlocks >= blocks) throw bad('reservedRatio', 'the reserved blocks would take the whole filesystem');

  // Superblock copies and descriptor tables (alloc_sb.c ext2fs_reserve_super_and_bgd).
  const used = new UsedBlocks(firstDataBlock, blocks);
  const groups: GroupLayout[] = [];
  for (let g = 0; g < groupCount; g++) {
    const start = firstDataBlock + g * blocksPerGroup;
    const end = Math.min(start + blocksPerGroup, blocks);
    const hasSuper = groupHasSuper(g, sparse);
    if (hasSuper) used.add(start, Math.min(1 + descBlocks + reservedGdtBlocks, blocks - start));
    groups.push({ start, end, hasSuper, blockBitmap: 0, inodeBitmap: 0, inodeTable: 0 });
  }

  // Bitmaps and inode tables (alloc_tables.c).
  const logGroupsPerFlex = flex ? Math.log2(input.flexBgSize) : 0;
  const flexSize = flex && logGroupsPerFlex > 0 ? input.flexBgSize : 0;
  const lastBlockOf = (g: number) => groups[g]!.end - 1;
  /** alloc_tables.c flexbg_offset */
  const flexbgOffset = (group: number, startBlk: number, remGrp: number, elemSize: number): number => {
    const flexbg = Math.floor(group / flexSize);
    let size = remGrp * elemSize;
    if (size > Math.floor(blocksPerGroup / 4)) size = Math.floor(blocksPerGroup / 4);
    if (startBlk !== 0 && startBlk < blocks) {
      const r = used.getFreeBlocks(startBlk, startBlk + size, elemSize);
      if (r !== undefined) return r;
    }
    const first = groups[flexSize * flexbg]!.start;
    let lastGrp = group | (flexSize - 1);
    if (lastGrp > groupCount - 1) lastGrp = groupCount - 1;
    const lastBlk = lastBlockOf(lastGrp);
    return used.getFreeBlocks(first, lastBlk, size) ?? used.getFreeBlocks(first, lastBlk, elemSize) ?? used.getFreeBlocks(0, lastBlk, elemSize) ?? 0;
  };
  const fail = (what: string, g: number) => tooSmall(blocks, bs, `no room for the ${what} of group ${g}`);
  for (let g = 0; g < groupCount; g++) {
    const grp = groups[g]!;
    const groupBlk = grp.start;
    let lastBlk = lastBlockOf(g);
    let startBlk = groupBlk;
    let lastGrp = 0;
    let remGrps = 0;
    let tableOffset = 0;
    if (flexSize) {
      lastGrp = g | (flexSize - 1);
      if (lastGrp > groupCount - 1) lastGrp = groupCount - 1;
      remGrps = lastGrp - g + 1;
      tableOffset = flexSize;
      let prev = 0;
      if (g % flexSize) prev = groups[g - 1]!.blockBitmap + 1;
      else if (lastGrp === groupCount - 1) {
        // the last flex group keeps its tables contiguous
        tableOffset = lastGrp & (flexSize - 1);
        tableOffset = tableOffset === 0 ? flexSize : tableOffset + 1;
      }
      startBlk = flexbgOffset(g, prev, remGrps, 1);
      lastBlk = lastBlockOf(lastGrp);
    }
    let b = used.getFreeBlocks(startBlk, lastBlk, 1) ?? used.getFreeBlocks(groupBlk, lastBlk, 1);
    if (b === undefined) throw fail('block bitmap', g);
    used.add(b, 1);
    grp.blockBitmap = b;

    if (flexSize) {
      const prev = g % flexSize ? groups[g - 1]!.inodeBitmap + 1 : grp.blockBitmap + tableOffset;
      startBlk = flexbgOffset(g, prev, remGrps, 1);
      lastBlk = lastBlockOf(lastGrp);
    }
    b = used.getFreeBlocks(startBlk, lastBlk, 1) ?? used.getFreeBlocks(groupBlk, lastBlk, 1);
    if (b === undefined) throw fail('inode bitmap', g);
    used.add(b, 1);
    grp.inodeBitmap = b;

    let tableStart = groupBlk;
    if (flexSize) {
      const prev = g % flexSize ? groups[g - 1]!.inodeTable + inodeBlocksPerGroup : grp.inodeBitmap + tableOffset;
      tableStart = flexbgOffset(g, prev, remGrps, inodeBlocksPerGroup);
      lastBlk = lastBlockOf(lastGrp);
    }
    b = used.getFreeBlocks(tableStart, lastBlk, inodeBlocksPerGroup);
    if (b === undefined) throw fail('inode table', g);
    used.add(b, inodeBlocksPerGroup);
    grp.inodeTable = b;
  }
  const metadataBlocks = used.total();

  // The journal (mke2fs.c figure_journal_size, mkjournal.c).
  let journalBlocks = 0;
  let journalDropped = false;
  if ((features.compat & COMPAT_HAS_JOURNAL) !== 0) {
    const dflt = defaultJournalBlocks(blocks);
    if (input.journalBlocks !== undefined) {
      const freeBlocks = blocks - metadataBlocks - firstDataBlock;
      if (input.journalBlocks < JBD2_MIN_JOURNAL_BLOCKS || input.journalBlocks > 10240000) {
        throw bad('journalBlocks', `a journal of ${input.journalBlocks} blocks: it must have 1024 … 10240000`);
      }
      if (input.journalBlocks > Math.floor(freeBlocks / 2)) throw bad('journalBlocks', `a journal of ${input.journalBlocks} blocks is more than half of the ${freeBlocks} free blocks`, 'make it smaller or raise --size');
      journalBlocks = input.journalBlocks;
    } else if (dflt === undefined) {
      journalDropped = true;
      features.compat &= ~COMPAT_HAS_JOURNAL;
    } else journalBlocks = dflt;
  }
  return {
    blockSize: bs,
    blocks,
    firstDataBlock,
    blocksPerGroup,
    groupCount,
    inodesPerGroup: inodesPerGroup!,
    inodes: inodesPerGroup! * groupCount,
    inodeSize: input.inodeSize,
    inodeBlocksPerGroup: inodeBlocksPerGroup!,
    descSize,
    descBlocks: descBlocks!,
    reservedGdtBlocks: reservedGdtBlocks!,
    reservedBlocks,
    features,
    logGroupsPerFlex,
    groups,
    metadataBlocks,
    journalBlocks,
    overhead: metadataBlocks + journalBlocks + firstDataBlock,
    used,
    journalDropped,
  };
}

/**
 * Where mke2fs starts looking for the journal's blocks (mkjournal.c get_midpoint_journal_block):
 * the first block of the group in the middle of the filesystem — of its flex group when that lies
 * past the first flex group — or of the neighbouring group with the most free blocks.
 */
export function journalGoal(g: Geometry): number {
  const { groups, groupCount, used } = g;
  const freeIn = (i: number) => groups[i]!.end - groups[i]!.start - used.countUsed(groups[i]!.start, groups[i]!.end);
  let group = Math.floor(Math.floor((g.blocks - g.firstDataBlock) / 2) / g.blocksPerGroup);
  const logFlex = 1 << g.logGroupsPerFlex;
  let first: number;
  if (g.logGroupsPerFlex && group > logFlex) {
    group = group & ~(logFlex - 1);
    while (group < groupCount && freeIn(group) === 0) group++;
    if (group === groupCount) group = 0;
    first = group;
  } else first = group > 0 ? group - 1 : group;
  const last = group + 1 < groupCount ? group + 1 : group;
  group = first;
  for (let i = first + 1; i <= last; i++) if (freeIn(i) > freeIn(group)) group = i;
  return groups[group]!.start;
}
