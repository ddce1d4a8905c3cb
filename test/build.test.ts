/**
 * `imgkit build`: one recipe over a small fixture (a directory layer, a tar layer with an OCI
 * whiteout, a manifest; a fake kernel pair picked by glob; an initramfs from a directory with
 * kernel modules from a fake modules.dep, one of them xz-compressed; Debian's isolinux and GRUB EFI
 * files) builds an ISO, a disk (raw, qcow2, VMDK), the update image, the root tar and the initramfs.
 * Each is checked with its reference tool and its contents compared with the source: the update
 * squashfs extracted by unsquashfs and the tar extracted by GNU tar equal the expected overlay
 * tree (names, kinds, modes, owners, times, link targets, devices, sha256); the ISO's El Torito
 * report, its files (osirrox) and its appended ESP (fsck.fat, mcopy); the disk's table (sfdisk
 * --json), ESP (fsck.fat, mcopy), squashfs slot (bytes equal to the update image), ext4 root
 * (e2fsck, debugfs); the VM images (qemu-img check, compare with the raw disk); the initramfs
 * (cpio listing and extraction); every .sha256 through sha256sum -c. Then bad recipes: each error's
 * code, recipe line and field, and nothing left behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { requireFile } from './lib/iso-kit.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, type Snapshot } from './lib/tree.ts';

const T = 1_650_000_000; // every fixture time, older than the epoch
const EPOCH = 1_700_000_000;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const ISOLINUX = () => requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux');
const LDLINUX = () => requireFile('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common');
const ISOHDPFX = () => requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux');
const GRUBX64 = () => requireFile('/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi', 'grub-efi-amd64-bin');

interface Fixture {
  dir: string;
  recipe: string;
  /** The root as the overlay should come out, as a directory. */
  expected: string;
  kernelNew: Uint8Array;
  moduleB: Uint8Array;
}

async function touchAll(dir: string, t: number): Promise<void> {
  await run('find', [dir, '-exec', 'touch', '-h', '-d', `@${t}`, '{}', '+']);
}

const RECIPE = `# the fixture recipe
name: fixture
version: 1.2.3
arch: amd64
root:
  layers: [base/, overlay.tar]
  manifest: root.manifest
squashfs: { compression: gzip }
kernel: boot/vmlinuz-*
initramfs:
  dir: initramfs/
  manifest: initramfs.manifest
  compression: gzip
  modules: { from: modules/*, load: [a] }
boot:
  isolinux: { bin: ${'%ISOLINUX%'}, ldlinux: ${'%LDLINUX%'}, mbr: ${'%ISOHDPFX%'} }
  efi: { loader: ${'%GRUBX64%'} }
  entries:
    - { label: live, cmdline: "console=ttyS0 imgkit.root=live" }
    - { label: rescue, cmdline: "console=ttyS0 single" }
artifacts:
  - { type: iso, volumeId: FIXTURE, files: isofiles/ }
  - type: disk
    formats: [raw, qcow2, vmdk]
    layout:
      table: gpt
      seed: fixture
      partitions:
        - { label: esp, type: esp, size: 40M, content: { fat: "@esp", label: ESP } }
        - { label: system-a, type: linux, size: 16M, content: { image: "@system.squashfs" } }
        - { label: root, type: linux, content: { ext4: "@root", label: ROOT } }
        - { label: config, type: linux, size: 8M, content: { fat: config/, label: CONFIG } }
  - update
  - tar
  - initramfs
`;

async function makeFixture(): Promise<Fixture> {
  const dir = await tempDir('build-fixture');
  // Layer 1: a directory.
  const base = join(dir, 'base');
  for (const d of ['etc', 'usr/bin', 'usr/lib', 'var/old', 'data']) await mkdir(join(base, d), { recursive: true });
  await writeFile(join(base, 'etc/hostname'), 'base\n');
  await writeFile(join(base, 'etc/os-release'), 'NAME=fixture\n');
  await writeFile(join(base, 'usr/bin/tool'), '#!/bin/sh\necho tool\n');
  await chmod(join(base, 'usr/bin/tool'), 0o755);
  await writeFile(join(base, 'usr/lib/libx.so.1'), Buffer.alloc(70_000, 7));
  await symlink('libx.so.1', join(base, 'usr/lib/libx.so'));
  await writeFile(join(base, 'var/old/file'), 'whited out\n');
  await writeFile(join(base, 'data/hard1'), 'linked\n');
  await link(join(base, 'data/hard1'), join(base, 'data/hard2'));
  await touchAll(base, T);
  // Layer 2: a tar archive replacing etc/hostname, adding opt/new, deleting var/old (OCI whiteout).
  const ov = join(dir, 'overlay');
  for (const d of ['etc', 'opt', 'var']) await mkdir(join(ov, d), { recursive: true });
  await writeFile(join(ov, 'etc/hostname'), 'overlay\n');
  await writeFile(join(ov, 'opt/new'), 'new file\n');
  await writeFile(join(ov, 'var/.wh.old'), '');
  await touchAll(ov, T);
  await run(requireTool('tar', 'tar'), ['-C', ov, '--owner=0', '--group=0', '--numeric-owner', '-cf', join(dir, 'overlay.tar'), 'etc', 'opt', 'var']);
  await writeFile(join(dir, 'root.manifest'), 'dir dev 0755 0 0\nnod dev/console 0600 0 0 c 5 1\ndir srv 0750 1000 1000\n');

  // What the overlay must give: base, then the layer, then the manifest (its entries dated EPOCH).
  const expected = join(dir, 'expected');
  await run('cp', ['-a', base, expected]);
  await writeFile(join(expected, 'etc/hostname'), 'overlay\n');
  await mkdir(join(expected, 'opt'));
  await writeFile(join(expected, 'opt/new'), 'new file\n');
  await rm(join(expected, 'var/old'), { recursive: true });
  await touchAll(expected, T);
  await mkdir(join(expected, 'dev'));
  await run('mknod', ['-m', '0600', join(expected, 'dev/console'), 'c', '5', '1']);
  await mkdir(join(expected, 'srv'), { mode: 0o750 });
  await run('chown', ['1000:1000', join(expected, 'srv')]);
  await run('touch', ['-h', '-d', `@${EPOCH}`, join(expected, 'srv'), join(expected, 'dev/console'), join(expected, 'dev')]);

  // Two kernels: the glob takes the newest version (-10 after -9, not by byte order).
  await mkdir(join(dir, 'boot'));
  const kernelNew = Buffer.from(`kernel 10 ${'k'.repeat(5000)}\n`);
  await writeFile(join(dir, 'boot/vmlinuz-6.1.0-9-amd64'), 'kernel 9\n');
  await writeFile(join(dir, 'boot/vmlinuz-6.1.0-10-amd64'), kernelNew);
  // Modules: a needs b (shipped xz-compressed); c is not asked for.
  const mods = join(dir, 'modules/6.1.0-10-amd64');
  await mkdir(join(mods, 'kernel/fs'), { recursive: true });
  await mkdir(join(mods, 'kernel/lib'), { recursive: true });
  const moduleB = Buffer.from(`module b ${'b'.repeat(3000)}\n`);
  await writeFile(join(mods, 'kernel/fs/a.ko'), 'module a\n');
  await writeFile(join(mods, 'kernel/lib/b.ko'), moduleB);
  await run(requireTool('xz', 'xz-utils'), [join(mods, 'kernel/lib/b.ko')]);
  await writeFile(join(mods, 'kernel/fs/c.ko'), 'module c\n');
  await writeFile(join(mods, 'modules.dep'), 'kernel/fs/a.ko: kernel/lib/b.ko.xz\nkernel/lib/b.ko.xz:\nkernel/fs/c.ko:\n');
  // The initramfs directory, and a manifest adding a host file.
  await mkdir(join(dir, 'initramfs'));
  await writeFile(join(dir, 'initramfs/init'), '#!/bin/sh\necho init\n');
  await chmod(join(dir, 'initramfs/init'), 0o755);
  await writeFile(join(dir, 'payload'), 'payload bytes\n');
  await writeFile(join(dir, 'initramfs.manifest'), 'dir /bin 0755 0 0\nfile /bin/payload payload 0755 0 0\n');
  await mkdir(join(dir, 'isofiles'));
  await writeFile(join(dir, 'isofiles/answers.txt'), 'hostname=unattended\n');
  await mkdir(join(dir, 'config'));
  await writeFile(join(dir, 'config/appliance.conf'), 'mode=test\n');

  const recipe = join(dir, 'recipe.yaml');
  await writeFile(recipe, RECIPE.replace('%ISOLINUX%', ISOLINUX()).replace('%LDLINUX%', LDLINUX()).replace('%ISOHDPFX%', ISOHDPFX()).replace('%GRUBX64%', GRUBX64()));
  return { dir, recipe, expected, kernelNew, moduleB };
}

let fixture: Promise<Fixture> | undefined;
const getFixture = () => (fixture ??= makeFixture());

async function build(recipe: string, out: string, env: Record<string, string> = { SOURCE_DATE_EPOCH: String(EPOCH) }) {
  const r = await runImgkit(['build', recipe, '--out', out, '--workers', '1'], { env });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

let built: Promise<{ out: string; stdout: string; stderr: string }> | undefined;
const getBuilt = () =>
  (built ??= (async () => {
    const f = await getFixture();
    const out = join(await tempDir('build-out'), 'out');
    const r = await build(f.recipe, out);
    return { out, stdout: r.stdout.toString(), stderr: r.stderr };
  })());

const FILES = ['fixture-1.2.3-amd64.iso', 'fixture-1.2.3-amd64.img', 'fixture-1.2.3-amd64.qcow2', 'fixture-1.2.3-amd64.vmdk', 'system-1.2.3.squashfs', 'fixture-1.2.3-amd64.tar', 'fixture-1.2.3-amd64.cpio.gz'];

test('every artifact is written with a .sha256 that sha256sum -c accepts; progress and summary name each', async () => {
  const { out, stdout, stderr } = await getBuilt();
  const names = (await readdir(out)).sort();
  assert.deepEqual(names, [...FILES.flatMap((f) => [f, `${f}.sha256`])].sort(), 'exactly the artifacts and their sums; no temporary or hidden file');
  const r = await run(requireTool('sha256sum', 'coreutils'), ['-c', ...FILES.map((f) => `${f}.sha256`)], { cwd: out });
  for (const f of FILES) assert.match(r.stdout.toString(), new RegExp(`^${f.replace(/\./g, '\\.')}: OK$`, 'm'));
  for (const f of FILES) {
    const sum = (await readFile(join(out, `${f}.sha256`), 'utf8')).split(' ')[0]!;
    assert.equal(sum, sha(await readFile(join(out, f))), f);
    assert.match(stderr, new RegExp(`imgkit: built \\S+( \\S+)? ${f.replace(/\./g, '\\.')} \\(`), `progress line for ${f}`);
    const row = stdout.split('\n').find((l) => l.includes(` ${f} `));
    assert.ok(row?.includes(sum), `summary row with the sha256 for ${f}:\n${stdout}`);
  }
});

test('the update image (the shared squashfs root): unsquashfs extracts the overlaid tree', async () => {
  const f = await getFixture();
  const { out } = await getBuilt();
  const x = join(await tempDir('build-unsq'), 'x');
  await run(requireTool('unsquashfs', 'squashfs-tools'), ['-n', '-d', x, join(out, 'system-1.2.3.squashfs')]);
  assertSameTree(await snapshotDir(x), await snapshotDir(f.expected), { ignore: ['root'] });
  const lln = (await run('unsquashfs', ['-lln', join(out, 'system-1.2.3.squashfs')], { env: { TZ: 'UTC' } })).stdout.toString();
  assert.match(lln, /crw------- 0\/0\s+5,\s*1 \S+ \S+ squashfs-root\/dev\/console/);
  assert.doesNotMatch(lln, /var\/old|\.wh\./, 'the whiteout removed var/old and is not itself in the tree');
});

test('the root tar: GNU tar lists and extracts the same tree', async () => {
  const f = await getFixture();
  const { out } = await getBuilt();
  const tarTool = requireTool('tar', 'tar');
  const listed = (await run(tarTool, ['-tf', join(out, 'fixture-1.2.3-amd64.tar')])).stdout.toString().trim().split('\n');
  const expected = await snapshotDir(f.expected);
  const names = listed.map((n) => n.replace(/^\.\/?/, '').replace(/\/$/, '')).sort();
  assert.deepEqual(names, [...expected.keys()].sort());
  const x = await tempDir('build-untar');
  await run(tarTool, ['-C', x, '--numeric-owner', '-xpf', join(out, 'fixture-1.2.3-amd64.tar')]);
  assertSameTree(await snapshotDir(x), expected, { ignore: ['root'] });
  // bsdtar reads it too, with the same names.
  const bsd = (await run(requireTool('bsdtar', 'libarchive-tools'), ['-tf', join(out, 'fixture-1.2.3-amd64.tar')])).stdout.toString().trim().split('\n');
  assert.deepEqual(bsd.map((n) => n.replace(/^\.\/?/, '').replace(/\/$/, '')).sort(), names);
});

test('the ISO: El Torito BIOS + UEFI, boot files, the shared squashfs, generated configs, the appended ESP', async () => {
  const f = await getFixture();
  const { out } = await getBuilt();
  const iso = join(out, 'fixture-1.2.3-amd64.iso');
  const report = (await run(requireTool('xorriso', 'xorriso'), ['-indev', iso, '-report_el_torito', 'plain'])).stdout.toString();
  assert.match(report, /El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
  assert.match(report, /El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
  assert.match(report, /El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
  assert.match(report, /El Torito img opts :\s+1\s+boot-info-table/);
  const x = await tempDir('build-osirrox');
  await run(requireTool('osirrox', 'xorriso'), ['-indev', iso, '-extract', '/', x]);
  const file = (p: string) => readFile(join(x, p));
  assert.equal(sha(await file('live/filesystem.squashfs')), sha(await readFile(join(out, 'system-1.2.3.squashfs'))), 'the ISO carries the update image byte for byte');
  assert.equal(sha(await file('boot/vmlinuz')), sha(f.kernelNew), 'the newest kernel the glob matched');
  assert.equal(sha(await file('boot/initrd.img')), sha(await readFile(join(out, 'fixture-1.2.3-amd64.cpio.gz'))));
  assert.equal(sha(await file('isolinux/isolinux.bin')).length, 64);
  assert.equal(sha(await file('isolinux/ldlinux.c32')), sha(await readFile(LDLINUX())));
  assert.equal(
    (await file('isolinux/isolinux.cfg')).toString(),
    'SERIAL 0 115200\nDEFAULT live\nPROMPT 0\nTIMEOUT 0\nLABEL live\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND console=ttyS0 imgkit.root=live\nLABEL rescue\n  KERNEL /boot/vmlinuz\n  INITRD /boot/initrd.img\n  APPEND console=ttyS0 single\n',
  );
  const grub = (await file('boot/grub/grub.cfg')).toString();
  assert.match(grub, /menuentry 'live' --id 'live' \{\n {2}linux \/boot\/vmlinuz console=ttyS0 imgkit\.root=live\n {2}initrd \/boot\/initrd\.img\n\}/);
  assert.match(grub, /menuentry 'rescue'/);
  assert.equal((await file('.disk/info')).toString(), 'fixture 1.2.3 amd64\n');
  assert.equal((await file('answers.txt')).toString(), 'hostname=unattended\n', 'the iso artifact\'s extra files');
  // The ESP appended as GPT partition 2 (a protective MBR, OVMF boots the stick through it).
  const table = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', iso])).stdout.toString()).partitiontable;
  assert.equal(table.label, 'gpt');
  const esp = table.partitions.find((p: { type: string }) => p.type === 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
  assert.ok(esp, JSON.stringify(table));
  const espImg = join(x, '..', 'esp.img');
  await run('dd', [`if=${iso}`, `of=${espImg}`, 'bs=512', `skip=${esp.start}`, `count=${esp.size}`, 'status=none']);
  await run(requireTool('fsck.fat', 'dosfstools'), ['-n', espImg]);
  const ex = await tempDir('build-esp');
  await run(requireTool('mcopy', 'mtools'), ['-s', '-n', '-i', espImg, '::/EFI', ex], { env: { MTOOLS_SKIP_CHECK: '1' } });
  assert.equal(sha(await readFile(join(ex, 'EFI/BOOT/BOOTX64.EFI'))), sha(await readFile(GRUBX64())));
});

test('the disk: GPT as laid out, the ESP (fsck.fat, files), the squashfs slot, the ext4 root, the config FAT', async () => {
  const f = await getFixture();
  const { out } = await getBuilt();
  const img = join(out, 'fixture-1.2.3-amd64.img');
  const table = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', img])).stdout.toString()).partitiontable;
  assert.equal(table.label, 'gpt');
  assert.deepEqual(table.partitions.map((p: { name: string }) => p.name), ['esp', 'system-a', 'root', 'config']);
  const part = async (i: number) => {
    const p = table.partitions[i];
    const file = join(await tempDir('build-part'), `p${i}`);
    await run('dd', [`if=${img}`, `of=${file}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
    return file;
  };
  const esp = await part(0);
  const fsck = await run(requireTool('fsck.fat', 'dosfstools'), ['-n', esp]);
  assert.doesNotMatch(fsck.stdout.toString(), /differ|dirty|corrupt/i);
  const ex = await tempDir('build-disk-esp');
  await run(requireTool('mcopy', 'mtools'), ['-s', '-n', '-i', esp, '::/EFI', '::/boot', ex], { env: { MTOOLS_SKIP_CHECK: '1' } });
  assert.equal(sha(await readFile(join(ex, 'boot/vmlinuz'))), sha(f.kernelNew));
  assert.equal(sha(await readFile(join(ex, 'boot/initrd.img'))), sha(await readFile(join(out, 'fixture-1.2.3-amd64.cpio.gz'))));
  assert.equal(sha(await readFile(join(ex, 'EFI/BOOT/BOOTX64.EFI'))), sha(await readFile(GRUBX64())));
  const grub = await readFile(join(ex, 'EFI/BOOT/grub.cfg'), 'utf8');
  assert.match(grub, /load_env -f "\$cmdpath\/grubenv"/);
  assert.match(grub, /set default="\$slot"/);
  const env = await readFile(join(ex, 'EFI/BOOT/grubenv'));
  assert.equal(env.byteLength, 1024);
  // grub-editenv reads the block imgkit wrote and can set the slot in it.
  await run(requireTool('grub-editenv', 'grub-common'), [join(ex, 'EFI/BOOT/grubenv'), 'set', 'slot=rescue']);
  assert.equal((await run('grub-editenv', [join(ex, 'EFI/BOOT/grubenv'), 'list'])).stdout.toString(), 'slot=rescue\n');
  // system-a: the update image's bytes, then zeros.
  const slot = await readFile(await part(1));
  const update = await readFile(join(out, 'system-1.2.3.squashfs'));
  assert.equal(sha(slot.subarray(0, update.byteLength)), sha(update));
  assert.ok(slot.subarray(update.byteLength).every((b) => b === 0));
  // root: ext4 from @root.
  const root = await part(2);
  await run(requireTool('e2fsck', 'e2fsprogs'), ['-fn', root]);
  assert.equal((await run(requireTool('debugfs', 'e2fsprogs'), ['-R', 'cat /etc/hostname', root])).stdout.toString(), 'overlay\n');
  assert.match((await run('debugfs', ['-R', 'stat /dev/console', root])).stdout.toString(), /Type: character special/);
  const config = await part(3);
  await run('fsck.fat', ['-n', config]);
  assert.equal((await run('mtype', ['-i', config, '::/appliance.conf'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout.toString(), 'mode=test\n');
});

test('the VM images: qemu-img check passes and each holds the raw disk\'s bytes', async () => {
  const { out } = await getBuilt();
  const qemuImg = requireTool('qemu-img', 'qemu-utils');
  const raw = join(out, 'fixture-1.2.3-amd64.img');
  for (const [file, format] of [['fixture-1.2.3-amd64.qcow2', 'qcow2'], ['fixture-1.2.3-amd64.vmdk', 'vmdk']] as const) {
    const info = JSON.parse((await run(qemuImg, ['info', '--output=json', join(out, file)])).stdout.toString());
    assert.equal(info.format, format);
    assert.equal(info['virtual-size'], (await readFile(raw)).byteLength);
    await run(qemuImg, ['check', join(out, file)]);
    const cmp = await run(qemuImg, ['compare', '-f', format, '-F', 'raw', join(out, file), raw]);
    assert.match(cmp.stdout.toString(), /Images are identical/);
  }
});

test('the initramfs: the directory, the manifest\'s file and the modules (b decompressed) in load order', async () => {
  const f = await getFixture();
  const { out } = await getBuilt();
  const x = await tempDir('build-cpio');
  const cpio = await run('gzip', ['-dc', join(out, 'fixture-1.2.3-amd64.cpio.gz')]);
  await run(requireTool('cpio', 'cpio'), ['-idm', '--quiet', '--no-absolute-filenames'], { cwd: x, input: cpio.stdout });
  const listing = (await run('cpio', ['-it', '--quiet'], { input: cpio.stdout })).stdout.toString().trim().split('\n').sort();
  assert.deepEqual(listing, ['.', 'bin', 'bin/payload', 'init', 'lib', 'lib/modules', 'lib/modules/a.ko', 'lib/modules/b.ko', 'lib/modules/load.list'].sort());
  assert.equal(await readFile(join(x, 'lib/modules/load.list'), 'utf8'), 'b\na\n', 'dependency first');
  assert.equal(sha(await readFile(join(x, 'lib/modules/b.ko'))), sha(f.moduleB), '.ko.xz decompressed');
  assert.equal(await readFile(join(x, 'bin/payload'), 'utf8'), 'payload bytes\n');
  const snap: Snapshot = await snapshotDir(x);
  assert.equal(snap.get('init')?.mode, 0o755);
});

test('the same recipe and epoch give the same bytes', async () => {
  const f = await getFixture();
  const { out } = await getBuilt();
  const again = join(await tempDir('build-again'), 'out');
  await build(f.recipe, again);
  for (const file of FILES) assert.equal(await readFile(join(again, `${file}.sha256`), 'utf8'), await readFile(join(out, `${file}.sha256`), 'utf8'), file);
});

// ---- bad recipes ----

interface Bad {
  what: string;
  edit: (recipe: string) => string;
  code: string;
  /** Text on the line the message must name. */
  at?: string;
  field?: string;
}

const lineOf = (text: string, needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;

const BAD: Bad[] = [
  { what: 'an unknown top-level key', edit: (r) => r.replace('arch: amd64', 'arch: amd64\nflavour: big'), code: 'E_BAD_OPTION', field: 'flavour', at: 'flavour: big' },
  { what: 'an unknown disk format', edit: (r) => r.replace('formats: [raw, qcow2, vmdk]', 'formats: [raw, qcow3]'), code: 'E_BAD_OPTION', field: 'artifacts[1].formats[1]', at: 'qcow3' },
  { what: 'a kernel glob with no match', edit: (r) => r.replace('kernel: boot/vmlinuz-*', 'kernel: boot/bzImage-*'), code: 'E_SOURCE_MISSING', field: 'kernel', at: 'bzImage' },
  { what: 'a missing layer', edit: (r) => r.replace('[base/, overlay.tar]', '[base/, missing.tar]'), code: 'E_SOURCE_MISSING', field: 'root.layers[1]', at: 'missing.tar' },
  { what: 'a module not in modules.dep', edit: (r) => r.replace('load: [a]', 'load: [a, zz]'), code: 'E_SOURCE_MISSING', field: 'initramfs.modules.load', at: 'zz]' },
  { what: 'a bad size in the inline layout', edit: (r) => r.replace('size: 16M, content', 'size: lots, content'), code: 'E_BAD_OPTION', field: 'artifacts[1].layout.partitions[1].size', at: 'size: lots' },
  { what: 'two artifacts writing one file', edit: (r) => r.replace('  - tar\n', '  - tar\n  - tar\n'), code: 'E_BAD_OPTION', field: 'artifacts[4].name' },
  { what: 'a version that is not a file name', edit: (r) => r.replace('version: 1.2.3', 'version: 1.2/3'), code: 'E_BAD_OPTION', field: 'version', at: 'version: 1.2/3' },
  { what: 'a YAML syntax error', edit: (r) => r.replace('squashfs: { compression: gzip }', 'squashfs: { compression: gzip'), code: 'E_LAYOUT_SYNTAX' },
  { what: 'isolinux on arm64', edit: (r) => r.replace('arch: amd64', 'arch: arm64'), code: 'E_BAD_OPTION', field: 'boot.isolinux', at: 'isolinux:' },
];

for (const c of BAD) {
  test(`bad recipe: ${c.what} is ${c.code} at its line and field, nothing written`, async () => {
    const f = await getFixture();
    const text = c.edit(RECIPE.replace('%ISOLINUX%', ISOLINUX()).replace('%LDLINUX%', LDLINUX()).replace('%ISOHDPFX%', ISOHDPFX()).replace('%GRUBX64%', GRUBX64()));
    assert.notEqual(text, RECIPE, 'the edit applies');
    const recipe = join(f.dir, `bad-${BAD.indexOf(c)}.yaml`);
    await writeFile(recipe, text);
    const out = join(await tempDir('build-bad'), 'out');
    const r = await runImgkit(['build', recipe, '--out', out], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
    // Exit status as every imgkit command: 2 for a recipe that asks for something impossible, 1 for a failure.
    assert.equal(r.code, c.code === 'E_BAD_OPTION' ? 2 : 1, r.stderr);
    assert.match(r.stderr, new RegExp(`\\[${c.code}\\]`), r.stderr);
    if (c.field !== undefined) assert.ok(r.stderr.includes(`: ${c.field}: `), `field ${c.field} in: ${r.stderr}`);
    const line = /\.yaml:(\d+): /.exec(r.stderr)?.[1];
    assert.ok(line !== undefined, `a line in: ${r.stderr}`);
    if (c.at !== undefined) assert.equal(Number(line), lineOf(text, c.at), `the line of "${c.at}": ${r.stderr}`);
    const left = await readdir(out).catch(() => [] as string[]);
    assert.deepEqual(left, [], 'nothing written');
  });
}

test('an output directory inside a source directory is E_OUTPUT_IN_SOURCE at the layer, nothing written', async () => {
  const f = await getFixture();
  const out = join(f.dir, 'base', 'out');
  const r = await runImgkit(['build', f.recipe, '--out', out], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[E_OUTPUT_IN_SOURCE\]/);
  assert.match(r.stderr, new RegExp(`recipe\\.yaml:${lineOf(RECIPE, 'layers:')}: root\\.layers\\[0\\]: `), r.stderr);
  assert.deepEqual(await readdir(out).catch(() => []), []);
});

test('a build failing at a later artifact leaves the finished ones and no partial or temporary file', async () => {
  const f = await getFixture();
  // An ESP too small for the kernel + initramfs + GRUB: E_NO_SPACE at the partition, after the update image was written.
  const text = RECIPE.replace('%ISOLINUX%', ISOLINUX()).replace('%LDLINUX%', LDLINUX()).replace('%ISOHDPFX%', ISOHDPFX()).replace('%GRUBX64%', GRUBX64()).replace('size: 40M, content: { fat: "@esp"', 'size: 2M, content: { fat: "@esp"');
  const recipe = join(f.dir, 'small-esp.yaml');
  await writeFile(recipe, text);
  const out = join(await tempDir('build-nospace'), 'out');
  const r = await runImgkit(['build', recipe, '--out', out], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[E_NO_SPACE\]/);
  assert.match(r.stderr, new RegExp(`small-esp\\.yaml:${lineOf(text, 'label: esp')}: artifacts\\[1\\]\\.layout\\.partitions\\[0\\]`), r.stderr);
  const left = (await readdir(out)).sort();
  assert.deepEqual(left, ['fixture-1.2.3-amd64.iso', 'fixture-1.2.3-amd64.iso.sha256', 'system-1.2.3.squashfs', 'system-1.2.3.squashfs.sha256'], 'the finished artifacts only');
  await copyFile(join(out, 'system-1.2.3.squashfs'), join(out, 'copy')); // readable, complete
});

interface InspectNode {
  type: string;
  name?: string;
  fields?: Record<string, unknown>;
  children?: InspectNode[];
}
const nodes = (n: InspectNode): InspectNode[] => [n, ...(n.children ?? []).flatMap(nodes)];

test('imgkit inspect finds no defect in any artifact and agrees with xorriso, sfdisk, unsquashfs and qemu-img', async () => {
  const { out } = await getBuilt();
  const inspect = async (file: string) => {
    const r = await runImgkit(['inspect', '--json', join(out, file)]);
    assert.equal(r.code, 0, `${file}: ${r.stderr}\n${r.stdout.toString().slice(0, 2000)}`);
    const report = JSON.parse(r.stdout.toString()) as { exitCode: number; findings: unknown[]; root: InspectNode };
    assert.equal(report.exitCode, 0, JSON.stringify(report.findings));
    return nodes(report.root);
  };
  // ISO: the El Torito entries xorriso reports.
  const iso = await inspect('fixture-1.2.3-amd64.iso');
  const report = (await run('xorriso', ['-indev', join(out, 'fixture-1.2.3-amd64.iso'), '-report_el_torito', 'plain'])).stdout.toString();
  const xorrisoEntries = [...report.matchAll(/El Torito boot img :\s+\d+\s+(\S+)\s+y\s+none\s+\S+\s+\S+\s+(\d+)\s+(\d+)/g)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
  const inspectEntries = iso.filter((n) => n.type === 'boot-image').map((n) => [n.fields!.platform, n.fields!.loadSectors, n.fields!.lba]);
  assert.deepEqual(inspectEntries, xorrisoEntries);
  // Disk: the GPT partitions sfdisk lists, by name and type.
  for (const file of ['fixture-1.2.3-amd64.img', 'fixture-1.2.3-amd64.qcow2', 'fixture-1.2.3-amd64.vmdk']) {
    const disk = await inspect(file);
    const sf = JSON.parse((await run('sfdisk', ['--json', join(out, 'fixture-1.2.3-amd64.img')])).stdout.toString()).partitiontable.partitions;
    const gpt = disk.filter((n) => n.type === 'partition' && typeof n.fields?.name === 'string');
    assert.deepEqual(gpt.map((n) => [n.fields!.name, n.fields!.type]), sf.map((p: { name: string; type: string }) => [p.name, p.type]), file);
    if (!file.endsWith('.img')) {
      const info = JSON.parse((await run('qemu-img', ['info', '--output=json', join(out, file)])).stdout.toString());
      assert.equal(disk[0]!.fields!.virtualSize, info['virtual-size'], `${file}: virtual size`);
      if (file.endsWith('.qcow2')) assert.equal(disk[0]!.fields!.clusterSize, info['cluster-size']);
    }
  }
  // The update image: compressor, block size and inode count as unsquashfs -s gives them.
  const sq = (await inspect('system-1.2.3.squashfs'))[0]!.fields!;
  const s = (await run('unsquashfs', ['-s', join(out, 'system-1.2.3.squashfs')])).stdout.toString();
  assert.equal(sq.compression, /Compression (\w+)/.exec(s)![1]);
  assert.equal(sq.blockSize, Number(/Block size (\d+)/.exec(s)![1]));
  assert.equal(sq.inodes, Number(/Number of inodes (\d+)/.exec(s)![1]));
});
