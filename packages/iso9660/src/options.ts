/**
 * IsoOptions and their validation (one `resolveOptions`), including the hybrid presets' consistency
 * check.
 */
import { ErrorCodes, ImgkitError, normalizeTreePath, resolveEpoch, type WarningHandler } from '@imgkit/core';
import type { IsoLevel } from './names.js';

/** Content given outside the source tree (a host file, another writer's output) with a known size. */
export interface IsoContent {
  size: number;
  read(): AsyncIterable<Uint8Array>;
}

export type HybridPreset = 'none' | 'isohybrid-mbr' | 'appended-esp' | 'uefi-only';

export interface IsoOptions {
  /** Volume identifier (PVD, and Joliet's); up to 32 characters. @default 'ISOIMAGE' */
  volumeId?: string;
  /** @default 'LINUX' */
  systemId?: string;
  /** @default '' */
  publisherId?: string;
  /** @default '' */
  dataPreparerId?: string;
  /** @default 'IMGKIT' */
  applicationId?: string;
  /** Interchange level: 1 (8.3 names), 2 (31 characters), 3 (also files over 4 GiB as multi-extent). @default 3 */
  level?: IsoLevel;
  /** Rock Ridge (POSIX names, modes, owners, times, links, devices). @default true */
  rockRidge?: boolean;
  /** Joliet tree (UCS-2 names for Windows). @default false */
  joliet?: boolean;
  /** Joliet names up to 103 units instead of 64. @default false */
  jolietLong?: boolean;
  /** Move directories deeper than ECMA-119's 8 levels into /rr_moved (RRIP RE/CL/PL). @default true */
  relocateDeepDirectories?: boolean;
  /**
   * Zero blocks after the file data, inside the volume (mkisofs -pad): Linux's CD read-ahead used to
   * fail on the last blocks, and readers such as libarchive read 8 blocks past the descriptors.
   * @default 150 (300 KiB)
   */
  padBlocks?: number;
  /** Seconds since 1970: volume dates; when set, file times newer than it are clamped to it. @default 0 */
  epoch?: number;
  /** El Torito BIOS no-emulation boot image: a file of the tree. */
  biosBoot?: {
    path: string;
    /** 512-byte sectors the BIOS loads. @default 4 */
    loadSectors?: number;
    /** Patch a boot-info-table at offset 8 (isolinux, GRUB eltorito.img). @default false */
    bootInfoTable?: boolean;
  };
  /** Path of the boot catalog file in the tree. @default 'boot.catalog' */
  catalogPath?: string;
  /**
   * El Torito UEFI image (a FAT image): a file of the tree (`path`), a host file placed at `path`
   * (`content`), or the appended ESP (`'appended-esp'`).
   */
  efiBoot?: { path: string; content?: IsoContent } | 'appended-esp';
  /** Hybrid preset for writing the image to a disk. @default 'none' */
  hybrid?: HybridPreset;
  /**
   * With 'isohybrid-mbr': also write a GPT whose partition 1 is the EFI image inside the ISO
   * (ESP type), as xorriso -isohybrid-gpt-basdat does beside the MBR; the backup GPT goes into the
   * volume's cylinder padding. @default false
   */
  isohybridGpt?: boolean;
  /** isohybrid MBR boot code (the first 432 bytes are used), e.g. isolinux's isohdpfx.bin. */
  mbrTemplate?: Uint8Array;
  /**
   * xorriso -partition_offset: GPT partition 1 of the appended-esp preset starts at this block and
   * holds a second set of descriptors and directories whose addresses count from there, so the
   * partition mounts as ISO 9660 on its own (archiso uses 16). 0 or 16…1024. @default 0
   */
  partitionOffsetBlocks?: number;
  /** An ESP image appended after the ISO as GPT partition 2 (preset 'appended-esp'). */
  appendedEsp?: IsoContent;
  onWarning?: WarningHandler;
  /** Warnings become errors. @default false */
  strict?: boolean;
}

export interface ResolvedIsoOptions {
  volumeId: string;
  systemId: string;
  publisherId: string;
  dataPreparerId: string;
  applicationId: string;
  level: IsoLevel;
  rockRidge: boolean;
  joliet: boolean;
  jolietMax: number;
  relocate: boolean;
  padBlocks: number;
  epoch: number;
  /** Clamp file times to this (only when the caller set `epoch`). */
  clampTo: number | undefined;
  bios: { path: string; loadSectors: number; bootInfoTable: boolean } | undefined;
  catalogPath: string;
  efi: { path: string; content: IsoContent | undefined } | 'appended-esp' | undefined;
  hybrid: HybridPreset;
  mbrTemplate: Uint8Array | undefined;
  isohybridGpt: boolean;
  appendedEsp: IsoContent | undefined;
  partitionOffset: number;
  onWarning: WarningHandler | undefined;
  strict: boolean;
}

const bad = (field: string, detail: string, hint?: string): ImgkitError =>
  new ImgkitError(ErrorCodes.BAD_OPTION, hint === undefined ? { format: 'iso9660', field, detail } : { format: 'iso9660', field, detail, hint });

function idField(value: string | undefined, def: string, max: number, field: string): string {
  const v = value ?? def;
  if (v.length > max) throw bad(field, `"${v}" is ${v.length} characters; the limit is ${max}`);
  if (!/^[\x20-\x7e]*$/.test(v)) throw bad(field, `"${v}" has characters outside printable ASCII`);
  return v;
}

export function resolveOptions(o: IsoOptions = {}): ResolvedIsoOptions {
  const level = o.level ?? 3;
  if (level !== 1 && level !== 2 && level !== 3) throw bad('level', `interchange level ${String(level)} is not 1, 2 or 3`);
  const hybrid = o.hybrid ?? 'none';
  if (!['none', 'isohybrid-mbr', 'appended-esp', 'uefi-only'].includes(hybrid)) {
    throw bad('hybrid', `unknown hybrid preset "${hybrid}"`, 'use isohybrid-mbr, appended-esp or uefi-only');
  }
  const bios = o.biosBoot
    ? { path: normalizeTreePath(o.biosBoot.path, 'iso9660'), loadSectors: o.biosBoot.loadSectors ?? 4, bootInfoTable: o.biosBoot.bootInfoTable ?? false }
    : undefined;
  if (bios && (!Number.isInteger(bios.loadSectors) || bios.loadSectors < 1 || bios.loadSectors > 0xffff)) {
    throw bad('biosBoot.loadSectors', `load size ${bios.loadSectors} is not in 1…65535 sectors`);
  }
  let efi: ResolvedIsoOptions['efi'];
  if (o.efiBoot === 'appended-esp') efi = 'appended-esp';
  else if (o.efiBoot) efi = { path: normalizeTreePath(o.efiBoot.path, 'iso9660'), content: o.efiBoot.content };
  if (efi === undefined && hybrid === 'appended-esp' && o.appendedEsp) efi = 'appended-esp';

  // The presets' consistency check: each combination that can't produce a working image is refused.
  if (o.mbrTemplate && hybrid !== 'isohybrid-mbr' && hybrid !== 'appended-esp') {
    throw bad('mbrTemplate', `an MBR template needs the isohybrid-mbr or appended-esp preset (got "${hybrid}")`, 'pass --hybrid isohybrid-mbr');
  }
  if (o.appendedEsp && hybrid !== 'appended-esp') throw bad('appendedEsp', 'an appended ESP needs the appended-esp preset', 'pass --hybrid appended-esp');
  if (efi === 'appended-esp' && !o.appendedEsp) throw bad('efiBoot', 'the El Torito UEFI entry points at the appended ESP, but none is given', 'pass --append-partition FILE');
  switch (hybrid) {
    case 'isohybrid-mbr':
      if (!o.mbrTemplate) throw bad('mbrTemplate', 'the isohybrid-mbr preset needs MBR boot code', 'pass --mbr-template /usr/lib/ISOLINUX/isohdpfx.bin');
      if (!bios) throw bad('biosBoot', 'the isohybrid-mbr preset needs a BIOS boot image for the MBR code to load', 'pass --bios-boot');
      break;
    case 'appended-esp':
      if (!o.appendedEsp) throw bad('appendedEsp', 'the appended-esp preset needs an ESP image', 'pass --append-partition FILE');
      if (o.mbrTemplate && !bios) throw bad('biosBoot', 'an MBR template needs a BIOS boot image for its code to load', 'pass --bios-boot');
      break;
    case 'uefi-only':
      if (!efi) throw bad('efiBoot', 'the uefi-only preset needs a UEFI boot image', 'pass --efi-boot');
      if (bios) throw bad('biosBoot', 'the uefi-only preset has no BIOS boot', 'drop --bios-boot or use isohybrid-mbr');
      break;
    case 'none':
      break;
  }
  if (o.padBlocks !== undefined && (!Number.isInteger(o.padBlocks) || o.padBlocks < 0 || o.padBlocks > 1 << 20)) throw bad('padBlocks', `padding of ${o.padBlocks} blocks is not in 0…1048576`);
  if (o.partitionOffsetBlocks !== undefined && o.partitionOffsetBlocks !== 0) {
    const p = o.partitionOffsetBlocks;
    if (!Number.isInteger(p) || p < 16 || p > 1024) throw bad('partitionOffsetBlocks', `partition offset ${p} is not 0 or 16…1024 blocks`);
    if (hybrid !== 'appended-esp') throw bad('partitionOffsetBlocks', 'a partition offset needs the appended-esp preset (its GPT partition 1)', 'pass --hybrid appended-esp');
  }
  if (o.isohybridGpt && (hybrid !== 'isohybrid-mbr' || !efi || efi === 'appended-esp')) {
    throw bad('isohybridGpt', 'a GPT beside the isohybrid MBR needs the isohybrid-mbr preset and an EFI image in the ISO', 'pass --efi-boot with --hybrid isohybrid-mbr');
  }
  if (o.jolietLong && !o.joliet) throw bad('jolietLong', 'joliet-long without Joliet', 'pass --joliet too');
  return {
    volumeId: idField(o.volumeId, 'ISOIMAGE', 32, 'volumeId'),
    systemId: idField(o.systemId, 'LINUX', 32, 'systemId'),
    publisherId: idField(o.publisherId, '', 128, 'publisherId'),
    dataPreparerId: idField(o.dataPreparerId, '', 128, 'dataPreparerId'),
    applicationId: idField(o.applicationId, 'IMGKIT', 128, 'applicationId'),
    level,
    rockRidge: o.rockRidge ?? true,
    joliet: o.joliet ?? false,
    jolietMax: o.jolietLong ? 103 : 64,
    relocate: o.relocateDeepDirectories ?? true,
    padBlocks: o.padBlocks ?? 150,
    epoch: resolveEpoch(o.epoch, 'iso9660'),
    clampTo: o.epoch === undefined ? undefined : resolveEpoch(o.epoch, 'iso9660'),
    bios,
    catalogPath: normalizeTreePath(o.catalogPath ?? 'boot.catalog', 'iso9660'),
    efi,
    hybrid,
    mbrTemplate: o.mbrTemplate,
    isohybridGpt: o.isohybridGpt ?? false,
    appendedEsp: o.appendedEsp,
    partitionOffset: o.partitionOffsetBlocks ?? 0,
    onWarning: o.onWarning,
    strict: o.strict ?? false,
  };
}
