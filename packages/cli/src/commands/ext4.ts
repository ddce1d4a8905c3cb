/**
 * `imgkit ext4 <source> <out>`: a directory (or a tar archive with --tar) → an ext4 filesystem
 * image, what `mke2fs -t ext4 -d <source> <out> <size>` makes, without root. The options keep
 * mke2fs's letters (-b -I -i -N -m -L -U -O -E -J -G); without --size the image is the smallest
 * whole number of MiB that holds the tree, --margin and --inode-reserve.
 *
 * SOURCE_DATE_EPOCH, when set, dates the filesystem, clamps newer file times and derives the UUID
 * and the directory hash seed (same tree, same bytes). Without it the filesystem is dated now and
 * gets a random UUID and hash seed, as mke2fs gives it.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { withSink, type SourceTree } from '@imgkit/core';
import { featureNames, formatUuid, planExt4, type PlanExt4Options } from '@imgkit/ext4';
import {
  UsageError,
  addExcludeOption,
  addSourceOptions,
  applySourceFlags,
  checkOutput,
  epochFromEnv,
  excludeMatcher,
  formatBytes,
  intOption,
  openSink,
  openTreeSource,
  printWarning,
  runCommand,
  type CliContext,
  type SourceFlags,
} from '../common.js';
import { parseByteSize } from './fat.js';

interface Ext4Flags extends SourceFlags {
  size?: number;
  blockSize?: 1024 | 2048 | 4096;
  inodeSize?: number;
  bytesPerInode?: number;
  inodes?: number;
  reservedPercent?: number;
  label?: string;
  uuid?: string;
  features?: string[];
  extended?: string[];
  journal?: string;
  flexBgSize?: number;
  hashAlg?: 'legacy' | 'half_md4' | 'tea';
  margin?: number | `${number}%`;
  inodeReserve?: number | `${number}%`;
  tar?: boolean;
  verbose?: boolean;
}

function parseBlockSize(value: string): 1024 | 2048 | 4096 {
  const n = parseByteSize(value);
  if (n !== 1024 && n !== 2048 && n !== 4096) throw new InvalidArgumentError(`"${value}" is not a block size imgkit writes: 1024, 2048 or 4096.`);
  return n;
}

function parsePercent(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a percentage (0 … 50).`);
  const n = Number(value);
  if (n > 50) throw new InvalidArgumentError(`${n} is more than 50 %.`);
  return n;
}

function parseMargin(value: string): number | `${number}%` {
  if (/^\d+(\.\d+)?%$/.test(value)) return value as `${number}%`;
  return parseByteSize(value);
}

function parseCount(value: string): number | `${number}%` {
  if (/^\d+(\.\d+)?%$/.test(value)) return value as `${number}%`;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is neither a count nor a percentage like "10%".`);
  return Number(value);
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** mke2fs -E options: hash_seed=UUID is used; the ones about how mke2fs writes to a device change nothing in an image. */
const E_NO_OPS = new Set(['lazy_itable_init', 'lazy_journal_init', 'nodiscard', 'discard', 'assume_storage_prezeroed']);

function parseExtended(list: readonly string[]): { hashSeed?: string } {
  const out: { hashSeed?: string } = {};
  for (const item of list.flatMap((s) => s.split(','))) {
    if (item === '') continue;
    const [key, value] = item.split('=', 2) as [string, string | undefined];
    if (key === 'hash_seed') {
      if (value === undefined) throw new UsageError('-E hash_seed needs a UUID: -E hash_seed=xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx');
      out.hashSeed = value;
    } else if (!E_NO_OPS.has(key)) {
      throw new UsageError(`-E ${key}: imgkit takes hash_seed=UUID (and ignores ${[...E_NO_OPS].join(', ')}, which concern writing to a device)`);
    }
  }
  return out;
}

/** mke2fs -J size=N (MiB) → journal blocks. */
function parseJournal(spec: string | undefined, blockSize: number): number | undefined {
  if (spec === undefined) return undefined;
  const m = /^size=(\d+)$/.exec(spec);
  if (!m) throw new UsageError(`-J ${spec}: imgkit takes size=<MiB> (an internal journal)`);
  return (Number(m[1]) * 1024 * 1024) / blockSize;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('ext4')
    .description('write a directory (or a tar archive) as an ext4 filesystem image, as mke2fs -t ext4 -d does')
    .argument('<source>', 'source directory (or tar archive with --tar)')
    .argument('<out>', "output image file, a block device, or '-' for standard output")
    .addOption(new Option('--size <bytes>', 'image size (K, M, G, T suffixes); default: the smallest whole MiB holding the tree, --margin and --inode-reserve').argParser(parseByteSize))
    .addOption(new Option('-b, --block-size <bytes>', 'block size: 1024, 2048 or 4096 (default 4096)').argParser(parseBlockSize))
    .addOption(new Option('-I, --inode-size <bytes>', 'inode size: a power of two from 128 (default 256)').argParser(intOption(128, 4096)))
    .addOption(new Option('-i, --bytes-per-inode <bytes>', 'one inode per this many bytes (default 16384)').argParser(intOption(1024, 67108864)))
    .addOption(new Option('-N, --inodes <n>', 'number of inodes (rounded up to whole inode-table blocks)').argParser(intOption(1, 0xffffffff)))
    .addOption(new Option('-m, --reserved-percent <p>', "blocks reserved for root, in percent (default 5)").argParser(parsePercent))
    .option('-L, --label <label>', 'volume label, up to 16 bytes')
    .option('-U, --uuid <uuid>', 'filesystem UUID, or random, time, null (default: derived from SOURCE_DATE_EPOCH and the label when set, else random)')
    .addOption(new Option('-O, --features <list>', "features on or off, mke2fs's names: e.g. ^metadata_csum,^64bit (for old boot loaders); repeatable").argParser(collect))
    .addOption(new Option('-E, --extended <options>', 'hash_seed=UUID; repeatable').argParser(collect))
    .option('-J, --journal <options>', 'size=<MiB> of the internal journal (default: as mke2fs picks it for the size)')
    .addOption(new Option('-G, --flex-bg-size <n>', 'groups per flex group, a power of two (default 16)').argParser(intOption(1, 2 ** 30)))
    .addOption(new Option('--hash-alg <alg>', 'directory hash (default half_md4)').choices(['legacy', 'half_md4', 'tea']))
    .addOption(new Option('--margin <bytes|N%>', 'free space the automatic size leaves for users: bytes (K/M/G) or a percentage of the tree (default 10%)').argParser(parseMargin))
    .addOption(new Option('--inode-reserve <n|N%>', 'free inodes the automatic size leaves: a count or a percentage of the tree (default 10%)').argParser(parseCount))
    .option('--tar', "the source is an uncompressed tar archive, read without extracting it ('-': standard input)")
    .option('-v, --verbose', 'print the layout chosen');
  addSourceOptions(cmd);
  addExcludeOption(cmd);
  cmd.addHelpText(
    'after',
    "\nDefaults are Debian's mke2fs.conf for ext4: 4 KiB blocks, 256-byte inodes, one inode per 16 KiB, 5 % reserved,\n" +
      'has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file huge_file\n' +
      'dir_nlink extra_isize metadata_csum. SOURCE_DATE_EPOCH, when set, dates the filesystem, clamps newer file\n' +
      'times and derives the UUID and hash seed (reproducible images); otherwise they are random, as mke2fs makes them.\n' +
      'Examples:\n  imgkit ext4 rootfs/ root.img --size 2G -L root\n  imgkit ext4 data/ data.img -O ^metadata_csum,^64bit --margin 64M',
  );
  cmd.action((source: string, out: string, flags: Ext4Flags) =>
    runCommand(ctx, async () => {
      const epoch = epochFromEnv(ctx);
      checkOutput(out, { ...(flags.tar ? (source === '-' ? {} : { files: { 'tar archive': source } }) : { dirs: [source] }), manifest: flags.manifest }, { seekable: false, what: 'an ext4 image' });
      const onWarning = printWarning(ctx);
      const exclude = excludeMatcher(flags.exclude ?? []);
      const opened = await openTreeSource(source, flags.tar, exclude);
      let tree: SourceTree = opened.tree;
      try {
        tree = await applySourceFlags(tree, flags, epoch, onWarning);
        const blockSize = flags.blockSize ?? 4096;
        const { hashSeed } = parseExtended(flags.extended ?? []);
        const options: PlanExt4Options = { onWarning, strict: flags.strict === true, blockSize };
        if (flags.size !== undefined) options.size = flags.size;
        if (flags.inodeSize !== undefined) options.inodeSize = flags.inodeSize;
        if (flags.bytesPerInode !== undefined) options.inodeRatio = flags.bytesPerInode;
        if (flags.inodes !== undefined) options.inodes = flags.inodes;
        if (flags.reservedPercent !== undefined) options.reservedPercent = flags.reservedPercent;
        if (flags.label !== undefined) options.label = flags.label;
        if (flags.features) options.features = flags.features.join(',');
        const journalBlocks = parseJournal(flags.journal, blockSize);
        if (journalBlocks !== undefined) options.journalBlocks = journalBlocks;
        if (flags.flexBgSize !== undefined) options.flexBgSize = flags.flexBgSize;
        if (flags.hashAlg !== undefined) options.hashAlg = flags.hashAlg;
        if (flags.margin !== undefined) options.margin = flags.margin;
        if (flags.inodeReserve !== undefined) options.inodeReserve = flags.inodeReserve;
        if (epoch !== undefined) options.epoch = epoch;
        else {
          // No SOURCE_DATE_EPOCH: dated now, random identifiers (two images never share a UUID).
          options.now = Math.floor(Date.now() / 1000);
          options.uuid = randomUUID();
          options.hashSeed = randomUUID();
        }
        if (flags.uuid !== undefined) options.uuid = flags.uuid === 'random' || flags.uuid === 'time' ? randomUUID() : flags.uuid;
        if (hashSeed !== undefined) options.hashSeed = hashSeed;
        const plan = await planExt4(tree, options);
        if (flags.verbose) {
          const g = plan.geometry;
          ctx.stderr.write(
            `imgkit: ext4, ${plan.blocks} blocks of ${plan.blockSize} bytes (${plan.freeBlocks} free, ${g.reservedBlocks} reserved), ${g.groupCount} groups, ${plan.inodes} inodes (${plan.freeInodes} free), journal ${g.journalBlocks} blocks; image ${plan.sizeBytes} bytes (${formatBytes(plan.sizeBytes)}); UUID ${formatUuid(plan.uuid)}\n` +
              `imgkit: features ${featureNames(plan.features).join(' ')}\n`,
          );
        }
        const sink = await openSink(ctx, out, { seekable: plan.needsSeekableSink, what: 'an ext4 image' });
        await withSink(sink, (s) => plan.write(s));
      } finally {
        await opened.close();
      }
    }),
  );
}
