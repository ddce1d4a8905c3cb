/**
 * Boot ISOs written by writeIso in QEMU (software emulation), each passing only when the initramfs'
 * /init prints its marker:
 *   1. SeaBIOS, ISO as CD-ROM: El Torito → isolinux (Debian's isolinux package).
 *   2. SeaBIOS, ISO as hard disk: isohybrid MBR (isohdpfx.bin) → isolinux.
 *   3. OVMF, ISO as CD-ROM: El Torito UEFI image (FAT, GRUB from grub-mkstandalone).
 *   4. OVMF, ISO as disk: protective MBR + GPT, ESP appended as partition 2; GRUB's $cmdpath on
 *      the serial console proves it started from (hd0,gpt2), not through El Torito.
 * Sequential, one boot each (BOOTING.md: 10–25 s per boot here).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { writeIso, type IsoOptions } from '@imgkit/iso9660';
import { buildInitramfs } from './lib/initramfs.js';
import { boot, consoleTail, defaultKernel } from './lib/qemu.js';
import { requireTool, run, tempDir } from './lib/tools.js';

const MARKER = 'IMGKIT-ISO-INIT-REACHED';
const KARGS = 'console=ttyS0 panic=-1 oops=panic';

function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}

let dir = '';
let kernel: Uint8Array;
let initrd: Uint8Array;
let efiImage: Uint8Array;

before(async () => {
  dir = await tempDir('boot-iso');
  kernel = await readFile((await defaultKernel()).kernel);
  initrd = await readFile(await buildInitramfs({ initScript: `echo ${MARKER}\npoweroff -f\n` }));
  // A UEFI GRUB from Debian's packages: finds the ISO by a stamp file, prints where it came from.
  const embedded = join(dir, 'embedded.cfg');
  await writeFile(embedded, 'search --no-floppy --file /imgkit-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n');
  const mods = 'part_gpt part_msdos iso9660 fat search search_fs_file linux normal configfile echo all_video test';
  const efi = join(dir, 'BOOTX64.EFI');
  requireFile('/usr/lib/grub/x86_64-efi/linux.mod', 'grub-efi-amd64-bin');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', efi, `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${embedded}`]);
  const img = join(dir, 'efi.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-n', 'IMGKITESP', img, '4096']);
  await run(requireTool('mmd', 'mtools'), ['-i', img, '::/EFI', '::/EFI/BOOT']);
  await run(requireTool('mcopy', 'mtools'), ['-i', img, efi, '::/EFI/BOOT/BOOTX64.EFI']);
  efiImage = await readFile(img);
});

function liveTree(): MemoryEntryInit[] {
  return [
    { path: 'imgkit-stamp', kind: 'file', content: 'imgkit\n' },
    { path: 'boot/vmlinuz', kind: 'file', content: kernel },
    { path: 'boot/initrd.img', kind: 'file', content: initrd },
    { path: 'boot/grub/grub.cfg', kind: 'file', content: `set timeout=0\nmenuentry imgkit {\n  linux /boot/vmlinuz ${KARGS}\n  initrd /boot/initrd.img\n}\n` },
    { path: 'isolinux/isolinux.bin', kind: 'file', content: new Uint8Array(0) },
    { path: 'isolinux/isolinux.cfg', kind: 'file', content: `SERIAL 0 115200\nDEFAULT imgkit\nPROMPT 0\nTIMEOUT 0\nLABEL imgkit\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND ${KARGS}\n` },
  ];
}

async function makeIso(name: string, extra: MemoryEntryInit[], o: IsoOptions): Promise<string> {
  const isolinux = await readFile(requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'));
  const ldlinux = await readFile(requireFile('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'));
  const files = liveTree().map((f) => (f.path === 'isolinux/isolinux.bin' ? { ...f, content: isolinux } : f));
  files.push({ path: 'isolinux/ldlinux.c32', kind: 'file', content: ldlinux }, ...extra);
  const iso = join(dir, name);
  const sink = await fileSink(iso);
  await writeIso(memoryTree(files), sink, { volumeId: 'IMGKIT_LIVE', joliet: true, epoch: 1_700_000_000, ...o });
  await sink.close();
  return iso;
}

let hybridIso = '';
const biosOptions = async (): Promise<IsoOptions> => ({
  biosBoot: { path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true },
  catalogPath: 'isolinux/boot.cat',
  efiBoot: { path: 'boot/efi.img' },
  hybrid: 'isohybrid-mbr',
  mbrTemplate: new Uint8Array(await readFile(requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux'))),
});

test('SeaBIOS boots the ISO as a CD-ROM through El Torito and isolinux', async () => {
  hybridIso = await makeIso('hybrid.iso', [{ path: 'boot/efi.img', kind: 'file', content: efiImage }], await biosOptions());
  const r = await boot({ cdrom: hybridIso, bootDisk: 'cdrom', firmware: 'seabios', marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
});

test('SeaBIOS boots the same ISO as a hard disk through the isohybrid MBR', async () => {
  const r = await boot({ drives: [{ file: hybridIso, if: 'ide', format: 'raw' }], bootDisk: 'disk', firmware: 'seabios', marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
});

test('OVMF boots the same ISO as a CD-ROM through the El Torito UEFI image', async () => {
  const r = await boot({ cdrom: hybridIso, bootDisk: 'cdrom', firmware: 'ovmf', marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.match(r.console, /imgkit-cmdpath=\(cd\d*\)/);
});

test('OVMF boots an appended-ESP ISO as a disk through the GPT ESP, not El Torito', async () => {
  const iso = await makeIso('appended.iso', [], {
    biosBoot: { path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true },
    catalogPath: 'isolinux/boot.cat',
    hybrid: 'appended-esp',
    mbrTemplate: new Uint8Array(await readFile(requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux'))),
    appendedEsp: { size: efiImage.byteLength, read: async function* () { yield efiImage; } },
    efiBoot: 'appended-esp',
  });
  const r = await boot({ drives: [{ file: iso, if: 'virtio', format: 'raw' }], bootDisk: 'disk', firmware: 'ovmf', marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.match(r.console, /imgkit-cmdpath=\(hd0,gpt2\)/, consoleTail(r.console));
});
