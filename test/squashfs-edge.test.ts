/**
 * squashfs edge cases, each checked with squashfs-tools: empty files and directories, block and
 * fragment boundaries, a sparse 5 GiB file, a directory of 70 000 entries (extended inode with a
 * directory index, verified by a lookup that follows the index the way the kernel's does), name
 * length limits, hard links across directories, special files, xattrs, a file changing while read,
 * bad options, determinism across worker counts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, statSync } from 'node:fs';
import { lstat, readFile, readlink, truncate, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { ImgkitError, MemorySink, makeDev, memoryTree, type MemoryEntryInit, type SourceTree, type ByteSink } from '@imgkit/core';
import { createNodePool, fileSink, nodeSource } from '@imgkit/core/node';
import { Superblock, writeSquashfs, type SquashfsOptions } from '@imgkit/squashfs';
import { requireTool, run, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.js';
import { makeRichTree, pseudoRandomBytes } from './lib/fixture.js';

const UNSQUASHFS = () => requireTool('unsquashfs', 'squashfs-tools');

async function build(tree: SourceTree, opts: SquashfsOptions = {}): Promise<{ image: string; dir: string; bytes: Uint8Array }> {
  const dir = await tempDir('sqfs-edge');
  const image = join(dir, 'img.sqfs');
  const sink = await fileSink(image);
  await writeSquashfs(tree, sink, { epoch: 1_600_000_000, ...opts });
  await sink.close();
  return { image, dir, bytes: await readFile(image) };
}
async function extractAndCompare(tree: SourceTree, opts: SquashfsOptions = {}): Promise<{ image: string; dir: string; out: string }> {
  const { image, dir } = await build(tree, opts);
  const out = join(dir, 'out');
  await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
  assertSameTree(await snapshotDir(out), await snapshotTree(tree));
  return { image, dir, out };
}
async function rejects(p: Promise<unknown>, code: string, check: (e: ImgkitError) => void = () => {}): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImgkitError, `expected an ImgkitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check(e);
    return true;
  });
}

// --- a minimal reader for gzip images: enough to follow a directory index like the kernel ---
function readTable(img: Uint8Array, start: number, end: number): { data: Uint8Array; blockAt: Map<number, number> } {
  const parts: Uint8Array[] = [];
  const blockAt = new Map<number, number>(); // compressed offset (relative) → uncompressed offset
  let at = start;
  let u = 0;
  while (at < end) {
    const h = img[at]! | (img[at + 1]! << 8);
    const len = h & 0x7fff;
    const body = img.subarray(at + 2, at + 2 + len);
    const data = h & 0x8000 ? body : new Uint8Array(inflateSync(body));
    blockAt.set(at - start, u);
    parts.push(data);
    u += data.byteLength;
    at += 2 + len;
  }
  return { data: Buffer.concat(parts), blockAt };
}


/** (type, inode number) of every inode, in inode-table order (gzip images). */
function inodeSequence(img: Uint8Array): [number, number][] {
  const sb = Superblock.decode(img);
  const { data } = readTable(img, Number(sb.inodeTableStart), Number(sb.directoryTableStart));
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const bs = sb.blockSize;
  const out: [number, number][] = [];
  for (let p = 0; p < data.byteLength; ) {
    const type = v.getUint16(p, true);
    out.push([type, v.getUint32(p + 12, true)]);
    let q = p + 16;
    const blocks = (size: number, frag: number) => (frag !== 0xffffffff ? Math.floor(size / bs) : Math.ceil(size / bs));
    switch (type) {
      case 1: q += 16; break;
      case 8: {
        const count = v.getUint16(q + 16, true);
        q += 24;
        for (let i = 0; i < count; i++) q += 12 + v.getUint32(q + 8, true) + 1;
        break;
      }
      case 2: q += 16 + 4 * blocks(v.getUint32(q + 12, true), v.getUint32(q + 4, true)); break;
      case 9: q += 40 + 4 * blocks(Number(v.getBigUint64(q + 8, true)), v.getUint32(q + 28, true)); break;
      case 3: case 10: q += 8 + v.getUint32(q + 4, true) + (type === 10 ? 4 : 0); break;
      case 4: case 5: q += 8; break;
      case 11: case 12: q += 12; break;
      case 6: case 7: q += 4; break;
      case 13: case 14: q += 8; break;
      default: throw new Error(`unknown inode type ${type}`);
    }
    p = q;
  }
  return out;
}

describe('squashfs edge cases', () => {
  it('empty file, empty dir, one-block file, largest-fragment file, fragment filled exactly, tails in fragments', async () => {
    const bs = 4096;
    const inits: MemoryEntryInit[] = [
      { path: 'empty-file', kind: 'file', content: '' },
      { path: 'empty-dir', kind: 'dir' },
      { path: 'one-block', kind: 'file', content: pseudoRandomBytes(bs, 1) },
      { path: 'fragment-max', kind: 'file', content: pseudoRandomBytes(bs - 1, 2) },
      { path: 'half1', kind: 'file', content: pseudoRandomBytes(bs / 2, 3) },
      { path: 'half2', kind: 'file', content: pseudoRandomBytes(bs / 2, 4) },
      { path: 'one-byte', kind: 'file', content: 'x' },
      { path: 'blocks-and-tail', kind: 'file', content: pseudoRandomBytes(3 * bs + 17, 5) },
      { path: 'zeros-and-tail', kind: 'file', content: new Uint8Array(2 * bs + 5) },
      { path: 'incompressible', kind: 'file', content: crypto.getRandomValues(new Uint8Array(bs)) },
    ];
    for (const opts of [{}, { alwaysUseFragments: true }, { fragments: false }] as SquashfsOptions[]) {
      const { image } = await extractAndCompare(memoryTree(inits), { blockSize: bs, ...opts });
      const lln = (await run(UNSQUASHFS(), ['-lln', image])).stdout.toString();
      assert.match(lln, /^d\S+ 0\/0 +3 .* squashfs-root\/empty-dir$/m, 'an empty directory has size 3');
    }
  });


  it('numbers and orders inodes as mksquashfs does (same types and numbers in inode-table order)', async () => {
    const dir = await tempDir('sqfs-vs-mksquashfs');
    const src = join(dir, 'src');
    await makeRichTree(src);
    const theirs = join(dir, 'theirs.sqfs');
    await run(requireTool('mksquashfs', 'squashfs-tools'), [src, theirs, '-noappend', '-quiet', '-no-progress', '-no-xattrs']);
    const { bytes } = await build(nodeSource(src));
    assert.deepEqual(inodeSequence(bytes), inodeSequence(await readFile(theirs)));
  });

  it('an empty tree is a valid image holding only the root', async () => {
    const { image } = await build(memoryTree([]));
    const lln = (await run(UNSQUASHFS(), ['-lln', image])).stdout.toString().trim().split('\n');
    assert.equal(lln.length, 1);
    assert.match(lln[0]!, /^drwxr-xr-x 0\/0 +3 1970-01-01 00:00 squashfs-root$/);
  });

  it('a sparse 5 GiB file is stored as holes and read back by unsquashfs', async () => {
    const dir = await tempDir('sqfs-sparse');
    const src = join(dir, 'src');
    await mkdir(src);
    const big = join(src, 'sparse');
    await writeFile(big, 'head');
    await truncate(big, 5 * 1024 ** 3);
    appendFileSync(big, 'tail');
    const { image, dir: work } = await build(nodeSource(src));
    assert.ok(statSync(image).size < 1024 * 1024, `image is ${statSync(image).size} bytes`);
    const out = join(work, 'out');
    await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
    assert.equal(statSync(join(out, 'sparse')).size, 5 * 1024 ** 3 + 4);
    await run(requireTool('cmp', 'diffutils'), [big, join(out, 'sparse')]);
  });

  it('a directory of 70 000 entries gets an indexed extended inode that lookups can follow', async () => {
    const n = 70_000;
    const inits: MemoryEntryInit[] = [{ path: 'a-first', kind: 'file', content: 'first' }];
    for (let i = 0; i < n; i++) {
      const name = `big/f${String(i).padStart(6, '0')}`;
      inits.push(i % 5000 === 0 ? { path: name, kind: 'file', content: `file ${i}\n` } : { path: name, kind: 'fifo' });
    }
    inits.push({ path: 'z-last/x', kind: 'file', content: 'x' });
    const { image, dir, bytes } = await build(memoryTree(inits), { compression: 'gzip' });
    const lln = (await run(UNSQUASHFS(), ['-lln', image])).stdout.toString().trim().split('\n');
    assert.equal(lln.filter((l) => l.includes(' squashfs-root')).length, n + 5);

    // Extract single files by path.
    const out = join(dir, 'out');
    await run(UNSQUASHFS(), ['-no-progress', '-d', out, image, 'big/f065000', 'big/f000000', 'z-last/x']);
    assert.equal(await readFile(join(out, 'big/f065000'), 'utf8'), 'file 65000\n');
    assert.equal(await readFile(join(out, 'big/f000000'), 'utf8'), 'file 0\n');

    // Decode: find "big" in the root listing, check its inode is an ldir with an index, and follow
    // every index entry the way fs/squashfs/namei.c does: the header at (index.startBlock,
    // (index.index + dir offset) % 8192) must be a header whose first entry is index.name.
    const sb = Superblock.decode(bytes);
    const inodes = readTable(bytes, Number(sb.inodeTableStart), Number(sb.directoryTableStart));
    const dirs = readTable(bytes, Number(sb.directoryTableStart), Number(sb.fragmentTableStart));
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const inodeAt = (ref: bigint) => inodes.blockAt.get(Number(ref >> 16n))! + Number(ref & 0xffffn);
    const rootAt = inodeAt(sb.rootInodeRef);
    const iv = dv(inodes.data);
    assert.equal(iv.getUint16(rootAt, true), 1, 'root is a basic directory');
    const rootStart = dirs.blockAt.get(iv.getUint32(rootAt + 16, true))! + iv.getUint16(rootAt + 26, true);
    const rootSize = iv.getUint16(rootAt + 24, true) - 3;
    const dd = dv(dirs.data);
    let bigRef: bigint | undefined;
    for (let p = rootStart; p < rootStart + rootSize; ) {
      const count = dd.getUint32(p, true) + 1;
      const block = dd.getUint32(p + 4, true);
      p += 12;
      for (let k = 0; k < count; k++) {
        const off = dd.getUint16(p, true);
        const len = dd.getUint16(p + 6, true) + 1;
        const name = Buffer.from(dirs.data.subarray(p + 8, p + 8 + len)).toString();
        if (name === 'big') bigRef = (BigInt(block) << 16n) | BigInt(off);
        p += 8 + len;
      }
    }
    assert.ok(bigRef !== undefined);
    const at = inodeAt(bigRef);
    assert.equal(iv.getUint16(at, true), 8, 'big is an extended directory');
    const fileSize = iv.getUint32(at + 20, true);
    const startBlock = iv.getUint32(at + 24, true);
    const indexCount = iv.getUint16(at + 32, true);
    const offset = iv.getUint16(at + 34, true);
    assert.equal(iv.getUint32(at + 28, true) > 0, true);
    assert.ok(indexCount >= Math.floor((fileSize - 3) / 8192) - 1, `${indexCount} indexes for ${fileSize} bytes`);
    let q = at + 40;
    let previous = '';
    for (let i = 0; i < indexCount; i++) {
      const index = iv.getUint32(q, true);
      const blk = iv.getUint32(q + 4, true);
      const size = iv.getUint32(q + 8, true) + 1;
      const name = Buffer.from(inodes.data.subarray(q + 12, q + 12 + size)).toString();
      q += 12 + size;
      assert.ok(name > previous, 'index names ascend');
      previous = name;
      assert.ok(dirs.blockAt.has(blk), 'index start block is a metadata block');
      const headerAt = dirs.blockAt.get(blk)! + ((index + offset) % 8192);
      assert.equal(headerAt, dirs.blockAt.get(startBlock)! + offset + index, 'index points at its byte in the listing');
      const first = Buffer.from(dirs.data.subarray(headerAt + 12 + 8, headerAt + 12 + 8 + dd.getUint16(headerAt + 12 + 6, true) + 1)).toString();
      assert.equal(first, name, 'the indexed header starts with the index name');
    }
  });

  it('a 256-byte name is refused naming the path (Linux NAME_MAX: unsquashfs could not extract it); 255 bytes is fine', async () => {
    for (const long of ['n'.repeat(256), 'é'.repeat(128)]) {
      await rejects(writeSquashfs(memoryTree([{ path: `d/${long}`, kind: 'file', content: 'x' }]), new MemorySink()), 'E_NAME_TOO_LONG', (e) =>
        assert.equal(e.path, `d/${long}`),
      );
    }
    const max = `${'é'.repeat(127)}e`; // 255 bytes
    const { image } = await build(memoryTree([{ path: `d/${max}`, kind: 'file', content: 'x' }]));
    const lln = (await run(UNSQUASHFS(), ['-lln', image])).stdout.toString();
    assert.ok(lln.includes(`squashfs-root/d/${max}\n`), lln);
    await extractAndCompare(memoryTree([{ path: `d/${'n'.repeat(255)}`, kind: 'file', content: 'x' }]));
  });

  it('hard links across directories share one inode; dangling symlinks, fifo, socket, char and block devices', async () => {
    const tree = memoryTree([
      { path: 'a/file', kind: 'file', content: 'linked\n', uid: 12, gid: 34, mtime: 1_500_000_000 },
      { path: 'b/deeper/same', kind: 'file', hardLinkTo: 'a/file', content: 'linked\n', uid: 12, gid: 34, mtime: 1_500_000_000 },
      { path: 'c/again', kind: 'file', hardLinkTo: 'a/file', content: 'linked\n', uid: 12, gid: 34, mtime: 1_500_000_000 },
      { path: 'links/dangling', kind: 'symlink', linkTarget: 'does/not/exist' },
      { path: 'links/abs', kind: 'symlink', linkTarget: '/etc/passwd' },
      { path: 'dev/fifo', kind: 'fifo', mode: 0o600 },
      { path: 'dev/sock', kind: 'socket', mode: 0o755 },
      { path: 'dev/null', kind: 'char', rdev: makeDev(1, 3), mode: 0o666 },
      { path: 'dev/sda1', kind: 'block', rdev: makeDev(8, 1), gid: 6, mode: 0o660 },
      { path: 'dev/wide', kind: 'char', rdev: makeDev(300, 70000) },
    ]);
    const { out } = await extractAndCompare(tree);
    const ino = async (p: string) => (await lstat(join(out, p))).ino;
    assert.equal(await ino('a/file'), await ino('b/deeper/same'));
    assert.equal(await ino('a/file'), await ino('c/again'));
    assert.equal((await lstat(join(out, 'a/file'))).nlink, 3);
    assert.equal(await readlink(join(out, 'links/dangling')), 'does/not/exist');
    assert.ok((await lstat(join(out, 'dev/sock'))).isSocket());
    assert.ok((await lstat(join(out, 'dev/fifo'))).isFIFO());
    assert.ok((await lstat(join(out, 'dev/sda1'))).isBlockDevice());
  });

  it('xattrs on files, directories and symlinks are stored (extended inodes) and extracted', async () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    const tree = memoryTree([
      { path: 'f', kind: 'file', content: 'x', xattrs: [{ name: 'user.comment', value: enc('hello') }, { name: 'trusted.t', value: enc('T') }] },
      { path: 'g', kind: 'file', content: 'y', xattrs: [{ name: 'user.comment', value: enc('hello') }, { name: 'trusted.t', value: enc('T') }] },
      { path: 'd', kind: 'dir', xattrs: [{ name: 'user.dir', value: enc('D') }] },
      { path: 'cap', kind: 'file', content: 'bin', xattrs: [{ name: 'security.capability', value: new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }] },
    ]);
    const { out } = await extractAndCompare(tree);
    const py = requireTool('python3', 'python3');
    const res = await run(py, [
      '-c',
      'import os,sys,json\nd=sys.argv[1]\nprint(json.dumps({p:{k:os.getxattr(os.path.join(d,p),k).hex() for k in os.listxattr(os.path.join(d,p))} for p in ["f","g","d","cap"]}))',
      out,
    ]);
    const got = JSON.parse(res.stdout.toString()) as Record<string, Record<string, string>>;
    assert.equal(got.f!['user.comment'], Buffer.from('hello').toString('hex'));
    assert.equal(got.f!['trusted.t'], Buffer.from('T').toString('hex'));
    assert.equal(got.g!['user.comment'], Buffer.from('hello').toString('hex'));
    assert.equal(got.d!['user.dir'], Buffer.from('D').toString('hex'));
    assert.equal(got.cap!['security.capability'], '0100000220000000000000000000000000000000');
    const stat = (await run(UNSQUASHFS(), ['-stat', join(out, '..', 'img.sqfs')])).stdout.toString();
    assert.match(stat, /Number of xattr ids 3/); // f and g share one set
  });

  it('a file that changes size while read is an error naming it', async () => {
    const shrinking = memoryTree([
      { path: 'ok', kind: 'file', content: 'fine' },
      {
        path: 'sub/shrinks',
        kind: 'file',
        size: 10_000,
        content: async function* () {
          yield new Uint8Array(5_000);
        },
      },
    ]);
    await rejects(writeSquashfs(shrinking, new MemorySink()), 'E_SOURCE_CHANGED', (e) => assert.equal(e.path, 'sub/shrinks'));

    // A real file on disk that grows after the plan saw it.
    const dir = await tempDir('sqfs-grow');
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src/grows'), pseudoRandomBytes(200_000, 9));
    const base = nodeSource(join(dir, 'src'));
    const growing: SourceTree = {
      async *walk() {
        for await (const e of base.walk()) {
          if (e.path !== 'grows') yield e;
          else yield { ...e, read: () => (appendFileSync(join(dir, 'src/grows'), 'more'), e.read()) };
        }
      },
    };
    const sink = await fileSink(join(dir, 'img.sqfs'));
    await rejects(
      writeSquashfs(growing, sink).catch(async (err) => {
        await sink.abort?.(err);
        throw err;
      }),
      'E_SOURCE_CHANGED',
      (e) => assert.equal(e.path, 'grows'),
    );
  });

  it('bad options are refused naming the field; a non-seekable sink is refused', async () => {
    const t = memoryTree([]);
    await rejects(writeSquashfs(t, new MemorySink(), { blockSize: 3000 }), 'E_BAD_OPTION', (e) => assert.equal(e.field, 'squashfs.blockSize'));
    await rejects(writeSquashfs(t, new MemorySink(), { blockSize: 2 * 1024 * 1024 }), 'E_BAD_OPTION', (e) => assert.equal(e.field, 'squashfs.blockSize'));
    await rejects(writeSquashfs(t, new MemorySink(), { compression: 'gzip', level: 10 }), 'E_BAD_OPTION', (e) => assert.equal(e.field, 'squashfs.level'));
    await rejects(writeSquashfs(t, new MemorySink(), { compression: 'lzo' as never }), 'E_BAD_OPTION', (e) => assert.equal(e.field, 'squashfs.compression'));
    await rejects(writeSquashfs(t, new MemorySink(), { epoch: -1 }), 'E_BAD_OPTION');
    await rejects(writeSquashfs(memoryTree([{ path: 'a/old', kind: 'file', mtime: -5 }]), new MemorySink()), 'E_FIELD_RANGE', (e) => assert.equal(e.path, 'a/old'));
    const stream: ByteSink = { position: 0, seekable: false, write: async () => {}, writeAt: async () => {}, close: async () => {} };
    await rejects(writeSquashfs(t, stream), 'E_SINK_UNSUPPORTED');
  });

  it('is deterministic: two builds are equal, and 0 and 2 workers give the same bytes', async () => {
    const inits: MemoryEntryInit[] = [];
    for (let i = 0; i < 40; i++) inits.push({ path: `d${i % 4}/f${i}`, kind: 'file', content: pseudoRandomBytes(1000 + i * 9000, i), mtime: i });
    inits.push({ path: 'dup', kind: 'file', content: pseudoRandomBytes(1000 + 3 * 9000, 3) });
    for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as const) {
      const images: Uint8Array[] = [];
      for (const workers of [0, 0, 2]) {
        const pool = createNodePool({ workers });
        const sink = new MemorySink();
        try {
          await writeSquashfs(memoryTree(inits), sink, { compression, blockSize: 16384, pool, epoch: 42 });
        } finally {
          await pool.close();
        }
        images.push(sink.bytes().slice());
      }
      assert.deepEqual(images[1], images[0], `${compression}: two inline builds differ`);
      assert.deepEqual(images[2], images[0], `${compression}: 2 workers differ from inline`);
    }
  });
});
