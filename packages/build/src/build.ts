/**
 * `runBuild(recipe, options)`: every artifact of a recipe, in one run, sharing work.
 *
 * Order (each step once, whatever number of artifacts use it):
 * 1. Inputs: globs resolved (`/boot/vmlinuz-*`: the newest match), every named file and directory
 *    checked, before anything is written — a missing input is an error at its recipe line.
 * 2. The root tree: layers overlaid in order (trees.ts), owners forced, the manifest on top, times
 *    clamped to the epoch. Metadata only; contents are read by each writer.
 * 3. The initramfs: a ready file, or built from a directory (+ manifest, + kernel modules) as cpio,
 *    held in memory (an initramfs is small; its compressed size is known only once written, and
 *    the ISO and the ESP need it as a file of known size).
 * 4. The root squashfs, written once: as the update image (`system-{version}.squashfs`) when the
 *    recipe asks for one, else to a hidden file in the output directory removed at the end. The
 *    ISO streams it from there as `live/filesystem.squashfs`; disks take it as `@system.squashfs`.
 * 5. The artifacts in recipe order, each into its final name (written under a temporary name and
 *    renamed, by the host's sink), then its `.sha256` (sha256sum's format) beside it.
 *
 * Node-free: files, outputs and hashing go through `BuildFiles` / `BuildOutput` (`@imgkit/build/node`
 * gives the local filesystem).
 */
import {
  applyManifest,
  concatBytes,
  applyOwnership,
  ErrorCodes,
  ImgkitError,
  MemorySink,
  parseManifest,
  readRange,
  Sha256,
  tarSource,
  type ByteSink,
  type RandomAccessReader,
  type SourceTree,
  type WarningHandler,
  type WorkerPool,
} from '@imgkit/core';
import { planCpio } from '@imgkit/cpio';
import { planLayout, validateLayout, type LayoutFiles } from '@imgkit/disk';
import { writeLayoutImage } from '@imgkit/disk';
import { planIso, type IsoContent, type IsoOptions } from '@imgkit/iso9660';
import { planSquashfs } from '@imgkit/squashfs';
import type { OutputFormat } from '@imgkit/vdisk';
import { grubConfig, grubEnvironmentBlock, isolinuxConfig, type PlacedEntry } from './boot-config.js';
import { moduleBytes, resolveModules } from './modules.js';
import { artifactFiles, layoutTextAt, recipeError, relocateRecipe, type Artifact, type DiskArtifact, type IsoArtifact, type Recipe, type RecipeLocator } from './recipe.js';
import { writeTar } from './tar.js';
import { generatedTree, overlayTrees, type GeneratedFile } from './trees.js';
import type { LayoutPath } from '@imgkit/disk';

/** The recipe's files: @imgkit/disk's `LayoutFiles` (paths relative to the recipe) and globbing. */
export interface BuildFiles extends LayoutFiles {
  /** Paths matching `pattern` (`*` and `?` in its last component), sorted. */
  glob(pattern: string): Promise<string[]>;
}

/** The output directory. */
export interface BuildOutput {
  /** A new file `name` (written under a temporary name, renamed on close, removed on abort). */
  create(name: string): Promise<ByteSink>;
  /** Read a file this build wrote. */
  reader(name: string): Promise<RandomAccessReader & { close?(): Promise<void> }>;
  /** Remove a file this build wrote (the hidden squashfs when no update image is asked for). */
  remove(name: string): Promise<void>;
  /** Where `name` is, for messages. */
  resolve(name: string): string;
  /**
   * SHA-256 of a file this build wrote, lowercase hex, and its size. Optional: without it the
   * file is read back through `reader` and hashed by core's `Sha256` (pure TypeScript, slower).
   */
  sha256?(name: string): Promise<{ sha256: string; sizeBytes: number }>;
}

export type BuildEvent =
  | { type: 'start'; artifact: string; file: string }
  | { type: 'done'; artifact: string; file: string; sizeBytes: number; sha256: string };

export interface BuildOptions {
  files: BuildFiles;
  output: BuildOutput;
  /** Seconds (SOURCE_DATE_EPOCH): wins over the recipe's `epoch`. @default the recipe's, else 0 */
  epoch?: number;
  pool?: WorkerPool;
  onWarning?: WarningHandler;
  strict?: boolean;
  /** A line per artifact: when it starts and when it is done (size, sha256). */
  onProgress?: (e: BuildEvent) => void;
}

export interface ArtifactResult {
  /** What it is: `iso`, `disk qcow2`, `update`, `tar`, `initramfs`. */
  artifact: string;
  file: string;
  sizeBytes: number;
  /** Lowercase hex, also in `<file>.sha256`. */
  sha256: string;
}

export interface BuildResult {
  artifacts: ArtifactResult[];
  /** The kernel version found from `initramfs.modules.from`, when given. */
  kernelVersion: string | undefined;
}

/** Generated inputs a disk layout can name. */
export const GENERATED_ESP = '@esp';
export const GENERATED_ROOT = '@root';
export const GENERATED_SQUASHFS = '@system.squashfs';
export const GENERATED_INITRAMFS = '@initramfs';

const DISK_FORMAT: Record<string, OutputFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vhd: 'vhd', vhdx: 'vhdx', ova: 'ova' };

interface HostFile {
  /** The path as resolved (glob expanded), relative to the recipe or absolute. */
  path: string;
  size: number;
  /** Where it is named in the recipe. */
  at: LayoutPath;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

export async function runBuild(recipe: Recipe, o: BuildOptions): Promise<BuildResult> {
  // Readers of tar inputs stay open while any artifact may walk them; all are closed here, on
  // success and on error (Node ≥ 24 ends the process when a FileHandle is closed by the GC).
  const held: { close?(): Promise<void> }[] = [];
  try {
    return await buildWith(recipe, o, held);
  } finally {
    for (const r of held) await r.close?.().catch(() => {});
  }
}

async function buildWith(recipe: Recipe, o: BuildOptions, held: { close?(): Promise<void> }[]): Promise<BuildResult> {
  const loc: RecipeLocator = { name: recipe.text.name, lineOf: (p) => recipe.text.lineOf(p), fieldName: (p) => recipe.text.fieldName(p) };
  const epoch = o.epoch ?? recipe.epoch ?? 0;
  const files = o.files;
  const results: ArtifactResult[] = [];
  const missing = (at: LayoutPath, path: string, what: string, hint?: string) =>
    recipeError(loc, at, ErrorCodes.SOURCE_MISSING, `${what} ${files.resolve(path)} does not exist`, hint);

  // An error naming an input file (a manifest line, a tar archive) is located where the recipe names that file.
  const inputs = new Map<string, LayoutPath>();
  if (recipe.root?.manifest !== undefined) inputs.set(files.resolve(recipe.root.manifest), ['root', 'manifest']);
  recipe.root?.layers.forEach((l, n) => inputs.set(files.resolve(l), ['root', 'layers', n]));
  if (recipe.initramfs?.manifest !== undefined) inputs.set(files.resolve(recipe.initramfs.manifest), ['initramfs', 'manifest']);
  const inputAt = (err: unknown): LayoutPath | undefined => (err instanceof ImgkitError && err.path !== undefined ? inputs.get(err.path) : undefined);

  // ---- 1. inputs ----
  const expand = async (path: string, at: LayoutPath): Promise<string> => {
    if (!/[*?]/.test(path)) return path;
    const found = await files.glob(path);
    if (found.length === 0) throw recipeError(loc, at, ErrorCodes.SOURCE_MISSING, `nothing matches ${path}`, 'install the package that provides it (the kernel: apt-get install linux-image-amd64)');
    return found.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1)!; // the newest version
  };
  const hostFile = async (path: string, at: LayoutPath, what: string): Promise<HostFile> => {
    const p = await expand(path, at);
    const st = await files.stat(p);
    if (st.kind === 'missing') throw missing(at, p, what);
    if (st.kind !== 'file') throw recipeError(loc, at, ErrorCodes.BAD_OPTION, `${what} ${files.resolve(p)} is not a regular file`);
    return { path: p, size: st.size, at };
  };
  const treeInput = async (path: string, at: LayoutPath, what: string): Promise<SourceTree> => {
    const st = await files.stat(path);
    if (st.kind === 'missing') throw missing(at, path, what);
    if (st.kind === 'dir') return files.tree(path, {});
    if (st.kind === 'file') {
      const r = await files.reader(path);
      held.push(r);
      return tarSource(r, { name: files.resolve(path) });
    }
    throw recipeError(loc, at, ErrorCodes.BAD_OPTION, `${what} ${files.resolve(path)} is neither a directory nor a tar archive`);
  };
  const hostRead = (f: HostFile) => async function* () {
    const r = await files.reader(f.path);
    try {
      yield* readRange(r, 0, r.size);
    } finally {
      await r.close?.();
    }
  };
  const manifestOver = async (tree: SourceTree, manifest: string, at: LayoutPath): Promise<SourceTree> => {
    const st = await files.stat(manifest);
    if (st.kind !== 'file') throw missing(at, manifest, 'the manifest');
    const parsed = parseManifest(await files.readText(manifest), files.resolve(manifest), { ...(o.onWarning ? { onWarning: o.onWarning } : {}), strict: o.strict === true });
    return applyManifest(tree, parsed, { hostFiles: files.hostFiles(manifest), mtime: epoch });
  };

  const kernel = recipe.kernel !== undefined ? await hostFile(recipe.kernel, ['kernel'], 'the kernel') : undefined;
  const boot = recipe.boot;
  const isolinux = boot?.isolinux
    ? {
        bin: await hostFile(boot.isolinux.bin, ['boot', 'isolinux', 'bin'], 'isolinux.bin'),
        ldlinux: await hostFile(boot.isolinux.ldlinux, ['boot', 'isolinux', 'ldlinux'], 'ldlinux.c32'),
        mbr: boot.isolinux.mbr !== undefined ? await hostFile(boot.isolinux.mbr, ['boot', 'isolinux', 'mbr'], 'the isohybrid MBR') : undefined,
        config: boot.isolinux.config !== undefined ? await hostFile(boot.isolinux.config, ['boot', 'isolinux', 'config'], 'isolinux.cfg') : undefined,
      }
    : undefined;
  const efi = boot?.efi
    ? {
        loader: await hostFile(boot.efi.loader, ['boot', 'efi', 'loader'], 'the UEFI loader'),
        grubConfig: boot.efi.grubConfig !== undefined ? await hostFile(boot.efi.grubConfig, ['boot', 'efi', 'grubConfig'], 'grub.cfg') : undefined,
      }
    : undefined;
  const entryFiles = boot
    ? await Promise.all(
        boot.entries.map(async (e, n) => ({
          kernel: e.kernel !== undefined ? await hostFile(e.kernel, ['boot', 'entries', n, 'kernel'], 'the kernel') : undefined,
          initrd: e.initrd !== undefined ? await hostFile(e.initrd, ['boot', 'entries', n, 'initrd'], 'the initramfs') : undefined,
        })),
      )
    : [];
  for (const a of recipe.artifacts) {
    // Disk layouts are checked (keys, sizes, types) before anything is written.
    if (a.type === 'disk') {
      const t = layoutTextAt(recipe.text, a.layoutAt);
      validateLayout(t.value, { name: t.name, lineOf: t.lineOf, fieldName: t.fieldName });
    }
    if (a.type === 'iso' && a.files !== undefined) {
      const st = await files.stat(a.files);
      if (st.kind === 'missing') throw missing(['artifacts', a.index, 'files'], a.files, 'the directory');
    }
  }

  // The output directory must not be inside a source directory: the build would read its own outputs.
  const outDir = o.output.resolve('').replace(/\/+$/, '');
  const sourceDirs: [string, LayoutPath][] = [
    ...(recipe.root?.layers.map((l, n): [string, LayoutPath] => [l, ['root', 'layers', n]]) ?? []),
    ...(recipe.initramfs?.dir !== undefined ? [[recipe.initramfs.dir, ['initramfs', 'dir']] as [string, LayoutPath]] : []),
    ...recipe.artifacts.flatMap((a): [string, LayoutPath][] => (a.type === 'iso' && a.files !== undefined ? [[a.files, ['artifacts', a.index, 'files']]] : [])),
  ];
  for (const [dir, at] of sourceDirs) {
    if ((await files.stat(dir)).kind !== 'dir') continue;
    const src = files.resolve(dir).replace(/\/+$/, '');
    if (outDir === src || outDir.startsWith(`${src}/`)) {
      throw recipeError(loc, at, ErrorCodes.OUTPUT_IN_SOURCE, `the output directory ${outDir} is inside ${src}, which the build reads`, 'give --out a directory outside the sources');
    }
  }

  // ---- 2. the root tree ----
  let root: SourceTree | undefined;
  if (recipe.root) {
    const layers: SourceTree[] = [];
    for (const [n, layer] of recipe.root.layers.entries()) layers.push(await treeInput(layer, ['root', 'layers', n], 'the root layer'));
    let tree = overlayTrees(layers);
    if (recipe.root.allRoot) tree = applyOwnership(tree, { allRoot: true });
    if (recipe.root.manifest !== undefined) tree = await manifestOver(tree, recipe.root.manifest, ['root', 'manifest']);
    root = applyOwnership(tree, { epoch });
  }

  // ---- 3. the initramfs ----
  let initramfs: { size: number; read: () => AsyncIterable<Uint8Array>; bytes?: Uint8Array } | undefined;
  let kernelVersion: string | undefined;
  const ir = recipe.initramfs;
  if (ir?.file !== undefined) {
    const f = await hostFile(ir.file, ['initramfs', 'file'], 'the initramfs');
    initramfs = { size: f.size, read: hostRead(f) };
  } else if (ir?.dir !== undefined) {
    let tree = applyOwnership(await treeInput(ir.dir, ['initramfs', 'dir'], 'the initramfs directory'), { allRoot: true });
    if (ir.modules) {
      const at: LayoutPath = ['initramfs', 'modules', 'from'];
      const from = await expand(ir.modules.from, at);
      kernelVersion = from.replace(/\/+$/, '').split('/').pop();
      const dep = `${from.replace(/\/+$/, '')}/modules.dep`;
      if ((await files.stat(dep)).kind !== 'file') throw missing(at, dep, 'modules.dep', 'give the kernel\'s module directory, e.g. /lib/modules/* (apt-get install linux-image-amd64)');
      let mods;
      try {
        mods = resolveModules(await files.readText(dep), ir.modules.load, files.resolve(dep));
      } catch (err) {
        throw relocateRecipe(loc, ['initramfs', 'modules', 'load'], err);
      }
      const gen: GeneratedFile[] = [];
      for (const m of mods) {
        const r = await files.reader(`${from.replace(/\/+$/, '')}/${m.file}`);
        try {
          gen.push({ path: `lib/modules/${m.name}.ko`, content: await moduleBytes(r, m) });
        } finally {
          await r.close?.();
        }
      }
      gen.push({ path: 'lib/modules/load.list', content: mods.map((m) => `${m.name}\n`).join('') });
      tree = overlayTrees([tree, generatedTree(gen, epoch)]);
    }
    if (ir.manifest !== undefined) tree = await manifestOver(tree, ir.manifest, ['initramfs', 'manifest']);
    tree = applyOwnership(tree, { epoch });
    const mem = new MemorySink();
    try {
      const plan = await planCpio(tree, { compression: ir.compression, epoch, ...(o.pool ? { pool: o.pool } : {}), ...(o.onWarning ? { onWarning: o.onWarning } : {}), strict: o.strict === true });
      await plan.write(mem);
    } catch (err) {
      throw relocateRecipe(loc, inputAt(err) ?? ['initramfs', 'dir'], err);
    }
    const bytes = mem.bytes().slice();
    initramfs = {
      size: bytes.byteLength,
      bytes,
      read: () =>
        (async function* () {
          yield bytes;
        })(),
    };
  }

  // Boot entries placed on a medium: the default kernel and initramfs at /boot, an entry's own below /boot/<label>.
  const placed: PlacedEntry[] = (boot?.entries ?? []).map((e, n) => ({
    ...e,
    kernelPath: entryFiles[n]?.kernel ? `/boot/${e.label}/vmlinuz` : '/boot/vmlinuz',
    initrdPath: entryFiles[n]?.initrd ? `/boot/${e.label}/initrd.img` : initramfs ? '/boot/initrd.img' : undefined,
  }));
  const bootFiles = (): GeneratedFile[] => {
    const out: GeneratedFile[] = [];
    if (kernel) out.push({ path: 'boot/vmlinuz', size: kernel.size, read: hostRead(kernel) });
    if (initramfs) out.push({ path: 'boot/initrd.img', size: initramfs.size, read: initramfs.read });
    (boot?.entries ?? []).forEach((e, n) => {
      const f = entryFiles[n]!;
      if (f.kernel) out.push({ path: `boot/${e.label}/vmlinuz`, size: f.kernel.size, read: hostRead(f.kernel) });
      if (f.initrd) out.push({ path: `boot/${e.label}/initrd.img`, size: f.initrd.size, read: hostRead(f.initrd) });
    });
    return out;
  };
  const efiName = recipe.arch === 'arm64' ? 'BOOTAA64.EFI' : 'BOOTX64.EFI';
  const readAll = async (path: string, length?: number): Promise<Uint8Array> => {
    const r = await files.reader(path);
    try {
      return await r.read(0, length ?? r.size);
    } finally {
      await r.close?.();
    }
  };
  const textOf = async (f: HostFile) => new TextDecoder().decode(await readAll(f.path));

  // ---- 4. the root squashfs, once ----
  const needsSquashfs = recipe.artifacts.some((a) => (a.type === 'iso' && recipe.root !== undefined) || a.type === 'update' || (a.type === 'disk' && JSON.stringify(a.layout).includes(GENERATED_SQUASHFS)));
  const update = recipe.artifacts.find((a) => a.type === 'update');
  let squashfsName: string | undefined;
  let squashfsTemporary = false;
  const created: string[] = [];

  const finishArtifact = async (artifact: string, file: string, sink: ByteSink) => {
    await sink.close();
    created.push(file);
    const { sha256, sizeBytes: size } = o.output.sha256 ? await o.output.sha256(file) : await hashOutput(o.output, file);
    const sumSink = await o.output.create(`${file}.sha256`);
    try {
      await sumSink.write(new TextEncoder().encode(`${sha256}  ${file}\n`)); // sha256sum's text format
      await sumSink.close();
    } catch (err) {
      await sumSink.abort?.(err);
      throw err;
    }
    const res = { artifact, file, sizeBytes: size, sha256 };
    results.push(res);
    o.onProgress?.({ type: 'done', ...res });
  };
  const produce = async (artifact: string, file: string, at: LayoutPath, write: (sink: ByteSink) => Promise<unknown>) => {
    o.onProgress?.({ type: 'start', artifact, file });
    const sink = await o.output.create(file);
    try {
      await write(sink);
    } catch (err) {
      await sink.abort?.(err);
      throw relocateRecipe(loc, inputAt(err) ?? at, err);
    }
    await finishArtifact(artifact, file, sink);
  };

  try {
    if (needsSquashfs) {
      if (!root) throw recipeError(loc, ['root'], ErrorCodes.BAD_OPTION, 'is required: the artifacts need the root squashfs');
      const write = async (sink: ByteSink) => {
        const plan = await planSquashfs(root!, {
          compression: recipe.squashfs.compression,
          ...(recipe.squashfs.level !== undefined ? { level: recipe.squashfs.level } : {}),
          ...(recipe.squashfs.blockSize !== undefined ? { blockSize: recipe.squashfs.blockSize } : {}),
          epoch,
          ...(o.pool ? { pool: o.pool } : {}),
          ...(o.onWarning ? { onWarning: o.onWarning } : {}),
          strict: o.strict === true,
        });
        await plan.write(sink);
      };
      if (update) {
        squashfsName = artifactFiles(recipe, update)[0]!;
        await produce('update', squashfsName, ['artifacts', update.index], write);
      } else {
        squashfsName = `.${recipe.name}-${recipe.version}-${recipe.arch}.root.squashfs`;
        squashfsTemporary = true;
        const sink = await o.output.create(squashfsName);
        try {
          await write(sink);
          await sink.close();
        } catch (err) {
          await sink.abort?.(err);
          throw relocateRecipe(loc, inputAt(err) ?? ['root'], err);
        }
      }
    }
    // ---- 5. the artifacts ----
    for (const a of recipe.artifacts) {
      const at: LayoutPath = ['artifacts', a.index];
      const [file] = artifactFiles(recipe, a);
      switch (a.type) {
        case 'update':
          break; // written with the squashfs
        case 'tar':
          await produce('tar', file!, at, (sink) => writeTar(root!, sink, { ...(o.onWarning ? { onWarning: o.onWarning } : {}), strict: o.strict === true }));
          break;
        case 'initramfs':
          await produce('initramfs', file!, at, async (sink) => {
            for await (const c of initramfs!.read()) await sink.write(c);
          });
          break;
        case 'iso':
          await produce('iso', file!, at, async (sink) => (await planIso(await isoTree(a), await isoOptions(a))).write(sink));
          break;
        case 'disk':
          await buildDisk(a);
          break;
      }
    }
  } finally {
    if (squashfsTemporary && squashfsName) await o.output.remove(squashfsName).catch(() => {});
  }
  return { artifacts: results, kernelVersion };

  async function squashfsContent(): Promise<{ size: number; read: () => AsyncIterable<Uint8Array> }> {
    const r = await o.output.reader(squashfsName!);
    const size = r.size;
    await r.close?.();
    return {
      size,
      read: () =>
        (async function* () {
          const rr = await o.output.reader(squashfsName!);
          try {
            yield* readRange(rr, 0, rr.size);
          } finally {
            await rr.close?.();
          }
        })(),
    };
  }

  // ---- the ISO ----
  async function isoTree(a: IsoArtifact): Promise<SourceTree> {
    const gen: GeneratedFile[] = bootFiles();
    if (squashfsName !== undefined) {
      const sq = await squashfsContent();
      gen.push({ path: a.squashfsPath, size: sq.size, read: sq.read });
    }
    // Debian's GRUB EFI images find their medium by /.disk/info (their embedded config searches for it).
    gen.push({ path: '.disk/info', content: `${recipe.name} ${recipe.version} ${recipe.arch}\n` });
    if (isolinux) {
      gen.push({ path: 'isolinux/isolinux.bin', size: isolinux.bin.size, read: hostRead(isolinux.bin) });
      gen.push({ path: 'isolinux/ldlinux.c32', size: isolinux.ldlinux.size, read: hostRead(isolinux.ldlinux) });
      gen.push({ path: 'isolinux/isolinux.cfg', content: isolinux.config ? await textOf(isolinux.config) : isolinuxConfig(boot!, placed, a.bootEntry) });
    }
    if (efi || boot) {
      gen.push({ path: 'boot/grub/grub.cfg', content: efi?.grubConfig ? await textOf(efi.grubConfig) : grubConfig(boot!, placed, a.bootEntry !== undefined ? { defaultLabel: a.bootEntry } : {}) });
    }
    const generated = generatedTree(gen, epoch);
    if (a.files === undefined) return generated;
    const extra = applyOwnership(await treeInput(a.files, [...['artifacts', a.index], 'files'], 'the directory'), { allRoot: true, epoch });
    return overlayTrees([extra, generated]); // generated files win: the boot files must be the ones configured
  }

  async function isoOptions(a: IsoArtifact): Promise<IsoOptions> {
    const opts: IsoOptions = { volumeId: a.volumeId, rockRidge: true, joliet: true, epoch, ...(o.onWarning ? { onWarning: o.onWarning } : {}), strict: o.strict === true };
    if (isolinux) {
      opts.biosBoot = { path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true };
      opts.catalogPath = 'isolinux/boot.cat';
    }
    if (efi) {
      // The ESP built in-process (no FAT image file): GRUB as EFI/BOOT/BOOT{X64,AA64}.EFI, and a
      // grub.cfg beside it that finds the ISO by /.disk/info (for GRUB images without that search built in).
      const esp = generatedTree(
        [
          { path: `EFI/BOOT/${efiName}`, size: efi.loader.size, read: hostRead(efi.loader) },
          { path: 'EFI/BOOT/grub.cfg', content: 'search --no-floppy --file --set=root /.disk/info\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n' },
        ],
        epoch,
      );
      opts.efiDir = { tree: esp, fat: { label: 'ESP' } };
    }
    if (isolinux?.mbr) {
      // isohybrid MBR (SeaBIOS boots the USB stick / disk) + the ESP appended as GPT partition 2
      // behind a protective MBR (OVMF boots the disk through it).
      opts.mbrTemplate = await readAll(isolinux.mbr.path, 512);
      if (efi) opts.hybrid = 'appended-esp';
      else opts.hybrid = 'isohybrid-mbr';
    } else if (efi && !isolinux) {
      opts.hybrid = 'uefi-only';
    }
    return opts;
  }

  // ---- disks ----
  function diskEsp(defaultLabel: string | undefined): SourceTree {
    const gen: GeneratedFile[] = bootFiles();
    if (efi) {
      gen.push({ path: `EFI/BOOT/${efiName}`, size: efi.loader.size, read: hostRead(efi.loader) });
      gen.push({ path: 'EFI/BOOT/grubenv', content: grubEnvironmentBlock() });
    }
    return {
      async *walk() {
        const cfg = efi?.grubConfig ? await textOf(efi.grubConfig) : boot ? grubConfig(boot, placed, { environment: true, ...(defaultLabel !== undefined ? { defaultLabel } : {}) }) : undefined;
        const all = cfg !== undefined ? [...gen, { path: 'EFI/BOOT/grub.cfg', content: cfg }] : gen;
        yield* generatedTree(all, epoch).walk();
      },
    };
  }

  function diskFiles(base: LayoutFiles, defaultLabel: string | undefined): LayoutFiles {
    const isGen = (p: string) => p === GENERATED_ESP || p === GENERATED_ROOT || p === GENERATED_SQUASHFS || p === GENERATED_INITRAMFS;
    const genMissing = (p: string, why: string) => new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'build', path: p, detail: why });
    return {
      async stat(p) {
        if (!isGen(p)) return base.stat(p);
        if (p === GENERATED_ESP || p === GENERATED_ROOT) return root || p === GENERATED_ESP ? { kind: 'dir', size: 0 } : { kind: 'missing', size: 0 };
        if (p === GENERATED_SQUASHFS) return squashfsName ? { kind: 'file', size: (await squashfsContent()).size } : { kind: 'missing', size: 0 };
        return initramfs ? { kind: 'file', size: initramfs.size } : { kind: 'missing', size: 0 };
      },
      async tree(p, options) {
        if (p === GENERATED_ESP) return diskEsp(defaultLabel);
        if (p === GENERATED_ROOT) {
          if (!root) throw genMissing(p, 'the recipe has no root');
          return root;
        }
        if (isGen(p)) throw genMissing(p, 'is a file, not a directory');
        return base.tree(p, options);
      },
      async reader(p) {
        if (p === GENERATED_SQUASHFS) return o.output.reader(squashfsName!);
        if (p === GENERATED_INITRAMFS) {
          const bytes = initramfs?.bytes ?? (await collect(initramfs!.read()));
          return { size: bytes.byteLength, read: async (off: number, len: number) => bytes.slice(off, off + len) };
        }
        if (isGen(p)) throw genMissing(p, 'is a directory, not a file');
        return base.reader(p);
      },
      readText: (p) => base.readText(p),
      hostFiles: (p) => base.hostFiles(p),
      at: (dir) => diskFiles(base.at(dir), defaultLabel),
      resolve: (p) => (isGen(p) ? p : base.resolve(p)),
    };
  }

  async function buildDisk(a: DiskArtifact): Promise<void> {
    const names = artifactFiles(recipe, a);
    for (const [n, format] of a.formats.entries()) {
      const file = names[n]!;
      const label = format === 'raw' ? 'disk' : `disk ${format}`;
      await produce(label, file, a.layoutAt, async (sink) => {
        const plan = await planLayout(layoutTextAt(recipe.text, a.layoutAt), { files: diskFiles(files, a.bootEntry), epoch, ...(o.pool ? { pool: o.pool } : {}), ...(o.onWarning ? { onWarning: o.onWarning } : {}), strict: o.strict === true });
        try {
          await writeLayoutImage(plan, sink, { format: DISK_FORMAT[format]!, epoch, ...(o.pool ? { pool: o.pool } : {}) });
        } finally {
          await plan.close();
        }
      });
    }
  }
}

async function hashOutput(output: BuildOutput, file: string): Promise<{ sha256: string; sizeBytes: number }> {
  const r = await output.reader(file);
  const h = new Sha256();
  try {
    for await (const c of readRange(r, 0, r.size, 4 << 20)) h.update(c);
    return { sha256: hex(h.digest()), sizeBytes: r.size };
  } finally {
    await r.close?.();
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return concatBytes(parts);
}

export type { Artifact };
