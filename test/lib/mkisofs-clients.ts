/**
 * The distributions' real `xorriso -as mkisofs` command lines (issue 13), each with a staging tree
 * shaped like the one its script builds, and the means to run the same command through xorriso
 * and through imgkit. The verbatim lines and their sources (repository, path, commit) are in
 * /work/wt/reports/mkisofs-clients.md and fixtures/mkisofs-clients/README.md; every argv below is
 * that line with only paths adapted to the kit.
 *
 * imgkit replaces one word:
 *   xorriso -as mkisofs ARGS / xorrisofs ARGS  ->  node $IMGKIT_BIN mkisofs ARGS
 *   xorriso NATIVE… -as mkisofs ARGS           ->  $IMGKIT_XORRISO NATIVE… -as mkisofs ARGS
 *   grub-mkrescue --xorriso=PROGRAM            ->  PROGRAM = $IMGKIT_XORRISO
 * IMGKIT_BIN (default: this checkout's packages/cli/bin/imgkit.js) and IMGKIT_XORRISO_BIN
 * (default: imgkit-xorriso.js beside IMGKIT_BIN) let the harness run another worktree's build.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALPINE_VOLID, dateTree, FEDORA_VOLID, grubCfg, KIT_EPOCH, makeFat, put, putCopy, syslinuxCfg, type Kit } from './mkisofs-kit.ts';
import { IMGKIT_BIN, requireTool, run, type RunResult } from './tools.ts';

export const IMGKIT_CLI = process.env.IMGKIT_BIN ?? IMGKIT_BIN;
export const IMGKIT_XORRISO = process.env.IMGKIT_XORRISO_BIN ?? join(dirname(IMGKIT_CLI), 'imgkit-xorriso.js');

export type Tool = 'xorriso' | 'imgkit';
export const TOOLS: readonly Tool[] = ['xorriso', 'imgkit'];

export type Cell = 'seabios-cd' | 'seabios-disk' | 'ovmf-cd' | 'ovmf-disk-no-eltorito';
export const CELLS: readonly Cell[] = ['seabios-cd', 'seabios-disk', 'ovmf-cd', 'ovmf-disk-no-eltorito'];

interface StagedCommon {
  /** Working directory of the command. */
  cwd: string;
  /**
   * Files in the ISO whose bytes differ between two runs of the client's own script for reasons
   * outside the ISO writer (ranges zeroed before hashing): see each use.
   */
  masks?: Record<string, [number, number][]>;
  /** The command sets the GPT disk GUID: compare it exactly. */
  exactDiskGuid?: boolean;
  setsPreparer?: boolean;
  setsAppId?: boolean;
  /** Host directories whose files must appear in the ISO under `iso` with the same content. */
  staging?: { iso: string; host: string; followLinks?: boolean }[];
}

export interface XorrisoStaged extends StagedCommon {
  kind: 'xorriso';
  /** The argv after the program name `xorriso`, writing to `out`. */
  argv(out: string): string[];
}

export interface MkrescueStaged extends StagedCommon {
  kind: 'grub-mkrescue';
  /** grub-mkrescue's arguments, given the program it is to use as xorriso and the output. */
  args(xorrisoProgram: string, out: string): Promise<string[]>;
}

export type Staged = XorrisoStaged | MkrescueStaged;

export interface Client {
  name: string;
  /** One line: the script and version (the verbatim command is in fixtures/mkisofs-clients/README.md). */
  source: string;
  /** Build the staging tree under `work` (an empty directory). */
  stage(kit: Kit, work: string): Promise<Staged>;
  /** Part of the boot matrix. */
  boot: boolean;
  /** The command's `--sort-weight W PATH` options, in command-line order. */
  sortWeights?: [number, string][];
  /**
   * Cells in which xorriso's own image does not boot, with the reason (found by running the
   * matrix; asserted as failing for xorriso, so the expectation stays explicit).
   */
  xorrisoFails?: Partial<Record<Cell, string>>;
}

/** RFC 4122 §4.3 name-based UUID, version 5 (SHA-1), as `uuid -v 5 NS NAME` prints it. */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name).digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const STAMP = 'imgkit staging tree: the EFI loader finds the medium by this file\n';
const ESP_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

/** The kernel, initramfs and configs every client carries, at the client's own paths. */
async function putKernel(kit: Kit, root: string, kernel: string, initrd: string): Promise<void> {
  await putCopy(join(root, kernel), kit.kernel);
  await putCopy(join(root, initrd), kit.initrd);
}

/** Modules, lists and images of /usr/lib/grub/i386-pc, as live-build and Ubuntu ship them. */
async function putGrubPcModules(kit: Kit, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const n of await readdir(kit.i386pc)) {
    if (/\.(mod|lst)$/.test(n)) await putCopy(join(dir, n), join(kit.i386pc, n));
  }
}

/** grub-mkrescue's (and k3OS's) run: faketime pins the build time it puts in its uuid. */
export const MKRESCUE_TIME = '2023-11-14 22:13:20';

// ---------------------------------------------------------------------------------------------

const grubMkrescue: Client = {
  name: 'grub-mkrescue',
  source: 'GRUB 2.06 util/grub-mkrescue.c (Debian grub-common 2.06-13+deb12u2), --xorriso= pointing at the tool',
  boot: true,
  sortWeights: [[0, '/'], [1, '/boot']],
  async stage(kit, work) {
    const src = join(work, 'src');
    await putKernel(kit, src, 'boot/vmlinuz', 'boot/initrd.img');
    await put(join(src, 'boot/grub/grub.cfg'), grubCfg('/boot/vmlinuz', '/boot/initrd.img'));
    await dateTree(src);
    return {
      kind: 'grub-mkrescue',
      cwd: work,
      // mformat draws a random FAT volume serial (offset 39, 4 bytes) each time grub-mkrescue
      // makes efi.img; nothing else in the staging tree differs between two runs.
      masks: { '/efi.img': [[39, 43]] },
      staging: [{ iso: '', host: src }],
      async args(program, out) {
        return [`--xorriso=${program}`, '-o', out, src];
      },
    };
  },
};

/** live-build's staging tree (binary/): isolinux or GRUB BIOS, live/, GRUB EFI in efi.img. */
async function liveBuildTree(kit: Kit, work: string, bios: 'syslinux' | 'grub-pc'): Promise<string> {
  const b = join(work, 'binary');
  await putKernel(kit, b, 'live/vmlinuz', 'live/initrd.img');
  await put(join(b, '.disk/info'), 'Debian GNU/Linux trixie "Trixie" - Official Snapshot amd64 LIVE/INSTALL Binary 20231114-22:13\n');
  await put(join(b, 'imgkit.stamp'), STAMP);
  await put(join(b, 'live/filesystem.squashfs'), Buffer.alloc(64 * 1024, 0x5a));
  if (bios === 'syslinux') {
    await putCopy(join(b, 'isolinux/isolinux.bin'), kit.isolinuxBin);
    await putCopy(join(b, 'isolinux/ldlinux.c32'), kit.ldlinux);
    await put(join(b, 'isolinux/isolinux.cfg'), syslinuxCfg('/live/vmlinuz', '/live/initrd.img'));
  } else {
    // scripts/build/binary_grub-pc: modules in boot/grub/i386-pc, boot/grub/grub_eltorito.
    await putGrubPcModules(kit, join(b, 'boot/grub/i386-pc'));
    await putCopy(join(b, 'boot/grub/grub_eltorito'), kit.grubEltoritoLiveBuild);
  }
  await put(join(b, 'boot/grub/grub.cfg'), grubCfg('/live/vmlinuz', '/live/initrd.img'));
  await putCopy(join(b, 'EFI/boot/bootx64.efi'), kit.grubEfiStamp);
  // scripts/build/binary_grub-efi: size = files + 4096*4, blocks = (size/1024 + 55)/32*32,
  // mkfs.msdos -C efi.img $blocks -i <epoch as hex>, mmd ::EFI ::EFI/boot, mcopy the loaders.
  const efi = join(b, 'boot/grub/efi.img');
  const size = statSync(kit.grubEfiStamp).size + 4096 * 4;
  const blocks = Math.floor((Math.floor(size / 1024) + 55) / 32) * 32;
  await makeFat(efi, { tool: 'mkfs.fat', args: ['-i', (KIT_EPOCH % 2 ** 32).toString(16).padStart(8, '0')], kib: blocks }, [{ from: kit.grubEfiStamp, to: 'EFI/boot/bootx64.efi' }]);
  await dateTree(b);
  return b;
}

const LB_COMMON = ['-R', '-r', '-J', '-joliet-long', '-l', '-cache-inodes', '-iso-level', '3'];
const LB_IDS = [
  '-A', 'Debian Live',
  '-p', 'live-build 1:20250814; https://salsa.debian.org/live-team/live-build',
  '-publisher', 'Debian Live project; https://wiki.debian.org/DebianLive; debian-live@lists.debian.org',
  '-V', 'Debian trixie 20231114-22:13',
  '--modification-date=2023111422132000',
];

const liveBuild: Client = {
  name: 'live-build',
  source: 'live-build 1:20250814 scripts/build/binary_iso, syslinux + grub-efi, iso-hybrid (amd64 default)',
  boot: true,
  async stage(kit, work) {
    const b = await liveBuildTree(kit, work, 'syslinux');
    return {
      kind: 'xorriso',
      cwd: work,
      setsPreparer: true,
      setsAppId: true,
      staging: [{ iso: '', host: b }],
      argv: (out) => [
        '-as', 'mkisofs',
        ...LB_COMMON,
        '-isohybrid-mbr', '/usr/lib/ISOLINUX/isohdpfx.bin', '-partition_offset', '16',
        ...LB_IDS,
        '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
        '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
        '-eltorito-alt-boot',
        '-e', 'boot/grub/efi.img', '-no-emul-boot',
        '-isohybrid-gpt-basdat', '-isohybrid-apm-hfsplus',
        '-o', out, 'binary',
      ],
    };
  },
};

const liveBuildGrubPc: Client = {
  name: 'live-build-grub-pc',
  source: 'live-build 1:20250814 scripts/build/binary_iso, LB_BOOTLOADER_BIOS=grub-pc + grub-efi, iso-hybrid',
  boot: false,
  async stage(kit, work) {
    const b = await liveBuildTree(kit, work, 'grub-pc');
    return {
      kind: 'xorriso',
      cwd: work,
      setsPreparer: true,
      setsAppId: true,
      staging: [{ iso: '', host: b }],
      argv: (out) => [
        '-as', 'mkisofs',
        ...LB_COMMON,
        '--grub2-boot-info', '--grub2-mbr', '/usr/lib/grub/i386-pc/boot_hybrid.img',
        '-efi-boot-part', '--efi-boot-image',
        ...LB_IDS,
        '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
        '-b', 'boot/grub/grub_eltorito',
        '-eltorito-alt-boot',
        '-e', 'boot/grub/efi.img', '-no-emul-boot',
        '-isohybrid-gpt-basdat', '-isohybrid-apm-hfsplus',
        '-o', out, 'binary',
      ],
    };
  },
};

const alpine: Client = {
  name: 'alpine',
  source: 'alpinelinux/aports scripts/mkimg.base.sh create_image_iso (01a905da), x86_64 isolinux + grub-efi',
  boot: true,
  async stage(kit, work) {
    const d = join(work, 'destdir');
    await putKernel(kit, d, 'boot/vmlinuz-lts', 'boot/initramfs-lts');
    // build_syslinux: isohdpfx.bin isolinux.bin ldlinux.c32 … in boot/syslinux.
    await putCopy(join(d, 'boot/syslinux/isohdpfx.bin'), kit.isohdpfx);
    await putCopy(join(d, 'boot/syslinux/isolinux.bin'), kit.isolinuxBin);
    await putCopy(join(d, 'boot/syslinux/ldlinux.c32'), kit.ldlinux);
    await put(join(d, 'boot/syslinux/syslinux.cfg'), syslinuxCfg('/boot/vmlinuz-lts', '/boot/initramfs-lts'));
    await put(join(d, 'boot/grub/grub.cfg'), grubCfg('/boot/vmlinuz-lts', '/boot/initramfs-lts'));
    await putCopy(join(d, 'efi/boot/bootx64.efi'), kit.grubEfiAlpine);
    await put(join(d, '.alpine-release'), 'alpine-std-3.21.0-x86_64.iso\n');
    // build_apks: `apk fetch --link` leaves links into the package cache, which is why the
    // script passes -follow-links: the ISO must hold the packages, not dangling links.
    const cache = join(work, 'apk-cache');
    for (const [n, seed] of [['busybox-1.37.0-r8.apk', 1], ['musl-1.2.5-r8.apk', 2], ['alpine-base-3.21.0-r0.apk', 3]] as const) {
      await put(join(cache, n), Buffer.alloc(3000 + seed * 777, 0x30 + seed));
      await mkdir(join(d, 'apks/x86_64'), { recursive: true });
      await symlink(join(cache, n), join(d, 'apks/x86_64', n));
    }
    await put(join(d, 'apks/x86_64/APKINDEX.tar.gz'), Buffer.alloc(1500, 0x41));
    await put(join(d, 'apks/.boot_repository'), '');
    await dateTree(d);
    await dateTree(cache);
    // mformat -i efi.img -C -f 1440 -N 0 ::; mcopy -i efi.img -s ${DESTDIR}/efi ::;
    // touch -md "@${SOURCE_DATE_EPOCH}" efi.img
    const efi = join(d, 'boot/grub/efi.img');
    await run(requireTool('mformat', 'mtools'), ['-i', efi, '-C', '-f', '1440', '-N', '0', '::']);
    await run(requireTool('mcopy', 'mtools'), ['-i', efi, '-s', join(d, 'efi'), '::']);
    await utimes(efi, KIT_EPOCH, KIT_EPOCH);
    return {
      kind: 'xorriso',
      cwd: work,
      staging: [{ iso: '', host: d, followLinks: true }],
      argv: (out) => [
        '-as', 'mkisofs',
        '-quiet',
        '-output', out,
        '-full-iso9660-filenames',
        '-joliet',
        '-rational-rock',
        '-sysid', 'LINUX',
        '-volid', ALPINE_VOLID,
        '-isohybrid-mbr', `${d}/boot/syslinux/isohdpfx.bin`,
        '-eltorito-boot', 'boot/syslinux/isolinux.bin',
        '-eltorito-catalog', 'boot/syslinux/boot.cat',
        '-no-emul-boot',
        '-boot-load-size', '4',
        '-boot-info-table',
        '-eltorito-alt-boot',
        '-e', 'boot/grub/efi.img',
        '-no-emul-boot',
        '-isohybrid-gpt-basdat',
        '-follow-links',
        d,
      ],
    };
  },
};

/** nixos/lib/make-iso9660-image.sh escapeEquals: `\` -> `\\`, `=` -> `\=`. */
const escapeEquals = (s: string) => s.replace(/\\/g, '\\\\').replace(/=/g, '\\=');
/** The adapted "$out" of the NixOS derivation, hashed into gpt_disk_guid by `uuid -v 5`. */
export const NIXOS_OUT = '/nix/store/0v4bxq0iw7f2m1pk1v4q4yrfb3q6l9vb-nixos-minimal-24.05.20231114.abcdef0-x86_64-linux.iso';

const nixos: Client = {
  name: 'nixos',
  source: 'nixpkgs nixos/lib/make-iso9660-image.sh (bios + usb + efi bootable), xorriso native -boot_image/-volume_date before -as mkisofs',
  boot: true,
  sortWeights: [[1, '/isolinux'], [0, '/']],
  async stage(kit, work) {
    const s = join(work, 'store');
    // `contents` of iso-image.nix: syslinux's share dir as /isolinux, the kernel and initrd in
    // /boot, the EFI tree, efi.img, the squashfs of the store.
    await putCopy(join(s, 'syslinux-share/isolinux.bin'), kit.isolinuxBin);
    await putCopy(join(s, 'syslinux-share/ldlinux.c32'), kit.ldlinux);
    await putCopy(join(s, 'syslinux-share/isohdpfx.bin'), kit.isohdpfx);
    await put(join(s, 'isolinux.cfg'), syslinuxCfg('/boot/bzImage', '/boot/initrd'));
    await putCopy(join(s, 'linux/bzImage'), kit.kernel);
    await putCopy(join(s, 'initrd/initrd'), kit.initrd);
    await putCopy(join(s, 'efi-directory/EFI/BOOT/BOOTX64.EFI'), kit.grubEfiStamp);
    await put(join(s, 'grub.cfg'), grubCfg('/boot/bzImage', '/boot/initrd'));
    await put(join(s, 'stamp'), STAMP);
    await put(join(s, 'version'), '24.05.20231114.abcdef0\n');
    await put(join(s, 'nix-store.squashfs'), Buffer.alloc(48 * 1024, 0x73));
    await put(join(s, 'weird=name'), 'a store path name with an equals sign, escaped by escapeEquals\n');
    const efiImg = join(s, 'efi-image/efi.img');
    await mkdir(dirname(efiImg), { recursive: true });
    // iso-image.nix efiImg: mkfs.vfat -i 12345678 -n EFIBOOT, mmd, mcopy the EFI tree.
    await makeFat(efiImg, { tool: 'mkfs.fat', args: ['-i', '12345678', '-n', 'EFIBOOT'], kib: 2048 }, [{ from: kit.grubEfiStamp, to: 'EFI/BOOT/BOOTX64.EFI' }]);
    // the symlinks to top-level store objects: `ln -s $object ./$symlink; addPath "$symlink" "./$symlink"`
    const cwd = join(work, 'build');
    await mkdir(cwd, { recursive: true });
    await symlink('/nix/store/0v4bxq0iw7f2m1pk1v4q4yrfb3q6l9vb-nixos-system-nixos-24.05', join(cwd, 'nixos-system'));
    const grafts: [string, string][] = [
      ['isolinux', join(s, 'syslinux-share')],
      ['isolinux/isolinux.cfg', join(s, 'isolinux.cfg')],
      ['boot/bzImage', join(s, 'linux/bzImage')],
      ['boot/initrd', join(s, 'initrd/initrd')],
      ['boot/grub/grub.cfg', join(s, 'grub.cfg')],
      ['EFI', join(s, 'efi-directory/EFI')],
      ['boot/efi.img', efiImg],
      ['version.txt', join(s, 'version')],
      ['imgkit.stamp', join(s, 'stamp')],
      ['nix-store.squashfs', join(s, 'nix-store.squashfs')],
      ['nix/store/weird=name', join(s, 'weird=name')],
      ['nixos-system', './nixos-system'],
    ];
    await writeFile(join(cwd, 'pathlist'), grafts.map(([t, src]) => `${escapeEquals(t)}=${escapeEquals(src)}\n`).join(''));
    await dateTree(s);
    await dateTree(cwd);
    const guid = uuidV5('daed2280-b91e-42c0-aed6-82c825ca41f3', NIXOS_OUT).replace(/-/g, '');
    return {
      kind: 'xorriso',
      cwd,
      exactDiskGuid: true,
      setsAppId: true,
      staging: [
        { iso: '/isolinux', host: join(s, 'syslinux-share') },
        { iso: '/EFI', host: join(s, 'efi-directory/EFI') },
      ],
      argv: (out) => [
        '-boot_image', 'any', `gpt_disk_guid=${guid}`,
        '-volume_date', 'all_file_dates', `=${KIT_EPOCH}`,
        '-as', 'mkisofs',
        '-iso-level', '3',
        '-volid', 'nixos-minimal-24.05-x86_64',
        '-appid', 'nixos',
        '-publisher', 'nixos',
        '-graft-points',
        '-full-iso9660-filenames',
        '-joliet',
        '-eltorito-boot', 'isolinux/isolinux.bin',
        '-eltorito-catalog', '.boot.cat',
        '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
        '--sort-weight', '1', '/isolinux',
        '-isohybrid-mbr', join(s, 'syslinux-share/isohdpfx.bin'),
        '-eltorito-alt-boot',
        '-e', 'boot/efi.img',
        '-no-emul-boot',
        '-isohybrid-gpt-basdat',
        '-r',
        '-path-list', 'pathlist',
        '--sort-weight', '0', '/',
        '-output', out,
      ],
    };
  },
};

const archiso: Client = {
  name: 'archiso',
  source: 'archlinux/archiso v88 archiso/mkarchiso _build_iso_image, releng bios.syslinux + UEFI in an appended ESP',
  boot: true,
  async stage(kit, work) {
    const iso = join(work, 'iso');
    await putKernel(kit, iso, 'arch/boot/x86_64/vmlinuz-linux', 'arch/boot/x86_64/initramfs-linux.img');
    await putCopy(join(iso, 'boot/syslinux/isolinux.bin'), kit.isolinuxBin);
    await putCopy(join(iso, 'boot/syslinux/isohdpfx.bin'), kit.isohdpfx);
    await putCopy(join(iso, 'boot/syslinux/ldlinux.c32'), kit.ldlinux);
    await put(join(iso, 'boot/syslinux/syslinux.cfg'), syslinuxCfg('/arch/boot/x86_64/vmlinuz-linux', '/arch/boot/x86_64/initramfs-linux.img'));
    await put(join(iso, 'boot/grub/grub.cfg'), grubCfg('/arch/boot/x86_64/vmlinuz-linux', '/arch/boot/x86_64/initramfs-linux.img'));
    await put(join(iso, 'arch/x86_64/airootfs.sfs'), Buffer.alloc(96 * 1024, 0x61));
    await put(join(iso, 'arch/version'), '2023.11.14\n');
    await put(join(iso, 'imgkit.stamp'), STAMP);
    await putCopy(join(iso, 'EFI/BOOT/BOOTx64.EFI'), kit.grubEfiStamp);
    await dateTree(iso);
    // _make_efibootimg: mkfs.fat -C -n ARCHISO_EFI, size = files + 8 MiB rounded up to MiB.
    const efiboot = join(work, 'efiboot.img');
    const bytes = statSync(kit.grubEfiStamp).size;
    const kib = Math.ceil((bytes / 1024 + 8192) / 1024) * 1024;
    await makeFat(efiboot, { tool: 'mkfs.fat', args: ['-n', 'ARCHISO_EFI'], kib }, [{ from: kit.grubEfiStamp, to: 'EFI/BOOT/BOOTx64.EFI' }]);
    return {
      kind: 'xorriso',
      cwd: work,
      setsPreparer: true,
      setsAppId: true,
      staging: [{ iso: '', host: iso }],
      argv: (out) => [
        '-no_rc',
        '-as', 'mkisofs',
        '-iso-level', '3',
        '-full-iso9660-filenames',
        '-joliet',
        '-joliet-long',
        '-rational-rock',
        '-volid', 'ARCH_202311',
        '-appid', 'Arch Linux Live/Rescue DVD',
        '-publisher', 'Arch Linux <https://archlinux.org>',
        '-preparer', 'prepared by mkarchiso',
        '-eltorito-boot', 'boot/syslinux/isolinux.bin',
        '-eltorito-catalog', 'boot/syslinux/boot.cat',
        '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
        '-isohybrid-mbr', `${iso}/boot/syslinux/isohdpfx.bin`,
        '--mbr-force-bootable',
        '-partition_offset', '16',
        '-append_partition', '2', ESP_GUID, efiboot,
        '-isohybrid-gpt-basdat',
        '-eltorito-alt-boot',
        '-e', '--interval:appended_partition_2:all::',
        '-no-emul-boot',
        '-output', out,
        `${iso}/`,
      ],
    };
  },
};

/** Ubuntu's medium: GRUB for BIOS (eltorito.img + modules) and EFI, casper/, the ESP image beside it. */
async function ubuntuTree(kit: Kit, work: string): Promise<{ iso: string; esp: string }> {
  const iso = join(work, 'iso');
  await putKernel(kit, iso, 'casper/vmlinuz', 'casper/initrd');
  await putGrubPcModules(kit, join(iso, 'boot/grub/i386-pc'));
  await putCopy(join(iso, 'boot/grub/i386-pc/eltorito.img'), kit.eltoritoBootGrub);
  await put(join(iso, 'boot/grub/grub.cfg'), grubCfg('/casper/vmlinuz', '/casper/initrd'));
  await putCopy(join(iso, 'EFI/boot/bootx64.efi'), kit.grubEfiStamp);
  await put(join(iso, '.disk/info'), 'Ubuntu-Server 22.04.1 LTS "Jammy Jellyfish" - Release amd64 (20220809.1)\n');
  await put(join(iso, 'casper/filesystem.squashfs'), Buffer.alloc(80 * 1024, 0x75));
  await put(join(iso, 'imgkit.stamp'), STAMP);
  await put(join(iso, 'md5sum.txt'), '# none\n');
  await dateTree(iso);
  const esp = join(work, 'efi.img');
  await makeFat(esp, { tool: 'mkfs.fat', args: ['-n', 'ESP'], kib: 4248 }, [{ from: kit.grubEfiStamp, to: 'EFI/boot/bootx64.efi' }]);
  return { iso, esp };
}

/** The layout lines of `-report_el_torito as_mkisofs` for ubuntu-22.04.1-live-server-amd64.iso, with files. */
const UBUNTU_LAYOUT = (esp: string, mbr: string) => [
  '-V', 'Ubuntu-Server 22.04.1 LTS amd64',
  '--modification-date=2022080916483300',
  '--grub2-mbr', mbr,
  '--protective-msdos-label',
  '-partition_cyl_align', 'off',
  '-partition_offset', '16',
  '--mbr-force-bootable',
  '-append_partition', '2', '28732ac11ff8d211ba4b00a0c93ec93b', esp,
  '-appended_part_as_gpt',
  '-iso_mbr_part_type', 'a2a0d0ebe5b9334487c068b6b72699c7',
  '-c', '/boot.catalog',
  '-b', '/boot/grub/i386-pc/eltorito.img',
  '-no-emul-boot',
  '-boot-load-size', '4',
  '-boot-info-table',
  '--grub2-boot-info',
  '-eltorito-alt-boot',
  '-e', '--interval:appended_partition_2:all::',
  '-no-emul-boot',
];

const ubuntu: Client = {
  name: 'ubuntu',
  source: 'Ubuntu 22.04.1 layout (xorriso -report_el_torito as_mkisofs of ubuntu-22.04.1-live-server-amd64.iso) built from files',
  boot: true,
  async stage(kit, work) {
    const { iso, esp } = await ubuntuTree(kit, work);
    return {
      kind: 'xorriso',
      cwd: work,
      staging: [{ iso: '', host: iso }],
      argv: (out) => ['-as', 'mkisofs', '-r', '-J', '-joliet-long', ...UBUNTU_LAYOUT(esp, kit.bootHybrid), '-o', out, iso],
    };
  },
};

/**
 * Split `-report_el_torito as_mkisofs` output into argv words: one option and its arguments per
 * line, single-quoted where needed (xorriso writes ' as '"'"').
 */
export function parseAsMkisofs(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    let i = 0;
    while (i < line.length) {
      while (line[i] === ' ') i++;
      if (i >= line.length) break;
      let w = '';
      while (i < line.length && line[i] !== ' ') {
        const c = line[i]!;
        if (c === "'") {
          const j = line.indexOf("'", i + 1);
          w += line.slice(i + 1, j);
          i = j + 1;
        } else if (c === '"') {
          const j = line.indexOf('"', i + 1);
          w += line.slice(i + 1, j);
          i = j + 1;
        } else {
          w += c;
          i++;
        }
      }
      out.push(w);
    }
  }
  return out;
}

/**
 * A remaster: the lines `xorriso -indev MASTER -report_el_torito as_mkisofs` prints for the master
 * image, between `-r` and the tree (every Ubuntu/Fedora remaster guide runs exactly that). The
 * master is the client's own image made by xorriso, so the intervals name real sectors.
 */
function remasterOf(base: Client, name: string, source: string): Client {
  return {
    name,
    source,
    boot: false,
    async stage(kit, work) {
      const staged = (await base.stage(kit, join(work, 'master'))) as XorrisoStaged;
      const master = join(work, `${base.name}-master.iso`);
      const made = await runTool('xorriso', staged, master);
      const failed = runFailure(made);
      if (failed) throw new Error(`making the master: ${failed}`);
      const rep = await run(requireTool('xorriso', 'xorriso'), ['-indev', master, '-report_el_torito', 'as_mkisofs']);
      const layout = parseAsMkisofs(rep.stdout.toString().split('\n').filter((l) => l.startsWith('-')));
      // The remaster guides' first step: unpack the master's files (7z x / bsdtar -x).
      const tree = join(work, 'source-files');
      await mkdir(tree, { recursive: true });
      await run(requireTool('bsdtar', 'libarchive-tools'), ['--numeric-owner', '-xpf', master, '-C', tree]);
      await dateTree(tree);
      return {
        kind: 'xorriso',
        cwd: work,
        exactDiskGuid: staged.exactDiskGuid,
        setsPreparer: staged.setsPreparer,
        setsAppId: staged.setsAppId,
        staging: [{ iso: '', host: tree }],
        argv: (out) => ['-as', 'mkisofs', '-r', '-J', '-joliet-long', ...layout, '-o', out, tree],
      };
    },
  };
}


const fedora: Client = {
  name: 'fedora',
  source: 'weldr/lorax lorax-46.0-1 share/templates.d/99-generic/x86.tmpl (boot.iso)',
  boot: true,
  async stage(kit, work) {
    const o = join(work, 'out');
    await put(join(o, '.discinfo'), '1700000000.000000\nFedora 43\nx86_64\n');
    await put(join(o, 'images/install.img'), Buffer.alloc(128 * 1024, 0x66));
    await putKernel(kit, o, 'images/pxeboot/vmlinuz', 'images/pxeboot/initrd.img');
    await put(join(o, 'boot/grub2/grub.cfg'), grubCfg('/images/pxeboot/vmlinuz', '/images/pxeboot/initrd.img'));
    await putCopy(join(o, 'images/eltorito.img'), kit.eltoritoBootGrub2);
    await putCopy(join(o, 'EFI/BOOT/BOOTX64.EFI'), kit.grubEfiFedora);
    await put(join(o, 'EFI/BOOT/grub.cfg'), grubCfg('/images/pxeboot/vmlinuz', '/images/pxeboot/initrd.img'));
    // mkefiboot --label=ANACONDA: a FAT image of EFI/BOOT.
    await makeFat(join(o, 'images/efiboot.img'), { tool: 'mkfs.fat', args: ['-n', 'ANACONDA'], kib: 2048 }, [
      { from: kit.grubEfiFedora, to: 'EFI/BOOT/BOOTX64.EFI' },
      { from: join(o, 'EFI/BOOT/grub.cfg'), to: 'EFI/BOOT/grub.cfg' },
    ]);
    await dateTree(o);
    return {
      kind: 'xorriso',
      cwd: work,
      staging: [
        { iso: '/images/pxeboot', host: join(o, 'images/pxeboot') },
        { iso: '/EFI/BOOT', host: join(o, 'EFI/BOOT') },
        { iso: '/boot/grub2', host: join(o, 'boot/grub2') },
      ],
      argv: (out) => [
        '-as', 'mkisofs',
        '-o', out,
        '-R', '-J', '-V', FEDORA_VOLID,
        '--grub2-mbr', '/usr/lib/grub/i386-pc/boot_hybrid.img',
        '-partition_offset', '16',
        '-appended_part_as_gpt',
        '-append_partition', '2', ESP_GUID, `${o}/images/efiboot.img`,
        '-iso_mbr_part_type', 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
        '-c', 'boot.cat', '--boot-catalog-hide',
        '-b', 'images/eltorito.img',
        '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info',
        '-eltorito-alt-boot',
        '-e', '--interval:appended_partition_2:all::', '-no-emul-boot',
        '-graft-points',
        `.discinfo=${o}/.discinfo`,
        `images/install.img=${o}/images/install.img`,
        `images/pxeboot=${o}/images/pxeboot`,
        `boot/grub2=${o}/boot/grub2`,
        'boot/grub2/i386-pc=/usr/lib/grub/i386-pc',
        `images/eltorito.img=${o}/images/eltorito.img`,
        `EFI/BOOT=${o}/EFI/BOOT`,
      ],
    };
  },
};

/** k3OS's medium (/usr/src/iso): grub.cfg finds it by its label K3OS. */
async function k3osTree(kit: Kit, work: string): Promise<string> {
  const t = join(work, 'usr/src/iso');
  await putKernel(kit, t, 'k3os/system/kernel/current/vmlinuz', 'k3os/system/kernel/current/initrd');
  await put(join(t, 'k3os/system/config.yaml'), 'k3os:\n  password: rancher\n');
  // images/70-iso/grub.cfg: `search.fs_label K3OS root`, then the kernel (here without the
  // squashfs loopback: the kit's kernel is a plain file).
  await put(join(t, 'boot/grub/grub.cfg'), grubCfg('/k3os/system/kernel/current/vmlinuz', '/k3os/system/kernel/current/initrd', 'search --no-floppy --label K3OS --set=root'));
  await dateTree(t);
  return t;
}

const k3os: Client = {
  name: 'k3os',
  source: 'rancher/k3os v0.10.0-rc1 images/70-iso: grub-mkrescue --xorriso=wrapper, wrapper = `xorriso -joliet on -rockridge on $A`',
  boot: true,
  async stage(kit, work) {
    const t = await k3osTree(kit, work);
    return {
      kind: 'grub-mkrescue',
      cwd: t,
      masks: { '/efi.img': [[39, 43]] },
      staging: [{ iso: '', host: t }],
      async args(program, out) {
        // images/70-iso/wrapper, with /tmp/args kept in the work dir and `xorriso` -> program.
        const wrapper = join(work, `wrapper-${createHash('sha1').update(program).digest('hex').slice(0, 8)}`);
        await writeFile(
          wrapper,
          [
            '#!/bin/bash',
            'A="$(echo "$@" | sed \'s!-hfsplus -apm-block-size 2048 -hfsplus-file-creator-type chrp tbxj /System/Library/CoreServices/.disk_label -hfs-bless-by i /System/Library/CoreServices/boot.efi!!\')"',
            `echo $A >> ${join(work, 'args')}`,
            'set -x',
            `exec ${program} -joliet on -rockridge on $A`,
            '',
          ].join('\n'),
        );
        await chmod(wrapper, 0o755);
        return [`--xorriso=${wrapper}`, '-o', out, '.', '-V', 'K3OS'];
      },
    };
  },
};

const k3osFinal: Client = {
  name: 'k3os-final',
  source: 'rancher/k3os v0.10.0…v0.21 images/70-iso: grub-mkrescue -o k3os.iso /usr/src/iso/. -- -volid K3OS -joliet on',
  boot: false,
  async stage(kit, work) {
    const t = await k3osTree(kit, work);
    return {
      kind: 'grub-mkrescue',
      cwd: work,
      masks: { '/efi.img': [[39, 43]] },
      staging: [{ iso: '', host: t }],
      async args(program, out) {
        return [`--xorriso=${program}`, '-o', out, `${t}/.`, '--', '-volid', 'K3OS', '-joliet', 'on'];
      },
    };
  },
};

export const CLIENTS: readonly Client[] = [
  grubMkrescue,
  liveBuild,
  liveBuildGrubPc,
  alpine,
  nixos,
  archiso,
  ubuntu,
  remasterOf(ubuntu, 'ubuntu-remaster', 'Ubuntu remaster: the as_mkisofs replay of the ubuntu image (--interval:local_fs:, appended_partition_2_start_Ns_size_Md)'),
  fedora,
  remasterOf(fedora, 'fedora-remaster', 'Fedora remaster: the as_mkisofs replay of the boot.iso (-partition_hd_cyl, -partition_sec_hd, --interval:local_fs:)'),
  k3os,
  k3osFinal,
];

// ---------------------------------------------------------------------------------------------
// Running a client's command through one tool

export interface ToolRun {
  tool: Tool;
  /** When the run started (seconds): files a wrapper creates during the run are dated after it. */
  startedAt: number;
  /** What ran, for messages (program + argv). */
  command: string;
  result: RunResult;
  out: string;
}

const sh = (w: string) => (/^[A-Za-z0-9_./=:,+@%-]+$/.test(w) ? w : `'${w.replace(/'/g, `'"'"'`)}'`);

/** grub-mkrescue's --xorriso= for the reference image: xorriso without its HFS+ options. */
export const XORRISO_WITHOUT_HFSPLUS = fileURLToPath(new URL('./xorriso-without-hfsplus.mjs', import.meta.url));

/** The imgkit xorriso entry point, or an error naming what is missing. */
export function imgkitXorrisoProgram(): string {
  if (!existsSync(IMGKIT_XORRISO)) throw new Error(`imgkit's xorriso entry point ${IMGKIT_XORRISO} does not exist (set IMGKIT_XORRISO_BIN, or build the CLI)`);
  try {
    accessSync(IMGKIT_XORRISO, constants.X_OK);
  } catch {
    throw new Error(`imgkit's xorriso entry point ${IMGKIT_XORRISO} is not executable: grub-mkrescue --xorriso= execs it directly`);
  }
  return IMGKIT_XORRISO;
}

/** Run the staged command with one tool, writing `out`; never throws on the tool's exit status. */
export async function runTool(tool: Tool, staged: Staged, out: string): Promise<ToolRun> {
  await rm(out, { force: true });
  const startedAt = Math.floor(Date.now() / 1000);
  const env = { SOURCE_DATE_EPOCH: String(KIT_EPOCH) };
  if (staged.kind === 'xorriso') {
    const argv = staged.argv(out);
    let cmd: string;
    let args: string[];
    if (tool === 'xorriso') {
      cmd = requireTool('xorriso', 'xorriso');
      args = argv;
    } else if (argv[0] === '-as' && argv[1] === 'mkisofs') {
      cmd = process.execPath;
      args = [IMGKIT_CLI, 'mkisofs', ...argv.slice(2)];
    } else {
      cmd = process.execPath;
      args = [imgkitXorrisoProgram(), ...argv];
    }
    const result = await run(cmd, args, { cwd: staged.cwd, env, allowFail: true });
    return { tool, startedAt, command: [cmd, ...args].map(sh).join(' '), result, out };
  }
  // xorriso's reference image leaves out HFS+ (see test/lib/xorriso-without-hfsplus.mjs): imgkit
  // accepts the HFS+ options with one warning and writes the rest of xorriso's layout.
  const program = tool === 'xorriso' ? XORRISO_WITHOUT_HFSPLUS : imgkitXorrisoProgram();
  if (tool === 'xorriso') requireTool('xorriso', 'xorriso');
  const args = await staged.args(program, out);
  const faketime = requireTool('faketime', 'faketime');
  const mkrescue = requireTool('grub-mkrescue', 'grub-common');
  const cmdArgs = ['-f', MKRESCUE_TIME, mkrescue, ...args];
  // libfaketime also shifts the file times stat() returns, which xorriso (libc stat) would see and
  // node (libuv's statx syscall) would not: NO_FAKE_STAT keeps every tool reading the real times.
  const result = await run(faketime, cmdArgs, { cwd: staged.cwd, env: { ...env, FAKETIME_DONT_FAKE_MONOTONIC: '1', NO_FAKE_STAT: '1', TZ: 'UTC' }, allowFail: true });
  return { tool, startedAt, command: [faketime, ...cmdArgs].map(sh).join(' '), result, out };
}

/** Why a run did not produce an image, or undefined when it did. */
export function runFailure(r: ToolRun): string | undefined {
  if (r.result.code !== 0) return `${r.tool} exited with ${r.result.code}: ${r.command}\n${r.result.stderr.trim().split('\n').slice(-15).join('\n')}`;
  if (!existsSync(r.out)) return `${r.tool} exited 0 but wrote no ${r.out}: ${r.command}`;
  return undefined;
}
