/**
 * Boot ISOs written by writeIso in QEMU (software emulation), each passing only when the initramfs'
 * /init prints its marker:
 *   1. SeaBIOS, ISO as CD-ROM: El Torito → isolinux (Debian's isolinux package).
 *   2. SeaBIOS, ISO as hard disk: isohybrid MBR (isohdpfx.bin) → isolinux.
 *   3. OVMF, ISO as CD-ROM: El Torito UEFI image (FAT, GRUB from grub-mkstandalone).
 *   4. OVMF, ISO as disk: protective MBR + GPT, ESP appended as partition 2; GRUB's $cmdpath on
 *      the serial console proves it started from (hd0,gpt2), not through El Torito.
 * The UEFI images are built by imgkit from a directory holding EFI/BOOT/BOOTX64.EFI (`efiDir`;
 * `imgkit iso --efi-dir` for the isohybrid ISO): no mkfs.fat, no mtools. The isohybrid ISO (boots
 * 1–3) is made by the CLI from a staged tree, the appended-ESP ISO (boot 4) by the library.
 * Sequential, one boot each (BOOTING.md: 10–25 s per boot here).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { fileSink, nodeSource } from '@imgkit/core/node';
import { planIso, writeIso, type IsoOptions } from '@imgkit/iso9660';
import { buildInitramfs } from './lib/initramfs.js';
import { boot, consoleTail, defaultKernel } from './lib/qemu.js';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.js';

const MARKER = 'IMGKIT-ISO-INIT-REACHED';
const KARGS = 'console=ttyS0 panic=-1 oops=panic';

function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}

let dir = '';
let kernel: Uint8Array;
let initrd: Uint8Array;
/** The ESP's files: EFI/BOOT/BOOTX64.EFI (the removable-media path UEFI firmware boots). */
let espDir = '';

before(async () => {
  dir = await tempDir('boot-iso');
  kernel = await readFile((await defaultKernel()).kernel);
  initrd = await readFile(await buildInitramfs({ initScript: `echo ${MARKER}\npoweroff -f\n` }));
  // A UEFI GRUB from Debian's packages: finds the ISO by a stamp file, prints where it came from.
  const embedded = join(dir, 'embedded.cfg');
  await writeFile(embedded, 'search --no-floppy --file /imgkit-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n');
  const mods = 'part_gpt part_msdos iso9660 fat search search_fs_file linux normal configfile echo all_video test';
  espDir = join(dir, 'esp');
  await mkdir(join(espDir, 'EFI/BOOT'), { recursive: true });
  requireFile('/usr/lib/grub/x86_64-efi/linux.mod', 'grub-efi-amd64-bin');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', join(espDir, 'EFI/BOOT/BOOTX64.EFI'), `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${embedded}`]);
});

function liveTree(initramfs = initrd): MemoryEntryInit[] {
  return [
    { path: 'imgkit-stamp', kind: 'file', content: 'imgkit\n' },
    { path: 'boot/vmlinuz', kind: 'file', content: kernel },
    { path: 'boot/initrd.img', kind: 'file', content: initramfs },
    { path: 'boot/grub/grub.cfg', kind: 'file', content: `set timeout=0\nmenuentry imgkit {\n  linux /boot/vmlinuz ${KARGS}\n  initrd /boot/initrd.img\n}\n` },
    { path: 'isolinux/isolinux.bin', kind: 'file', content: new Uint8Array(0) },
    { path: 'isolinux/isolinux.cfg', kind: 'file', content: `SERIAL 0 115200\nDEFAULT imgkit\nPROMPT 0\nTIMEOUT 0\nLABEL imgkit\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND ${KARGS}\n` },
  ];
}

async function liveFiles(extra: MemoryEntryInit[], initramfs: Uint8Array): Promise<MemoryEntryInit[]> {
  const isolinux = await readFile(requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'));
  const ldlinux = await readFile(requireFile('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'));
  const files = liveTree(initramfs).map((f) => (f.path === 'isolinux/isolinux.bin' ? { ...f, content: isolinux } : f));
  files.push({ path: 'isolinux/ldlinux.c32', kind: 'file', content: ldlinux }, ...extra);
  return files;
}

async function makeIso(name: string, extra: MemoryEntryInit[], o: IsoOptions, initramfs = initrd): Promise<string> {
  const iso = join(dir, name);
  const sink = await fileSink(iso);
  await writeIso(memoryTree(await liveFiles(extra, initramfs)), sink, { volumeId: 'IMGKIT_LIVE', joliet: true, epoch: 1_700_000_000, ...o });
  await sink.close();
  return iso;
}

const isohdpfx = () => requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux');

let hybridIso = '';
/**
 * The isohybrid ISO (BIOS + UEFI El Torito, MBR, the EFI image marked in a GPT as Debian's
 * -isohybrid-gpt-basdat does), made once for the first three boots by `imgkit iso --efi-dir`.
 */
async function hybrid(): Promise<string> {
  if (hybridIso) return hybridIso;
  const tree = join(dir, 'hybrid-tree');
  for (const f of await liveFiles([], initrd)) {
    await mkdir(dirname(join(tree, f.path)), { recursive: true });
    await writeFile(join(tree, f.path), typeof f.content === 'string' ? f.content : (f.content as Uint8Array));
  }
  const iso = join(dir, 'hybrid.iso');
  const r = await runImgkit(
    ['iso', tree, iso, '--volid', 'IMGKIT_LIVE', '--joliet', '--bios-boot', 'isolinux/isolinux.bin', '--boot-load-size', '4', '--boot-info-table',
      '--boot-catalog', 'isolinux/boot.cat', '--efi-dir', espDir, '--efi-label', 'IMGKITESP', '--efi-image-path', 'boot/efi.img',
      '--hybrid', 'isohybrid-mbr', '--isohybrid-gpt', '--mbr-template', isohdpfx()],
    { env: { SOURCE_DATE_EPOCH: '1700000000' } },
  );
  assert.equal(r.code, 0, r.stderr);
  hybridIso = iso;
  return iso;
}

test('SeaBIOS boots the ISO as a CD-ROM through El Torito and isolinux', async () => {
  const r = await boot({ cdrom: await hybrid(), bootDisk: 'cdrom', firmware: 'seabios', marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
});

test('SeaBIOS boots the same ISO as a hard disk through the isohybrid MBR', async () => {
  const r = await boot({ drives: [{ file: await hybrid(), if: 'ide', format: 'raw' }], bootDisk: 'disk', firmware: 'seabios', marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
});

test('OVMF boots the same ISO as a CD-ROM through the El Torito UEFI image', async () => {
  const r = await boot({ cdrom: await hybrid(), bootDisk: 'cdrom', firmware: 'ovmf', marker: MARKER, memoryMb: 1024 });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.match(r.console, /imgkit-cmdpath=\(cd\d*\)/);
});

test('OVMF boots an appended-ESP ISO (archiso layout, partition offset 16) as a disk through the GPT ESP, not El Torito', async () => {
  const options: IsoOptions = {
    volumeId: 'IMGKIT_LIVE',
    joliet: true,
    epoch: 1_700_000_000,
    biosBoot: { path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true },
    catalogPath: 'isolinux/boot.cat',
    hybrid: 'appended-esp',
    mbrTemplate: new Uint8Array(await readFile(isohdpfx())),
    efiDir: { tree: nodeSource(espDir), fat: { label: 'IMGKITESP' } },
    partitionOffsetBlocks: 16,
  };
  const plan = await planIso(memoryTree(await liveFiles([], initrd)), options);
  assert.equal(plan.efiImage?.placement, 'appended-partition');
  const iso = join(dir, 'appended.iso');
  const sink = await fileSink(iso);
  const result = await plan.write(sink);
  await sink.close();
  assert.equal(result.efiImageLba, result.appendedPartitions[1]?.startBlock, 'El Torito points at the appended ESP');
  const r = await boot({ drives: [{ file: iso, if: 'virtio', format: 'raw' }], bootDisk: 'disk', firmware: 'ovmf', marker: MARKER, memoryMb: 1024 });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.match(r.console, /imgkit-cmdpath=\(hd0,gpt2\)/, consoleTail(r.console));
});

test('live ISO: isolinux boots, /init mounts the CD (Linux isofs, Rock Ridge) and /live/filesystem.squashfs from it', async () => {
  const { writeSquashfs } = await import('@imgkit/squashfs');
  const { MemorySink } = await import('@imgkit/core');
  const sq = new MemorySink();
  await writeSquashfs(memoryTree([{ path: 'etc/hello', kind: 'file', content: 'live root\n' }, { path: 'bin/x', kind: 'symlink', linkTarget: '../etc/hello' }]), sq, { epoch: 1_700_000_000 });
  const squashfs = sq.bytes().slice();
  const longTarget = `/${'t'.repeat(200)}/${'u'.repeat(200)}/end`;
  const deep = Array.from({ length: 10 }, (_, i) => `d${i + 1}`).join('/');
  const LIVE = 'IMGKIT-LIVE-SQUASHFS-MOUNTED';
  const liveInitrd = await readFile(
    await buildInitramfs({
      modules: ['ata_piix', 'sr_mod', 'isofs', 'loop', 'squashfs'],
      initScript: [
        'mount -t devtmpfs dev /dev; mount -t proc proc /proc',
        'mkdir -p /cd /sq',
        'for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/sr0 ] && break; sleep 1; done',
        'mount -t iso9660 -o ro /dev/sr0 /cd || echo "cd mount failed"',
        `[ "$(readlink /cd/rr/long)" = "${longTarget}" ] || echo "long symlink wrong: $(readlink /cd/rr/long)"`,
        `[ "$(cat /cd/rr/${deep}/leaf)" = "deep" ] || echo "deep leaf wrong"`,
        '[ "$(stat -c %h /cd/rr/hard1)" = "2" ] && [ "$(stat -c %i /cd/rr/hard1)" = "$(stat -c %i /cd/rr/hard2)" ] || echo "hard links wrong"',
        '[ "$(stat -c %a:%u:%g /cd/rr/owned)" = "4750:1000:100" ] || echo "PX wrong: $(stat -c %a:%u:%g /cd/rr/owned)"',
        'mount -t squashfs -o loop,ro /cd/live/filesystem.squashfs /sq || echo "squashfs mount failed"',
        `[ "$(cat /sq/bin/x)" = "live root" ] && [ "$(readlink /cd/rr/long)" = "${longTarget}" ] && [ "$(cat /cd/rr/${deep}/leaf)" = "deep" ] && echo ${LIVE}`,
        'poweroff -f',
      ].join('\n'),
    }),
  );
  const iso = await makeIso(
    'live.iso',
    [
      { path: 'live/filesystem.squashfs', kind: 'file', size: squashfs.byteLength, content: async function* () { yield squashfs; } },
      { path: 'rr/long', kind: 'symlink', linkTarget: longTarget },
      { path: `rr/${deep}/leaf`, kind: 'file', content: 'deep\n' },
      { path: 'rr/hard1', kind: 'file', content: 'h\n' },
      { path: 'rr/hard2', kind: 'file', content: 'h\n', hardLinkTo: 'rr/hard1' },
      { path: 'rr/owned', kind: 'file', content: 'o\n', mode: 0o4750, uid: 1000, gid: 100 },
    ],
    {
      biosBoot: { path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true },
      catalogPath: 'isolinux/boot.cat',
    },
    liveInitrd,
  );
  const r = await boot({ cdrom: iso, bootDisk: 'cdrom', firmware: 'seabios', marker: LIVE });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
});
