/**
 * Writes a planned filesystem front to back, relative to `sink.position` at entry, in block order,
 * so any sink will do (a file, standard output, a partition's window of a disk):
 *
 *   block 0          boot area (zeros), the superblock at byte 1024 (block 1 with 1 KiB blocks)
 *   each group       with a superblock copy: the copy, the descriptor table, the reserved GDT
 *                    blocks (group 0's list the copies, for the resize inode)
 *   flex groups      block bitmaps, inode bitmaps and inode tables of their groups (flex_bg)
 *   data             the journal (its superblock, then zeros), directory blocks, attribute
 *                    blocks, extent-tree blocks and file contents, each at the block the plan gave it
 *   free blocks      zeros up to the end of the image (holes in a file sink)
 *
 * Every metadata value was decided by the plan, so nothing is patched afterwards. File content is
 * read in walk order, which is block order; the bytes of a sparse file's holes are read and must be
 * zero. A file whose size changed since the plan is E_SOURCE_CHANGED naming it. Memory: the plan,
 * one 1 MiB output buffer and one block-sized scratch buffer per structure being encoded.
 */
import {
  ReadAhead,
  expectSinkSize,
  fileGrew,
  isAllZero,
  fileShrank,
  readChecked,
  syncReaderOf,
  BufferedOutput,
  SourceChangedError,
  devMajor,
  devMinor,
  type ByteSink,
  type SourceEntry,
  type SyncContentReader,
} from '@imgkit/core';
import { bitmapChecksum, blockBitmap, inodeBitmap } from './bitmap.js';
import { fsChecksumSeed, inodeChecksumSeed } from './checksum.js';
import { encodeDirBlock, FT_DIR, type DirName } from './directory.js';
import { buildExtentTree, EXTENT_MAGIC, ExtentHeader, ExtentLeaf, ROOT_ENTRIES } from './extent.js';
import { COMPAT_HAS_JOURNAL, INCOMPAT_CSUM_SEED, INCOMPAT_FILETYPE, INCOMPAT_FLEX_BG, RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM, RO_COMPAT_SPARSE_SUPER } from './features.js';
import { BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_INODE_ZEROED, encodeGroupDesc, type DescChecksum } from './group-descriptor.js';
import { encodeDxNode, encodeDxRoot } from './htree.js';
import {
  BAD_BLOCKS_INO,
  EXTENTS_FL,
  IBLOCK_BYTES,
  JOURNAL_INO,
  RESIZE_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFREG,
  S_IFSOCK,
  EXTRA_ISIZE,
  encodeDevice,
  encodeInode,
  type InodeFields,
} from './inode.js';
import { encodeJournalSuperblock } from './journal.js';
import { DIND_BLOCK_INDEX } from './resize-inode.js';
import {
  CHECKSUM_CRC32C,
  DEFM_ACL,
  DEFM_XATTR_USER,
  DYNAMIC_REV,
  ERRORS_CONTINUE,
  EXT4_MAGIC,
  FIRST_INO,
  FLAGS_SIGNED_HASH,
  JNL_BACKUP_BLOCKS,
  OS_LINUX,
  STATE_VALID,
  SUPERBLOCK_OFFSET,
  encodeSuperblock,
  type SuperblockValues,
} from './superblock.js';
import { encodeIbodyXattrs, encodeXattrBlock } from './xattr.js';
import type { Ext4Node, PlannedFs } from './plan.js';

const FORMAT = 'ext4';
const BUFFER_BYTES = 1 << 20;

export interface Ext4Progress {
  /** Bytes of the image written so far, and in all. */
  bytes: number;
  totalBytes: number;
}

export interface Ext4Result {
  /** Bytes written to the sink (the image size). */
  bytes: number;
  blocks: number;
  freeBlocks: number;
  freeInodes: number;
}

/** Reads one file's content in order, straight into the output where the source allows. */
class ContentReader {
  private sync: SyncContentReader | undefined;
  private iter: AsyncIterator<Uint8Array> | undefined;
  private pending: Uint8Array | undefined;
  /** Bytes consumed so far. */
  pos = 0;
  private readonly scratch: Uint8Array;

  constructor(
    private readonly entry: SourceEntry,
    private readonly size: number,
    chunks: () => AsyncIterable<Uint8Array>,
    scratch: Uint8Array,
  ) {
    const open = syncReaderOf(entry);
    if (open) this.sync = open();
    else this.iter = readChecked({ ...entry, read: chunks }, FORMAT, size)[Symbol.asyncIterator]();
    this.scratch = scratch;
  }

  /** Read exactly `dst.byteLength` bytes of content into `dst`. */
  private async fill(dst: Uint8Array): Promise<void> {
    let got = 0;
    if (this.sync) {
      while (got < dst.byteLength) {
        const k = this.sync.read(dst, got, dst.byteLength - got);
        if (k === 0) throw fileShrank(FORMAT, this.entry.path, this.size, this.pos + got);
        got += k;
      }
    } else {
      while (got < dst.byteLength) {
        if (!this.pending || this.pending.byteLength === 0) {
          const r = await this.iter!.next();
          if (r.done) throw fileShrank(FORMAT, this.entry.path, this.size, this.pos + got);
          this.pending = r.value;
        }
        const n = Math.min(this.pending.byteLength, dst.byteLength - got);
        dst.set(this.pending.subarray(0, n), got);
        this.pending = this.pending.subarray(n);
        got += n;
      }
    }
    this.pos += got;
  }

  /** Copy `n` bytes of content into the output. */
  async copy(out: BufferedOutput, n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const dst = await out.space();
      const k = Math.min(dst.byteLength, left);
      await this.fill(dst.subarray(0, k));
      out.commit(k);
      left -= k;
    }
  }

  /**
   * Move to byte `to`, past a hole: skipped where the reader can (nodeSource: no read at all),
   * else read, and then the bytes must be zero (or the file changed since the plan).
   */
  async skipTo(to: number): Promise<void> {
    if (this.pos >= to) return;
    if (this.sync?.skip) {
      this.sync.skip(to - this.pos);
      this.pos = to;
      return;
    }
    while (this.pos < to) {
      const k = Math.min(this.scratch.byteLength, to - this.pos);
      const at = this.pos;
      const part = this.scratch.subarray(0, k);
      await this.fill(part);
      if (!isAllZero(part)) {
        throw new SourceChangedError({ format: FORMAT, path: this.entry.path, detail: `the file has data in bytes ${at} … ${at + k - 1}, where the plan found a hole` });
      }
    }
  }

  /** After the last byte: the file must end here. */
  async finish(): Promise<void> {
    if (this.pos < this.size) {
      // a trailing hole: its last byte is read, so a file that shrank is seen
      await this.skipTo(this.size - 1);
      const last = this.scratch.subarray(0, 1);
      await this.fill(last);
      if (last[0] !== 0) throw new SourceChangedError({ format: FORMAT, path: this.entry.path, detail: `the file has data at byte ${this.size - 1}, where the plan found a hole` });
    }
    if (this.sync) {
      const more = this.sync.read(new Uint8Array(1), 0, 1);
      if (more > 0) throw fileGrew(FORMAT, this.entry.path, this.size);
    } else if (this.pending && this.pending.byteLength > 0) throw fileGrew(FORMAT, this.entry.path, this.size);
    else if (!(await this.iter!.next()).done) throw fileGrew(FORMAT, this.entry.path, this.size);
  }

  close(): void {
    this.sync?.close();
    void this.iter?.return?.();
  }
}

/** One run of blocks the writer emits. */
interface Item {
  block: number;
  count: number;
  emit(out: BufferedOutput): Promise<void>;
}

const modeType: Record<Ext4Node['kind'], number> = {
  file: S_IFREG,
  dir: S_IFDIR,
  symlink: S_IFLNK,
  char: S_IFCHR,
  block: S_IFBLK,
  fifo: S_IFIFO,
  socket: S_IFSOCK,
};

/** Write the filesystem `fs` to `sink` as `sizeBytes` bytes (see the top of this file). Does not close the sink. */
export async function writePlanned(fs: PlannedFs, sink: ByteSink, sizeBytes: number): Promise<Ext4Result> {
  const { g, o } = fs;
  const bs = g.blockSize;
  const csum = (g.features.ro_compat & RO_COMPAT_METADATA_CSUM) !== 0;
  const gdtCsum = (g.features.ro_compat & RO_COMPAT_GDT_CSUM) !== 0;
  const csumFlag = csum || gdtCsum;
  const fsSeed = csum ? fsChecksumSeed(o.uuid) : undefined;
  const flex = (g.features.incompat & INCOMPAT_FLEX_BG) !== 0;
  const fileTypes = (g.features.incompat & INCOMPAT_FILETYPE) !== 0;
  const start = sink.position;
  await expectSinkSize(sink, start + sizeBytes);
  const out = new BufferedOutput(sink, BUFFER_BYTES);
  const ipg = g.inodesPerGroup;
  const lastGroup = g.groupCount - 1;

  // ---- group descriptors (needed by every superblock copy's neighbour) ----
  const scratch = new Uint8Array(bs);
  const usedInodesIn = (grp: number) => Math.min(ipg, Math.max(0, fs.lastIno - grp * ipg));
  const descTable = new Uint8Array(g.descBlocks * bs);
  const descCsum: DescChecksum = csum ? { kind: 'crc32c', seed: fsSeed! } : gdtCsum ? { kind: 'crc16', uuid: o.uuid } : { kind: 'none' };
  const blockUninit: boolean[] = [];
  for (let i = 0; i < g.groupCount; i++) {
    const gr = g.groups[i]!;
    const usedInodes = usedInodesIn(i);
    const base = (gr.hasSuper ? 1 + g.descBlocks + g.reservedGdtBlocks : 0) + (flex ? 0 : 2 + g.inodeBlocksPerGroup);
    const groupBlocks = gr.end - gr.start;
    const bUninit = csumFlag && i !== lastGroup && groupBlocks - fs.groupFree[i]! === Math.min(base, groupBlocks);
    const iUninit = csumFlag && usedInodes === 0;
    blockUninit.push(bUninit);
    let flags = BG_INODE_ZEROED;
    if (bUninit) flags |= BG_BLOCK_UNINIT;
    if (iUninit) flags |= BG_INODE_UNINIT;
    let bbCsum = 0;
    let ibCsum = 0;
    if (csum) {
      if (!bUninit) {
        blockBitmap(g.used, gr.start, gr.end, g.blocksPerGroup, scratch);
        bbCsum = bitmapChecksum(fsSeed!, scratch, g.blocksPerGroup >> 3);
      }
      if (!iUninit) {
        inodeBitmap(usedInodes, ipg, scratch);
        ibCsum = bitmapChecksum(fsSeed!, scratch, (ipg + 7) >> 3);
      }
    }
    encodeGroupDesc(
      {
        blockBitmap: gr.blockBitmap,
        inodeBitmap: gr.inodeBitmap,
        inodeTable: gr.inodeTable,
        freeBlocks: fs.groupFree[i]!,
        freeInodes: ipg - usedInodes,
        usedDirs: fs.groupDirs[i]!,
        flags,
        itableUnused: csumFlag ? ipg - usedInodes : 0,
        blockBitmapCsum: bbCsum,
        inodeBitmapCsum: ibCsum,
      },
      i,
      g.descSize,
      descCsum,
      descTable,
      i * g.descSize,
    );
  }

  // ---- the superblock ----
  const jnlBlocks = new Uint8Array(68);
  if (fs.journal) {
    const root = journalIblock(fs);
    jnlBlocks.set(root, 0);
    const v = new DataView(jnlBlocks.buffer);
    const jsize = g.journalBlocks * bs;
    v.setUint32(60, Math.floor(jsize / 0x100000000), true);
    v.setUint32(64, jsize % 0x100000000, true);
  }
  const sbValues: Omit<SuperblockValues, 'checksum'> = {
    inodesCount: g.inodes,
    blocksCountLo: g.blocks % 0x100000000,
    rBlocksCountLo: g.reservedBlocks % 0x100000000,
    freeBlocksCountLo: fs.freeBlocks % 0x100000000,
    freeInodesCount: fs.freeInodes,
    firstDataBlock: g.firstDataBlock,
    logBlockSize: Math.log2(bs) - 10,
    logClusterSize: Math.log2(bs) - 10,
    blocksPerGroup: g.blocksPerGroup,
    clustersPerGroup: g.blocksPerGroup,
    inodesPerGroup: ipg,
    mtime: 0,
    wtime: o.now,
    mntCount: 0,
    maxMntCount: 0xffff,
    magic: EXT4_MAGIC,
    state: STATE_VALID,
    errors: ERRORS_CONTINUE,
    minorRevLevel: 0,
    lastcheck: o.now,
    checkinterval: 0,
    creatorOs: OS_LINUX,
    revLevel: DYNAMIC_REV,
    defResuid: 0,
    defResgid: 0,
    firstIno: FIRST_INO,
    inodeSize: g.inodeSize,
    blockGroupNr: 0,
    featureCompat: g.features.compat,
    featureIncompat: g.features.incompat,
    featureRoCompat: g.features.ro_compat,
    uuid: o.uuid,
    volumeName: o.label,
    lastMounted: new Uint8Array(0),
    reservedGdtBlocks: g.reservedGdtBlocks,
    journalUuid: new Uint8Array(0),
    journalInum: fs.journal ? JOURNAL_INO : 0,
    hashSeed: o.hashSeed,
    defHashVersion: o.hashVersion,
    jnlBackupType: fs.journal ? JNL_BACKUP_BLOCKS : 0,
    descSize: g.descSize === 64 ? 64 : 0,
    defaultMountOpts: DEFM_XATTR_USER | DEFM_ACL,
    firstMetaBg: 0,
    mkfsTime: o.now,
    jnlBlocks,
    blocksCountHi: Math.floor(g.blocks / 0x100000000),
    rBlocksCountHi: Math.floor(g.reservedBlocks / 0x100000000),
    freeBlocksCountHi: Math.floor(fs.freeBlocks / 0x100000000),
    minExtraIsize: g.inodeSize > 128 ? EXTRA_ISIZE : 0,
    wantExtraIsize: g.inodeSize > 128 ? EXTRA_ISIZE : 0,
    flags: FLAGS_SIGNED_HASH,
    logGroupsPerFlex: g.logGroupsPerFlex,
    checksumType: csum ? CHECKSUM_CRC32C : 0,
    kbytesWritten: BigInt(Math.ceil((fs.usedBlocks * bs) / 1024)),
    overheadClusters: g.overhead,
    checksumSeed: (g.features.incompat & INCOMPAT_CSUM_SEED) !== 0 ? fsChecksumSeed(o.uuid) : 0,
    wtimeHi: 0,
    mtimeHi: 0,
    mkfsTimeHi: 0,
    lastcheckHi: 0,
  };

  // ---- the items, in block order ----
  const items: Item[] = [];
  const add = (block: number, count: number, emit: (out: BufferedOutput) => Promise<void>) => items.push({ block, count, emit });
  for (let i = 0; i < g.groupCount; i++) {
    const gr = g.groups[i]!;
    if (gr.hasSuper) {
      // Backups carry their group's number and, as ext2fs_flush writes them, a state without
      // "cleanly unmounted" (only the primary's state counts).
      const sb = encodeSuperblock(i === 0 ? sbValues : { ...sbValues, blockGroupNr: Math.min(i, 0xffff), state: sbValues.state & ~STATE_VALID }, csum);
      if (i === 0 && bs > 1024) {
        add(0, 1, async (w) => {
          await w.zeros(SUPERBLOCK_OFFSET);
          await w.bytes(sb);
          await w.zeros(bs - SUPERBLOCK_OFFSET - sb.byteLength);
        });
      } else {
        add(gr.start, 1, async (w) => {
          await w.bytes(sb);
          await w.zeros(bs - sb.byteLength);
        });
      }
      add(gr.start + 1, g.descBlocks, (w) => w.bytes(descTable));
      if (i === 0 && fs.resize) {
        for (const p of fs.resize.layout.primaries) add(p.block, 1, (w) => w.bytes(p.bytes));
      }
    }
    const initBlocks = !blockUninit[i];
    const usedInodes = usedInodesIn(i);
    const initInodes = !(csumFlag && usedInodes === 0);
    if (initBlocks) {
      add(gr.blockBitmap, 1, async (w) => {
        blockBitmap(g.used, gr.start, gr.end, g.blocksPerGroup, scratch);
        await w.bytes(scratch);
      });
    }
    if (initInodes) {
      add(gr.inodeBitmap, 1, async (w) => {
        inodeBitmap(usedInodes, ipg, scratch);
        await w.bytes(scratch);
      });
    }
    if (usedInodes > 0) add(gr.inodeTable, g.inodeBlocksPerGroup, (w) => emitInodeTable(fs, i, w));
  }
  if (fs.resize) {
    const r = fs.resize;
    add(r.dindBlock, 1, (w) => w.bytes(r.layout.dind));
  }
  if (fs.journal) {
    const first = { start: fs.journal.extents[0]!.physical };
    const jsb = encodeJournalSuperblock(bs, g.journalBlocks, o.uuid);
    add(first.start, 1, (w) => w.bytes(jsb));
    emitTree(add, JOURNAL_INO, fs.journal.extents, fs.journal.treeBlocks, bs, fsSeed);
  }
  for (const b of fs.sharedBlocks) {
    add(b.block, 1, (w) => w.bytes(encodeXattrBlock(b.attrs, b.refcount, b.block, bs, fsSeed)));
  }
  const readOrder: SourceEntry[] = [];
  const state: ReadState = { ahead: undefined!, scratch: new Uint8Array(64 * 1024), current: undefined };
  const nodes: Ext4Node[] = [];
  for (const n of fs.inodes) {
    if (!n || !n.extents) continue;
    nodes.push(n);
  }
  for (const n of nodes) {
    const seed = fsSeed !== undefined ? inodeChecksumSeed(fsSeed, n.ino) : undefined;
    emitTree(add, n.ino, n.extents!, n.treeBlocks!, bs, fsSeed);
    if (n.kind === 'dir') addDirectory(fs, n, seed, fileTypes, add);
    else if (n.kind === 'symlink') {
      const e = n.extents![0]!;
      add(e.physical, 1, async (w) => {
        await w.bytes(n.target!);
        await w.zeros(bs - n.target!.byteLength);
      });
    } else if (n.kind === 'file' && n.extents!.length > 0) {
      readOrder.push(n.entry!);
      addFile(state, n, readOrder.length - 1, bs, add);
    }
  }
  items.sort((a, b) => a.block - b.block);

  // ---- emit ----
  state.ahead = new ReadAhead(readOrder);
  let at = 0; // next block
  const total = sizeBytes;
  let lastReport = 0;
  try {
    for (const it of items) {
      if (it.block < at) throw new Error(`internal: ext4 block ${it.block} written twice (at ${at})`);
      await out.zeros((it.block - at) * bs);
      const before = out.written;
      await it.emit(out);
      if (out.written - before !== it.count * bs) throw new Error(`internal: ext4 item at block ${it.block} wrote ${out.written - before} bytes, planned ${it.count * bs}`);
      at = it.block + it.count;
      if (fs.onProgress && out.written - lastReport >= 16 << 20) {
        lastReport = out.written;
        fs.onProgress({ bytes: out.written, totalBytes: total });
      }
    }
    if (at > g.blocks) throw new Error('internal: ext4 wrote past the last block');
    await out.zeros(total - at * bs);
    await out.flush();
  } finally {
    state.current?.reader.close();
  }
  fs.onProgress?.({ bytes: out.written, totalBytes: total });
  return { bytes: out.written, blocks: g.blocks, freeBlocks: fs.freeBlocks, freeInodes: fs.freeInodes };
}

/** The file being read (one at a time, in walk order), and the read-ahead over all of them. */
interface ReadState {
  ahead: ReadAhead;
  scratch: Uint8Array;
  current: { node: Ext4Node; reader: ContentReader } | undefined;
}

/** A file's data runs: read its content in order, skipping (zero) holes. */
function addFile(readers: ReadState, n: Ext4Node, readIndex: number, bs: number, add: (b: number, c: number, e: (w: BufferedOutput) => Promise<void>) => void): void {
  const extents = n.extents!;
  extents.forEach((e, k) => {
    add(e.physical, e.count, async (w) => {
      let cur = readers.current;
      if (!cur || cur.node !== n) {
        cur?.reader.close();
        const entry = n.entry!;
        cur = { node: n, reader: new ContentReader(entry, n.size, () => readers.ahead.read(readIndex), readers.scratch) };
        readers.current = cur;
      }
      const from = e.logical * bs;
      const to = Math.min(n.size, (e.logical + e.count) * bs);
      await cur.reader.skipTo(from);
      await cur.reader.copy(w, to - from);
      await w.zeros(e.count * bs - (to - from));
      if (k === extents.length - 1) {
        await cur.reader.finish();
        cur.reader.close();
        readers.current = undefined;
      }
    });
  });
}

/** Extent-tree blocks below i_block. */
function emitTree(
  add: (b: number, c: number, e: (w: BufferedOutput) => Promise<void>) => void,
  ino: number,
  extents: Ext4Node['extents'] & object,
  treeBlocks: readonly number[],
  bs: number,
  fsSeed: number | undefined,
): void {
  if (treeBlocks.length === 0) return;
  const seed = fsSeed !== undefined ? inodeChecksumSeed(fsSeed, ino) : undefined;
  // Built once when the first of its blocks is reached (the blocks hold little: entries only).
  let built: Map<number, Uint8Array> | undefined;
  for (const b of treeBlocks) {
    add(b, 1, async (w) => {
      built ??= new Map(buildExtentTree(extents, treeBlocks, bs, seed).nodes.map((x) => [x.physical, x.bytes]));
      await w.bytes(built.get(b)!);
    });
  }
}

/** The journal inode's i_block (its extent root). */
function journalIblock(fs: PlannedFs): Uint8Array {
  const seed = fs.csum ? inodeChecksumSeed(fsChecksumSeed(fs.o.uuid), JOURNAL_INO) : undefined;
  return buildExtentTree(fs.journal!.extents, fs.journal!.treeBlocks, fs.g.blockSize, seed).root;
}

/** Directory blocks: linear blocks, or the htree's root, nodes and leaves. */
function addDirectory(fs: PlannedFs, d: Ext4Node, seed: number | undefined, fileTypes: boolean, add: (b: number, c: number, e: (w: BufferedOutput) => Promise<void>) => void): void {
  const bs = fs.g.blockSize;
  const kids = d.children!;
  const dirName = (i: number): DirName => {
    if (i === -2) return { name: Uint8Array.of(0x2e), ino: d.ino, fileType: fileTypes ? FT_DIR : 0 };
    if (i === -1) return { name: Uint8Array.of(0x2e, 0x2e), ino: (d.parent ?? d).ino, fileType: fileTypes ? FT_DIR : 0 };
    const k = kids[i]!;
    return { name: k.name, ino: k.node.ino, fileType: fileTypes ? fileTypeCode(k.node) : 0 };
  };
  // logical block → bytes
  let content: (logical: number) => Uint8Array;
  if (d.linear) {
    const blocks = d.linear;
    content = (l) => {
      const out = new Uint8Array(bs);
      encodeDirBlock(blocks[l]!.map(dirName), bs, seed, out);
      return out;
    };
  } else {
    const { layout, order, hashes } = d.htree!;
    const nodeCount = layout.nodes.length;
    const leafBlock = (k: number) => 1 + nodeCount + k;
    content = (l) => {
      const out = new Uint8Array(bs);
      if (l === 0) {
        const entries =
          layout.indirectLevels === 0
            ? layout.leaves.map((leaf, k) => ({ hash: leaf.hash, block: leafBlock(k) }))
            : layout.nodes.map((nd, k) => ({ hash: layout.leaves[nd.start]!.hash, block: 1 + k }));
        encodeDxRoot(d.ino, (d.parent ?? d).ino, fs.o.hashVersion, layout.indirectLevels, entries, bs, fileTypes, seed, out);
      } else if (l <= nodeCount) {
        const nd = layout.nodes[l - 1]!;
        const entries = layout.leaves.slice(nd.start, nd.end).map((leaf, k) => ({ hash: leaf.hash, block: leafBlock(nd.start + k) }));
        encodeDxNode(entries, bs, seed, out);
      } else {
        const leaf = layout.leaves[l - 1 - nodeCount]!;
        const names: DirName[] = [];
        for (let s = leaf.start; s < leaf.end; s++) names.push(dirName(order[s]!));
        encodeDirBlock(names, bs, seed, out);
      }
      return out;
    };
    void hashes;
  }
  for (const e of d.extents!) {
    add(e.physical, e.count, async (w) => {
      for (let k = 0; k < e.count; k++) await w.bytes(content(e.logical + k));
    });
  }
}

function fileTypeCode(n: Ext4Node): number {
  switch (n.kind) {
    case 'file':
      return 1;
    case 'dir':
      return 2;
    case 'char':
      return 3;
    case 'block':
      return 4;
    case 'fifo':
      return 5;
    case 'socket':
      return 6;
    case 'symlink':
      return 7;
  }
}

/** Group `grp`'s inode table: its inodes in use, then zeros. */
async function emitInodeTable(fs: PlannedFs, grp: number, w: BufferedOutput): Promise<void> {
  const { g, o } = fs;
  const isz = g.inodeSize;
  const first = grp * g.inodesPerGroup + 1;
  const last = Math.min(fs.lastIno, first + g.inodesPerGroup - 1);
  const fsSeed = fs.csum ? fsChecksumSeed(o.uuid) : undefined;
  const per = Math.max(1, Math.floor((64 * 1024) / isz));
  const buf = new Uint8Array(per * isz);
  for (let ino = first; ino <= last; ino += per) {
    const n = Math.min(per, last - ino + 1);
    buf.fill(0);
    for (let k = 0; k < n; k++) encodeOne(fs, ino + k, buf, k * isz, fsSeed);
    await w.bytes(buf.subarray(0, n * isz));
  }
  await w.zeros(g.inodeBlocksPerGroup * g.blockSize - (last - first + 1) * isz);
}

/** One inode into `buf` at `at` (zeroed), or nothing for a reserved inode without content. */
function encodeOne(fs: PlannedFs, ino: number, buf: Uint8Array, at: number, fsSeed: number | undefined): void {
  const { g, o } = fs;
  const isz = g.inodeSize;
  const bs = g.blockSize;
  const now = o.now;
  let f: InodeFields | undefined;
  if (ino === BAD_BLOCKS_INO) {
    // mke2fs's bad-blocks inode: empty, dated, written as a 128-byte inode (ext2fs_update_bb_inode)
    f = { mode: 0, uid: 0, gid: 0, size: 0, atime: now, ctime: now, mtime: now, crtime: 0, links: 0, blocks512: 0, flags: 0, block: new Uint8Array(0), fileAcl: 0, extraIsize: 0 };
  } else if (ino === RESIZE_INO && fs.resize) {
    const r = fs.resize;
    const block = new Uint8Array(IBLOCK_BYTES);
    new DataView(block.buffer).setUint32(DIND_BLOCK_INDEX * 4, r.dindBlock, true);
    f = { mode: S_IFREG | 0o600, uid: 0, gid: 0, size: r.layout.size, atime: now, ctime: now, mtime: now, crtime: now, links: 1, blocks512: r.layout.blockCount * (bs / 512), flags: 0, block, fileAcl: 0 };
  } else if (ino === JOURNAL_INO && fs.journal) {
    const blocks = g.journalBlocks + fs.journal.treeBlocks.length;
    f = { mode: S_IFREG | 0o600, uid: 0, gid: 0, size: g.journalBlocks * bs, atime: now, ctime: now, mtime: now, crtime: now, links: 1, blocks512: blocks * (bs / 512), flags: EXTENTS_FL, block: journalIblock(fs), fileAcl: 0 };
  } else {
    const n = fs.inodes[ino];
    if (!n) {
      // A reserved inode with nothing in it: zeros, checksummed as mke2fs leaves them.
      if (ino < FIRST_INO && fsSeed !== undefined) {
        encodeInode({ mode: 0, uid: 0, gid: 0, size: 0, atime: 0, ctime: 0, mtime: 0, crtime: 0, links: 0, blocks512: 0, flags: 0, block: new Uint8Array(0), fileAcl: 0, extraIsize: 0 }, ino, isz, fsSeed, buf, at);
      }
      return;
    }
    let block: Uint8Array;
    let flags = n.flags;
    if (n.extents) {
      const seed = fsSeed !== undefined ? inodeChecksumSeed(fsSeed, ino) : undefined;
      block = n.extents.length === 0 ? emptyExtentRoot() : buildExtentTree(n.extents, n.treeBlocks!, bs, seed).root;
      flags |= EXTENTS_FL;
    } else if (n.kind === 'char' || n.kind === 'block') block = encodeDevice(devMajor(n.rdev ?? 0), devMinor(n.rdev ?? 0));
    else block = n.iblock ?? new Uint8Array(IBLOCK_BYTES);
    const blocks512 = (n.dataBlocks + (n.treeBlocks?.length ?? 0) + (n.xattrBlock ? 1 : 0)) * (bs / 512);
    const t = n.mtime;
    f = {
      mode: modeType[n.kind] | n.mode,
      uid: n.uid,
      gid: n.gid,
      size: n.size,
      atime: t,
      ctime: t,
      mtime: t,
      crtime: now, // when the inode was made, as mke2fs -d dates it
      links: n.links,
      blocks512,
      flags,
      block,
      fileAcl: n.xattrBlock?.block ?? 0,
    };
    if (n.ibodyXattrs) encodeIbodyXattrs(n.ibodyXattrs, buf, at, isz, EXTRA_ISIZE);
  }
  encodeInode(f, ino, isz, fsSeed, buf, at);
}

/** An extent root with no entries (an empty file or directory, as mke2fs writes it). */
function emptyExtentRoot(): Uint8Array {
  const out = new Uint8Array(IBLOCK_BYTES);
  ExtentHeader.encode({ magic: EXTENT_MAGIC, entries: 0, max: ROOT_ENTRIES, depth: 0, generation: 0 }, out, 0);
  return out;
}

void ExtentLeaf;
void COMPAT_HAS_JOURNAL;
void RO_COMPAT_SPARSE_SUPER;
