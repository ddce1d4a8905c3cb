/**
 * FAT images as Linux and UEFI firmware see them (QEMU, software emulation):
 *
 * 1. The kernel mounts each FAT. The machine running the tests may have no vfat driver (this
 *    project's CI VM has none), so Debian's kernel does it in QEMU: the FAT12, FAT16 and FAT32
 *    images of the FAT test tree are three virtio disks, /init mounts each with
 *    `mount -t vfat -o ro,utf8,tz=UTC` and prints every entry (kind, size, mtime, sha256, name);
 *    the listing must equal the source tree (names including non-BMP characters, which mtools
 *    cannot read back; directory times too).
 * 2. An ESP made by `imgkit fat` (GRUB from grub-mkstandalone at EFI/BOOT/BOOTX64.EFI, a kernel,
 *    an initramfs) boots under OVMF as a bare FAT disk ("superfloppy", no partition table) and,
 *    wrapped in a GPT made with sgdisk, as an EFI System Partition, each until /init's marker.
 *    GRUB prints $cmdpath, so the test sees which disk and partition it came from.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { withSink } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { planFat } from '@imgkit/fat';
import { FSCK_PROBLEMS, fatSource, fsckFat, fsckProblems, makeFatTree } from './lib/fat.ts';
import { buildInitramfs } from './lib/initramfs.ts';
import { boot, consoleTail, defaultKernel } from './lib/qemu.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { snapshotTree, type Snapshot } from './lib/tree.ts';

const EPOCH = 1_800_000_000;
const KARGS = 'console=ttyS0 panic=-1 oops=panic';
let work = '';

before(async () => {
  work = await tempDir('boot-fat');
});

/** One line per entry: kind|size|mtime|sha256|path (the listing /init prints). */
type Listing = Map<string, { kind: string; size: number; mtime: number; sha256?: string }>;

function parseListing(consoleText: string, disk: string): Listing {
  const text = consoleText.replace(/\r/g, '');
  const start = text.indexOf(`BEGIN-LISTING ${disk}\n`);
  const end = text.indexOf(`END-LISTING ${disk}\n`);
  assert.ok(start >= 0 && end > start, `no listing for ${disk}:\n${consoleTail(text)}`);
  const out: Listing = new Map();
  const sums = new Map<string, string>();
  for (const line of text.slice(start, end).split('\n').slice(1)) {
    if (line.startsWith('S ')) {
      // "S <sha256>  ./path" from sha256sum
      const m = /^S ([0-9a-f]{64}) {2}\.\/(.*)$/.exec(line);
      if (m) sums.set(m[2]!, m[1]!);
      continue;
    }
    const m = /^E ([^|]+)\|(\d+)\|(\d+)\|\.(?:\/(.*))?$/.exec(line);
    if (!m) continue;
    const kind = m[1]!.startsWith('directory') ? 'dir' : m[1]!.startsWith('regular') ? 'file' : m[1]!;
    out.set(m[4] ?? '', { kind, size: kind === 'dir' ? 0 : Number(m[2]), mtime: Number(m[3]) });
  }
  for (const [p, h] of sums) {
    const e = out.get(p);
    assert.ok(e, `checksum for unlisted ${p}`);
    e.sha256 = h;
  }
  return out;
}

/** The source as the kernel should show it: times in 2-second steps (clamped to the epoch), no owners or modes. */
function expectedListing(snap: Snapshot): Listing {
  const out: Listing = new Map();
  for (const [p, e] of snap) {
    if (p === '') continue;
    const m = Math.min(e.mtime, EPOCH);
    const v: { kind: string; size: number; mtime: number; sha256?: string } = { kind: e.kind, size: e.kind === 'dir' ? 0 : e.size, mtime: m - (m % 2) };
    if (e.sha256 !== undefined) v.sha256 = e.sha256;
    out.set(p, v);
  }
  return out;
}

test('Linux (Debian kernel, vfat in QEMU) mounts the FAT12, FAT16 and FAT32 images and sees the source tree', async () => {
  const src = join(work, 'tree');
  await makeFatTree(src);
  const disks: string[] = [];
  for (const bits of [12, 16, 32] as const) {
    const plan = await planFat(fatSource(src), { fatBits: bits, label: `FAT${bits}`, epoch: EPOCH });
    const image = join(work, `fat${bits}.img`);
    await withSink(await fileSink(image), (s) => plan.write(s));
    assert.doesNotMatch(fsckProblems((await fsckFat(image)).output), FSCK_PROBLEMS, image);
    disks.push(image);
  }
  const MARKER = 'IMGKIT-FAT-MOUNTS-LISTED';
  const script = [
    'mount -t devtmpfs dev /dev; mount -t proc proc /proc',
    'mkdir -p /m',
    'for d in vda vdb vdc; do',
    '  for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/$d ] && break; sleep 1; done',
    '  if mount -t vfat -o ro,utf8,tz=UTC /dev/$d /m; then',
    '    echo "BEGIN-LISTING $d"',
    "    (cd /m && find . -exec stat -c 'E %F|%s|%Y|%n' {} + && find . -type f -exec sha256sum {} + | sed 's/^/S /')",
    '    echo "END-LISTING $d"',
    '    umount /m',
    '  else echo "MOUNT-FAILED $d"; fi',
    'done',
    `echo ${MARKER}`,
    'poweroff -f',
  ].join('\n');
  const initrd = await buildInitramfs({ initScript: script, modules: ['virtio_pci', 'virtio_blk', 'vfat', 'nls_cp437', 'nls_utf8', 'nls_ascii', 'nls_iso8859-1'] });
  const r = await boot({
    kernel: (await defaultKernel()).kernel,
    initrd,
    append: 'quiet loglevel=1', // only emergencies: no kernel line may interleave with the listing on the console
    drives: disks.map((file) => ({ file, if: 'virtio' as const, format: 'raw', readonly: true })),
    marker: MARKER,
    memoryMb: 512,
    timeoutMs: 300_000, // three listings of ~800 entries each, under emulation
  });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.doesNotMatch(r.console, /MOUNT-FAILED|FAT-fs \(vd.\): (error|Invalid|bogus)/i, consoleTail(r.console));
  const expected = expectedListing(await snapshotTree(fatSource(src)));
  for (const [i, disk] of ['vda', 'vdb', 'vdc'].entries()) {
    const got = parseListing(r.console, disk);
    got.delete('');
    const diffs: string[] = [];
    for (const [p, e] of expected) {
      const g = got.get(p);
      if (!g) diffs.push(`missing ${p}`);
      else if (JSON.stringify(g) !== JSON.stringify(e)) diffs.push(`${p}: expected ${JSON.stringify(e)}, got ${JSON.stringify(g)}`);
    }
    for (const p of got.keys()) if (!expected.has(p)) diffs.push(`extra ${p}`);
    // The console lines naming the first differing paths (a damaged line shows up here).
    const seen = diffs.slice(0, 5).map((d) => d.split(':')[0]!.replace(/^(missing|extra) /, '')).flatMap((p) => r.console.split('\n').filter((l) => l.includes(p)).slice(0, 4));
    assert.deepEqual(diffs.slice(0, 30), [], `FAT${[12, 16, 32][i]} (${disk}): ${diffs.length} differences; console lines:\n${seen.join('\n')}`);
    assert.ok(got.has('misc/emoji-🙂') && got.has('misc/日本語/ファイル') && got.has(`names/${'L'.repeat(255)}`));
  }
});

// ---- the ESP ----

let esp = '';
const BOOT_MARKER = 'IMGKIT-FAT-ESP-INIT-REACHED';

async function makeEsp(): Promise<string> {
  if (esp) return esp;
  const dir = join(work, 'esp');
  await mkdir(join(dir, 'EFI/BOOT'), { recursive: true });
  await mkdir(join(dir, 'boot/grub'), { recursive: true });
  // GRUB from Debian's packages: finds this volume by its stamp file, prints where it came from.
  const embedded = join(work, 'embedded.cfg');
  await writeFile(embedded, 'search --no-floppy --file /imgkit-esp-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n');
  const mods = 'part_gpt part_msdos fat search search_fs_file linux normal configfile echo all_video test';
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', join(dir, 'EFI/BOOT/BOOTX64.EFI'), `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${embedded}`]);
  await writeFile(join(dir, 'imgkit-esp-stamp'), 'imgkit\n');
  await copyFile((await defaultKernel()).kernel, join(dir, 'boot/vmlinuz'));
  await copyFile(await buildInitramfs({ initScript: `echo ${BOOT_MARKER}\npoweroff -f\n` }), join(dir, 'boot/initrd.img'));
  await writeFile(join(dir, 'boot/grub/grub.cfg'), `set timeout=0\nmenuentry imgkit {\n  linux /boot/vmlinuz ${KARGS}\n  initrd /boot/initrd.img\n}\n`);
  esp = join(work, 'esp.img');
  const r = await runImgkit(['fat', dir, esp, '-n', 'ESP', '-v'], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(fsckProblems((await fsckFat(esp)).output), FSCK_PROBLEMS, esp);
  return esp;
}

test('OVMF boots an ESP written by imgkit fat as a bare FAT disk (no partition table) to the initramfs', async () => {
  const image = await makeEsp();
  const r = await boot({ drives: [{ file: image, if: 'virtio', format: 'raw' }], bootDisk: 'disk', firmware: 'ovmf', marker: BOOT_MARKER, memoryMb: 1024 });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.match(r.console, /imgkit-cmdpath=\(hd0\)\/EFI\/BOOT/, consoleTail(r.console));
});

test('OVMF boots the same ESP as partition 1 of a GPT disk (made with sgdisk) to the initramfs', async () => {
  const image = await makeEsp();
  const fat = await readFile(image);
  const disk = join(work, 'gpt.img');
  const start = 2048 * 512;
  // 1 MiB before the ESP, 1 MiB after it for the backup GPT.
  const fh = await open(disk, 'w');
  await fh.write(fat, 0, fat.byteLength, start);
  await fh.truncate(start + fat.byteLength + (1 << 20));
  await fh.close();
  const sectors = fat.byteLength / 512;
  await run(requireTool('sgdisk', 'gdisk'), ['-n', `1:2048:${2048 + sectors - 1}`, '-t', '1:ef00', '-c', '1:ESP', disk]);
  // sgdisk wrote only the tables: the FAT is where it was put.
  const back = await readFile(disk);
  assert.deepEqual(back.subarray(start, start + 512), fat.subarray(0, 512));
  const r = await boot({ drives: [{ file: disk, if: 'virtio', format: 'raw' }], bootDisk: 'disk', firmware: 'ovmf', marker: BOOT_MARKER, memoryMb: 1024 });
  assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
  assert.match(r.console, /imgkit-cmdpath=\(hd0,gpt1\)\/EFI\/BOOT/, consoleTail(r.console));
});
