/**
 * The shared staging kit for the mkisofs client tests (issue 13): everything a real live-ISO build
 * puts on its medium, from Debian's packages, built once and cached on disk so every test file
 * (and every later run) shares it:
 *
 *   vmlinuz            Debian's kernel (/boot/vmlinuz-*)
 *   initrd.img         busybox initramfs whose /init prints MARKER and powers off
 *   isolinux.bin, ldlinux.c32, isohdpfx.bin          (isolinux, syslinux-common)
 *   boot_hybrid.img, cdboot.img, i386-pc/            (grub-pc-bin: the GRUB BIOS MBR and modules)
 *   grub-pc/eltorito-boot-grub.img                   grub-mkimage -O i386-pc-eltorito -p /boot/grub biosdisk iso9660
 *   grub-pc/eltorito-boot-grub2.img                  the same with -p /boot/grub2 (Fedora's lorax)
 *   grub-pc/grub_eltorito                            cdboot.img + grub-mkimage -O i386-pc (live-build's)
 *   grub-efi/stamp.efi                               grub-mkimage -O x86_64-efi (grub-efi-amd64-bin) whose
 *                                                    embedded config finds the medium by /imgkit.stamp
 *   grub-efi/alpine.efi, fedora.efi                  the same, finding it by volume label (Alpine's and
 *                                                    Fedora's way; Fedora's config is in /boot/grub2)
 *
 * The cache lives in $TMPDIR/imgkit-mkisofs-kit-<key>, where the key hashes the inputs' names,
 * sizes and times; a run that finds it complete (its `kit.json` exists) reuses it. It is built in
 * a private directory and renamed into place, so two test files starting at once cannot see a
 * half-built kit.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, lutimes, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInitramfs } from './initramfs.ts';
import { defaultKernel } from './qemu.ts';
import { requireTool, run } from './tools.ts';

/** SOURCE_DATE_EPOCH of every client build (2023-11-14 22:13:20 UTC). */
export const KIT_EPOCH = 1_700_000_000;
/** Staging trees are dated before the epoch, so no tool has a reason to clamp a time. */
export const STAGING_MTIME = KIT_EPOCH - 86_400;
/** What the kit's /init prints. */
export const MARKER = 'IMGKIT-MKISOFS-CLIENT-BOOTED';
/** Kernel arguments every boot loader config passes. */
export const KARGS = 'console=ttyS0 panic=-1 oops=panic';
/** Bump when the kit's recipe changes, so a stale cache is not reused. */
const KIT_RECIPE = 4;

export interface Kit {
  dir: string;
  kernel: string;
  initrd: string;
  isolinuxBin: string;
  ldlinux: string;
  isohdpfx: string;
  bootHybrid: string;
  /** Copy of /usr/lib/grub/i386-pc (modules, lists, images). */
  i386pc: string;
  eltoritoBootGrub: string;
  eltoritoBootGrub2: string;
  grubEltoritoLiveBuild: string;
  grubEfiStamp: string;
  grubEfiAlpine: string;
  grubEfiFedora: string;
}

/** A Debian data file; missing means the test fails, naming the package. */
export function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}

/** Alpine's volume label, which its GRUB early config searches for (scripts/mkimg.base.sh). */
export const ALPINE_VOLID = 'alpine-std 3.21.0 x86_64';
/** Fedora's label (lorax turns every character but [A-Za-z0-9_] into '-'); its GRUB searches it. */
export const FEDORA_VOLID = 'Fedora-S-dvd-x86_64-43';

/**
 * GRUB's EFI early config (embedded): find the medium, say where GRUB came from ($cmdpath shows
 * (cd0) for El Torito, (hd0,gptN)/(hd0,msdosN) for a partition), and hand over to the medium's
 * grub.cfg in `cfgDir` (Fedora keeps it in /boot/grub2, the others in /boot/grub).
 */
function earlyConfig(search: string, cfgDir: string): string {
  // GRUB runs an embedded config with its rescue parser: plain commands and variables, no `if`.
  return [search, 'echo "imgkit-cmdpath=$cmdpath root=$root"', `set prefix=($root)${cfgDir}`, `configfile ($root)${cfgDir}/grub.cfg`, ''].join('\n');
}
const EFI_MODULES = 'part_gpt part_msdos iso9660 fat search search_fs_file search_label linux normal configfile echo test serial terminal';

async function inputsKey(): Promise<string> {
  const { kernel } = await defaultKernel();
  const parts: string[] = [`recipe ${KIT_RECIPE}`];
  for (const p of [kernel, requireTool('busybox', 'busybox-static'), requireTool('grub-mkimage', 'grub-common'), '/usr/lib/grub/i386-pc/kernel.img', '/usr/lib/grub/x86_64-efi/kernel.img', '/usr/lib/ISOLINUX/isolinux.bin']) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    parts.push(`${p} ${st.size} ${Math.floor(st.mtimeMs)}`);
  }
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

let kitPromise: Promise<Kit> | undefined;

/** The kit, built on first use (per process) or taken from the on-disk cache. */
export function getKit(): Promise<Kit> {
  kitPromise ??= loadOrBuildKit();
  return kitPromise;
}

function kitPaths(dir: string): Kit {
  return {
    dir,
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    isolinuxBin: join(dir, 'isolinux.bin'),
    ldlinux: join(dir, 'ldlinux.c32'),
    isohdpfx: join(dir, 'isohdpfx.bin'),
    bootHybrid: join(dir, 'boot_hybrid.img'),
    i386pc: join(dir, 'i386-pc'),
    eltoritoBootGrub: join(dir, 'grub-pc/eltorito-boot-grub.img'),
    eltoritoBootGrub2: join(dir, 'grub-pc/eltorito-boot-grub2.img'),
    grubEltoritoLiveBuild: join(dir, 'grub-pc/grub_eltorito'),
    grubEfiStamp: join(dir, 'grub-efi/stamp.efi'),
    grubEfiAlpine: join(dir, 'grub-efi/alpine.efi'),
    grubEfiFedora: join(dir, 'grub-efi/fedora.efi'),
  };
}

async function loadOrBuildKit(): Promise<Kit> {
  const dir = join(tmpdir(), `imgkit-mkisofs-kit-${await inputsKey()}`);
  if (existsSync(join(dir, 'kit.json'))) return kitPaths(dir);
  const work = `${dir}.build-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await buildKit(work);
    try {
      await rename(work, dir);
    } catch (err) {
      // Another process finished first: use its kit.
      if (!existsSync(join(dir, 'kit.json'))) throw err;
      await rm(work, { recursive: true, force: true });
    }
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
  return kitPaths(dir);
}

async function buildKit(dir: string): Promise<void> {
  const k = kitPaths(dir);
  const { kernel } = await defaultKernel();
  await copyFile(kernel, k.kernel);
  await buildInitramfs({ initScript: `echo ${MARKER}\npoweroff -f\n`, out: k.initrd });
  await copyFile(requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'), k.isolinuxBin);
  await copyFile(requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux'), k.isohdpfx);
  await copyFile(requireFile('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'), k.ldlinux);
  const grubPc = '/usr/lib/grub/i386-pc';
  requireFile(join(grubPc, 'boot_hybrid.img'), 'grub-pc-bin');
  await copyFile(join(grubPc, 'boot_hybrid.img'), k.bootHybrid);
  await cp(grubPc, k.i386pc, { recursive: true });
  await mkdir(join(dir, 'grub-pc'));
  await mkdir(join(dir, 'grub-efi'));
  const mkimage = requireTool('grub-mkimage', 'grub-common');
  // Ubuntu: boot/grub/i386-pc/eltorito.img; Fedora lorax x86.tmpl: images/eltorito.img, prefix /boot/grub2.
  await run(mkimage, ['-d', grubPc, '-O', 'i386-pc-eltorito', '-o', k.eltoritoBootGrub, '-p', '/boot/grub', 'biosdisk', 'iso9660']);
  await run(mkimage, ['-d', grubPc, '-O', 'i386-pc-eltorito', '-o', k.eltoritoBootGrub2, '-p', '/boot/grub2', 'iso9660', 'biosdisk']);
  // live-build scripts/build/binary_grub-pc: cat cdboot.img core.img > grub_eltorito.
  const core = join(dir, 'grub-pc/core.img');
  await run(mkimage, ['-d', grubPc, '-o', core, '-O', 'i386-pc', '--prefix=/boot/grub', 'biosdisk', 'iso9660']);
  await writeFile(k.grubEltoritoLiveBuild, Buffer.concat([await readFile(join(grubPc, 'cdboot.img')), await readFile(core)]));
  await rm(core);
  const efiDir = '/usr/lib/grub/x86_64-efi';
  requireFile(join(efiDir, 'linux.mod'), 'grub-efi-amd64-bin');
  const stampCfg = join(dir, 'grub-efi/stamp.cfg');
  await writeFile(stampCfg, earlyConfig('search --no-floppy --file /imgkit.stamp --set=root', '/boot/grub'));
  await run(mkimage, ['-d', efiDir, '-O', 'x86_64-efi', '-o', k.grubEfiStamp, '-c', stampCfg, '-p', '/boot/grub', ...EFI_MODULES.split(' ')]);
  const alpineCfg = join(dir, 'grub-efi/alpine.cfg');
  // scripts/mkimg.base.sh grub_gen_earlyconf: search by the ISO's label.
  await writeFile(alpineCfg, earlyConfig(`search --no-floppy --set=root --label "${ALPINE_VOLID}"`, '/boot/grub'));
  await run(mkimage, ['-d', efiDir, '-O', 'x86_64-efi', '-o', k.grubEfiAlpine, '-c', alpineCfg, '-p', '/boot/grub', ...EFI_MODULES.split(' ')]);
  const fedoraCfg = join(dir, 'grub-efi/fedora.cfg');
  // lorax's grub2-efi.cfg: search --no-floppy --set=root -l '@ISOLABEL@'.
  await writeFile(fedoraCfg, earlyConfig(`search --no-floppy --set=root --label ${FEDORA_VOLID}`, '/boot/grub2'));
  await run(mkimage, ['-d', efiDir, '-O', 'x86_64-efi', '-o', k.grubEfiFedora, '-c', fedoraCfg, '-p', '/boot/grub2', ...EFI_MODULES.split(' ')]);
  await writeFile(join(dir, 'kit.json'), `${JSON.stringify({ recipe: KIT_RECIPE, kernel }, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Staging helpers

/** An isolinux/syslinux config that boots the kit's kernel on the serial console. */
export function syslinuxCfg(kernelPath: string, initrdPath: string): string {
  return `SERIAL 0 115200\nDEFAULT imgkit\nPROMPT 0\nTIMEOUT 0\nLABEL imgkit\n  KERNEL ${kernelPath}\n  INITRD ${initrdPath}\n  APPEND ${KARGS}\n`;
}

/**
 * A grub.cfg for BIOS and EFI GRUB: serial console on BIOS (EFI GRUB writes to the firmware's
 * console, which OVMF mirrors to the serial port), `$cmdpath` on the console, then the kernel.
 * `search` is an optional line that sets $root first (k3OS finds its medium by label).
 */
export function grubCfg(kernelPath: string, initrdPath: string, search = ''): string {
  return [
    'if [ "$grub_platform" = "pc" ]; then',
    '  serial --unit=0 --speed=115200',
    '  terminal_input serial console',
    '  terminal_output serial console',
    'fi',
    ...(search ? [search] : []),
    'echo "imgkit-grub platform=$grub_platform cmdpath=$cmdpath root=$root"',
    'set timeout=0',
    'set default=0',
    'menuentry imgkit {',
    `  linux ${kernelPath} ${KARGS}`,
    `  initrd ${initrdPath}`,
    '}',
    '',
  ].join('\n');
}

/** Write a file, creating its directory; `mode` as given. */
export async function put(path: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
  await chmod(path, mode);
}

/** Copy a kit file into a staging tree. */
export async function putCopy(path: string, from: string, mode = 0o644): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await copyFile(from, path);
  await chmod(path, mode);
}

/**
 * Date every entry under `dir` (symlinks themselves, not their targets) to STAGING_MTIME plus a
 * small per-entry step, deepest first so directory times stick. Real build scripts do the same
 * (live-build touches its tree to SOURCE_DATE_EPOCH); it keeps every time below the epoch, so a
 * tool that clamps newer times (imgkit) and one that does not (xorriso 1.5.4) see the same input.
 */
export async function dateTree(dir: string): Promise<void> {
  const all: string[] = [];
  const walk = async (p: string): Promise<void> => {
    all.push(p);
    for (const e of await readdir(p, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(p, e.name));
      else all.push(join(p, e.name));
    }
  };
  await walk(dir);
  all.sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
  let i = 0;
  for (const p of all) {
    const t = STAGING_MTIME + (i++ % 997);
    await lutimes(p, t, t);
  }
}

export interface FatFile {
  /** Host file. */
  from: string;
  /** Path inside the FAT file system, e.g. 'EFI/BOOT/BOOTX64.EFI'. */
  to: string;
}

/**
 * A FAT image the way a client script makes its ESP: `mkfs.fat -C` (dosfstools) or `mformat -C`
 * (mtools) with the given arguments, then `mmd` + `mcopy`.
 */
export async function makeFat(out: string, how: { tool: 'mkfs.fat'; args: string[]; kib: number } | { tool: 'mformat'; args: string[] }, files: FatFile[]): Promise<void> {
  await rm(out, { force: true });
  await mkdir(join(out, '..'), { recursive: true });
  if (how.tool === 'mkfs.fat') await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', ...how.args, out, String(how.kib)]);
  else await run(requireTool('mformat', 'mtools'), ['-i', out, '-C', ...how.args, '::']);
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.to.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const env = { MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(KIT_EPOCH) };
  for (const d of [...dirs].sort()) await run(requireTool('mmd', 'mtools'), ['-i', out, `::/${d}`], { env });
  for (const f of files) await run(requireTool('mcopy', 'mtools'), ['-m', '-i', out, f.from, `::/${f.to}`], { env });
}

/** Names in `dir` (sorted), for messages. */
export function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
