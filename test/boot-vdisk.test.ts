/**
 * A GPT disk streamed straight into qcow2, VMDK (streamOptimized), VHD (dynamic) and VHDX
 * (dynamic) — no raw disk file on the way — boots in QEMU under OVMF to the guest's marker. The
 * disk: an ESP (mkfs.fat + mcopy: GRUB from grub-mkstandalone, Debian's kernel, an initramfs whose
 * /init prints the marker) and an empty root partition; @imgkit/partition's writer streams it into
 * each container sink over a file sink. GRUB prints `$cmdpath`, which must show it came from the
 * first GPT partition of the disk. One boot per format, one after another.
 *
 * This disk is built by the test with the partition package directly; the A/B disk of the layout
 * issue, written by `imgkit disk … --format`, boots in test/boot-disk.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { withSink, type ByteSink } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { planDisk } from '@imgkit/partition';
import { containerSink, type ImageOptions } from '@imgkit/vdisk';
import { buildInitramfs } from './lib/initramfs.ts';
import { boot, consoleTail, defaultKernel } from './lib/qemu.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';

const MARKER = 'IMGKIT-VDISK-BOOT-OK';
let dir = '';
let esp: Uint8Array;

before(async () => {
  dir = await tempDir('boot-vdisk');
  const kernel = (await defaultKernel()).kernel;
  const initrd = await buildInitramfs({ initScript: `echo ${MARKER}\npoweroff -f\n` });
  if (!existsSync('/usr/lib/grub/x86_64-efi/linux.mod')) throw new Error('GRUB EFI modules missing: apt-get install -y grub-efi-amd64-bin');
  const cfg = join(dir, 'embedded.cfg');
  await writeFile(
    cfg,
    'search --no-floppy --file /imgkit-vdisk-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nlinux ($root)/vmlinuz console=ttyS0 panic=-1 oops=panic\ninitrd ($root)/initrd.img\nboot\n',
  );
  const mods = 'part_gpt fat search search_fs_file linux echo all_video test normal';
  const efi = join(dir, 'BOOTX64.EFI');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', efi, `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${cfg}`]);
  const img = join(dir, 'esp.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-F', '32', '-n', 'ESP', img, String(48 * 1024)]);
  const mtools = (cmd: string, args: string[]) => run(requireTool(cmd, 'mtools'), ['-i', img, ...args]);
  await mtools('mmd', ['::/EFI', '::/EFI/BOOT']);
  await mtools('mcopy', [efi, '::/EFI/BOOT/BOOTX64.EFI']);
  await mtools('mcopy', [kernel, '::/vmlinuz']);
  await mtools('mcopy', [initrd, '::/initrd.img']);
  const stamp = join(dir, 'stamp');
  await writeFile(stamp, 'imgkit\n');
  await mtools('mcopy', [stamp, '::/imgkit-vdisk-stamp']);
  esp = await readFile(img);
});

const formats: [string, ImageOptions, string][] = [
  ['qcow2', { format: 'qcow2' }, 'qcow2'],
  ['vmdk', { format: 'vmdk' }, 'vmdk'],
  ['vhd', { format: 'vhd' }, 'vpc'],
  ['vhdx', { format: 'vhdx' }, 'vhdx'],
];

for (const [ext, o, qemuFormat] of formats) {
  test(`OVMF boots the GPT disk written straight to ${ext} (no raw file) to the marker`, async () => {
    const plan = planDisk({
      table: 'gpt',
      sizeBytes: '2G',
      epoch: 1_700_000_000,
      label: `boot-vdisk-${ext}`,
      partitions: [
        { name: 'esp', type: 'esp', size: '48M' },
        { name: 'root', type: 'root-x86-64', size: 'fill' },
      ],
    });
    const out = join(dir, `disk.${ext}`);
    await withSink(containerSink(await fileSink(out), plan.sizeBytes, { ...o, epoch: 1_700_000_000 }), (s) =>
      plan.write(s, { contents: [async (p: ByteSink) => p.write(esp)] }),
    );
    assert.ok((await stat(out)).size < 120 << 20, 'the 2 GiB disk costs only its data');
    const r = await boot({ firmware: 'ovmf', drives: [{ file: out, format: qemuFormat, if: 'virtio' }], bootDisk: 'disk', marker: MARKER, memoryMb: 512 });
    assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
    assert.match(r.console, /imgkit-cmdpath=\(hd0,gpt1\)/, consoleTail(r.console));
  });
}
