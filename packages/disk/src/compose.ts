/**
 * The composer: a checked layout → a partitioned disk, written front to back.
 *
 * Plan (`planLayout`): every content is planned (FAT volumes walk their trees, images are opened;
 * nothing is read), then @imgkit/partition's solver places the partitions. A partition whose size
 * only writing can tell — a squashfs without `size` — gets a provisional size of one alignment
 * unit; its start does not depend on its size (it follows the partitions before it), which is why
 * it may not come after a `fill` partition unless its `offset` is pinned.
 *
 * Write: everything goes out in offset order — raw images, partitions (content, then zeros to the
 * partition's end), gaps as `writeZeros` (holes on a file). When the writer reaches a partition of
 * unknown size, the content is written in place at the end of the output, its size is measured,
 * and the solver runs again with it: what follows moves, what was written cannot (the composer
 * checks). On a seekable output the table regions (MBR, GPT headers and arrays, EBRs) go out as
 * zeros in their place and are patched last, so a disk that fails half-way never carries a valid
 * table; on a sequential output (no squashfs, every size known) they are written in order.
 *
 * An output that cannot seek back (a pipe, a VM-image container sink) and a plan that patches
 * (squashfs, unknown sizes): the disk is rehearsed first — written once into a sink that stores
 * nothing, which measures and keeps the patches — and then replayed into the output with every
 * patched range sent in its final form when the stream reaches it (rehearsal.ts). `prepare()` runs
 * the rehearsal ahead, to learn the final size (a container sink's virtual size) and, when every
 * content is rehearsed, the exact allocation map a table-first container needs on a pipe.
 *
 * Memory: one content at a time, each streaming (FAT: one 1 MiB buffer; squashfs: its pool's
 * blocks in flight; images: 1 MiB pieces); the composer itself keeps the layout and the list of
 * written ranges (the allocation map).
 */
import {
  ErrorCodes,
  ImgkitError,
  NoSpaceError,
  SourceChangedError,
  requireSeekable,
  writeZeros,
  type ByteSink,
  type CodecName,
  type WarningHandler,
  type WorkerPool,
} from '@imgkit/core';
import { DEFAULT_ALIGNMENT_BYTES, parseSize, planPartitionTable, type DiskLayout, type PartitionSpec, type PartitionTableSpec, type ResolvedPartition } from '@imgkit/partition';
import { copyImage, planExt4Content, planFatContent, planImageContent, planSquashfsContent, type ContentContext, type ContentPlan, type LayoutInput, type PartitionSizing } from './content.js';
import { dirOf, type LayoutFiles } from './files.js';
import { NO_FILE, layoutError, locatorOf, relocate, validateLayout, type DiskLayoutSpec, type Locator } from './spec.js';
import { parseLayoutText, type LayoutPath, type LayoutText } from './text.js';
import { ContentWindow, TrackingSink, type ByteRange } from './window.js';
import { HoldingTee, RehearsalSink, ReplaySink, type HeldPiece, type Patch } from './rehearsal.js';

export interface ComposeOptions {
  /** Where the layout's paths lead. */
  files: LayoutFiles;
  /** Seconds (SOURCE_DATE_EPOCH): file times are clamped to it; it seeds GUIDs and serials. @default 0, no clamping */
  epoch?: number;
  /** Compresses squashfs blocks. @default inline */
  pool?: WorkerPool;
  onWarning?: WarningHandler;
  /** Warnings become errors. @default false */
  strict?: boolean;
  /**
   * Written to an output that cannot seek back, squashfs contents are rehearsed (rehearsal.ts);
   * up to this many bytes of them (all together) are kept in memory from the rehearsal, so they
   * are not compressed a second time. 0: always written again. @default 64 MiB
   */
  rehearsalMemoryBytes?: number;
}

/** `ComposeOptions.rehearsalMemoryBytes` by default. */
export const DEFAULT_REHEARSAL_MEMORY_BYTES = 64 << 20;

export interface ComposedPartition {
  /** Index in the layout's `partitions`. */
  index: number;
  number: number;
  label: string;
  offset: number;
  sizeBytes: number;
  content: ContentPlan['kind'] | 'none';
  /** Bytes the content took (its size, before the zeros up to the partition's end). */
  contentBytes: number;
}

export interface DiskResult {
  /** The final layout (sectors, GUIDs, table bytes). */
  layout: DiskLayout;
  sizeBytes: number;
  partitions: ComposedPartition[];
  /**
   * The allocation map: byte ranges written with data, sorted, merged; everything else was skipped
   * (`writeZeros`: holes on a file). A VM-image writer can allocate exactly these.
   */
  allocated: ByteRange[];
}

export interface PrepareOptions {
  /**
   * Also compute the exact allocation map (every content is rehearsed: read, and squashfs
   * compressed, once more). A table-first container (qcow2, dynamic VHD/VHDX, monolithicSparse
   * VMDK) written to a pipe needs it before its first byte. @default false
   */
  allocation?: boolean;
}

export interface PreparedLayout {
  /** The final disk size: a container sink's virtual size. */
  sizeBytes: number;
  /** The final layout (squashfs partitions without a size measured). */
  layout: DiskLayout;
  /** With `allocation: true`: the ranges `write()` will write with data (equal to its `allocated`). */
  allocation: ByteRange[] | undefined;
  /** Indexes (in the layout's `partitions`) of the contents written in the rehearsal. */
  rehearsed: number[];
  /** Of those, the ones kept in memory: `write()` sends their bytes without writing them again. */
  kept: number[];
}

export interface LayoutPlan {
  spec: DiskLayoutSpec;
  /** The epoch the plan was made with (seeds GUIDs, dates contents). */
  epoch: number | undefined;
  /** Exact disk size when known before writing (no content of unknown size), else undefined. */
  sizeBytes: number | undefined;
  /** The disk at least this big (with unknown contents at one alignment unit). */
  minSizeBytes: number;
  /** Squashfs patches its superblock and unknown sizes need the table patched last. */
  needsSeekableSink: boolean;
  codecs: readonly CodecName[];
  /** The layout as planned: final when `sizeBytes` is known, provisional otherwise. */
  layout: DiskLayout;
  /** Every file and directory the composition reads. */
  inputs: LayoutInput[];
  /**
   * Learn what an output that cannot seek back needs before the first byte: the final size and
   * layout, and with `allocation: true` the exact allocation map (see rehearsal.ts). A plan that
   * patches nothing and needs no map answers at once; otherwise the contents that patch (or, for
   * the map, all of them) are written once into a sink that stores nothing. `write()` then reuses
   * that rehearsal. Call it before `write()`.
   */
  prepare(options?: PrepareOptions): Promise<PreparedLayout>;
  /**
   * Write the disk at the sink's position. A seekable sink gets the table patched last; a sink
   * that cannot seek back (a pipe, a container sink such as vdisk's qcow2Sink) gets every byte in
   * order — rehearsed first (`prepare()`) when the plan patches (squashfs, unknown sizes).
   */
  write(sink: ByteSink): Promise<DiskResult>;
  /** Release open files (readers) without writing. `write` releases them itself. */
  close(): Promise<void>;
}

/** Layouts inside layouts: deeper than this is a loop. */
const MAX_DEPTH = 8;

/**
 * A plan's composition without the write-once guard and without closing its files: a nested
 * layout is written by its parent, once more when the parent is rehearsed.
 */
const composers = new WeakMap<LayoutPlan, (sink: ByteSink) => Promise<DiskResult>>();

interface Internal extends ComposeOptions {
  depth: number;
}

/** Parse, check and plan a layout file's text (YAML or JSON). */
export async function planLayoutFile(text: string, name: string | undefined, options: ComposeOptions): Promise<LayoutPlan> {
  const parsed = parseLayoutText(text, name);
  return planLayout(parsed, options);
}

/** Plan a layout: parsed text (errors name its lines) or a spec object (errors name fields). */
export async function planLayout(input: LayoutText | DiskLayoutSpec, options: ComposeOptions): Promise<LayoutPlan> {
  const budget = options.rehearsalMemoryBytes;
  if (budget !== undefined && !(Number.isSafeInteger(budget) && budget >= 0)) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'disk', field: 'rehearsalMemoryBytes', detail: `${budget} is not a whole number of bytes from 0 up`, hint: 'give a byte count, or 0 to write squashfs again instead of holding it' });
  }
  return planInternal(input, { ...options, depth: 0 });
}

function isLayoutText(x: LayoutText | DiskLayoutSpec): x is LayoutText {
  return 'syntax' in x && 'lineOf' in x;
}

function partName(spec: DiskLayoutSpec, i: number): string {
  const l = spec.partitions[i]?.label;
  return l ? `"${l}"` : `partition ${i + 1}`;
}

/** Solver field (`partitions[2].name`) → layout path (`['partitions', 2, 'label']`). */
function solverFieldToPath(field: string | undefined): LayoutPath {
  if (!field) return [];
  const m = /^partitions\[(\d+)\](?:\.(\w+))?/.exec(field);
  const rename: Record<string, string> = { name: 'label', minSizeBytes: 'content', sizeBytes: 'size' };
  if (m) return m[2] ? ['partitions', Number(m[1]), rename[m[2]] ?? m[2]] : ['partitions', Number(m[1])];
  const top: Record<string, string> = { sizeBytes: 'size', gptEntryArrayLba: 'gptLocation', gptFirstUsableLba: 'gptLocation', contents: 'partitions', regions: 'raw' };
  const head = field.split(/[.[]/)[0]!;
  return [top[head] ?? head];
}

async function planInternal(input: LayoutText | DiskLayoutSpec, o: Internal): Promise<LayoutPlan> {
  const loc: Locator = isLayoutText(input) ? locatorOf(input) : NO_FILE;
  // A parsed file is checked here; a typed spec from code is taken as it is (the solver and the
  // format planners check its values, naming the fields).
  const spec = isLayoutText(input) ? validateLayout(input.value, loc) : input;
  const files = o.files;
  const seed = spec.seed ?? '';
  const ss = spec.sectorSize ?? 512;
  const contents: (ContentPlan | undefined)[] = [];
  const inputs: LayoutInput[] = [];
  const opened: ContentPlan[] = [];
  const closeAll = async () => {
    for (const c of opened.splice(0)) await c.close().catch(() => undefined);
  };

  try {
    // --- contents ---------------------------------------------------------------------------
    for (const [i, p] of spec.partitions.entries()) {
      const c = p.content;
      if (!c) {
        contents.push(undefined);
        continue;
      }
      const at: LayoutPath = ['partitions', i, 'content', c.kind];
      const ctx: ContentContext = { files, epoch: o.epoch, pool: o.pool, onWarning: o.onWarning, strict: o.strict ?? false, seed, field: loc.fieldName(at) };
      let sizing: PartitionSizing = { kind: 'content' };
      if (p.size !== undefined) {
        const parsed = parseSize(p.size, 'size', { percent: true, fill: true });
        sizing = parsed.kind === 'bytes' ? { kind: 'bytes', bytes: parsed.bytes } : { kind: 'later' };
      }
      let plan: ContentPlan;
      try {
        if (c.kind === 'fat') plan = await planFatContent(c, sizing, i, p.label ?? '', ctx);
        else if (c.kind === 'squashfs') plan = await planSquashfsContent(c, ctx);
        else if (c.kind === 'ext4') plan = await planExt4Content(c, sizing, i, p.label ?? '', ctx);
        else if (c.kind === 'image') plan = await planImageContent(c.source, ctx);
        else plan = await planNested(c.source, files, o, loc, at);
      } catch (err) {
        throw located(loc, at, err, `${partName(spec, i)}: ${c.kind} ${c.source}: `);
      }
      opened.push(plan);
      contents.push(plan);
      inputs.push(...plan.inputs);
      if (plan.sizeBytes === undefined && p.size === undefined) checkMeasurable(spec, i, loc);
    }

    // --- raw images and boot code -------------------------------------------------------------
    const raws: { offset: number; size: number; path: string; reader: Awaited<ReturnType<LayoutFiles['reader']>> }[] = [];
    for (const [j, r] of (spec.raw ?? []).entries()) {
      const at: LayoutPath = ['raw', j, 'image'];
      const st = await files.stat(r.image);
      if (st.kind !== 'file') throw layoutError(loc, at, ErrorCodes.SOURCE_MISSING, `${r.image} ${st.kind === 'missing' ? 'does not exist' : 'is not a regular file'}`, 'paths are relative to the layout file');
      const reader = await files.reader(r.image);
      opened.push({ close: async () => reader.close?.() } as ContentPlan);
      const off = parseSize(r.offset, 'offset');
      if (off.kind !== 'bytes') throw layoutError(loc, ['raw', j, 'offset'], ErrorCodes.BAD_OPTION, 'the offset must be bytes');
      raws.push({ offset: off.bytes, size: reader.size, path: r.image, reader });
      inputs.push({ kind: 'file', path: files.resolve(r.image), field: loc.fieldName(at) });
    }
    let bootCode: Uint8Array | undefined;
    if (spec.bootCode !== undefined) {
      const st = await files.stat(spec.bootCode);
      if (st.kind !== 'file') throw layoutError(loc, ['bootCode'], ErrorCodes.SOURCE_MISSING, `${spec.bootCode} ${st.kind === 'missing' ? 'does not exist' : 'is not a regular file'}`);
      if (st.size !== 440 && st.size !== 446 && st.size !== 512 && st.size > 440) {
        throw layoutError(loc, ['bootCode'], ErrorCodes.BAD_OPTION, `${spec.bootCode} is ${st.size} bytes; MBR boot code is at most 440 bytes, or a whole 512-byte sector`);
      }
      const reader = await files.reader(spec.bootCode);
      bootCode = await reader.read(0, st.size);
      await reader.close?.();
      inputs.push({ kind: 'file', path: files.resolve(spec.bootCode), field: loc.fieldName(['bootCode']) });
    }

    // --- the solver -----------------------------------------------------------------------------
    const tableSpec = (measured: ReadonlyMap<number, number>, fixed: ReadonlyMap<number, number> = new Map()): PartitionTableSpec => {
      const t: PartitionTableSpec = {
        table: spec.table,
        sectorSize: ss,
        epoch: o.epoch ?? 0,
        label: seed,
        partitions: spec.partitions.map((p, i): PartitionSpec => {
          const c = contents[i];
          const q: PartitionSpec = {};
          if (p.label !== undefined) q.name = p.label;
          if (p.type !== undefined) q.type = p.type;
          const f = fixed.get(i);
          if (f !== undefined) q.size = f;
          else if (p.size !== undefined) q.size = p.size;
          if (p.offset !== undefined) q.offset = p.offset;
          if (p.alignment !== undefined) q.alignment = p.alignment;
          if (p.bootable !== undefined) q.bootable = p.bootable;
          if (p.attributes !== undefined) q.attributes = p.attributes as PartitionSpec['attributes'];
          if (p.guid !== undefined) q.guid = p.guid;
          if (p.logical !== undefined) q.logical = p.logical;
          if (p.mbrType !== undefined) q.mbrType = p.mbrType;
          if (p.mbrOnly !== undefined) q.mbrOnly = p.mbrOnly;
          if (c) {
            const m = measured.get(i);
            // A content of unknown size without a partition size: one sector until it is measured.
            q.minSizeBytes = m ?? (c.sizeBytes === undefined && c.minSizeBytes === 0 ? 1 : c.minSizeBytes);
          }
          return q;
        }),
      };
      if (spec.size !== undefined) t.sizeBytes = spec.size;
      if (spec.alignment !== undefined) t.alignment = spec.alignment;
      if (spec.diskGuid !== undefined) t.diskGuid = spec.diskGuid;
      if (spec.diskSignature !== undefined) t.diskSignature = spec.diskSignature;
      if (spec.extendedPartition !== undefined) t.extendedPartition = spec.extendedPartition;
      if (spec.hybridProtective !== undefined) t.hybridProtective = spec.hybridProtective;
      if (bootCode) t.bootCode = bootCode;
      if (spec.gptLocation !== undefined) {
        const g = parseSize(spec.gptLocation, 'gptLocation');
        if (g.kind !== 'bytes' || g.bytes % ss !== 0 || g.bytes / ss < 2) {
          throw layoutError(loc, ['gptLocation'], ErrorCodes.BAD_OPTION, `${String(spec.gptLocation)} is not a sector boundary from LBA 2 on (${2 * ss} bytes)`);
        }
        t.gptEntryArrayLba = g.bytes / ss;
      }
      return t;
    };
    const solve = (measured: ReadonlyMap<number, number>): DiskLayout => {
      let layout: DiskLayout;
      try {
        layout = planPartitionTable(tableSpec(measured));
        // A last partition that fills the disk ends on an alignment boundary, as genimage's
        // autoresize does (the solver would run it to the last usable sector); the sectors after
        // it stay outside any partition. (A fill partition with others after it keeps the solver's
        // rule: those are packed at the end of the gap.)
        const fill = spec.partitions.length - 1;
        const last = spec.partitions[fill]!;
        if (typeof last.size === 'string' && last.size.trim().toLowerCase() === 'fill') {
          const p = spec.partitions[fill]!;
          const al = parseSize(p.alignment ?? spec.alignment ?? DEFAULT_ALIGNMENT_BYTES, 'alignment');
          const align = al.kind === 'bytes' && al.bytes > 0 ? al.bytes : DEFAULT_ALIGNMENT_BYTES;
          const got = layout.partitions[fill]!.sizeBytes;
          const aligned = Math.floor(got / align) * align;
          if (aligned !== got && aligned > 0) layout = planPartitionTable(tableSpec(measured, new Map([[fill, aligned]])));
        }
      } catch (err) {
        if (err instanceof ImgkitError && err.format === 'disk') throw err;
        throw located(loc, solverFieldToPath(err instanceof ImgkitError ? err.field : undefined), err);
      }
      checkRaw(layout, raws, loc);
      return layout;
    };
    const provisional = solve(new Map());
    const unknown = contents.some((c, i) => c && c.sizeBytes === undefined && !c.followsPartition && spec.partitions[i]!.size === undefined);
    const needsSeekableSink = unknown || contents.some((c) => c?.needsSeekableSink);
    const codecs = [...new Set(contents.flatMap((c) => c?.codecs ?? []))];

    const state: WriteState = { spec, loc, contents, raws, solve, provisional, unknown };
    const patches = (i: number) => contents[i]?.needsSeekableSink === true;
    let rehearsal: { full: boolean; patches: Patch[]; result: DiskResult; held: Map<number, HeldContent> } | undefined;
    const rehearse = async (full: boolean) => {
      if (rehearsal && (rehearsal.full || !full)) return rehearsal;
      rehearsal = undefined;
      const sink = new RehearsalSink();
      const held = new Map<number, HeldContent>();
      const result = await writeComposed(sink, state, full ? 'rehearse-all' : 'rehearse', { rehearsal: sink, budget: { left: o.rehearsalMemoryBytes ?? DEFAULT_REHEARSAL_MEMORY_BYTES }, held });
      rehearsal = { full, patches: sink.patches, result, held };
      return rehearsal;
    };
    const compose = async (outer: ByteSink): Promise<DiskResult> => {
      if (outer.seekable || (!needsSeekableSink && !rehearsal)) return writeComposed(outer, state, 'direct');
      const r = await rehearse(false);
      const where = (offset: number) => {
        const q = r.result.layout.partitions.find((x) => offset >= x.offset && offset < x.offset + x.sizeBytes);
        return q ? `${partName(spec, q.index)} (partition ${q.number}), byte ${offset - q.offset}` : `byte ${offset} of the disk (the partition table)`;
      };
      const replay = new ReplaySink(outer, r.patches, (offset, detail) => new SourceChangedError({ format: 'disk', detail: `${where(offset)}: ${detail}; a source changed while the disk was written`, hint: 'keep the sources unchanged while the disk is written' }));
      const expected = new Map(r.result.partitions.filter((p) => patches(p.index)).map((p) => [p.index, p.contentBytes] as const));
      const result = await writeComposed(replay, state, 'replay', { held: r.held, expected });
      replay.finish();
      if (result.sizeBytes !== r.result.sizeBytes) throw new SourceChangedError({ format: 'disk', detail: `the disk came out ${result.sizeBytes} bytes, ${r.result.sizeBytes} in its rehearsal`, hint: 'keep the sources unchanged while the disk is written' });
      return result;
    };

    let used = false;
    const writesOnce = () => new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'disk', detail: 'a layout plan writes once (its files are closed after writing)' });
    const plan: LayoutPlan = {
      spec,
      epoch: o.epoch,
      sizeBytes: unknown ? undefined : provisional.sizeBytes,
      minSizeBytes: provisional.sizeBytes,
      needsSeekableSink,
      codecs,
      layout: provisional,
      inputs,
      close: closeAll,
      async prepare(po = {}) {
        if (used) throw writesOnce();
        const full = po.allocation === true;
        if (!needsSeekableSink && !full) return { sizeBytes: provisional.sizeBytes, layout: provisional, allocation: undefined, rehearsed: [], kept: [] };
        const r = await rehearse(full);
        return {
          sizeBytes: r.result.sizeBytes,
          layout: r.result.layout,
          allocation: full ? r.result.allocated.map((x) => ({ ...x })) : undefined,
          rehearsed: contents.flatMap((c, i) => (c && (r.full || patches(i)) ? [i] : [])),
          kept: [...r.held.keys()].sort((a, b) => a - b),
        };
      },
      async write(outer) {
        if (used) throw writesOnce();
        used = true;
        try {
          return await compose(outer);
        } finally {
          await closeAll();
        }
      },
    };
    composers.set(plan, compose);
    return plan;
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/** Held pieces that run without a gap from 0 to `n`: what the replay can send in place of the content. */
function coversFromStart(pieces: readonly HeldPiece[], n: number): boolean {
  let at = 0;
  for (const p of pieces) {
    if (p.offset !== at) return false;
    at += 'bytes' in p ? p.bytes.byteLength : p.zeros;
  }
  return at === n;
}

/** Relocate an error into the layout unless it already points into a layout file (a nested one). */
function located(loc: Locator, at: LayoutPath, err: unknown, prefix = ''): unknown {
  if (err instanceof ImgkitError && err.format === 'disk' && err.field !== undefined) return err;
  return relocate(loc, at, err, prefix);
}

/**
 * A partition whose size writing will tell must be placed by the partitions before it: not after
 * a `fill` partition (which is sized by what follows it) unless its offset is pinned, or a pinned
 * partition stands between them.
 */
function checkMeasurable(spec: DiskLayoutSpec, i: number, loc: Locator): void {
  const p = spec.partitions[i]!;
  if (p.offset !== undefined) return;
  for (let k = i - 1; k >= 0; k--) {
    const q = spec.partitions[k]!;
    if (q.offset !== undefined) return;
    if (typeof q.size === 'string' && q.size.trim().toLowerCase() === 'fill') {
      throw layoutError(
        loc,
        ['partitions', i, 'size'],
        ErrorCodes.BAD_OPTION,
        `${partName(spec, i)} has squashfs content and no size, and follows the fill partition ${partName(spec, k)}: its place depends on its size, which is known only once it is written`,
        'give it a size, pin its offset, or move it before the fill partition',
      );
    }
  }
}

async function planNested(path: string, files: LayoutFiles, o: Internal, loc: Locator, at: LayoutPath): Promise<ContentPlan> {
  if (o.depth + 1 > MAX_DEPTH) throw layoutError(loc, at, ErrorCodes.BAD_OPTION, `layouts nest deeper than ${MAX_DEPTH} levels (does a layout contain itself?)`);
  const st = await files.stat(path);
  if (st.kind !== 'file') throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'disk', path, detail: st.kind === 'missing' ? 'does not exist' : 'is not a layout file' });
  const text = await files.readText(path);
  const nested = await planInternal(parseLayoutText(text, files.resolve(path)), { ...o, files: files.at(dirOf(path)), depth: o.depth + 1 });
  return {
    kind: 'layout',
    sizeBytes: nested.sizeBytes,
    minSizeBytes: nested.sizeBytes ?? 0,
    followsPartition: false,
    needsSeekableSink: nested.needsSeekableSink,
    codecs: nested.codecs,
    inputs: [{ kind: 'file', path: files.resolve(path), field: loc.fieldName(at) }, ...nested.inputs],
    async write(window) {
      const r = await composers.get(nested)!(window);
      return r.sizeBytes;
    },
    close: () => nested.close(),
  };
}

interface RawItem {
  offset: number;
  size: number;
  path: string;
  reader: { size: number; read(offset: number, length: number): Promise<Uint8Array> };
}

/** Raw images: inside the disk, clear of the table structures, the partitions and each other. */
function checkRaw(layout: DiskLayout, raws: readonly RawItem[], loc: Locator): void {
  const spans: { what: string; start: number; end: number; hint?: string }[] = [];
  for (const r of layout.regions) {
    spans.push({ what: `the ${r.what} (bytes ${r.offset}–${r.offset + r.bytes.byteLength - 1})`, start: r.offset, end: r.offset + r.bytes.byteLength, ...(r.what.includes('GPT') ? { hint: 'move the GPT entry array out of the way with gptLocation (e.g. gptLocation: 1M), as genimage does' } : {}) });
  }
  for (const p of layout.partitions) spans.push({ what: `partition ${p.number}${p.name ? ` ("${p.name}")` : ''} (bytes ${p.offset}–${p.offset + p.sizeBytes - 1})`, start: p.offset, end: p.offset + p.sizeBytes });
  raws.forEach((r, j) => {
    const end = r.offset + r.size;
    if (end > layout.sizeBytes) {
      throw layoutError(loc, ['raw', j, 'offset'], ErrorCodes.NO_SPACE, `${r.path} (${r.size} bytes at ${r.offset}) ends past the disk end (${layout.sizeBytes} bytes)`, 'give the disk a size, or move the image');
    }
    for (const s of spans) {
      if (r.offset < s.end && s.start < end) {
        throw layoutError(loc, ['raw', j, 'offset'], ErrorCodes.BAD_OPTION, `${r.path} (bytes ${r.offset}–${end - 1}) overlaps ${s.what}`, s.hint ?? 'move the image or the partition');
      }
    }
    spans.push({ what: `raw image ${r.path} (bytes ${r.offset}–${end - 1})`, start: r.offset, end });
  });
}

/**
 * direct: the output as it is (seekable: tables patched last; otherwise tables in order, nothing
 * may patch). rehearse: into a RehearsalSink, only the contents that patch (the rest are zeros).
 * rehearse-all: every content (the exact allocation map). replay: into a ReplaySink.
 * In the last three, contents that do not patch see a sequential window, in both passes alike.
 */
type WriteMode = 'direct' | 'rehearse' | 'rehearse-all' | 'replay';

/** A content kept from the rehearsal: its pieces in order from its start, and its size. */
interface HeldContent {
  pieces: readonly HeldPiece[];
  bytes: number;
}

interface PassState {
  /** Rehearsals: the sink (its patches), and the memory left for holding squashfs contents. */
  rehearsal?: RehearsalSink;
  budget?: { left: number };
  /** Filled by the rehearsal, sent by the replay. */
  held?: Map<number, HeldContent>;
  /** The replay: each rehearsed content's size in the rehearsal. */
  expected?: ReadonlyMap<number, number>;
}

interface WriteState {
  spec: DiskLayoutSpec;
  loc: Locator;
  contents: readonly (ContentPlan | undefined)[];
  raws: readonly RawItem[];
  solve(measured: ReadonlyMap<number, number>): DiskLayout;
  provisional: DiskLayout;
  unknown: boolean;
}

type Item =
  | { key: string; offset: number; end: number; kind: 'region'; bytes: Uint8Array }
  | { key: string; offset: number; end: number; kind: 'raw'; raw: RawItem }
  | { key: string; offset: number; end: number; kind: 'partition'; part: ResolvedPartition };

function itemsOf(layout: DiskLayout, raws: readonly RawItem[]): Item[] {
  const items: Item[] = [];
  for (const r of layout.regions) items.push({ key: `region:${r.what}`, offset: r.offset, end: r.offset + r.bytes.byteLength, kind: 'region', bytes: r.bytes });
  raws.forEach((raw, j) => items.push({ key: `raw:${j}`, offset: raw.offset, end: raw.offset + raw.size, kind: 'raw', raw }));
  for (const p of layout.partitions) items.push({ key: `part:${p.index}`, offset: p.offset, end: p.offset + p.sizeBytes, kind: 'partition', part: p });
  const rank = { region: 0, raw: 1, partition: 2 };
  return items.sort((a, b) => a.offset - b.offset || rank[a.kind] - rank[b.kind]);
}

async function writeComposed(outer: ByteSink, st: WriteState, mode: WriteMode, pass: PassState = {}): Promise<DiskResult> {
  if (mode === 'direct' && st.contents.some((c) => c?.needsSeekableSink)) {
    requireSeekable(outer, 'disk', st.unknown ? 'a squashfs partition without a size is measured as it is written and the partition table is written after it' : 'squashfs patches its superblock after writing the rest');
  }
  const sink = new TrackingSink(outer);
  const base = sink.position;
  const rel = () => sink.position - base;
  const patchTables = sink.seekable;
  const measured = new Map<number, number>();
  const contentBytes = new Map<number, number>();
  let layout = st.provisional;
  const written = new Map<string, { offset: number; end: number }>();
  const who = (p: ResolvedPartition) => `partition ${p.number}${p.name ? ` ("${p.name}")` : ''}`;
  const at = (p: ResolvedPartition, key = 'size'): LayoutPath => ['partitions', p.index, key];

  for (;;) {
    const items = itemsOf(layout, st.raws);
    const next = items.find((it) => !written.has(it.key));
    if (!next) break;
    if (next.offset < rel()) {
      const prev = [...written.entries()].find(([, w]) => w.end > next.offset);
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'disk', detail: `${next.key} at byte ${next.offset} overlaps ${prev?.[0] ?? 'what was written before it'}, which ends at byte ${rel()}` });
    }
    await writeZeros(sink, base + next.offset - sink.position);
    if (next.kind === 'region') {
      if (patchTables) await writeZeros(sink, next.bytes.byteLength);
      else await sink.write(next.bytes);
    } else if (next.kind === 'raw') {
      if (mode === 'rehearse') await writeZeros(sink, next.raw.size);
      else await copyImage(next.raw.reader, sink, next.raw.path);
    } else {
      const p = next.part;
      const c = st.contents[p.index];
      if (c) {
        const sized = !(c.sizeBytes === undefined && !c.followsPartition && st.spec.partitions[p.index]!.size === undefined);
        if (mode === 'rehearse' && !c.needsSeekableSink && sized) {
          // Not rehearsed: it patches nothing and its size is known.
          await writeZeros(sink, p.sizeBytes);
          written.set(next.key, { offset: next.offset, end: next.end });
          continue;
        }
        const limit = sized ? p.sizeBytes : st.spec.size !== undefined ? layout.sizeBytes - p.offset : Number.POSITIVE_INFINITY;
        const held = mode === 'replay' ? pass.held?.get(p.index) : undefined;
        let n: number;
        if (held) {
          // Kept from the rehearsal: its bytes as they ended up, not written (compressed) again.
          for (const piece of held.pieces) {
            if ('bytes' in piece) await sink.write(piece.bytes);
            else await writeZeros(sink, piece.zeros);
          }
          n = held.bytes;
        } else {
          // A squashfs in a rehearsal is kept in memory while the budget lasts.
          const tee = pass.rehearsal && pass.budget && pass.held && c.kind === 'squashfs' && pass.budget.left > 0 ? new HoldingTee(sink, base + p.offset, pass.budget.left) : undefined;
          const window = new ContentWindow(
            tee ?? sink,
            base + p.offset,
            limit,
            (needed) => layoutError(st.loc, at(p), ErrorCodes.NO_SPACE, `${who(p)} is ${p.sizeBytes} bytes; its ${c.kind} content needs ${needed} bytes`, 'raise the partition size, or leave size out to size it from its content'),
            mode !== 'direct' && !c.needsSeekableSink,
          );
          const mark = pass.rehearsal?.patches.length ?? 0;
          try {
            n = await c.write(window, p.sizeBytes);
          } catch (err) {
            throw located(st.loc, ['partitions', p.index, 'content'], err, `${who(p)}: `);
          }
          if (window.overflowed || n > limit) {
            const needed = Math.max(n, window.extent);
            throw layoutError(
              st.loc,
              at(p),
              ErrorCodes.NO_SPACE,
              sized ? `${who(p)} is ${p.sizeBytes} bytes; its ${c.kind} content needs ${needed} bytes` : `${who(p)}: its ${c.kind} content needs ${needed} bytes; only ${limit} are left to the disk end`,
              sized ? `raise the size to at least ${Math.ceil(needed / 1048576)}M, or leave it out to size the partition from its content` : 'raise the disk size',
            );
          }
          const kept = tee?.kept;
          if (kept && coversFromStart(kept, n)) {
            pass.held!.set(p.index, { pieces: kept, bytes: n });
            pass.budget!.left -= tee!.heldBytes;
            // Its patches are in the kept bytes: the replay neither sends nor expects them.
            pass.rehearsal!.patches.splice(mark);
          }
        }
        const rehearsed = pass.expected?.get(p.index);
        if (rehearsed !== undefined && rehearsed !== n) {
          throw new SourceChangedError({ format: 'disk', field: st.loc.fieldName(['partitions', p.index, 'content']), detail: `${who(p)}: its ${c.kind} content is ${n} bytes now and was ${rehearsed} in the rehearsal`, hint: 'keep the sources unchanged while the disk is written' });
        }
        contentBytes.set(p.index, n);
        if (!sized) {
          measured.set(p.index, n);
          const next2 = st.solve(measured);
          for (const [key, w] of written) {
            const again = itemsOf(next2, st.raws).find((x) => x.key === key);
            if (!again || again.offset !== w.offset || again.end !== w.end) {
              throw new Error(`internal: ${key} moved from ${w.offset}–${w.end} after measuring ${who(p)}`);
            }
          }
          layout = next2;
        }
        const q = layout.partitions[p.index]!;
        await writeZeros(sink, base + q.offset + q.sizeBytes - sink.position);
        written.set(next.key, { offset: q.offset, end: q.offset + q.sizeBytes });
        continue;
      }
      await writeZeros(sink, p.sizeBytes);
    }
    written.set(next.key, { offset: next.offset, end: next.end });
  }
  await writeZeros(sink, base + layout.sizeBytes - sink.position);
  if (patchTables) for (const r of layout.regions) await sink.writeAt(base + r.offset, r.bytes);
  if (rel() !== layout.sizeBytes) throw new NoSpaceError({ format: 'disk', detail: `internal: the disk ended at ${rel()}, not at ${layout.sizeBytes}` });
  return {
    layout,
    sizeBytes: layout.sizeBytes,
    allocated: sink.ranges.map((r) => ({ ...r })),
    partitions: layout.partitions.map((p) => {
      const c = st.contents[p.index];
      return { index: p.index, number: p.number, label: p.name, offset: p.offset, sizeBytes: p.sizeBytes, content: c ? c.kind : 'none', contentBytes: contentBytes.get(p.index) ?? 0 };
    }),
  };
}
