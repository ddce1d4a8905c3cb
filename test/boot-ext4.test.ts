/**
 * A GPT disk whose root partition is an ext4 filesystem made by imgkit boots under OVMF and is used
 * read-write by the kernel: the ESP (imgkit's FAT: GRUB from grub-mkstandalone, Debian's kernel,
 * an initramfs) and the root (planExt4, Debian's defaults: metadata_csum, 64bit, flex_bg, a journal)
 * are written into the disk by @imgkit/partition. /init loads virtio and ext4 (jbd2, mbcache, crc16,
 * crc32c from modules.dep), mounts the root read-write, checks a file's sha256, and on the first boot
 * writes a file; the second boot of the same disk finds it. Afterwards `e2fsck -fn` on the host
 * finds nothing in the partition, and debugfs reads the guest's file from it.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { memoryTree, withSink } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { planExt4 } from '@imgkit/ext4';
import { planFat } from '@imgkit/fat';
import { planDisk } from '@imgkit/partition';
import { assertFsckClean, debugfs } from './ext4-lib.ts';
import { pseudoRandomBytes } from './lib/fixture.ts';
import { buildInitramfs } from './lib/initramfs.ts';
import { boot, consoleTail, defaultKernel } from './lib/qemu.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';

const EPOCH = 1_700_000_000;
const FIRST = 'IMGKIT-EXT4-FIRST-BOOT-OK';
const SECOND = 'IMGKIT-EXT4-SECOND-BOOT-OK';
let dir = '';
let disk = '';
let rootOffset = 0;
let rootBytes = 0;

// /init: the root is /dev/vda2 (GPT partition 2; the kernel parses GPT itself).
const INIT = `#!/bin/sh
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
exec </dev/console >/dev/console 2>&1
mkdir -p /root
n=0
while [ ! -b /dev/vda2 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
if ! mount -t ext4 -o rw /dev/vda2 /root; then echo "IMGKIT-EXT4-MOUNT-FAILED"; dmesg | tail -20; poweroff -f; fi
grep ' /root ' /proc/mounts
want=$(cat /root/payload.sha256)
got=$(sha256sum /root/payload.bin | cut -d' ' -f1)
if [ "$want" != "$got" ]; then echo "IMGKIT-EXT4-SHA256-MISMATCH $want $got"; umount /root; poweroff -f; fi
echo "imgkit-sha256-ok $got"
if [ -f /root/written-by-guest ]; then
  echo "imgkit-found: $(cat /root/written-by-guest)"
  umount /root && echo ${SECOND}
else
  echo "second boot" > /root/written-by-guest
  mkdir /root/guest-dir && cp /root/payload.sha256 /root/guest-dir/copy && rm /root/payload.sha256 && mv /root/guest-dir/copy /root/payload.sha256
  sync
  umount /root && echo ${FIRST}
fi
dmesg | grep -i 'ext4-fs' | grep -iv 'mounted filesystem\\|unmounting' | sed 's/^/imgkit-dmesg: /'
poweroff -f
`;

before(async () => {
  dir = await tempDir('boot-ext4');
  const kernel = (await defaultKernel()).kernel;
  const initrd = await buildInitramfs({
    initScript: INIT,
    modules: ['virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4'],
  });
  if (!existsSync('/usr/lib/grub/x86_64-efi/linux.mod')) throw new Error('GRUB EFI modules missing: apt-get install -y grub-efi-amd64-bin');
  const cfg = join(dir, 'embedded.cfg');
  await writeFile(cfg, 'search --no-floppy --file /imgkit-ext4-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nlinux ($root)/vmlinuz console=ttyS0 panic=-1 oops=panic\ninitrd ($root)/initrd.img\nboot\n');
  const mods = 'part_gpt fat search search_fs_file linux echo all_video test normal';
  const efi = join(dir, 'BOOTX64.EFI');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', efi, `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${cfg}`]);
  const espTree = memoryTree([
    { path: 'EFI/BOOT/BOOTX64.EFI', kind: 'file', content: await readFile(efi) },
    { path: 'vmlinuz', kind: 'file', content: await readFile(kernel) },
    { path: 'initrd.img', kind: 'file', content: await readFile(initrd) },
    { path: 'imgkit-ext4-stamp', kind: 'file', content: 'imgkit\n' },
  ]);
  const esp = await planFat(espTree, { label: 'ESP', epoch: EPOCH, size: 64 << 20 });
  const payload = pseudoRandomBytes(3 * 1024 * 1024 + 123, 42);
  const rootTree = memoryTree([
    { path: 'payload.bin', kind: 'file', content: payload },
    { path: 'payload.sha256', kind: 'file', content: createHash('sha256').update(payload).digest('hex') },
    { path: 'etc/hostname', kind: 'file', content: 'imgkit\n' },
  ]);
  const diskPlan = planDisk({
    table: 'gpt',
    sizeBytes: '256M',
    epoch: EPOCH,
    label: 'boot-ext4',
    partitions: [
      { name: 'esp', type: 'esp', size: '64M' },
      { name: 'root', type: 'root-x86-64', size: 'fill' },
    ],
  });
  const rootPart = diskPlan.layout.partitions[1]!;
  rootOffset = rootPart.offset;
  rootBytes = rootPart.sizeBytes;
  const root = await planExt4(rootTree, { size: rootPart.sizeBytes, label: 'root', epoch: EPOCH });
  assert.equal(root.sizeBytes, rootPart.sizeBytes, 'the filesystem fills its partition');
  disk = join(dir, 'disk.img');
  await withSink(await fileSink(disk), (s) => diskPlan.write(s, { contents: [esp, root] }));
});

/** The root partition as a file of its own, for e2fsck and debugfs. */
let extracted = 0;
async function extractRoot(): Promise<string> {
  const out = join(dir, `root-${++extracted}.img`);
  const fh = await open(disk, 'r');
  try {
    const buf = Buffer.alloc(rootBytes);
    await fh.read(buf, 0, rootBytes, rootOffset);
    await writeFile(out, buf);
  } finally {
    await fh.close();
  }
  return out;
}

test('OVMF boots the GPT disk; the guest mounts the imgkit ext4 root read-write, checks it and writes a file; a second boot finds the file; e2fsck -fn is clean', async () => {
  await assertFsckClean(await extractRoot(), 'the root partition before booting');
  const first = await boot({ firmware: 'ovmf', drives: [{ file: disk, format: 'raw', if: 'virtio' }], bootDisk: 'disk', marker: FIRST, memoryMb: 512 });
  assert.ok(first.passed, `${first.reason}\n${consoleTail(first.console)}`);
  assert.match(first.console, /imgkit-cmdpath=\(hd0,gpt1\)/, 'GRUB came from the GPT ESP');
  assert.match(first.console, /\/dev\/vda2 \/root ext4 rw/, consoleTail(first.console));
  assert.match(first.console, /imgkit-sha256-ok [0-9a-f]{64}/);
  assert.doesNotMatch(first.console, /imgkit-dmesg: /, `the kernel complained:\n${consoleTail(first.console)}`);

  const afterFirst = await extractRoot();
  await assertFsckClean(afterFirst, 'the root after the first boot');
  assert.equal(await debugfs(afterFirst, 'cat /written-by-guest'), 'second boot\n');

  const second = await boot({ firmware: 'ovmf', drives: [{ file: disk, format: 'raw', if: 'virtio' }], bootDisk: 'disk', marker: SECOND, memoryMb: 512 });
  assert.ok(second.passed, `${second.reason}\n${consoleTail(second.console)}`);
  assert.match(second.console, /imgkit-found: second boot/);
  assert.doesNotMatch(second.console, /imgkit-dmesg: /, `the kernel complained:\n${consoleTail(second.console)}`);
  await assertFsckClean(await extractRoot(), 'the root after the second boot');
});
