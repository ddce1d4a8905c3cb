/** `imgkit iso <dir> <out>`: a directory → a (bootable, hybrid) ISO 9660 image. */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { createReadStream } from 'node:fs';
import { Option, type Command } from 'commander';
import { applyOwnership, ErrorCodes, ImgkitError, withSink, type SourceTree } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { checkDateText, isoRequirements, parseGuid, planIso, type HybridPreset, type IsoContent, type IsoOptions } from '@imgkit/iso9660';
import {
  addSourceOptions,
  applySourceFlags,
  checkOutput,
  checkSourceDir,
  epochFromEnv,
  excludeMatcher,
  intOption,
  openSink,
  runCommand,
  UsageError,
  type CliContext,
  type SourceFlags,
  printWarning,
} from '../common.js';
import { parseByteSize } from './fat.js';

export interface IsoFlags extends SourceFlags {
  volid?: string;
  publisher?: string;
  preparer?: string;
  appid?: string;
  sysid?: string;
  joliet?: boolean;
  jolietLong?: boolean;
  rock: boolean;
  isoLevel: number;
  biosBoot?: string;
  bootCatalog?: string;
  bootLoadSize?: number;
  bootInfoTable?: boolean;
  efiBoot?: string;
  efiImagePath?: string;
  efiDir?: string;
  efiLabel?: string;
  efiSize?: number;
  hybrid?: HybridPreset;
  mbrTemplate?: string;
  appendPartition?: string;
  partitionOffset?: number;
  isohybridGpt?: boolean;
  padBlocks?: number;
  grub2BootInfo?: boolean;
  exclude?: string[];
  mbrForceBootable?: boolean;
  isoPartitionType?: string;
  cylinderAlign?: 'auto' | 'on' | 'off' | 'all';
  modificationDate?: string;
  rrip?: '1.10' | '1.12';
  catalogHidden?: boolean;
}

/** A host file as IsoContent: its size now, its bytes streamed when the writer reaches it. */
export function hostContent(path: string): IsoContent {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path, detail: `cannot use the file: ${(err as Error).message}` });
  }
  return {
    size,
    read: () => createReadStream(path, { highWaterMark: 1 << 20 }) as unknown as AsyncIterable<Uint8Array>,
  };
}

/** Turn parsed flags into IsoOptions (shared with `imgkit mkisofs`). */
export async function isoOptionsFrom(dir: string, flags: IsoFlags, epoch: number | undefined): Promise<IsoOptions> {
  const o: IsoOptions = { rockRidge: flags.rock, level: flags.isoLevel as 1 | 2 | 3 };
  if (flags.volid !== undefined) o.volumeId = flags.volid;
  if (flags.publisher !== undefined) o.publisherId = flags.publisher;
  if (flags.preparer !== undefined) o.dataPreparerId = flags.preparer;
  if (flags.appid !== undefined) o.applicationId = flags.appid;
  if (flags.sysid !== undefined) o.systemId = flags.sysid;
  if (flags.joliet || flags.jolietLong) o.joliet = true;
  if (flags.jolietLong) o.jolietLong = true;
  if (epoch !== undefined) o.epoch = epoch;
  if (flags.padBlocks !== undefined) o.padBlocks = flags.padBlocks;
  if (flags.biosBoot !== undefined) {
    o.biosBoot = { path: flags.biosBoot };
    if (flags.bootLoadSize !== undefined) o.biosBoot.loadSectors = flags.bootLoadSize;
    if (flags.bootInfoTable) o.biosBoot.bootInfoTable = true;
    if (flags.grub2BootInfo) o.biosBoot.grub2BootInfo = true;
  } else if (flags.bootInfoTable || flags.bootLoadSize !== undefined || flags.grub2BootInfo) {
    throw new UsageError('--boot-load-size, --boot-info-table and --grub2-boot-info need --bios-boot');
  }
  if (flags.rrip !== undefined) o.rockRidgeVersion = flags.rrip;
  if (flags.catalogHidden) o.catalogHidden = true;
  if (flags.modificationDate !== undefined) {
    try {
      o.volumeDates = { uuid: checkDateText(flags.modificationDate, '--modification-date') };
    } catch {
      throw new UsageError(`--modification-date ${flags.modificationDate}: give the date as YYYYMMDDhhmmsscc (16 digits)`);
    }
  }
  if (flags.bootCatalog !== undefined) o.catalogPath = flags.bootCatalog;
  if (flags.efiBoot === 'appended-esp') o.efiBoot = 'appended-esp';
  else if (flags.efiBoot !== undefined) {
    // A path of the tree when it exists there; otherwise a host file placed at --efi-image-path.
    const inTree = nodePath.join(dir, flags.efiBoot.replace(/^\/+/, ''));
    if (existsSync(inTree) && !nodePath.isAbsolute(flags.efiBoot)) o.efiBoot = { path: flags.efiBoot };
    else if (existsSync(flags.efiBoot)) o.efiBoot = { path: flags.efiImagePath ?? 'boot/efiboot.img', content: hostContent(flags.efiBoot) };
    else throw new UsageError(`--efi-boot ${flags.efiBoot}: neither a file of the tree nor a host file`);
  }
  if (flags.efiDir !== undefined) {
    // The UEFI image built here from a directory: a FAT file of the ISO, or the appended ESP (per preset).
    if (flags.efiBoot !== undefined) throw new UsageError('--efi-dir and --efi-boot both give the UEFI boot image; pass one of them');
    if (flags.appendPartition !== undefined) throw new UsageError('--efi-dir builds the ESP that --append-partition would append; pass one of them (with --hybrid appended-esp or mbr-style, --efi-dir is appended)');
    const fat: NonNullable<NonNullable<IsoOptions['efiDir']>['fat']> = {};
    if (flags.efiLabel !== undefined) fat.label = flags.efiLabel;
    if (flags.efiSize !== undefined) fat.size = flags.efiSize;
    o.efiDir = { tree: nodeSource(checkSourceDir(flags.efiDir)), fat };
    if (flags.efiImagePath !== undefined) o.efiDir.path = flags.efiImagePath;
  } else if (flags.efiLabel !== undefined || flags.efiSize !== undefined) {
    throw new UsageError('--efi-label and --efi-size describe the image --efi-dir builds; pass --efi-dir');
  }
  if (flags.hybrid !== undefined) o.hybrid = flags.hybrid;
  if (flags.mbrTemplate !== undefined) {
    try {
      o.mbrTemplate = new Uint8Array(await readFile(flags.mbrTemplate));
    } catch (err) {
      throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: flags.mbrTemplate, detail: `cannot read the MBR template: ${(err as { code?: string }).code ?? String(err)}` });
    }
    if (o.mbrTemplate.byteLength < 432) throw new UsageError(`--mbr-template ${flags.mbrTemplate} is ${o.mbrTemplate.byteLength} bytes; MBR boot code is 432 (e.g. /usr/lib/ISOLINUX/isohdpfx.bin)`);
  }
  const sa: NonNullable<IsoOptions['systemArea']> = {};
  if (flags.appendPartition !== undefined) {
    o.appendedEsp = hostContent(flags.appendPartition);
    if (o.hybrid === undefined) o.hybrid = 'appended-esp';
    if (o.efiBoot === undefined && o.hybrid !== 'grub2') o.efiBoot = 'appended-esp';
  }
  if (flags.partitionOffset !== undefined && flags.partitionOffset > 0) o.partitionOffsetBlocks = flags.partitionOffset;
  if (o.hybrid === undefined && o.mbrTemplate) o.hybrid = 'isohybrid-mbr';
  if (flags.isohybridGpt && (o.hybrid === 'isohybrid-mbr' || o.hybrid === undefined)) o.isohybridGpt = true;
  if (flags.mbrForceBootable) sa.mbrForceBootable = true;
  if (flags.cylinderAlign !== undefined) sa.cylinderAlign = flags.cylinderAlign;
  if (flags.isoPartitionType !== undefined) {
    const t = flags.isoPartitionType;
    if (/^0x[0-9a-fA-F]{1,2}$/.test(t)) sa.isoPartitionType = Number.parseInt(t.slice(2), 16);
    else if (parseGuid(t)) sa.isoPartitionType = t;
    else throw new UsageError(`--iso-partition-type ${t}: give a byte (0x00…0xff) or a GPT type GUID`);
  }
  if (Object.keys(sa).length > 0) o.systemArea = sa;
  return o;
}

/** Write the ISO: source tree, options, output (file or '-'). */
export async function writeIsoCommand(ctx: CliContext, dir: string, out: string, flags: IsoFlags, tree?: SourceTree): Promise<void> {
  const epoch = epochFromEnv(ctx);
  checkSourceDir(dir);
  checkOutput(out, { dirs: flags.efiDir !== undefined ? [dir, flags.efiDir] : [dir], manifest: flags.manifest, files: { 'MBR template': flags.mbrTemplate, 'appended partition image': flags.appendPartition, 'EFI boot image': flags.efiBoot } });
  const options = await isoOptionsFrom(dir, flags, epoch);
  options.onWarning = printWarning(ctx);
  if (flags.strict) options.strict = true;
  let source = tree;
  if (!source) {
    // openSourceTree, with --exclude applied while walking.
    const exclude = excludeMatcher(flags.exclude ?? []);
    const base = await applySourceFlags(nodeSource(checkSourceDir(dir), exclude ? { exclude } : {}), flags, epoch);
    source = epoch !== undefined ? applyOwnership(base, { epoch }) : base;
  }
  // Seekability and codecs from the ISO's requirements (the plan's, known before the walk).
  const sink = await openSink(ctx, out, { seekable: isoRequirements(options).needsSeekableSink, what: 'an ISO image' });
  await withSink(sink, async (s) => (await planIso(source, options)).write(s));
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('iso')
    .description('write a directory as an ISO 9660 image (Rock Ridge, Joliet, El Torito, hybrid MBR/GPT)')
    .argument('<dir>', 'source directory')
    .argument('<out>', "output file, or '-' for standard output")
    .option('--volid <id>', 'volume identifier (up to 32 characters)', 'ISOIMAGE')
    .option('--publisher <id>', 'publisher identifier')
    .option('--preparer <id>', 'data preparer identifier')
    .option('--appid <id>', 'application identifier')
    .option('--sysid <id>', 'system identifier')
    .option('--joliet', 'add a Joliet tree (Windows names, 64 UTF-16 units)')
    .option('--joliet-long', 'Joliet names up to 103 units (implies --joliet)')
    .option('--no-rock', 'leave Rock Ridge out (POSIX names, modes, owners, links)')
    .addOption(new Option('--iso-level <n>', 'interchange level: 1 (8.3), 2 (31 chars), 3 (also files over 4 GiB)').argParser(intOption(1, 3)).default(3))
    .option('--bios-boot <path>', 'El Torito BIOS no-emulation boot image (a path in the tree, e.g. isolinux/isolinux.bin)')
    .option('--boot-catalog <path>', 'path of the boot catalog in the image', 'boot.catalog')
    .addOption(new Option('--boot-load-size <sectors>', '512-byte sectors the BIOS loads').argParser(intOption(1, 65535)))
    .option('--boot-info-table', 'patch a boot info table into the BIOS image (isolinux, GRUB eltorito.img)')
    .option('--efi-boot <path>', "El Torito UEFI image: a FAT image in the tree, a host file, or 'appended-esp'")
    .option('--efi-image-path <path>', 'where a host --efi-boot file or the --efi-dir image goes in the image (default: boot/efiboot.img)')
    .option('--efi-dir <dir>', 'build the UEFI boot image from this directory (FAT, sized to fit; EFI/BOOT/BOOTX64.EFI …): a file of the ISO, or the appended ESP with --hybrid appended-esp or mbr-style')
    .option('--efi-label <label>', 'FAT volume label of the --efi-dir image (up to 11 characters; default: none)')
    .addOption(new Option('--efi-size <bytes>', 'size of the --efi-dir image (K, M, G suffixes; default: the smallest that holds the directory)').argParser(parseByteSize))
    .option('--grub2-boot-info', "patch GRUB2's boot info into the BIOS image (GRUB eltorito.img; xorriso --grub2-boot-info)")
    .option('--catalog-hidden', 'write the boot catalog but list it in no directory')
    .addOption(
      new Option('--hybrid <preset>', 'bootable as a disk too: isohybrid-mbr (isolinux), grub2 (GRUB boot_hybrid.img), appended-esp (ESP as GPT partition 2), mbr-style (ESP as MBR partition 2), uefi-only').choices([
        'isohybrid-mbr',
        'grub2',
        'appended-esp',
        'mbr-style',
        'uefi-only',
      ]),
    )
    .option('--mbr-template <file>', 'MBR boot code: isolinux isohdpfx.bin (isohybrid-mbr, appended-esp, mbr-style) or GRUB boot_hybrid.img (grub2)')
    .option('--isohybrid-gpt', 'with isohybrid-mbr: describe the EFI image in a GPT (xorriso -isohybrid-gpt-basdat)')
    .option('--append-partition <file>', 'append this ESP image after the ISO as partition 2 (appended-esp, mbr-style; with grub2 as GPT partition 2)')
    .addOption(new Option('--partition-offset <blocks>', 'the ISO partition starts at this 2 KiB block and mounts on its own (archiso, Ubuntu: 16)').argParser(intOption(0, 1024)))
    .option('--mbr-force-bootable', 'mark an MBR partition active (a dummy one if none fits)')
    .option('--iso-partition-type <type>', 'MBR type byte (0xNN) or GPT type GUID of the ISO partition')
    .addOption(new Option('--cylinder-align <mode>', 'align the image to MBR cylinders').choices(['auto', 'on', 'off', 'all']))
    .option('--modification-date <digits>', 'volume creation/modification date YYYYMMDDhhmmsscc (also the blkid UUID)')
    .addOption(new Option('--rrip <version>', 'Rock Ridge 1.12 (serial numbers keep hard links) or 1.10 (as mkisofs)').choices(['1.10', '1.12']))
    .option('--exclude <pattern>', 'leave out this tree path (* and ? match within a name); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .addOption(new Option('--pad-blocks <n>', 'zero 2 KiB blocks after the data (mkisofs -pad)').argParser(intOption(0, 1 << 20)));
  addSourceOptions(cmd);
  cmd.addHelpText(
    'after',
    `
SOURCE_DATE_EPOCH, when set, dates the volume and clamps newer file times to it; without it the
volume is dated by the newest time in the tree (never 1970), so different trees get different
volume dates and blkid UUIDs while the same tree gives the same bytes.
Examples:
  imgkit iso rootfs/ live.iso --volid LIVE --joliet \\
    --bios-boot isolinux/isolinux.bin --boot-catalog isolinux/boot.cat --boot-info-table \\
    --efi-boot boot/efi.img --hybrid isohybrid-mbr --mbr-template /usr/lib/ISOLINUX/isohdpfx.bin
  imgkit iso tree/ arch.iso --bios-boot boot/isolinux.bin --boot-info-table \\
    --mbr-template /usr/lib/ISOLINUX/isohdpfx.bin --append-partition esp.img --partition-offset 16
  imgkit iso tree/ grub.iso --hybrid grub2 --mbr-template /usr/lib/grub/i386-pc/boot_hybrid.img \\
    --bios-boot boot/grub/i386-pc/eltorito.img --boot-info-table --grub2-boot-info --efi-boot efi.img`,
  );
  cmd.action((dir: string, out: string, flags: IsoFlags) => runCommand(ctx, () => writeIsoCommand(ctx, dir, out, flags)));
}
