/**
 * The disks `imgkit disk` composes, booted under OVMF (QEMU, software emulation):
 *
 * 1. The A/B appliance (the shape of fixtures/disk/ab/layout.yaml, 2 GiB, sparse): its ESP is
 *    written by imgkit from a directory holding GRUB (grub-mkstandalone from Debian's packages, at
 *    EFI/BOOT/BOOTX64.EFI), Debian's kernel and an initramfs (imgkit cpio). OVMF boots the disk
 *    from the ESP (GRUB prints $cmdpath: `(hd0,gpt1)`), GRUB starts the kernel, and /init finds
 *    `system-a` by its GPT name (PARTNAME= in /sys/class/block/*\/uevent: busybox has no blkid),
 *    mounts its squashfs, reads etc/imgkit-slot and prints the marker. It also mounts the two FAT
 *    partitions (esp, config) with the vfat driver and lists all three trees: each must equal its
 *    source (names, kinds, sizes, sha256, times; squashfs also modes and owners).
 * 2. The Raspberry Pi style card (MBR, FAT32 boot partition 0x0c at 4 MiB): OVMF boots it from the
 *    FAT32 partition through the removable-media path EFI/BOOT/BOOTX64.EFI (`(hd0,msdos1)`); /init
 *    mounts that FAT32 and lists it against its source.
 * 3. The A/B disk of 1, written straight to qcow2, VMDK (streamOptimized), VHD (fixed) and VHDX by
 *    `imgkit disk … --format` (no raw file: the output directory holds only the container), each
 *    `qemu-img compare`-identical to the raw disk, boots the same way under OVMF to the same marker
 *    with the same listings. Four boots, one after another, sharing the kit of 1.
 * The host kernel here has no vfat or squashfs driver, which is why the mounts happen in the guest.
 */
import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it, test } from 'node:test';
import { applyOwnership } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { buildInitramfs } from './lib/initramfs.ts';
import { boot, consoleTail, defaultKernel, type BootResult } from './lib/qemu.ts';
import { REPO_ROOT, requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { qemuImg } from './lib/vdisk.ts';
import { snapshotTree, type Snapshot } from './lib/tree.ts';

const EPOCH = 1_800_000_000;
const KARGS = 'console=ttyS0 panic=-1 oops=panic loglevel=1'; // loglevel=1: no kernel line interleaves with the listings
const AB = join(REPO_ROOT, 'fixtures/disk/ab');
const RPI = join(REPO_ROOT, 'fixtures/disk/rpi');
let work = '';
let grubEfi = '';

before(async () => {
  work = await tempDir('boot-disk');
  // GRUB from Debian's packages: finds its volume by a stamp file, prints where it came from, and
  // hands over to that volume's grub.cfg.
  const embedded = join(work, 'embedded.cfg');
  await writeFile(embedded, 'search --no-floppy --file /imgkit-disk-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n');
  const mods = 'part_gpt part_msdos fat search search_fs_file linux normal configfile echo all_video test';
  grubEfi = join(work, 'BOOTX64.EFI');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', grubEfi, `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${embedded}`]);
});

/** An EFI boot tree: GRUB at the removable-media path, kernel, initramfs, grub.cfg, stamp, and `extra` (a fixture tree) copied in. */
async function bootTree(name: string, initrd: string, extra: string): Promise<string> {
  const dir = join(work, name);
  await cp(extra, dir, { recursive: true, preserveTimestamps: true });
  await mkdir(join(dir, 'EFI/BOOT'), { recursive: true });
  await mkdir(join(dir, 'boot/grub'), { recursive: true });
  await copyFile(grubEfi, join(dir, 'EFI/BOOT/BOOTX64.EFI'));
  await copyFile((await defaultKernel()).kernel, join(dir, 'boot/vmlinuz'));
  await copyFile(initrd, join(dir, 'boot/initrd.img'));
  await writeFile(join(dir, 'imgkit-disk-stamp'), 'imgkit\n');
  await writeFile(join(dir, 'boot/grub/grub.cfg'), `set timeout=0\nmenuentry imgkit {\n  linux /boot/vmlinuz ${KARGS}\n  initrd /boot/initrd.img\n}\n`);
  return dir;
}

/** Shell: print every entry under $2 between BEGIN/END-LISTING $1 (kind|size|mtime|mode|uid|gid|path, then sha256s). */
const LIST_FN = [
  'list() {',
  '  echo "BEGIN-LISTING $1"',
  "  (cd $2 && find . -exec stat -c 'E %F|%s|%Y|%a|%u|%g|%n' {} + && find . -type f -exec sha256sum {} + | sed 's/^/S /')",
  '  echo "END-LISTING $1"',
  '}',
  'partdev() { for u in /sys/class/block/*/uevent; do grep -q "^PARTNAME=$1\\$" $u && sed -n "s/^DEVNAME=//p" $u; done; }',
].join('\n');

interface ListEntry { kind: string; size: number; mtime: number; mode: number; uid: number; gid: number; sha256?: string }
type Listing = Map<string, ListEntry>;

function parseListing(consoleText: string, key: string): Listing {
  const text = consoleText.replace(/\r/g, '');
  const start = text.indexOf(`BEGIN-LISTING ${key}\n`);
  const end = text.indexOf(`END-LISTING ${key}\n`);
  assert.ok(start >= 0 && end > start, `no listing for ${key}:\n${consoleTail(text)}`);
  const out: Listing = new Map();
  const sums = new Map<string, string>();
  for (const line of text.slice(start, end).split('\n').slice(1)) {
    const s = /^S ([0-9a-f]{64}) {2}\.\/(.*)$/.exec(line);
    if (s) {
      sums.set(s[2]!, s[1]!);
      continue;
    }
    const m = /^E ([^|]+)\|(\d+)\|(\d+)\|([0-7]+)\|(\d+)\|(\d+)\|\.(?:\/(.*))?$/.exec(line);
    if (!m || m[7] === undefined) continue;
    const kind = m[1]!.startsWith('directory') ? 'dir' : m[1]!.startsWith('regular') ? 'file' : m[1]!;
    out.set(m[7], { kind, size: kind === 'dir' ? 0 : Number(m[2]), mtime: Number(m[3]), mode: Number.parseInt(m[4]!, 8), uid: Number(m[5]), gid: Number(m[6]) });
  }
  for (const [p, h] of sums) out.get(p)!.sha256 = h;
  return out;
}

/** Compare a guest listing with a source snapshot; `fat`: no modes/owners, file times in 2-second steps, directory times not compared. */
function diffListing(got: Listing, snap: Snapshot, fat: boolean): string[] {
  const diffs: string[] = [];
  for (const [p, e] of snap) {
    if (p === '') continue;
    const g = got.get(p);
    if (!g) {
      diffs.push(`missing ${p}`);
      continue;
    }
    const want: Partial<ListEntry> = { kind: e.kind, size: e.kind === 'dir' ? 0 : e.size };
    if (e.sha256 !== undefined) want.sha256 = e.sha256;
    if (fat) {
      if (e.kind === 'file') want.mtime = e.mtime - (e.mtime % 2);
    } else Object.assign(want, { mtime: e.mtime, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid });
    for (const [k, v] of Object.entries(want)) if (g[k as keyof ListEntry] !== v) diffs.push(`${p}: ${k} expected ${String(v)}, got ${String(g[k as keyof ListEntry])}`);
  }
  for (const p of got.keys()) if (!snap.has(p)) diffs.push(`extra ${p}`);
  return diffs;
}

const clamp = (dir: string, allRoot = false) => snapshotTree(applyOwnership(nodeSource(dir), { epoch: EPOCH, ...(allRoot ? { allRoot: true } : {}) }));

const AB_MARKER = 'IMGKIT-DISK-AB-SYSTEM-A-MOUNTED';
interface AbKit {
  dir: string;
  layout: string;
  esp: string;
  /** `imgkit disk layout.yaml ab.img`: the raw disk. */
  raw: string;
}
let abKitBuilt: Promise<AbKit> | undefined;

/** The A/B boot kit, built once: initramfs, ESP tree (GRUB, kernel), the layout, its raw disk. */
function abKit(): Promise<AbKit> {
  abKitBuilt ??= (async () => {
    const init = [
      'mount -t devtmpfs dev /dev; exec </dev/console >/dev/console 2>&1',
      'mount -t proc proc /proc; mount -t sysfs sysfs /sys',
      LIST_FN,
      'for i in 1 2 3 4 5 6 7 8 9 10; do a=$(partdev system-a); [ -n "$a" ] && break; sleep 1; done',
      'echo "system-a is /dev/$a"',
      'mkdir -p /a /esp /config',
      'mount -t squashfs -o ro /dev/$a /a || echo MOUNT-FAILED system-a',
      'mount -t vfat -o ro,utf8,tz=UTC /dev/$(partdev esp) /esp || echo MOUNT-FAILED esp',
      'mount -t vfat -o ro,utf8,tz=UTC /dev/$(partdev config) /config || echo MOUNT-FAILED config',
      'list system-a /a; list esp /esp; list config /config',
      `[ "$(cat /a/etc/imgkit-slot)" = system-a ] && echo ${AB_MARKER}`,
      'poweroff -f',
    ].join('\n');
    const initrd = await buildInitramfs({ initScript: init, modules: ['virtio_pci', 'virtio_blk', 'squashfs', 'vfat', 'nls_cp437', 'nls_utf8', 'nls_ascii', 'nls_iso8859-1'] });
    const esp = await bootTree('ab-esp', initrd, join(AB, 'boot'));
    const dir = join(work, 'ab');
    await mkdir(dir);
    const layout = join(dir, 'layout.yaml');
    await writeFile(
      layout,
      [
        'table: gpt',
        'size: 2G',
        'seed: boot-ab',
        'partitions:',
        `  - { label: esp,      type: esp,   size: 100M, content: { fat: ${esp}, label: ESP } }`,
        `  - { label: system-a, type: linux, size: 300M, content: { squashfs: ${join(AB, 'rootfs')}, compression: zstd, allRoot: true } }`,
        '  - { label: system-b, type: linux, size: 300M }',
        `  - { label: config,   type: linux, size: 100M, content: { fat: ${join(AB, 'config')}, fatBits: 16, label: CONFIG } }`,
        '  - { label: data,     type: linux, size: fill }',
        '',
      ].join('\n'),
    );
    const raw = join(dir, 'ab.img');
    const r = await runImgkit(['disk', layout, raw], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
    assert.equal(r.code, 0, r.stderr);
    return { dir, layout, esp, raw };
  })();
  return abKitBuilt;
}

/** The A/B guest's verdict: GRUB from the ESP, the marker, clean mounts, every tree equal to its source. */
async function assertAbBooted(b: BootResult, kit: AbKit): Promise<void> {
  assert.ok(b.passed, `${b.reason}\n${consoleTail(b.console)}`);
  assert.match(b.console, /imgkit-cmdpath=\(hd0,gpt1\)\/EFI\/BOOT/, consoleTail(b.console));
  assert.doesNotMatch(b.console, /MOUNT-FAILED|FAT-fs \(vd.\d\): (error|Invalid|bogus)|SQUASHFS error/i, consoleTail(b.console));
  assert.deepEqual(diffListing(parseListing(b.console, 'system-a'), await clamp(join(AB, 'rootfs'), true), false).slice(0, 20), [], 'system-a');
  assert.deepEqual(diffListing(parseListing(b.console, 'esp'), await clamp(kit.esp), true).slice(0, 20), [], 'esp');
  assert.deepEqual(diffListing(parseListing(b.console, 'config'), await clamp(join(AB, 'config')), true).slice(0, 20), [], 'config');
}

test('OVMF boots the A/B disk from its ESP; /init finds system-a by its GPT name, mounts it and sees its slot; the kernel mounts both FATs and every tree equals its source', async () => {
  const kit = await abKit();
  const b = await boot({ drives: [{ file: kit.raw, if: 'virtio', format: 'raw', readonly: true }], bootDisk: 'disk', firmware: 'ovmf', marker: AB_MARKER, memoryMb: 1024, timeoutMs: 240_000 });
  await assertAbBooted(b, kit);
});

describe('the A/B disk written straight to VM images by imgkit disk --format (no raw file) boots under OVMF', () => {
  const images: [name: string, file: string, args: string[], qemuFormat: string][] = [
    ['qcow2', 'ab.qcow2', ['--format', 'qcow2'], 'qcow2'],
    ['VMDK (streamOptimized)', 'ab.vmdk', ['--format', 'vmdk'], 'vmdk'],
    ['VHD (fixed)', 'ab.vhd', ['--format', 'vpc', '-o', 'subformat=fixed'], 'vpc'],
    ['VHDX', 'ab.vhdx', ['--format', 'vhdx'], 'vhdx'],
  ];
  for (const [name, file, args, qemuFormat] of images) {
    it(`${name}: only the container in its directory, identical to the raw disk, boots to the marker with every tree equal to its source`, async () => {
      const kit = await abKit();
      const dir = join(kit.dir, qemuFormat);
      await mkdir(dir);
      const out = join(dir, file);
      const r = await runImgkit(['disk', kit.layout, out, ...args], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await readdir(dir), [file], 'the output directory holds only the container');
      const c = await qemuImg(['compare', '-f', 'raw', '-F', qemuFormat, kit.raw, out]);
      assert.equal(c.code, 0, c.stdout.toString() + c.stderr);
      const b = await boot({ drives: [{ file: out, if: 'virtio', format: qemuFormat, readonly: true }], bootDisk: 'disk', firmware: 'ovmf', marker: AB_MARKER, memoryMb: 1024, timeoutMs: 240_000 });
      await assertAbBooted(b, kit);
    });
  }
});

test('OVMF boots the Raspberry Pi style MBR card from its FAT32 partition (EFI/BOOT/BOOTX64.EFI); the kernel mounts that FAT32 and it equals its source', async () => {
  const MARKER = 'IMGKIT-DISK-CARD-BOOTED';
  const init = [
    'mount -t devtmpfs dev /dev; exec </dev/console >/dev/console 2>&1',
    'mount -t proc proc /proc; mount -t sysfs sysfs /sys',
    LIST_FN,
    'for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda1 ] && break; sleep 1; done',
    'mkdir -p /boot',
    'mount -t vfat -o ro,utf8,tz=UTC /dev/vda1 /boot || echo MOUNT-FAILED vda1',
    'list boot /boot',
    `echo ${MARKER}`,
    'poweroff -f',
  ].join('\n');
  const initrd = await buildInitramfs({ initScript: init, modules: ['virtio_pci', 'virtio_blk', 'vfat', 'nls_cp437', 'nls_utf8', 'nls_ascii', 'nls_iso8859-1'] });
  const bootDir = await bootTree('card-boot', initrd, join(RPI, 'boot'));
  const dir = join(work, 'card');
  await mkdir(dir);
  await writeFile(
    join(dir, 'layout.yaml'),
    [
      'table: mbr',
      'size: 512M',
      'seed: boot-card',
      'partitions:',
      `  - { type: 0x0c, offset: 4M, size: 256M, bootable: true, content: { fat: ${bootDir}, fatBits: 32, label: BOOT } }`,
      `  - { type: linux, size: fill, content: { squashfs: ${join(AB, 'rootfs')}, compression: xz, allRoot: true } }`,
      '',
    ].join('\n'),
  );
  const image = join(dir, 'card.img');
  const r = await runImgkit(['disk', join(dir, 'layout.yaml'), image], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
  assert.equal(r.code, 0, r.stderr);
  const b = await boot({ drives: [{ file: image, if: 'virtio', format: 'raw', readonly: true }], bootDisk: 'disk', firmware: 'ovmf', marker: MARKER, memoryMb: 1024, timeoutMs: 240_000 });
  assert.ok(b.passed, `${b.reason}\n${consoleTail(b.console)}`);
  assert.match(b.console, /imgkit-cmdpath=\(hd0,msdos1\)\/EFI\/BOOT/, consoleTail(b.console));
  assert.doesNotMatch(b.console, /MOUNT-FAILED|FAT-fs \(vd.\d\): (error|Invalid|bogus)/i, consoleTail(b.console));
  assert.deepEqual(diffListing(parseListing(b.console, 'boot'), await clamp(bootDir), true).slice(0, 20), [], 'boot');
});
