/**
 * `imgkit mkisofs …` and the xorriso stand-in (bin/imgkit-xorriso.js): `xorriso -as mkisofs`
 * command lines as distributions' build scripts write them (grub-mkrescue, Debian live-build,
 * Alpine, NixOS, archiso, Ubuntu and Fedora remasters, k3OS), so that a script switches by changing
 * one word and gets xorriso's layout. mkisofs options are single-dash long words (-iso-level,
 * -joliet-long), which commander can't parse, so this command takes its arguments raw; they are
 * read in mkisofs-args.ts, the tree is grafted in mkisofs-tree.ts. Unknown options are a usage
 * error naming them (exit 2); nothing is ignored silently.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import type { Command } from 'commander';
import { ErrorCodes, ImgkitError, applyOwnership, mapTree, withSink, type SourceEntry, type SourceTree } from '@imgkit/core';
import { isoRequirements, planIso, type BootImageOptions, type IsoContent, type IsoOptions } from '@imgkit/iso9660';
import { checkOutput, epochFromEnv, openSink, printWarning, runCommand, UsageError, type CliContext } from '../common.js';
import { type HostBytes, type MkisofsArgs, nodeParseContext, parseMkisofsArgs } from './mkisofs-args.js';
import { graftTree } from './mkisofs-tree.js';

export { parseMkisofsArgs, type MkisofsArgs } from './mkisofs-args.js';

/** What `-help` prints (xorriso prints its mkisofs help on stderr; grub-mkrescue reads both streams). */
const HELP = `Usage: imgkit mkisofs [options] pathspec…   (also: imgkit-xorriso [native…] -as mkisofs [options] pathspec… [-- native…])
imgkit's emulation of xorriso -as mkisofs (xorriso 1.5 layouts). Options:
  -o FILE, -output FILE       Output file ('-' or none: standard output)
  -graft-points               Allow ISO_PATH=DISK_PATH pathspecs
  -path-list FILE             Read pathspecs from FILE, one per line
  -f, -follow-links           Follow symbolic links
  -m GLOB, -exclude GLOB, -x FILE, -exclude-list FILE
                              Leave out files (a name anywhere, or a disk path)
  -R, -rock / -r, -rational-rock / --norock
                              Rock Ridge (RRIP 1.10; on by default, as in xorrisofs) / with owners 0
                              and readable modes / none
  -J, -joliet, -joliet-long   Joliet tree, names up to 64 / 103 characters (longer ones are shortened with a warning)
  -iso-level 1|2|3, -l, -full-iso9660-filenames, -D, -disallow_dir_id_ext
  -V ID, -volid ID, -volset ID, -A ID, -appid ID, -publisher ID, -p ID, -preparer ID, -sysid ID
  --modification-date=YYYYMMDDhhmmsscc   Volume creation/modification date (also the blkid UUID);
                              without it and without SOURCE_DATE_EPOCH the newest time in the tree
  --set_all_file_dates TIME   Every file's time
  -uid N, -gid N, -dir-mode MODE, -file-mode MODE
  -pad, -no-pad               300 KiB of padding (default) or none
  --sort-weight W PATH, --sort-weight-list FILE   Order of file data (higher first)
  -b FILE, -eltorito-boot FILE   El Torito boot image of the current entry (BIOS, or -eltorito-platform)
  -e FILE, --efi-boot FILE    EFI boot image (-e --interval:appended_partition_N:all:: for an appended partition)
  -eltorito-alt-boot          Start the next boot entry
  -eltorito-platform x86|efi|N, -no-emul-boot, -boot-load-size N|full
  -boot-info-table            Patch a boot info table into the entry's image
  --grub2-boot-info           Patch GRUB2's boot image address into the entry's image (byte 2548)
  -c FILE, -eltorito-catalog FILE, --boot-catalog-hide
  -isohybrid-mbr FILE         isohybrid MBR (isohdpfx.bin)
  --grub2-mbr FILE            GRUB2 MBR (boot_hybrid.img), patched with the boot image address
  -G FILE, --embedded-boot FILE   System area from FILE as is
  --protective-msdos-label    Partition table in the MBR (0xEE over the disk with a GPT)
  --mbr-force-bootable        Mark an MBR entry active
  -isohybrid-gpt-basdat, -isohybrid-gpt-hfsplus, -isohybrid-apm-hfsplus
                              Describe the current boot image in GPT / APM (with -isohybrid-mbr)
  -part_like_isohybrid        The same without -isohybrid-mbr
  -efi-boot-part --efi-boot-image|FILE   ESP in the GPT before the file data
  -append_partition N TYPE FILE   Append a partition (TYPE: 0xNN or a GUID)
  -appended_part_as_gpt       Appended partitions in a GPT
  -partition_offset N, -partition_hd_cyl N, -partition_sec_hd N, -partition_cyl_align auto|on|off|all
  -iso_mbr_part_type TYPE, --gpt_disk_guid GUID
  --interval:local_fs:START-END:FLAGS:FILE  where a file is expected (as xorriso -report_el_torito as_mkisofs prints)
  -hfsplus …                  accepted; HFS+ and its Apple Partition Map entries are not written
  --strict                    Stop at the first warning (a lossy conversion)
  -help, -version
SOURCE_DATE_EPOCH dates the volume, seeds the GPT GUIDs and clamps newer file times.
`;

const VERSION = 'mkisofs 2.01-Emulation of imgkit 0.1.0 (xorriso 1.5 -as mkisofs layouts)\n';

/** Split `[native…] -as mkisofs mkisofs-args… [-- native…]`. */
export function splitXorrisoArgv(args: readonly string[]): { before: string[]; mkisofs: string[]; after: string[] } | undefined {
  const at = args.findIndex((a, i) => (a === '-as' || a === '--as') && ['mkisofs', 'genisoimage', 'xorrisofs', 'genisofs'].includes(args[i + 1] ?? ''));
  if (at < 0) return undefined;
  const rest = args.slice(at + 2);
  const dd = rest.indexOf('--');
  return { before: args.slice(0, at), mkisofs: dd < 0 ? rest : rest.slice(0, dd), after: dd < 0 ? [] : rest.slice(dd + 1) };
}

/** ECMA-119 a-characters as xorriso records them: upper case, anything else "_". */
function aChars(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_ !"%&'()*+,\-./:;<=>?]/g, '_');
}

/** Read bytes of a host file or of an interval of it, applying xorriso's zeroizers. */
function readHostBytes(b: HostBytes, max: number, what: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(b.path, 'r');
  } catch (err) {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: b.path, detail: `cannot read the ${what}: ${(err as { code?: string }).code ?? String(err)}` });
  }
  try {
    const start = b.startByte ?? 0;
    const size = statSync(b.path).size;
    const end = Math.min(b.endByte ?? size - 1, size - 1);
    const len = Math.max(0, end - start + 1);
    if (len > max) throw new UsageError(`${b.path}: the ${what} is ${len} bytes; at most ${max} are used`);
    const out = new Uint8Array(len);
    readSync(fd, out, 0, len, start);
    zeroize(out, b);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** libisofs interval zeroizers (zero_mbrpt, zero_gpt, zero_apm) on the first bytes read. */
function zeroize(buf: Uint8Array, b: HostBytes): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.zeroMbrTable && buf.byteLength >= 512 && buf[510] === 0x55 && buf[511] === 0xaa) buf.fill(0, 446, 510);
  if (b.zeroGpt && buf.byteLength >= 604 && new TextDecoder().decode(buf.subarray(512, 520)) === 'EFI PART') {
    const entriesLba = view.getUint32(512 + 72, true);
    const count = view.getUint32(512 + 80, true);
    if (entriesLba >= 2 && entriesLba + Math.ceil(count / 4) <= 64) {
      buf.fill(0, 512, 604);
      buf.fill(0, entriesLba * 512, Math.min(buf.byteLength, (entriesLba + Math.ceil(count / 4)) * 512));
    }
  }
  if (b.zeroApm && buf.byteLength >= 512 && buf[0] === 0x45 && buf[1] === 0x52) {
    const bs = view.getUint16(2, false);
    if ((bs === 512 || bs === 1024 || bs === 2048) && buf.byteLength >= 2 * bs && buf[bs] === 0x50 && buf[bs + 1] === 0x4d) {
      const entries = view.getUint32(bs + 4, false);
      if ((1 + entries) * bs <= 32768) buf.fill(0, bs, Math.min(buf.byteLength, (1 + entries) * bs));
    }
  }
}

/** A host file or interval as content streamed when the writer reaches it. */
function hostContent(b: HostBytes, what: string): IsoContent {
  let size: number;
  try {
    const st = statSync(b.path);
    if (!st.isFile() && !st.isBlockDevice()) throw new Error('not a regular file');
    const end = Math.min(b.endByte ?? st.size - 1, st.size - 1);
    size = Math.max(0, end - (b.startByte ?? 0) + 1);
  } catch (err) {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: b.path, detail: `cannot use the ${what}: ${(err as Error).message}` });
  }
  if (size === 0) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: b.path, detail: `the ${what} is empty` });
  const start = b.startByte ?? 0;
  return {
    size,
    read: async function* () {
      const fd = openSync(b.path, 'r');
      try {
        const chunk = 1 << 20;
        for (let at = 0; at < size; at += chunk) {
          const buf = new Uint8Array(Math.min(chunk, size - at));
          const n = readSync(fd, buf, 0, buf.byteLength, start + at);
          if (n === 0) break;
          if (at === 0) zeroize(buf, b);
          yield n === buf.byteLength ? buf : buf.subarray(0, n);
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** mkisofs -r as xorriso applies it: uid/gid 0, read bits for all, execute where anyone had one (and on directories), write and set-id bits cleared. */
function rationalize(e: SourceEntry): SourceEntry {
  let mode = (e.mode | 0o444) & 0o555;
  if (e.kind === 'dir' || e.mode & 0o111) mode |= 0o111;
  return { ...e, uid: 0, gid: 0, mode };
}

/** Turn the parsed arguments into the library's options. */
export function mkisofsOptions(a: MkisofsArgs, epoch: number | undefined): IsoOptions {
  const o: IsoOptions = {
    rockRidge: a.rock,
    rockRidgeVersion: '1.10',
    level: a.isoLevel,
    directoryDots: a.directoryDots,
    relocateDeepDirectories: a.relocate,
    joliet: a.joliet || a.jolietLong,
    jolietLong: a.jolietLong,
    jolietTruncate: true,
    volumeId: a.ids.volid ?? 'ISOIMAGE',
    volumeSetId: a.ids.volset ?? '',
    systemId: aChars(a.ids.sysid ?? ''),
    applicationId: aChars(a.ids.appid ?? ''),
    publisherId: aChars(a.ids.publisher ?? ''),
    dataPreparerId: aChars(a.ids.preparer ?? 'IMGKIT'),
    // xorriso's Joliet descriptor keeps the identifiers as given.
    jolietIds: { systemId: a.ids.sysid ?? '', volumeSetId: a.ids.volset ?? '', publisherId: a.ids.publisher ?? '', dataPreparerId: a.ids.preparer ?? 'IMGKIT', applicationId: a.ids.appid ?? '' },
    sortWeights: a.sortWeights,
  };
  if (epoch !== undefined) o.epoch = epoch;
  const dates: NonNullable<IsoOptions['volumeDates']> = { ...a.volumeDates };
  if (a.dateUuid !== undefined) dates.uuid = a.dateUuid;
  o.volumeDates = dates;
  if (a.allFileDates !== undefined) o.allFileDates = a.allFileDates;
  if (a.padBlocks !== undefined) o.padBlocks = a.padBlocks;
  if (a.strict) o.strict = true;
  o.boot = a.boot.map((b): BootImageOptions => {
    const e: BootImageOptions = { platform: b.platform, loadSectors: b.loadSectors, bootInfoTable: b.bootInfoTable, grub2BootInfo: b.grub2BootInfo, apmMark: b.apmMark };
    if (b.appendedPartition !== undefined) e.appendedPartition = b.appendedPartition;
    else e.path = b.path;
    if (b.gptMark) e.gptMark = b.gptMark;
    return e;
  });
  if (a.catalogPath !== undefined) o.catalogPath = a.catalogPath;
  if (a.catalogHidden) o.catalogHidden = true;
  const { templateSource, efiBootPartitionSource, ...sa } = a.systemArea;
  if (templateSource) sa.template = readHostBytes(templateSource, 32768, 'system area file');
  if (efiBootPartitionSource) sa.efiBootPartition = hostContent(efiBootPartitionSource, 'EFI boot partition');
  if (a.appended.length > 0) sa.appendedPartitions = a.appended.map((p) => ({ number: p.number, type: p.type, content: hostContent(p.source, `appended partition ${p.number}`) }));
  if (sa.mbrCode === 'isohybrid' && !sa.template) throw new UsageError('-isohybrid-mbr needs its file (e.g. /usr/lib/ISOLINUX/isohdpfx.bin)');
  o.systemArea = sa;
  return o;
}

/** The library's hints name `imgkit iso` options; say them as this command spells them. */
const HINTS: [RegExp, string][] = [
  [/--joliet-long/g, '-joliet-long'],
  [/pass --joliet too/g, 'pass -J too'],
  [/--iso-level (\d)/g, '-iso-level $1'],
  [/--mbr-template \/usr\/lib\/grub\/i386-pc\/boot_hybrid\.img/g, '--grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img'],
  [/pass --mbr-template (\S+)/g, 'pass -isohybrid-mbr $1 (GRUB: --grub2-mbr)'],
  [/--mbr-template/g, '-isohybrid-mbr'],
  [/--bios-boot/g, '-b'],
  [/--efi-boot/g, '-e'],
  [/--append-partition FILE/g, '-append_partition NUMBER TYPE FILE'],
  [/--boot-info-table/g, '-boot-info-table'],
  [/pass --hybrid isohybrid-mbr/g, 'pass -isohybrid-mbr FILE'],
  [/pass --hybrid appended-esp/g, 'pass -append_partition 2 0xef FILE -appended_part_as_gpt'],
  [/leave Joliet off/g, 'drop -J'],
  [/rename or exclude it/g, 'rename it or leave it out with -m'],
  [/drop the APM mark/g, 'drop -isohybrid-apm-hfsplus'],
  [/--partition-offset/g, '-partition_offset'],
];

function mkisofsHint(err: unknown): unknown {
  if (!(err instanceof ImgkitError) || err.hint === undefined) return err;
  let hint = err.hint;
  for (const [re, to] of HINTS) hint = hint.replace(re, to);
  if (hint === err.hint) return err;
  return ImgkitError.fromJSON({ ...err.toJSON(), hint });
}

/** Run one `-as mkisofs` job: `args` are mkisofs arguments, `native` the xorriso commands around them. */
export async function runMkisofs(ctx: CliContext, args: readonly string[], native: { before?: string[]; after?: string[] } = {}): Promise<void> {
  if (args.includes('-help') || args.includes('--help')) {
    // Like xorriso, on stderr (grub-mkrescue probes it for "graft-points" and "grub2-boot-info").
    ctx.stderr.write(HELP);
    return;
  }
  if (args.includes('-version') || args.includes('--version')) {
    ctx.stdout.write(VERSION);
    return;
  }
  const pc = nodeParseContext(nodePath.resolve('.'));
  const a = parseMkisofsArgs(args, pc, native);
  for (const n of a.notes) ctx.stderr.write(`imgkit: note: ${n}\n`);
  const warn = printWarning(ctx);
  if (a.hfsplus.length > 0) {
    warn({
      code: ErrorCodes.BAD_OPTION,
      format: 'cli',
      detail: `${a.hfsplus[0]}${a.hfsplus.length > 1 ? ` (and ${a.hfsplus.length - 1} more HFS+/APM options)` : ''}: HFS+ and its Apple Partition Map entries are not written; the image will not boot on Macs`,
    });
  }
  if (a.grafts.length === 0) throw new UsageError('no pathspec: give the directory (or ISO_PATH=DISK_PATH pathspecs) to put in the image');
  const out = a.out === '' ? '-' : a.out;
  const epoch = epochFromEnv(ctx);
  const dirs = a.grafts.filter((g) => {
    try {
      return statSync(g.hostPath).isDirectory();
    } catch {
      return false;
    }
  });
  // Every host file the image reads: grafted files, MBR template, appended partitions, EFI partition.
  const files: Record<string, string> = {};
  a.grafts.forEach((g, i) => {
    if (!dirs.includes(g)) files[`pathspec ${i + 1} (${g.isoPath || '/'})`] = g.hostPath;
  });
  if (a.systemArea.templateSource) files['MBR template'] = a.systemArea.templateSource.path;
  if (a.systemArea.efiBootPartitionSource) files['-efi-boot-part image'] = a.systemArea.efiBootPartitionSource.path;
  for (const p of a.appended) files[`-append_partition ${p.number}`] = p.source.path;
  checkOutput(out, { dirs: dirs.map((g) => g.hostPath), files });
  try {
    const options = mkisofsOptions(a, epoch);
    options.onWarning = warn;
    const graftOptions: Parameters<typeof graftTree>[1] = { followLinks: a.followLinks, excludes: a.excludes, cwd: pc.cwd, onWarning: warn };
    if (epoch !== undefined) graftOptions.now = epoch;
    let tree: SourceTree = graftTree(a.grafts, graftOptions);
    if (a.rational) tree = mapTree(tree, rationalize);
    if (a.uid !== undefined || a.gid !== undefined) {
      const owners: { uid?: number; gid?: number } = {};
      if (a.uid !== undefined) owners.uid = a.uid;
      if (a.gid !== undefined) owners.gid = a.gid;
      tree = applyOwnership(tree, owners);
    }
    if (a.dirMode !== undefined || a.fileMode !== undefined) {
      tree = mapTree(tree, (e) => (e.kind === 'dir' && a.dirMode !== undefined ? { ...e, mode: a.dirMode } : e.kind === 'file' && a.fileMode !== undefined ? { ...e, mode: a.fileMode } : e));
    }
    if (epoch !== undefined) tree = applyOwnership(tree, { epoch });
    const sink = await openSink(ctx, out, { seekable: isoRequirements(options).needsSeekableSink, what: 'an ISO image' });
    await withSink(sink, async (s) => (await planIso(tree, options)).write(s));
  } catch (err) {
    throw mkisofsHint(err);
  }
}

/** bin/imgkit-xorriso.js: `[native…] -as mkisofs …` (the form grub-mkrescue and wrappers run). */
export async function runXorriso(ctx: CliContext, args: readonly string[]): Promise<void> {
  await runCommand(ctx, async () => {
    if (args.length === 1 && (args[0] === '-version' || args[0] === '--version')) {
      ctx.stdout.write(`xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.\n(imgkit-xorriso: only "xorriso -as mkisofs" runs are emulated)\n${VERSION}`);
      return;
    }
    const split = splitXorrisoArgv(args);
    if (!split) throw new UsageError('imgkit-xorriso emulates "xorriso [native commands] -as mkisofs [options] [-- native commands]"; give -as mkisofs');
    await runMkisofs(ctx, split.mkisofs, { before: split.before, after: split.after });
  });
}

export function register(program: Command, ctx: CliContext): void {
  // mkisofs options come after the command word: the program's own options (-V is --version)
  // must not claim them.
  program.enablePositionalOptions();
  program
    .command('mkisofs')
    .description('write an ISO image from `xorriso -as mkisofs` options, with xorriso\'s layout (-o -V -J -R -b -e -isohybrid-mbr --grub2-mbr … ; -help lists them)')
    .argument('[args...]', 'mkisofs options and pathspecs')
    .helpOption(false)
    .allowUnknownOption()
    .passThroughOptions()
    .action((args: string[]) =>
      runCommand(ctx, async () => {
        const split = splitXorrisoArgv(args);
        if (split) await runMkisofs(ctx, split.mkisofs, { before: split.before, after: split.after });
        else await runMkisofs(ctx, args);
      }),
    );
}
