/**
 * writeIso: plan (metadata walk, names, LBAs; see plan.ts for the layout), then emit the image
 * strictly in LBA order so any sink works, seekable or not:
 *   1. system area (MBR / protective MBR + primary GPT), 2. volume descriptors, 3. path tables,
 *   4. boot catalog, 5. ISO then Joliet directories (Rock Ridge in their System Use areas),
 *   6. Rock Ridge continuation areas, 7. file contents in walk order (streamed; a boot image with a
 *   boot-info-table is the one file held in memory), 8. padding, appended ESP, backup GPT.
 * Directory records are built twice with the same code: once with dummy LBAs to learn their
 * lengths (and the continuation areas they need), once with the final LBAs to write them.
 */
import {
  alignUp,
  type ByteSink,
  concatBytes,
  deterministicId,
  ErrorCodes,
  expectSinkSize,
  ImgkitError,
  readChecked,
  ReadAhead,
  type SourceEntry,
  type SourceTree,
  writeZeros,
  isAllZero,
  copyBytes,
} from '@imgkit/core';
import { encodeDirectoryRecord, FLAG_DIRECTORY, FLAG_MULTI_EXTENT, ID_PARENT, ID_SELF, recordLength, DIR_RECORD_MAX } from './directory-record.js';
import { encodeBootCatalog, patchBootInfoTable, PLATFORM_EFI, PLATFORM_X86, type BootImageEntry } from './el-torito.js';
import {
  encodeGpt,
  encodeMbr,
  GPT_ENTRIES_SECTORS,
  guidBytes,
  GUID_BASIC_DATA,
  GUID_EFI_SYSTEM,
  type GptPartition,
  type MbrEntry,
  protectiveEntry,
  SECTOR,
} from './hybrid.js';
import { JOLIET_ESCAPE, ucs2be } from './joliet.js';
import { asciiBytes } from './names.js';
import { type IsoOptions, type ResolvedIsoOptions, resolveOptions } from './options.js';
import { encodePathTable, pathTableSize, type PathTableDir } from './path-table.js';
import { addVirtualFile, buildTree, directoryBytes, extentCount, type FileData, type IsoDir, type IsoNode, type IsoPlan, MAX_EXTENT_BYTES, planTree, sectorsOf } from './plan.js';
import { ceEntry, CE_LENGTH, clEntry, erEntry, nmEntries, plEntry, pnEntry, pxEntry, reEntry, slEntries, spEntry, splitSystemUse, tfEntry } from './rock-ridge.js';
import {
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
  /** ECMA-119 volume space size, in 2048-byte blocks. */
  volumeBlocks: number;
  bootCatalogLba?: number;
  biosImageLba?: number;
  efiImageLba?: number;
}

/** Boot images are loaded whole into memory for the boot-info-table patch: keep them bounded. */
const BOOT_INFO_TABLE_MAX_BYTES = 64 << 20;
const SYSTEM_AREA_BYTES = 16 * ISO_SECTOR_SIZE;
/** isohybrid aligns the image to whole cylinders of 64 heads × 32 sectors (1 MiB). */
const CYLINDER_BYTES = 64 * 32 * SECTOR;

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

interface Layout {
  /** 0, or the partition offset: a second descriptor set at 16 + offset, addresses minus offset. */
  offset: number;
  pvdLba: number;
  pvd1Lba: number;
  lPath1: number;
  mPath1: number;
  jlPath1: number;
  jmPath1: number;
  bootRecordLba?: number;
  svdLba?: number;
  lPath: number;
  mPath: number;
  jlPath: number;
  jmPath: number;
  isoPathTable: PathTableDir[];
  jolietPathTable: PathTableDir[];
  isoEndBlocks: number;
  volumeBlocks: number;
  espStartBlock?: number;
  diskBytes: number;
}

export async function writeIso(source: SourceTree, sink: ByteSink, options: IsoOptions = {}): Promise<IsoResult> {
  const o = resolveOptions(options);
  const plan = await buildTree(source, o);
  placeBootFiles(plan, o);
  planTree(plan, o);
  const layout = layOut(plan, o);
  await expectSinkSize(sink, sink.position + layout.diskBytes); // a device too small fails before the first byte
  const w = new Writer(sink, plan, o, layout);
  await w.writeAll();
  const r: IsoResult = { sizeBytes: sink.position, volumeBlocks: layout.volumeBlocks };
  if (plan.catalog) r.bootCatalogLba = plan.catalog.lba;
  if (plan.biosImage) r.biosImageLba = plan.biosImage.lba;
  const efiLba = efiImageLba(plan, layout);
  if (efiLba !== undefined) r.efiImageLba = efiLba;
  return r;
}

function placeBootFiles(plan: IsoPlan, o: ResolvedIsoOptions): void {
  const bootFile = (path: string, what: string): FileData => {
    const n = plan.byPath.get(path);
    if (!n || n.kind !== 'file' || !n.data) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'iso9660', path, detail: `the ${what} is not a regular file of the tree`, hint: 'give its path relative to the tree root' });
    }
    return n.data;
  };
  if (o.efi && o.efi !== 'appended-esp' && o.efi.content) {
    addVirtualFile(plan, o.efi.path, { size: o.efi.content.size, lba: 0, content: o.efi.content }, o, 'EFI boot image');
  }
  if (o.bios) {
    plan.biosImage = bootFile(o.bios.path, 'BIOS boot image');
    if (o.bios.bootInfoTable) {
      if (plan.biosImage.size > BOOT_INFO_TABLE_MAX_BYTES || plan.biosImage.size < 64) {
        throw new ImgkitError(ErrorCodes.BAD_OPTION, {
          format: 'iso9660',
          path: o.bios.path,
          detail: `a boot image with a boot-info-table must be 64 bytes … 64 MiB; this one is ${plan.biosImage.size} bytes`,
          hint: 'drop --boot-info-table',
        });
      }
      plan.biosImage.bootInfoTable = true;
    }
  }
  if (o.efi && o.efi !== 'appended-esp') plan.efiImage = bootFile(o.efi.path, 'EFI boot image');
  if (o.bios || o.efi) {
    const node = addVirtualFile(plan, o.catalogPath, { size: ISO_SECTOR_SIZE, lba: 0, catalog: true }, o, 'boot catalog');
    plan.catalog = node.data!;
  }
}

function efiImageLba(plan: IsoPlan, l: Layout): number | undefined {
  if (plan.efiImage) return plan.efiImage.lba;
  return l.espStartBlock;
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

function layOut(plan: IsoPlan, o: ResolvedIsoOptions): Layout {
  const P = o.partitionOffset;
  let lba = 16;
  const pvdLba = lba++;
  const bootRecordLba = plan.catalog ? lba++ : undefined;
  const svdLba = o.joliet ? lba++ : undefined;
  lba++; // terminator
  // With a partition offset, the partition's own descriptors sit at its block 16.
  let pvd1Lba = 0;
  if (P > 0) {
    lba = 16 + P;
    pvd1Lba = lba;
    lba += o.joliet ? 3 : 2;
  }
  const isoPt = pathTable(plan.isoDirs, false);
  const ptBlocks = sectorsOf(pathTableSize(isoPt));
  const jb = o.joliet ? sectorsOf(pathTableSize(pathTable(plan.jolietDirs, true))) : 0;
  const tables = () => {
    const t = { l: lba, m: lba + ptBlocks, jl: 0, jm: 0 };
    lba += 2 * ptBlocks;
    if (o.joliet) {
      t.jl = lba;
      t.jm = lba + jb;
      lba += 2 * jb;
    }
    return t;
  };
  const t0 = tables();
  const t1 = P > 0 ? tables() : { l: 0, m: 0, jl: 0, jm: 0 };
  const [lPath, mPath, jlPath, jmPath] = [t0.l, t0.m, t0.jl, t0.jm];
  if (plan.catalog) plan.catalog.lba = lba++;
  // Sizing pass: record lengths don't depend on LBAs.
  // Each directory's continuation areas follow its extent, so streaming readers (libarchive) meet
  // them before anything else.
  const sizing = new RecordBuilder(plan, o, false);
  for (const d of plan.isoDirs) {
    const r = sizing.isoRecords(d);
    d.sizeBytes = directoryBytes(r.records.map((x) => x.byteLength));
    d.ceBlocks = r.ce.blockCount;
  }
  for (const d of plan.jolietDirs) d.jSizeBytes = directoryBytes(sizing.jolietRecords(d).map((r) => r.byteLength));
  for (const d of plan.isoDirs) {
    d.lba = lba;
    lba += sectorsOf(d.sizeBytes);
    d.ceLba = lba;
    lba += d.ceBlocks;
  }
  if (P > 0) {
    for (const d of plan.isoDirs) {
      d.lba1 = lba;
      lba += sectorsOf(d.sizeBytes);
      d.ceLba1 = lba;
      lba += d.ceBlocks;
    }
  }
  for (const d of plan.jolietDirs) {
    d.jLba = lba;
    lba += sectorsOf(d.jSizeBytes);
  }
  if (P > 0) {
    for (const d of plan.jolietDirs) {
      d.jLba1 = lba;
      lba += sectorsOf(d.jSizeBytes);
    }
  }
  for (const f of plan.files) {
    if (f.catalog) continue;
    if (f.size === 0) {
      f.lba = 0;
      continue;
    }
    f.lba = lba;
    lba += sectorsOf(f.size);
  }
  lba += o.padBlocks;
  if (lba > 0xffffffff) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'iso9660.pvd.volumeSpaceSize', detail: `the image needs ${lba} blocks; ISO 9660 addresses 4294967295` });
  }
  const isoEndBlocks = lba;
  let volumeBlocks = isoEndBlocks;
  let diskBytes = isoEndBlocks * ISO_SECTOR_SIZE;
  let espStartBlock: number | undefined;
  const gptTail = (1 + GPT_ENTRIES_SECTORS) * SECTOR;
  switch (o.hybrid) {
    case 'isohybrid-mbr':
      // With a GPT, its backup takes the last 33 sectors of the cylinder padding.
      volumeBlocks = alignUp(isoEndBlocks * ISO_SECTOR_SIZE + (o.isohybridGpt ? gptTail : 0), CYLINDER_BYTES) / ISO_SECTOR_SIZE;
      diskBytes = volumeBlocks * ISO_SECTOR_SIZE;
      break;
    case 'appended-esp': {
      espStartBlock = alignUp(isoEndBlocks * ISO_SECTOR_SIZE, CYLINDER_BYTES) / ISO_SECTOR_SIZE;
      const espEnd = espStartBlock * ISO_SECTOR_SIZE + alignUp(o.appendedEsp!.size, SECTOR);
      diskBytes = alignUp(espEnd + gptTail, ISO_SECTOR_SIZE);
      break;
    }
    case 'uefi-only':
      diskBytes = alignUp(isoEndBlocks * ISO_SECTOR_SIZE + gptTail, ISO_SECTOR_SIZE);
      break;
    case 'none':
      break;
  }
  const l: Layout = {
    offset: P,
    pvdLba,
    pvd1Lba,
    lPath1: t1.l,
    mPath1: t1.m,
    jlPath1: t1.jl,
    jmPath1: t1.jm,
    lPath,
    mPath,
    jlPath,
    jmPath,
    isoPathTable: [],
    jolietPathTable: [],
    isoEndBlocks,
    volumeBlocks,
    diskBytes,
  };
  if (bootRecordLba !== undefined) l.bootRecordLba = bootRecordLba;
  if (svdLba !== undefined) l.svdLba = svdLba;
  if (espStartBlock !== undefined) l.espStartBlock = espStartBlock;
  l.isoPathTable = pathTable(plan.isoDirs, false);
  if (o.joliet) l.jolietPathTable = pathTable(plan.jolietDirs, true);
  return l;
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
  constructor(
    private readonly plan: IsoPlan,
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
    return this.copy === 0 || lba === 0 ? lba : lba - this.offset;
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
    e.push(pxEntry(n.mode, n.nlink, n.uid, n.gid, n.ino));
    e.push(tfEntry(n.mtime));
    if ((n.kind === 'char' || n.kind === 'block') && n.rdev !== undefined) e.push(pnEntry(Math.floor(n.rdev / 2 ** 32), n.rdev % 2 ** 32));
    if (n.kind === 'symlink') e.push(...slEntries(n.linkTarget ?? ''));
    if (opts.name) e.push(...nmEntries(n.name));
    if (n.kind === 'placeholder') e.push(clEntry(this.dirLba(n.relocated!)));
    if (opts.root) e.push(erEntry());
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
    out.push(encodeDirectoryRecord({ extentLba: this.dirLba(parent), dataLength: parent.sizeBytes, mtime: parent.mtime, flags: FLAG_DIRECTORY, identifier: ID_PARENT, systemUse: this.systemUse(parentEntries, 1) }));
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
    const size = n.data?.size ?? 0;
    const lba = n.kind === 'placeholder' ? 0 : this.fileLba(n.data?.lba ?? 0);
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
  constructor(
    private readonly sink: ByteSink,
    private readonly plan: IsoPlan,
    private readonly o: ResolvedIsoOptions,
    private readonly l: Layout,
  ) {}

  private async padTo(offset: number): Promise<void> {
    const n = offset - this.sink.position;
    if (n < 0) throw new Error(`iso9660 writer: at ${this.sink.position}, past ${offset} (layout bug)`);
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
    const rootRecord = (joliet: boolean) =>
      encodeDirectoryRecord({
        extentLba: (joliet ? (copy ? root.jLba1 : root.jLba) : copy ? root.lba1 : root.lba) - shift,
        dataLength: joliet ? root.jSizeBytes : root.sizeBytes,
        mtime: root.mtime,
        flags: FLAG_DIRECTORY,
        identifier: ID_SELF,
      });
    await this.sink.write(
      encodeVolumeDescriptor({
        type: VD_PRIMARY,
        systemId: padded(asciiBytes(o.systemId), 32),
        volumeId: padded(asciiBytes(o.volumeId), 32),
        volumeSetId: padded(asciiBytes(o.volumeId), 128),
        publisherId: padded(asciiBytes(o.publisherId), 128),
        dataPreparerId: padded(asciiBytes(o.dataPreparerId), 128),
        applicationId: padded(asciiBytes(o.applicationId), 128),
        escape: new Uint8Array(32),
        volumeSpaceSize: l.volumeBlocks - shift,
        pathTableSize: pathTableSize(l.isoPathTable),
        lPathTableLba: copy ? l.lPath1 - shift : l.lPath,
        mPathTableLba: copy ? l.mPath1 - shift : l.mPath,
        rootRecord: rootRecord(false),
        epoch: o.epoch,
        fileIdFill: new Uint8Array(37).fill(0x20),
      }),
    );
    if (copy === 0 && l.bootRecordLba !== undefined) await this.sink.write(encodeBootRecord(plan.catalog!.lba));
    if (o.joliet) {
      const u = (s: string, n: number) => paddedUcs2(ucs2be(s), n);
      await this.sink.write(
        encodeVolumeDescriptor({
          type: VD_SUPPLEMENTARY,
          systemId: u(o.systemId, 32),
          volumeId: u(o.volumeId.slice(0, 16), 32),
          volumeSetId: u(o.volumeId, 128),
          publisherId: u(o.publisherId, 128),
          dataPreparerId: u(o.dataPreparerId, 128),
          applicationId: u(o.applicationId, 128),
          escape: JOLIET_ESCAPE,
          volumeSpaceSize: l.volumeBlocks - shift,
          pathTableSize: pathTableSize(l.jolietPathTable),
          lPathTableLba: copy ? l.jlPath1 - shift : l.jlPath,
          mPathTableLba: copy ? l.jmPath1 - shift : l.jmPath,
          rootRecord: rootRecord(true),
          epoch: o.epoch,
          fileIdFill: paddedUcs2(new Uint8Array(0), 37),
        }),
      );
    }
    await this.sink.write(encodeTerminator());
  }

  private async writePathTables(iso: PathTableDir[], joliet: PathTableDir[], at: { l: number; m: number; jl: number; jm: number }): Promise<void> {
    await this.at(at.l);
    await this.sink.write(encodePathTable(iso, false));
    await this.at(at.m);
    await this.sink.write(encodePathTable(iso, true));
    if (this.o.joliet) {
      await this.at(at.jl);
      await this.sink.write(encodePathTable(joliet, false));
      await this.at(at.jm);
      await this.sink.write(encodePathTable(joliet, true));
    }
  }

  async writeAll(): Promise<void> {
    const { plan, o, l } = this;
    const P = l.offset;
    await this.writeSystemArea();
    await this.at(l.pvdLba);
    await this.writeDescriptors(0);
    if (P > 0) {
      await this.at(l.pvd1Lba);
      await this.writeDescriptors(1);
    }
    await this.writePathTables(l.isoPathTable, l.jolietPathTable, { l: l.lPath, m: l.mPath, jl: l.jlPath, jm: l.jmPath });
    if (P > 0) {
      await this.writePathTables(shiftedPathTable(plan.isoDirs, false, P), o.joliet ? shiftedPathTable(plan.jolietDirs, true, P) : [], {
        l: l.lPath1,
        m: l.mPath1,
        jl: l.jlPath1,
        jm: l.jmPath1,
      });
    }
    if (plan.catalog) {
      await this.at(plan.catalog.lba);
      await this.sink.write(encodeBootCatalog(this.bootImages()));
    }
    const builder = new RecordBuilder(plan, o, true, P);
    for (const copy of P > 0 ? ([0, 1] as const) : ([0] as const)) {
      builder.copy = copy;
      for (const d of plan.isoDirs) {
        const r = builder.isoRecords(d);
        await this.writeDirectory(copy ? d.lba1 : d.lba, d.sizeBytes, r.records);
        for (const sector of r.ce.sectors) await this.sink.write(sector);
      }
    }
    for (const copy of P > 0 ? ([0, 1] as const) : ([0] as const)) {
      builder.copy = copy;
      for (const d of plan.jolietDirs) await this.writeDirectory(copy ? d.jLba1 : d.jLba, d.jSizeBytes, builder.jolietRecords(d));
    }
    // Small files are read a few ahead of the one being written (copying is latency-bound).
    const ahead = new ReadAhead(plan.files.map((f) => (f.catalog || f.size === 0 || f.bootInfoTable ? undefined : f.entry)));
    for (const [index, f] of plan.files.entries()) {
      if (f.catalog || f.size === 0) continue;
      await this.at(f.lba);
      await this.writeFile(f, f.entry && !f.bootInfoTable ? { ...f.entry, read: () => ahead.read(index) } : undefined);
    }
    if (o.isohybridGpt) {
      const backup = this.gpt().backup;
      await this.padTo(l.diskBytes - backup.byteLength);
      await this.sink.write(backup);
    }
    await this.at(l.volumeBlocks);
    await this.writeTail();
  }

  private bootImages(): BootImageEntry[] {
    const imgs: BootImageEntry[] = [];
    const { plan, o, l } = this;
    if (plan.biosImage && o.bios) imgs.push({ platform: PLATFORM_X86, loadSectors: o.bios.loadSectors, lba: plan.biosImage.lba });
    const efiLba = efiImageLba(plan, l);
    if (efiLba !== undefined) {
      const size = plan.efiImage ? plan.efiImage.size : o.appendedEsp!.size;
      imgs.push({ platform: PLATFORM_EFI, loadSectors: Math.min(Math.ceil(size / SECTOR), 0xffff), lba: efiLba });
    }
    return imgs;
  }

  private async writeDirectory(lba: number, sizeBytes: number, records: Uint8Array[]): Promise<void> {
    const start = lba * ISO_SECTOR_SIZE;
    await this.padTo(start);
    for (const r of records) {
      const inSector = (this.sink.position - start) % ISO_SECTOR_SIZE;
      if (inSector + r.byteLength > ISO_SECTOR_SIZE) await this.padTo(this.sink.position + ISO_SECTOR_SIZE - inSector);
      await this.sink.write(r);
    }
    await this.padTo(start + sizeBytes);
  }

  private async writeFile(f: FileData, readAhead?: SourceEntry): Promise<void> {
    const entry: SourceEntry = readAhead ?? f.entry ?? {
      path: '(given content)',
      kind: 'file',
      mode: 0o444,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: f.size,
      read: () => f.content!.read(),
    };
    if (f.bootInfoTable) {
      const parts: Uint8Array[] = [];
      for await (const c of readChecked(entry, 'iso9660', f.size)) parts.push(copyBytes(c));
      const image = concatBytes(parts);
      patchBootInfoTable(image, this.l.pvdLba, f.lba);
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

  private diskId(): number {
    const b = deterministicId('iso9660.mbr', this.o.epoch, 4, this.o.volumeId);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
  }

  private gpt(): { primary: Uint8Array; backup: Uint8Array } {
    const { o, l, plan } = this;
    const diskSectors = l.diskBytes / SECTOR;
    const guid = (i: number) => deterministicId('iso9660.gpt', o.epoch, 16, o.volumeId, i);
    const parts: GptPartition[] = [];
    if (o.hybrid === 'appended-esp') {
      // Partition 1: the ISO 9660 data after the system area; partition 2: the appended ESP.
      parts.push({ typeGuid: guidBytes(GUID_BASIC_DATA), uniqueGuid: guid(1), startLba: Math.max(l.offset, 16) * 4, endLba: l.isoEndBlocks * 4 - 1, name: 'ISO9660' });
      const start = l.espStartBlock! * 4;
      parts.push({ typeGuid: guidBytes(GUID_EFI_SYSTEM), uniqueGuid: guid(2), startLba: start, endLba: start + Math.ceil(o.appendedEsp!.size / SECTOR) - 1, name: 'EFI System' });
    } else {
      // uefi-only, or isohybrid-mbr with isohybridGpt: the EFI image inside the ISO.
      const start = plan.efiImage!.lba * 4;
      parts.push({ typeGuid: guidBytes(GUID_EFI_SYSTEM), uniqueGuid: guid(1), startLba: start, endLba: start + Math.ceil(plan.efiImage!.size / SECTOR) - 1, name: 'EFI System' });
    }
    return encodeGpt({ diskSectors, diskGuid: guid(0), partitions: parts });
  }

  private async writeSystemArea(): Promise<void> {
    const { o, l, plan } = this;
    const area = new Uint8Array(SYSTEM_AREA_BYTES);
    const biosLba = plan.biosImage?.lba;
    if (o.hybrid === 'isohybrid-mbr') {
      const parts: MbrEntry[] = [{ bootable: true, type: 0x17, startLba: 0, sectorCount: l.volumeBlocks * 4 }];
      if (plan.efiImage) parts.push({ bootable: false, type: 0xef, startLba: plan.efiImage.lba * 4, sectorCount: Math.ceil(plan.efiImage.size / SECTOR) });
      area.set(encodeMbr(o.mbrTemplate, biosLba, this.diskId(), parts));
      if (o.isohybridGpt) area.set(this.gpt().primary, SECTOR);
    } else if (o.hybrid === 'appended-esp' || o.hybrid === 'uefi-only') {
      const diskSectors = l.diskBytes / SECTOR;
      area.set(encodeMbr(o.mbrTemplate, o.mbrTemplate ? biosLba : undefined, this.diskId(), [protectiveEntry(diskSectors)]));
      area.set(this.gpt().primary, SECTOR);
    }
    await this.sink.write(area);
  }

  private async writeTail(): Promise<void> {
    const { o, l } = this;
    if (o.hybrid === 'appended-esp') {
      await this.at(l.espStartBlock!);
      const esp = o.appendedEsp!;
      const entry: SourceEntry = { path: '(appended ESP)', kind: 'file', mode: 0o444, uid: 0, gid: 0, mtime: 0, size: esp.size, read: () => esp.read() };
      for await (const c of readChecked(entry, 'iso9660', esp.size)) await this.sink.write(c);
    }
    if (o.hybrid === 'appended-esp' || o.hybrid === 'uefi-only') {
      const backup = this.gpt().backup;
      await this.padTo(l.diskBytes - backup.byteLength);
      await this.sink.write(backup);
    }
    await this.padTo(l.diskBytes);
  }
}
