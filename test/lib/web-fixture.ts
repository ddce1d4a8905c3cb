/**
 * Trees the web-page test picks through the real file input, written to disk so the CLI can build
 * the same images from them.
 *
 * A browser sees files and their folders only (no empty folders, no symlinks, no modes, no owners),
 * so these trees hold exactly what a browser can represent — regular files at 0644 in folders at
 * 0755 — and a manifest (WEB_MANIFEST) adds the rest as `imgkit … --manifest` does: a device node,
 * a FIFO, symlinks, an empty folder, modes and owners. File times are set (older than the epoch,
 * one newer to be clamped), and each folder's time is that of the newest file below it, which is
 * what the page's fileSource says for a folder; so the CLI reading the disk and the page reading
 * the picked files see the same tree.
 */
import { chmod, lstat, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildInitramfs } from './initramfs.ts';
import { defaultKernel } from './qemu.ts';
import { requireTool, run } from './tools.ts';
import { xorshiftBytes } from './xorshift.ts';

export const WEB_EPOCH = 1_700_000_000;

/** Files of the data tree: path, size, content seed (0: zeros), mtime offset before the epoch (negative: after). */
const DATA_FILES: readonly [string, number, number, number][] = [
  ['README', 1234, 1, 86_400],
  ['bin/tool', 77, 2, 3600],
  ['etc/hostname', 7, 3, 7200],
  ['etc/motd', 39, 4, 7200],
  ['data/size-1', 1, 10, 100],
  ['data/size-4095', 4095, 11, 100],
  ['data/size-4096', 4096, 12, 100],
  ['data/size-4097', 4097, 13, 100],
  ['data/size-65537', 65537, 14, 100],
  ['data/multi-block', 6 * 131072 - 1000, 30, 50], // 6 squashfs blocks, the last one short
  ['data/two-blocks', 2 * 131072, 31, 50],
  ['data/zeros', 256 * 1024, 0, 50], // all-zero blocks: squashfs holes
  ['data/copy-a', 5000, 40, 40],
  ['data/copy-b', 5000, 40, 40], // same bytes as copy-a: squashfs duplicates
  ['deep/er/est/leaf', 100, 50, 20],
  ['naïve/café.txt', 42, 60, -5_000_000], // newer than the epoch: clamped to it
];

/**
 * The manifest the page is given (and the CLI's --manifest): what a browser cannot show.
 * `file` lines naming files of the tree set their mode and owner only.
 */
export const WEB_MANIFEST = [
  '# what a browser cannot show: devices, FIFOs, symlinks, empty folders, modes, owners',
  'dir /dev 0755 0 0',
  'nod /dev/console 0600 0 0 c 5 1',
  'nod /dev/null 0666 0 0 c 1 3',
  'dir /run 0755 0 0',
  'pipe /run/initctl 0600 0 0',
  'dir /links 0755 0 0',
  'slink /links/abs /data/size-1 0777 0 0',
  'slink /links/rel ../README 0777 0 0',
  'slink /links/dangling no/such/file 0777 0 0',
  'file /bin/tool bin/tool 0755 0 0',
  'file /data/size-1 data/size-1 0640 1000 100',
  'dir /deep/er/est 0700 0 0',
  'dir /empty-dir 0755 0 0',
  '',
].join('\n');

export function contentOf(size: number, seed: number): Uint8Array {
  return seed ? xorshiftBytes(size, seed, true) : new Uint8Array(size);
}

/** Folder times: the newest time below each folder (files and folders), bottom-up, as the page infers. */
async function stampFolders(root: string, files: readonly { path: string; mtime: number }[]): Promise<void> {
  const newest = new Map<string, number>();
  for (const f of files) {
    for (let d = dirname(f.path); ; d = dirname(d)) {
      const key = d === '.' ? '' : d;
      newest.set(key, Math.max(newest.get(key) ?? 0, f.mtime));
      if (key === '') break;
    }
  }
  // Deepest first, so setting a child's time does not disturb its parent's afterwards.
  for (const [d, t] of [...newest].sort((a, b) => b[0].split('/').length - a[0].split('/').length)) {
    const at = join(root, d);
    await chmod(at, 0o755);
    await utimes(at, t, t);
  }
}

/**
 * Make a tree on disk what a browser would see of it: files 0644, folders 0755, each folder dated
 * by the newest file below it (symlinks and other kinds are not allowed: a browser skips them).
 */
export async function normalizeForBrowser(root: string): Promise<{ files: number; bytes: number }> {
  const files: { path: string; mtime: number }[] = [];
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const st = await lstat(join(root, p));
        await chmod(join(root, p), 0o644);
        files.push({ path: p, mtime: Math.floor(st.mtimeMs / 1000) });
        bytes += st.size;
      } else throw new Error(`${p}: a browser sees regular files and folders only`);
    }
  };
  await walk('');
  await stampFolders(root, files);
  return { files: files.length, bytes };
}

export async function writeTree(root: string, files: readonly { path: string; content: Uint8Array; mtime: number }[]): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const f of files) {
    const at = join(root, f.path);
    await mkdir(dirname(at), { recursive: true });
    await writeFile(at, f.content);
    await chmod(at, 0o644);
    await utimes(at, f.mtime, f.mtime);
  }
  await stampFolders(root, files);
}

/** The data tree (cpio, squashfs, FAT) in `root`, and the manifest beside it; returns the manifest's path. */
export async function makeDataTree(root: string): Promise<{ root: string; manifest: string; bytes: number }> {
  const files = DATA_FILES.map(([path, size, seed, before]) => ({ path, content: contentOf(size, seed), mtime: WEB_EPOCH - before }));
  await writeTree(root, files);
  const manifest = join(dirname(root), 'web.manifest');
  await writeFile(manifest, WEB_MANIFEST);
  return { root, manifest, bytes: files.reduce((n, f) => n + f.content.byteLength, 0) };
}

/** A tree with one name FAT cannot hold (':' is forbidden in long names too). */
export async function makeBadFatTree(root: string): Promise<string> {
  await writeTree(root, [
    { path: 'ok.txt', content: new TextEncoder().encode('fine\n'), mtime: WEB_EPOCH - 10 },
    { path: 'sub/bad:name.txt', content: new TextEncoder().encode('FAT cannot hold this name\n'), mtime: WEB_EPOCH - 10 },
  ]);
  return 'sub/bad:name.txt';
}

/** A bigger tree: `count` files of pseudo-random, half-compressible bytes adding up to `bytes`. */
export async function makeBulkTree(root: string, bytes: number, count: number): Promise<void> {
  const each = Math.floor(bytes / count);
  const files = Array.from({ length: count }, (_, i) => ({ path: `d${String(i % 16).padStart(2, '0')}/f${String(i).padStart(4, '0')}.bin`, content: contentOf(each, 1000 + i), mtime: WEB_EPOCH - 1000 }));
  await writeTree(root, files);
}

export const LIVE_MARKER = 'IMGKIT-WEB-ISO-BOOTED';
const KARGS = 'console=ttyS0 panic=-1 oops=panic';

function requireFile(path: string, pkg: string): string {
  if (!existsSync(path)) throw new Error(`required file ${path} is missing: apt-get install -y ${pkg}`);
  return path;
}

/**
 * A live-CD tree as test/boot-iso.test.ts builds it, on disk: isolinux (BIOS), a FAT El Torito
 * image with GRUB (UEFI) that finds the CD by a stamp file, Debian's kernel and an initramfs whose
 * /init prints LIVE_MARKER. Returns the MBR template path for the isohybrid preset.
 */
export async function makeLiveTree(root: string, work: string): Promise<{ root: string; mbrTemplate: string }> {
  const kernel = await readFile((await defaultKernel()).kernel);
  const initrd = await readFile(await buildInitramfs({ initScript: `echo ${LIVE_MARKER}\npoweroff -f\n` }));
  const embedded = join(work, 'embedded.cfg');
  await writeFile(embedded, 'search --no-floppy --file /imgkit-stamp --set=root\necho "imgkit-cmdpath=$cmdpath"\nset prefix=($root)/boot/grub\nconfigfile ($root)/boot/grub/grub.cfg\n');
  const mods = 'part_gpt part_msdos iso9660 fat search search_fs_file linux normal configfile echo all_video test';
  const efi = join(work, 'BOOTX64.EFI');
  requireFile('/usr/lib/grub/x86_64-efi/linux.mod', 'grub-efi-amd64-bin');
  await run(requireTool('grub-mkstandalone', 'grub-common'), ['-O', 'x86_64-efi', '-o', efi, `--modules=${mods}`, `--install-modules=${mods}`, '--locales=', '--fonts=', '--themes=', `boot/grub/grub.cfg=${embedded}`]);
  const img = join(work, 'efi.img');
  await run(requireTool('mkfs.fat', 'dosfstools'), ['-C', '-n', 'IMGKITESP', img, '4096']);
  await run(requireTool('mmd', 'mtools'), ['-i', img, '::/EFI', '::/EFI/BOOT']);
  await run(requireTool('mcopy', 'mtools'), ['-i', img, efi, '::/EFI/BOOT/BOOTX64.EFI']);
  const t = WEB_EPOCH - 3600;
  const enc = (s: string) => new TextEncoder().encode(s);
  await writeTree(root, [
    { path: 'imgkit-stamp', content: enc('imgkit\n'), mtime: t },
    { path: 'boot/vmlinuz', content: kernel, mtime: t },
    { path: 'boot/initrd.img', content: initrd, mtime: t },
    { path: 'boot/efi.img', content: await readFile(img), mtime: t },
    { path: 'boot/grub/grub.cfg', content: enc(`set timeout=0\nmenuentry imgkit {\n  linux /boot/vmlinuz ${KARGS}\n  initrd /boot/initrd.img\n}\n`), mtime: t },
    { path: 'isolinux/isolinux.bin', content: await readFile(requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux')), mtime: t },
    { path: 'isolinux/ldlinux.c32', content: await readFile(requireFile('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common')), mtime: t },
    { path: 'isolinux/isolinux.cfg', content: enc(`SERIAL 0 115200\nDEFAULT imgkit\nPROMPT 0\nTIMEOUT 0\nLABEL imgkit\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND ${KARGS}\n`), mtime: t },
  ]);
  return { root, mbrTemplate: requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux') };
}

/** The layout of the disk-composer fixture (at the top of its folder, as layout.yaml). */
export const WEB_DISK_LAYOUT = [
  '# a small appliance: FAT ESP, squashfs root (manifest beside the layout), ext4 home',
  'table: gpt',
  'seed: web-disk',
  'partitions:',
  '  - { label: esp, type: esp, size: 8M, content: { fat: boot/, label: ESP } }',
  '  - { label: root, type: linux, content: { squashfs: rootfs/, compression: zstd, manifest: rootfs.manifest, allRoot: true } }',
  '  - { label: home, type: linux, content: { ext4: home/, label: home, exclude: [cache] } }',
  '',
].join('\n');

/** rootfs.manifest: modes and nodes for the squashfs partition; its `file` line is relative to it. */
const WEB_DISK_MANIFEST = ['dir /dev 0755 0 0', 'nod /dev/console 0600 0 0 c 5 1', 'dir /sbin 0755 0 0', 'slink /sbin/init /bin/tool 0777 0 0', 'file /bin/tool rootfs/bin/tool 0755 0 0', ''].join('\n');

/**
 * A folder for the disk composer as a browser sees it: layout.yaml and rootfs.manifest at the
 * top, boot/ (the ESP), rootfs/ (squashfs), home/ (ext4; home/cache is excluded by the layout).
 */
export async function makeDiskTree(root: string): Promise<{ root: string; layout: string }> {
  const enc = (s: string) => new TextEncoder().encode(s);
  const t = WEB_EPOCH - 7200;
  await writeTree(root, [
    { path: 'layout.yaml', content: enc(WEB_DISK_LAYOUT), mtime: t },
    { path: 'rootfs.manifest', content: enc(WEB_DISK_MANIFEST), mtime: t },
    { path: 'boot/EFI/BOOT/BOOTX64.EFI', content: contentOf(70_000, 71), mtime: t },
    { path: 'boot/loader/loader.conf', content: enc('default imgkit\ntimeout 0\n'), mtime: t },
    { path: 'rootfs/bin/tool', content: contentOf(3000, 72), mtime: t },
    { path: 'rootfs/etc/os-release', content: enc('ID=imgkit\n'), mtime: t },
    { path: 'rootfs/usr/lib/big', content: contentOf(300_000, 73), mtime: t - 60 },
    { path: 'home/user/notes.txt', content: enc('hello from the page\n'), mtime: WEB_EPOCH + 1000 }, // newer: clamped
    { path: 'home/user/data.bin', content: contentOf(50_000, 74), mtime: t },
    { path: 'home/cache/skip.bin', content: contentOf(1000, 75), mtime: t },
  ]);
  return { root, layout: join(root, 'layout.yaml') };
}
