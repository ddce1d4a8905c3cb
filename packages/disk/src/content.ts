/**
 * Partition contents as plans (STYLE.md "Composing images"): what each knows before writing — an
 * exact size (an image file, a FAT volume), only a minimum, or nothing (a squashfs, whose size is
 * known once it is written) — and `write(window, partitionBytes)`.
 *
 * - fat: planFat. With a partition size in bytes the volume fills the partition (what mkfs.fat on
 *   a partition does); `content.size` makes it smaller. Without a partition size the partition is
 *   the smallest volume that holds the tree, rounded up to the alignment, and the volume is planned
 *   again at that rounded size (falling back to the smallest volume, with a warning, in the rare
 *   sizes where mkfs.fat's layout holds the tree at the smaller size only). `fill` and percentages
 *   are planned once the partition's size is known.
 * - squashfs: writeSquashfs straight into the partition (it patches its superblock last, through
 *   `writeAt`: the disk must be seekable). Its size is the bytes written, 4 KiB padding included.
 * - ext4: planExt4. A partition size in bytes is the filesystem's size (too small: E_NO_SPACE with
 *   the size the tree needs); without one (or `size: auto`) the partition is planExt4's automatic
 *   size (the tree, a free margin and an inode reserve, in whole MiB), rounded up to the alignment,
 *   and the filesystem is planned again to fill it, as for FAT. UUID and hash seed derive from the
 *   epoch, the layout's seed, the partition's label and index unless given.
 * - image: the file's bytes; all-zero 1 MiB pieces are skipped (holes), so a sparse image stays sparse.
 * - layout: another layout, composed into the partition.
 */
import {
  ErrorCodes,
  ImgkitError,
  NoSpaceError,
  SourceChangedError,
  applyManifest,
  applyOwnership,
  deterministicId,
  isAllZero,
  parseManifest,
  tarSource,
  warnOrThrow,
  type CodecName,
  type SourceTree,
  type WarningHandler,
  type WorkerPool,
} from '@imgkit/core';
import { deterministicUuid, formatUuid, planExt4, type Ext4Plan, type PlanExt4Options } from '@imgkit/ext4';
import { planFat, type FatPlan, type PlanFatOptions } from '@imgkit/fat';
import { writeSquashfs, type SquashfsOptions } from '@imgkit/squashfs';
import type { LayoutFiles } from './files.js';
import type { Ext4ContentSpec, FatContentSpec, SourceSpec, SquashfsContentSpec } from './spec.js';
import type { ContentWindow } from './window.js';

/** An input the composition reads (the CLI checks the output is none of them). */
export interface LayoutInput {
  kind: 'dir' | 'file';
  /** As the host resolves it. */
  path: string;
  /** The layout field that names it. */
  field: string;
}

export interface ContentPlan {
  kind: 'fat' | 'squashfs' | 'ext4' | 'image' | 'layout';
  /** Exact size known before writing; undefined when only writing tells (squashfs). */
  sizeBytes: number | undefined;
  /** What the partition must at least hold (0 when unknown before writing). */
  minSizeBytes: number;
  /** The size comes from the partition (FAT without a fixed size): planned again at the final size. */
  followsPartition: boolean;
  needsSeekableSink: boolean;
  codecs: readonly CodecName[];
  inputs: LayoutInput[];
  /** Write at the window's start; returns the bytes the content takes. */
  write(window: ContentWindow, partitionBytes: number): Promise<number>;
  close(): Promise<void>;
}

export interface ContentContext {
  files: LayoutFiles;
  epoch: number | undefined;
  pool: WorkerPool | undefined;
  onWarning: WarningHandler | undefined;
  strict: boolean;
  /** Seeds the FAT serial (with the partition index and label). */
  seed: string;
  /** Field name of the content's path, for inputs. */
  field: string;
}

/** --exclude semantics (mksquashfs -e): an exact tree path, or `*` and `?` within one name. */
export function excludeMatcher(patterns: readonly string[] | undefined): ((path: string) => boolean) | undefined {
  if (!patterns || patterns.length === 0) return undefined;
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const raw of patterns) {
    const p = raw.replace(/^\/+|\/+$/g, '');
    if (/[*?]/.test(p)) globs.push(new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`));
    else exact.add(p);
  }
  return (path) => exact.has(path) || globs.some((g) => g.test(path));
}

/** A directory, or an uncompressed tar archive, with the source options applied. */
async function openSource(spec: SourceSpec & { source: string; kind: 'fat' | 'squashfs' | 'ext4' }, ctx: ContentContext): Promise<{ tree: SourceTree; inputs: LayoutInput[]; close(): Promise<void> }> {
  const { files } = ctx;
  const st = await files.stat(spec.source);
  const exclude = excludeMatcher(spec.exclude);
  const inputs: LayoutInput[] = [];
  let tree: SourceTree;
  let close = async () => {};
  if (st.kind === 'dir') {
    tree = await files.tree(spec.source, exclude ? { exclude } : {});
    inputs.push({ kind: 'dir', path: files.resolve(spec.source), field: ctx.field });
  } else if (st.kind === 'file') {
    const reader = await files.reader(spec.source);
    close = async () => reader.close?.();
    tree = tarSource(reader, { name: files.resolve(spec.source), ...(exclude ? { exclude } : {}) });
    inputs.push({ kind: 'file', path: files.resolve(spec.source), field: ctx.field });
  } else {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, {
      format: 'disk',
      path: spec.source,
      detail: st.kind === 'missing' ? 'does not exist' : 'is neither a directory nor a tar archive',
      hint: 'paths are relative to the layout file',
    });
  }
  const owners: { allRoot?: boolean; uid?: number; gid?: number } = {};
  if (spec.allRoot) owners.allRoot = true;
  if (spec.uid !== undefined) owners.uid = spec.uid;
  if (spec.gid !== undefined) owners.gid = spec.gid;
  tree = applyOwnership(tree, owners);
  if (spec.manifest !== undefined) {
    const text = await files.readText(spec.manifest);
    const manifest = parseManifest(text, files.resolve(spec.manifest), { ...(ctx.onWarning ? { onWarning: ctx.onWarning } : {}), strict: ctx.strict });
    tree = applyManifest(tree, manifest, { hostFiles: files.hostFiles(spec.manifest), mtime: ctx.epoch ?? 0 });
    inputs.push({ kind: 'file', path: files.resolve(spec.manifest), field: ctx.field });
  }
  return { tree, inputs, close };
}

/** How the partition's size is given: bytes now, from the disk later (fill, %), or from the content. */
export type PartitionSizing = { kind: 'bytes'; bytes: number } | { kind: 'later' } | { kind: 'content' };

export async function planFatContent(spec: FatContentSpec, sizing: PartitionSizing, index: number, partitionLabel: string, ctx: ContentContext): Promise<ContentPlan> {
  const src = await openSource(spec, ctx);
  try {
    const volumeId =
      spec.volumeId ??
      (() => {
        const id = deterministicId('disk.fat-volume-id', ctx.epoch ?? 0, 4, `${ctx.seed}\u0000${partitionLabel}`, index);
        return (id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24)) >>> 0;
      })();
    const base: PlanFatOptions = { volumeId, strict: ctx.strict };
    if (spec.fatBits !== undefined) base.fatBits = spec.fatBits;
    if (spec.label !== undefined) base.label = spec.label;
    if (spec.margin !== undefined) base.margin = spec.margin;
    if (spec.dereference) base.symlinks = 'follow';
    if (spec.invalidNames !== undefined) base.invalidNames = spec.invalidNames;
    if (ctx.epoch !== undefined) base.epoch = ctx.epoch;
    if (ctx.onWarning) base.onWarning = ctx.onWarning;
    const fixedSize = spec.size ?? (sizing.kind === 'bytes' ? sizing.bytes : undefined);
    const first: FatPlan = await planFat(src.tree, fixedSize !== undefined ? { ...base, size: fixedSize } : base);
    return {
      kind: 'fat',
      sizeBytes: fixedSize !== undefined ? first.sizeBytes : undefined,
      minSizeBytes: fixedSize !== undefined ? fixedSize : first.sizeBytes,
      followsPartition: fixedSize === undefined,
      needsSeekableSink: false,
      codecs: [],
      inputs: src.inputs,
      async write(window, partitionBytes) {
        let plan = first;
        if (fixedSize === undefined && partitionBytes !== first.sizeBytes) {
          try {
            plan = await planFat(src.tree, { ...base, size: partitionBytes });
          } catch (err) {
            const fallBack = sizing.kind === 'content' && err instanceof ImgkitError && (err.code === ErrorCodes.NO_SPACE || err.code === ErrorCodes.BAD_OPTION);
            if (!fallBack) throw err;
            warnOrThrow(
              { code: err.code, format: 'disk', detail: `a FAT volume of the partition's ${partitionBytes} bytes cannot hold the tree (${err.detail}); the volume keeps its smallest size, ${first.sizeBytes} bytes, and the rest of the partition stays empty` },
              ctx.onWarning,
              ctx.strict,
            );
          }
        }
        await plan.write(window);
        return plan.sizeBytes;
      },
      close: src.close,
    };
  } catch (err) {
    await src.close();
    throw err;
  }
}

/** Open the content's source and plan on it; the source is closed again when planning fails. */
async function planOnSource(spec: SourceSpec & { source: string; kind: 'fat' | 'squashfs' | 'ext4' }, ctx: ContentContext, make: (src: Awaited<ReturnType<typeof openSource>>) => Promise<ContentPlan>): Promise<ContentPlan> {
  const src = await openSource(spec, ctx);
  try {
    return await make(src);
  } catch (err) {
    await src.close();
    throw err;
  }
}

export function planExt4Content(spec: Ext4ContentSpec, sizing: PartitionSizing, index: number, partitionLabel: string, ctx: ContentContext): Promise<ContentPlan> {
  return planOnSource(spec, ctx, async (src) => {
    // Two ext4 partitions of one disk must not share a UUID: the seed, label and index go in.
    const who = `${ctx.seed}\u0000${partitionLabel}\u0000${index}`;
    const base: PlanExt4Options = {
      strict: ctx.strict,
      uuid: spec.uuid ?? formatUuid(deterministicUuid('disk.ext4-uuid', ctx.epoch ?? 0, who)),
      hashSeed: spec.hashSeed ?? formatUuid(deterministicUuid('disk.ext4-hash-seed', ctx.epoch ?? 0, who)),
    };
    for (const k of ['label', 'features', 'blockSize', 'inodeSize', 'inodeRatio', 'inodes', 'reservedPercent', 'margin', 'inodeReserve'] as const) {
      if (spec[k] !== undefined) (base as Record<string, unknown>)[k] = spec[k];
    }
    if (ctx.epoch !== undefined) base.epoch = ctx.epoch;
    if (ctx.onWarning) base.onWarning = ctx.onWarning;
    const fixedSize = sizing.kind === 'bytes' ? sizing.bytes : undefined;
    let first: Ext4Plan;
    try {
      first = await planExt4(src.tree, fixedSize !== undefined ? { ...base, size: fixedSize } : base);
    } catch (err) {
      // ext4's hints name its command line (--size, -N); here the partition's size is the filesystem's.
      if (fixedSize === undefined || !(err instanceof ImgkitError) || err.code !== ErrorCodes.NO_SPACE) throw err;
      const hint = err.field === 'inodes' ? "raise the partition's size, or give more inodes (inodes) or fewer bytes per inode (inodeRatio)" : "raise the partition's size, or give it size: auto to size it from the tree";
      throw new NoSpaceError({ format: 'ext4', ...(err.field !== undefined ? { field: err.field } : {}), detail: err.detail, hint, cause: err });
    }
    return {
      kind: 'ext4',
      sizeBytes: fixedSize !== undefined ? first.sizeBytes : undefined,
      minSizeBytes: first.sizeBytes,
      followsPartition: fixedSize === undefined,
      needsSeekableSink: false,
      codecs: [],
      inputs: src.inputs,
      async write(window, partitionBytes) {
        // The filesystem fills its partition (rounded up to the alignment, or fill / %).
        const plan = fixedSize === undefined && partitionBytes !== first.sizeBytes ? await planExt4(src.tree, { ...base, size: partitionBytes }) : first;
        await plan.write(window);
        return plan.sizeBytes;
      },
      close: src.close,
    };
  });
}

const SQUASHFS_CODEC: Record<NonNullable<SquashfsContentSpec['compression']>, CodecName> = { gzip: 'zlib', zstd: 'zstd', lz4: 'lz4-block', xz: 'xz' };

export async function planSquashfsContent(spec: SquashfsContentSpec, ctx: ContentContext): Promise<ContentPlan> {
  const src = await openSource(spec, ctx);
  const options: SquashfsOptions = { strict: ctx.strict };
  if (spec.compression !== undefined) options.compression = spec.compression;
  if (spec.level !== undefined) options.level = spec.level;
  if (spec.blockSize !== undefined) options.blockSize = spec.blockSize;
  if (spec.fragments !== undefined) options.fragments = spec.fragments;
  if (spec.duplicates !== undefined) options.duplicates = spec.duplicates;
  if (spec.exportTable !== undefined) options.exportTable = spec.exportTable;
  if (ctx.epoch !== undefined) options.epoch = ctx.epoch;
  if (ctx.pool) options.pool = ctx.pool;
  if (ctx.onWarning) options.onWarning = ctx.onWarning;
  return {
    kind: 'squashfs',
    sizeBytes: undefined,
    minSizeBytes: 0,
    followsPartition: false,
    needsSeekableSink: true,
    codecs: [SQUASHFS_CODEC[spec.compression ?? 'gzip']],
    inputs: src.inputs,
    async write(window) {
      await writeSquashfs(src.tree, window, options);
      return window.extent;
    },
    close: src.close,
  };
}

/** Bytes per read of an image file; an all-zero piece becomes a hole. */
const IMAGE_CHUNK = 1 << 20;

export async function planImageContent(path: string, ctx: ContentContext): Promise<ContentPlan> {
  const st = await ctx.files.stat(path);
  if (st.kind !== 'file') {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'disk', path, detail: st.kind === 'missing' ? 'does not exist' : 'is not a regular file', hint: 'paths are relative to the layout file' });
  }
  const reader = await ctx.files.reader(path);
  const size = reader.size;
  return {
    kind: 'image',
    sizeBytes: size,
    minSizeBytes: size,
    followsPartition: false,
    needsSeekableSink: false,
    codecs: [],
    inputs: [{ kind: 'file', path: ctx.files.resolve(path), field: ctx.field }],
    async write(window) {
      await copyImage(reader, window, path);
      return size;
    },
    close: async () => reader.close?.(),
  };
}

/** Stream a whole file into a sink, zero pieces as holes; a file that changed size is E_SOURCE_CHANGED. */
export async function copyImage(reader: { size: number; read(offset: number, length: number): Promise<Uint8Array> }, sink: { write(c: Uint8Array): Promise<void>; writeZeros?(n: number): Promise<void> }, path: string): Promise<void> {
  for (let off = 0; off < reader.size; off += IMAGE_CHUNK) {
    const n = Math.min(IMAGE_CHUNK, reader.size - off);
    const chunk = await reader.read(off, n);
    if (chunk.byteLength !== n) throw new SourceChangedError({ format: 'disk', path, detail: `the file is ${off + chunk.byteLength} bytes now, ${reader.size} when it was opened` });
    if (sink.writeZeros && isAllZero(chunk)) await sink.writeZeros(n);
    else await sink.write(chunk);
  }
}
