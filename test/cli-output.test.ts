/**
 * What the CLI does with each kind of output path (issue 14, "Outputs"): block devices, character
 * devices and FIFOs are written in place and read back with the reference tools from the device
 * itself; symlinks are followed; an output that is one of the inputs, a directory, a socket, a
 * missing directory or a read-only file is refused before any work; success is one line on stderr.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmod, link, lstat, mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { nodeSource } from '@imgkit/core/node';
import { parseCpioListing, assertListingMatches } from './lib/cpio-listing.ts';
import { DEFAULT_ROOTFS, noiseBytes } from './lib/fixture.ts';
import { withLoopDevice } from './lib/loop.ts';
import { IMGKIT_BIN, letOthersReachRepo, requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.ts';

const CPIO = requireTool('cpio', 'cpio');
const UNSQUASHFS = requireTool('unsquashfs', 'squashfs-tools');
const ISOINFO = requireTool('isoinfo', 'genisoimage');
const BSDTAR = requireTool('bsdtar', 'libarchive-tools');
const MOUNT = requireTool('mount', 'mount');
const UMOUNT = requireTool('umount', 'mount');

let work: string;
before(async () => {
  work = await tempDir('cli-output');
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function fresh(name: string): Promise<string> {
  const d = join(work, name);
  await mkdir(d, { recursive: true });
  return d;
}

/** The one line a successful run prints. */
function assertWrote(stderr: string, where: string): void {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^imgkit: wrote \d+(\.\d+)? (B|KiB|MiB|GiB)( \(\d+ bytes\))? to /);
  assert.ok(lines[0]!.endsWith(` to ${where}`), `${lines[0]} names ${where}`);
}

function assertRefused(r: { code: number; stderr: string }, code: string, mentions: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
  assert.match(r.stderr, mentions);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** Extract a newc archive (from its bytes) with GNU cpio and compare it with the fixture tree. */
async function assertCpioHoldsRootfs(bytes: Uint8Array, name: string): Promise<void> {
  const x = await fresh(name);
  await run(CPIO, ['-idm', '--no-absolute-filenames', '--quiet'], { input: bytes, cwd: x });
  assertSameTree(await snapshotDir(x), await snapshotTree(nodeSource(DEFAULT_ROOTFS)), { ignore: ['root', 'dirMtime', 'symlinkMtime'] });
}

describe('block device outputs (loop devices)', () => {
  test('cpio, squashfs and iso are written in place; cpio, unsquashfs and bsdtar read them from the device', async () => {
    await withLoopDevice(16 << 20, 0xa5, async (dev, backing) => {
      const expected = await snapshotTree(nodeSource(DEFAULT_ROOTFS));

      const c = await runImgkit(['cpio', DEFAULT_ROOTFS, dev, '--compress', 'none', '--workers', '0']);
      assert.equal(c.code, 0, c.stderr);
      assertWrote(c.stderr, dev);
      assert.ok((await stat(dev)).isBlockDevice(), 'still a block device');
      assert.equal((await stat(backing)).size, 16 << 20, 'nothing else grew');
      const onDevice = await readFile(dev);
      assert.ok(onDevice.subarray(8 << 20).every((b) => b === 0xa5), 'bytes past the image are untouched');
      // GNU cpio reads the archive from the device and stops at its trailer.
      const listing = parseCpioListing((await run(CPIO, ['-itvn', '--quiet'], { input: onDevice })).stdout.toString());
      assertListingMatches(listing, expected, 'cpio -itvn on the device');
      await assertCpioHoldsRootfs(onDevice, 'dev-cpio-x');

      const s = await runImgkit(['squashfs', DEFAULT_ROOTFS, dev, '-processors', '0']);
      assert.equal(s.code, 0, s.stderr);
      assertWrote(s.stderr, dev);
      const sx = join(await fresh('dev-sqfs'), 'x');
      await run(UNSQUASHFS, ['-n', '-d', sx, dev]);
      assertSameTree(await snapshotDir(sx), expected, { ignore: ['root'] });

      const i = await runImgkit(['iso', DEFAULT_ROOTFS, dev, '--volid', 'ONDEVICE']);
      assert.equal(i.code, 0, i.stderr);
      assertWrote(i.stderr, dev);
      assert.match((await run(ISOINFO, ['-d', '-i', dev])).stdout.toString(), /Volume id: ONDEVICE/);
      // Rock Ridge through libarchive, read from the device (this kernel has no iso9660 module to mount it).
      const ix = await fresh('dev-iso-x');
      await run(BSDTAR, ['-xpf', dev, '--numeric-owner', '-C', ix]);
      assertSameTree(await snapshotDir(ix), expected, { ignore: ['root', 'dirMtime'] });
      assert.ok((await stat(dev)).isBlockDevice());
    });
  });

  test('too small: the ISO and an uncompressed cpio (sizes known from their plans) are refused before their first byte (device unchanged); a compressed cpio stops at the end and says what the device holds now', async () => {
    const src = await fresh('big-src');
    await writeFile(join(src, 'blob'), noiseBytes(3 << 20, 1)); // incompressible: 3 MiB compressed too
    await withLoopDevice(2 << 20, 0xa5, async (dev) => {
      const i = await runImgkit(['iso', src, dev]);
      assertRefused(i, 'E_NO_SPACE', /device holds 2097152 bytes, the image is \d+/);
      assert.match(i.stderr, new RegExp(`nothing was written to ${dev}; it is unchanged`));
      assert.ok((await readFile(dev)).every((b) => b === 0xa5), 'not one byte written');

      const u = await runImgkit(['cpio', src, dev, '--compress', 'none', '--workers', '0']);
      assertRefused(u, 'E_NO_SPACE', /device holds 2097152 bytes, the image is 3146\d\d\d/);
      assert.match(u.stderr, new RegExp(`nothing was written to ${dev}; it is unchanged`));
      assert.ok((await readFile(dev)).every((b) => b === 0xa5), 'not one byte written');

      const c = await runImgkit(['cpio', src, dev, '--compress', 'gzip', '--workers', '0']);
      assertRefused(c, 'E_NO_SPACE', /device holds 2097152 bytes/);
      assert.match(c.stderr, new RegExp(`${dev} now holds an incomplete image .*do not boot or mount it`));
      assert.doesNotMatch(c.stderr, /removed|not created/);
      assert.ok((await stat(dev)).isBlockDevice());
      assert.deepEqual([...(await readFile(dev)).subarray(0, 2)], [0x1f, 0x8b], 'what was written stays (a gzip member)');
    });
  });

  test('a device in use (mounted) is refused before any work', async () => {
    await withLoopDevice(4 << 20, 0, async (dev) => {
      const mnt = await fresh('busy-mnt');
      await run(requireTool('mkfs.ext4', 'e2fsprogs'), ['-q', dev]);
      await run(MOUNT, [dev, mnt]);
      try {
        const r = await runImgkit(['cpio', DEFAULT_ROOTFS, dev]);
        assertRefused(r, 'E_OUTPUT_UNWRITABLE', /in use.*mounted.*unmount it first/);
      } finally {
        await run(UMOUNT, [mnt]);
      }
      assert.equal((await readFile(dev)).readUInt16LE(1080), 0xef53, 'the ext4 superblock is intact');
    });
  });
});

describe('character devices and FIFOs', () => {
  test('a null device (1,3) takes every format and stays the device; a full device (1,7) is E_NO_SPACE with nothing removed', async () => {
    // Private nodes of the same devices as /dev/null and /dev/full: a regression must not replace
    // the system's own.
    const d = await fresh('chardev');
    const nul = join(d, 'null');
    const full = join(d, 'full');
    await run(requireTool('mknod', 'coreutils'), ['-m', '666', nul, 'c', '1', '3']);
    await run(requireTool('mknod', 'coreutils'), ['-m', '666', full, 'c', '1', '7']);
    const before = await stat(nul);
    for (const args of [['cpio', DEFAULT_ROOTFS, nul], ['squashfs', DEFAULT_ROOTFS, nul, '-processors', '0'], ['iso', DEFAULT_ROOTFS, nul]]) {
      const r = await runImgkit(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assertWrote(r.stderr, nul);
      const after = await lstat(nul);
      assert.ok(after.isCharacterDevice(), `${args[0]}: the null device is still a character device`);
      assert.deepEqual([after.ino, after.rdev, after.mode], [before.ino, before.rdev, before.mode]);
    }
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, full]);
    assertRefused(r, 'E_NO_SPACE', /full: no space left/);
    assert.match(r.stderr, new RegExp(`nothing was written to ${full}`));
    assert.ok((await lstat(full)).isCharacterDevice());
    assert.deepEqual((await readdir(d)).sort(), ['full', 'null']);
  });

  test('a FIFO: cpio and iso stream into it for the reader; squashfs is refused at once (it seeks), without waiting for a reader', async () => {
    const d = await fresh('fifo');
    const fifo = join(d, 'pipe');
    await run(requireTool('mkfifo', 'coreutils'), [fifo]);
    const expected = await snapshotTree(nodeSource(DEFAULT_ROOTFS));

    // The reader opens the FIFO itself (like `cpio -itvn < pipe`).
    const reader = spawn('sh', ['-c', `exec ${CPIO} -itvn --quiet < "$1"`, 'sh', fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
    let listing = '';
    reader.stdout.on('data', (b: Buffer) => (listing += b.toString()));
    const readerClosed = once(reader, 'close');
    const c = await runImgkit(['cpio', DEFAULT_ROOTFS, fifo, '--compress', 'none']);
    const [readerCode] = await readerClosed;
    assert.equal(c.code, 0, c.stderr);
    assertWrote(c.stderr, fifo);
    assert.equal(readerCode, 0);
    assertListingMatches(parseCpioListing(listing), expected, 'cpio -itvn from the FIFO');
    assert.ok((await lstat(fifo)).isFIFO(), 'still a FIFO');

    const saved = join(d, 'from-fifo.iso');
    const cat = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', fifo, saved], { stdio: 'ignore' });
    const catClosed = once(cat, 'close');
    const i = await runImgkit(['iso', DEFAULT_ROOTFS, fifo, '--volid', 'THROUGHFIFO']);
    await catClosed;
    assert.equal(i.code, 0, i.stderr);
    assertWrote(i.stderr, fifo);
    assert.match((await run(ISOINFO, ['-d', '-i', saved])).stdout.toString(), /Volume id: THROUGHFIFO/);
    const rr = (await run(ISOINFO, ['-R', '-f', '-i', saved])).stdout.toString().split('\n').filter(Boolean).sort();
    assert.deepEqual(rr, [...expected.keys()].filter((p) => p !== '').map((p) => `/${p}`).sort());

    const s = await runImgkit(['squashfs', DEFAULT_ROOTFS, fifo]);
    assertRefused(s, 'E_SINK_UNSUPPORTED', /cannot be written to a FIFO.*cannot seek back/);
    assert.ok((await lstat(fifo)).isFIFO());
    assert.deepEqual((await readdir(d)).sort(), ['from-fifo.iso', 'pipe']);
  });
});

describe('symlinks and other paths', () => {
  test('a symlink is followed: its target gets the image, the link stays; a dangling link gets its target created', async () => {
    const d = await fresh('links');
    await mkdir(join(d, 'real'));
    await writeFile(join(d, 'real', 'initrd.img'), 'old content\n');
    await symlink('real/initrd.img', join(d, 'initrd.img'));
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, join(d, 'initrd.img'), '--compress', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assertWrote(r.stderr, `${join(d, 'initrd.img')} (${join(d, 'real', 'initrd.img')})`);
    assert.equal(await readlink(join(d, 'initrd.img')), 'real/initrd.img', 'the link is kept');
    await assertCpioHoldsRootfs(await readFile(join(d, 'real', 'initrd.img')), 'links-x1');

    await symlink('real/new.img', join(d, 'dangling'));
    const r2 = await runImgkit(['cpio', DEFAULT_ROOTFS, join(d, 'dangling'), '--compress', 'none']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok((await lstat(join(d, 'dangling'))).isSymbolicLink());
    await assertCpioHoldsRootfs(await readFile(join(d, 'real', 'new.img')), 'links-x2');
    assert.deepEqual((await readdir(join(d, 'real'))).sort(), ['initrd.img', 'new.img'], 'no temporary file left');

    await symlink('real', join(d, 'to-dir'));
    const r3 = await runImgkit(['cpio', DEFAULT_ROOTFS, join(d, 'to-dir')]);
    assertRefused(r3, 'E_OUTPUT_UNWRITABLE', /is a directory/);
  });

  test('the output is checked before any work: an existing directory, a missing directory, a socket', async () => {
    // A source whose build would fail in the walk (a 4 GiB file cpio cannot store): the output error
    // comes first, so the check ran before the walk.
    const src = await fresh('early-src');
    await run(requireTool('truncate', 'coreutils'), ['-s', String(2 ** 32), join(src, 'huge.img')]);
    const d = await fresh('early-out');
    const asDir = await runImgkit(['cpio', src, d]);
    assertRefused(asDir, 'E_OUTPUT_UNWRITABLE', /output is a directory.*give a file name/);
    const missing = await runImgkit(['cpio', src, join(d, 'no', 'such', 'x.cpio')]);
    assertRefused(missing, 'E_OUTPUT_UNWRITABLE', new RegExp(`${join(d, 'no', 'such')}: the output directory does not exist.*mkdir -p`));
    assert.doesNotMatch(missing.stderr, /ENOENT/);
    const sock = join(d, 'sock');
    const server = createServer().listen(sock);
    await once(server, 'listening');
    try {
      const s = await runImgkit(['squashfs', src, sock]);
      assertRefused(s, 'E_OUTPUT_UNWRITABLE', /is a socket/);
      assert.ok((await lstat(sock)).isSocket(), 'the socket is left alone');
      assert.deepEqual(await readdir(d), ['sock'], 'nothing else was created');
    } finally {
      server.close();
    }
  });

  test('a read-only output file is refused for a user, as cp refuses it, and left alone; root replaces it, as cp does', async () => {
    const base = await tempDir('cli-readonly');
    await chmod(base, 0o755);
    const dir = join(base, 'out');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const out = join(dir, 'ro.cpio');
    await writeFile(out, 'keep me\n');
    await chmod(out, 0o444);
    if (process.getuid?.() !== 0) throw new Error('this test needs root (to run imgkit as another user)');
    const setpriv = requireTool('setpriv', 'util-linux');
    letOthersReachRepo();
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const cp = await run(setpriv, [...asNobody, 'cp', '/etc/hostname', out], { allowFail: true });
    assert.notEqual(cp.code, 0, 'cp refuses too');
    const r = await run(setpriv, [...asNobody, process.execPath, IMGKIT_BIN, 'cpio', DEFAULT_ROOTFS, out, '--workers', '0'], { allowFail: true });
    assertRefused(r, 'E_OUTPUT_UNWRITABLE', /read-only \(mode 0444\).*chmod u\+w/);
    assert.equal(await readFile(out, 'utf8'), 'keep me\n');
    assert.deepEqual(await readdir(dir), ['ro.cpio']);

    const asRoot = await runImgkit(['cpio', DEFAULT_ROOTFS, out, '--compress', 'none']);
    assert.equal(asRoot.code, 0, asRoot.stderr);
    assert.equal((await stat(out)).mode & 0o777, 0o444, 'the replacement keeps the mode');
    await assertCpioHoldsRootfs(await readFile(out), 'readonly-x');
  });
});

describe('an output that is one of the inputs is refused, the input left alone', () => {
  test('squashfs --tar x.tar x.tar (also through a symlink and a hard link)', async () => {
    const d = await fresh('self-tar');
    const tar = join(d, 'x.tar');
    await run(requireTool('tar', 'tar'), ['-cf', tar, '-C', DEFAULT_ROOTFS, '.']);
    const before = sha(await readFile(tar));
    await symlink('x.tar', join(d, 'link.tar'));
    await link(tar, join(d, 'hard.tar'));
    for (const out of [tar, join(d, 'link.tar'), join(d, 'hard.tar')]) {
      const r = await runImgkit(['squashfs', '--tar', tar, out]);
      assertRefused(r, 'E_OUTPUT_IN_SOURCE', /the output is the tar archive .*x\.tar; it would be overwritten while it is read/);
    }
    assert.equal(sha(await readFile(tar)), before);
    assert.deepEqual((await readdir(d)).sort(), ['hard.tar', 'link.tar', 'x.tar']);
  });

  test('a manifest, a host file a manifest copies, an MBR template, an appended partition image', async () => {
    const d = await fresh('self-inputs');
    const host = join(d, 'payload.bin');
    await writeFile(host, 'payload\n');
    const manifest = join(d, 'list');
    await writeFile(manifest, 'dir /extra 0755 0 0\nfile /extra/payload payload.bin 0644 0 0\n');
    const mbr = join(d, 'mbr.bin');
    await writeFile(mbr, Buffer.alloc(512, 1));
    const esp = join(d, 'esp.img');
    await writeFile(esp, Buffer.alloc(1 << 20));
    const sums = async () => Promise.all([host, manifest, mbr, esp].map(async (p) => sha(await readFile(p))));
    const before = await sums();
    const cases: [string[], RegExp][] = [
      [['cpio', DEFAULT_ROOTFS, manifest, '--manifest', manifest], /the output is the manifest/],
      [['cpio', DEFAULT_ROOTFS, host, '--manifest', manifest], /payload\.bin, which .*list:2 copies into the image/],
      [['squashfs', DEFAULT_ROOTFS, host, '--manifest', manifest], /list:2 copies into the image/],
      [['iso', DEFAULT_ROOTFS, mbr, '--mbr-template', mbr, '--hybrid', 'isohybrid-mbr'], /the output is the MBR template/],
      [['iso', DEFAULT_ROOTFS, esp, '--append-partition', esp], /the output is the appended partition image/],
      [['mkisofs', '-o', esp, '-append_partition', '2', '0xef', esp, DEFAULT_ROOTFS], /the output is the -append_partition 2 /],
    ];
    for (const [args, re] of cases) {
      const r = await runImgkit(args);
      assertRefused(r, 'E_OUTPUT_IN_SOURCE', re);
    }
    assert.deepEqual(await sums(), before);
    assert.deepEqual((await readdir(d)).sort(), ['esp.img', 'list', 'mbr.bin', 'payload.bin']);
  });
});

test("'-': the image alone on stdout, one line on stderr that claims nothing about files", async () => {
  const r = await runImgkit(['cpio', DEFAULT_ROOTFS, '-', '--compress', 'none']);
  assert.equal(r.code, 0, r.stderr);
  assertWrote(r.stderr, 'standard output');
  assert.match(r.stderr, new RegExp(`wrote .*\\(${r.stdout.byteLength} bytes\\)|wrote ${r.stdout.byteLength} B`));
  await assertCpioHoldsRootfs(r.stdout, 'stdout-x');
});
