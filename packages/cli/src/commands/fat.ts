/**
 * `imgkit fat <dir> <out>`: a directory → a lone FAT12/16/32 image (an ESP, an efiboot.img, a
 * floppy). Without --size the image is the smallest that holds the tree (plus --margin); the FAT
 * type and cluster size are what mkfs.fat picks for that size. mkfs.fat's -F, -n and -i spellings
 * are accepted beside --fat, --label and --volume-id.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { withSink } from '@imgkit/core';
import { planFat, type FatBits, type PlanFatOptions } from '@imgkit/fat';
import {
  addSourceOptions,
  checkOutputOutside,
  checkSourceDir,
  clearProgress,
  epochFromEnv,
  openSink,
  openSourceTree,
  printWarning,
  progressLine,
  runCommand,
  type CliContext,
  type SourceFlags,
} from '../common.js';

interface FatFlags extends SourceFlags {
  size?: number;
  fat?: FatBits;
  label?: string;
  volumeId?: number;
  margin?: number | `${number}%`;
  dereference?: boolean;
  invalidNames: 'error' | 'replace';
  verbose?: boolean;
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "1474560", "1440K", "64M", "2G" (K/M/G/T are powers of 1024; "KiB", "MiB", … too) → bytes. */
export function parseByteSize(value: string): number {
  const m = /^(\d+)\s*([kKmMgGtT]?)(?:i?B)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`"${value}" is not a size (bytes, or a number with K, M, G or T).`);
  const n = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${value}" is too large.`);
  return n;
}

/** mkfs.fat -i: a 32-bit hexadecimal number ("0x" optional). */
export function parseVolumeId(value: string): number {
  if (!/^(0x)?[0-9a-fA-F]{1,8}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a 32-bit hexadecimal volume id (e.g. 1234ABCD).`);
  return Number.parseInt(value.replace(/^0x/, ''), 16);
}

function parseMargin(value: string): number | `${number}%` {
  if (/^\d+(\.\d+)?%$/.test(value)) return value as `${number}%`;
  return parseByteSize(value);
}

function parseBits(value: string): FatBits {
  if (value !== '12' && value !== '16' && value !== '32') throw new InvalidArgumentError(`"${value}" is not a FAT type: 12, 16 or 32.`);
  return Number(value) as FatBits;
}

const human = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('fat')
    .description('write a directory as a FAT12/16/32 image (an ESP, efiboot.img, a floppy)')
    .argument('<dir>', 'source directory')
    .argument('<out>', "output file, or '-' for standard output")
    .addOption(new Option('--size <bytes>', 'image size (K, M, G suffixes); default: the smallest that holds the tree').argParser(parseByteSize))
    .addOption(new Option('-F, --fat <bits>', 'FAT type 12, 16 or 32 (default: as mkfs.fat picks it for the size)').argParser(parseBits))
    .option('-n, --label <label>', 'volume label, up to 11 characters')
    .addOption(new Option('-i, --volume-id <hex>', 'volume serial number, 32-bit hex (default: derived from SOURCE_DATE_EPOCH and the label)').argParser(parseVolumeId))
    .addOption(new Option('--margin <bytes|N%>', 'free space the automatic size leaves: bytes (K/M/G) or a percentage of the tree').argParser(parseMargin))
    .option('--dereference', 'store what symbolic links inside the tree point to (a copy) instead of refusing them')
    .addOption(new Option('--invalid-names <mode>', "names FAT cannot hold: 'error', or 'replace' the characters with '_' (with a warning)").choices(['error', 'replace']).default('error'))
    .option('-v, --verbose', 'print the layout chosen');
  addSourceOptions(cmd);
  cmd.addHelpText(
    'after',
    '\nFAT stores no owners or modes: a file without write permission gets the read-only attribute.\nSOURCE_DATE_EPOCH, when set, clamps newer file times to it and dates the volume.\nExamples:\n  imgkit fat esp/ efiboot.img --label EFIBOOT\n  imgkit fat esp/ esp.img --size 256M -F 32 -n ESP',
  );
  cmd.action((dir: string, out: string, flags: FatFlags) =>
    runCommand(ctx, async () => {
      const epoch = epochFromEnv(ctx);
      checkSourceDir(dir);
      checkOutputOutside(out, [dir]);
      const tree = await openSourceTree(dir, flags, epoch);
      const options: PlanFatOptions = { invalidNames: flags.invalidNames, onWarning: printWarning(ctx) };
      if (flags.size !== undefined) options.size = flags.size;
      if (flags.fat !== undefined) options.fatBits = flags.fat;
      if (flags.label !== undefined) options.label = flags.label;
      if (flags.volumeId !== undefined) options.volumeId = flags.volumeId;
      if (flags.margin !== undefined) options.margin = flags.margin;
      if (flags.dereference) options.symlinks = 'follow';
      if (flags.strict) options.strict = true;
      if (epoch !== undefined) options.epoch = epoch;
      const onProgress = progressLine(ctx, 'fat');
      if (onProgress) options.onProgress = onProgress;
      const plan = await planFat(tree, options);
      if (flags.verbose) {
        ctx.stderr.write(
          `imgkit: FAT${plan.fatBits}, ${plan.geometry.clusterCount} clusters of ${plan.clusterBytes} bytes (${plan.usedClusters} used), ${plan.geometry.totalSectors} sectors, image ${plan.sizeBytes} bytes (${human(plan.sizeBytes)}); volume id ${plan.volumeId.toString(16).toUpperCase().padStart(8, '0')}${plan.label !== undefined ? `, label ${plan.label}` : ''}\n`,
        );
      }
      const sink = await openSink(ctx, out, { seekable: plan.needsSeekableSink, what: 'a FAT image' });
      await withSink(sink, (s) => plan.write(s));
      clearProgress(ctx);
    }),
  );
}
