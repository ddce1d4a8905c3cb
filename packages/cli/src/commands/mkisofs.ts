/**
 * `imgkit mkisofs …`: the `xorriso -as mkisofs` options that distributions' live-ISO scripts use
 * (Debian live-build, archiso, Alpine, NixOS), so a build script switches by changing one word.
 * mkisofs options are single-dash long words (-iso-level, -joliet-long), which commander can't
 * parse, so this command takes its arguments raw and parses them by hand. Unknown options are a
 * usage error naming them (exit 2); nothing is ignored silently.
 */
import type { Command } from 'commander';
import { mapTree, type SourceEntry } from '@imgkit/core';
import { GUID_EFI_SYSTEM } from '@imgkit/iso9660';
import { epochFromEnv, openSourceTree, runCommand, UsageError, type CliContext } from '../common.js';
import { type IsoFlags, writeIsoCommand } from './iso.js';

export interface MkisofsArgs {
  out: string;
  source: string;
  flags: IsoFlags;
  /** -r: owners 0:0 and modes made readable (mkisofs "rationalized" Rock Ridge). */
  rational: boolean;
  /** Accepted options that change nothing here, reported on stderr. */
  notes: string[];
}

/** Options taking one value, and the flag each sets. */
const WITH_VALUE: Record<string, (a: MkisofsArgs, v: string) => void> = {
  '-o': (a, v) => (a.out = v),
  '-output': (a, v) => (a.out = v),
  '-V': (a, v) => (a.flags.volid = v),
  '-volid': (a, v) => (a.flags.volid = v),
  '-A': (a, v) => (a.flags.appid = v),
  '-appid': (a, v) => (a.flags.appid = v),
  '-publisher': (a, v) => (a.flags.publisher = v),
  '-p': (a, v) => (a.flags.preparer = v),
  '-preparer': (a, v) => (a.flags.preparer = v),
  '-sysid': (a, v) => (a.flags.sysid = v),
  '-iso-level': (a, v) => {
    if (!/^[1-4]$/.test(v)) throw new UsageError(`-iso-level ${v}: use 1, 2 or 3`);
    a.flags.isoLevel = Math.min(Number(v), 3);
  },
  '-b': (a, v) => (a.flags.biosBoot = v.replace(/^\/+/, '')),
  '-eltorito-boot': (a, v) => (a.flags.biosBoot = v.replace(/^\/+/, '')),
  '-c': (a, v) => (a.flags.bootCatalog = v.replace(/^\/+/, '')),
  '-eltorito-catalog': (a, v) => (a.flags.bootCatalog = v.replace(/^\/+/, '')),
  '-boot-load-size': (a, v) => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new UsageError(`-boot-load-size ${v}: use 1…65535`);
    a.flags.bootLoadSize = Number(v);
  },
  '-e': (a, v) => setEfi(a, v),
  '-efi-boot': (a, v) => setEfi(a, v),
  '-eltorito-platform': (a, v) => {
    if (v !== 'efi' && v !== '0xef' && v !== '0xEF') throw new UsageError(`-eltorito-platform ${v}: only efi is supported (with -e)`);
  },
  '-isohybrid-mbr': (a, v) => (a.flags.mbrTemplate = v),
  '-partition_offset': (a, v) => {
    if (!/^\d+$/.test(v) || (Number(v) !== 0 && (Number(v) < 16 || Number(v) > 1024))) throw new UsageError(`-partition_offset ${v}: use 0 or 16…1024`);
    a.flags.partitionOffset = Number(v);
  },
};

/** Options without a value. */
const FLAGS: Record<string, (a: MkisofsArgs) => void> = {
  '-J': (a) => (a.flags.joliet = true),
  '-joliet': (a) => (a.flags.joliet = true),
  '-joliet-long': (a) => (a.flags.jolietLong = true),
  '-R': (a) => (a.flags.rock = true),
  '-rock': (a) => (a.flags.rock = true),
  '-r': (a) => ((a.flags.rock = true), (a.rational = true)),
  '-rational-rock': (a) => ((a.flags.rock = true), (a.rational = true)),
  '-no-emul-boot': () => {},
  '-boot-info-table': (a) => (a.flags.bootInfoTable = true),
  '-eltorito-alt-boot': () => {},
  '--mbr-force-bootable': (a) => a.notes.push('--mbr-force-bootable: the isohybrid MBR partition 1 is bootable already'),
  '-isohybrid-gpt-basdat': (a) => (a.flags.isohybridGpt = true),
  '-appended_part_as_gpt': () => {},
  '-full-iso9660-filenames': (a) => (a.flags.isoLevel = Math.max(a.flags.isoLevel, 2)),
  '-pad': () => {},
  '-no-pad': (a) => (a.flags.padBlocks = 0),
  '-quiet': () => {},
};

function setEfi(a: MkisofsArgs, v: string): void {
  if (v.startsWith('--interval:appended_partition_')) {
    if (!/^--interval:appended_partition_2:all::$/.test(v)) throw new UsageError(`-e ${v}: only --interval:appended_partition_2:all:: is supported`);
    a.flags.efiBoot = 'appended-esp';
  } else a.flags.efiBoot = v.replace(/^\/+/, '');
}

/** Parse `xorriso -as mkisofs` arguments. */
export function parseMkisofsArgs(argv: readonly string[]): MkisofsArgs {
  const a: MkisofsArgs = { out: '', source: '', flags: { rock: false, isoLevel: 1, bootCatalog: 'boot.catalog' }, rational: false, notes: [] };
  const operands: string[] = [];
  const unknown: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const withValue = WITH_VALUE[arg];
    if (withValue) {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      withValue(a, v);
      continue;
    }
    const flag = FLAGS[arg];
    if (flag) {
      flag(a);
      continue;
    }
    if (arg === '-append_partition') {
      const [num, type, file] = [argv[i + 1], argv[i + 2], argv[i + 3]];
      i += 3;
      if (num === undefined || type === undefined || file === undefined) throw new UsageError('-append_partition needs a number, a type and a file');
      if (num !== '2') throw new UsageError(`-append_partition ${num}: only partition 2 (the ESP) is supported`);
      if (!/^(0x)?ef$/i.test(type) && type.toUpperCase() !== GUID_EFI_SYSTEM) throw new UsageError(`-append_partition 2 ${type}: only an EFI system partition (0xef or ${GUID_EFI_SYSTEM}) is supported`);
      a.flags.appendPartition = file;
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      unknown.push(arg);
      continue;
    }
    operands.push(arg);
  }
  if (unknown.length > 0) throw new UsageError(`unknown mkisofs option${unknown.length > 1 ? 's' : ''}: ${unknown.join(' ')}`);
  if (a.out === '') throw new UsageError('-o FILE is required');
  if (operands.length !== 1) throw new UsageError(`give exactly one source directory (got ${operands.length ? operands.join(' ') : 'none'})`);
  a.source = operands[0]!;
  // No -b but -e with a hybrid GPT request: UEFI only.
  if (a.flags.biosBoot === undefined && a.flags.efiBoot !== undefined && a.flags.efiBoot !== 'appended-esp' && a.flags.appendPartition === undefined && a.flags.isohybridGpt === true) {
    a.flags.hybrid = 'uefi-only';
  }
  return a;
}

/**
 * mkisofs -r, as xorriso applies it (checked against xorriso 1.5): uid/gid 0, read bits for all,
 * execute bits for all where anyone had one (and on directories), write and set-id bits cleared.
 */
function rationalize(e: SourceEntry): SourceEntry {
  let mode = (e.mode | 0o444) & 0o555;
  if (e.kind === 'dir' || e.mode & 0o111) mode |= 0o111;
  return { ...e, uid: 0, gid: 0, mode };
}

export function register(program: Command, ctx: CliContext): void {
  // mkisofs options come after the command word: the program's own options (-V is --version)
  // must not claim them.
  program.enablePositionalOptions();
  program
    .command('mkisofs')
    .description('write an ISO image from `xorriso -as mkisofs` options (-o -V -J -R -b -c -e -isohybrid-mbr …)')
    .argument('[args...]', 'mkisofs options and the source directory')
    .helpOption(false)
    .allowUnknownOption()
    .passThroughOptions()
    .action((args: string[]) =>
      runCommand(ctx, async () => {
        if (args.includes('-help') || args.includes('--help')) {
          ctx.stdout.write(`usage: imgkit mkisofs -o OUT [options] DIR\noptions: ${[...Object.keys(WITH_VALUE).map((k) => `${k} X`), ...Object.keys(FLAGS), '-append_partition 2 0xef FILE'].join(' ')}\n`);
          return;
        }
        const a = parseMkisofsArgs(args);
        for (const n of a.notes) ctx.stderr.write(`imgkit: note: ${n}\n`);
        const tree = a.rational ? mapTree(await openSourceTree(a.source, {}, epochFromEnv(ctx)), rationalize) : undefined;
        await writeIsoCommand(ctx, a.source, a.out, a.flags, tree);
      }),
    );
}
