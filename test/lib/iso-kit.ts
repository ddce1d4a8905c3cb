/**
 * A staging tree for hybrid-ISO tests, built from Debian's packages like a live system's:
 *   isolinux/{isolinux.bin,ldlinux.c32,isolinux.cfg}   syslinux BIOS boot (El Torito and isohybrid MBR)
 *   boot/grub/i386-pc/eltorito.img                    GRUB i386-pc core for CDs (grub-mkimage), with a
 *                                                     config that finds the medium by its stamp file
 *   boot/grub/grub.cfg                                the kernel menu (serial console)
 *   boot/grub/efi.img                                 FAT ESP with GRUB x86_64-efi (grub-mkstandalone)
 *                                                     as EFI/BOOT/BOOTX64.EFI, printing "imgkit-cmdpath="
 *   live/vmlinuz, live/initrd.img                     Debian's kernel, a busybox initramfs printing MARKER
 *   imgkit-stamp, names that clash at ISO level 1, a 70-character name, a symlink
 * plus, beside the tree, the same ESP as `esp.img` (for -append_partition) and the MBR templates.
 * Every time in the tree is KIT_MTIME, older than the tests' SOURCE_DATE_EPOCH, so xorriso and
 * imgkit see the same times. Built once per test process.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildInitramfs } from './initramfs.ts';
import { defaultKernel } from './qemu.ts';
import { REPO_ROOT, requireTool, run, tempDir } from './tools.ts';

export const KIT_MARKER = 'IMGKIT-HYBRID-INIT-REACHED';
export const KIT_MTIME = 1_690_000_000;
export const KIT_EPOCH = '1700000000';
const KARGS = 'console=ttyS0 panic=-1 oops=panic';

export interface IsoKit {
  /** The staging tree. */
  tree: string;
  /** The ESP image outside the tree (for -append_partition). */
  esp: string;
  isohdpfx: string;
  bootHybrid: string;
  dir: string;
}

export function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}

let cached: Promise<IsoKit> | undefined;

/** The kit (built on first use). */
export function isoKit(): Promise<IsoKit> {
  cached ??= buildKit();
  return cached;
}

async function buildKit(): Promise<IsoKit> {
  const dir = await tempDir('iso-kit');
  const tree = join(dir, 'tree');
  const isohdpfx = requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux');
  const bootHybrid = requireFile('/usr/lib/grub/i386-pc/boot_hybrid.img', 'grub-pc-bin');
  requireFile('/usr/lib/grub/i386-pc/biosdisk.mod', 'grub-pc-bin');
  requireFile('/usr/lib/grub/x86_64-efi/linux.mod', 'grub-efi-amd64-bin');
  for (const d of ['isolinux', 'boot/grub/i386-pc', 'live', 'mods']) await mkdir(join(tree, d), { recursive: true });

  await copyFile(requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'), join(tree, 'isolinux/isolinux.bin'));
  await copyFile(requireFile('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'), join(tree, 'isolinux/ldlinux.c32'));
  await writeFile(join(tree, 'isolinux/isolinux.cfg'), `SERIAL 0 115200\nDEFAULT live\nPROMPT 0\nTIMEOUT 0\nLABEL live\n  KERNEL /live/vmlinuz\n  INITRD /live/initrd.img\n  APPEND ${KARGS}\n`);
  await writeFile(join(tree, 'imgkit-stamp'), 'imgkit\n');
  await writeFile(join(tree, 'boot/grub/grub.cfg'), `serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset timeout=0\nmenuentry live {\n  linux /live/vmlinuz ${KARGS}\n  initrd /live/initrd.img\n}\n`);
  await copyFile((await defaultKernel()).kernel, join(tree, 'live/vmlinuz'));
  await copyFile(await buildInitramfs({ initScript: `echo ${KIT_MARKER}\npoweroff -f\n` }), join(tree, 'live/initrd.img'));

  // GRUB for BIOS: a CD core (as grub-mkrescue makes it) that finds this medium and loads its grub.cfg.
  const early = join(dir, 'early.cfg');
  await writeFile(early, 'search --no-floppy --file /imgkit-stamp --set=root\nset prefix=($root)/boot/grub\necho "imgkit-cmdpath=$cmdpath"\nconfigfile ($root)/boot/grub/grub.cfg\n');
  const biosMods = 'biosdisk iso9660 part_msdos part_gpt search search_fs_file configfile normal linux echo serial terminal test';
  await run(requireTool('grub-mkimage', 'grub-common'), ['-O', 'i386-pc-eltorito', '-d', '/usr/lib/grub/i386-pc', '-p', '/boot/grub', '-c', early, '-o', join(tree, 'boot/grub/i386-pc/eltorito.img'), ...biosMods.split(' ')]);
  // GRUB for UEFI, in a FAT image (the El Torito EFI image and the appended ESP).
  const efiMods = 'part_gpt part_msdos iso9660 fat search search_fs_file linux normal configfile echo all_video test serial terminal';
  const bootx64 = join(dir, 'BOOTX64.EFI');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', bootx64, `--modules=${efiMods}`, `--install-modules=${efiMods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${early}`]);
  const esp = join(dir, 'esp.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-n', 'IMGKITESP', '-i', '1a2b3c4d', esp, '4096']);
  await run(requireTool('mmd', 'mtools'), ['-i', esp, '::/EFI', '::/EFI/BOOT']);
  await run(requireTool('mcopy', 'mtools'), ['-i', esp, bootx64, '::/EFI/BOOT/BOOTX64.EFI']);
  await copyFile(esp, join(tree, 'boot/grub/efi.img'));

  // Names that make the ISO 9660 and Joliet rules visible.
  for (const n of ['gcry_sha1.mod', 'gcry_sha256.mod', 'gcry_sha512.mod', 'search_fs_file.mod', 'search_fs_uuid.mod']) await writeFile(join(tree, 'mods', n), `${n}\n`);
  await writeFile(join(tree, 'mods', `${'a-rather-long-name-'.repeat(4)}.txt`), 'long\n');
  await symlink('../live/vmlinuz', join(tree, 'mods/kernel-link'));
  await run('find', [tree, '-exec', 'touch', '-h', '-d', `@${KIT_MTIME}`, '{}', '+']);
  return { tree, esp, isohdpfx, bootHybrid, dir };
}

/** A copy of `iso` whose El Torito catalog is zeroed, so firmware must boot it through its partition table. */
export async function defaceCatalog(iso: string, out: string): Promise<void> {
  const bytes = await readFile(iso);
  const bootRecord = bytes.subarray(17 * 2048, 18 * 2048);
  if (bootRecord[0] !== 0 || bootRecord.subarray(1, 6).toString('latin1') !== 'CD001') throw new Error(`${iso}: no El Torito boot record at block 17`);
  const catalog = bootRecord.readUInt32LE(0x47);
  bytes.fill(0, catalog * 2048, catalog * 2048 + 2048);
  await writeFile(out, bytes);
}

/**
 * mkisofs command lines of the layout families, as the distributions' scripts write them (paths
 * adapted to the kit). `$ISOHDPFX`, `$BOOT_HYBRID`, `$ESP` and `$TREE` are filled in by `kitArgs`;
 * unless `source` says otherwise the kit's tree is the one source, appended after the options.
 */
export const KIT_LINES = {
  /** Debian live-build binary_iso: syslinux MBR, GPT marks on the EFI image, APM. */
  liveBuild: {
    args: ['-R', '-r', '-J', '-joliet-long', '-l', '-cache-inodes', '-iso-level', '3', '-isohybrid-mbr', '$ISOHDPFX',
      '-A', 'Debian Live', '-p', 'live-build 1:20250814', '-publisher', 'Debian Live project; debian-live@lists.debian.org',
      '-V', 'Debian trixie 20231114-22:13', '--modification-date=2023111422132000',
      '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat', '-isohybrid-apm-hfsplus'],
  },
  /** live-build with -partition_offset 16. */
  offset: {
    args: ['-R', '-J', '-iso-level', '3', '-isohybrid-mbr', '$ISOHDPFX', '-partition_offset', '16', '-V', 'OFFSET',
      '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat'],
  },
  /** grub-mkrescue's options (HFS+ left out). */
  grubMkrescue: {
    args: ['-graft-points', '--modification-date=2023111422132000', '-b', 'boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4',
      '-boot-info-table', '--grub2-boot-info', '--grub2-mbr', '$BOOT_HYBRID', '--efi-boot', 'boot/grub/efi.img', '-efi-boot-part', '--efi-boot-image',
      '--protective-msdos-label', '-r', '--sort-weight', '0', '/', '--sort-weight', '1', '/boot'],
  },
  /** Ubuntu 22.04 (as `xorriso -report_el_torito as_mkisofs` prints it). */
  ubuntu: {
    args: ['-r', '-J', '-joliet-long', '-V', 'Ubuntu-Server 22.04.1 LTS amd64', '--modification-date=2022080916483300', '--grub2-mbr', '$BOOT_HYBRID',
      '--protective-msdos-label', '-partition_cyl_align', 'off', '-partition_offset', '16', '--mbr-force-bootable',
      '-append_partition', '2', '28732ac11ff8d211ba4b00a0c93ec93b', '$ESP', '-appended_part_as_gpt', '-iso_mbr_part_type', 'a2a0d0ebe5b9334487c068b6b72699c7',
      '-c', '/boot.catalog', '-b', '/boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info',
      '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot'],
  },
  /** archiso, MBR-style: the ESP appended as MBR partition 2 (0xEF), partition 1 active at 64. */
  archisoMbr: {
    args: ['-iso-level', '3', '-full-iso9660-filenames', '-joliet', '-joliet-long', '-rational-rock', '-volid', 'ARCH_202311', '-appid', 'Arch Linux Live/Rescue DVD',
      '-publisher', 'Arch Linux <https://archlinux.org>', '-preparer', 'prepared by mkarchiso', '-eltorito-boot', 'isolinux/isolinux.bin',
      '-eltorito-catalog', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-isohybrid-mbr', '$ISOHDPFX',
      '--mbr-force-bootable', '-partition_offset', '16', '-append_partition', '2', '0xef', '$ESP', '-isohybrid-gpt-basdat',
      '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot'],
  },
  /** Fedora lorax x86.tmpl: pathspecs only. */
  fedora: {
    args: ['-R', '-J', '-V', 'Fedora-S-dvd-x86_64-43', '--grub2-mbr', '$BOOT_HYBRID', '-partition_offset', '16', '-appended_part_as_gpt',
      '-append_partition', '2', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', '$ESP', '-iso_mbr_part_type', 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
      '-c', 'boot.cat', '--boot-catalog-hide', '-b', 'images/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info',
      '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', '-graft-points',
      'images/pxeboot=$TREE/live', 'images/eltorito.img=$TREE/boot/grub/i386-pc/eltorito.img', 'boot/grub2/grub.cfg=$TREE/boot/grub/grub.cfg', 'EFI/BOOT=$TREE/mods'],
    source: '',
  },
  /** Alpine mkimg.base.sh. */
  alpine: {
    args: ['-quiet', '-full-iso9660-filenames', '-joliet', '-rational-rock', '-sysid', 'LINUX', '-volid', 'alpine-std 3.21.0 x86_64',
      '-isohybrid-mbr', '$ISOHDPFX', '-eltorito-boot', 'isolinux/isolinux.bin', '-eltorito-catalog', 'isolinux/boot.cat', '-no-emul-boot',
      '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat', '-follow-links'],
  },
} satisfies Record<string, { args: string[]; source?: string }>;

/** A family's command line with the kit's paths filled in, the source (if any) last. */
export function kitArgs(kit: IsoKit, line: { args: readonly string[]; source?: string }, extra: readonly string[] = []): string[] {
  const fill = (a: string) => a.replace('$ESP', kit.esp).replace('$ISOHDPFX', kit.isohdpfx).replace('$BOOT_HYBRID', kit.bootHybrid).replace('$TREE', kit.tree);
  const source = line.source === undefined ? [kit.tree] : line.source === '' ? [] : [fill(line.source)];
  return [...line.args.map(fill), ...extra.map(fill), ...source];
}

/** The xorriso stand-in grub-mkrescue calls with --xorriso= (packages/cli/bin/imgkit-xorriso.js). */
export const IMGKIT_XORRISO = join(REPO_ROOT, 'packages/cli/bin/imgkit-xorriso.js');

/**
 * `grub-mkrescue --xorriso=XORRISO -o OUT` over a tree that holds only the kernel, the stamp and a
 * grub.cfg (printing GRUB's $cmdpath), so GRUB's own cores (eltorito.img, efi.img) are the boot
 * images. Returns grub-mkrescue's output (it passes the xorriso's messages through).
 */
export async function grubMkrescue(kit: IsoKit, xorriso: string, out: string): Promise<{ code: number; output: string }> {
  const tree = join(kit.dir, 'mkrescue-tree');
  if (!existsSync(tree)) {
    await mkdir(join(tree, 'boot/grub'), { recursive: true });
    await mkdir(join(tree, 'live'));
    await copyFile(join(kit.tree, 'imgkit-stamp'), join(tree, 'imgkit-stamp'));
    for (const f of ['vmlinuz', 'initrd.img']) await copyFile(join(kit.tree, 'live', f), join(tree, 'live', f));
    const cfg = await readFile(join(kit.tree, 'boot/grub/grub.cfg'), 'utf8');
    await writeFile(join(tree, 'boot/grub/grub.cfg'), `${cfg.split('\n').slice(0, 3).join('\n')}\necho "imgkit-cmdpath=$cmdpath"\n${cfg.split('\n').slice(3).join('\n')}`);
  }
  const r = await run(requireTool('grub-mkrescue', 'grub-common'), [`--xorriso=${xorriso}`, '-o', out, tree], { allowFail: true, env: { SOURCE_DATE_EPOCH: KIT_EPOCH } });
  return { code: r.code, output: r.stdout.toString() + r.stderr };
}
