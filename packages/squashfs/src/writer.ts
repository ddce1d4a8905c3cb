/**
 * writeSquashfs: a squashfs 4.0 image, as the Linux kernel (fs/squashfs) and squashfs-tools read it.
 *
 * Emission order (the same as mksquashfs):
 *   1. the superblock — 96 zero bytes now, patched through `writeAt` once every table start is known;
 *   2. the compressor options, an uncompressed metadata block, when they differ from the defaults
 *      (always for lz4);
 *   3. data: each file's blocks in walk order, each compressed when that makes it smaller and stored
 *      raw (bit 24) otherwise; all-zero blocks are not written (size 0, a hole). Tails of small files
 *      are packed into fragment blocks, written when full, between the data blocks. Blocks go
 *      through the worker pool (`pool.map(jobs, 'compress')`), whose results come back in job order,
 *      so the bytes do not depend on the worker count; the pool bounds the blocks in flight;
 *   4. the inode table and 5. the directory table, built depth first (children, then their
 *      directory) from the plan: directory listings need their children's inode references, and a
 *      directory's inode needs its listing's position;
 *   6. the fragment table, 7. the export (NFS lookup) table, 8. the id table, 9. the xattr table —
 *      each metadata blocks followed by the array of their offsets the superblock points at;
 *   10. zero padding to a multiple of 4 KiB (not counted in bytes_used); then the superblock.
 *
 * Duplicate files: only files whose size is shared by another file are candidates. Such a file is
 * hashed with SHA-256 before its blocks are queued; when an earlier file had the same size and
 * digest, the inode points at that file's blocks and fragment instead. (A SHA-256 collision between
 * two files is not a practical concern; mksquashfs instead re-reads and byte-compares.) Files of
 * up to 1 MiB are held in memory while hashed; larger candidates are read twice.
 */
import {
  alignUp,
  checkLevel,
  ErrorCodes,
  FieldRangeError,
  ImgkitError,
  Sha256,
  inlinePool,
  isAllZero,
  loadCodec,
  readChecked,
  ReadAhead,
  rechunk,
  requireSeekable,
  resolveEpoch,
  toHex,
  warnOrThrow,
  type ByteSink,
  type ImagePlan,
  type ImageRequirements,
  type SourceEntry,
  type SourceTree,
  type WarningHandler,
  type WorkerPool,
  type CodecSpec,
  copyBytes,
} from '@imgkit/core';
import { codecSpecFor, compressionId, DEFAULT_LEVEL, encodeCompressorOptions, SQUASHFS_LEVELS, type SquashfsCompression } from './compressor.js';
import { writeDirectory, type DirectoryEntryInfo } from './directory.js';
import { encodeExportTable } from './export-table.js';
import { encodeFragmentTable, FragmentPacker, type FragmentInfo } from './fragment.js';
import { IdTable } from './id-table.js';
import {
  dataSize,
  encodeDevInode,
  encodeDirInode,
  encodeFileInode,
  encodeIpcInode,
  encodeRdev,
  encodeSymlinkInode,
  INODE_TYPE,
  MIN_INODE_BYTES,
  NO_FRAGMENT,
  NO_XATTR,
} from './inode.js';
import { encodeMetadataBlock, metadataRef, MetadataWriter, METADATA_SIZE, type BlockCompressor } from './metadata.js';
import { forEachPostOrder, planTree, type FileData, type InodeRecord, type Plan, type PlanNode } from './plan.js';
import { SQUASHFS_INVALID_BLK, SQUASHFS_MAGIC, SUPERBLOCK_FLAGS, Superblock } from './superblock.js';
import { XattrTable } from './xattr.js';
import { applyOwnership, devMajor, devMinor, encodeUtf8 } from '@imgkit/core';

export interface SquashfsOptions {
  /** Compressor for data and metadata. @default 'gzip' */
  compression?: SquashfsCompression;
  /** Compression level; mksquashfs's defaults when absent (gzip 9, zstd 15, xz preset 6). lz4 has none. */
  level?: number;
  /** Data block size in bytes: a power of two, 4096 … 1048576. @default 131072 */
  blockSize?: number;
  /** Pack small files into shared fragment blocks (mksquashfs -no-fragments turns it off). @default true */
  fragments?: boolean;
  /** Put the tail of every file (not only of files shorter than a block) into fragments. @default false */
  alwaysUseFragments?: boolean;
  /** Store files with identical content once (mksquashfs -no-duplicates turns it off). @default true */
  duplicates?: boolean;
  /** Write the NFS export table (mksquashfs -no-exports turns it off). @default true */
  exportTable?: boolean;
  /** Pad the image to a multiple of 4 KiB (mksquashfs -nopad turns it off). @default true */
  pad?: boolean;
  /**
   * Reproducible-build time (SOURCE_DATE_EPOCH), seconds since 1970: the mkfs time, and file times
   * newer than it are clamped to it (as every imgkit writer does). @default 0, no clamping
   */
  epoch?: number;
  /** mkfs time only, without clamping file times (mksquashfs -mkfs-time). @default epoch */
  mkfsTime?: number;
  /** Where data blocks are compressed. @default inlinePool() */
  pool?: WorkerPool;
  /** Called for lossy conversions (e.g. an xattr outside the namespaces squashfs stores). */
  onWarning?: WarningHandler;
  /** Turn warnings into errors. @default false */
  strict?: boolean;
}

export interface SquashfsResult {
  bytesUsed: number;
  imageBytes: number;
  inodeCount: number;
  fragmentCount: number;
  duplicateFiles: number;
  idCount: number;
}

interface ResolvedOptions {
  compression: SquashfsCompression;
  level: number | undefined;
  blockSize: number;
  blockLog: number;
  fragments: boolean;
  alwaysUseFragments: boolean;
  duplicates: boolean;
  exportTable: boolean;
  pad: boolean;
  epoch: number;
  onWarning: WarningHandler | undefined;
  strict: boolean;
}

const COMPRESSIONS: readonly SquashfsCompression[] = ['gzip', 'zstd', 'lz4', 'xz'];

function badOption(field: string, detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'squashfs', field: `squashfs.${field}`, detail, ...(hint ? { hint } : {}) });
}

export function resolveOptions(o: SquashfsOptions = {}): ResolvedOptions {
  const compression = o.compression ?? 'gzip';
  if (!COMPRESSIONS.includes(compression)) {
    throw badOption('compression', `unknown compressor "${String(compression)}"; squashfs here supports gzip, zstd, lz4, xz`);
  }
  const blockSize = o.blockSize ?? 131072;
  if (!Number.isInteger(blockSize) || blockSize < 4096 || blockSize > 1048576 || (blockSize & (blockSize - 1)) !== 0) {
    throw badOption('blockSize', `block size ${String(blockSize)} is not a power of two in 4096…1048576`);
  }
  checkLevel(o.level, { label: compression, format: 'squashfs', field: 'squashfs.level', range: SQUASHFS_LEVELS[compression] });
  return {
    compression,
    level: o.level ?? DEFAULT_LEVEL[compression],
    blockSize,
    blockLog: Math.log2(blockSize),
    fragments: o.fragments ?? true,
    alwaysUseFragments: o.alwaysUseFragments ?? false,
    duplicates: o.duplicates ?? true,
    exportTable: o.exportTable ?? true,
    pad: o.pad ?? true,
    epoch: resolveEpoch(o.mkfsTime ?? o.epoch, 'squashfs'),
    onWarning: o.onWarning,
    strict: o.strict ?? false,
  };
}

interface CompressJob {
  codec: CodecSpec;
  data: Uint8Array;
}
interface CompressResult {
  data: Uint8Array;
}

/** What the writer does with each pool result (or without one, for holes), in job order. */
type Pending =
  | { t: 'block'; file: FileData; raw: Uint8Array; first: boolean; hole: false }
  // A hole keeps no bytes, so a long run of them costs a few bytes each, not a block each.
  | { t: 'block'; file: FileData; raw: null; first: boolean; hole: true }
  | { t: 'fragment'; index: number; raw: Uint8Array };

const DEDUP_BUFFER_LIMIT = 1 << 20;
const BASIC_TYPE: Record<InodeRecord['kind'], number> = {
  dir: INODE_TYPE.dir,
  file: INODE_TYPE.file,
  symlink: INODE_TYPE.symlink,
  block: INODE_TYPE.block,
  char: INODE_TYPE.char,
  fifo: INODE_TYPE.fifo,
  socket: INODE_TYPE.socket,
};

/** A planned squashfs image (core's ImagePlan). */
export interface SquashfsPlan extends ImagePlan<SquashfsResult> {
  /** Only writing tells: data is compressed and duplicates are found by reading. */
  readonly sizeBytes: undefined;
  /**
   * A true lower bound: the superblock, the compressor options, the smallest the inode, id,
   * export and fragment tables can be for this tree (at least a 2-byte header and one byte per
   * metadata block, and their indexes), padded to 4 KiB unless `pad` is off. Data can compress
   * to almost nothing (and zero blocks to nothing), so it counts for nothing here.
   */
  readonly minSizeBytes: number;
  /** The superblock is patched last (`writeAt`): a pipe will not do. */
  readonly needsSeekableSink: true;
  /** Inodes in the image (hard-linked names share one). */
  readonly inodeCount: number;
  /** Regular-file inodes. */
  readonly files: number;
}

/** What a squashfs image with these options needs from its output and its pool, before any walk. */
export function squashfsRequirements(options: Pick<SquashfsOptions, 'compression'> = {}): ImageRequirements & { needsSeekableSink: true } {
  const compression = options.compression ?? 'gzip';
  if (!COMPRESSIONS.includes(compression)) throw badOption('compression', `unknown compressor "${String(compression)}"; squashfs here supports gzip, zstd, lz4, xz`);
  return { needsSeekableSink: true, codecs: [codecSpecFor(compression, undefined, 131072).name] };
}

/** See SquashfsPlan.minSizeBytes. */
function minImageBytes(plan: Plan, o: ResolvedOptions, compOpts: Uint8Array | null): number {
  const METADATA_MIN = 3; // a metadata block: 2-byte header, at least one byte (metadata.ts)
  const blocksFor = (bytes: number) => Math.ceil(bytes / METADATA_SIZE);
  const inodes = plan.inodes.length;
  let n = Superblock.size + (compOpts ? 2 + compOpts.byteLength : 0);
  n += METADATA_MIN * blocksFor(MIN_INODE_BYTES * inodes); // inode table
  n += METADATA_MIN + 8; // id table: at least one id, one block and its index entry
  if (o.exportTable) n += (METADATA_MIN + 8) * blocksFor(8 * inodes); // export table: 8 bytes per inode
  const tails = o.fragments && plan.files.some((f) => f.entry.size % o.blockSize > 0 && (f.entry.size < o.blockSize || o.alwaysUseFragments));
  if (tails) n += 1 + METADATA_MIN + 8; // a fragment block, and the fragment table
  return o.pad ? alignUp(n, 4096) : n;
}

/**
 * Plan `source` as a squashfs image: options checked, one walk of the metadata (checked by core's
 * TreeChecker), inodes numbered; no content is read. `plan.write(sink)` writes the image at the
 * sink's position (a seekable sink: the superblock is patched last, relative to that position).
 */
export async function planSquashfs(source: SourceTree, options: SquashfsOptions = {}): Promise<SquashfsPlan> {
  const o = resolveOptions(options);
  const plan = await planTree(options.epoch !== undefined ? applyOwnership(source, { epoch: options.epoch }) : source);
  const compOpts = encodeCompressorOptions(o.compression, options.level);
  return {
    ...squashfsRequirements(o),
    sizeBytes: undefined,
    minSizeBytes: minImageBytes(plan, o, compOpts),
    inodeCount: plan.inodes.length,
    files: plan.files.length,
    write: (sink) => writePlanned(plan, sink, o, options),
  };
}

/**
 * Write `source` as a squashfs image to `sink`, starting at its current position (does not close
 * the sink: wrap in `withSink`). The same as `planSquashfs(source, options).then((p) => p.write(sink))`,
 * except that a sink that cannot seek is refused before the walk.
 */
export async function writeSquashfs(source: SourceTree, sink: ByteSink, options: SquashfsOptions = {}): Promise<SquashfsResult> {
  resolveOptions(options);
  requireSeekable(sink, 'squashfs', 'the superblock is written last, at the image\'s start');
  const plan = await planSquashfs(source, options);
  return plan.write(sink);
}

/** Emit a planned image (the order at the top of this file). */
async function writePlanned(plan: Plan, sink: ByteSink, o: ResolvedOptions, options: SquashfsOptions): Promise<SquashfsResult> {
  requireSeekable(sink, 'squashfs', 'the superblock is written last, at the image\'s start');
  const codecSpec = codecSpecFor(o.compression, o.level, o.blockSize);
  const codec = await loadCodec(codecSpec);
  const compress: BlockCompressor = (b) => codec.compress(b);
  const pool = options.pool ?? inlinePool();
  // A plan may be written more than once: forget where the last write put things.
  for (const rec of plan.inodes) {
    delete rec.ref;
    delete rec.data;
  }
  const base = sink.position;
  const here = () => sink.position - base;

  // 1–2. Superblock placeholder, compressor options.
  await sink.write(new Uint8Array(Superblock.size));
  const compOpts = encodeCompressorOptions(o.compression, options.level);
  if (compOpts) await sink.write(encodeMetadataBlock(compOpts, null));

  // 3. Data blocks and fragments.
  const fragments: FragmentInfo[] = [];
  const packer = new FragmentPacker(o.blockSize);
  const queue: Pending[] = [];
  let queueHead = 0;
  let duplicateFiles = 0;
  const seen = new Map<string, FileData>();

  // Small files are read a few ahead of the one being cut into blocks (reading is latency-bound).
  const ahead = new ReadAhead(plan.files.map((rec) => rec.entry));
  async function* jobs(): AsyncIterable<CompressJob> {
    for (const [index, rec] of plan.files.entries()) {
      const entry: SourceEntry = { ...rec.entry, read: () => ahead.read(index) };
      const size = entry.size;
      const data: FileData = { size, startBlock: 0, blockSizes: [], fragment: NO_FRAGMENT, fragmentOffset: 0, sparseBytes: 0 };
      rec.data = data;
      if (size === 0) continue;
      let content: AsyncIterable<Uint8Array> | undefined;
      if (o.duplicates && (plan.sizeCounts.get(size) ?? 0) > 1) {
        const hash = new Sha256();
        const keep: Uint8Array[] | null = size <= DEDUP_BUFFER_LIMIT ? [] : null;
        for await (const chunk of readChecked(entry, 'squashfs')) {
          hash.update(chunk);
          keep?.push(copyBytes(chunk));
        }
        const key = `${size}:${toHex(hash.digest())}`;
        const earlier = seen.get(key);
        if (earlier) {
          rec.data = earlier;
          duplicateFiles++;
          continue;
        }
        seen.set(key, data);
        if (keep) {
          content = (async function* () {
            yield* keep;
          })();
        }
      }
      content ??= readChecked(entry, 'squashfs');
      const tail = size % o.blockSize;
      const tailInFragment = o.fragments && tail > 0 && (size < o.blockSize || o.alwaysUseFragments);
      const blockCount = Math.floor(size / o.blockSize) + (tail > 0 && !tailInFragment ? 1 : 0);
      let i = 0;
      for await (const block of rechunk(content, o.blockSize)) {
        if (i < blockCount) {
          if (isAllZero(block)) {
            queue.push({ t: 'block', file: data, raw: null, first: i === 0, hole: true });
            data.sparseBytes += block.byteLength;
          } else {
            // A copy: sources may reuse their read buffers, and the raw bytes are kept until the
            // compressed result shows whether they are needed.
            const raw = copyBytes(block);
            queue.push({ t: 'block', file: data, raw, first: i === 0, hole: false });
            yield { codec: codecSpec, data: raw };
          }
        } else {
          const placed = packer.add(block);
          data.fragment = placed.fragment;
          data.fragmentOffset = placed.offset;
          if (placed.closed) {
            queue.push({ t: 'fragment', index: placed.fragment - 1, raw: placed.closed });
            yield { codec: codecSpec, data: placed.closed };
          }
        }
        i++;
      }
    }
    const last = packer.close();
    if (last) {
      queue.push({ t: 'fragment', index: packer.count - 1, raw: last });
      yield { codec: codecSpec, data: last };
    }
  }

  const emit = async (p: Pending, compressed: Uint8Array | null): Promise<void> => {
    if (p.t === 'block') {
      if (p.first) p.file.startBlock = here();
      if (p.hole) {
        p.file.blockSizes.push(0);
        return;
      }
    }
    const raw = p.raw!;
    const useCompressed = compressed !== null && compressed.byteLength > 0 && compressed.byteLength < raw.byteLength;
    const bytes = useCompressed ? compressed : raw;
    const start = here();
    await sink.write(bytes);
    const word = dataSize(bytes.byteLength, { uncompressed: !useCompressed });
    if (p.t === 'block') p.file.blockSizes.push(word);
    else fragments[p.index] = { start, sizeWord: word };
  };
  // Holes have no pool result: handle those queued before the job a result belongs to.
  const emitHolesBefore = async (): Promise<void> => {
    for (;;) {
      const p = queue[queueHead];
      if (!p || p.t !== 'block' || !p.hole) return;
      queueHead++;
      await emit(p, null);
    }
  };
  for await (const result of pool.map<CompressJob, CompressResult>(jobs(), 'compress')) {
    await emitHolesBefore();
    const p = queue[queueHead++]!;
    await emit(p, result.data);
    if (queueHead > 4096) {
      queue.splice(0, queueHead);
      queueHead = 0;
    }
  }
  await emitHolesBefore();
  if (queueHead !== queue.length) {
    // The pool yields one result per job, in job order; anything else is a broken pool.
    throw new ImgkitError(ErrorCodes.WORKER, { format: 'squashfs', field: 'pool', detail: `${queue.length - queueHead} queued data blocks or fragments got no result from the pool`, hint: 'a WorkerPool must yield one result per job, in job order' });
  }

  // 4–5. Inode and directory tables, depth first.
  const inodeTable = new MetadataWriter(compress);
  const dirTable = new MetadataWriter(compress);
  const ids = new IdTable();
  const xattrs = new XattrTable();
  const inodeCount = plan.inodes.length;
  const writeInode = (node: PlanNode): void => {
    const rec = node.inode;
    if (rec.ref) return; // another name of a hard-linked inode
    const e = rec.entry;
    const xattr = e.xattrs && e.xattrs.length > 0 ? addXattrs(xattrs, e, o) : NO_XATTR;
    const header = {
      mode: e.mode & 0o7777,
      uidIndex: ids.get(e.uid, e.path),
      gidIndex: ids.get(e.gid, e.path),
      mtime: e.mtime,
      inodeNumber: rec.number,
    };
    let bytes: Uint8Array;
    switch (rec.kind) {
      case 'dir': {
        const entries: DirectoryEntryInfo[] = node.children!.map((c) => ({
          name: c.name,
          inodeBlock: c.inode.ref!.block,
          inodeOffset: c.inode.ref!.offset,
          inodeNumber: c.inode.number,
          type: BASIC_TYPE[c.inode.kind],
        }));
        const d = writeDirectory(dirTable, entries);
        bytes = encodeDirInode(header, {
          startBlock: d.startBlock,
          offset: d.offset,
          fileSize: d.fileSize,
          nlink: rec.nlink,
          // mksquashfs gives the root a parent one past the last inode.
          parentInode: node.parent ? node.parent.inode.number : inodeCount + 1,
          xattr,
          index: d.index,
        });
        break;
      }
      case 'file': {
        const f = rec.data!;
        bytes = encodeFileInode(header, {
          startBlock: f.startBlock,
          fileSize: f.size,
          sparseBytes: f.sparseBytes,
          nlink: rec.nlink,
          fragment: f.fragment,
          fragmentOffset: f.fragmentOffset,
          xattr,
          blockSizes: f.blockSizes,
        });
        break;
      }
      case 'symlink':
        bytes = encodeSymlinkInode(header, rec.nlink, encodeUtf8(e.linkTarget ?? ''), xattr);
        break;
      case 'char':
      case 'block': {
        const rdev = e.rdev ?? 0;
        const major = devMajor(rdev);
        const minor = devMinor(rdev);
        if (major > 0xfff || minor > 0xfffff) {
          throw new ImgkitError(ErrorCodes.FIELD_RANGE, {
            format: 'squashfs',
            path: e.path,
            detail: `device ${major}:${minor} does not fit squashfs's 32-bit device number (major ≤ 4095, minor ≤ 1048575)`,
          });
        }
        bytes = encodeDevInode(header, rec.kind, rec.nlink, encodeRdev(major, minor), xattr);
        break;
      }
      case 'fifo':
      case 'socket':
        bytes = encodeIpcInode(header, rec.kind, rec.nlink, xattr);
        break;
    }
    rec.ref = inodeTable.position();
    inodeTable.append(bytes);
  };
  forEachPostOrder(plan.root, (node) => {
    try {
      writeInode(node);
    } catch (err) {
      // Name the entry whose field did not fit (e.g. an mtime before 1970 or after 2106).
      if (err instanceof FieldRangeError && err.path === undefined) {
        throw new FieldRangeError({ format: 'squashfs', path: node.path, ...(err.field ? { field: err.field } : {}), detail: err.detail, cause: err });
      }
      throw err;
    }
  });
  const rootRef = metadataRef(plan.root.inode.ref!);

  const inodeTableStart = here();
  for (const b of inodeTable.finish()) await sink.write(b);
  const directoryTableStart = here();
  for (const b of dirTable.finish()) await sink.write(b);

  // 6. Fragment table.
  const frag = encodeFragmentTable(fragments, compress, here());
  await sink.write(frag.bytes);
  const fragmentTableStart = frag.indexOffset;

  // 7. Export table.
  let exportTableStart = SQUASHFS_INVALID_BLK;
  if (o.exportTable) {
    const ex = encodeExportTable(
      plan.inodes.map((r) => metadataRef(r.ref!)),
      compress,
      here(),
    );
    await sink.write(ex.bytes);
    exportTableStart = BigInt(ex.indexOffset);
  }

  // 8. Id table.
  const idt = ids.encode(compress, here());
  await sink.write(idt.bytes);

  // 9. Xattr table.
  let xattrIdTableStart = SQUASHFS_INVALID_BLK;
  if (xattrs.count > 0) {
    const xt = xattrs.encode(compress, here());
    await sink.write(xt.bytes);
    xattrIdTableStart = BigInt(xt.headerOffset);
  }

  // 10. Padding, then the superblock.
  const bytesUsed = here();
  if (o.pad && bytesUsed % 4096 !== 0) await sink.write(new Uint8Array(4096 - (bytesUsed % 4096)));
  const F = SUPERBLOCK_FLAGS;
  const flags =
    (o.fragments ? 0 : F.NO_FRAGMENTS) |
    (o.alwaysUseFragments ? F.ALWAYS_FRAGMENTS : 0) |
    (o.duplicates ? F.DUPLICATES : 0) |
    (o.exportTable ? F.EXPORTABLE : 0) |
    (compOpts ? F.COMPRESSOR_OPTIONS : 0);
  const sb = Superblock.encode({
    magic: SQUASHFS_MAGIC,
    inodeCount,
    modificationTime: o.epoch,
    blockSize: o.blockSize,
    fragmentEntryCount: fragments.length,
    compressionId: compressionId(o.compression),
    blockLog: o.blockLog,
    flags,
    idCount: ids.ids.length,
    versionMajor: 4,
    versionMinor: 0,
    rootInodeRef: rootRef,
    bytesUsed: BigInt(bytesUsed),
    idTableStart: BigInt(idt.indexOffset),
    xattrIdTableStart,
    inodeTableStart: BigInt(inodeTableStart),
    directoryTableStart: BigInt(directoryTableStart),
    fragmentTableStart: BigInt(fragmentTableStart),
    exportTableStart,
  });
  await sink.writeAt(base, sb);
  return {
    bytesUsed,
    imageBytes: here(),
    inodeCount,
    fragmentCount: fragments.length,
    duplicateFiles,
    idCount: ids.ids.length,
  };
}

function addXattrs(table: XattrTable, e: SourceEntry, o: ResolvedOptions): number {
  const kept = e.xattrs!.filter((x) => {
    if (/^(user|trusted|security)\../.test(x.name)) return true;
    warnOrThrow(
      { code: ErrorCodes.UNSUPPORTED_ENTRY, format: 'squashfs', path: e.path, detail: `xattr "${x.name}" dropped: squashfs stores only user., trusted. and security. names` },
      o.onWarning,
      o.strict,
    );
    return false;
  });
  return kept.length > 0 ? table.add(kept, e.path) : NO_XATTR;
}
