/**
 * Debian's kernel reads imgkit's partition tables: one QEMU boot with four virtio disks — a GPT with
 * 512-byte sectors, an MBR with an extended partition and three logical ones, a hybrid MBR (the
 * kernel must take the GPT), and a GPT on a disk with 4096-byte logical blocks. /init lists every
 * partition the kernel made (sysfs start, size, number, PARTNAME) and the first bytes of each
 * partition device, which writeDisk filled with a marker naming the disk and partition. The test
 * compares that listing with the layouts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { withSink, type ByteSink } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { planDisk, type DiskLayout, type PartitionTableSpec } from '@imgkit/partition';
import { buildInitramfs } from './lib/initramfs.ts';
import { boot, consoleTail, defaultKernel } from './lib/qemu.ts';
import { tempDir } from './lib/tools.ts';

const MARKER = 'IMGKIT-PARTITION-BOOT-OK';

const INIT = `#!/bin/sh
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for d in /sys/block/vd*; do
  n=\${d##*/}
  echo "DISK $n size=$(cat $d/size) lbs=$(cat $d/queue/logical_block_size)"
  for p in $d/$n*; do
    [ -e "$p/partition" ] || continue
    pn=\${p##*/}
    name=$(sed -n 's/^PARTNAME=//p' $p/uevent)
    head=$(head -c 24 /dev/$pn | tr -c 'A-Za-z0-9:.-' '_')
    echo "PART $pn disk=$n number=$(cat $p/partition) start=$(cat $p/start) size=$(cat $p/size) head=$head name=$name"
  done
done
echo "IMGKIT-PARTITION-BOOT""-OK"
poweroff -f
`;

const EPOCH = 1_700_000_000;
const disks: { key: string; spec: PartitionTableSpec; sectorSize: 512 | 4096 }[] = [
  {
    key: 'g512',
    sectorSize: 512,
    spec: {
      table: 'gpt',
      sizeBytes: '24M',
      epoch: EPOCH,
      label: 'boot-g512',
      partitions: [
        { name: 'EFI System', type: 'esp', size: '4M' },
        { name: 'swap', type: 'swap', size: '2M' },
        { name: 'root', type: 'root-x86-64', size: 'fill' }, // ASCII: the kernel keeps 7-bit names only (utf16_le_to_7bit)
      ],
    },
  },
  {
    key: 'mbr',
    sectorSize: 512,
    spec: {
      table: 'mbr',
      sizeBytes: '28M',
      epoch: EPOCH,
      label: 'boot-mbr',
      partitions: [
        { type: 'esp', size: '4M', bootable: true },
        { type: 'linux', size: '4M' },
        { type: 'linux', size: '4M', logical: true },
        { type: 'swap', size: '2M', logical: true },
        { type: 'linux', size: 'fill', logical: true },
      ],
    },
  },
  {
    key: 'hyb',
    sectorSize: 512,
    spec: {
      table: 'hybrid',
      sizeBytes: '20M',
      epoch: EPOCH,
      label: 'boot-hybrid',
      partitions: [
        { name: 'bios', type: 'bios-boot', size: '1M' },
        { name: 'esp', type: 'esp', mbrType: 'esp', size: '4M', bootable: true },
        { name: 'root', type: 'root-x86-64', mbrType: 'linux', size: 'fill' },
      ],
    },
  },
  {
    key: 'g4k',
    sectorSize: 4096,
    spec: {
      table: 'gpt',
      sectorSize: 4096,
      sizeBytes: '32M',
      epoch: EPOCH,
      label: 'boot-g4k',
      partitions: [
        { name: 'esp-4k', type: 'esp', size: '8M' },
        { name: 'root-4k', type: 'root-x86-64', size: 'fill' },
      ],
    },
  },
];

const markerFor = (key: string, i: number) => `IMGKIT:${key}:${i}:`.padEnd(24, '.');

let kernel: string;
let initrd: string;
before(async () => {
  kernel = (await defaultKernel()).kernel;
  initrd = await buildInitramfs({ initScript: INIT, modules: ['virtio_pci', 'virtio_blk'] });
});

test('the kernel finds every partition where the layout put it (GPT 512 and 4096, MBR logicals, hybrid)', async (t) => {
  const dir = await tempDir('partition-boot');
  const layouts = new Map<string, { layout: DiskLayout; file: string }>();
  for (const d of disks) {
    const file = join(dir, `${d.key}.img`);
    const plan = planDisk(d.spec);
    const contents = plan.layout.partitions.map((_, i) => async (s: ByteSink) => s.write(new TextEncoder().encode(markerFor(d.key, i))));
    await withSink(await fileSink(file), (sink) => plan.write(sink, { contents }));
    layouts.set(d.key, { layout: plan.layout, file });
  }
  const extraArgs: string[] = [];
  const drives = disks.filter((d) => d.sectorSize === 512).map((d) => ({ file: layouts.get(d.key)!.file, format: 'raw', if: 'virtio' as const }));
  for (const d of disks.filter((x) => x.sectorSize === 4096)) {
    extraArgs.push('-drive', `file=${layouts.get(d.key)!.file},format=raw,if=none,id=${d.key}`, '-device', `virtio-blk-pci,drive=${d.key},logical_block_size=4096,physical_block_size=4096`);
  }
  const r = await boot({ kernel, initrd, drives, extraArgs, marker: MARKER });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);

  // Disks are told apart by size; partitions by their marker.
  const diskLines = [...r.console.matchAll(/^DISK (\S+) size=(\d+) lbs=(\d+)/gm)].map((m) => ({ dev: m[1]!, size: Number(m[2]), lbs: Number(m[3]) }));
  const partLines = [...r.console.matchAll(/^PART (\S+) disk=(\S+) number=(\d+) start=(\d+) size=(\d+) head=(\S*) name=(.*?)\r?$/gm)].map((m) => ({
    dev: m[1]!,
    disk: m[2]!,
    number: Number(m[3]),
    start: Number(m[4]),
    size: Number(m[5]),
    head: m[6]!,
    name: m[7]!,
  }));
  for (const d of disks) {
    const { layout } = layouts.get(d.key)!;
    const disk = diskLines.find((x) => x.size * 512 === layout.sizeBytes);
    assert.ok(disk, `${d.key}: a ${layout.sizeBytes}-byte disk in ${JSON.stringify(diskLines)}`);
    assert.equal(disk.lbs, d.sectorSize, `${d.key}: logical block size`);
    const seen = partLines.filter((p) => p.disk === disk.dev && p.head !== '' && p.size > 1 * 2);
    // The kernel also shows the extended partition of an MBR (2 sectors in sysfs); skip it here.
    const want = layout.partitions.map((p, i) => ({
      number: p.number,
      start: p.offset / 512, // sysfs counts 512-byte sectors whatever the block size
      size: p.sizeBytes / 512,
      head: markerFor(d.key, i),
      name: p.typeGuid ? p.name : '',
    }));
    assert.deepEqual(
      seen.map((p) => ({ number: p.number, start: p.start, size: p.size, head: p.head, name: p.name })),
      want,
      `${d.key}:\n${partLines.filter((p) => p.disk === disk.dev).map((p) => JSON.stringify(p)).join('\n')}`,
    );
    if (layout.extended) {
      const ext = partLines.find((p) => p.disk === disk.dev && p.number === layout.extended!.slot);
      assert.ok(ext, `${d.key}: the extended partition`);
      assert.equal(ext.start, layout.extended.startLba);
    }
    t.diagnostic(`${d.key} (${disk.dev}): ${seen.length} partitions as planned: ${seen.map((p) => `${p.dev} ${p.start}+${p.size} ${p.name || '-'} ${p.head}`).join('; ')}`);
  }
});
