/**
 * imgkit's ext4 against `mke2fs -t ext4 -d` (e2fsprogs 1.47.0) on the same tree, size, UUID, hash
 * seed and time (E2FSPROGS_FAKE_TIME):
 *
 * - empty trees: the two reference images of fixtures/ext4, byte for byte;
 * - the rich tree (every entry kind, owners, hard links, devices, a socket, in-inode xattrs, a
 *   sparse file): the same bytes everywhere but the fields that legitimately differ — the tree
 *   inodes' atime and ctime (mke2fs copies the host's, which no one can set; imgkit writes the
 *   mtime), their checksums, the root inode (mke2fs 1.47.0 keeps 0755 root:root dated now; imgkit
 *   takes the tree root's) and s_kbytes_written ("Lifetime writes": mke2fs counts its own I/O)
 *   with the superblock checksum over it;
 * - `dumpe2fs -h`, field by field, for sizes from 16 MiB to 3 GiB (two flex groups) and for
 *   mke2fs's switches (-b, -I, -i, -N, -m, -G, -J size=, -O ^…), "Lifetime writes" and the
 *   superblock checksum normalised.
 *
 * The tree has no directory larger than one block and no file of more than four extents, where the
 * layouts legitimately part: mke2fs -d grows a directory block by block while it copies files, so
 * its blocks end up scattered (beyond four extents with an extent block), where imgkit gives every
 * directory one run (and hashes it, as the kernel does); and mke2fs inserts a file's extent block
 * when the fifth extent arrives, between its data blocks, where imgkit puts it after them.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { applyManifest, memoryTree, parseManifest, type SourceTree } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { SUPERBLOCK_OFFSET, type PlanExt4Options } from '@imgkit/ext4';
import { MKE2FS, assertFsckClean, dumpe2fsHeader, writeImage, SPARSE_ISLANDS, SPARSE_SIZE } from './ext4-lib.ts';
import { makeRichTree, RICH_MTIME } from './lib/fixture.ts';
import { REPO_ROOT, requireTool, run, tempDir } from './lib/tools.ts';

const UUID = '5f6a1c1e-6a0f-4c3b-9d55-1f0d5e0b7a21';
const HASH_SEED = '0b3a2c4d-5e6f-4718-8293-a4b5c6d7e8f9';
const NOW = 1_700_000_000;

/** `mke2fs -t ext4 -T default` (Debian's [defaults]: 4 KiB blocks at every size) with the fixed inputs. */
async function mke2fs(image: string, sizeBytes: number, tree: string, args: readonly string[], label = 'cmp'): Promise<void> {
  await rm(image, { force: true });
  await run(requireTool('truncate', 'coreutils'), ['-s', String(sizeBytes), image]);
  await run(MKE2FS(), ['-q', '-t', 'ext4', '-T', 'default', ...args, '-L', label, '-U', UUID, '-E', `hash_seed=${HASH_SEED}`, '-d', tree, image], { env: { E2FSPROGS_FAKE_TIME: String(NOW) } });
}

const fixed = (o: PlanExt4Options): PlanExt4Options => ({ uuid: UUID, hashSeed: HASH_SEED, now: NOW, label: 'cmp', ...o });

describe('ext4 vs mke2fs: empty trees, byte for byte (fixtures/ext4)', () => {
  for (const [name, options] of [
    ['empty-4k', { size: 8 << 20, label: 'empty4k' }],
    ['empty-1k-nocsum', { size: 2 << 20, label: 'empty1k', blockSize: 1024, features: '^metadata_csum,^64bit' }],
  ] as const) {
    it(`${name}: the same bytes but s_kbytes_written (and the superblock checksum over it)`, async () => {
      const ref = gunzipSync(await readFile(join(REPO_ROOT, 'fixtures/ext4', `${name}.img.gz`)));
      const { image } = await writeImage(memoryTree([], { mode: 0o755, mtime: NOW }), fixed(options as PlanExt4Options));
      const ours = await readFile(image);
      assert.equal(ours.byteLength, ref.byteLength);
      const sbAt = name === 'empty-4k' ? SUPERBLOCK_OFFSET : 1024;
      const differs: number[] = [];
      for (let i = 0; i < ref.byteLength; i++) if (ref[i] !== ours[i]) differs.push(i);
      const allowed = (i: number) => (i >= sbAt + 0x178 && i < sbAt + 0x180) || (i >= sbAt + 0x3fc && i < sbAt + 0x400);
      assert.deepEqual(differs.filter((i) => !allowed(i)), [], 'bytes other than s_kbytes_written and s_checksum');
      assert.ok(differs.length > 0 && differs.length <= 12);
    });
  }
});

let treeDir: string;
let xattrLines: string;

/** The rich tree, with what mke2fs can only copy from a real directory: device nodes, a fifo, a socket, xattrs, a sparse file. */
async function makeCmpTree(dir: string): Promise<void> {
  await makeRichTree(dir);
  const mknod = requireTool('mknod', 'coreutils');
  await run(requireTool('mkdir', 'coreutils'), [join(dir, 'dev')]);
  await run(mknod, ['-m', '600', join(dir, 'dev/console'), 'c', '5', '1']);
  await run(mknod, ['-m', '660', join(dir, 'dev/sda1'), 'b', '8', '1']);
  await run(mknod, ['-m', '640', join(dir, 'dev/wide'), 'c', '300', '70000']);
  const py = requireTool('python3', 'python3');
  await run(py, ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', join(dir, 'dev/sock')]);
  // Small attributes (they stay in the inode with both writers), read back in listxattr's order.
  const r = await run(py, [
    '-c',
    [
      'import os,sys,json',
      'd=sys.argv[1]',
      "os.setxattr(os.path.join(d,'bin/tool'),'user.comment',b'hello')",
      "os.setxattr(os.path.join(d,'bin/tool'),'security.capability',bytes.fromhex('0100000220000000000000000000000000000000'))",
      "os.setxattr(os.path.join(d,'sizes'),'trusted.t',b'T')",
      "os.setxattr(os.path.join(d,'hard/a'),'user.linked',b'one inode')",
      "print(json.dumps({p:[[k,os.getxattr(os.path.join(d,p),k).hex()] for k in os.listxattr(os.path.join(d,p))] for p in ['bin/tool','sizes','hard/a']}))",
    ].join('\n'),
    dir,
  ]);
  const got = JSON.parse(r.stdout.toString()) as Record<string, [string, string][]>;
  xattrLines = Object.entries(got)
    .flatMap(([p, kv]) => kv.map(([k, v]) => `xattr /${p} ${k} 0x${v}`))
    .join('\n');
  const fd = openSync(join(dir, 'sparse'), 'w');
  try {
    ftruncateSync(fd, SPARSE_SIZE);
    // four islands: four extents, in the inode (see the top of this file for more)
    for (const [i, [off, len]] of SPARSE_ISLANDS.slice(0, 4).entries()) writeSync(fd, Buffer.alloc(len, 0x41 + i), 0, len, off);
  } finally {
    closeSync(fd);
  }
  await run(requireTool('chmod', 'coreutils'), ['755', dir]);
  await run(requireTool('touch', 'coreutils'), ['-h', '-d', `@${RICH_MTIME}`, join(dir, 'dev'), join(dir, 'dev/console'), join(dir, 'dev/sda1'), join(dir, 'dev/wide'), join(dir, 'dev/sock'), join(dir, 'sparse'), dir]);
}

function cmpSource(): SourceTree {
  return applyManifest(nodeSource(treeDir), parseManifest(`${xattrLines}\n`, 'xattrs'));
}

before(async () => {
  treeDir = join(await tempDir('ext4-cmp'), 'tree');
  await makeCmpTree(treeDir);
});

describe('ext4 vs mke2fs -d: the rich tree', () => {
  for (const c of [
    { label: '64 MiB, defaults', size: 64 << 20, args: [] as string[], options: {} as PlanExt4Options },
    { label: '24 MiB, 1 KiB blocks, ^metadata_csum,^64bit', size: 24 << 20, args: ['-b', '1024', '-O', '^metadata_csum,^64bit'], options: { blockSize: 1024, features: '^metadata_csum,^64bit' } as PlanExt4Options },
  ]) {
    it(`${c.label}: the same bytes but the documented fields`, async () => {
      const dir = await tempDir('ext4-cmp-img');
      const ref = join(dir, 'mke2fs.img');
      await mke2fs(ref, c.size, treeDir, c.args);
      const { image, plan } = await writeImage(cmpSource(), fixed({ size: c.size, ...c.options }), 'imgkit.img', dir);
      await assertFsckClean(ref, 'mke2fs image');
      await assertFsckClean(image);
      const a = await readFile(ref);
      const b = await readFile(image);
      assert.equal(a.byteLength, b.byteLength);
      const bs = plan.blockSize;
      const g = plan.geometry;
      const skip = new Set<number>();
      const mask = (from: number, n: number) => {
        for (let i = 0; i < n; i++) skip.add(from + i);
      };
      // superblocks (primary and backups): s_kbytes_written, s_checksum
      for (const gr of g.groups) {
        if (!gr.hasSuper) continue;
        const at = gr.start === g.firstDataBlock && bs > 1024 ? SUPERBLOCK_OFFSET : gr.start * bs;
        mask(at + 0x178, 8);
        mask(at + 0x3fc, 4);
      }
      // tree inodes: atime, ctime, checksum; the root: mode, owner, times, checksum
      const table = g.groups[0]!.inodeTable * bs;
      for (let ino = 2; ino <= plan.usedInodes + 10; ino++) {
        if (ino > 2 && ino < 12) continue;
        const at = table + (ino - 1) * 256;
        mask(at + 0x8, 8); // i_atime, i_ctime
        mask(at + 0x7c, 2);
        mask(at + 0x82, 2);
        if (ino === 2) {
          mask(at + 0x0, 4); // i_mode, i_uid
          mask(at + 0x10, 4); // i_mtime
          mask(at + 0x18, 2); // i_gid
          mask(at + 0x90, 4); // i_crtime
        }
      }
      const differs: number[] = [];
      for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i] && !skip.has(i)) differs.push(i);
      const where = differs.slice(0, 20).map((i) => `block ${Math.floor(i / bs)} +0x${(i % bs).toString(16)}: mke2fs ${a[i]} imgkit ${b[i]}`);
      assert.deepEqual(where, [], `${differs.length} bytes differ`);
      // the masked fields are few: the comparison covered the image
      assert.ok(skip.size < 64 * 40 + 100);
    });
  }
});

/** mke2fs's switches and imgkit's options for the same thing. */
const HEADER_CASES: { label: string; size: number; args: string[]; options: PlanExt4Options }[] = [
  { label: '16 MiB', size: 16 << 20, args: [], options: {} },
  { label: '200 MiB, -J size=16', size: 200 << 20, args: ['-J', 'size=16'], options: { journalBlocks: 4096 } },
  { label: '600 MiB, -b 2048 -i 8192 -m 1', size: 600 << 20, args: ['-b', '2048', '-i', '8192', '-m', '1'], options: { blockSize: 2048, inodeRatio: 8192, reservedPercent: 1 } },
  { label: '1 GiB + 400 KiB (a last group too small: dropped)', size: (1 << 30) + (400 << 10), args: [], options: {} },
  { label: '3 GiB: two flex groups, the journal in the middle', size: 3 * 2 ** 30, args: [], options: {} },
  { label: '-I 128 -N 5000', size: 64 << 20, args: ['-I', '128', '-N', '5000'], options: { inodeSize: 128, inodes: 5000 } },
  { label: '-G 4, uninit_bg instead of metadata_csum', size: 700 << 20, args: ['-G', '4', '-O', '^metadata_csum,uninit_bg'], options: { flexBgSize: 4, features: '^metadata_csum,uninit_bg' } },
  { label: 'no journal, resize inode, flex_bg, huge_file; no sparse_super', size: 300 << 20, args: ['-O', '^has_journal,^resize_inode,^flex_bg,^huge_file,^sparse_super'], options: { features: '^has_journal,^resize_inode,^flex_bg,^huge_file,^sparse_super' } },
  { label: 'metadata_csum_seed, 1 KiB blocks', size: 40 << 20, args: ['-b', '1024', '-O', 'metadata_csum_seed'], options: { blockSize: 1024, features: 'metadata_csum_seed' } },
];

describe('ext4 vs mke2fs -d: dumpe2fs -h field by field', () => {
  for (const c of HEADER_CASES) {
    it(`${c.label}: every field equal ("Lifetime writes" and the superblock checksum aside)`, async () => {
      const dir = await tempDir('ext4-hdr');
      const ref = join(dir, 'mke2fs.img');
      await mke2fs(ref, c.size, treeDir, c.args);
      const { image } = await writeImage(cmpSource(), fixed({ size: c.size, ...c.options }), 'imgkit.img', dir);
      await assertFsckClean(image);
      const want = await dumpe2fsHeader(ref);
      const got = await dumpe2fsHeader(image);
      for (const k of ['Lifetime writes', 'Checksum']) {
        want.delete(k);
        got.delete(k);
      }
      assert.ok(want.size > 40, `dumpe2fs -h printed ${want.size} fields`);
      assert.deepEqual(Object.fromEntries(got), Object.fromEntries(want));
    });
  }
});
