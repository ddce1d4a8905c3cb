/**
 * The recipe: one YAML (or JSON) file naming the inputs of an appliance build and the artifacts to
 * produce. Parsed with @imgkit/disk's layout text reader (the `yaml` library, which keeps each
 * node's line), checked here field by field; every error names the recipe file, the line and the
 * field (`recipe.yaml:12: artifacts[1].formats[0]: …`), as layout errors do. Disk artifacts carry
 * an inline @imgkit/disk layout, checked by the disk composer with the same locations.
 * The README ("The recipe") documents every key.
 */
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import type { CpioCompression as CpioCompressionName } from '@imgkit/cpio';
import type { SquashfsCompression as SquashfsCompressionName } from '@imgkit/squashfs';
import { dottedField, jsonPointer, parseLayoutText, type LayoutPath, type LayoutText } from '@imgkit/disk';

export type Arch = 'amd64' | 'arm64';
export const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

export type VmFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'ova';
export const VM_FORMATS: readonly VmFormat[] = ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx', 'ova'];
/** File extension of each disk format (`{ext}` in a name pattern). */
export const VM_EXTENSIONS: Readonly<Record<VmFormat, string>> = { raw: 'img', qcow2: 'qcow2', vmdk: 'vmdk', vhd: 'vhd', vhdx: 'vhdx', ova: 'ova' };

/** `{ext}` of an initramfs artifact built from a directory, by compression. */
export const INITRAMFS_EXTENSIONS: Readonly<Record<CpioCompressionName, string>> = { none: 'cpio', gzip: 'cpio.gz', zstd: 'cpio.zst', lz4: 'cpio.lz4', xz: 'cpio.xz' };

/** The default file name pattern of an artifact. */
export const DEFAULT_NAME = '{name}-{version}-{arch}.{ext}';
/** The update image's default name (the squashfs root, for the inactive slot). */
export const DEFAULT_UPDATE_NAME = 'system-{version}.squashfs';

export interface RootSpec {
  /** Directories or tar archives, applied in order: a later layer replaces what an earlier one has at the same path. */
  layers: string[];
  /** gen_init_cpio manifest applied on top (owners, modes, device nodes, host files). */
  manifest?: string;
  /** Every entry owned by 0:0. @default false */
  allRoot?: boolean;
}

export interface SquashfsSpec {
  /** @default 'zstd' */
  compression: SquashfsCompressionName;
  level?: number;
  blockSize?: number;
}

export interface ModulesSpec {
  /** The kernel's module directory (`/lib/modules/*`: the newest match), holding modules.dep. */
  from: string;
  /** Module names (as in modules.dep, `-` and `_` alike); their dependencies come too, first. */
  load: string[];
}

export interface InitramfsSpec {
  /** A ready initramfs file; or */
  file?: string;
  /** a directory (or tar) archived as newc cpio, */
  dir?: string;
  manifest?: string;
  modules?: ModulesSpec;
  /** @default 'gzip' */
  compression: CpioCompressionName;
}

export interface BootEntrySpec {
  label: string;
  /** A host kernel for this entry. @default the recipe's `kernel` */
  kernel?: string;
  /** A host initramfs for this entry. @default the recipe's initramfs */
  initrd?: string;
  cmdline: string;
}

export interface BootSpec {
  /** Where the boot loaders talk. @default 'both' */
  console: 'serial' | 'vga' | 'both';
  /** Seconds the menu waits. @default 0 */
  timeout: number;
  isolinux?: { bin: string; ldlinux: string; mbr?: string; config?: string };
  /** The UEFI loader (a GRUB EFI image) installed as EFI/BOOT/BOOTX64.EFI or BOOTAA64.EFI, and its grub.cfg if not generated. */
  efi?: { loader: string; grubConfig?: string };
  entries: BootEntrySpec[];
}

interface ArtifactBase {
  /** Index in `artifacts`. */
  index: number;
  /** File name pattern ({name} {version} {arch} {ext}). */
  name: string;
}
export interface IsoArtifact extends ArtifactBase {
  type: 'iso';
  volumeId: string;
  /** Where the root squashfs goes in the ISO. @default 'live/filesystem.squashfs' */
  squashfsPath: string;
  /** Extra files for the ISO's root (a directory or tar), e.g. an answer file. */
  files?: string;
  /** The boot entry booted by default. @default the first */
  bootEntry?: string;
}
export interface DiskArtifact extends ArtifactBase {
  type: 'disk';
  formats: VmFormat[];
  /** The inline @imgkit/disk layout (its own keys; `@esp`, `@root`, `@system.squashfs` name generated inputs). */
  layout: unknown;
  /** Where `layout` is in the recipe (for errors). */
  layoutAt: LayoutPath;
  /** The boot entry the ESP's grub.cfg boots by default. @default the first */
  bootEntry?: string;
}
export interface FileArtifact extends ArtifactBase {
  type: 'update' | 'tar' | 'initramfs';
}
export type Artifact = IsoArtifact | DiskArtifact | FileArtifact;
export type ArtifactType = Artifact['type'];
export const ARTIFACT_TYPES: readonly ArtifactType[] = ['iso', 'disk', 'update', 'tar', 'initramfs'];

export interface Recipe {
  name: string;
  version: string;
  arch: Arch;
  /** Seconds; SOURCE_DATE_EPOCH given to the build wins. */
  epoch?: number;
  root?: RootSpec;
  squashfs: SquashfsSpec;
  kernel?: string;
  initramfs?: InitramfsSpec;
  boot?: BootSpec;
  artifacts: Artifact[];
  /** The parsed text, for locating errors. */
  text: LayoutText;
}

/** Where errors point: the recipe file and how a path inside it is named. */
export interface RecipeLocator {
  name: string | undefined;
  lineOf(path: LayoutPath): number | undefined;
  fieldName(path: LayoutPath): string;
}

/** An error located in the recipe: `path` = the recipe file, `line`, `field`; detail starts with the field. */
export function recipeError(loc: RecipeLocator, at: LayoutPath, code: ImgkitError['code'], detail: string, hint?: string, cause?: unknown): ImgkitError {
  const field = loc.fieldName(at);
  const line = loc.lineOf(at);
  return new ImgkitError(code, {
    format: 'build',
    ...(loc.name !== undefined ? { path: loc.name } : {}),
    ...(line !== undefined ? { line } : {}),
    field,
    detail: `${field}: ${detail}`,
    ...(hint !== undefined ? { hint } : {}),
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** The same error located at `at` in the recipe (code kept, original as cause); errors already located in the recipe pass. */
export function relocateRecipe(loc: RecipeLocator, at: LayoutPath, err: unknown, prefix = ''): unknown {
  if (!(err instanceof ImgkitError)) return err;
  if (err.path !== undefined && err.path === loc.name && (err.format === 'build' || err.line !== undefined)) return err; // already located in the recipe
  const inner = err.path !== undefined && err.path !== '' ? `${err.path}: ` : '';
  return recipeError(loc, at, err.code, `${prefix}${inner}${err.detail}`, err.hint, err);
}

/** The layout text of a disk artifact: its values, lines and field names inside the recipe. */
export function layoutTextAt(text: LayoutText, at: LayoutPath): LayoutText {
  const full = (p: LayoutPath): LayoutPath => [...at, ...p];
  return {
    value: valueAt(text.value, at),
    name: text.name,
    syntax: text.syntax,
    lineOf: (p) => text.lineOf(full(p)),
    fieldName: (p) => (text.syntax === 'json' ? jsonPointer(full(p)) : dottedField(full(p))),
  };
}

function valueAt(v: unknown, at: LayoutPath): unknown {
  let cur = v;
  for (const k of at) cur = (cur as Record<string | number, unknown>)[k];
  return cur;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const TOP_KEYS = ['name', 'version', 'arch', 'epoch', 'root', 'squashfs', 'kernel', 'initramfs', 'boot', 'artifacts'];
const ROOT_KEYS = ['layers', 'manifest', 'allRoot'];
const SQUASHFS_KEYS = ['compression', 'level', 'blockSize'];
const INITRAMFS_KEYS = ['file', 'dir', 'manifest', 'modules', 'compression'];
const MODULES_KEYS = ['from', 'load'];
const BOOT_KEYS = ['console', 'timeout', 'isolinux', 'efi', 'entries'];
const ISOLINUX_KEYS = ['bin', 'ldlinux', 'mbr', 'config'];
const EFI_KEYS = ['loader', 'grubConfig'];
const ENTRY_KEYS = ['label', 'kernel', 'initrd', 'cmdline'];
const ARTIFACT_KEYS: Record<ArtifactType, readonly string[]> = {
  iso: ['type', 'name', 'volumeId', 'squashfsPath', 'files', 'bootEntry'],
  disk: ['type', 'name', 'formats', 'layout', 'bootEntry'],
  update: ['type', 'name'],
  tar: ['type', 'name'],
  initramfs: ['type', 'name'],
};
const SQUASHFS_COMPRESSIONS: readonly SquashfsCompressionName[] = ['gzip', 'zstd', 'lz4', 'xz'];
const CPIO_COMPRESSIONS: readonly CpioCompressionName[] = ['none', 'gzip', 'zstd', 'lz4', 'xz'];
/** Version and name go into file names: no path separators, nothing a shell or a FAT would choke on. */
const NAME_TEXT = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;

/** Parse and check a recipe's text (YAML, or JSON when named .json or starting with `{`). */
export function parseRecipe(text: string, name?: string): Recipe {
  let parsed: LayoutText;
  try {
    parsed = parseLayoutText(text, name);
  } catch (err) {
    if (err instanceof ImgkitError) {
      throw new ImgkitError(err.code, { format: 'build', ...(err.path !== undefined ? { path: err.path } : {}), ...(err.line !== undefined ? { line: err.line } : {}), detail: err.detail, ...(err.hint !== undefined ? { hint: err.hint } : {}), cause: err });
    }
    throw err;
  }
  return validateRecipe(parsed);
}

/** Check a parsed recipe document. */
export function validateRecipe(text: LayoutText): Recipe {
  const loc: RecipeLocator = { name: text.name, lineOf: (p) => text.lineOf(p), fieldName: (p) => text.fieldName(p) };
  const bad = (at: LayoutPath, detail: string, hint?: string) => recipeError(loc, at, ErrorCodes.BAD_OPTION, detail, hint);
  const keysOf = (o: Obj, at: LayoutPath, known: readonly string[], what: string) => {
    for (const k of Object.keys(o)) if (!known.includes(k)) throw bad([...at, k], `unknown key "${k}" in ${what}`, `known keys: ${known.join(', ')}`);
  };
  const obj = (v: unknown, at: LayoutPath, what: string): Obj => {
    if (!isObj(v)) throw bad(at, `${what} must be a mapping (key: value), not ${JSON.stringify(v)}`);
    return v;
  };
  const str = (o: Obj, k: string, at: LayoutPath, required = false): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) {
      if (required) throw bad([...at, k], 'is required');
      return undefined;
    }
    if (typeof v === 'number' && (k === 'version')) return String(v);
    if (typeof v !== 'string' || v === '') throw bad([...at, k], `${JSON.stringify(v)} is not a non-empty string`);
    return v;
  };
  const bool = (o: Obj, k: string, at: LayoutPath): boolean | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw bad([...at, k], `${JSON.stringify(v)} is not true or false`);
    return v;
  };
  const int = (o: Obj, k: string, at: LayoutPath, min: number, max: number): number | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad([...at, k], `${JSON.stringify(v)} is not a whole number from ${min} to ${max}`);
    return v;
  };
  const oneOf = <T extends string>(o: Obj, k: string, at: LayoutPath, allowed: readonly T[], dflt: T): T => {
    const v = o[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw bad([...at, k], `${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
    return v as T;
  };
  const strList = (o: Obj, k: string, at: LayoutPath): string[] | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0) throw bad([...at, k], 'must be a non-empty list of strings');
    return list.map((x, i) => {
      if (typeof x !== 'string' || x === '') throw bad([...at, k, i], `${JSON.stringify(x)} is not a non-empty string`);
      return x;
    });
  };

  const top = obj(text.value, [], 'the recipe');
  keysOf(top, [], TOP_KEYS, 'the recipe');
  const name = str(top, 'name', [], true)!;
  const version = str(top, 'version', [], true)!;
  for (const [k, v] of [['name', name], ['version', version]] as const) {
    if (!NAME_TEXT.test(v)) throw bad([k], `"${v}" goes into file names: use letters, digits and . _ + ~ - (starting with a letter or digit)`);
  }
  const arch = oneOf(top, 'arch', [], ARCHES, 'amd64');
  const epoch = int(top, 'epoch', [], 0, 2 ** 32 - 1);

  let root: RootSpec | undefined;
  if (top.root !== undefined) {
    const at = ['root'];
    // `root: rootfs/` and `root: [base.tar, overlay/]` are shorthands for `root: { layers: … }`.
    const r = typeof top.root === 'string' || Array.isArray(top.root) ? { layers: top.root } : obj(top.root, at, 'root');
    keysOf(r, at, ROOT_KEYS, 'root');
    root = { layers: strList(r, 'layers', at) ?? (() => { throw bad([...at, 'layers'], 'is required: the directories or tar archives of the root, in order'); })() };
    const m = str(r, 'manifest', at);
    if (m !== undefined) root.manifest = m;
    const ar = bool(r, 'allRoot', at);
    if (ar !== undefined) root.allRoot = ar;
  }

  const sq: SquashfsSpec = { compression: 'zstd' };
  if (top.squashfs !== undefined) {
    const s = obj(top.squashfs, ['squashfs'], 'squashfs');
    keysOf(s, ['squashfs'], SQUASHFS_KEYS, 'squashfs');
    sq.compression = oneOf(s, 'compression', ['squashfs'], SQUASHFS_COMPRESSIONS, 'zstd');
    const level = int(s, 'level', ['squashfs'], 0, 22);
    if (level !== undefined) sq.level = level;
    const bs = int(s, 'blockSize', ['squashfs'], 4096, 1 << 20);
    if (bs !== undefined) {
      if ((bs & (bs - 1)) !== 0) throw bad(['squashfs', 'blockSize'], `${bs} is not a power of two`, 'use 4096 … 1048576, e.g. 131072 (128 KiB, mksquashfs default)');
      sq.blockSize = bs;
    }
  }

  const kernel = str(top, 'kernel', []);

  let initramfs: InitramfsSpec | undefined;
  if (top.initramfs !== undefined) {
    const at = ['initramfs'];
    const i = typeof top.initramfs === 'string' ? { file: top.initramfs } : obj(top.initramfs, at, 'initramfs');
    keysOf(i, at, INITRAMFS_KEYS, 'initramfs');
    initramfs = { compression: oneOf(i, 'compression', at, CPIO_COMPRESSIONS, 'gzip') };
    const file = str(i, 'file', at);
    const dir = str(i, 'dir', at);
    if ((file === undefined) === (dir === undefined)) throw bad(at, file === undefined ? 'give `file` (a ready initramfs) or `dir` (a directory to archive)' : '`file` and `dir` both given; give one');
    if (file !== undefined) {
      initramfs.file = file;
      for (const k of ['manifest', 'modules', 'compression']) if (i[k] !== undefined) throw bad([...at, k], `applies to an initramfs built from \`dir\`, not to a ready \`file\``);
    } else initramfs.dir = dir!;
    const m = str(i, 'manifest', at);
    if (m !== undefined) initramfs.manifest = m;
    if (i.modules !== undefined) {
      const mat = [...at, 'modules'];
      const mo = obj(i.modules, mat, 'initramfs.modules');
      keysOf(mo, mat, MODULES_KEYS, 'initramfs.modules');
      initramfs.modules = { from: str(mo, 'from', mat, true)!, load: strList(mo, 'load', mat) ?? (() => { throw bad([...mat, 'load'], 'is required: the module names to load'); })() };
    }
  }

  let boot: BootSpec | undefined;
  if (top.boot !== undefined) {
    const at = ['boot'];
    const b = obj(top.boot, at, 'boot');
    keysOf(b, at, BOOT_KEYS, 'boot');
    boot = { console: oneOf(b, 'console', at, ['serial', 'vga', 'both'] as const, 'both'), timeout: int(b, 'timeout', at, 0, 3600) ?? 0, entries: [] };
    if (b.isolinux !== undefined) {
      const iat = [...at, 'isolinux'];
      const il = obj(b.isolinux, iat, 'boot.isolinux');
      keysOf(il, iat, ISOLINUX_KEYS, 'boot.isolinux');
      boot.isolinux = { bin: str(il, 'bin', iat, true)!, ldlinux: str(il, 'ldlinux', iat, true)! };
      const mbr = str(il, 'mbr', iat);
      if (mbr !== undefined) boot.isolinux.mbr = mbr;
      const cfg = str(il, 'config', iat);
      if (cfg !== undefined) boot.isolinux.config = cfg;
      if (arch !== 'amd64') throw bad(iat, `isolinux boots x86 PCs only; this recipe's arch is ${arch}`, 'leave boot.isolinux out (arm64 boots through UEFI: boot.efi)');
    }
    if (b.efi !== undefined) {
      const eat = [...at, 'efi'];
      const e = obj(b.efi, eat, 'boot.efi');
      keysOf(e, eat, EFI_KEYS, 'boot.efi');
      boot.efi = { loader: str(e, 'loader', eat, true)! };
      const g = str(e, 'grubConfig', eat);
      if (g !== undefined) boot.efi.grubConfig = g;
    }
    const entries = b.entries;
    if (!Array.isArray(entries) || entries.length === 0) throw bad([...at, 'entries'], 'must list at least one boot entry { label, cmdline }');
    const labels = new Set<string>();
    entries.forEach((raw, n) => {
      const eat = [...at, 'entries', n];
      const e = obj(raw, eat, 'a boot entry');
      keysOf(e, eat, ENTRY_KEYS, 'a boot entry');
      const label = str(e, 'label', eat, true)!;
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(label)) throw bad([...eat, 'label'], `"${label}" must be letters, digits and . _ - (it is an isolinux LABEL and a GRUB menu id)`);
      if (labels.has(label)) throw bad([...eat, 'label'], `"${label}" is used by an earlier entry`);
      labels.add(label);
      const cmdline = e.cmdline === undefined || e.cmdline === null ? '' : e.cmdline;
      if (typeof cmdline !== 'string' || /[\n\r]/.test(cmdline)) throw bad([...eat, 'cmdline'], 'must be one line of text');
      const entry: BootEntrySpec = { label, cmdline };
      const k = str(e, 'kernel', eat);
      if (k !== undefined) entry.kernel = k;
      const ir = str(e, 'initrd', eat);
      if (ir !== undefined) entry.initrd = ir;
      if (entry.kernel === undefined && kernel === undefined) throw bad([...eat, 'kernel'], 'no kernel: give the recipe a `kernel` or this entry its own');
      boot!.entries.push(entry);
    });
  }

  const entryOf = (a: Obj, at: LayoutPath): string | undefined => {
    const label = str(a, 'bootEntry', at);
    if (label !== undefined && !boot?.entries.some((e) => e.label === label)) throw bad([...at, 'bootEntry'], `"${label}" is not a boot entry's label`, `labels: ${(boot?.entries ?? []).map((e) => e.label).join(', ') || '(no boot entries)'}`);
    return label;
  };
  const list = top.artifacts;
  if (!Array.isArray(list) || list.length === 0) throw bad(['artifacts'], 'must list at least one artifact', `types: ${ARTIFACT_TYPES.join(', ')}`);
  const artifacts: Artifact[] = [];
  list.forEach((raw, index) => {
    const at = ['artifacts', index];
    // `- iso` is short for `- { type: iso }`.
    const a = typeof raw === 'string' ? { type: raw } : obj(raw, at, 'an artifact');
    const type = a.type;
    if (typeof type !== 'string' || !(ARTIFACT_TYPES as readonly string[]).includes(type)) throw bad([...at, 'type'], `${JSON.stringify(type)} is not an artifact type`, `types: ${ARTIFACT_TYPES.join(', ')}`);
    const t = type as ArtifactType;
    keysOf(a, at, ARTIFACT_KEYS[t], `a ${t} artifact`);
    const name = str(a, 'name', at) ?? (t === 'update' ? DEFAULT_UPDATE_NAME : DEFAULT_NAME);
    const unknown = /\{(?!name\}|version\}|arch\}|ext\})[^}]*\}/.exec(name);
    if (unknown) throw bad([...at, 'name'], `unknown placeholder ${unknown[0]}`, 'placeholders: {name} {version} {arch} {ext}');
    switch (t) {
      case 'iso': {
        const volumeId = str(a, 'volumeId', at) ?? String(top.name).toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 32);
        const squashfsPath = (str(a, 'squashfsPath', at) ?? 'live/filesystem.squashfs').replace(/^\/+/, '');
        const iso: IsoArtifact = { type: t, index, name, volumeId, squashfsPath };
        const files = str(a, 'files', at);
        if (files !== undefined) iso.files = files;
        const be = entryOf(a, at);
        if (be !== undefined) iso.bootEntry = be;
        if (!boot) throw bad(at, 'an ISO needs `boot` (boot loaders and entries)');
        if (!boot.efi && !boot.isolinux) throw bad(['boot'], 'an ISO needs a boot loader: boot.isolinux (BIOS) and/or boot.efi (UEFI)');
        artifacts.push(iso);
        break;
      }
      case 'disk': {
        const formats = strList(a, 'formats', at) ?? ['raw'];
        formats.forEach((f, n) => {
          if (!(VM_FORMATS as readonly string[]).includes(f)) throw bad([...at, 'formats', n], `"${f}" is not a disk format`, `formats: ${VM_FORMATS.join(', ')}`);
        });
        if (new Set(formats).size !== formats.length) throw bad([...at, 'formats'], 'lists a format twice');
        if (!isObj(a.layout)) throw bad([...at, 'layout'], 'is required: the disk layout (as @imgkit/disk takes it: table, partitions, …)');
        const disk: DiskArtifact = { type: t, index, name, formats: formats as VmFormat[], layout: a.layout, layoutAt: [...at, 'layout'] };
        const be = entryOf(a, at);
        if (be !== undefined) disk.bootEntry = be;
        artifacts.push(disk);
        break;
      }
      default:
        artifacts.push({ type: t, index, name });
    }
  });

  const recipe: Recipe = { name, version, arch, squashfs: sq, artifacts, text };
  if (epoch !== undefined) recipe.epoch = epoch;
  if (root) recipe.root = root;
  if (kernel !== undefined) recipe.kernel = kernel;
  if (initramfs) recipe.initramfs = initramfs;
  if (boot) recipe.boot = boot;

  // What the artifacts need from the inputs.
  artifacts.forEach((a) => {
    const at = ['artifacts', a.index];
    if ((a.type === 'update' || a.type === 'tar') && !root) throw bad(at, `a ${a.type} artifact needs \`root\` (the system's tree)`);
    if (a.type === 'initramfs' && !initramfs) throw bad(at, 'an initramfs artifact needs `initramfs`');
    if (a.type === 'iso' && boot && !kernel && boot.entries.some((e) => !e.kernel)) throw bad(['kernel'], 'is required by the ISO\'s boot entries');
  });
  // Two artifacts must not write the same file.
  const seen = new Map<string, LayoutPath>();
  for (const a of artifacts) {
    for (const file of artifactFiles(recipe, a)) {
      if (file.includes('/') || file.startsWith('.')) throw bad(['artifacts', a.index, 'name'], `"${file}" is not a plain file name in the output directory`);
      const prev = seen.get(file);
      if (prev) throw bad(['artifacts', a.index, 'name'], `writes ${file}, as ${loc.fieldName(prev)} does`, 'give one of them its own `name:` pattern');
      seen.set(file, ['artifacts', a.index]);
    }
  }
  return recipe;
}

/** The file name of an artifact for an extension. */
export function fileName(recipe: Pick<Recipe, 'name' | 'version' | 'arch'>, pattern: string, ext: string): string {
  return pattern.replace(/\{name\}/g, recipe.name).replace(/\{version\}/g, recipe.version).replace(/\{arch\}/g, recipe.arch).replace(/\{ext\}/g, ext);
}

/** The files an artifact writes (without their .sha256). */
export function artifactFiles(recipe: Pick<Recipe, 'name' | 'version' | 'arch' | 'initramfs'>, a: Artifact): string[] {
  switch (a.type) {
    case 'iso':
      return [fileName(recipe, a.name, 'iso')];
    case 'disk':
      return a.formats.map((f) => fileName(recipe, a.name, VM_EXTENSIONS[f]));
    case 'update':
      return [fileName(recipe, a.name, 'squashfs')];
    case 'tar':
      return [fileName(recipe, a.name, 'tar')];
    case 'initramfs':
      return [fileName(recipe, a.name, recipe.initramfs?.file !== undefined ? 'img' : INITRAMFS_EXTENSIONS[recipe.initramfs?.compression ?? 'gzip'])];
  }
}
