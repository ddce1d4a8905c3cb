/**
 * `imgkit squashfs <source> <out>`: a directory (or a tar archive with --tar) → a squashfs 4.0 image.
 *
 * Options are the ones a mksquashfs user knows. mksquashfs spells long options with one dash
 * (`-comp xz`), which commander would read as bundled short flags, so this command rewrites its own
 * arguments first (MKSQUASHFS_ARGS below); the double-dash spellings work too.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  checkLevel,
  formatLevelRange,
  withSink,
  type SourceTree,
} from '@imgkit/core';
import { SQUASHFS_LEVELS, planSquashfs, squashfsRequirements, type SquashfsOptions } from '@imgkit/squashfs';
import { applySourceFlags, openTreeSource, checkOutput, epochFromEnv, excludeMatcher, intOption, openPool, openSink, runCommand, type CliContext, printWarning } from '../common.js';

/** mksquashfs single-dash option → this command's long option. */
export const MKSQUASHFS_ARGS: Readonly<Record<string, string>> = {
  '-comp': '--comp',
  '-b': '--block-size',
  '-Xcompression-level': '--xcompression-level',
  '-no-fragments': '--no-fragments',
  '-always-use-fragments': '--always-use-fragments',
  '-no-duplicates': '--no-duplicates',
  '-no-exports': '--no-exports',
  '-nopad': '--no-pad',
  '-noappend': '--noappend',
  '-all-root': '--all-root',
  '-force-uid': '--force-uid',
  '-force-gid': '--force-gid',
  '-e': '--exclude',
  '-mkfs-time': '--mkfs-time',
  '-processors': '--processors',
  '-tar': '--tar',
};

export function mapMksquashfsArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    out.push(MKSQUASHFS_ARGS[a] ?? a);
  }
  return out.concat(argv.slice(i));
}

interface SquashfsFlags {
  comp: 'gzip' | 'zstd' | 'lz4' | 'xz';
  blockSize: number;
  xcompressionLevel?: number;
  fragments: boolean;
  alwaysUseFragments?: boolean;
  duplicates: boolean;
  exports: boolean;
  pad: boolean;
  noappend?: boolean;
  allRoot?: boolean;
  forceUid?: number;
  forceGid?: number;
  exclude: string[];
  mkfsTime?: number;
  processors: number;
  manifest?: string;
  tar?: boolean;
  strict?: boolean;
}

/** "gzip 1…9 (default 9), …" from the levels table, for --help. */
function levelHelp(): string {
  const parts = Object.entries(SQUASHFS_LEVELS).flatMap(([name, r]) => (r ? [`${name} ${formatLevelRange(r)} (default ${r.default})`] : [`${name} none`]));
  return `compression level: ${parts.join(', ')}`;
}

/** "131072", "128K", "1M" → bytes. */
function parseBlockSize(value: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`"${value}" is not a block size (e.g. 131072, 128K, 1M).`);
  const n = Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1024 : 1024 * 1024);
  return n;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('squashfs')
    .description('write a directory (or a tar archive) as a squashfs 4.0 image, mksquashfs-style options')
    .argument('<source>', 'source directory (or tar archive with --tar)')
    .argument('<out>', 'output image file (not standard output: the superblock is written last)')
    .addOption(new Option('--comp <compressor>', 'compressor').choices(['gzip', 'zstd', 'lz4', 'xz']).default('gzip'))
    .addOption(new Option('--block-size <bytes>', 'data block size: power of two, 4K … 1M').argParser(parseBlockSize).default(131072))
    // The range depends on -comp: checked against SQUASHFS_LEVELS (E_BAD_OPTION, exit 2).
    .addOption(new Option('--xcompression-level <n>', levelHelp()).argParser(intOption(0, Number.MAX_SAFE_INTEGER)))
    .option('--no-fragments', 'do not pack small files into fragment blocks')
    .option('--always-use-fragments', 'pack the tails of large files into fragments too')
    .option('--no-duplicates', 'do not look for files with identical content')
    .option('--no-exports', 'leave out the NFS export table')
    .option('--no-pad', 'do not pad the image to a multiple of 4 KiB')
    .option('--noappend', 'accepted for mksquashfs compatibility (imgkit always writes a new image)')
    .option('--all-root', 'make every entry owned by 0:0')
    .option('--strict', 'stop at the first warning (a lossy conversion) instead of printing it')
    .addOption(new Option('--force-uid <uid>', 'owner uid for every entry').argParser(intOption(0, 0xffffffff)))
    .addOption(new Option('--force-gid <gid>', 'group gid for every entry').argParser(intOption(0, 0xffffffff)))
    .addOption(
      new Option('--exclude <path>', 'leave out this path (relative to the source; * and ? match within a name); repeatable')
        .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
        .default([]),
    )
    .addOption(new Option('--mkfs-time <seconds>', 'filesystem creation time (default: SOURCE_DATE_EPOCH, else 0)').argParser(intOption(0, 0xffffffff)))
    .addOption(
      new Option('--processors <n>', 'compression worker threads (0 = on the main thread)').argParser(intOption(0, 64)).default(Math.min(availableParallelism(), 8), 'number of CPUs, at most 8'),
    )
    .option('--manifest <file>', 'gen_init_cpio-style list adding entries (devices, …) or setting owners and modes')
    .option('--tar', "the source is an uncompressed tar archive, read without extracting it ('-': standard input; a pipe is copied to $TMPDIR first); it must end with tar's end-of-archive blocks");
  cmd.addHelpText(
    'after',
    '\nmksquashfs spellings work too: -comp, -b, -Xcompression-level, -no-fragments, -no-duplicates, -all-root,\n' +
      '-force-uid, -force-gid, -e, -mkfs-time, -processors.\nSOURCE_DATE_EPOCH, when set, is the mkfs time and clamps newer file times.\n' +
      'Example:\n  imgkit squashfs rootfs/ root.sqfs -comp zstd -b 1M -all-root',
  );
  // Rewrite mksquashfs's single-dash options before commander sees this command's arguments.
  const parseOptions = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (argv: string[]) => parseOptions(mapMksquashfsArgs(argv));

  cmd.action((source: string, out: string, flags: SquashfsFlags) =>
    runCommand(ctx, async () => {
      const envEpoch = epochFromEnv(ctx);
      const epoch = flags.mkfsTime ?? envEpoch;
      // What the output and the workers must be, from the format (before the walk: '-' is refused at once).
      const needs = squashfsRequirements({ compression: flags.comp });
      if (out === '-') await openSink(ctx, out, { seekable: needs.needsSeekableSink, what: 'a squashfs image' }); // refuses, saying why
      checkLevel(flags.xcompressionLevel, { label: flags.comp, format: 'squashfs', field: 'squashfs.level', range: SQUASHFS_LEVELS[flags.comp], option: '-Xcompression-level' });
      checkOutput(out, { ...(flags.tar ? (source === '-' ? {} : { files: { 'tar archive': source } }) : { dirs: [source] }), manifest: flags.manifest }, { seekable: needs.needsSeekableSink, what: 'a squashfs image' });
      const onWarning = printWarning(ctx);
      const exclude = excludeMatcher(flags.exclude);
      const opened = await openTreeSource(source, flags.tar, exclude);
      let tree: SourceTree = opened.tree;
      const sourceFlags: Parameters<typeof applySourceFlags>[1] = {};
      if (flags.allRoot) sourceFlags.allRoot = true;
      if (flags.forceUid !== undefined) sourceFlags.uid = flags.forceUid;
      if (flags.forceGid !== undefined) sourceFlags.gid = flags.forceGid;
      if (flags.manifest !== undefined) sourceFlags.manifest = flags.manifest;
      if (flags.strict) sourceFlags.strict = true;
      tree = await applySourceFlags(tree, sourceFlags, epoch, onWarning);

      // Workers start now and load the codec while the tree is walked.
      const pool = await openPool(flags.processors, needs.codecs);
      try {
        const options: SquashfsOptions = {
          compression: flags.comp,
          blockSize: flags.blockSize,
          fragments: flags.fragments,
          alwaysUseFragments: flags.alwaysUseFragments === true,
          duplicates: flags.duplicates,
          exportTable: flags.exports,
          pad: flags.pad,
          pool,
          onWarning,
          strict: flags.strict === true,
        };
        if (flags.xcompressionLevel !== undefined) options.level = flags.xcompressionLevel;
        // SOURCE_DATE_EPOCH is the library's epoch: mkfs time + clamping of newer file times (reproducible
        // builds); -mkfs-time sets the mkfs time only and wins over it, as in mksquashfs.
        if (envEpoch !== undefined) options.epoch = envEpoch;
        if (flags.mkfsTime !== undefined) options.mkfsTime = flags.mkfsTime;
        // The output exists from here on, so an interruption during the walk says what it holds.
        const sink = await openSink(ctx, out, { seekable: needs.needsSeekableSink, what: 'a squashfs image' });
        await withSink(sink, async (s) => (await planSquashfs(tree, options)).write(s));
      } finally {
        await pool.close();
        await opened.close();
      }
    }),
  );
}
