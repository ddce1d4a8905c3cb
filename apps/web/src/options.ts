/**
 * The page's forms, declared once per output kind with the CLI's own flag names, and the mapping
 * from a filled form to the library's options — the same mapping the CLI's commands make from their
 * flags (packages/cli/src/commands/*.ts), so a form and a command line with the same flags give the
 * same bytes (test/web.test.ts checks that against `imgkit …`).
 *
 * Adding an option is one Field in the table and one line in the matching `…Options()` function.
 * Fields whose flag has no leading dash are the page's own (no CLI flag yet).
 */
import { ErrorCodes, ImgkitError, type CodecName } from '@imgkit/core';
import type { CpioOptions } from '@imgkit/cpio';
import type { SquashfsOptions } from '@imgkit/squashfs';
import type { HybridPreset, IsoContent, IsoOptions } from '@imgkit/iso9660';
import type { FatBits, PlanFatOptions } from '@imgkit/fat';
import type { ImageOptions, OutputFormat } from '@imgkit/vdisk';

export type FieldKind = 'text' | 'int' | 'bool' | 'select' | 'file' | 'size';
export interface Field {
  /** The CLI flag (`--volid`), or a page-only key without dashes. */
  flag: string;
  label: string;
  kind: FieldKind;
  choices?: readonly string[];
  /** Initial value (text of the input, or checked). */
  initial?: string | boolean;
  help?: string;
  placeholder?: string;
}

/** What a form holds: text, a checkbox, or a picked file; keyed by flag. */
export type Values = Readonly<Record<string, string | boolean | File | undefined>>;

export type OutputKind = 'cpio' | 'squashfs' | 'iso' | 'fat' | 'convert' | 'disk' | 'ext4';

export interface OutputDef {
  kind: OutputKind;
  title: string;
  /** The command line this form stands for. */
  command: string;
  /** What it reads: a source tree, or a disk image (convert). */
  input: 'tree' | 'image';
  fields: readonly Field[];
  /** Not available yet: the reason shown instead of the form. */
  pending?: string;
}

/** --manifest, --all-root, --uid, --gid, --strict: the CLI's addSourceOptions. */
export const SOURCE_FIELDS: readonly Field[] = [
  { flag: '--manifest', label: 'Manifest (gen_init_cpio list: owners, modes, symlinks, device nodes)', kind: 'file' },
  { flag: '--all-root', label: 'All entries owned by 0:0 (picked folders are 0:0 anyway; tar files keep their owners without it)', kind: 'bool' },
  { flag: '--uid', label: 'Owner uid for every entry', kind: 'int' },
  { flag: '--gid', label: 'Group gid for every entry', kind: 'int' },
  { flag: '--strict', label: 'Stop at the first warning', kind: 'bool' },
  { flag: 'SOURCE_DATE_EPOCH', label: 'SOURCE_DATE_EPOCH (seconds; dates the image, clamps newer times)', kind: 'int', placeholder: 'unset' },
];

export const OUTPUTS: readonly OutputDef[] = [
  {
    kind: 'cpio',
    title: 'initramfs (cpio)',
    command: 'imgkit cpio',
    input: 'tree',
    fields: [
      { flag: '--compress', label: 'Compression', kind: 'select', choices: ['gzip', 'zstd', 'lz4', 'xz', 'none'], initial: 'gzip', help: 'lz4 = legacy format, xz = CRC32: what the kernel reads' },
      { flag: '--level', label: 'Level (gzip 0–9, zstd 1–19, xz 0–7)', kind: 'int', placeholder: 'default' },
      { flag: '--format', label: 'cpio format', kind: 'select', choices: ['newc', 'crc'], initial: 'newc' },
    ],
  },
  {
    kind: 'squashfs',
    title: 'squashfs',
    command: 'imgkit squashfs',
    input: 'tree',
    fields: [
      { flag: '-comp', label: 'Compressor', kind: 'select', choices: ['gzip', 'zstd', 'lz4', 'xz'], initial: 'gzip' },
      { flag: '-b', label: 'Block size (4K … 1M)', kind: 'size', initial: '128K' },
      { flag: '-Xcompression-level', label: 'Compression level', kind: 'int', placeholder: 'default' },
      { flag: '-no-fragments', label: 'No fragment blocks', kind: 'bool' },
      { flag: '-always-use-fragments', label: 'Tails of large files in fragments too', kind: 'bool' },
      { flag: '-no-duplicates', label: 'Do not look for duplicate files', kind: 'bool' },
      { flag: '-no-exports', label: 'No NFS export table', kind: 'bool' },
      { flag: '-nopad', label: 'Do not pad to 4 KiB', kind: 'bool' },
      { flag: '-mkfs-time', label: 'mkfs time (seconds)', kind: 'int', placeholder: 'SOURCE_DATE_EPOCH' },
    ],
  },
  {
    // IsoOptions grows (helper "isolib"): add its fields here and their mapping in isoOptions().
    kind: 'iso',
    title: 'ISO 9660 (bootable, hybrid)',
    command: 'imgkit iso',
    input: 'tree',
    fields: [
      { flag: '--volid', label: 'Volume id', kind: 'text', initial: 'ISOIMAGE' },
      { flag: '--publisher', label: 'Publisher', kind: 'text' },
      { flag: '--preparer', label: 'Data preparer', kind: 'text' },
      { flag: '--appid', label: 'Application id', kind: 'text' },
      { flag: '--sysid', label: 'System id', kind: 'text' },
      { flag: '--joliet', label: 'Joliet (Windows names)', kind: 'bool' },
      { flag: '--joliet-long', label: 'Joliet names up to 103 units', kind: 'bool' },
      { flag: '--no-rock', label: 'No Rock Ridge', kind: 'bool' },
      { flag: '--iso-level', label: 'Interchange level', kind: 'select', choices: ['3', '2', '1'], initial: '3' },
      { flag: '--bios-boot', label: 'BIOS boot image (path in the tree)', kind: 'text', placeholder: 'isolinux/isolinux.bin' },
      { flag: '--boot-catalog', label: 'Boot catalog path', kind: 'text', initial: 'boot.catalog' },
      { flag: '--boot-load-size', label: 'Boot load size (512-byte sectors)', kind: 'int', placeholder: '4' },
      { flag: '--boot-info-table', label: 'Patch a boot info table', kind: 'bool' },
      { flag: '--efi-boot', label: "UEFI boot image (FAT image in the tree, or 'appended-esp')", kind: 'text', placeholder: 'boot/efi.img' },
      { flag: '--hybrid', label: 'Hybrid (bootable as a disk)', kind: 'select', choices: ['', 'isohybrid-mbr', 'appended-esp', 'uefi-only'], initial: '' },
      { flag: '--mbr-template', label: 'MBR boot code (isohdpfx.bin)', kind: 'file' },
      { flag: '--isohybrid-gpt', label: 'GPT beside the isohybrid MBR', kind: 'bool' },
      { flag: '--append-partition', label: 'ESP image appended as GPT partition 2', kind: 'file' },
      { flag: '--partition-offset', label: 'Partition offset (2 KiB blocks; archiso 16)', kind: 'int' },
      { flag: '--pad-blocks', label: 'Zero 2 KiB blocks after the data', kind: 'int', placeholder: '150' },
    ],
  },
  {
    kind: 'fat',
    title: 'FAT12/16/32',
    command: 'imgkit fat',
    input: 'tree',
    fields: [
      { flag: '--size', label: 'Image size (K, M, G)', kind: 'size', placeholder: 'smallest that fits' },
      { flag: '--fat', label: 'FAT type', kind: 'select', choices: ['', '12', '16', '32'], initial: '' },
      { flag: '--label', label: 'Volume label', kind: 'text' },
      { flag: '--volume-id', label: 'Volume id (hex)', kind: 'text' },
      { flag: '--margin', label: 'Free space (bytes or N%)', kind: 'text' },
      { flag: '--invalid-names', label: 'Names FAT cannot hold', kind: 'select', choices: ['error', 'replace'], initial: 'error' },
      // Until the disk composer lands: the FAT volume alone, or as the one partition of a GPT/MBR disk.
      { flag: 'table', label: 'Put it in a partition table (page only)', kind: 'select', choices: ['', 'gpt', 'mbr'], initial: '' },
    ],
  },
  {
    kind: 'convert',
    title: 'VM disk (qcow2, VMDK, VHD, VHDX, OVA) from an image',
    command: 'imgkit convert',
    input: 'image',
    fields: [
      { flag: '-O', label: 'Output format', kind: 'select', choices: ['qcow2', 'vmdk', 'vpc', 'vhdx', 'ova', 'raw'], initial: 'qcow2' },
      { flag: '-c', label: 'Compress (qcow2)', kind: 'bool' },
      { flag: 'compression_type', label: 'qcow2 compression type', kind: 'select', choices: ['zlib', 'zstd'], initial: 'zlib' },
      { flag: 'subformat', label: 'Subformat (VMDK streamOptimized|monolithicSparse, VHD/VHDX dynamic|fixed)', kind: 'text', placeholder: 'default' },
    ],
  },
  {
    kind: 'disk',
    title: 'Disk from a layout',
    command: 'imgkit disk',
    input: 'tree',
    fields: [],
    pending: 'The disk composer (imgkit disk, a layout of partitions and their filesystems) is not in this build yet; FAT can already be put in a GPT or MBR disk.',
  },
  { kind: 'ext4', title: 'ext4', command: 'imgkit ext4', input: 'tree', fields: [], pending: 'ext4 is not in this build yet.' },
];

export function outputDef(kind: OutputKind): OutputDef {
  const d = OUTPUTS.find((o) => o.kind === kind);
  if (!d) throw new Error(`no output kind ${kind}`);
  return d;
}

// ------------------------------------------------------------------------------------------------
// Value readers: the CLI's parsers (intOption, parseByteSize, …) with its messages.

function usage(flag: string, detail: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'web', field: flag, detail });
}
const text = (v: Values, flag: string): string | undefined => {
  const x = v[flag];
  return typeof x === 'string' && x.trim() !== '' ? x.trim() : undefined;
};
const bool = (v: Values, flag: string): boolean => v[flag] === true;
const file = (v: Values, flag: string): File | undefined => {
  const x = v[flag];
  return typeof x === 'object' && x !== null ? x : undefined;
};
function int(v: Values, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const s = text(v, flag);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) < min || Number(s) > max) throw usage(flag, `"${s}" is not an integer in ${min}…${max}`);
  return Number(s);
}
const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
/** "1474560", "1440K", "64M" (powers of 1024): the CLI's parseByteSize. */
export function byteSize(v: Values, flag: string): number | undefined {
  const s = text(v, flag);
  if (s === undefined) return undefined;
  const m = /^(\d+)\s*([kKmMgGtT]?)(?:i?B)?$/.exec(s);
  if (!m) throw usage(flag, `"${s}" is not a size (bytes, or a number with K, M, G or T)`);
  return Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
}

/** SOURCE_DATE_EPOCH of the form (the CLI reads it from the environment). */
export function epochOf(v: Values): number | undefined {
  return int(v, 'SOURCE_DATE_EPOCH', 0, 0xffffffff);
}

/** Owners of the source fields (the CLI's applySourceFlags). */
export function ownersOf(v: Values): { allRoot?: boolean; uid?: number; gid?: number } {
  const o: { allRoot?: boolean; uid?: number; gid?: number } = {};
  if (bool(v, '--all-root')) o.allRoot = true;
  const uid = int(v, '--uid', 0, 0xffffffff);
  const gid = int(v, '--gid', 0, 0xffffffff);
  if (uid !== undefined) o.uid = uid;
  if (gid !== undefined) o.gid = gid;
  return o;
}

/** A picked file as IsoContent: its size now, its bytes in 1 MiB slices. */
export function blobContent(f: Blob): IsoContent {
  return {
    size: f.size,
    read: async function* () {
      for (let at = 0; at < f.size; at += 1 << 20) yield new Uint8Array(await f.slice(at, Math.min(f.size, at + (1 << 20))).arrayBuffer());
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Per output kind: form → library options (pool, epoch, warnings are added by the job runner).

export const CPIO_CODEC: Record<string, CodecName | undefined> = { gzip: 'gzip', zstd: 'zstd', lz4: 'lz4-legacy', xz: 'xz', none: undefined };

export function cpioOptions(v: Values): CpioOptions {
  const o: CpioOptions = { compression: (text(v, '--compress') ?? 'gzip') as NonNullable<CpioOptions['compression']>, format: (text(v, '--format') ?? 'newc') as 'newc' | 'crc' };
  const level = int(v, '--level');
  if (level !== undefined) o.level = level;
  if (bool(v, '--strict')) o.strict = true;
  return o;
}

export const SQUASHFS_CODEC: Record<string, CodecName> = { gzip: 'zlib', zstd: 'zstd', lz4: 'lz4-block', xz: 'xz' };

export function squashfsOptions(v: Values): SquashfsOptions {
  const o: SquashfsOptions = {
    compression: (text(v, '-comp') ?? 'gzip') as NonNullable<SquashfsOptions['compression']>,
    blockSize: byteSize(v, '-b') ?? 131072,
    fragments: !bool(v, '-no-fragments'),
    alwaysUseFragments: bool(v, '-always-use-fragments'),
    duplicates: !bool(v, '-no-duplicates'),
    exportTable: !bool(v, '-no-exports'),
    pad: !bool(v, '-nopad'),
    strict: bool(v, '--strict'),
  };
  const level = int(v, '-Xcompression-level');
  if (level !== undefined) o.level = level;
  const mkfsTime = int(v, '-mkfs-time', 0, 0xffffffff);
  if (mkfsTime !== undefined) o.mkfsTime = mkfsTime;
  return o;
}

/** The CLI's isoOptionsFrom (commands/iso.ts), with picked files instead of host paths. */
export async function isoOptions(v: Values): Promise<IsoOptions> {
  const o: IsoOptions = { rockRidge: !bool(v, '--no-rock'), level: Number(text(v, '--iso-level') ?? '3') as 1 | 2 | 3 };
  const ids: [string, 'volumeId' | 'publisherId' | 'dataPreparerId' | 'applicationId' | 'systemId'][] = [
    ['--volid', 'volumeId'],
    ['--publisher', 'publisherId'],
    ['--preparer', 'dataPreparerId'],
    ['--appid', 'applicationId'],
    ['--sysid', 'systemId'],
  ];
  for (const [flag, key] of ids) {
    const s = text(v, flag);
    if (s !== undefined) o[key] = s;
  }
  if (bool(v, '--joliet') || bool(v, '--joliet-long')) o.joliet = true;
  if (bool(v, '--joliet-long')) o.jolietLong = true;
  const pad = int(v, '--pad-blocks', 0, 1 << 20);
  if (pad !== undefined) o.padBlocks = pad;
  const bios = text(v, '--bios-boot');
  const loadSize = int(v, '--boot-load-size', 1, 65535);
  if (bios !== undefined) {
    o.biosBoot = { path: bios };
    if (loadSize !== undefined) o.biosBoot.loadSectors = loadSize;
    if (bool(v, '--boot-info-table')) o.biosBoot.bootInfoTable = true;
  } else if (bool(v, '--boot-info-table') || loadSize !== undefined) throw usage('--bios-boot', '--boot-load-size and --boot-info-table need --bios-boot');
  const catalog = text(v, '--boot-catalog');
  if (catalog !== undefined) o.catalogPath = catalog;
  const efi = text(v, '--efi-boot');
  if (efi === 'appended-esp') o.efiBoot = 'appended-esp';
  else if (efi !== undefined) o.efiBoot = { path: efi };
  const hybrid = text(v, '--hybrid');
  if (hybrid !== undefined) o.hybrid = hybrid as HybridPreset;
  const mbr = file(v, '--mbr-template');
  if (mbr) {
    o.mbrTemplate = new Uint8Array(await mbr.arrayBuffer());
    if (o.mbrTemplate.byteLength < 432) throw usage('--mbr-template', `${mbr.name} is ${o.mbrTemplate.byteLength} bytes; MBR boot code is 432 (e.g. /usr/lib/ISOLINUX/isohdpfx.bin)`);
  }
  const esp = file(v, '--append-partition');
  if (esp) {
    o.appendedEsp = blobContent(esp);
    if (o.hybrid === undefined) o.hybrid = 'appended-esp';
    if (o.efiBoot === undefined) o.efiBoot = 'appended-esp';
  }
  const offset = int(v, '--partition-offset', 0, 1024);
  if (offset !== undefined && offset > 0) o.partitionOffsetBlocks = offset;
  if (o.hybrid === undefined && o.mbrTemplate) o.hybrid = 'isohybrid-mbr';
  if (bool(v, '--isohybrid-gpt') && o.hybrid === 'isohybrid-mbr') o.isohybridGpt = true;
  if (bool(v, '--strict')) o.strict = true;
  return o;
}

/** The CLI's fat command options; `table` is the page's own. */
export function fatOptions(v: Values): { options: PlanFatOptions; table: 'gpt' | 'mbr' | undefined } {
  const o: PlanFatOptions = { invalidNames: (text(v, '--invalid-names') ?? 'error') as 'error' | 'replace' };
  const size = byteSize(v, '--size');
  if (size !== undefined) o.size = size;
  const bits = text(v, '--fat');
  if (bits !== undefined) o.fatBits = Number(bits) as FatBits;
  const label = text(v, '--label');
  if (label !== undefined) o.label = label;
  const id = text(v, '--volume-id');
  if (id !== undefined) {
    if (!/^(0x)?[0-9a-fA-F]{1,8}$/.test(id)) throw usage('--volume-id', `"${id}" is not a 32-bit hexadecimal volume id (e.g. 1234ABCD)`);
    o.volumeId = Number.parseInt(id.replace(/^0x/, ''), 16);
  }
  const margin = text(v, '--margin');
  if (margin !== undefined) o.margin = /^\d+(\.\d+)?%$/.test(margin) ? (margin as `${number}%`) : byteSize(v, '--margin')!;
  if (bool(v, '--strict')) o.strict = true;
  const table = text(v, 'table');
  return { options: o, table: table === 'gpt' || table === 'mbr' ? table : undefined };
}

const OUTPUT_NAMES: Record<string, OutputFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', ova: 'ova', vpc: 'vhd', vhd: 'vhd', vhdx: 'vhdx' };

/** `imgkit convert -O fmt [-c] [-o compression_type=…,subformat=…]`. */
export function imageOptions(v: Values): ImageOptions {
  const format = OUTPUT_NAMES[text(v, '-O') ?? 'qcow2'] ?? 'qcow2';
  const o: ImageOptions = { format };
  const sub = text(v, 'subformat');
  if (format === 'qcow2') {
    o.qcow2 = {};
    if (bool(v, '-c')) o.qcow2.compress = true;
    if (text(v, 'compression_type') === 'zstd') o.qcow2.compressionType = 'zstd';
  } else if (bool(v, '-c')) {
    throw usage('-c', `-c compresses qcow2 clusters; ${format === 'vmdk' || format === 'ova' ? 'stream-optimized VMDK grains are always compressed' : `${format} has no compressed form`}`);
  }
  if (sub !== undefined) {
    if (format === 'vmdk' || format === 'ova') o.vmdk = { subformat: sub as 'streamOptimized' | 'monolithicSparse' };
    else if (format === 'vhd') o.vhd = { subformat: sub as 'dynamic' | 'fixed' };
    else if (format === 'vhdx') o.vhdx = { subformat: sub as 'dynamic' | 'fixed' };
    else throw usage('subformat', `${format} has no subformat`);
  }
  return o;
}

/** The codec a convert job compresses with (what the workers preload), as the CLI picks it. */
export function imageCodec(o: ImageOptions): { codec: CodecName; compress: boolean } {
  const compress = o.format === 'qcow2' ? o.qcow2?.compress === true : o.format === 'vmdk' || o.format === 'ova' ? (o.vmdk?.subformat ?? 'streamOptimized') === 'streamOptimized' : false;
  const codec: CodecName = o.format === 'qcow2' ? (o.qcow2?.compressionType === 'zstd' ? 'zstd' : 'deflate-raw') : 'zlib';
  return { codec, compress };
}
