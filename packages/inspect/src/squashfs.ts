/**
 * squashfs 4.0 ("SquashFS binary format"; Linux fs/squashfs/squashfs_fs.h): the superblock,
 * compressor options, and a pass over the directory table counting entries by type (metadata
 * blocks only: file data is never read), decoded with @imgkit/squashfs's structures.
 *
 * Checks (what the kernel's squashfs_fill_super and unsquashfs refuse): magic, version 4.0, block
 * size a power of two from 4 KiB to 1 MiB agreeing with block_log, a known compressor, bytes_used
 * inside the container, every table start inside bytes_used and in the order mksquashfs writes
 * them, the root inode inside the inode table, and directory listings that parse.
 */
import { loadCodec, viewOf, type Codec, type CodecSpec, type RandomAccessReader } from '@imgkit/core';
import {
  COMPRESSION_ID,
  DirEntry,
  DirHeader,
  GzipOptions,
  Lz4Options,
  METADATA_SIZE,
  METADATA_UNCOMPRESSED,
  SQUASHFS_INVALID_BLK,
  SQUASHFS_MAGIC,
  SUPERBLOCK_FLAGS,
  Superblock,
  XzOptions,
  ZstdOptions,
} from '@imgkit/squashfs';
import { errorText, hex } from './io.js';
import { defect, node, warning, type FieldValue, type InspectNode } from './report.js';

const COMPRESSORS = new Map<number, string>(Object.entries(COMPRESSION_ID).map(([k, v]) => [v, k]));
const TYPES = ['?', 'directory', 'file', 'symlink', 'block device', 'char device', 'fifo', 'socket'];

export function looksLikeSquashfs(b: Uint8Array): boolean {
  return b.byteLength >= 4 && viewOf(b).getUint32(0, true) === SQUASHFS_MAGIC;
}

function codecFor(id: number): CodecSpec | undefined {
  switch (id) {
    case COMPRESSION_ID.gzip:
      return { name: 'zlib' };
    case COMPRESSION_ID.xz:
      return { name: 'xz' };
    case COMPRESSION_ID.lz4:
      return { name: 'lz4-block' };
    case COMPRESSION_ID.zstd:
      return { name: 'zstd' };
    default:
      return undefined;
  }
}

export async function inspectSquashfs(reader: RandomAccessReader, offset: number, o: { countEntries: boolean }): Promise<InspectNode> {
  const head = await reader.read(0, 96);
  const sb = Superblock.decode(head);
  const F = 'squashfs.superblock';
  const bytesUsed = Number(sb.bytesUsed);
  const compression = COMPRESSORS.get(sb.compressionId) ?? `unknown (${sb.compressionId})`;
  const flags = Object.entries(SUPERBLOCK_FLAGS).filter(([, bit]) => sb.flags & bit).map(([k]) => k.toLowerCase().replace(/_/g, '-'));
  const n = node('squashfs', offset, bytesUsed, {
    version: `${sb.versionMajor}.${sb.versionMinor}`,
    compression,
    blockSize: sb.blockSize,
    bytesUsed,
    inodes: sb.inodeCount,
    fragments: sb.fragmentEntryCount,
    ids: sb.idCount,
    created: new Date(sb.modificationTime * 1000).toISOString().replace('.000', ''),
    mkfsTime: sb.modificationTime,
    exportable: sb.exportTableStart !== SQUASHFS_INVALID_BLK,
    xattrs: sb.xattrIdTableStart !== SQUASHFS_INVALID_BLK,
    flags,
  });
  if (sb.magic !== SQUASHFS_MAGIC) return (defect(n, `${F}.magic`, `magic ${hex(sb.magic)} is not "hsqs"`), n);
  if (sb.versionMajor !== 4 || sb.versionMinor !== 0) return (defect(n, `${F}.versionMajor`, `version ${sb.versionMajor}.${sb.versionMinor}; only squashfs 4.0 is read by Linux`), n);
  if (sb.blockSize < 4096 || sb.blockSize > 1 << 20 || (sb.blockSize & (sb.blockSize - 1)) !== 0) defect(n, `${F}.blockSize`, `block size ${sb.blockSize} is not a power of two from 4096 to 1048576`);
  else if (1 << sb.blockLog !== sb.blockSize) defect(n, `${F}.blockLog`, `block_log ${sb.blockLog} does not match the block size ${sb.blockSize}`);
  if (!COMPRESSORS.has(sb.compressionId)) defect(n, `${F}.compressionId`, `unknown compressor id ${sb.compressionId}`);
  if (bytesUsed > reader.size) defect(n, `${F}.bytesUsed`, `bytes_used ${bytesUsed} runs past the end of the ${reader.size}-byte container: the filesystem is truncated`);
  else if (bytesUsed < 96) defect(n, `${F}.bytesUsed`, `bytes_used ${bytesUsed} is smaller than the superblock`);
  // Table starts: inside the image, in mksquashfs's order (inode < directory < [fragment] < [export] < id).
  const tables: [string, bigint][] = [
    ['inodeTableStart', sb.inodeTableStart],
    ['directoryTableStart', sb.directoryTableStart],
    ['fragmentTableStart', sb.fragmentTableStart],
    ['exportTableStart', sb.exportTableStart],
    ['idTableStart', sb.idTableStart],
    ['xattrIdTableStart', sb.xattrIdTableStart],
  ];
  for (const [name, at] of tables) {
    if (at === SQUASHFS_INVALID_BLK) {
      if (name === 'inodeTableStart' || name === 'directoryTableStart' || name === 'idTableStart') defect(n, `${F}.${name}`, `${name} is absent (all ones)`);
      continue;
    }
    if (at < 96n || at >= BigInt(Math.max(bytesUsed, 96))) defect(n, `${F}.${name}`, `${name} ${at} lies outside the filesystem (96…${bytesUsed})`);
  }
  if (sb.inodeTableStart >= sb.directoryTableStart) defect(n, `${F}.directoryTableStart`, `the directory table (${sb.directoryTableStart}) starts before the end of the inode table (${sb.inodeTableStart})`);
  const rootBlock = Number(sb.rootInodeRef >> 16n);
  if (BigInt(rootBlock) >= sb.directoryTableStart - sb.inodeTableStart) defect(n, `${F}.rootInodeRef`, `the root inode's block ${rootBlock} lies outside the inode table`);
  if (sb.flags & SUPERBLOCK_FLAGS.COMPRESSOR_OPTIONS) {
    const opt = await readMetadataBlock(reader, 96, undefined);
    if ('error' in opt) defect(n, 'squashfs.compressorOptions', opt.error);
    else n.fields.compressorOptions = decodeOptions(sb.compressionId, opt.data);
  }
  if (n.findings.some((f) => f.severity === 'defect')) return n;
  if (o.countEntries) {
    const spec = codecFor(sb.compressionId);
    if (!spec) {
      warning(n, `${F}.compressionId`, `entries not counted: imgkit does not decompress ${compression}`);
      return n;
    }
    try {
      const codec = await loadCodec(spec);
      const counts = await walkDirectoryTable(reader, sb, bytesUsed, codec);
      n.fields.entries = counts.total + 1;
      n.fields.byType = Object.fromEntries(Object.entries(counts.byType).map(([k, v]) => [k, v as FieldValue]));
      n.fields.directories = (counts.byType.directory ?? 0) + 1;
      n.fields.files = counts.byType.file ?? 0;
      for (const p of counts.problems) defect(n, 'squashfs.directoryTable', p);
    } catch (err) {
      defect(n, 'squashfs.directoryTable', `the directory table does not decode: ${errorText(err)}`);
    }
  }
  return n;
}

function decodeOptions(id: number, b: Uint8Array): Record<string, FieldValue> {
  try {
    switch (id) {
      case COMPRESSION_ID.gzip: {
        const g = GzipOptions.decode(b);
        return { level: g.compressionLevel, windowSize: g.windowSize, strategy: g.strategy };
      }
      case COMPRESSION_ID.xz: {
        const x = XzOptions.decode(b);
        return { dictionarySize: x.dictionarySize, executableFilters: x.executableFilters };
      }
      case COMPRESSION_ID.lz4: {
        const l = Lz4Options.decode(b);
        return { version: l.version, hc: (l.flags & 1) === 1 };
      }
      case COMPRESSION_ID.zstd:
        return { level: ZstdOptions.decode(b).compressionLevel };
    }
  } catch {
    /* fall through: shown raw */
  }
  return { bytes: [...b].map((x) => x.toString(16).padStart(2, '0')).join('') };
}

/** One metadata block at `at`: u16 header (bit 15 = stored uncompressed) + payload. */
async function readMetadataBlock(reader: RandomAccessReader, at: number, codec: Codec | undefined): Promise<{ data: Uint8Array; next: number } | { error: string }> {
  const h = await reader.read(at, 2);
  if (h.byteLength < 2) return { error: `metadata block at ${at} lies past the end` };
  const header = h[0]! | (h[1]! << 8);
  const len = header & ~METADATA_UNCOMPRESSED;
  if (len === 0 || len > METADATA_SIZE) return { error: `metadata block at ${at} has length ${len} (1…8192)` };
  const body = await reader.read(at + 2, len);
  if (body.byteLength < len) return { error: `metadata block at ${at} runs past the end` };
  if (header & METADATA_UNCOMPRESSED) return { data: body, next: at + 2 + len };
  if (!codec) return { error: `metadata block at ${at} is compressed` };
  try {
    return { data: codec.decompress(body, METADATA_SIZE), next: at + 2 + len };
  } catch (err) {
    return { error: `metadata block at ${at} does not decompress: ${errorText(err)}` };
  }
}

/**
 * Where the directory table ends: the first metadata block of the next table (fragment, export,
 * id: each index's first u64; xattr: its key/value table start) or bytes_used.
 */
async function directoryTableEnd(reader: RandomAccessReader, sb: ReturnType<typeof Superblock.decode>, bytesUsed: number): Promise<number> {
  const dir = Number(sb.directoryTableStart);
  let end = bytesUsed;
  const firstOf = async (at: bigint): Promise<void> => {
    if (at === SQUASHFS_INVALID_BLK || at >= BigInt(bytesUsed)) return;
    const b = await reader.read(Number(at), 8);
    if (b.byteLength < 8) return;
    const v = Number(viewOf(b).getBigUint64(0, true));
    if (v > dir && v < end) end = v;
  };
  if (sb.fragmentEntryCount > 0) await firstOf(sb.fragmentTableStart);
  await firstOf(sb.exportTableStart);
  await firstOf(sb.idTableStart);
  await firstOf(sb.xattrIdTableStart);
  for (const t of [sb.fragmentTableStart, sb.exportTableStart, sb.idTableStart, sb.xattrIdTableStart]) {
    if (t !== SQUASHFS_INVALID_BLK && Number(t) > dir && Number(t) < end) end = Number(t);
  }
  return end;
}

/** Parse every listing of the directory table (headers + entries), block by block. */
async function walkDirectoryTable(reader: RandomAccessReader, sb: ReturnType<typeof Superblock.decode>, bytesUsed: number, codec: Codec) {
  const out = { total: 0, byType: {} as Record<string, number>, problems: [] as string[] };
  const end = await directoryTableEnd(reader, sb, bytesUsed);
  let at = Number(sb.directoryTableStart);
  let pending = new Uint8Array(0);
  let remaining = 0; // entries left under the current header
  const take = (n: number): Uint8Array | undefined => {
    if (pending.byteLength < n) return undefined;
    const b = pending.subarray(0, n);
    pending = pending.subarray(n);
    return b;
  };
  while (at < end) {
    const blk = await readMetadataBlock(reader, at, codec);
    if ('error' in blk) {
      out.problems.push(blk.error);
      return out;
    }
    at = blk.next;
    const merged = new Uint8Array(pending.byteLength + blk.data.byteLength);
    merged.set(pending);
    merged.set(blk.data, pending.byteLength);
    pending = merged;
    for (;;) {
      if (remaining === 0) {
        if (pending.byteLength < DirHeader.size) break;
        const h = DirHeader.decode(pending);
        if (h.count > 255) {
          out.problems.push(`directory header with ${h.count + 1} entries (at most 256) before byte ${at}`);
          return out;
        }
        take(DirHeader.size);
        remaining = h.count + 1;
        continue;
      }
      if (pending.byteLength < DirEntry.size) break;
      const e = DirEntry.decode(pending);
      if (pending.byteLength < DirEntry.size + e.nameSize + 1) break;
      take(DirEntry.size + e.nameSize + 1);
      const type = TYPES[e.type] ?? `type ${e.type}`;
      if (e.type < 1 || e.type > 7) out.problems.push(`directory entry with inode type ${e.type} (1…7) before byte ${at}`);
      out.byType[type] = (out.byType[type] ?? 0) + 1;
      out.total++;
      remaining--;
    }
  }
  if (remaining !== 0 || pending.byteLength !== 0) out.problems.push(`the directory table ends inside a listing (${remaining} entries and ${pending.byteLength} bytes left)`);
  return out;
}
