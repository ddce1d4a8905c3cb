/**
 * `xorriso -as mkisofs` arguments, read the way xorriso 1.5 reads them (its Xorriso_genisofs), so a
 * build script's command line means here what it means there:
 *
 * - mkisofs options are single-dash words; a surplus dash is dropped ("--joliet" is "-joliet") and
 *   single letters may be fused ("-JR"). Options are recognised by their full name only.
 * - Pathspecs: a directory's content goes to the root, a file to "/<leaf>"; with -graft-points
 *   "ISO_PATH=DISK_PATH" puts DISK_PATH at ISO_PATH ("\=" and "\\" escape). -path-list reads one
 *   pathspec per line.
 * - El Torito options are collected in argv order into boot entries: -b/-e name the current entry's
 *   image (a second -b/-e without -eltorito-alt-boot replaces it), the options around it
 *   (-no-emul-boot, -boot-load-size, -boot-info-table, --grub2-boot-info, -isohybrid-gpt-basdat, …)
 *   belong to the current entry, and -eltorito-alt-boot (or --efi-boot, or a new -eltorito-platform)
 *   closes it. An entry without -boot-load-size and without emulation loads its whole image.
 * - Native xorriso commands may come before `-as mkisofs` and after a `--` that ends the
 *   emulation (grub-mkrescue passes its trailing arguments that way).
 *
 * Options xorriso itself ignores are accepted with a note; options whose effect imgkit cannot give
 * are errors that name the option and say what to do; unknown options are errors.
 */
import { readFileSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { checkDateText, parseGuid, type BootImageOptions, type SystemAreaOptions } from '@imgkit/iso9660';
import { UsageError } from '../common.js';

export interface Graft {
  /** ISO path ('' = the root). */
  isoPath: string;
  hostPath: string;
}

/** An El Torito entry as the arguments describe it (resolved against the tree later). */
export interface MkBootEntry {
  platform: number;
  /** Tree path, or `--interval:appended_partition_N…`. */
  path: string;
  appendedPartition?: number;
  /** 'file-size': xorriso loads an EFI image from the tree by its size in 512-byte sectors. */
  loadSectors: number | 'full' | 'file-size';
  bootInfoTable: boolean;
  grub2BootInfo: boolean;
  gptMark?: 'basic-data' | 'hfsplus';
  apmMark: boolean;
}

export interface MkAppended {
  number: number;
  type: number | string;
  /** Host file, or a local_fs interval. */
  source: HostBytes;
}

/** Bytes of a host file, or an interval of it (`--interval:local_fs:START-END:ZEROIZERS:PATH`). */
export interface HostBytes {
  path: string;
  startByte?: number;
  endByte?: number;
  zeroMbrTable?: boolean;
  zeroGpt?: boolean;
  zeroApm?: boolean;
}

export interface MkisofsArgs {
  out: string;
  grafts: Graft[];
  graftPoints: boolean;
  rock: boolean;
  /** -r: owners 0:0 and modes made readable (mkisofs "rationalized" Rock Ridge). */
  rational: boolean;
  joliet: boolean;
  jolietLong: boolean;
  isoLevel: 1 | 2 | 3;
  directoryDots: boolean;
  relocate: boolean;
  followLinks: boolean;
  ids: { volid?: string; volset?: string; appid?: string; publisher?: string; preparer?: string; sysid?: string };
  /** --modification-date / -volume_date uuid. */
  dateUuid?: string;
  volumeDates: { creation?: number | string; modification?: number | string; expiration?: number | string; effective?: number | string };
  allFileDates?: number;
  sortWeights: { path: string; weight: number }[];
  /** -m / -exclude / -x (patterns) and -exclude-list contents. */
  excludes: string[];
  boot: MkBootEntry[];
  catalogPath: string | undefined;
  catalogHidden: boolean;
  systemArea: SystemAreaOptions & { templateSource?: HostBytes; efiBootPartitionSource?: HostBytes };
  appended: MkAppended[];
  padBlocks?: number;
  uid?: number;
  gid?: number;
  dirMode?: number;
  fileMode?: number;
  /** Accepted options that change nothing here, reported on stderr. */
  notes: string[];
  /** Mac options accepted without HFS+ (one warning). */
  hfsplus: string[];
  strict: boolean;
  help: boolean;
  version: boolean;
}

/** xorriso's "Ignored option" list (mkisofs 2.01 options it accepts and ignores), with their value counts. */
const IGNORED: Record<string, number> = {
  '-allow-leading-dots': 0,
  '-ldots': 0,
  '-allow-multidot': 0,
  '-cache-inodes': 0,
  '-check-oldnames': 0,
  '-L': 0,
  '-no-bak': 0,
  '-no-cache-inodes': 0,
  '-no-split-symlink-components': 0,
  '-no-split-symlink-fields': 0,
  '-nobak': 0,
  '-force-rr': 0,
  '-T': 0,
  '-translation-table': 0,
  '-no-iso-translate': 0,
  '-check-session': 1,
  '-hide-hfs': 1,
  '-hide-hfs-list': 1,
  '-table-name': 1,
  '-volset-seqno': 1,
  '-volset-size': 1,
  '-sort': 1,
};

/** Options that only change xorriso's own behaviour (messages, sync, multi-session TOC): no effect here. */
const NO_EFFECT: Record<string, number> = {
  '-quiet': 0,
  '-v': 0,
  '-verbose': 0,
  '-gui': 0,
  '--no-emul-toc': 0,
  '--emul-toc': 0,
  '--no_rc': 0,
  '--old-empty': 0,
  '--hardlinks': 0,
  '-log-file': 1,
  '--stdio_sync': 1,
  '-pad': 0,
};

/** Options xorriso knows that imgkit does not implement, with the way out. */
const UNSUPPORTED: Record<string, [number, string]> = {
  '-M': [1, 'multi-session images are not written; build the whole tree in one session'],
  '-prev-session': [1, 'multi-session images are not written; build the whole tree in one session'],
  '-dev': [1, 'multi-session images are not written; build the whole tree in one session'],
  '-C': [1, 'multi-session images are not written; drop -C'],
  '-cdrecord-params': [1, 'multi-session images are not written; drop -C'],
  '-root': [1, 'graft the tree where it belongs instead (-graft-points /DIR=SOURCE)'],
  '-old-root': [1, 'multi-session images are not written'],
  '-print-size': [0, 'write the image and look at its size'],
  '-z': [0, 'zisofs compression is not written; drop -z'],
  '-transparent-compression': [0, 'zisofs compression is not written; drop -z'],
  '--zisofs-version-2': [0, 'zisofs compression is not written'],
  '--zisofs2-susp-z2': [0, 'zisofs compression is not written'],
  '--zisofs2-susp-zf': [0, 'zisofs compression is not written'],
  '--acl': [0, 'ACLs are not recorded; drop --acl'],
  '--xattr': [0, 'extended attributes are not recorded in ISO images; drop --xattr'],
  '--xattr-any': [0, 'extended attributes are not recorded in ISO images; drop --xattr-any'],
  '--md5': [0, 'MD5 checksum tags are not written; drop --md5'],
  '--for_backup': [0, 'ACLs, xattrs and MD5 tags are not recorded; drop --for_backup'],
  '--scdbackup_tag': [2, 'MD5 checksum tags are not written'],
  '-hard-disk-boot': [0, 'only no-emulation El Torito images are written; use -no-emul-boot'],
  '-no-boot': [0, 'only bootable El Torito entries are written; drop -no-boot'],
  '-eltorito-id': [1, 'El Torito id strings are not written; drop -eltorito-id'],
  '-eltorito-selcrit': [1, 'El Torito selection criteria are not written; drop -eltorito-selcrit'],
  '-boot-load-seg': [1, 'only the default load segment is written; drop -boot-load-seg'],
  '-hide': [1, 'hiding is not supported; exclude the file with -m instead'],
  '-hide-list': [1, 'hiding is not supported; exclude the files with -exclude-list instead'],
  '-hidden': [1, 'hiding is not supported; exclude the file with -m instead'],
  '-hidden-list': [1, 'hiding is not supported'],
  '-hide-joliet': [1, 'hiding is not supported; exclude the file with -m instead'],
  '-hide-joliet-list': [1, 'hiding is not supported'],
  '-hide-hfsplus': [1, 'HFS+ is not written; drop the option'],
  '-hide-hfsplus-list': [1, 'HFS+ is not written; drop the option'],
  '-hide-udf': [1, 'UDF is not written; drop the option'],
  '-hide-udf-list': [1, 'UDF is not written; drop the option'],
  '-hide-rr-moved': [0, 'the relocation directory is /rr_moved; drop -hide-rr-moved'],
  '-rr_reloc_dir': [1, 'the relocation directory is /rr_moved; drop -rr_reloc_dir'],
  '-N': [0, 'version numbers are always written; drop -N'],
  '-omit-version-number': [0, 'version numbers are always written'],
  '-d': [0, 'ISO 9660 names always carry their dot; drop -d'],
  '-omit-period': [0, 'ISO 9660 names always carry their dot'],
  '-U': [0, 'untranslated ISO 9660 names are not written; drop -U (Rock Ridge and Joliet keep the real names)'],
  '-untranslated-filenames': [0, 'untranslated ISO 9660 names are not written (Rock Ridge and Joliet keep the real names)'],
  '-untranslated_name_len': [1, 'untranslated ISO 9660 names are not written'],
  '-allow-lowercase': [0, 'ISO 9660 names are upper case; drop -allow-lowercase (Rock Ridge keeps the real names)'],
  '-relaxed-filenames': [0, 'relaxed ISO 9660 names are not written; drop -relaxed-filenames'],
  '-max-iso9660-filenames': [0, '37-character ISO 9660 names are not written; use -iso-level 3 (30 characters)'],
  '-joliet-utf16': [0, 'Joliet is written as UCS-2; drop -joliet-utf16'],
  '-file_name_limit': [1, 'Rock Ridge names are limited to 255 bytes; drop -file_name_limit'],
  '-chrp-boot-part': [0, 'CHRP (PowerPC) boot is not written'],
  '-chrp-boot': [0, 'CHRP (PowerPC) boot is not written'],
  '-prep-boot-part': [1, 'PReP (PowerPC) boot partitions are not written'],
  '-mips-boot': [1, 'MIPS boot is not written'],
  '-mipsel-boot': [1, 'MIPS boot is not written'],
  '-B': [1, 'SPARC boot is not written'],
  '-sparc-boot': [1, 'SPARC boot is not written'],
  '-sparc-label': [1, 'SPARC disk labels are not written'],
  '--grub2-sparc-core': [1, 'SPARC boot is not written'],
  '-hppa-cmdline': [1, 'HP-PA boot is not written'],
  '-hppa-kernel-32': [1, 'HP-PA boot is not written'],
  '-hppa-kernel-64': [1, 'HP-PA boot is not written'],
  '-hppa-bootloader': [1, 'HP-PA boot is not written'],
  '-hppa-ramdisk': [1, 'HP-PA boot is not written'],
  '-hppa-hdrversion': [1, 'HP-PA boot is not written'],
  '-alpha-boot': [1, 'DEC Alpha boot is not written'],
  '-appended_part_as_apm': [0, 'appended partitions go into the MBR or (-appended_part_as_gpt) the GPT, not into an APM'],
  '-fat': [0, 'FAT within the ISO is not written'],
  '-UDF': [0, 'UDF is not written'],
  '-udf': [0, 'UDF is not written'],
  '-dvd-video': [0, 'DVD-Video layout is not written'],
  '-jigdo-jigdo': [1, 'jigdo files are not written'],
  '-jigdo-template': [1, 'jigdo files are not written'],
  '-jigdo-min-file-size': [1, 'jigdo files are not written'],
  '-jigdo-force-md5': [1, 'jigdo files are not written'],
  '-jigdo-force-checksum': [1, 'jigdo files are not written'],
  '-jigdo-exclude': [1, 'jigdo files are not written'],
  '-jigdo-map': [1, 'jigdo files are not written'],
  '-jigdo-template-compress': [1, 'jigdo files are not written'],
  '-jigdo-checksum-algorithm': [1, 'jigdo files are not written'],
  '-checksum_algorithm_iso': [1, 'jigdo files are not written'],
  '-checksum_algorithm_template': [1, 'jigdo files are not written'],
  '-md5-list': [1, 'jigdo files are not written'],
  '-checksum-list': [1, 'jigdo files are not written'],
  '-abstract': [1, 'the abstract file id is not written'],
  '-biblio': [1, 'the bibliographic file id is not written'],
  '-copyright': [1, 'the copyright file id is not written'],
  '--application_use': [1, 'the application use field is not written'],
  '--quoted_path_list': [1, 'use -path-list'],
  '--sort-weight-patterns': [1, 'use --sort-weight-list or --sort-weight'],
  '-stream-media-size': [1, 'not applicable'],
  '-stream-file-name': [1, 'not applicable'],
  '-sunx86-boot': [1, 'Solaris x86 boot is not written'],
  '-sunx86-label': [1, 'Solaris x86 boot is not written'],
  '-sectype': [1, 'not applicable'],
};

/** Mac HFS+ options: accepted, not written (one warning says the image will not boot on Macs). */
const HFSPLUS: Record<string, number> = {
  '-hfsplus': 0,
  '-hfsplus-file-creator-type': 3,
  '-hfs-bless-by': 2,
  '-hfs-bless': 1,
  '-hfsplus-serial-no': 1,
  '-hfsplus-block-size': 1,
};

function usage(msg: string): UsageError {
  return new UsageError(msg);
}

/** "-joliet-long" for "--joliet-long" when the single-dash form is an option (xorriso strip_dash). */
function stripSurplusDash(arg: string, known: (a: string) => boolean): string {
  if (arg.length >= 4 && arg.startsWith('--') && arg[2] !== '-' && known(arg.slice(1))) return arg.slice(1);
  return arg;
}

/** A number as xorriso reads -boot-load-size, -partition_offset …: decimal. */
function wholeNumber(opt: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw usage(`${opt} ${v}: give a whole number in ${min}…${max}`);
  return Number(v);
}

/** `--interval:local_fs:START-END:ZEROIZERS:PATH` (what xorriso -report_el_torito as_mkisofs prints). */
export function parseInterval(opt: string, text: string): HostBytes {
  const m = /^--interval:(local_fs|imported_iso):([^:]*):([^:]*):(.*)$/.exec(text);
  if (!m) throw usage(`${opt} ${text}: not an interval (--interval:local_fs:START-END:FLAGS:PATH)`);
  if (m[1] === 'imported_iso') {
    throw usage(`${opt} ${text}: imported_iso intervals refer to an -indev image, which imgkit does not load; give the image file as local_fs (--interval:local_fs:…:PATH)`);
  }
  const range = /^(\d+)([sdkmg]?)-(\d+)([sdkmg]?)$/.exec(m[2]!);
  if (!range) throw usage(`${opt} ${text}: the range "${m[2]}" is not START-END (units s = 2048, d = 512, k, m, g bytes)`);
  const unit = (u: string) => ({ '': 1, s: 2048, d: 512, k: 1024, m: 1 << 20, g: 1 << 30 })[u]!;
  const startByte = Number(range[1]) * unit(range[2]!);
  // The end number names the last unit: its last byte is included.
  const endByte = (Number(range[3]) + 1) * unit(range[4]!) - 1;
  if (endByte < startByte) throw usage(`${opt} ${text}: the interval ends before it starts`);
  const out: HostBytes = { path: m[4]!, startByte, endByte };
  for (const z of m[3]!.split(',').filter(Boolean)) {
    if (z === 'zero_mbrpt') out.zeroMbrTable = true;
    else if (z === 'zero_gpt') out.zeroGpt = true;
    else if (z === 'zero_apm') out.zeroApm = true;
    else throw usage(`${opt} ${text}: unknown interval flag "${z}" (zero_mbrpt, zero_gpt, zero_apm)`);
  }
  return out;
}

function hostBytes(opt: string, v: string): HostBytes {
  return v.startsWith('--interval:') ? parseInterval(opt, v) : { path: v };
}

/** El Torito platform names of xorriso's -eltorito-platform. */
function platformOf(v: string): number {
  const names: Record<string, number> = { x86: 0, PPC: 1, Mac: 2, efi: 0xef };
  if (v in names) return names[v]!;
  const n = /^0x[0-9a-fA-F]{1,2}$/.test(v) ? Number.parseInt(v.slice(2), 16) : /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n > 255) throw usage(`-eltorito-platform ${v}: use x86, PPC, Mac, efi, 0…255 or 0x00…0xff`);
  return n;
}

/** A pathspec: "ISO=DISK" with -graft-points ("\=" and "\\" escape), else the disk path. */
function pathspec(spec: string, graftPoints: boolean, cwd: string, statKind: (p: string) => 'dir' | 'other' | 'missing'): Graft {
  let iso: string | undefined;
  let disk = spec;
  if (graftPoints) {
    // The first "=" not preceded by a backslash separates target and source.
    for (let i = 0; i < spec.length; i++) {
      if (spec[i] === '\\') {
        i++;
        continue;
      }
      if (spec[i] === '=') {
        iso = spec.slice(0, i);
        disk = spec.slice(i + 1);
        break;
      }
    }
    const unescape = (s: string) => s.replace(/\\([\\=])/g, '$1');
    if (iso !== undefined) iso = unescape(iso);
    disk = unescape(disk);
  }
  const host = nodePath.resolve(cwd, disk);
  if (iso === undefined) {
    // mkisofs: a directory's content goes to the root, anything else to /<leaf>.
    const kind = statKind(host);
    if (kind === 'missing') throw usage(`${spec}: no such file or directory`);
    iso = kind === 'dir' ? '' : nodePath.basename(host);
  }
  const isoPath = iso.split('/').filter((p) => p !== '' && p !== '.').join('/');
  if (isoPath.split('/').includes('..')) throw usage(`${spec}: the ISO path leaves the root`);
  return { isoPath, hostPath: host };
}

/** Paths of the tree as xorriso takes them for -b, -c, --sort-weight: relative to the root. */
function treePath(p: string): string {
  return p.replace(/^\/+/, '').replace(/\/+$/, '');
}

function newEntry(): { entry: MkBootEntry; explicitSize: boolean; emulDefault: boolean; efiDefault: boolean; hasPath: boolean; noEmul: boolean } {
  return {
    entry: { platform: 0, path: '', loadSectors: 4, bootInfoTable: false, grub2BootInfo: false, apmMark: false },
    explicitSize: false,
    emulDefault: true,
    efiDefault: false,
    hasPath: false,
    noEmul: false,
  };
}

export interface ParseContext {
  cwd: string;
  statKind(p: string): 'dir' | 'other' | 'missing';
  readText(p: string): string;
}

export const nodeParseContext = (cwd = process.cwd()): ParseContext => ({
  cwd,
  statKind(p) {
    try {
      const st = statSync(p);
      return st.isDirectory() ? 'dir' : 'other';
    } catch {
      return 'missing';
    }
  },
  readText(p) {
    try {
      return readFileSync(nodePath.resolve(cwd, p), 'utf8');
    } catch (err) {
      throw usage(`cannot read ${p}: ${(err as { code?: string }).code ?? String(err)}`);
    }
  },
});

/** Options taking values, by name: value count. Used for "--x" → "-x" and to skip values. */
function valueCount(a: string): number | undefined {
  if (a in VALUE_OPTIONS) return VALUE_OPTIONS[a];
  if (a in IGNORED) return IGNORED[a];
  if (a in NO_EFFECT) return NO_EFFECT[a];
  if (a in UNSUPPORTED) return UNSUPPORTED[a]![0];
  if (a in HFSPLUS) return HFSPLUS[a];
  return undefined;
}

const VALUE_OPTIONS: Record<string, number> = {
  '-o': 1,
  '-output': 1,
  '-V': 1,
  '-volid': 1,
  '-volset': 1,
  '-A': 1,
  '-appid': 1,
  '-publisher': 1,
  '-P': 1,
  '-p': 1,
  '-preparer': 1,
  '-sysid': 1,
  '-iso-level': 1,
  '-input-charset': 1,
  '-output-charset': 1,
  '-path-list': 1,
  '-m': 1,
  '-exclude': 1,
  '-x': 1,
  '-old-exclude': 1,
  '-exclude-list': 1,
  '-b': 1,
  '-eltorito-boot': 1,
  '-e': 1,
  '--efi-boot': 1,
  '-eltorito-platform': 1,
  '-c': 1,
  '-eltorito-catalog': 1,
  '-boot-load-size': 1,
  '-isohybrid-mbr': 1,
  '--grub2-mbr': 1,
  '-G': 1,
  '-generic-boot': 1,
  '--embedded-boot': 1,
  '-partition_offset': 1,
  '-partition_hd_cyl': 1,
  '-partition_sec_hd': 1,
  '-partition_cyl_align': 1,
  '-iso_mbr_part_type': 1,
  '--gpt_disk_guid': 1,
  '-efi-boot-part': 1,
  '-append_partition': 3,
  '--sort-weight': 2,
  '--sort-weight-list': 1,
  '--set_all_file_dates': 1,
  '-apm-block-size': 1,
  '-uid': 1,
  '-gid': 1,
  '-dir-mode': 1,
  '-file-mode': 1,
};

const FLAG_OPTIONS = new Set([
  '-J',
  '-joliet',
  '-joliet-long',
  '-R',
  '-rock',
  '-r',
  '-rational-rock',
  '--norock',
  '-l',
  '-full-iso9660-filenames',
  '-D',
  '-disable-deep-relocation',
  '-f',
  '-follow-links',
  '-graft-points',
  '-no-pad',
  '-no-emul-boot',
  '-boot-info-table',
  '--grub2-boot-info',
  '-eltorito-alt-boot',
  '--boot-catalog-hide',
  '--protective-msdos-label',
  '--mbr-force-bootable',
  '-isohybrid-gpt-basdat',
  '-isohybrid-gpt-hfsplus',
  '-isohybrid-apm-hfsplus',
  '-part_like_isohybrid',
  '-appended_part_as_gpt',
  '-disallow_dir_id_ext',
  '-help',
  '-version',
  '--strict',
]);

function knownOption(a: string): boolean {
  return FLAG_OPTIONS.has(a) || valueCount(a) !== undefined;
}

/** The letters xorriso accepts fused into one word ("-JR", "-rJ"). */
const FUSED = 'dDfJlNRrTUvz';

/**
 * Parse mkisofs arguments. `native` are xorriso commands that came before `-as mkisofs` and after
 * `--`; they are applied in xorriso's order (before: first; after: last).
 */
export function parseMkisofsArgs(argv: readonly string[], ctx: ParseContext = nodeParseContext(), native: { before?: readonly string[]; after?: readonly string[] } = {}): MkisofsArgs {
  const a: MkisofsArgs = {
    out: '',
    grafts: [],
    graftPoints: false,
    rock: true, // xorrisofs writes Rock Ridge unless --norock
    rational: false,
    joliet: false,
    jolietLong: false,
    isoLevel: 1,
    directoryDots: true,
    relocate: true,
    followLinks: false,
    ids: {},
    volumeDates: {},
    sortWeights: [],
    excludes: [],
    boot: [],
    catalogPath: undefined,
    catalogHidden: false,
    systemArea: {},
    appended: [],
    notes: [],
    hfsplus: [],
    strict: false,
    help: false,
    version: false,
  };
  if (native.before) applyNative(a, native.before);
  // Pass 1 (xorriso's first scan): -graft-points applies to every pathspec, wherever it stands.
  if (argv.includes('-graft-points') || argv.includes('--graft-points')) a.graftPoints = true;

  const pathspecs: string[] = [];
  const delayed: [string, string[]][] = [];
  const weightArgs: [string, string][] = [];
  argv = [...argv];
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (raw === '--') {
      applyNative(a, argv.slice(i + 1));
      break;
    }
    const arg = stripSurplusDash(raw, knownOption);
    const take = (n: number): string[] => {
      if (i + n >= argv.length) throw usage(`${raw} needs ${n === 1 ? 'a value' : `${n} values`}`);
      const v = argv.slice(i + 1, i + 1 + n);
      i += n;
      return v;
    };
    if (arg.startsWith('--modification-date=')) {
      a.dateUuid = checkDate('--modification-date', arg.slice('--modification-date='.length));
      continue;
    }
    if (arg in IGNORED) {
      const v = take(IGNORED[arg]!);
      a.notes.push(`${[raw, ...v].join(' ')}: ignored (xorriso ignores it too)`);
      continue;
    }
    if (arg in NO_EFFECT) {
      take(NO_EFFECT[arg]!);
      continue;
    }
    if (arg in HFSPLUS) {
      const v = take(HFSPLUS[arg]!);
      a.hfsplus.push([raw, ...v].join(' '));
      continue;
    }
    if (arg in UNSUPPORTED) {
      const [n, hint] = UNSUPPORTED[arg]!;
      take(n);
      throw usage(`${raw} is not supported: ${hint}`);
    }
    switch (arg) {
      case '-help':
        a.help = true;
        continue;
      case '-version':
        a.version = true;
        continue;
      case '--strict':
        a.strict = true;
        continue;
      case '-o':
      case '-output':
        a.out = take(1)[0]!;
        continue;
      case '-V':
      case '-volid':
        a.ids.volid = take(1)[0]!;
        continue;
      case '-volset':
        a.ids.volset = take(1)[0]!;
        continue;
      case '-A':
      case '-appid':
        a.ids.appid = take(1)[0]!;
        continue;
      case '-publisher':
      case '-P':
        a.ids.publisher = take(1)[0]!;
        continue;
      case '-p':
      case '-preparer':
        a.ids.preparer = take(1)[0]!;
        continue;
      case '-sysid':
        a.ids.sysid = take(1)[0]!;
        continue;
      case '-iso-level': {
        const v = take(1)[0]!;
        if (v === '4') throw usage('-iso-level 4 (ISO 9660:1999) is not supported: use -iso-level 3');
        a.isoLevel = wholeNumber('-iso-level', v, 1, 3) as 1 | 2 | 3;
        continue;
      }
      case '-input-charset':
      case '-output-charset': {
        const v = take(1)[0]!;
        if (!/^(utf-?8|default)$/i.test(v)) throw usage(`${raw} ${v}: names are read and written as UTF-8; drop ${raw}`);
        continue;
      }
      case '-J':
      case '-joliet':
        a.joliet = true;
        continue;
      case '-joliet-long':
        a.jolietLong = true;
        continue;
      case '-R':
      case '-rock':
        a.rock = true;
        continue;
      case '-r':
      case '-rational-rock':
        a.rock = true;
        a.rational = true;
        continue;
      case '--norock':
        a.rock = false;
        a.rational = false;
        continue;
      case '-l':
      case '-full-iso9660-filenames':
        if (a.isoLevel < 2) a.isoLevel = 2;
        continue;
      case '-D':
      case '-disable-deep-relocation':
        a.relocate = false;
        continue;
      case '-disallow_dir_id_ext':
        a.directoryDots = false;
        continue;
      case '-f':
      case '-follow-links':
        a.followLinks = true;
        continue;
      case '-graft-points':
        continue;
      case '-path-list': {
        const file = take(1)[0]!;
        for (const line of ctx.readText(file).split('\n')) if (line !== '') pathspecs.push(line);
        continue;
      }
      case '-m':
      case '-exclude':
      case '-x':
      case '-old-exclude':
        a.excludes.push(take(1)[0]!);
        continue;
      case '-exclude-list': {
        const file = take(1)[0]!;
        for (const line of ctx.readText(file).split('\n')) if (line !== '') a.excludes.push(line);
        continue;
      }
      case '-no-pad':
        a.padBlocks = 0;
        continue;
      case '--sort-weight': {
        const [w, p] = take(2) as [string, string];
        weightArgs.push([w, p]);
        continue;
      }
      case '--sort-weight-list': {
        const file = take(1)[0]!;
        for (const line of ctx.readText(file).split('\n')) {
          const m = /^\s*(-?\d+)\s+(.+)$/.exec(line);
          if (m) weightArgs.push([m[1]!, m[2]!]);
          else if (line.trim() !== '') throw usage(`--sort-weight-list ${file}: "${line}" is not "WEIGHT PATH"`);
        }
        continue;
      }
      case '--set_all_file_dates':
        a.allFileDates = epochValue('--set_all_file_dates', take(1)[0]!);
        continue;
      case '-apm-block-size': {
        const v = take(1)[0]!;
        if (v !== '2048') a.hfsplus.push(`-apm-block-size ${v}`);
        continue;
      }
      case '-uid':
        a.uid = wholeNumber('-uid', take(1)[0]!, 0, 0xffffffff);
        continue;
      case '-gid':
        a.gid = wholeNumber('-gid', take(1)[0]!, 0, 0xffffffff);
        continue;
      case '-dir-mode':
      case '-file-mode': {
        const v = take(1)[0]!;
        if (!/^[0-7]{1,4}$/.test(v)) throw usage(`${raw} ${v}: give an octal mode, e.g. 0755`);
        if (arg === '-dir-mode') a.dirMode = Number.parseInt(v, 8);
        else a.fileMode = Number.parseInt(v, 8);
        continue;
      }
      case '-append_partition': {
        const [num, type, file] = take(3) as [string, string, string];
        const n = wholeNumber('-append_partition', num, 1, 4);
        a.appended.push({ number: n, type: partitionType(type), source: hostBytes('-append_partition', file) });
        continue;
      }
      default:
        break;
    }
    // Boot and system-area options: xorriso applies them after all pathspecs, in argv order.
    if (FLAG_OPTIONS.has(arg) || (VALUE_OPTIONS[arg] !== undefined && arg !== '-append_partition')) {
      const n = FLAG_OPTIONS.has(arg) ? 0 : VALUE_OPTIONS[arg]!;
      delayed.push([arg, take(n)]);
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') {
      // Fused single letters ("-JR"): read as the separate options.
      const letters = arg.slice(1);
      if (/^[a-zA-Z]{2,}$/.test(letters) && [...letters].every((c) => FUSED.includes(c))) {
        (argv as string[]).splice(i, 1, ...[...letters].map((c) => `-${c}`));
        i--;
        continue;
      }
      throw usage(`unknown mkisofs option ${raw}: imgkit mkisofs -help lists the options it reads`);
    }
    pathspecs.push(raw);
  }
  for (const spec of pathspecs) a.grafts.push(pathspec(spec, a.graftPoints, ctx.cwd, (p) => ctx.statKind(p)));
  for (const [w, p] of weightArgs) {
    if (!/^-?\d+$/.test(w)) throw usage(`--sort-weight ${w} ${p}: the weight is a whole number`);
    a.sortWeights.push({ weight: Number(w), path: treePath(p) });
  }
  applyBootOptions(a, delayed);
  if (native.after) applyNative(a, native.after);
  return a;
}

function checkDate(opt: string, v: string): string {
  try {
    return checkDateText(v, opt);
  } catch {
    throw usage(`${opt}${opt.endsWith('=') ? '' : ' '}${v}: give the date as YYYYMMDDhhmmsscc (16 digits)`);
  }
}

/** xorriso time values: "=SECONDS", seconds, or ECMA-119 digits. */
function epochValue(opt: string, v: string): number {
  const m = /^=?(\d+)$/.exec(v);
  if (m && (v.startsWith('=') || m[1]!.length <= 12)) return Number(m[1]);
  if (/^\d{14,16}$/.test(v)) {
    const d = v.padEnd(16, '0');
    return Date.UTC(Number(d.slice(0, 4)), Number(d.slice(4, 6)) - 1, Number(d.slice(6, 8)), Number(d.slice(8, 10)), Number(d.slice(10, 12)), Number(d.slice(12, 14))) / 1000;
  }
  throw usage(`${opt} ${v}: give =SECONDS since 1970 or YYYYMMDDhhmmsscc`);
}

/** -append_partition TYPE: a byte (0xNN, FAT12, FAT16, Linux) or a GUID (either form xorriso takes). */
function partitionType(t: string): number | string {
  const names: Record<string, number> = { FAT12: 0x01, FAT16: 0x06, Linux: 0x83, '': 0x00 };
  if (t in names) return names[t]!;
  if (parseGuid(t)) return t;
  if (/^0x[0-9a-fA-F]{1,2}$/.test(t)) return Number.parseInt(t.slice(2), 16);
  throw usage(`-append_partition … ${t}: the type is a byte 0x00…0xff or a GUID`);
}

/** The El Torito and system-area options, in argv order (xorriso's delayed list). */
function applyBootOptions(a: MkisofsArgs, delayed: readonly [string, string[]][]): void {
  let cur = newEntry();
  let bPlatform = 0;
  const sa = a.systemArea;
  const attach = () => {
    if (!cur.hasPath) return;
    const e = cur.entry;
    if (cur.efiDefault) {
      e.platform = 0xef;
      e.bootInfoTable = false;
      e.grub2BootInfo = false;
      cur.noEmul = true;
    }
    if (!cur.noEmul) {
      throw usage(`-b ${e.path}: without -no-emul-boot xorriso makes a floppy-emulation entry, which imgkit does not write; add -no-emul-boot`);
    }
    // xorriso: an EFI image from the tree loads as its file size (an explicit -boot-load-size is
    // overridden); without -boot-load-size a no-emulation image loads whole.
    if (!cur.explicitSize) e.loadSectors = 'full';
    else if (e.platform === 0xef && e.appendedPartition === undefined) e.loadSectors = 'file-size';
    a.boot.push(e);
    cur = newEntry();
  };
  for (const [opt, v] of delayed) {
    switch (opt) {
      case '-no-emul-boot':
        cur.noEmul = true;
        cur.emulDefault = false;
        break;
      case '-boot-info-table':
        cur.entry.bootInfoTable = true;
        break;
      case '--grub2-boot-info':
        cur.entry.grub2BootInfo = true;
        break;
      case '-b':
      case '-eltorito-boot':
      case '-e':
      case '--efi-boot': {
        const path = v[0]!;
        if (opt === '--efi-boot') {
          attach();
          cur.efiDefault = true;
          cur.noEmul = true;
          cur.emulDefault = false;
        } else {
          cur.entry.platform = opt === '-e' ? 0xef : bPlatform;
          cur.efiDefault = false;
          if (cur.emulDefault) cur.noEmul = false;
        }
        const m = /^--interval:appended_partition_(\d+)(?:_start_\d+s_size_\d+d)?:all::$/.exec(path);
        if (m) {
          cur.entry.appendedPartition = wholeNumber(opt, m[1]!, 1, 4);
          cur.entry.path = path;
        } else if (path.startsWith('--interval:')) {
          throw usage(`${opt} ${path}: only appended partitions can be boot images by interval (--interval:appended_partition_N:all::)`);
        } else {
          delete cur.entry.appendedPartition;
          cur.entry.path = treePath(path);
        }
        cur.hasPath = true;
        if (opt === '--efi-boot') attach();
        break;
      }
      case '-eltorito-platform': {
        const p = platformOf(v[0]!);
        if (p !== bPlatform && cur.hasPath) attach();
        bPlatform = p;
        break;
      }
      case '-c':
      case '-eltorito-catalog':
        a.catalogPath = treePath(v[0]!);
        break;
      case '--boot-catalog-hide':
        a.catalogHidden = true;
        break;
      case '-boot-load-size': {
        const s = v[0]!;
        cur.explicitSize = true;
        if (s === 'full') cur.entry.loadSectors = 'full';
        else {
          // Above 65535 xorriso records 65535 (an EFI entry's size comes from its image anyway).
          cur.entry.loadSectors = Math.min(wholeNumber('-boot-load-size', s, 1, 0x7fffffff), 0xffff);
        }
        break;
      }
      case '-eltorito-alt-boot':
        attach();
        break;
      case '-isohybrid-gpt-basdat':
        cur.entry.gptMark = 'basic-data';
        break;
      case '-isohybrid-gpt-hfsplus':
        cur.entry.gptMark = 'hfsplus';
        break;
      case '-isohybrid-apm-hfsplus':
        cur.entry.apmMark = true;
        break;
      case '-part_like_isohybrid':
        sa.partLikeIsohybrid = true;
        break;
      case '-isohybrid-mbr':
      case '--grub2-mbr':
      case '-G':
      case '-generic-boot':
      case '--embedded-boot': {
        const file = v[0]!;
        if (file === '.') delete sa.templateSource;
        else sa.templateSource = hostBytes(opt, file);
        // -isohybrid-mbr and --grub2-mbr / --protective-msdos-label exclude each other (the last wins).
        if (opt === '-isohybrid-mbr') {
          sa.mbrCode = 'isohybrid';
          sa.protectiveMsdosLabel = false;
        } else if (opt === '--grub2-mbr') sa.mbrCode = 'grub2';
        break;
      }
      case '--protective-msdos-label':
        sa.protectiveMsdosLabel = true;
        if (sa.mbrCode === 'isohybrid') delete sa.mbrCode;
        break;
      case '--mbr-force-bootable':
        sa.mbrForceBootable = true;
        break;
      case '-partition_offset':
        sa.partitionOffsetBlocks = partitionOffset(v[0]!);
        break;
      case '-partition_hd_cyl':
        sa.headsPerCylinder = wholeNumber(opt, v[0]!, 1, 255);
        break;
      case '-partition_sec_hd':
        sa.sectorsPerHead = wholeNumber(opt, v[0]!, 1, 63);
        break;
      case '-partition_cyl_align': {
        const m = v[0]!;
        if (m !== 'auto' && m !== 'on' && m !== 'off' && m !== 'all') throw usage(`-partition_cyl_align ${m}: use auto, on, off or all`);
        sa.cylinderAlign = m;
        break;
      }
      case '-iso_mbr_part_type':
        sa.isoPartitionType = isoPartType(v[0]!);
        break;
      case '--gpt_disk_guid':
        gptGuid(a, v[0]!);
        break;
      case '-efi-boot-part': {
        const p = v[0]!;
        if (p === '--efi-boot-image') sa.efiBootPartition = 'boot-image';
        else sa.efiBootPartitionSource = hostBytes(opt, p);
        break;
      }
      case '-appended_part_as_gpt':
        sa.appendedAsGpt = true;
        break;
      default:
        throw usage(`${opt}: option not handled (imgkit bug)`);
    }
  }
  attach();
}

function partitionOffset(v: string): number {
  const n = wholeNumber('-partition_offset', v, 0, 1024);
  if (n !== 0 && n < 16) throw usage(`-partition_offset ${v}: use 0 or 16…1024 (the partition's own descriptors need 16 blocks)`);
  return n;
}

function isoPartType(v: string): number | string | undefined {
  if (v === 'default') return undefined;
  if (/^0x[0-9a-fA-F]{1,2}$/.test(v)) return Number.parseInt(v.slice(2), 16);
  if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return Number(v);
  if (parseGuid(v)) return v;
  throw usage(`-iso_mbr_part_type ${v}: give a byte (0x00…0xff), a GPT type GUID, or "default"`);
}

function gptGuid(a: MkisofsArgs, v: string): void {
  if (v === 'random' || v === 'modification-date' || v === 'volume_date_uuid') {
    // imgkit always derives the GUIDs from the volume date (reproducible); "random" is not.
    delete a.systemArea.gptDiskGuid;
    if (v === 'random') a.notes.push('gpt_disk_guid random: the GPT GUIDs come from the volume date, so that the image is reproducible');
    return;
  }
  if (!parseGuid(v)) throw usage(`gpt_disk_guid=${v}: give a GUID (XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX or 32 hex digits), random or modification-date`);
  a.systemArea.gptDiskGuid = v;
}

/** Native xorriso commands around the emulation (-boot_image, -volume_date, -joliet, …). */
function applyNative(a: MkisofsArgs, args: readonly string[]): void {
  for (let i = 0; i < args.length; i++) {
    const cmd = args[i]!.replace(/^--?/, '-');
    const take = (n: number): string[] => {
      if (i + n >= args.length) throw usage(`xorriso command ${args[i]} needs ${n} value${n > 1 ? 's' : ''}`);
      const v = args.slice(i + 1, i + 1 + n);
      i += n;
      return v;
    };
    const onOff = (v: string, what: string): boolean => {
      if (v === 'on') return true;
      if (v === 'off') return false;
      throw usage(`${what} ${v}: use on or off`);
    };
    switch (cmd) {
      case '-no_rc':
        break;
      case '-report_about':
      case '-abort_on':
      case '-return_with':
        take(cmd === '-return_with' ? 2 : 1);
        break;
      case '-joliet':
        a.joliet = onOff(take(1)[0]!, '-joliet');
        break;
      case '-rockridge':
        a.rock = onOff(take(1)[0]!, '-rockridge');
        break;
      case '-volid':
        a.ids.volid = take(1)[0]!;
        break;
      case '-volset_id':
        a.ids.volset = take(1)[0]!;
        break;
      case '-publisher':
        a.ids.publisher = take(1)[0]!;
        break;
      case '-application_id':
        a.ids.appid = take(1)[0]!;
        break;
      case '-system_id':
        a.ids.sysid = take(1)[0]!;
        break;
      case '-preparer_id':
        a.ids.preparer = take(1)[0]!;
        break;
      case '-padding': {
        const v = take(1)[0]!;
        const m = /^(\d+)([kmsd]?)$/.exec(v);
        if (!m) throw usage(`-padding ${v}: give a size (e.g. 300k)`);
        const bytes = Number(m[1]) * ({ '': 1, k: 1024, m: 1 << 20, s: 2048, d: 512 } as Record<string, number>)[m[2]!]!;
        a.padBlocks = Math.ceil(bytes / 2048);
        break;
      }
      case '-volume_date': {
        const [kind, value] = take(2) as [string, string];
        if (kind === 'uuid') a.dateUuid = checkDate('-volume_date uuid', value);
        else if (kind === 'all_file_dates') {
          if (value !== 'set_to_mtime' && value !== 'default') a.allFileDates = epochValue('-volume_date all_file_dates', value);
        } else if (kind === 'c' || kind === 'm' || kind === 'x' || kind === 'f') {
          const key = ({ c: 'creation', m: 'modification', x: 'expiration', f: 'effective' } as const)[kind];
          if (value === 'default') delete a.volumeDates[key];
          else a.volumeDates[key] = /^\d{16}$/.test(value) ? value : epochValue(`-volume_date ${kind}`, value);
        } else throw usage(`-volume_date ${kind}: use c, m, x, f, uuid or all_file_dates`);
        break;
      }
      case '-boot_image': {
        const [form, setting] = take(2) as [string, string];
        nativeBootImage(a, form, setting);
        break;
      }
      case '-as': {
        const who = take(1)[0]!;
        throw usage(`-as ${who}: only one "-as mkisofs" is emulated per run`);
      }
      default:
        throw usage(`xorriso command ${args[i]} is not supported in front of or behind -as mkisofs; use its mkisofs form inside the emulation`);
    }
  }
}

/** `-boot_image any|grub|isolinux SETTING=VALUE`, the settings remaster and build scripts use. */
function nativeBootImage(a: MkisofsArgs, form: string, setting: string): void {
  const eq = setting.indexOf('=');
  const key = eq < 0 ? setting : setting.slice(0, eq);
  const value = eq < 0 ? '' : setting.slice(eq + 1);
  const sa = a.systemArea;
  switch (key) {
    case 'gpt_disk_guid':
      gptGuid(a, value);
      return;
    case 'partition_offset':
      sa.partitionOffsetBlocks = partitionOffset(value);
      return;
    case 'partition_hd_cyl':
      sa.headsPerCylinder = wholeNumber(key, value, 1, 255);
      return;
    case 'partition_sec_hd':
      sa.sectorsPerHead = wholeNumber(key, value, 1, 63);
      return;
    case 'partition_cyl_align':
      if (!['auto', 'on', 'off', 'all'].includes(value)) throw usage(`-boot_image ${form} ${setting}: use auto, on, off or all`);
      sa.cylinderAlign = value as 'auto';
      return;
    case 'iso_mbr_part_type':
      sa.isoPartitionType = isoPartType(value);
      return;
    case 'mbr_force_bootable':
      sa.mbrForceBootable = value === 'on';
      return;
    case 'partition_table':
      sa.protectiveMsdosLabel = value === 'on';
      return;
    case 'appended_part_as':
      if (value === 'gpt') sa.appendedAsGpt = true;
      else if (value === 'mbr') sa.appendedAsGpt = false;
      else throw usage(`-boot_image ${form} ${setting}: use gpt or mbr`);
      return;
    case 'cat_hidden':
      a.catalogHidden = value === 'on';
      return;
    default:
      throw usage(`-boot_image ${form} ${setting}: not supported; give the boot options in mkisofs form after -as mkisofs`);
  }
}
