/**
 * Boot the images `imgkit mkisofs` makes from the distributions' command lines (test/lib/iso-kit.ts),
 * one layout family per group, in QEMU (software emulation). Each cell passes only when the
 * initramfs' /init prints its marker:
 *   - SeaBIOS, CD-ROM: El Torito (isolinux, or GRUB's eltorito.img);
 *   - SeaBIOS, disk: the MBR code (isohdpfx.bin, or GRUB's boot_hybrid.img patched by --grub2-mbr);
 *   - OVMF, CD-ROM: the El Torito UEFI image (GRUB in FAT);
 *   - OVMF, disk, with the El Torito catalog defaced in a copy: the firmware must find the ESP
 *     through the MBR or GPT; GRUB's $cmdpath names the partition it started from.
 * test/iso-xorriso.test.ts shows these images equal xorriso's byte for byte outside directory
 * records; here they boot. Two QEMUs at a time (BOOTING.md: 10–25 s per boot).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { defaceCatalog, grubMkrescue, IMGKIT_XORRISO, isoKit, KIT_EPOCH, KIT_LINES, KIT_MARKER, kitArgs, type IsoKit } from './lib/iso-kit.ts';
import { boot, consoleTail, type BootOptions } from './lib/qemu.ts';
import { runImgkit, tempDir } from './lib/tools.ts';

let kit: IsoKit;
let work = '';
before(async () => {
  kit = await isoKit();
  work = await tempDir('boot-mkisofs');
});

type Family = keyof typeof KIT_LINES | 'grub-mkrescue';
const images = new Map<string, Promise<string>>();
/** The family's image (made once), or its copy with the catalog defaced. */
function image(family: Family, defaced = false): Promise<string> {
  const key = `${family}${defaced ? '-defaced' : ''}`;
  let p = images.get(key);
  if (!p) {
    p = (async () => {
      const iso = join(work, `${family}.iso`);
      if (defaced) {
        const out = join(work, `${family}-defaced.iso`);
        await defaceCatalog(await image(family), out);
        return out;
      }
      if (family === 'grub-mkrescue') {
        const r = await grubMkrescue(kit, IMGKIT_XORRISO, iso);
        assert.equal(r.code, 0, r.output);
        return iso;
      }
      const r = await runImgkit(['mkisofs', ...kitArgs(kit, KIT_LINES[family]), '-o', iso], { env: { SOURCE_DATE_EPOCH: KIT_EPOCH }, cwd: kit.tree });
      assert.equal(r.code, 0, r.stderr);
      return iso;
    })();
    images.set(key, p);
  }
  return p;
}

async function cell(o: Omit<BootOptions, 'marker'>, cmdpath?: RegExp): Promise<void> {
  const r = await boot({ ...o, marker: KIT_MARKER, memoryMb: o.firmware === 'ovmf' ? 1024 : 256 });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  if (cmdpath) assert.match(r.console, cmdpath, consoleTail(r.console));
}

/** The four cells for a family; `esp` is the partition GRUB must say it came from without El Torito. */
function matrix(family: Family, title: string, esp: RegExp): void {
  describe(title, { concurrency: 2 }, () => {
    test('SeaBIOS, CD-ROM (El Torito)', async () => cell({ cdrom: await image(family), bootDisk: 'cdrom', firmware: 'seabios' }));
    test('SeaBIOS, disk (MBR code)', async () => cell({ drives: [{ file: await image(family), if: 'ide', format: 'raw' }], bootDisk: 'disk', firmware: 'seabios', extraArgs: ['-snapshot'] }));
    test('OVMF, CD-ROM (El Torito UEFI image)', async () => cell({ cdrom: await image(family), bootDisk: 'cdrom', firmware: 'ovmf' }, /imgkit-cmdpath=\(cd\d*\)/));
    test('OVMF, disk, catalog defaced (the ESP through the partition table)', async () =>
      cell({ drives: [{ file: await image(family, true), if: 'virtio', format: 'raw', readonly: true }], bootDisk: 'disk', firmware: 'ovmf' }, esp));
  });
}

// isohybrid MBR, partition 1 type 0x00 beside the 0xEF entry (OVMF takes the MBR: not protective).
matrix('liveBuild', 'Debian live-build: -isohybrid-mbr -isohybrid-gpt-basdat', /imgkit-cmdpath=\(hd0,msdos2\)/);
matrix('offset', 'live-build with -partition_offset 16', /imgkit-cmdpath=\(hd0,msdos2\)/);
// GRUB2 hybrid: boot_hybrid.img loads eltorito.img at LBA×4+4; protective MBR + GPT with the ESP.
matrix('grubMkrescue', 'grub-mkrescue: --grub2-mbr --grub2-boot-info --protective-msdos-label -efi-boot-part --efi-boot-image', /imgkit-cmdpath=\(hd0,gpt\d\)/);
// grub-mkrescue itself, running imgkit through --xorriso= (its own GRUB cores and efi.img).
matrix('grub-mkrescue', 'grub-mkrescue --xorriso=imgkit-xorriso.js', /imgkit-cmdpath=\(hd0,gpt\d\)/);
matrix('ubuntu', 'Ubuntu: GRUB2 hybrid, offset 16, ESP appended as GPT partition 2', /imgkit-cmdpath=\(hd0,gpt2\)/);
// archiso: MBR partition 1 0x00 active at 64, the ESP as MBR partition 2 0xEF, a GPT that is not valid.
matrix('archisoMbr', 'archiso: MBR-style appended ESP', /imgkit-cmdpath=\(hd0,msdos2\)/);
