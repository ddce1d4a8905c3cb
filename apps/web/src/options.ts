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
import { checkDateText, parseGuid, type HybridPreset, type IsoContent, type IsoOptions } from '@imgkit/iso9660';
import type { FatBits, PlanFatOptions } from '@imgkit/fat';
import type { ImageOptions, OutputFormat } from '@imgkit/vdisk';
import type { PlanExt4Options } from '@imgkit/ext4';
import { fromFileList, treeOf } from './sources.js';

export type FieldKind = 'text' | 'textarea' | 'int' | 'bool' | 'select' | 'file' | 'folder' | 'size';
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

/** What a form holds: text, a checkbox, a picked file, or a picked folder's files; keyed by flag. */
export type Values = Readonly<Record<string, string | boolean | File | readonly File[] | undefined>>;

export type OutputKind = 'cpio' | 'squashfs' | 'iso' | 'fat' | 'convert' | 'disk' | 'ext4';

export interface OutputDef {
  kind: OutputKind;
  title: string;
  /** The command line this form stands for. */
  command: string;
  /** What it reads: a source tree, a disk image (convert), or a layout over the picked folder (disk). */
  input: 'tree' | 'image' | 'layout';
  fields: readonly Field[];
  /** Not available yet: the reason shown instead of the form. */
  pending?: string;
  /** The command's own spelling of a shared source flag (squashfs: -force-uid for --uid). */
  spelling?: Readonly<Record<string, string>>;
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

/** --exclude (cpio, squashfs, iso, ext4): patterns separated by spaces, each a repeated flag on the command line. */
const EXCLUDE_FIELD: Field = { flag: '--exclude', label: 'Leave out these paths and what is below them (space-separated; * and ? within a name)', kind: 'text', placeholder: 'e.g. var/cache *.bak' };

/** The --exclude patterns of the form. */
export function excludesOf(v: Values): string[] {
  return (text(v, '--exclude') ?? '').split(/\s+/).filter((x) => x !== '');
}

/** imgkit convert's and imgkit disk's container flags (qemu-img's -o, -c). */
const VM_FIELDS: readonly Field[] = [
  { flag: '-c', label: 'Compress (qcow2 clusters)', kind: 'bool' },
  {
    flag: '-o',
    label: 'Format options, key=value,… (qemu-img -o)',
    kind: 'text',
    placeholder: 'compression_type=zstd, subformat=fixed, …',
    help: 'qcow2: cluster_size compat compression_type; vmdk: subformat adapter_type hwversion; vpc: subformat block_size; vhdx: subformat block_size logical_sector_size physical_sector_size; ova: name cpus memory firmware controller hwversion network',
  },
  { flag: '--vhd-size-align', label: 'VHD size alignment', kind: 'select', choices: ['', 'sector', 'mib'], initial: '' },
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
      { flag: '--early', label: 'Early archive in front, uncompressed (a folder, e.g. CPU microcode: kernel/x86/microcode/…)', kind: 'folder' },
      EXCLUDE_FIELD,
    ],
  },
  {
    kind: 'squashfs',
    title: 'squashfs',
    command: 'imgkit squashfs',
    input: 'tree',
    spelling: { '--all-root': '-all-root', '--uid': '-force-uid', '--gid': '-force-gid' },
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
      EXCLUDE_FIELD,
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
      { flag: '--grub2-boot-info', label: "Patch GRUB2's boot info (eltorito.img)", kind: 'bool' },
      { flag: '--catalog-hidden', label: 'Boot catalog listed in no directory', kind: 'bool' },
      { flag: '--efi-boot', label: "UEFI boot image (FAT image in the tree, or 'appended-esp')", kind: 'text', placeholder: 'boot/efi.img' },
      { flag: '--efi-dir', label: 'or build the UEFI image from a folder (EFI/BOOT/BOOTX64.EFI …)', kind: 'folder' },
      { flag: '--efi-label', label: 'FAT label of the --efi-dir image', kind: 'text' },
      { flag: '--efi-size', label: 'Size of the --efi-dir image', kind: 'size', placeholder: 'smallest that fits' },
      { flag: '--efi-image-path', label: 'Path of the --efi-dir image in the ISO', kind: 'text', placeholder: 'boot/efiboot.img' },
      { flag: '--hybrid', label: 'Hybrid (bootable as a disk)', kind: 'select', choices: ['', 'isohybrid-mbr', 'grub2', 'appended-esp', 'mbr-style', 'uefi-only'], initial: '' },
      { flag: '--mbr-template', label: 'MBR boot code (isohdpfx.bin)', kind: 'file' },
      { flag: '--isohybrid-gpt', label: 'GPT beside the isohybrid MBR', kind: 'bool' },
      { flag: '--append-partition', label: 'ESP image appended as GPT partition 2', kind: 'file' },
      { flag: '--partition-offset', label: 'Partition offset (2 KiB blocks; archiso 16)', kind: 'int' },
      { flag: '--mbr-force-bootable', label: 'Mark an MBR partition active', kind: 'bool' },
      { flag: '--iso-partition-type', label: 'ISO partition type (0xNN or GPT type GUID)', kind: 'text' },
      { flag: '--cylinder-align', label: 'Align to MBR cylinders', kind: 'select', choices: ['', 'auto', 'on', 'off', 'all'], initial: '' },
      { flag: '--modification-date', label: 'Volume date YYYYMMDDhhmmsscc (also the blkid UUID)', kind: 'text' },
      { flag: '--rrip', label: 'Rock Ridge version', kind: 'select', choices: ['', '1.12', '1.10'], initial: '' },
      { flag: '--pad-blocks', label: 'Zero 2 KiB blocks after the data', kind: 'int', placeholder: '150' },
      EXCLUDE_FIELD,
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
      { flag: '--dereference', label: "Store symlinks' targets (copies) instead of refusing them", kind: 'bool' },
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
      { flag: '-f', label: 'Input format', kind: 'select', choices: ['', 'raw', 'qcow2', 'vmdk', 'vpc', 'vhdx'], initial: '', help: 'detected when empty; raw reads any file as a disk' },
      ...VM_FIELDS,
    ],
  },
  {
    kind: 'disk',
    title: 'Disk from a layout (GPT/MBR; FAT, squashfs, ext4 partitions)',
    command: 'imgkit disk',
    input: 'layout',
    fields: [
      { flag: 'layout', label: 'Layout (YAML or JSON; its paths name folders and files of the picked folder)', kind: 'textarea', placeholder: 'table: gpt\npartitions:\n  - { label: esp, type: esp, size: 32M, content: { fat: boot/ } }\n  - { label: root, type: linux, content: { squashfs: rootfs/ } }' },
      { flag: 'layout-file', label: 'or a layout file (read instead of the text)', kind: 'file' },
      { flag: '--format', label: 'Image format', kind: 'select', choices: ['raw', 'qcow2', 'vmdk', 'vpc', 'vhdx', 'ova'], initial: 'raw' },
      ...VM_FIELDS,
    ],
  },
  {
    kind: 'ext4',
    title: 'ext4',
    command: 'imgkit ext4',
    input: 'tree',
    fields: [
      { flag: '--size', label: 'Image size (K, M, G)', kind: 'size', placeholder: 'smallest whole MiB that fits' },
      { flag: '-b', label: 'Block size', kind: 'select', choices: ['4096', '2048', '1024'], initial: '4096' },
      { flag: '-I', label: 'Inode size (bytes, power of two ≥ 128)', kind: 'int', placeholder: '256' },
      { flag: '-i', label: 'Bytes per inode', kind: 'int', placeholder: '16384' },
      { flag: '-N', label: 'Number of inodes', kind: 'int', placeholder: 'from -i' },
      { flag: '-m', label: 'Reserved blocks (percent, 0–50)', kind: 'text', placeholder: '5' },
      { flag: '-L', label: 'Volume label (16 bytes)', kind: 'text' },
      { flag: '-U', label: 'UUID (or random, null)', kind: 'text', placeholder: 'derived from SOURCE_DATE_EPOCH, else random' },
      { flag: '-O', label: "Features (mke2fs names, e.g. ^metadata_csum,^64bit)", kind: 'text' },
      { flag: '-E', label: 'Extended options (hash_seed=UUID)', kind: 'text' },
      { flag: '-J', label: 'Journal (size=MiB)', kind: 'text', placeholder: 'as mke2fs picks it' },
      { flag: '-G', label: 'Groups per flex group (power of two)', kind: 'int', placeholder: '16' },
      { flag: '--hash-alg', label: 'Directory hash', kind: 'select', choices: ['', 'half_md4', 'tea', 'legacy'], initial: '' },
      { flag: '--margin', label: 'Free space of the automatic size (bytes or N%)', kind: 'text', placeholder: '10%' },
      { flag: '--inode-reserve', label: 'Free inodes of the automatic size (count or N%)', kind: 'text', placeholder: '10%' },
      EXCLUDE_FIELD,
    ],
  },
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
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as File) : undefined;
};
/** A folder field's files (`<input webkitdirectory>`), or undefined when none was picked. */
export const folder = (v: Values, flag: string): readonly File[] | undefined => {
  const x = v[flag];
  return Array.isArray(x) && x.length > 0 ? (x as readonly File[]) : undefined;
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
    if (bool(v, '--grub2-boot-info')) o.biosBoot.grub2BootInfo = true;
  } else if (bool(v, '--boot-info-table') || loadSize !== undefined || bool(v, '--grub2-boot-info')) throw usage('--bios-boot', '--boot-load-size, --boot-info-table and --grub2-boot-info need --bios-boot');
  const rrip = text(v, '--rrip');
  if (rrip !== undefined) o.rockRidgeVersion = rrip as '1.10' | '1.12';
  if (bool(v, '--catalog-hidden')) o.catalogHidden = true;
  const date = text(v, '--modification-date');
  if (date !== undefined) {
    try {
      o.volumeDates = { uuid: checkDateText(date, '--modification-date') };
    } catch {
      throw usage('--modification-date', `--modification-date ${date}: give the date as YYYYMMDDhhmmsscc (16 digits)`);
    }
  }
  const catalog = text(v, '--boot-catalog');
  if (catalog !== undefined) o.catalogPath = catalog;
  const efi = text(v, '--efi-boot');
  if (efi === 'appended-esp') o.efiBoot = 'appended-esp';
  else if (efi !== undefined) o.efiBoot = { path: efi };
  const efiDir = folder(v, '--efi-dir');
  if (efiDir) {
    // The UEFI image built from a folder: a FAT file of the ISO, or the appended ESP (per preset).
    if (efi !== undefined) throw usage('--efi-dir', '--efi-dir and --efi-boot both give the UEFI boot image; pass one of them');
    if (file(v, '--append-partition')) throw usage('--efi-dir', '--efi-dir builds the ESP that --append-partition would append; pass one of them (with --hybrid appended-esp or mbr-style, --efi-dir is appended)');
    const fat: NonNullable<NonNullable<IsoOptions['efiDir']>['fat']> = {};
    const label = text(v, '--efi-label');
    if (label !== undefined) fat.label = label;
    const size = byteSize(v, '--efi-size');
    if (size !== undefined) fat.size = size;
    o.efiDir = { tree: treeOf(fromFileList(efiDir)), fat };
    const at = text(v, '--efi-image-path');
    if (at !== undefined) o.efiDir.path = at;
  } else if (text(v, '--efi-label') !== undefined || text(v, '--efi-size') !== undefined) {
    throw usage('--efi-dir', '--efi-label and --efi-size describe the image --efi-dir builds; pass --efi-dir');
  }
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
    if (o.efiBoot === undefined && o.hybrid !== 'grub2') o.efiBoot = 'appended-esp';
  }
  const offset = int(v, '--partition-offset', 0, 1024);
  if (offset !== undefined && offset > 0) o.partitionOffsetBlocks = offset;
  if (o.hybrid === undefined && o.mbrTemplate) o.hybrid = 'isohybrid-mbr';
  if (bool(v, '--isohybrid-gpt') && (o.hybrid === 'isohybrid-mbr' || o.hybrid === undefined)) o.isohybridGpt = true;
  const sa: NonNullable<IsoOptions['systemArea']> = {};
  if (bool(v, '--mbr-force-bootable')) sa.mbrForceBootable = true;
  const cyl = text(v, '--cylinder-align');
  if (cyl !== undefined) sa.cylinderAlign = cyl as NonNullable<typeof sa.cylinderAlign>;
  const ptype = text(v, '--iso-partition-type');
  if (ptype !== undefined) {
    if (/^0x[0-9a-fA-F]{1,2}$/.test(ptype)) sa.isoPartitionType = Number.parseInt(ptype.slice(2), 16);
    else if (parseGuid(ptype)) sa.isoPartitionType = ptype;
    else throw usage('--iso-partition-type', `--iso-partition-type ${ptype}: give a byte (0x00…0xff) or a GPT type GUID`);
  }
  if (Object.keys(sa).length > 0) o.systemArea = sa;
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
  if (bool(v, '--dereference')) o.symlinks = 'follow';
  if (bool(v, '--strict')) o.strict = true;
  const table = text(v, 'table');
  return { options: o, table: table === 'gpt' || table === 'mbr' ? table : undefined };
}

/** mke2fs -E keys that concern writing to a device: accepted, they change nothing in an image (as the CLI). */
const E_NO_OPS = new Set(['lazy_itable_init', 'lazy_journal_init', 'nodiscard', 'discard', 'assume_storage_prezeroed']);

/** "10%" or a count / a size in bytes. */
function countOrPercent(v: Values, flag: string, asBytes: boolean): number | `${number}%` | undefined {
  const s = text(v, flag);
  if (s === undefined) return undefined;
  if (/^\d+(\.\d+)?%$/.test(s)) return s as `${number}%`;
  if (asBytes) return byteSize(v, flag);
  if (!/^\d+$/.test(s)) throw usage(flag, `"${s}" is neither a count nor a percentage like "10%"`);
  return Number(s);
}

/**
 * The CLI's ext4 command (commands/ext4.ts): mke2fs's letters → PlanExt4Options. Without
 * SOURCE_DATE_EPOCH the filesystem is dated now and gets a random UUID and hash seed, as there.
 */
export function ext4Options(v: Values, epoch: number | undefined): PlanExt4Options {
  const blockSize = Number(text(v, '-b') ?? '4096') as 1024 | 2048 | 4096;
  const o: PlanExt4Options = { strict: bool(v, '--strict'), blockSize };
  const size = byteSize(v, '--size');
  if (size !== undefined) o.size = size;
  const inodeSize = int(v, '-I', 128, 4096);
  if (inodeSize !== undefined) o.inodeSize = inodeSize;
  const ratio = int(v, '-i', 1024, 67108864);
  if (ratio !== undefined) o.inodeRatio = ratio;
  const inodes = int(v, '-N', 1, 0xffffffff);
  if (inodes !== undefined) o.inodes = inodes;
  const reserved = text(v, '-m');
  if (reserved !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(reserved) || Number(reserved) > 50) throw usage('-m', `"${reserved}" is not a percentage (0 … 50)`);
    o.reservedPercent = Number(reserved);
  }
  const label = text(v, '-L');
  if (label !== undefined) o.label = label;
  const features = text(v, '-O');
  if (features !== undefined) o.features = features;
  const journal = text(v, '-J');
  if (journal !== undefined) {
    const m = /^size=(\d+)$/.exec(journal);
    if (!m) throw usage('-J', `-J ${journal}: imgkit takes size=<MiB> (an internal journal)`);
    o.journalBlocks = (Number(m[1]) * 1024 * 1024) / blockSize;
  }
  const flex = int(v, '-G', 1, 2 ** 30);
  if (flex !== undefined) o.flexBgSize = flex;
  const hash = text(v, '--hash-alg');
  if (hash !== undefined) o.hashAlg = hash as 'legacy' | 'half_md4' | 'tea';
  const margin = countOrPercent(v, '--margin', true);
  if (margin !== undefined) o.margin = margin;
  const reserve = countOrPercent(v, '--inode-reserve', false);
  if (reserve !== undefined) o.inodeReserve = reserve;
  if (epoch !== undefined) o.epoch = epoch;
  else {
    o.now = Math.floor(Date.now() / 1000);
    o.uuid = crypto.randomUUID();
    o.hashSeed = crypto.randomUUID();
  }
  const uuid = text(v, '-U');
  if (uuid !== undefined) o.uuid = uuid === 'random' || uuid === 'time' ? crypto.randomUUID() : uuid;
  for (const item of (text(v, '-E') ?? '').split(',')) {
    if (item === '') continue;
    const [key, value] = item.split('=', 2) as [string, string | undefined];
    if (key === 'hash_seed') {
      if (value === undefined) throw usage('-E', '-E hash_seed needs a UUID: -E hash_seed=xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx');
      o.hashSeed = value;
    } else if (!E_NO_OPS.has(key)) throw usage('-E', `-E ${key}: imgkit takes hash_seed=UUID (and ignores ${[...E_NO_OPS].join(', ')}, which concern writing to a device)`);
  }
  return o;
}

const OUTPUT_NAMES: Record<string, OutputFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', ova: 'ova', vpc: 'vhd', vhd: 'vhd', vhdx: 'vhdx' };

/** qemu-img's sizes in -o: "65536", "64k", "2M" (powers of 1024). */
function oSize(value: string, key: string): number {
  const m = /^(\d+)([kKmMgGtT]?)[bB]?$/.exec(value);
  if (!m) throw usage('-o', `${key}=${value}: not a size (e.g. 65536, 64k, 2M)`);
  return Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
}
function oWhole(value: string, key: string): number {
  if (!/^\d+$/.test(value)) throw usage('-o', `${key}=${value}: not a whole number`);
  return Number(value);
}
function oChoice<const T extends string>(value: string, key: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw usage('-o', `${key}=${value}: use ${allowed.join(' or ')}`);
  return value as T;
}
function oOnOff(value: string, key: string): boolean {
  if (['on', 'true', 'yes', ''].includes(value)) return true;
  if (['off', 'false', 'no'].includes(value)) return false;
  throw usage('-o', `${key}=${value}: expected on or off`);
}
type OKey = (o: ImageOptions, value: string, key: string) => void;
/** A key imgkit accepts with one value only (what it writes anyway). */
const only = (what: string, ok: (value: string, key: string) => boolean): OKey => (_o, value, key) => {
  if (!ok(value, key)) throw usage('-o', `${key}: ${what}`);
};

/** Each output format's -o keys and where their value goes (the CLI's parseImageOptions, commands/convert.ts). */
const O_KEYS: Record<OutputFormat, Record<string, OKey>> = {
  qcow2: {
    cluster_size: (o, v, k) => void ((o.qcow2 ??= {}).clusterSize = oSize(v, k)),
    compat: (o, v, k) => void ((o.qcow2 ??= {}).compat = ['1.1', 'v3'].includes(oChoice(v, k, ['1.1', '0.10', 'v3', 'v2'])) ? '1.1' : '0.10'),
    compression_type: (o, v, k) => void ((o.qcow2 ??= {}).compressionType = oChoice(v, k, ['zlib', 'zstd'])),
    refcount_bits: only('imgkit writes 16-bit refcounts (refcount_bits=16)', (v) => v === '16'),
    preallocation: only('only off (images are sparse)', (v) => v === 'off'),
    lazy_refcounts: only('only off (refcounts are exact)', (v, k) => !oOnOff(v, k)),
  },
  vmdk: {
    subformat: (o, v, k) => void ((o.vmdk ??= {}).subformat = oChoice(v, k, ['streamOptimized', 'monolithicSparse'])),
    adapter_type: (o, v, k) => void ((o.vmdk ??= {}).adapterType = oChoice(v, k, ['ide', 'buslogic', 'lsilogic', 'legacyESX'])),
    hwversion: (o, v, k) => void ((o.vmdk ??= {}).hwVersion = oWhole(v, k)),
  },
  vhd: {
    subformat: (o, v, k) => void ((o.vhd ??= {}).subformat = oChoice(v, k, ['fixed', 'dynamic'])),
    block_size: (o, v, k) => void ((o.vhd ??= {}).blockSize = oSize(v, k)),
    force_size: only('on or off', (v, k) => oOnOff(v, k) || true), // the footer's current size is always the disk size
  },
  vhdx: {
    subformat: (o, v, k) => void ((o.vhdx ??= {}).subformat = oChoice(v, k, ['fixed', 'dynamic'])),
    block_size: (o, v, k) => void ((o.vhdx ??= {}).blockSize = oSize(v, k)),
    log_size: only('imgkit writes a 1 MiB empty log', (v, k) => oSize(v, k) === 1 << 20),
    block_state_zero: only('on or off', (v, k) => oOnOff(v, k) || true),
    logical_sector_size: (o, v, k) => void ((o.vhdx ??= {}).logicalSectorSize = Number(oChoice(v, k, ['512', '4096'])) as 512 | 4096),
    physical_sector_size: (o, v, k) => void ((o.vhdx ??= {}).physicalSectorSize = Number(oChoice(v, k, ['512', '4096'])) as 512 | 4096),
  },
  ova: {
    name: (o, v) => void ((o.ova ??= {}).name = v),
    cpus: (o, v, k) => void ((o.ova ??= {}).cpus = oWhole(v, k)),
    memory: (o, v, k) => void ((o.ova ??= {}).memoryMiB = Math.ceil(oSize(/^\d+$/.test(v) ? `${v}M` : v, k) / (1 << 20))),
    firmware: (o, v, k) => void ((o.ova ??= {}).firmware = oChoice(v, k, ['efi', 'bios'])),
    controller: (o, v, k) => void ((o.ova ??= {}).controller = oChoice(v, k, ['sata', 'scsi'])),
    hwversion: (o, v, k) => void ((o.ova ??= {}).hwVersion = oWhole(v, k)),
    network: (o, v) => void ((o.ova ??= {}).network = v),
  },
  raw: {},
};

/**
 * `imgkit convert -O fmt` / `imgkit disk --format fmt`, with `-o key=value,…`, `-c` and
 * `--vhd-size-align`: the container's options, as the CLI's parseImageOptions makes them.
 */
export function imageOptions(v: Values, formatFlag: '-O' | '--format' = '-O'): ImageOptions {
  const format = OUTPUT_NAMES[text(v, formatFlag) ?? (formatFlag === '-O' ? 'qcow2' : 'raw')] ?? 'raw';
  const o: ImageOptions = { format };
  const known = O_KEYS[format];
  for (const kv of (text(v, '-o') ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const i = kv.indexOf('=');
    const [key, value] = i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    const set = known[key];
    if (!set) throw usage('-o', `${key}: not an option of ${format} output${Object.keys(known).length ? ` (known: ${Object.keys(known).join(', ')})` : ''}`);
    set(o, value, key);
  }
  if (bool(v, '-c')) {
    if (format !== 'qcow2') throw usage('-c', `-c compresses qcow2 clusters; ${format === 'vmdk' || format === 'ova' ? 'stream-optimized VMDK grains are always compressed' : `${format} has no compressed form`}`);
    (o.qcow2 ??= {}).compress = true;
  }
  const align = text(v, '--vhd-size-align');
  if (align !== undefined) {
    if (format !== 'vhd') throw usage('--vhd-size-align', `--vhd-size-align applies to VHD output (${formatFlag} vpc)`);
    (o.vhd ??= {}).sizeAlign = align as 'sector' | 'mib';
  }
  return o;
}

/** The codec a convert job compresses with (what the workers preload), as the CLI picks it. */
export function imageCodec(o: ImageOptions): { codec: CodecName; compress: boolean } {
  const compress = o.format === 'qcow2' ? o.qcow2?.compress === true : o.format === 'vmdk' || o.format === 'ova' ? (o.vmdk?.subformat ?? 'streamOptimized') === 'streamOptimized' : false;
  const codec: CodecName = o.format === 'qcow2' ? (o.qcow2?.compressionType === 'zstd' ? 'zstd' : 'deflate-raw') : 'zlib';
  return { codec, compress };
}
