/** `imgkit cpio <dir> <out>`: a directory → a (compressed) newc/crc cpio archive (initramfs). */
import { Option, type Command } from 'commander';
import { checkLevel, formatLevelRange, withSink } from '@imgkit/core';
import { CPIO_LEVELS, cpioRequirements, planCpio, type CpioOptions } from '@imgkit/cpio';
import {
  addExcludeOption,
  addSourceOptions,
  addWorkersOption,
  checkOutput,
  checkSourceDir,
  clearProgress,
  epochFromEnv,
  intOption,
  openPool,
  openSink,
  openSourceTree,
  progressLine,
  runCommand,
  type CliContext,
  type SourceFlags,
  printWarning,
} from '../common.js';

/** "gzip 0…9 (default 6), zstd 1…19 (3), xz 0…7 (6); lz4 and none take none": the levels table, for --help. */
function levelHelp(): string {
  const parts = Object.entries(CPIO_LEVELS).flatMap(([name, r]) => (r ? [`${name} ${formatLevelRange(r)} (default ${r.default})`] : []));
  const none = Object.entries(CPIO_LEVELS).flatMap(([name, r]) => (r ? [] : [name]));
  return `compression level: ${parts.join(', ')}; ${none.join(' and ')} take none`;
}

interface CpioFlags extends SourceFlags {
  compress: NonNullable<CpioOptions['compression']>;
  level?: number;
  early?: string;
  workers: number;
  format: 'newc' | 'crc';
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('cpio')
    .description('write a directory as a cpio archive (newc), e.g. an initramfs')
    .argument('<dir>', 'source directory')
    .argument('<out>', "output file, or '-' for standard output")
    .addOption(new Option('--compress <algo>', 'compression (lz4 = legacy format, xz = CRC32 check: what the kernel reads)').choices(['gzip', 'zstd', 'lz4', 'xz', 'none']).default('gzip'))
    // The range depends on --compress: writeCpio checks it against CPIO_LEVELS (E_BAD_OPTION, exit 2).
    .addOption(new Option('--level <n>', levelHelp()).argParser(intOption(0, Number.MAX_SAFE_INTEGER)))
    .addOption(new Option('--format <format>', "'newc' (070701) or 'crc' (070702, with data checksums)").choices(['newc', 'crc']).default('newc'))
    .option('--early <dir>', 'put this directory in front as an uncompressed archive (e.g. CPU microcode)');
  addSourceOptions(cmd);
  addExcludeOption(cmd);
  addWorkersOption(cmd);
  cmd.addHelpText('after', '\nSOURCE_DATE_EPOCH, when set, clamps newer file times to it.\nExample:\n  imgkit cpio rootfs/ initramfs.img --compress zstd --manifest rootfs.manifest --all-root');
  cmd.action((dir: string, out: string, flags: CpioFlags) =>
    runCommand(ctx, async () => {
      const epoch = epochFromEnv(ctx);
      checkLevel(flags.level, { label: flags.compress, format: 'cpio', field: 'level', range: CPIO_LEVELS[flags.compress], option: '--level' });
      checkSourceDir(dir);
      if (flags.early !== undefined) checkSourceDir(flags.early);
      checkOutput(out, { dirs: [dir, flags.early], manifest: flags.manifest });
      const onWarning = printWarning(ctx);
      const tree = await openSourceTree(dir, flags, epoch, onWarning);
      const early = flags.early !== undefined ? await openSourceTree(flags.early, { allRoot: true }, epoch) : undefined;
      // The codecs to preload come from the format (none with 'none': then no workers to start).
      const needs = cpioRequirements({ compression: flags.compress });
      const pool = await openPool(needs.codecs.length === 0 ? 0 : flags.workers, needs.codecs);
      try {
        const options: CpioOptions = { compression: flags.compress, format: flags.format, pool };
        if (flags.level !== undefined) options.level = flags.level;
        if (epoch !== undefined) options.epoch = epoch;
        if (early) options.early = early;
        const onProgress = progressLine(ctx, 'cpio');
        if (onProgress) options.onProgress = onProgress;
        options.onWarning = onWarning;
        if (flags.strict) options.strict = true;
        // The output exists from here on, so an interruption during the walk says what it holds.
        const sink = await openSink(ctx, out, { seekable: needs.needsSeekableSink, what: 'a cpio archive' });
        await withSink(sink, async (s) => (await planCpio(tree, options)).write(s));
        clearProgress(ctx);
      } finally {
        await pool.close();
      }
    }),
  );
}
