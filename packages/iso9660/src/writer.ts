/**
 * writeIso: plan (metadata walk, names; plan.ts), lay the blocks out, then emit the image strictly
 * in LBA order so any sink works, seekable or not. The block order is xorriso's (libisofs 1.5
 * writers), so that an image made with the same options puts its boot images, partitions and
 * tables where xorriso's does:
 *
 *   0–15   system area: MBR / APM / primary GPT (system-area.ts), written last in thought, first in bytes
 *   16…    PVD, [El Torito boot record], [Joliet SVD], terminator
 *          [partition offset P: the partition's own PVD, [SVD], terminator at P + 16]
 *          ISO 9660 directories, depth first, each followed by its Rock Ridge continuation area
 *          ISO L and M path tables
 *          [P: the partition's copy of the directories and path tables, addresses relative to P]
 *          [Joliet directories, depth first; Joliet L and M path tables; [P: their copy]]
 *   ≥ 32+P [ESP before the data (-efi-boot-part)]
 *          one zero block that empty files, symlinks and devices point to
 *          file data: the boot catalog, then by --sort-weight (boot images 2, others 0), each in
 *          ISO tree order (depth first)
 *          [cylinder alignment padding (isohybrid, -partition_cyl_align)]
 *          [appended partitions 1…4 (-append_partition)]
 *          padding (-pad, 150 blocks)
 *          [backup GPT]
 *
 * The ECMA-119 volume is the whole image, or only up to the appended partitions when there are
 * some. Directory records are built twice with the same code: once with dummy LBAs to learn their
 * lengths (and the continuation areas they need), once with the final LBAs to write them.
 */
import {
  type ByteSink,
  type CodecName,
  concatBytes,
  copyBytes,
  ErrorCodes,
  expectSinkSize,
  ImgkitError,
  isAllZero,
  MemorySink,
  readChecked,
  ReadAhead,
  type SourceEntry,
  type SourceTree,
  warnOrThrow,
  writeZeros,
} from '@imgkit/core';
import { type FatPlan, planFat } from '@imgkit/fat';
import { encodeDirectoryRecord, FLAG_DIRECTORY, FLAG_MULTI_EXTENT, ID_PARENT, ID_SELF, recordLength, DIR_RECORD_MAX } from './directory-record.js';
import { encodeBootCatalog, fullLoadSectors, GRUB2_BOOT_INFO_OFFSET, patchBootInfoTable, patchGrub2BootInfo, type BootImageEntry } from './el-torito.js';
import { JOLIET_ESCAPE, ucs2be } from './joliet.js';
import { asciiBytes } from './names.js';
import type { ImagePlan, ImageRequirements } from '@imgkit/core';
import { type IsoContent, type IsoOptions, type ResolvedIsoOptions, resolveOptions } from './options.js';
import { encodePathTable, pathTableSize, type PathTableDir } from './path-table.js';
import { addVirtualFile, buildTree, directoryBytes, extentCount, type FileData, type IsoDir, type IsoNode, type IsoTree, MAX_EXTENT_BYTES, planTree, sectorsOf } from './plan.js';
import { ceEntry, CE_LENGTH, clEntry, erEntry, nmEntries, plEntry, pnEntry, pxEntry, reEntry, slEntries, spEntry, splitSystemUse, tfEntry } from './rock-ridge.js';
import { alignment, encodeSystemArea, planPartitionTables, type PartitionTablePlan, type SaAppended, type SystemAreaBytes } from './system-area.js';
import {
  decDateText,
  decDateTime,
  encodeBootRecord,
  encodeTerminator,
  encodeVolumeDescriptor,
  ISO_SECTOR_SIZE,
  padded,
  paddedUcs2,
  VD_PRIMARY,
  VD_SUPPLEMENTARY,
} from './volume-descriptor.js';

export interface IsoResult {
  /** Bytes written (the whole disk image, appended partitions included). */
  sizeBytes: number;
  /** ECMA-119 volume space size, in 2048-byte blocks (up to the appended partitions, if any). */
  volumeBlocks: number;
  bootCatalogLba?: number;
  /** Each El Torito entry: platform, LBA of its image, the sector count in the catalog. */
  bootImages: { platform: number; lba: number; loadSectors: number }[];
  /** LBA of the first BIOS and the first EFI boot image. */
  biosImageLba?: number;
  efiImageLba?: number;
  /** Appended partitions: first block and 2 KiB blocks, by partition number − 1. */
  appendedPartitions: ({ startBlock: number; blocks: number } | undefined)[];
  /** 16 digits of the volume modification date: the blkid UUID ("YYYY-MM-DD-hh-mm-ss-cc"). */
  volumeDate: string;
}

/** Boot images are loaded whole into memory to be patched: keep them bounded. */
const PATCHABLE_MAX_BYTES = 32 << 20;
/** Weight xorriso gives El Torito images that no --sort-weight rule covers; the catalog comes first. */
const BOOT_IMAGE_WEIGHT = 2;
/** Before 1971 a tree's times say nothing; its volume gets a date from its names instead. */
const MEANINGFUL_TIME = 365 * 86400;

/** Continuation areas (SUSP §5.1): a bump allocator over whole blocks; an area never crosses one. */
class ContinuationAreas {
  block = 0;
  offset = 0;
  readonly sectors: Uint8Array[] = [];
  constructor(private readonly keep: boolean) {}
  alloc(len: number): { block: number; offset: number } {
    if (this.offset + len > ISO_SECTOR_SIZE) {
      this.block++;
      this.offset = 0;
    }
    const at = { block: this.block, offset: this.offset };
    this.offset += len;
    return at;
  }
  put(at: { block: number; offset: number }, bytes: Uint8Array): void {
    if (!this.keep) return;
    while (this.sectors.length <= at.block) this.sectors.push(new Uint8Array(ISO_SECTOR_SIZE));
    this.sectors[at.block]!.set(bytes, at.offset);
  }
  get blockCount(): number {
    return this.block + (this.offset > 0 ? 1 : 0);
  }
}

interface PathTables {
  l: number;
  m: number;
  jl: number;
  jm: number;
}

interface AppendedPlace {
  prepadBlocks: number;
  startBlock: number;
  blocks: number;
  content: IsoContent;
}

interface Layout {
  /** 0, or the partition offset: a second descriptor set at 16 + offset, addresses minus offset. */
  offset: number;
  pvdLba: number;
  pvd1Lba: number;
  bootRecordLba?: number;
  t0: PathTables;
  t1: PathTables;
  isoPathTable: PathTableDir[];
  jolietPathTable: PathTableDir[];
  /** Directories in block order (depth first). */
  isoDirsDfs: IsoDir[];
  jolietDirsDfs: IsoDir[];
  dataStart: number;
  efiPart?: { lba: number; blocks: number; content?: IsoContent };
  emptyBlock: number;
  /** File contents in block order, the boot catalog first. */
  files: FileData[];
  alignPadBlocks: number;
  appended: (AppendedPlace | undefined)[];
  tailStart: number;
  gptBackupLba?: number;
  volumeBlocks: number;
  totalBlocks: number;
  tables: PartitionTablePlan;
  heads: number;
  sectors: number;
  postPadBytes: number;
  dates: { creation: Uint8Array; modification: Uint8Array; expiration: Uint8Array; effective: Uint8Array; digits: string };
}

/**
 * An ISO planned to the last block (STYLE.md "Composing images"): the tree walked, names and the
 * layout decided, the system area encoded; `write(sink)` emits it from `sink.position`.
 */
export interface IsoPlan extends ImagePlan<IsoResult> {
  /** Bytes of the image, exact: appended partitions, padding and the backup GPT included. */
  readonly sizeBytes: number;
  /** Equal to `sizeBytes`. */
  readonly minSizeBytes: number;
  /** The ISO is written strictly in LBA order: any sink will do, standard output included. */
  readonly needsSeekableSink: false;
  /** The ISO compresses nothing: no codec for a pool. */
  readonly codecs: readonly CodecName[];
  /** ECMA-119 volume space size, in 2048-byte blocks (up to the appended partitions, if any). */
  readonly volumeBlocks: number;
  /** 16 digits of the volume modification date: the blkid UUID. */
  readonly volumeDate: string;
  /** The EFI image built from `efiDir`: the FAT plan and where it goes. */
  readonly efiImage?: { readonly fat: FatPlan; readonly placement: 'file' | 'appended-partition'; readonly path?: string };
  write(sink: ByteSink): Promise<IsoResult>;
}

/** What the ISO needs from its output and pool, from the options alone (no walk): never a seekable sink, no codec. */
export function isoRequirements(_options: IsoOptions = {}): ImageRequirements {
  return { needsSeekableSink: false, codecs: [] };
}

/**
 * Plan the ISO: walk the tree (metadata only; file contents are read by `write`), build the EFI
 * image's plan from `efiDir`, name and lay out every block, encode the system area.
 */
export async function planIso(source: SourceTree, options: IsoOptions = {}): Promise<IsoPlan> {
  const o = resolveOptions(options);
  let fat: FatPlan | undefined;
  if (o.efiDir) {
    // The ESP's tree first (small): its errors come before the walk of a big ISO tree.
    fat = await planFat(o.efiDir.tree, o.efiDir.fat);
    const plan = fat;
    o.efiDir.content.settle(plan.sizeBytes, (sink) => plan.write(sink));
  }
  const plan = await buildTree(source, o);
  plan.now = volumeNow(plan, o);
  placeBootFiles(plan, o);
  planTree(plan, o);
  const layout = layOut(plan, o);
  const sa = systemArea(plan, o, layout);
  const sizeBytes = layout.totalBlocks * ISO_SECTOR_SIZE;
  const result: IsoPlan = {
    sizeBytes,
    minSizeBytes: sizeBytes,
    needsSeekableSink: false,
    codecs: [],
    volumeBlocks: layout.volumeBlocks,
    volumeDate: layout.dates.digits,
    ...(fat && o.efiDir ? { efiImage: { fat, placement: o.efiDir.placement, ...(o.efiDir.path !== undefined ? { path: o.efiDir.path } : {}) } } : {}),
    write: (sink) => writePlanned(sink, plan, o, layout, sa, sizeBytes),
  };
  return result;
}

/** Write `source` as an ISO at the sink's position: `planIso(source, options)` then `write(sink)`. */
export async function writeIso(source: SourceTree, sink: ByteSink, options: IsoOptions = {}): Promise<IsoResult> {
  return (await planIso(source, options)).write(sink);
}

async function writePlanned(sink: ByteSink, plan: IsoTree, o: ResolvedIsoOptions, layout: Layout, sa: SystemAreaBytes, sizeBytes: number): Promise<IsoResult> {
  const start = sink.position;
  await expectSinkSize(sink, start + sizeBytes); // a device too small fails before the first byte
  const w = new Writer(sink, plan, o, layout, sa);
  await w.writeAll();
  const written = sink.position - start;
  if (written !== sizeBytes) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'layout', detail: `wrote ${written} bytes of a ${sizeBytes}-byte plan (a layout bug; please report it)` });
  }
  const images = w.bootImages();
  const r: IsoResult = {
    sizeBytes: written,
    volumeBlocks: layout.volumeBlocks,
    bootImages: images,
    appendedPartitions: layout.appended.map((a) => (a ? { startBlock: a.startBlock, blocks: a.blocks } : undefined)),
    volumeDate: layout.dates.digits,
  };
  if (plan.catalog) r.bootCatalogLba = plan.catalog.lba;
  const bios = images.find((b) => b.platform === 0);
  const efi = images.find((b) => b.platform === 0xef);
  if (bios) r.biosImageLba = bios.lba;
  if (efi) r.efiImageLba = efi.lba;
  return r;
}

function placeBootFiles(plan: IsoTree, o: ResolvedIsoOptions): void {
  const bootFile = (path: string, what: string): FileData => {
    const n = plan.byPath.get(path);
    if (!n || n.kind !== 'file' || !n.data) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', path, detail: `the ${what} is not a regular file of the tree`, hint: 'give its path relative to the tree root' });
    }
    return n.data;
  };
  o.boot.forEach((b, i) => {
    if (b.appended >= 0 || b.path === undefined) {
      plan.bootImages.push(undefined);
      return;
    }
    const what = `${b.platform === 0 ? 'BIOS' : b.platform === 0xef ? 'EFI' : `platform 0x${b.platform.toString(16)}`} boot image`;
    // Content from outside the tree goes at its path, which the tree must not have already (NAME_COLLISION).
    if (b.content) addVirtualFile(plan, b.path, { size: b.content.size, lba: 0, content: b.content, path: b.path }, o, what);
    const f = bootFile(b.path, what);
    if (f.size === 0) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', path: b.path, detail: `the ${what} is empty`, hint: 'give the boot image file' });
    if (b.bootInfoTable || b.grub2BootInfo) {
      const min = b.grub2BootInfo ? GRUB2_BOOT_INFO_OFFSET + 8 : 64;
      if (f.size > PATCHABLE_MAX_BYTES || f.size < min) {
        throw new ImgkitError(ErrorCodes.BAD_OPTION, {
          format: 'iso9660',
          path: b.path,
          detail: `a boot image patched with ${b.grub2BootInfo ? 'GRUB2 boot info' : 'a boot-info-table'} must be ${min} bytes … 32 MiB; this one is ${f.size} bytes`,
          hint: b.grub2BootInfo ? 'drop the GRUB2 boot info for this entry' : 'drop the boot-info-table for this entry',
        });
      }
      if (b.bootInfoTable) f.bootInfoTable = true;
      if (b.grub2BootInfo) f.grub2BootInfo = true;
    }
    plan.bootImages[i] = f;
  });
  if (o.boot.length > 0) {
    const data: FileData = { size: ISO_SECTOR_SIZE, lba: 0, catalog: true, path: o.catalogPath };
    if (o.catalogHidden) plan.catalog = data;
    else plan.catalog = addVirtualFile(plan, o.catalogPath, data, o, 'boot catalog', true).data!;
  }
}

function pathTable(dirs: readonly IsoDir[], joliet: boolean): PathTableDir[] {
  const num = new Map<IsoDir, number>();
  dirs.forEach((d, i) => num.set(d, i + 1));
  return dirs.map((d) => {
    const parent = joliet ? d.parent : d.isoParent;
    return {
      identifier: d === dirs[0] ? new Uint8Array([0]) : joliet ? d.jolietId! : d.isoId,
      extentLba: joliet ? d.jLba : d.lba,
      parentNumber: parent ? num.get(parent)! : 1,
    };
  });
}

/** Directories depth first (libisofs calc_dir_pos), children in identifier order. */
function depthFirst(root: IsoDir, children: (d: IsoDir) => IsoNode[]): IsoDir[] {
  const out: IsoDir[] = [];
  const visit = (d: IsoDir) => {
    out.push(d);
    for (const c of children(d)) if (c.kind === 'dir') visit(c as IsoDir);
  };
  visit(root);
  return out;
}

/** --sort-weight rules (applied in order; one on a directory covers its subtree), boot images' default. */
function applyWeights(plan: IsoTree, o: ResolvedIsoOptions): void {
  if (o.sortWeights.length > 0) {
    for (const n of plan.byPath.values()) {
      if (!n.data || n.kind !== 'file') continue;
      for (const r of o.sortWeights) {
        if (r.path === '' || n.path === r.path || n.path.startsWith(`${r.path}/`)) {
          n.data.weight = r.weight;
          n.data.explicitWeight = true;
        }
      }
    }
  }
  for (const f of plan.bootImages) if (f && !f.explicitWeight) f.weight = BOOT_IMAGE_WEIGHT;
}

/** File contents in ISO tree order (depth first), then stably by weight, highest first. */
function dataOrder(plan: IsoTree, skip: FileData | undefined): FileData[] {
  const seen = new Set<FileData>();
  const out: FileData[] = [];
  const visit = (d: IsoDir) => {
    for (const c of d.isoChildren) {
      if (c.kind === 'dir') visit(c as IsoDir);
      else if (c.kind === 'file' && c.data && !seen.has(c.data)) {
        seen.add(c.data);
        if (c.data !== skip && !c.data.catalog && c.data.size > 0) out.push(c.data);
      }
    }
  };
  visit(plan.root);
  // Files in no directory (none today besides the hidden catalog) would come last.
  for (const f of plan.files) if (!seen.has(f) && f !== skip && !f.catalog && f.size > 0) out.push(f);
  return out
    .map((f, i) => ({ f, i }))
    .sort((a, b) => (b.f.weight ?? 0) - (a.f.weight ?? 0) || a.i - b.i)
    .map((x) => x.f);
}

/** The volume's base time: the caller's epoch, else the tree's newest time (a digest-derived one if it has none). */
function baseTime(plan: IsoTree, o: ResolvedIsoOptions): number {
  if (o.epoch !== undefined) return o.epoch;
  // Reproducible and different for different trees: the newest time in the tree; a tree without
  // times gets one from a digest of its names and sizes (2000…2019).
  return plan.newestMtime >= MEANINGFUL_TIME ? plan.newestMtime : 946684800 + (plan.digest % (20 * 365 * 86400));
}

/** Seconds of a 16-digit ECMA-119 date (GMT). */
function dateSeconds(digits: string): number {
  const d = (a: number, b: number) => Number(digits.slice(a, b));
  return Math.floor(Date.UTC(d(0, 4), d(4, 6) - 1, d(6, 8), d(8, 10), d(10, 12), d(12, 14)) / 1000);
}

/**
 * The image's "now" (libisofs ecma119_determine_now_time): the volume date when one is given
 * (--modification-date), else the later of the creation and modification dates, else the base time.
 * The boot catalog and the directories the writer makes carry it.
 */
function volumeNow(plan: IsoTree, o: ResolvedIsoOptions): number {
  const d = o.volumeDates;
  if (d.uuid !== undefined) return dateSeconds(d.uuid);
  const t = (v: number | string | undefined) => (v === undefined ? undefined : typeof v === 'string' ? dateSeconds(v) : v);
  const c = t(d.creation);
  const m = t(d.modification);
  if (c !== undefined || m !== undefined) return Math.max(c ?? 0, m ?? 0);
  return baseTime(plan, o);
}

function volumeDates(plan: IsoTree, o: ResolvedIsoOptions): Layout['dates'] {
  const base = baseTime(plan, o);
  const d = o.volumeDates;
  const date = (v: number | string | undefined, def: number | undefined) => {
    if (typeof v === 'string') return decDateText(v);
    return decDateTime(v ?? def);
  };
  const creation = d.uuid !== undefined ? decDateText(d.uuid) : date(d.creation, base);
  const modification = d.uuid !== undefined ? decDateText(d.uuid) : date(d.modification, base);
  const digits = String.fromCharCode(...modification.subarray(0, 16));
  return { creation, modification, expiration: date(d.expiration, undefined), effective: date(d.effective, undefined), digits };
}

function layOut(plan: IsoTree, o: ResolvedIsoOptions): Layout {
  const P = o.sa.partitionOffset;
  const dates = volumeDates(plan, o);
  let lba = 16;
  const pvdLba = lba++;
  const bootRecordLba = plan.catalog ? lba++ : undefined;
  if (o.joliet) lba++;
  lba++; // terminator
  let pvd1Lba = 0;
  if (P > 0) {
    if (lba > P + 16) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', field: 'systemArea.partitionOffsetBlocks', detail: `the partition offset ${P} leaves no room for the volume descriptors` });
    lba = 16 + P;
    pvd1Lba = lba;
    lba += o.joliet ? 3 : 2;
  }
  // Sizing pass: record lengths don't depend on LBAs.
  const sizing = new RecordBuilder(plan, o, false);
  for (const d of plan.isoDirs) {
    const r = sizing.isoRecords(d);
    d.sizeBytes = directoryBytes(r.records.map((x) => x.byteLength));
    d.ceBlocks = r.ce.blockCount;
  }
  for (const d of plan.jolietDirs) d.jSizeBytes = directoryBytes(sizing.jolietRecords(d).map((r) => r.byteLength));
  const isoDirsDfs = depthFirst(plan.root, (d) => d.isoChildren);
  const jolietDirsDfs = o.joliet ? depthFirst(plan.root, (d) => d.jolietChildren) : [];
  const ptBlocks = sectorsOf(pathTableSize(pathTable(plan.isoDirs, false)));
  const jptBlocks = o.joliet ? sectorsOf(pathTableSize(pathTable(plan.jolietDirs, true))) : 0;
  const t0: PathTables = { l: 0, m: 0, jl: 0, jm: 0 };
  const t1: PathTables = { l: 0, m: 0, jl: 0, jm: 0 };
  const isoTree = (copy: 0 | 1) => {
    for (const d of isoDirsDfs) {
      if (copy) d.lba1 = lba;
      else d.lba = lba;
      lba += sectorsOf(d.sizeBytes);
      if (copy) d.ceLba1 = lba;
      else d.ceLba = lba;
      lba += d.ceBlocks;
    }
    const t = copy ? t1 : t0;
    t.l = lba;
    t.m = lba + ptBlocks;
    lba += 2 * ptBlocks;
  };
  const jolietTree = (copy: 0 | 1) => {
    for (const d of jolietDirsDfs) {
      if (copy) d.jLba1 = lba;
      else d.jLba = lba;
      lba += sectorsOf(d.jSizeBytes);
    }
    const t = copy ? t1 : t0;
    t.jl = lba;
    t.jm = lba + jptBlocks;
    lba += 2 * jptBlocks;
  };
  isoTree(0);
  if (P > 0) isoTree(1);
  if (o.joliet) {
    jolietTree(0);
    if (P > 0) jolietTree(1);
  }
  // Data starts at block 32 (+ P) at the earliest (libisofs mspad writer: room for a new session's head).
  lba = Math.max(lba, 32 + P);
  const dataStart = lba;
  const tables = planPartitionTables(o);
  // The ESP before the data (-efi-boot-part): the EFI boot image itself, or a host file.
  let efiPart: Layout['efiPart'];
  let efiFile: FileData | undefined;
  if (o.sa.efiBootPartition !== undefined) {
    if (o.sa.efiBootPartition === 'boot-image') {
      efiFile = plan.bootImages[o.boot.findIndex((b) => b.platform === 0xef)];
      if (!efiFile) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', field: 'systemArea.efiBootPartition', detail: 'the ESP is to be the EFI boot image, which is not a file of the ISO' });
      efiFile.lba = lba;
      efiPart = { lba, blocks: sectorsOf(efiFile.size) };
    } else {
      efiPart = { lba, blocks: sectorsOf(o.sa.efiBootPartition.size), content: o.sa.efiBootPartition };
    }
    lba += efiPart.blocks;
  }
  const emptyBlock = lba++;
  applyWeights(plan, o);
  const files = dataOrder(plan, efiFile);
  if (plan.catalog) files.unshift(plan.catalog);
  for (const f of files) {
    f.lba = lba;
    lba += sectorsOf(f.size);
  }
  // Empty files (and their hard links) point at the empty block.
  for (const f of plan.files) if (f.size === 0) f.lba = emptyBlock;
  const haveAppended = o.sa.appended.some((a) => a !== undefined);
  const warn = (detail: string) => warnOrThrow({ code: ErrorCodes.BAD_OPTION, format: 'iso9660', detail }, o.onWarning, o.strict);
  const align = alignment(o, lba + (haveAppended ? 0 : o.padBlocks + tables.gptBackupBlocks), warn);
  lba += align.padBlocks;
  const alignmentEnd = lba;
  // Appended partitions; with -partition_cyl_align all each starts and ends on a cylinder.
  const cylBlocks = o.sa.cylAlign === 'all' && (align.heads * align.sectors) % 4 === 0 ? (align.heads * align.sectors) / 4 : 0;
  const appended: (AppendedPlace | undefined)[] = o.sa.appended.map((a) => {
    if (!a) return undefined;
    let blocks = sectorsOf(a.content.size);
    const prepad = cylBlocks > 0 && lba % cylBlocks ? cylBlocks - (lba % cylBlocks) : 0;
    const startBlock = lba + prepad;
    if (cylBlocks > 0 && blocks % cylBlocks) blocks += cylBlocks - (blocks % cylBlocks);
    lba = startBlock + blocks;
    return { prepadBlocks: prepad, startBlock, blocks, content: a.content };
  });
  const tailStart = lba;
  lba += o.padBlocks;
  let gptBackupLba: number | undefined;
  if (tables.gpt) {
    gptBackupLba = lba;
    lba += tables.gptBackupBlocks;
  }
  if (lba > 0xffffffff) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'iso9660.pvd.volumeSpaceSize', detail: `the image needs ${lba} blocks; ISO 9660 addresses 4294967295` });
  }
  const l: Layout = {
    offset: P,
    pvdLba,
    pvd1Lba,
    t0,
    t1,
    isoPathTable: pathTable(plan.isoDirs, false),
    jolietPathTable: o.joliet ? pathTable(plan.jolietDirs, true) : [],
    isoDirsDfs,
    jolietDirsDfs,
    dataStart,
    emptyBlock,
    files,
    alignPadBlocks: align.padBlocks,
    appended,
    tailStart,
    volumeBlocks: haveAppended ? alignmentEnd : lba,
    totalBlocks: lba,
    tables,
    heads: align.heads,
    sectors: align.sectors,
    postPadBytes: align.postPadBytes,
    dates,
  };
  if (bootRecordLba !== undefined) l.bootRecordLba = bootRecordLba;
  if (efiPart) l.efiPart = efiPart;
  if (gptBackupLba !== undefined) l.gptBackupLba = gptBackupLba;
  return l;
}

function systemArea(plan: IsoTree, o: ResolvedIsoOptions, l: Layout): SystemAreaBytes {
  return encodeSystemArea(o, {
    plan: l.tables,
    heads: l.heads,
    sectors: l.sectors,
    volumeBlocks: l.volumeBlocks,
    totalBlocks: l.totalBlocks,
    postPadBytes: l.postPadBytes,
    partitionOffset: l.offset,
    boot: o.boot.map((b, i) => {
      const f = plan.bootImages[i];
      return { platform: b.platform, gptMark: b.gptMark, apmMark: b.apmMark, appended: b.appended, lba: f?.lba ?? 0, sizeBytes: f?.size ?? 0 };
    }),
    appended: l.appended.map((a, i): SaAppended | undefined =>
      a ? { startBlock: a.startBlock, sizeBlocks: a.blocks, typeByte: o.sa.appended[i]!.typeByte, typeGuid: o.sa.appended[i]!.typeGuid } : undefined,
    ),
    efiBootPart: l.efiPart ? { startBlock: l.efiPart.lba, sizeBlocks: l.efiPart.blocks } : undefined,
    dateDigits: l.dates.digits,
  });
}

/** The second copy's path table: the same records, addresses relative to the partition. */
function shiftedPathTable(dirs: readonly IsoDir[], joliet: boolean, offset: number): PathTableDir[] {
  const t = pathTable(dirs, joliet);
  return t.map((r, i) => ({ ...r, extentLba: (joliet ? dirs[i]!.jLba1 : dirs[i]!.lba1) - offset }));
}

/** Builds directory records; the same code serves the sizing pass and the writing pass. */
class RecordBuilder {
  private ce = new ContinuationAreas(false);
  private ceLba = 0;
  /** 0: the image's own tree; 1: the partition's copy (addresses minus `offset`). */
  copy: 0 | 1 = 0;
  /** Where content-less records point (libisofs: the empty block at the data start). */
  emptyBlock = 0;
  constructor(
    private readonly plan: IsoTree,
    private readonly o: ResolvedIsoOptions,
    private readonly keepAreas: boolean,
    private readonly offset = 0,
  ) {}

  private dirLba(d: IsoDir): number {
    return this.copy === 0 ? d.lba : d.lba1 - this.offset;
  }
  private jDirLba(d: IsoDir): number {
    return this.copy === 0 ? d.jLba : d.jLba1 - this.offset;
  }
  private fileLba(lba: number): number {
    return this.copy === 0 ? lba : lba - this.offset;
  }

  private systemUse(entries: Uint8Array[], idLen: number): Uint8Array {
    const room = DIR_RECORD_MAX - recordLength(idLen, 0);
    const { inline, areas } = splitSystemUse(entries, room, ISO_SECTOR_SIZE);
    if (areas.length === 0) return concatBytes(inline);
    const lens = areas.map((a, i) => a.reduce((s, e) => s + e.byteLength, 0) + (i < areas.length - 1 ? CE_LENGTH : 0));
    const at = lens.map((len) => this.ce.alloc(len));
    const ceTo = (i: number) => ceEntry(this.ceLba + at[i]!.block, at[i]!.offset, lens[i]!);
    areas.forEach((a, i) => this.ce.put(at[i]!, concatBytes(i < areas.length - 1 ? [...a, ceTo(i + 1)] : a)));
    return concatBytes([...inline, ceTo(0)]);
  }

  private rr(n: IsoNode, opts: { name?: boolean; root?: boolean; relocatedHere?: boolean } = {}): Uint8Array[] {
    if (!this.o.rockRidge) return [];
    const e: Uint8Array[] = [];
    if (opts.root) e.push(spEntry());
    if (opts.relocatedHere) e.push(reEntry());
    e.push(pxEntry(n.mode, n.nlink, n.uid, n.gid, n.ino, this.o.rockRidgeVersion));
    e.push(tfEntry(n.mtime));
    if ((n.kind === 'char' || n.kind === 'block') && n.rdev !== undefined) e.push(pnEntry(Math.floor(n.rdev / 2 ** 32), n.rdev % 2 ** 32));
    if (opts.name) e.push(...nmEntries(n.name));
    if (n.kind === 'symlink') e.push(...slEntries(n.linkTarget ?? ''));
    if (n.kind === 'placeholder') e.push(clEntry(this.dirLba(n.relocated!)));
    if (opts.root) e.push(erEntry(this.o.rockRidgeVersion));
    return e;
  }

  isoRecords(d: IsoDir): { records: Uint8Array[]; ce: ContinuationAreas } {
    this.ce = new ContinuationAreas(this.keepAreas);
    this.ceLba = this.copy === 0 ? d.ceLba : d.ceLba1 - this.offset;
    const out: Uint8Array[] = [];
    const parent = d.isoParent ?? d;
    const selfSu = this.systemUse(this.rr(d, { root: d === this.plan.root }), 1);
    out.push(encodeDirectoryRecord({ extentLba: this.dirLba(d), dataLength: d.sizeBytes, mtime: d.mtime, flags: FLAG_DIRECTORY, identifier: ID_SELF, systemUse: selfSu }));
    const parentEntries = this.rr(parent);
    if (d.isRelocated && this.o.rockRidge) parentEntries.push(plEntry(this.dirLba(d.parent!)));
    // The ".." record's time is the parent's parent's, as libisofs writes it (readers take the
    // parent's attributes from its own record or from RRIP TF, which is the parent's).
    const dotDotTime = (parent.isoParent ?? parent).mtime;
    out.push(encodeDirectoryRecord({ extentLba: this.dirLba(parent), dataLength: parent.sizeBytes, mtime: dotDotTime, flags: FLAG_DIRECTORY, identifier: ID_PARENT, systemUse: this.systemUse(parentEntries, 1) }));
    for (const c of d.isoChildren) {
      const entries = this.rr(c, { name: true, relocatedHere: c.kind === 'dir' && (c as IsoDir).isRelocated === true && d !== c.parent });
      if (c.kind === 'dir') {
        const cd = c as IsoDir;
        out.push(encodeDirectoryRecord({ extentLba: this.dirLba(cd), dataLength: cd.sizeBytes, mtime: c.mtime, flags: FLAG_DIRECTORY, identifier: c.isoId, systemUse: this.systemUse(entries, c.isoId.byteLength) }));
      } else out.push(...this.fileRecords(c, c.isoId, () => this.systemUse(entries, c.isoId.byteLength)));
    }
    return { records: out, ce: this.ce };
  }

  jolietRecords(d: IsoDir): Uint8Array[] {
    const out: Uint8Array[] = [];
    const parent = d.parent ?? d;
    out.push(encodeDirectoryRecord({ extentLba: this.jDirLba(d), dataLength: d.jSizeBytes, mtime: d.mtime, flags: FLAG_DIRECTORY, identifier: ID_SELF }));
    out.push(encodeDirectoryRecord({ extentLba: this.jDirLba(parent), dataLength: parent.jSizeBytes, mtime: parent.mtime, flags: FLAG_DIRECTORY, identifier: ID_PARENT }));
    for (const c of d.jolietChildren) {
      if (c.kind === 'dir') {
        const cd = c as IsoDir;
        out.push(encodeDirectoryRecord({ extentLba: this.jDirLba(cd), dataLength: cd.jSizeBytes, mtime: c.mtime, flags: FLAG_DIRECTORY, identifier: c.jolietId! }));
      } else out.push(...this.fileRecords(c, c.jolietId!, () => new Uint8Array(0)));
    }
    return out;
  }

  /** One record per extent (ECMA-119 §6.5.1 multi-extent files: all but the last flagged). */
  private fileRecords(n: IsoNode, id: Uint8Array, su: () => Uint8Array): Uint8Array[] {
    const size = n.kind === 'placeholder' ? 0 : (n.data?.size ?? 0);
    const lba = size > 0 ? this.fileLba(n.data!.lba) : this.emptyBlock === 0 ? 0 : this.fileLba(this.emptyBlock);
    const count = extentCount(size);
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const len = count === 1 ? size : Math.min(MAX_EXTENT_BYTES, size - i * MAX_EXTENT_BYTES);
      out.push(
        encodeDirectoryRecord({
          extentLba: lba + i * (MAX_EXTENT_BYTES / ISO_SECTOR_SIZE),
          dataLength: len,
          mtime: n.mtime,
          flags: i < count - 1 ? FLAG_MULTI_EXTENT : 0,
          identifier: id,
          systemUse: su(),
        }),
      );
    }
    return out;
  }
}

class Writer {
  private readonly zeros = new Uint8Array(ISO_SECTOR_SIZE);
  private readonly base: number;
  constructor(
    private readonly sink: ByteSink,
    private readonly plan: IsoTree,
    private readonly o: ResolvedIsoOptions,
    private readonly l: Layout,
    private readonly sa: SystemAreaBytes,
  ) {
    this.base = sink.position;
  }

  private async padTo(offset: number): Promise<void> {
    const n = offset - (this.sink.position - this.base);
    if (n < 0) {
      throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'layout', detail: `the writer is at byte ${this.sink.position - this.base}, past ${offset} (a layout bug; please report it)` });
    }
    if (n <= ISO_SECTOR_SIZE) {
      if (n > 0) await this.sink.write(this.zeros.subarray(0, n));
    } else await writeZeros(this.sink, n);
  }
  private async at(lba: number): Promise<void> {
    await this.padTo(lba * ISO_SECTOR_SIZE);
  }

  /** PVD, [boot record], [Joliet SVD], terminator of one copy (1: the partition's, shifted). */
  private async writeDescriptors(copy: 0 | 1): Promise<void> {
    const { plan, o, l } = this;
    const shift = copy === 0 ? 0 : l.offset;
    const root = plan.root;
    const t = copy === 0 ? l.t0 : l.t1;
    const rootRecord = (joliet: boolean) =>
      encodeDirectoryRecord({
        extentLba: (joliet ? (copy ? root.jLba1 : root.jLba) : copy ? root.lba1 : root.lba) - shift,
        dataLength: joliet ? root.jSizeBytes : root.sizeBytes,
        mtime: root.mtime,
        flags: FLAG_DIRECTORY,
        identifier: ID_SELF,
      });
    // The PVD counts the whole image when the ISO is not itself a partition (protective label,
    // partition offset); the Joliet SVD and the partition's PVD count the ISO volume.
    const pvdBlocks = copy === 0 && this.sa.pvdCountsTotal ? l.totalBlocks : l.volumeBlocks - shift;
    const dates = { creation: l.dates.creation, modification: l.dates.modification, expiration: l.dates.expiration, effective: l.dates.effective };
    await this.sink.write(
      encodeVolumeDescriptor({
        type: VD_PRIMARY,
        systemId: padded(asciiBytes(o.systemId), 32),
        volumeId: padded(asciiBytes(o.volumeId), 32),
        volumeSetId: padded(asciiBytes(o.volumeSetId), 128),
        publisherId: padded(asciiBytes(o.publisherId), 128),
        dataPreparerId: padded(asciiBytes(o.dataPreparerId), 128),
        applicationId: padded(asciiBytes(o.applicationId), 128),
        escape: new Uint8Array(32),
        volumeSpaceSize: pvdBlocks,
        pathTableSize: pathTableSize(l.isoPathTable),
        lPathTableLba: t.l - shift,
        mPathTableLba: t.m - shift,
        rootRecord: rootRecord(false),
        dates,
        fileIdFill: new Uint8Array(37).fill(0x20),
      }),
    );
    if (copy === 0 && l.bootRecordLba !== undefined) await this.sink.write(encodeBootRecord(plan.catalog!.lba));
    if (o.joliet) {
      const u = (s: string, n: number) => paddedUcs2(ucs2be(s), n);
      await this.sink.write(
        encodeVolumeDescriptor({
          type: VD_SUPPLEMENTARY,
          systemId: u(o.jolietIds.systemId, 32),
          volumeId: u(o.volumeId.slice(0, 16), 32),
          volumeSetId: u(o.jolietIds.volumeSetId, 128),
          publisherId: u(o.jolietIds.publisherId, 128),
          dataPreparerId: u(o.jolietIds.dataPreparerId, 128),
          applicationId: u(o.jolietIds.applicationId, 128),
          escape: JOLIET_ESCAPE,
          volumeSpaceSize: l.volumeBlocks - shift,
          pathTableSize: pathTableSize(l.jolietPathTable),
          lPathTableLba: t.jl - shift,
          mPathTableLba: t.jm - shift,
          rootRecord: rootRecord(true),
          dates,
          fileIdFill: paddedUcs2(new Uint8Array(0), 37),
        }),
      );
    }
    await this.sink.write(encodeTerminator());
  }

  private async writePathTables(table: PathTableDir[], l: number, m: number): Promise<void> {
    await this.at(l);
    await this.sink.write(encodePathTable(table, false));
    await this.at(m);
    await this.sink.write(encodePathTable(table, true));
  }

  async writeAll(): Promise<void> {
    const { plan, o, l } = this;
    const P = l.offset;
    await this.sink.write(this.sa.area);
    await this.at(l.pvdLba);
    await this.writeDescriptors(0);
    if (P > 0) {
      await this.at(l.pvd1Lba);
      await this.writeDescriptors(1);
    }
    const builder = new RecordBuilder(plan, o, true, P);
    // xorriso points content-less records at the empty block; with RRIP 1.12 they stay at 0, where
    // libarchive keeps telling hard-linked empty files (same PX serial) from unrelated ones.
    builder.emptyBlock = o.rockRidgeVersion === '1.10' ? l.emptyBlock : 0;
    for (const copy of P > 0 ? ([0, 1] as const) : ([0] as const)) {
      builder.copy = copy;
      for (const d of l.isoDirsDfs) {
        const r = builder.isoRecords(d);
        await this.writeDirectory(copy ? d.lba1 : d.lba, d.sizeBytes, r.records);
        for (const sector of r.ce.sectors) await this.sink.write(sector);
      }
      const t = copy ? l.t1 : l.t0;
      await this.writePathTables(copy ? shiftedPathTable(plan.isoDirs, false, P) : l.isoPathTable, t.l, t.m);
    }
    if (o.joliet) {
      for (const copy of P > 0 ? ([0, 1] as const) : ([0] as const)) {
        builder.copy = copy;
        for (const d of l.jolietDirsDfs) await this.writeDirectory(copy ? d.jLba1 : d.jLba, d.jSizeBytes, builder.jolietRecords(d));
        const t = copy ? l.t1 : l.t0;
        await this.writePathTables(copy ? shiftedPathTable(plan.jolietDirs, true, P) : l.jolietPathTable, t.jl, t.jm);
      }
    }
    if (l.efiPart) {
      await this.at(l.efiPart.lba);
      if (l.efiPart.content) await this.writeContent(l.efiPart.content, '(EFI boot partition)');
      else {
        const f = plan.bootImages[o.boot.findIndex((b) => b.platform === 0xef)]!;
        await this.writeFile(f);
      }
    }
    await this.at(l.emptyBlock + 1);
    // Small files are read a few ahead of the one being written (copying is latency-bound).
    const ahead = new ReadAhead(l.files.map((f) => (f.catalog || f.bootInfoTable || f.grub2BootInfo ? undefined : f.entry)));
    for (const [index, f] of l.files.entries()) {
      await this.at(f.lba);
      if (f.catalog) await this.sink.write(encodeBootCatalog(this.catalogEntries()));
      else await this.writeFile(f, f.entry && !f.bootInfoTable && !f.grub2BootInfo ? { ...f.entry, read: () => ahead.read(index) } : undefined);
    }
    for (const a of l.appended) {
      if (!a) continue;
      await this.at(a.startBlock);
      await this.writeContent(a.content, '(appended partition)');
    }
    await this.at(l.tailStart + o.padBlocks);
    if (this.sa.gptBackup) {
      await this.at(l.gptBackupLba!);
      await this.sink.write(this.sa.gptBackup);
    }
    await this.at(l.totalBlocks);
  }

  private catalogEntries(): BootImageEntry[] {
    const { o, plan, l } = this;
    return o.boot.map((b, i) => {
      if (b.appended >= 0) {
        const a = l.appended[b.appended]!;
        return { platform: b.platform, lba: a.startBlock, loadSectors: fullLoadSectors(a.blocks * ISO_SECTOR_SIZE, b.platform) };
      }
      const f = plan.bootImages[i]!;
      let loadSectors: number;
      if (b.loadSectors === 'full') loadSectors = fullLoadSectors(f.size, b.platform);
      else if (b.loadSectors === 'file-size') {
        const n = Math.ceil(f.size / 512);
        loadSectors = n > 0xffff ? (b.platform === 0xef ? 0 : 0xffff) : n;
      } else loadSectors = b.loadSectors;
      return { platform: b.platform, lba: f.lba, loadSectors };
    });
  }

  bootImages(): { platform: number; lba: number; loadSectors: number }[] {
    return this.catalogEntries().map((e) => ({ platform: e.platform, lba: e.lba, loadSectors: e.loadSectors }));
  }

  private async writeDirectory(lba: number, sizeBytes: number, records: Uint8Array[]): Promise<void> {
    const start = lba * ISO_SECTOR_SIZE;
    await this.padTo(start);
    for (const r of records) {
      const inSector = (this.sink.position - this.base - start) % ISO_SECTOR_SIZE;
      if (inSector + r.byteLength > ISO_SECTOR_SIZE) await this.padTo(this.sink.position - this.base + ISO_SECTOR_SIZE - inSector);
      await this.sink.write(r);
    }
    await this.padTo(start + sizeBytes);
  }

  private async writeContent(content: IsoContent, what: string): Promise<void> {
    if (content.write) await this.writeImage(content, what);
    else for await (const c of readChecked(contentEntry(content, what), 'iso9660', content.size)) await this.sink.write(c);
    const rem = content.size % ISO_SECTOR_SIZE;
    if (rem) await this.sink.write(this.zeros.subarray(0, ISO_SECTOR_SIZE - rem));
  }

  /**
   * Another image written straight into the ISO (an ImagePlan's write, e.g. the FAT image of
   * efiDir): it gets a window of exactly its planned size at the current position; writing more or
   * less than planned means its source changed since the plan.
   */
  private async writeImage(content: IsoContent, what: string): Promise<void> {
    const window = imageWindow(this.sink, content.size, what);
    await content.write!(window);
    if (window.position !== content.size) throw changedSize(what, window.position, content.size);
  }

  private async writeFile(f: FileData, readAhead?: SourceEntry): Promise<void> {
    const what = f.path ?? '(given content)';
    if (!readAhead && !f.entry && f.content?.write && !f.bootInfoTable && !f.grub2BootInfo) {
      await this.writeContent(f.content, what);
      return;
    }
    const entry: SourceEntry = readAhead ?? f.entry ?? contentEntry(f.content!, what);
    if (f.bootInfoTable || f.grub2BootInfo) {
      const parts: Uint8Array[] = [];
      for await (const c of readChecked(entry, 'iso9660', f.size)) parts.push(copyBytes(c));
      const image = concatBytes(parts);
      // GRUB2's boot info first, the boot-info-table last (its checksum covers the GRUB2 field).
      if (f.grub2BootInfo) patchGrub2BootInfo(image, f.lba);
      if (f.bootInfoTable) patchBootInfoTable(image, this.l.pvdLba, f.lba);
      await this.sink.write(image);
    } else {
      // All-zero chunks (sparse files, empty disk images) go out as zeros the sink may leave as holes.
      for await (const c of readChecked(entry, 'iso9660', f.size)) {
        if (this.sink.writeZeros && c.byteLength >= ISO_SECTOR_SIZE && isAllZero(c)) await this.sink.writeZeros(c.byteLength);
        else await this.sink.write(c);
      }
    }
    const rem = f.size % ISO_SECTOR_SIZE;
    if (rem) await this.sink.write(this.zeros.subarray(0, ISO_SECTOR_SIZE - rem));
  }
}

/** Given content as a source entry (read() from its bytes, or from its writer into memory for patching). */
function contentEntry(content: IsoContent, path: string): SourceEntry {
  const read = content.read
    ? () => content.read!()
    : async function* () {
        const m = new MemorySink();
        await content.write!(m);
        yield m.bytes();
      };
  return { path, kind: 'file', mode: 0o444, uid: 0, gid: 0, mtime: 0, size: content.size, read };
}

function changedSize(what: string, bytes: number, planned: number): ImgkitError {
  return new ImgkitError(ErrorCodes.SOURCE_CHANGED, {
    format: 'iso9660',
    path: what,
    detail: `${bytes > planned ? 'wrote more than' : `wrote ${bytes} bytes of`} the ${planned} bytes it was planned at`,
    hint: 'do not change the input while the image is written',
  });
}

/**
 * The sink an image written into the ISO sees: positions from 0 at the current position of the
 * ISO's sink, at most `size` bytes (more means its input changed since it was planned).
 */
function imageWindow(parent: ByteSink, size: number, what: string): ByteSink {
  const base = parent.position;
  let pos = 0;
  const room = (end: number) => {
    if (end > size) throw changedSize(what, end, size);
  };
  return {
    get position() {
      return pos;
    },
    get seekable() {
      return parent.seekable;
    },
    async write(chunk) {
      room(pos + chunk.byteLength);
      await parent.write(chunk);
      pos += chunk.byteLength;
    },
    async writeZeros(n) {
      room(pos + n);
      await writeZeros(parent, n);
      pos += n;
    },
    async writeAt(at, chunk) {
      room(at + chunk.byteLength);
      await parent.writeAt(base + at, chunk);
    },
    async expectSize(end) {
      room(end);
    },
    async close() {
      /* the ISO owns the output */
    },
  };
}
