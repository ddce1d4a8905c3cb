/**
 * IsoOptions and their validation (one `resolveOptions`).
 *
 * El Torito is a list of boot entries, each with its own options (as `xorriso -as mkisofs` collects
 * them: the options that follow `-b`/`-e` up to the next `-eltorito-alt-boot`). The system area is
 * described the way xorriso decides it (MBR code and kind, protective label, partition offset,
 * appended partitions, GPT/APM marks of boot images, cylinder alignment); the `hybrid` presets are
 * names for common combinations of those settings.
 */
import { type ByteSink, ErrorCodes, ImgkitError, normalizeTreePath, resolveEpoch, type SourceTree, type WarningHandler } from '@imgkit/core';
import type { FatOptions } from '@imgkit/fat';
import type { ImagePlan } from '@imgkit/core';
import type { IsoLevel } from './names.js';

/**
 * Content given outside the source tree (a host file, another writer's output) with a known size:
 * either its bytes (`read`), or a writer that writes exactly `size` bytes at the position of the sink
 * it is given (`write`: an image plan, written straight into the ISO — no copy, no temporary file).
 */
export interface IsoContent {
  size: number;
  /** The bytes in order (a host file's stream, a spool). */
  read?(): AsyncIterable<Uint8Array>;
  /** Or: writes the bytes at `sink.position` (the sink is a window of `size` bytes). */
  write?(sink: ByteSink): Promise<unknown>;
}

/**
 * Another image as content of the ISO (a file, the EFI image, an appended partition), written
 * straight into it: the plan must know its exact size and write front to back (a FAT volume, an
 * uncompressed cpio archive, another ISO). An image whose size only writing tells (a compressed
 * initramfs, a squashfs) is spooled first (see the README, "File content from another writer").
 */
export function planContent(plan: ImagePlan, what = 'the image'): IsoContent {
  if (plan.sizeBytes === undefined || plan.needsSeekableSink) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'iso9660',
      detail: `${what} ${plan.sizeBytes === undefined ? 'knows its size only once written' : 'patches bytes it wrote before'}, so it cannot be written straight into the ISO`,
      hint: 'write it to a spool (memory or a temporary file) first and give that as content',
    });
  }
  return { size: plan.sizeBytes, write: (sink) => plan.write(sink) };
}

/**
 * The El Torito UEFI image built in-process from a directory (imgkit iso --efi-dir): a FAT volume
 * (@imgkit/fat, the smallest that holds the tree unless `fat.size` says otherwise) written straight
 * into the ISO, as a file of the ISO or as the appended ESP, depending on the preset.
 */
export interface EfiDirOptions {
  /** The ESP's files (EFI/BOOT/BOOTX64.EFI, …). */
  tree: SourceTree;
  /**
   * 'file': a file of the ISO at `path` (El Torito points at it; `isohybrid-mbr` + `isohybridGpt`
   * marks it in the GPT, `grub2` and `uefi-only` make it the ESP before the data); 'appended-partition':
   * the ESP appended after the ISO as partition 2 (the El Torito entry points at it).
   * @default 'appended-partition' with the appended-esp and mbr-style presets, else 'file'
   */
  placement?: 'file' | 'appended-partition';
  /** Path of the image in the ISO when it is a file. @default 'boot/efiboot.img' */
  path?: string;
  /**
   * The FAT volume: size (else automatic), fatBits, label, volumeId, margin, symlinks, invalidNames.
   * `epoch`, `onWarning` and `strict` default to the ISO's. @default {} (automatic size, no label)
   */
  fat?: FatOptions;
}

/**
 * Named combinations of system-area settings (see README "Hybrid presets"):
 * - `isohybrid-mbr`: isohybrid MBR code (isohdpfx.bin) with partition 1 over the image; with
 *   `isohybridGpt` the EFI image is marked in a GPT as xorriso's -isohybrid-gpt-basdat does.
 * - `appended-esp`: the ESP appended after the ISO as GPT partition 2 (archiso, `-appended_part_as_gpt`).
 * - `mbr-style`: the ESP appended as MBR partition 2 type 0xEF beside isohybrid partition 1
 *   (`-append_partition 2 0xef` without `-appended_part_as_gpt`) and the BIOS image marked in a
 *   GPT, as archiso's command line makes it.
 * - `uefi-only`: protective MBR + GPT whose ESP entry is the EFI image inside the ISO (no BIOS).
 * - `grub2`: GRUB's boot_hybrid.img patched as `--grub2-mbr`, protective MBR label, the EFI image as
 *   GPT ESP (grub-mkrescue's layout); with `appendedEsp` the ESP appended as GPT partition 2 and
 *   booted from there (Ubuntu's and Fedora's layout).
 */
export type HybridPreset = 'none' | 'isohybrid-mbr' | 'appended-esp' | 'mbr-style' | 'uefi-only' | 'grub2';
export const HYBRID_PRESETS: readonly HybridPreset[] = ['none', 'isohybrid-mbr', 'appended-esp', 'mbr-style', 'uefi-only', 'grub2'];

/** El Torito platform: 'bios' (0x00), 'efi' (0xEF), or a platform id byte. */
export type BootPlatform = 'bios' | 'efi' | number;

/** One El Torito boot entry. */
export interface BootImageOptions {
  /** @default 'bios' */
  platform?: BootPlatform;
  /** Path of the image in the tree (with `content`: where a host file is placed). */
  path?: string;
  /** The image's bytes from outside the tree, placed at `path`. */
  content?: IsoContent;
  /** The image is appended partition N (1…4), as xorriso's `--interval:appended_partition_N:all::`. */
  appendedPartition?: number;
  /**
   * 512-byte sectors the firmware loads; 'full' loads the whole image (xorriso: its size in 2 KiB
   * blocks × 4), 'file-size' its size in 512-byte sectors (what xorriso records for an EFI image
   * given a -boot-load-size); above 65535 both record 0 for EFI, 65535 otherwise.
   * @default 4 for BIOS, 'full' for other platforms
   */
  loadSectors?: number | 'full' | 'file-size';
  /** Patch a boot-info-table at offset 8 (isolinux, GRUB eltorito.img). @default false */
  bootInfoTable?: boolean;
  /** Patch GRUB2's boot info (`--grub2-boot-info`: LBA × 4 + 5 at byte 2548). @default false */
  grub2BootInfo?: boolean;
  /**
   * With an isohybrid MBR: describe this image as a GPT partition (xorriso -isohybrid-gpt-basdat /
   * -isohybrid-gpt-hfsplus) and as MBR partition type 0xEF.
   */
  gptMark?: 'basic-data' | 'hfsplus';
  /** With an isohybrid MBR: describe this image in an Apple Partition Map (-isohybrid-apm-hfsplus). @default false */
  apmMark?: boolean;
}

/** A partition appended after the ISO (xorriso -append_partition N TYPE FILE). */
export interface AppendedPartitionOptions {
  /** Partition number 1…4. */
  number: number;
  /** MBR type byte, or a GPT type GUID (text, RFC 4122 or 32 hex digits as xorriso prints it). */
  type: number | string;
  content: IsoContent;
}

/** The system area (first 32 KiB) and the partition tables, as xorriso decides them. */
export interface SystemAreaOptions {
  /** Bytes placed at the start of the system area (up to 32 KiB): isohdpfx.bin, boot_hybrid.img, … */
  template?: Uint8Array;
  /**
   * How the MBR code is patched: 'isohybrid' (-isohybrid-mbr: boot image LBA × 4 at 432, partition 1
   * over the image), 'grub2' (--grub2-mbr: LBA × 4 + 4 at 432). Without it the template is copied as is.
   */
  mbrCode?: 'isohybrid' | 'grub2';
  /** --protective-msdos-label: a partition table in the MBR (0xEE over the disk when a GPT exists). @default false */
  protectiveMsdosLabel?: boolean;
  /** --mbr-force-bootable: some MBR entry is marked active, adding a dummy one if needed. @default false */
  mbrForceBootable?: boolean;
  /** -partition_offset: 0, or 16…1024 blocks; the partition gets its own descriptors and tree. @default 0 */
  partitionOffsetBlocks?: number;
  /** -partition_cyl_align. @default 'auto' */
  cylinderAlign?: 'auto' | 'on' | 'off' | 'all';
  /** -partition_hd_cyl, 1…255. @default 64 */
  headsPerCylinder?: number;
  /** -partition_sec_hd, 1…63. @default 32 */
  sectorsPerHead?: number;
  /** -iso_mbr_part_type: MBR type byte of the ISO partition, or a GPT type GUID for it. */
  isoPartitionType?: number | string;
  appendedPartitions?: AppendedPartitionOptions[];
  /** -appended_part_as_gpt: appended partitions go into a GPT, the MBR becomes protective. @default false */
  appendedAsGpt?: boolean;
  /** -efi-boot-part: 'boot-image' (--efi-boot-image: the EFI El Torito image) or a host file, as GPT ESP before the file data. */
  efiBootPartition?: 'boot-image' | IsoContent;
  /** -part_like_isohybrid: GPT/APM marks of boot images without an isohybrid MBR. @default false */
  partLikeIsohybrid?: boolean;
  /** GPT disk GUID (text). @default derived from the volume modification date (xorriso's volume_date_uuid) */
  gptDiskGuid?: string;
}

/** Volume dates. Numbers are seconds since 1970; a string is ECMA-119 §8.4.26.1 digits "YYYYMMDDhhmmsscc". */
export interface VolumeDates {
  creation?: number | string;
  modification?: number | string;
  /** @default not specified (all zero digits) */
  expiration?: number | string;
  /** @default not specified (all zero digits) */
  effective?: number | string;
  /**
   * xorriso's -volume_date uuid / --modification-date: 16 digits set as creation and modification
   * date; they also seed the GPT GUIDs and the MBR disk signature.
   */
  uuid?: string;
}

export interface IsoOptions {
  /** Volume identifier (PVD, and Joliet's); up to 32 characters. @default 'ISOIMAGE' */
  volumeId?: string;
  /** @default 'LINUX' */
  systemId?: string;
  /** @default '' */
  volumeSetId?: string;
  /** @default '' */
  publisherId?: string;
  /** @default '' */
  dataPreparerId?: string;
  /** @default 'IMGKIT' */
  applicationId?: string;
  /**
   * The Joliet descriptor's identifiers when they differ from the primary's (xorriso keeps the
   * text as given there, and writes the primary's a-characters in upper case). @default the primary's
   */
  jolietIds?: { systemId?: string; volumeSetId?: string; publisherId?: string; dataPreparerId?: string; applicationId?: string };
  /** Interchange level: 1 (8.3 names), 2 (31 characters), 3 (also files over 4 GiB as multi-extent). @default 3 */
  level?: IsoLevel;
  /** Directory identifiers may keep dots, as xorriso's mkisofs emulation allows. @default false */
  directoryDots?: boolean;
  /** Rock Ridge (POSIX names, modes, owners, times, links, devices). @default true */
  rockRidge?: boolean;
  /**
   * RRIP 1.12 (PX with serial numbers, so hard links keep one inode number) or RRIP 1.10 (PX
   * without, "RRIP_1991A"), what mkisofs and xorriso's mkisofs emulation write. @default '1.12'
   */
  rockRidgeVersion?: '1.10' | '1.12';
  /** Joliet tree (UCS-2 names for Windows). @default false */
  joliet?: boolean;
  /** Joliet names up to 103 units instead of 64. @default false */
  jolietLong?: boolean;
  /**
   * Joliet names over the limit are shortened (keeping the extension, made unique) with a warning,
   * as xorriso does, instead of being an error. `strict` turns the warning into an error. @default false
   */
  jolietTruncate?: boolean;
  /** Move directories deeper than ECMA-119's 8 levels into /rr_moved (RRIP RE/CL/PL). @default true */
  relocateDeepDirectories?: boolean;
  /**
   * Zero blocks after the file data (mkisofs -pad): Linux's CD read-ahead used to fail on the last
   * blocks, and readers such as libarchive read 8 blocks past the descriptors.
   * @default 150 (300 KiB)
   */
  padBlocks?: number;
  /**
   * Seconds since 1970: the volume dates; when set, file times newer than it are clamped to it.
   * @default the newest modification time in the tree (so different trees get different volume
   * dates and blkid UUIDs, and the same tree the same), never 1970
   */
  epoch?: number;
  /** Volume dates beyond `epoch` (xorriso -volume_date, --modification-date). */
  volumeDates?: VolumeDates;
  /** Every file's time (xorriso -volume_date all_file_dates, --set_all_file_dates). */
  allFileDates?: number;
  /**
   * File data order (xorriso --sort-weight): rules applied in order, a rule on a directory covering
   * everything below it; higher weights come first. Boot images without a rule get weight 2.
   */
  sortWeights?: readonly { path: string; weight: number }[];
  /** El Torito boot entries, in catalog order (the first is the default entry). */
  boot?: readonly BootImageOptions[];
  /** El Torito BIOS no-emulation boot image (shorthand for the first `boot` entry). */
  biosBoot?: { path: string; loadSectors?: number | 'full' | 'file-size'; bootInfoTable?: boolean; grub2BootInfo?: boolean };
  /**
   * El Torito UEFI image (shorthand for an EFI `boot` entry): a file of the tree (`path`), a host
   * file placed at `path` (`content`), or the appended ESP (`'appended-esp'`).
   */
  efiBoot?: { path: string; content?: IsoContent; loadSectors?: number | 'full' | 'file-size' } | 'appended-esp';
  /** The El Torito UEFI image built from a directory (instead of `efiBoot` and `appendedEsp`). */
  efiDir?: EfiDirOptions;
  /** Path of the boot catalog file in the tree. @default 'boot.catalog' */
  catalogPath?: string;
  /** Write the catalog but list it in no directory (--boot-catalog-hide). @default false */
  catalogHidden?: boolean;
  /** Hybrid preset for writing the image to a disk. @default 'none' */
  hybrid?: HybridPreset;
  /** With 'isohybrid-mbr': mark the EFI image in a GPT (xorriso -isohybrid-gpt-basdat). @default false */
  isohybridGpt?: boolean;
  /** MBR code for the presets (isohdpfx.bin; GRUB's boot_hybrid.img for 'grub2'). */
  mbrTemplate?: Uint8Array;
  /** xorriso -partition_offset for the presets: 0 or 16…1024. @default 0 */
  partitionOffsetBlocks?: number;
  /** An ESP image appended after the ISO ('appended-esp', 'mbr-style'). */
  appendedEsp?: IsoContent;
  /** System area settings; applied over what the preset sets. */
  systemArea?: SystemAreaOptions;
  onWarning?: WarningHandler;
  /** Warnings become errors. @default false */
  strict?: boolean;
}

export interface ResolvedBootImage {
  platform: number;
  /** Tree path of the image file (undefined for an appended partition). */
  path: string | undefined;
  content: IsoContent | undefined;
  /** 0-based appended partition index, or -1. */
  appended: number;
  loadSectors: number | 'full' | 'file-size';
  bootInfoTable: boolean;
  grub2BootInfo: boolean;
  /** 0 none, 1 basic data, 2 HFS+ (libisofs isolinux_options bits 2–7). */
  gptMark: 0 | 1 | 2;
  apmMark: boolean;
}

export interface ResolvedAppended {
  typeByte: number;
  typeGuid: Uint8Array | undefined;
  content: IsoContent;
}

export interface ResolvedSystemArea {
  /** 32 KiB, or undefined when no template was given. */
  template: Uint8Array | undefined;
  isohybrid: boolean;
  grub2Mbr: boolean;
  protective: boolean;
  forceBootable: boolean;
  partitionOffset: number;
  cylAlign: 'auto' | 'on' | 'off' | 'all';
  heads: number;
  sectors: number;
  /** MBR type byte of the ISO partition, or -1 for the default. */
  isoMbrType: number;
  /** GPT type GUID of the "ISO9660" gap partition. */
  isoGptType: Uint8Array | undefined;
  appended: (ResolvedAppended | undefined)[];
  appendedAsGpt: boolean;
  efiBootPartition: 'boot-image' | IsoContent | undefined;
  partLikeIsohybrid: boolean;
  gptDiskGuid: Uint8Array | undefined;
}

export interface ResolvedIsoOptions {
  volumeId: string;
  systemId: string;
  volumeSetId: string;
  publisherId: string;
  dataPreparerId: string;
  applicationId: string;
  jolietIds: { systemId: string; volumeSetId: string; publisherId: string; dataPreparerId: string; applicationId: string };
  level: IsoLevel;
  directoryDots: boolean;
  rockRidge: boolean;
  rockRidgeVersion: '1.10' | '1.12';
  joliet: boolean;
  jolietMax: number;
  jolietTruncate: boolean;
  relocate: boolean;
  padBlocks: number;
  /** The caller's epoch, if any (volume dates default to the tree's newest time otherwise). */
  epoch: number | undefined;
  /** Clamp file times to this (only when the caller set `epoch`). */
  clampTo: number | undefined;
  volumeDates: VolumeDates;
  allFileDates: number | undefined;
  sortWeights: { path: string; weight: number }[];
  boot: ResolvedBootImage[];
  catalogPath: string;
  catalogHidden: boolean;
  hybrid: HybridPreset;
  sa: ResolvedSystemArea;
  /** The EFI image to build from a directory; `content` gets its size and writer once planned. */
  efiDir: ResolvedEfiDir | undefined;
  onWarning: WarningHandler | undefined;
  strict: boolean;
}

export interface ResolvedEfiDir {
  tree: SourceTree;
  fat: FatOptions;
  placement: 'file' | 'appended-partition';
  /** Its path in the ISO ('file'). */
  path: string | undefined;
  content: DeferredContent;
}

/** Content whose size and writer are known only once planned (the EFI image of `efiDir`). */
export class DeferredContent implements IsoContent {
  size = 0;
  private writer: ((sink: ByteSink) => Promise<unknown>) | undefined;
  constructor(readonly what: string) {}
  settle(size: number, write: (sink: ByteSink) => Promise<unknown>): void {
    this.size = size;
    this.writer = write;
  }
  write(sink: ByteSink): Promise<unknown> {
    if (!this.writer) throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'iso9660', detail: `${this.what} was not planned (a planning bug; please report it)` });
    return this.writer(sink);
  }
}

const bad = (field: string, detail: string, hint?: string): ImgkitError =>
  new ImgkitError(ErrorCodes.BAD_OPTION, hint === undefined ? { format: 'iso9660', field, detail } : { format: 'iso9660', field, detail, hint });

function idField(value: string | undefined, def: string, max: number, field: string): string {
  const v = value ?? def;
  if (v.length > max) throw bad(field, `"${v}" is ${v.length} characters; the limit is ${max}`);
  if (!/^[\x20-\x7e]*$/.test(v)) throw bad(field, `"${v}" has characters outside printable ASCII`);
  return v;
}

export const GUID_EFI_SYSTEM_TEXT = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const GUID_BASIC_DATA_TEXT = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';

/**
 * A GUID from text: RFC 4122 form (first three fields byte-swapped to UEFI's on-disk order, UEFI
 * Appendix A) or 32 hex digits already in on-disk order (how xorriso prints GUIDs). Undefined when
 * the text is neither.
 */
export function parseGuid(text: string): Uint8Array | undefined {
  if (/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(text)) {
    const hex = text.replace(/-/g, '');
    const b = hexBytes(hex);
    b.subarray(0, 4).reverse();
    b.subarray(4, 6).reverse();
    b.subarray(6, 8).reverse();
    return b;
  }
  if (/^[0-9a-fA-F]{32}$/.test(text)) return hexBytes(text);
  return undefined;
}

function hexBytes(hex: string): Uint8Array {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.byteLength; i++) b[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** xorriso's rule for a type GUID given where an MBR type is also needed: 0xEF for the ESP GUID, else 0x83. */
export function mbrTypeOfGuid(guid: Uint8Array): number {
  const esp = parseGuid(GUID_EFI_SYSTEM_TEXT)!;
  return guid.every((b, i) => b === esp[i]) ? 0xef : 0x83;
}

function platformId(p: BootPlatform | undefined, field: string): number {
  if (p === undefined || p === 'bios') return 0;
  if (p === 'efi') return 0xef;
  if (!Number.isInteger(p) || p < 0 || p > 0xff) throw bad(field, `platform id ${String(p)} is not a byte (0…255)`);
  return p;
}

function loadSize(v: number | 'full' | 'file-size' | undefined, def: number | 'full', field: string): number | 'full' | 'file-size' {
  const s = v ?? def;
  if (s !== 'full' && s !== 'file-size' && (!Number.isInteger(s) || s < 1 || s > 0xffff)) throw bad(field, `load size ${String(s)} is not in 1…65535 sectors`, 'give the 512-byte sectors to load, or "full"');
  return s;
}

/** ECMA-119 §8.4.26.1 date text: 16 digits (a shorter text is completed as xorriso does, with '1'). */
export function checkDateText(text: string, field: string): string {
  if (!/^\d{1,16}$/.test(text)) throw bad(field, `"${text}" is not a date YYYYMMDDhhmmsscc`, 'give 16 digits, e.g. 2024010112000000');
  return text.padEnd(16, '1');
}

function resolveBoot(o: IsoOptions, appended: (ResolvedAppended | undefined)[]): ResolvedBootImage[] {
  const out: ResolvedBootImage[] = [];
  const add = (b: BootImageOptions, field: string) => {
    const platform = platformId(b.platform, `${field}.platform`);
    let path: string | undefined;
    let idx = -1;
    if (b.appendedPartition !== undefined) {
      const n = b.appendedPartition;
      if (!Number.isInteger(n) || n < 1 || n > 4) throw bad(`${field}.appendedPartition`, `appended partition ${n} is not 1…4`);
      idx = n - 1;
      if (!appended[idx]) throw bad(`${field}.appendedPartition`, `the boot image is appended partition ${n}, but no partition ${n} is appended`, 'append the partition too (--append-partition FILE)');
    } else {
      if (b.path === undefined) throw bad(`${field}.path`, 'a boot entry needs the path of its image (or an appended partition)');
      path = normalizeTreePath(b.path, 'iso9660');
      if (path === '') throw bad(`${field}.path`, 'the boot image path is empty');
    }
    out.push({
      platform,
      path,
      content: b.content,
      appended: idx,
      loadSectors: loadSize(b.loadSectors, platform === 0 ? 4 : 'full', `${field}.loadSectors`),
      bootInfoTable: b.bootInfoTable ?? false,
      grub2BootInfo: b.grub2BootInfo ?? false,
      gptMark: b.gptMark === 'basic-data' ? 1 : b.gptMark === 'hfsplus' ? 2 : 0,
      apmMark: b.apmMark ?? false,
    });
  };
  if (o.biosBoot) add({ platform: 'bios', ...o.biosBoot }, 'biosBoot');
  (o.boot ?? []).forEach((b, i) => add(b, `boot[${i}]`));
  if (o.efiBoot === 'appended-esp') {
    const idx = appended.findIndex((a) => a !== undefined && a.typeByte === 0xef);
    if (idx < 0) throw bad('efiBoot', 'the El Torito UEFI entry points at the appended ESP, but none is given', 'pass --append-partition FILE');
    add({ platform: 'efi', appendedPartition: idx + 1 }, 'efiBoot');
  } else if (o.efiBoot) {
    add({ platform: 'efi', ...o.efiBoot }, 'efiBoot');
  }
  return out;
}

/** The presets: which system-area settings and boot-entry marks each one stands for. */
function applyPreset(o: IsoOptions, hybrid: HybridPreset): SystemAreaOptions {
  const sa: SystemAreaOptions = {};
  if (o.mbrTemplate) sa.template = o.mbrTemplate;
  if (o.partitionOffsetBlocks) sa.partitionOffsetBlocks = o.partitionOffsetBlocks;
  switch (hybrid) {
    case 'isohybrid-mbr':
      sa.mbrCode = 'isohybrid';
      break;
    case 'appended-esp':
      if (o.mbrTemplate) sa.mbrCode = 'isohybrid';
      if (o.appendedEsp) sa.appendedPartitions = [{ number: 2, type: GUID_EFI_SYSTEM_TEXT, content: o.appendedEsp }];
      sa.appendedAsGpt = true;
      break;
    case 'mbr-style':
      sa.mbrCode = 'isohybrid';
      if (o.appendedEsp) sa.appendedPartitions = [{ number: 2, type: 0xef, content: o.appendedEsp }];
      break;
    case 'uefi-only':
      sa.protectiveMsdosLabel = true;
      sa.efiBootPartition = 'boot-image';
      break;
    case 'grub2':
      sa.mbrCode = 'grub2';
      sa.protectiveMsdosLabel = true;
      if (o.appendedEsp) {
        sa.appendedPartitions = [{ number: 2, type: GUID_EFI_SYSTEM_TEXT, content: o.appendedEsp }];
        sa.appendedAsGpt = true;
      } else sa.efiBootPartition = 'boot-image';
      break;
    case 'none':
      break;
  }
  return sa;
}

function resolveSystemArea(s: SystemAreaOptions): ResolvedSystemArea {
  let template: Uint8Array | undefined;
  if (s.template) {
    if (s.template.byteLength > 32768) throw bad('systemArea.template', `the system area template is ${s.template.byteLength} bytes; the system area holds 32768`);
    template = new Uint8Array(32768);
    template.set(s.template);
  }
  const p = s.partitionOffsetBlocks ?? 0;
  if (!Number.isInteger(p) || (p !== 0 && (p < 16 || p > 1024))) throw bad('systemArea.partitionOffsetBlocks', `partition offset ${p} is not 0 or 16…1024 blocks`);
  const heads = s.headsPerCylinder ?? 64;
  const sectors = s.sectorsPerHead ?? 32;
  if (!Number.isInteger(heads) || heads < 1 || heads > 255) throw bad('systemArea.headsPerCylinder', `${heads} heads per cylinder is not 1…255`);
  if (!Number.isInteger(sectors) || sectors < 1 || sectors > 63) throw bad('systemArea.sectorsPerHead', `${sectors} sectors per head is not 1…63`);
  let isoMbrType = -1;
  let isoGptType: Uint8Array | undefined;
  if (typeof s.isoPartitionType === 'number') {
    if (!Number.isInteger(s.isoPartitionType) || s.isoPartitionType < 0 || s.isoPartitionType > 0xff) throw bad('systemArea.isoPartitionType', `MBR type ${s.isoPartitionType} is not a byte`);
    isoMbrType = s.isoPartitionType;
  } else if (typeof s.isoPartitionType === 'string') {
    isoGptType = parseGuid(s.isoPartitionType);
    if (!isoGptType) throw bad('systemArea.isoPartitionType', `"${s.isoPartitionType}" is neither a type byte nor a GUID`);
    isoMbrType = mbrTypeOfGuid(isoGptType);
  }
  const appended: (ResolvedAppended | undefined)[] = [undefined, undefined, undefined, undefined];
  for (const a of s.appendedPartitions ?? []) {
    if (!Number.isInteger(a.number) || a.number < 1 || a.number > 4) throw bad('systemArea.appendedPartitions.number', `partition number ${a.number} is not 1…4`);
    checkContent(a.content, 'systemArea.appendedPartitions.content');
    if (a.content.size <= 0 && !(a.content instanceof DeferredContent)) throw bad('systemArea.appendedPartitions', `appended partition ${a.number} is empty`);
    let typeByte: number;
    let typeGuid: Uint8Array | undefined;
    if (typeof a.type === 'number') {
      if (!Number.isInteger(a.type) || a.type < 0 || a.type > 0xff) throw bad('systemArea.appendedPartitions.type', `partition type ${a.type} is not a byte (0x00…0xff)`);
      typeByte = a.type;
    } else {
      typeGuid = parseGuid(a.type);
      if (!typeGuid) throw bad('systemArea.appendedPartitions.type', `partition type "${a.type}" is neither a byte nor a GUID`);
      typeByte = mbrTypeOfGuid(typeGuid);
    }
    appended[a.number - 1] = { typeByte, typeGuid, content: a.content };
  }
  let gptDiskGuid: Uint8Array | undefined;
  if (s.gptDiskGuid !== undefined) {
    gptDiskGuid = parseGuid(s.gptDiskGuid);
    if (!gptDiskGuid) throw bad('systemArea.gptDiskGuid', `"${s.gptDiskGuid}" is not a GUID`, 'give XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX');
  }
  return {
    template,
    isohybrid: s.mbrCode === 'isohybrid' && template !== undefined,
    grub2Mbr: s.mbrCode === 'grub2',
    protective: s.protectiveMsdosLabel ?? false,
    forceBootable: s.mbrForceBootable ?? false,
    partitionOffset: p,
    cylAlign: s.cylinderAlign ?? 'auto',
    heads,
    sectors,
    isoMbrType,
    isoGptType,
    appended,
    appendedAsGpt: s.appendedAsGpt ?? false,
    efiBootPartition: s.efiBootPartition,
    partLikeIsohybrid: s.partLikeIsohybrid ?? false,
    gptDiskGuid,
  };
}

/** A content has its bytes (`read`) or its writer (`write`), and a whole number of bytes. */
function checkContent(c: IsoContent, field: string): void {
  if (typeof c.read !== 'function' && typeof c.write !== 'function') throw bad(field, 'the content has neither read() nor write()');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw bad(field, `content size ${String(c.size)} is not a whole number of bytes`);
}

/**
 * `efiDir`: the FAT image becomes the El Torito UEFI image, as a file of the ISO or as the appended
 * ESP (see EfiDirOptions.placement), through the same options a host image would take.
 */
function placeEfiDir(o: IsoOptions, hybrid: HybridPreset): { options: IsoOptions; efi: ResolvedEfiDir } {
  const e = o.efiDir!;
  if (!e.tree || typeof e.tree.walk !== 'function') throw bad('efiDir.tree', 'the EFI directory is not a source tree');
  if (o.efiBoot !== undefined) throw bad('efiDir', 'the El Torito UEFI image is given twice: built from a directory and as --efi-boot', 'drop --efi-boot or --efi-dir');
  if (o.appendedEsp !== undefined) throw bad('efiDir', 'the ESP is given twice: built from a directory and as --append-partition', 'drop --append-partition or --efi-dir');
  const appendedPresets: HybridPreset[] = ['appended-esp', 'mbr-style', 'grub2'];
  const placement = e.placement ?? (hybrid === 'appended-esp' || hybrid === 'mbr-style' ? 'appended-partition' : 'file');
  if (placement !== 'file' && placement !== 'appended-partition') throw bad('efiDir.placement', `placement "${String(placement)}" is not 'file' or 'appended-partition'`);
  if (placement === 'appended-partition' && !appendedPresets.includes(hybrid)) {
    throw bad('efiDir.placement', `an appended ESP needs the appended-esp, mbr-style or grub2 preset (got "${hybrid}")`, 'pass --hybrid appended-esp');
  }
  if (placement === 'file' && (hybrid === 'appended-esp' || hybrid === 'mbr-style')) {
    throw bad('efiDir.placement', `the ${hybrid} preset boots UEFI from the appended ESP, not from a file of the ISO`, "leave the placement to the preset ('appended-partition')");
  }
  const path = placement === 'file' ? normalizeTreePath(e.path ?? 'boot/efiboot.img', 'iso9660') : undefined;
  if (path === '') throw bad('efiDir.path', 'the EFI image path is empty');
  const content = new DeferredContent(path === undefined ? 'the EFI image (appended partition 2)' : `the EFI image (${path})`);
  const fat: FatOptions = { ...(e.fat ?? {}) };
  if (fat.epoch === undefined && o.epoch !== undefined) fat.epoch = o.epoch;
  if (fat.onWarning === undefined && o.onWarning !== undefined) fat.onWarning = o.onWarning;
  if (fat.strict === undefined && o.strict !== undefined) fat.strict = o.strict;
  const options: IsoOptions = { ...o };
  if (path !== undefined) options.efiBoot = { path, content };
  else options.appendedEsp = content;
  return { options, efi: { tree: e.tree, fat, placement, path, content } };
}

export function resolveOptions(options: IsoOptions = {}): ResolvedIsoOptions {
  let o = options;
  const level = o.level ?? 3;
  if (level !== 1 && level !== 2 && level !== 3) throw bad('level', `interchange level ${String(level)} is not 1, 2 or 3`);
  const hybrid = o.hybrid ?? 'none';
  if (!HYBRID_PRESETS.includes(hybrid)) throw bad('hybrid', `unknown hybrid preset "${hybrid}"`, `use one of ${HYBRID_PRESETS.filter((h) => h !== 'none').join(', ')}`);
  let efiDir: ResolvedEfiDir | undefined;
  if (o.efiDir !== undefined) {
    const placed = placeEfiDir(o, hybrid);
    o = placed.options;
    efiDir = placed.efi;
  }
  if (o.appendedEsp) checkContent(o.appendedEsp, 'appendedEsp');
  if (o.efiBoot && o.efiBoot !== 'appended-esp' && o.efiBoot.content) checkContent(o.efiBoot.content, 'efiBoot.content');
  for (const [i, b] of (o.boot ?? []).entries()) if (b.content) checkContent(b.content, `boot[${i}].content`);
  const esp = o.systemArea?.efiBootPartition;
  if (esp !== undefined && esp !== 'boot-image') checkContent(esp, 'systemArea.efiBootPartition');

  // The presets' consistency check: each combination that can't produce a working image is refused.
  if (o.mbrTemplate && !['isohybrid-mbr', 'appended-esp', 'mbr-style', 'grub2'].includes(hybrid)) {
    throw bad('mbrTemplate', `an MBR template needs the isohybrid-mbr, appended-esp, mbr-style or grub2 preset (got "${hybrid}")`, 'pass --hybrid isohybrid-mbr');
  }
  if (o.appendedEsp && hybrid !== 'appended-esp' && hybrid !== 'mbr-style' && hybrid !== 'grub2') {
    throw bad('appendedEsp', 'an appended ESP needs the appended-esp, mbr-style or grub2 preset', 'pass --hybrid appended-esp');
  }
  if (o.partitionOffsetBlocks && !['appended-esp', 'mbr-style', 'isohybrid-mbr', 'grub2'].includes(hybrid) && !o.systemArea) {
    throw bad('partitionOffsetBlocks', 'a partition offset needs a partition table', 'pass --hybrid appended-esp (or isohybrid-mbr)');
  }
  const saOptions: SystemAreaOptions = { ...applyPreset(o, hybrid), ...(o.systemArea ?? {}) };
  const sa = resolveSystemArea(saOptions);
  let efi = o.efiBoot;
  if (efi === undefined && (hybrid === 'appended-esp' || hybrid === 'mbr-style' || hybrid === 'grub2') && o.appendedEsp) efi = 'appended-esp';
  const boot = resolveBoot({ ...o, ...(efi === undefined ? {} : { efiBoot: efi }) }, sa.appended);
  const bios = boot.find((b) => b.platform === 0);
  const efiEntry = boot.find((b) => b.platform === 0xef);
  switch (hybrid) {
    case 'isohybrid-mbr':
    case 'mbr-style':
      if (!o.mbrTemplate) throw bad('mbrTemplate', `the ${hybrid} preset needs MBR boot code`, 'pass --mbr-template /usr/lib/ISOLINUX/isohdpfx.bin');
      if (!bios) throw bad('biosBoot', `the ${hybrid} preset needs a BIOS boot image for the MBR code to load`, 'pass --bios-boot');
      if (hybrid === 'mbr-style' && !o.appendedEsp) throw bad('appendedEsp', 'the mbr-style preset needs an ESP image', 'pass --append-partition FILE');
      // archiso's line puts -isohybrid-gpt-basdat after the BIOS entry, so xorriso marks that one:
      // a GPT (not valid: it overlaps the MBR's partitions) listing isolinux.bin.
      if (hybrid === 'mbr-style') bios.gptMark = 1;
      else if (o.isohybridGpt) {
        if (!efiEntry) throw bad('isohybridGpt', 'a GPT beside the isohybrid MBR describes the EFI image; there is none', 'pass --efi-boot');
        efiEntry.gptMark = 1;
      }
      break;
    case 'appended-esp':
      if (!o.appendedEsp) throw bad('appendedEsp', 'the appended-esp preset needs an ESP image', 'pass --append-partition FILE');
      if (o.mbrTemplate && !bios) throw bad('biosBoot', 'an MBR template needs a BIOS boot image for its code to load', 'pass --bios-boot');
      break;
    case 'uefi-only':
      if (!efiEntry) throw bad('efiBoot', 'the uefi-only preset needs a UEFI boot image', 'pass --efi-boot');
      if (bios) throw bad('biosBoot', 'the uefi-only preset has no BIOS boot', 'drop --bios-boot or use isohybrid-mbr');
      break;
    case 'grub2':
      if (!o.mbrTemplate) throw bad('mbrTemplate', 'the grub2 preset needs GRUB\'s MBR code', 'pass --mbr-template /usr/lib/grub/i386-pc/boot_hybrid.img');
      if (!bios) throw bad('biosBoot', 'the grub2 preset needs a BIOS boot image (GRUB eltorito.img) for the MBR code to load', 'pass --bios-boot');
      if (!efiEntry) sa.efiBootPartition = undefined;
      if (o.appendedEsp && efiEntry && efiEntry.appended < 0) throw bad('efiBoot', 'with an appended ESP the grub2 preset boots UEFI from it; the EFI image in the tree is not used', 'drop --efi-boot');
      break;
    case 'none':
      if (o.isohybridGpt) throw bad('isohybridGpt', 'a GPT beside the isohybrid MBR needs the isohybrid-mbr preset', 'pass --hybrid isohybrid-mbr');
      break;
  }
  if (hybrid !== 'isohybrid-mbr' && hybrid !== 'mbr-style' && o.isohybridGpt && hybrid !== 'none') {
    throw bad('isohybridGpt', `a GPT beside the isohybrid MBR needs the isohybrid-mbr preset (got "${hybrid}")`, 'pass --hybrid isohybrid-mbr');
  }
  // Settings the layout cannot honour.
  if (sa.isohybrid || sa.grub2Mbr) {
    const first = boot[0];
    if (!first) throw bad('systemArea.mbrCode', `${sa.isohybrid ? 'isohybrid' : 'GRUB2'} MBR code jumps to the first El Torito boot image; there is none`, sa.isohybrid ? 'add a BIOS boot image (--bios-boot)' : 'add GRUB\'s eltorito.img as BIOS boot image (--bios-boot)');
    if (first.appended >= 0) throw bad('systemArea.mbrCode', 'the MBR code would jump to an appended partition; the first boot image must be a file of the ISO', 'put the BIOS image first');
  }
  if (sa.grub2Mbr && !sa.template) throw bad('systemArea.template', 'GRUB2 MBR code was asked for without the code', 'give GRUB\'s MBR code (--mbr-template /usr/lib/grub/i386-pc/boot_hybrid.img)');
  if (sa.efiBootPartition === 'boot-image' && !efiEntry) throw bad('systemArea.efiBootPartition', 'the ESP is to be the EFI boot image, but there is no EFI boot entry', 'add an EFI boot image (--efi-boot)');
  if (sa.efiBootPartition === 'boot-image' && efiEntry && efiEntry.appended >= 0) {
    throw bad('systemArea.efiBootPartition', 'the EFI boot image is an appended partition; it cannot also be the prepended ESP', 'drop -efi-boot-part');
  }
  for (const b of boot) {
    if ((b.bootInfoTable || b.grub2BootInfo) && b.appended >= 0) throw bad('boot', 'an appended partition cannot be patched with a boot info table', 'drop --boot-info-table and --grub2-boot-info for that entry');
  }
  if (o.padBlocks !== undefined && (!Number.isInteger(o.padBlocks) || o.padBlocks < 0 || o.padBlocks > 1 << 20)) throw bad('padBlocks', `padding of ${o.padBlocks} blocks is not in 0…1048576`);
  if (o.rockRidgeVersion !== undefined && o.rockRidgeVersion !== '1.10' && o.rockRidgeVersion !== '1.12') throw bad('rockRidgeVersion', `Rock Ridge version "${String(o.rockRidgeVersion)}" is not 1.10 or 1.12`);
  if (o.jolietLong && !o.joliet) throw bad('jolietLong', 'joliet-long without Joliet', 'pass --joliet too');
  const weights = (o.sortWeights ?? []).map((w, i) => {
    if (!Number.isInteger(w.weight) || Math.abs(w.weight) > 0x7fffffff) throw bad(`sortWeights[${i}].weight`, `weight ${w.weight} is not a 32-bit whole number`);
    return { path: normalizeTreePath(w.path, 'iso9660'), weight: w.weight };
  });
  const dates = { ...(o.volumeDates ?? {}) };
  for (const k of ['creation', 'modification', 'expiration', 'effective'] as const) {
    const v = dates[k];
    if (typeof v === 'string') dates[k] = checkDateText(v, `volumeDates.${k}`);
    else if (v !== undefined) resolveEpoch(v, 'iso9660');
  }
  if (dates.uuid !== undefined) dates.uuid = checkDateText(dates.uuid, 'volumeDates.uuid');
  if (o.allFileDates !== undefined) resolveEpoch(o.allFileDates, 'iso9660');
  const ids = {
    systemId: idField(o.systemId, 'LINUX', 32, 'systemId'),
    volumeSetId: idField(o.volumeSetId, '', 128, 'volumeSetId'),
    publisherId: idField(o.publisherId, '', 128, 'publisherId'),
    dataPreparerId: idField(o.dataPreparerId, '', 128, 'dataPreparerId'),
    applicationId: idField(o.applicationId, 'IMGKIT', 128, 'applicationId'),
  };
  const j = o.jolietIds ?? {};
  // Joliet identifiers are UCS-2 (Joliet spec "Volume Descriptor"): 16 or 64 characters.
  const jid = (v: string | undefined, def: string, max: number, field: string) => {
    const s = v ?? def;
    if ([...s].some((c) => c.codePointAt(0)! > 0xffff)) throw bad(field, `"${s}" has characters UCS-2 cannot hold`);
    return s.length > max ? s.slice(0, max) : s;
  };
  return {
    volumeId: idField(o.volumeId, 'ISOIMAGE', 32, 'volumeId'),
    ...ids,
    jolietIds: {
      systemId: jid(j.systemId, ids.systemId, 16, 'jolietIds.systemId'),
      volumeSetId: jid(j.volumeSetId, ids.volumeSetId, 64, 'jolietIds.volumeSetId'),
      publisherId: jid(j.publisherId, ids.publisherId, 64, 'jolietIds.publisherId'),
      dataPreparerId: jid(j.dataPreparerId, ids.dataPreparerId, 64, 'jolietIds.dataPreparerId'),
      applicationId: jid(j.applicationId, ids.applicationId, 64, 'jolietIds.applicationId'),
    },
    level,
    directoryDots: o.directoryDots ?? false,
    rockRidge: o.rockRidge ?? true,
    rockRidgeVersion: o.rockRidgeVersion ?? '1.12',
    joliet: o.joliet ?? false,
    jolietMax: o.jolietLong ? 103 : 64,
    jolietTruncate: o.jolietTruncate ?? false,
    relocate: o.relocateDeepDirectories ?? true,
    padBlocks: o.padBlocks ?? 150,
    epoch: o.epoch === undefined ? undefined : resolveEpoch(o.epoch, 'iso9660'),
    clampTo: o.epoch === undefined ? undefined : resolveEpoch(o.epoch, 'iso9660'),
    volumeDates: dates,
    allFileDates: o.allFileDates,
    sortWeights: weights,
    boot,
    catalogPath: normalizeTreePath(o.catalogPath ?? 'boot.catalog', 'iso9660'),
    catalogHidden: o.catalogHidden ?? false,
    hybrid,
    sa,
    efiDir,
    onWarning: o.onWarning,
    strict: o.strict ?? false,
  };
}
