/**
 * Every example recipe in examples/ builds with `imgkit build` from Debian's packages on this
 * machine, and what each ships is checked with the reference tools (the booting is in
 * test/boot-build.test.ts): every .sha256 through sha256sum -c; the Raspberry Pi image's MBR
 * (sfdisk --json: FAT32 LBA 0x0c at 4 MiB, bootable, a Linux partition after it), its FAT
 * (fsck.fat, the boot files by mcopy) and ext4 root (e2fsck, debugfs); the OVA (tar listing, its
 * VMDK through qemu-img check and compare with the disk written as qcow2); the root TAR equal to
 * examples/common/rootfs; the unattended ISO's answer file (osirrox); the minimal initramfs.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir } from './lib/tree.ts';

const EXAMPLES = ['live-iso', 'ab-appliance', 'unattended-iso', 'live-persistent', 'edge-os', 'minimal'];

async function buildExample(name: string): Promise<string> {
  const out = await tempDir(`build-example-${name}`);
  const r = await runImgkit(['build', join(REPO_ROOT, 'examples', name, 'recipe.yaml'), '--out', out], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(r.code, 0, r.stderr);
  const files = await readdir(out);
  const sums = files.filter((f) => f.endsWith('.sha256'));
  assert.equal(sums.length * 2, files.length, `one .sha256 per artifact: ${files.join(' ')}`);
  const c = await run(requireTool('sha256sum', 'coreutils'), ['-c', ...sums], { cwd: out });
  assert.equal(c.stdout.toString().trim().split('\n').filter((l) => l.endsWith(': OK')).length, sums.length);
  return out;
}

for (const name of EXAMPLES.filter((n) => n !== 'edge-os' && n !== 'unattended-iso' && n !== 'minimal')) {
  test(`examples/${name} builds; every artifact has a .sha256 that sha256sum -c accepts`, async () => {
    await buildExample(name);
  });
}

test('examples/edge-os: the Raspberry Pi SD image (MBR 0x0c at 4 MiB, FAT32 boot files, Linux root), the OVA, the qcow2, the root TAR', async () => {
  const out = await buildExample('edge-os');
  const rpi = join(out, 'edgeos-rpi-0.9.0-amd64.img');
  const t = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', rpi])).stdout.toString()).partitiontable;
  assert.equal(t.label, 'dos');
  assert.equal(t.partitions.length, 2);
  const [boot, root] = t.partitions;
  assert.deepEqual([boot.start * 512, boot.type, boot.bootable], [4 << 20, 'c', true], 'FAT32 LBA (0x0c) at 4 MiB, bootable');
  assert.equal(root.type, '83');
  assert.ok(root.start >= boot.start + boot.size, 'the Linux root after the boot partition');
  const part = async (p: { start: number; size: number }, n: string) => {
    const file = join(await tempDir('build-rpi'), n);
    await run('dd', [`if=${rpi}`, `of=${file}`, 'bs=512', `skip=${p.start}`, `count=${p.size}`, 'status=none']);
    return file;
  };
  const fat = await part(boot, 'boot.img');
  const fsck = (await run(requireTool('fsck.fat', 'dosfstools'), ['-n', '-v', fat])).stdout.toString();
  assert.match(fsck, /2 FATs, 32 bit entries/, "FAT32");
  const mt = { env: { MTOOLS_SKIP_CHECK: '1' } };
  for (const f of ['config.txt', 'cmdline.txt']) {
    assert.equal((await run(requireTool('mtype', 'mtools'), ['-i', fat, `::/${f}`], mt)).stdout.toString(), await readFile(join(REPO_ROOT, 'examples/edge-os/pi-boot', f), 'utf8'));
  }
  const ext = await part(root, 'root.img');
  await run(requireTool('e2fsck', 'e2fsprogs'), ['-fn', ext]);
  assert.equal((await run(requireTool('debugfs', 'e2fsprogs'), ['-R', 'cat /etc/imgkit-release', ext])).stdout.toString(), 'example 1.0\n');

  // The OVA: an OVF descriptor, the disk as a stream-optimized VMDK, a manifest; the VMDK holds the qcow2's disk.
  const listing = (await run(requireTool('tar', 'tar'), ['-tf', join(out, 'edgeos-0.9.0-amd64.ova')])).stdout.toString().trim().split('\n');
  assert.equal(listing.length, 3, listing.join(' '));
  assert.match(listing[0]!, /\.ovf$/);
  assert.ok(listing.some((l) => l.endsWith('.vmdk')) && listing.some((l) => l.endsWith('.mf')), listing.join(' '));
  const x = await tempDir('build-ova');
  await run('tar', ['-C', x, '-xf', join(out, 'edgeos-0.9.0-amd64.ova')]);
  const vmdk = join(x, listing.find((l) => l.endsWith('.vmdk'))!);
  const qemuImg = requireTool('qemu-img', 'qemu-utils');
  await run(qemuImg, ['check', vmdk]);
  await run(qemuImg, ['check', join(out, 'edgeos-0.9.0-amd64.qcow2')]);
  assert.match((await run(qemuImg, ['compare', '-f', 'vmdk', '-F', 'qcow2', vmdk, join(out, 'edgeos-0.9.0-amd64.qcow2')])).stdout.toString(), /Images are identical/);

  // The root TAR equals the root tree (owners forced to root by neither: the tree's own, here root's).
  const untar = await tempDir('build-edge-tar');
  await run('tar', ['-C', untar, '--numeric-owner', '-xpf', join(out, 'edgeos-0.9.0-amd64.tar')]);
  assertSameTree(await snapshotDir(untar), await snapshotDir(join(REPO_ROOT, 'examples/common/rootfs')), { ignore: ['root', 'mtime'] });
  const times = (await run('tar', ['--full-time', '-tvf', join(out, 'edgeos-0.9.0-amd64.tar')])).stdout.toString();
  assert.doesNotMatch(times, /20(2[4-9]|[3-9]\d)-/, 'times clamped to the epoch (2023-11-14)');
});

test('examples/unattended-iso: the answer file is in the ISO root', async () => {
  const out = await buildExample('unattended-iso');
  const x = await tempDir('build-unattended');
  await run(requireTool('osirrox', 'xorriso'), ['-indev', join(out, 'installer-1.0.0-amd64.iso'), '-extract', '/answers.txt', join(x, 'answers.txt')]);
  assert.equal(await readFile(join(x, 'answers.txt'), 'utf8'), await readFile(join(REPO_ROOT, 'examples/unattended-iso/answers/answers.txt'), 'utf8'));
});

test('examples/minimal: the initramfs carries busybox, /init and the release file from the manifest; no squashfs anywhere', async () => {
  const out = await buildExample('minimal');
  const files = (await readdir(out)).sort();
  assert.deepEqual(files, ['minimal-1.0.0-amd64.cpio.zst', 'minimal-1.0.0-amd64.cpio.zst.sha256', 'minimal-1.0.0-amd64.iso', 'minimal-1.0.0-amd64.iso.sha256', 'minimal-1.0.0-amd64.qcow2', 'minimal-1.0.0-amd64.qcow2.sha256']);
  const cpio = await run(requireTool('zstd', 'zstd'), ['-dc', join(out, 'minimal-1.0.0-amd64.cpio.zst')]);
  const x = await tempDir('build-minimal');
  await run(requireTool('cpio', 'cpio'), ['-idm', '--quiet'], { cwd: x, input: cpio.stdout });
  assert.equal(await readFile(join(x, 'etc/imgkit-release'), 'utf8'), 'minimal 1.0\n');
  assert.equal((await readFile(join(x, 'bin/busybox'))).equals(await readFile('/usr/bin/busybox')), true);
  const iso = (await run(requireTool('xorriso', 'xorriso'), ['-indev', join(out, 'minimal-1.0.0-amd64.iso'), '-find', '/', '-type', 'f'])).stdout.toString();
  assert.doesNotMatch(iso, /squashfs/);
  assert.match(iso, /'\/boot\/initrd\.img'/);
});
