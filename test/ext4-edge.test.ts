/**
 * ext4 edge cases: a directory of 100,000 names (a two-level hashed tree), a 5 GiB sparse file
 * (holes take no blocks; more than four extents need an index block), the automatic size being
 * the smallest, writing to a sink that cannot seek or at an offset, and bad input: a tree that does
 * not fit, names over 255 bytes, feature combinations that cannot be, too many links, a tree that
 * changes while it is written — each a typed error, with nothing left that looks like an image.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { appendFile, open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemorySink, WebStreamSink, memoryTree, subSink, withSink, type ByteSink, type SourceEntry, type SourceTree } from '@imgkit/core';
import { fileSink, nodeSource } from '@imgkit/core/node';
import { planExt4, writeExt4 } from '@imgkit/ext4';
import { EPOCH, assertFsckClean, debugfs, withMount, writeImage } from './ext4-lib.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';

const MIB = 1 << 20;
const codeOf = (code: string, path?: string) => (e: { code?: string; path?: string }) => e.code === code && (path === undefined || e.path === path);

/** A tree of one directory holding `count` names: two files hard-linked `count / 2` times each. */
function bigDirectory(count: number): { tree: SourceTree; names: string[] } {
  const names = Array.from({ length: count }, (_, i) => `${String(i).padStart(6, '0')}-${'x'.repeat(34)}`);
  const half = count / 2;
  const entry = (path: string, kind: 'dir' | 'file', extra: Partial<SourceEntry> = {}): SourceEntry => ({
    path,
    kind,
    mode: kind === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: EPOCH - 10,
    size: 0,
    read: async function* () {},
    ...extra,
  });
  return {
    names,
    tree: {
      async *walk() {
        yield entry('', 'dir');
        yield entry('big', 'dir');
        for (const [i, n] of names.entries()) {
          const first = i === 0 ? undefined : i === half ? undefined : i < half ? names[0] : names[half];
          yield entry(`big/${n}`, 'file', first ? { hardLinkTo: `big/${first}` } : {});
        }
      },
    },
  };
}

describe('ext4 edge cases', () => {
  it('a directory of 100,000 names: a two-level hashed tree e2fsck accepts, the kernel lists and looks up', async () => {
    const { tree, names } = bigDirectory(100_000);
    const { image } = await writeImage(tree, { epoch: EPOCH });
    await assertFsckClean(image);
    const h = await debugfs(image, 'htree /big');
    assert.match(h, /Indirect levels: 1/);
    await withMount(image, { readOnly: true }, async (dir) => {
      const listed = await readdir(join(dir, 'big'));
      assert.equal(listed.length, 100_000);
      assert.deepEqual(listed.sort(), names);
      for (const i of [0, 1, 49_999, 50_000, 77_777, 99_999]) {
        const st = await stat(join(dir, 'big', names[i]!));
        assert.equal(st.nlink, 50_000, names[i]);
      }
    });
  });

  it('a 5 GiB sparse file with six data islands: holes take no blocks, an extent index block, the mounted file reads as the source', async () => {
    // A source entry that knows its data ranges, as nodeSource reports them for a sparse file, and
    // reads with skips (a real 5 GiB file would cost 5 GiB of zero-filled reads to scan on Node,
    // which has no SEEK_DATA; nodeSource's scan itself is tested in packages/core).
    const size = 5 * 2 ** 30;
    const islands = [0, 2 ** 30, 2 * 2 ** 30 + 12345, 3 * 2 ** 30, 4 * 2 ** 30, size - 4096];
    const byteAt = (pos: number) => {
      const i = islands.findIndex((off) => pos >= off && pos < off + 4096);
      return i < 0 ? 0 : 0x61 + i;
    };
    const reader = () => {
      let pos = 0;
      return {
        read(dst: Uint8Array, at: number, len: number) {
          const n = Math.max(0, Math.min(len, size - pos));
          for (let k = 0; k < n; k++) dst[at + k] = byteAt(pos + k);
          pos += n;
          return n;
        },
        skip(bytes: number) {
          pos += bytes;
        },
        close() {},
      };
    };
    const read = Object.assign(
      async function* () {
        throw new Error('read through openSync only');
      },
      { openSync: reader },
    );
    const disk: SourceEntry = { path: 'disk.raw', kind: 'file', mode: 0o600, uid: 0, gid: 0, mtime: EPOCH - 5, size, read, syncRead: true, dataRanges: async () => islands.map((offset) => ({ offset, length: 4096 })) };
    const tree: SourceTree = {
      async *walk() {
        yield { path: '', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: EPOCH - 5, size: 0, read: async function* () {} };
        yield disk;
      },
    };
    const { image, plan } = await writeImage(tree, { epoch: EPOCH });
    assert.ok(plan.sizeBytes <= 16 * MIB, `the automatic size is ${plan.sizeBytes} bytes`);
    await assertFsckClean(image);
    const st = await debugfs(image, 'stat /disk.raw');
    assert.match(st, /Size: 5368709120\b/);
    assert.match(st, /\(ETB0\):\d+/);
    // islands: 1 + 1 + 2 (across a 4 KiB boundary) + 1 + 1 + 1 blocks, and the index block
    assert.match(st, /Blockcount: 64\b/);
    const mapped = [...st.matchAll(/\((\d+)(?:-(\d+))?\):\d+/g)].map((m) => [Number(m[1]), Number(m[2] ?? m[1])]);
    assert.deepEqual(mapped, [[0, 0], [262144, 262144], [524291, 524292], [786432, 786432], [1048576, 1048576], [1310719, 1310719]], 'the extents map exactly the islands');
    await withMount(image, { readOnly: true }, async (mnt) => {
      const m = await stat(join(mnt, 'disk.raw'));
      assert.equal(m.size, size);
      assert.equal(m.blocks, 64);
      // every island, and hole bytes around and between them, read as the source has them
      const fh = await open(join(mnt, 'disk.raw'), 'r');
      try {
        for (const pos of [...islands.flatMap((o) => [o, o + 4095, o - 1, o + 4096]), 123_456_789, 4 * 2 ** 30 + 8192].filter((p) => p >= 0 && p < size)) {
          const b = Buffer.alloc(1);
          await fh.read(b, 0, 1, pos);
          assert.equal(b[0], byteAt(pos), `byte ${pos}`);
        }
        const whole = Buffer.alloc(4096);
        await fh.read(whole, 0, 4096, 2 * 2 ** 30 + 12345);
        assert.ok(whole.every((x) => x === 0x63));
      } finally {
        await fh.close();
      }
    });
  });

  it('the automatic size is the smallest whole MiB that holds the tree (one MiB less does not)', async () => {
    const tree = () => memoryTree(Array.from({ length: 40 }, (_, i) => ({ path: `f${i}`, kind: 'file' as const, content: new Uint8Array(300_000).fill(i + 1) })));
    // no margin, no reserve for root: the tree alone
    const plan = await planExt4(tree(), { epoch: EPOCH, margin: 0, inodeReserve: 0, reservedPercent: 0 });
    assert.equal(plan.sizeBytes % MIB, 0);
    assert.equal(plan.minSizeBytes, plan.sizeBytes);
    await assert.rejects(planExt4(tree(), { epoch: EPOCH, size: plan.sizeBytes - MIB, reservedPercent: 0 }), codeOf('E_NO_SPACE'));
    // the automatic size keeps root's reserved blocks (5 %) free, and then the margin (10 % of the tree) for users
    const reserved = await planExt4(tree(), { epoch: EPOCH, margin: 0, inodeReserve: 0 });
    assert.ok(reserved.freeBlocks >= reserved.geometry.reservedBlocks);
    const withMargin = await planExt4(tree(), { epoch: EPOCH });
    assert.ok(withMargin.sizeBytes > reserved.sizeBytes, 'the default margin (10 %) makes it larger');
    assert.ok(withMargin.freeBlocks - withMargin.geometry.reservedBlocks >= Math.ceil(40 * 74 * 0.1), 'the margin is free for users');
  });

  it('any sink: a non-seekable stream and a window at an offset get the same bytes', async () => {
    const tree = () => memoryTree([{ path: 'a', kind: 'file', content: 'hello\n' }, { path: 'd/b', kind: 'file', content: new Uint8Array(70_000).fill(3) }]);
    const plan = await planExt4(tree(), { epoch: EPOCH, size: 8 * MIB });
    assert.equal(plan.needsSeekableSink, false);
    const mem = new MemorySink();
    await plan.write(mem);
    const chunks: Uint8Array[] = [];
    const stream = new WebStreamSink(new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c) }));
    await withSink(stream, (s) => plan.write(s));
    assert.ok(Buffer.concat(chunks).equals(Buffer.from(mem.bytes())), 'streamed: same bytes');
    const disk = new MemorySink();
    await disk.write(new Uint8Array(3 * MIB).fill(0xee));
    const window = subSink(disk, 3 * MIB, 8 * MIB);
    await (await planExt4(tree(), { epoch: EPOCH, size: 8 * MIB })).write(window);
    assert.ok(Buffer.from(disk.bytes().subarray(3 * MIB, 11 * MIB)).equals(Buffer.from(mem.bytes())), 'at an offset: same bytes');
    assert.ok(disk.bytes().subarray(0, 3 * MIB).every((b) => b === 0xee), 'nothing before the window touched');
    const small = subSink(new MemorySink(), 0, 4 * MIB);
    await assert.rejects(plan.write(small), codeOf('E_NO_SPACE'), 'a window smaller than the image is refused before writing');
  });
});

describe('ext4 bad input: typed errors, nothing left behind', () => {
  it('a tree that does not fit the size: E_NO_SPACE naming the size needed; the output file is not created', async () => {
    const dir = await tempDir('ext4-nospace');
    const out = join(dir, 'fs.img');
    const tree = memoryTree([{ path: 'big', kind: 'file', content: new Uint8Array(12 * MIB).fill(1) }]);
    await assert.rejects(
      (async () => withSink(await fileSink(out), (s) => writeExt4(tree, s, { size: 8 * MIB })))(),
      (e: { code?: string; field?: string; message?: string }) => e.code === 'E_NO_SPACE' && e.field === 'size' && /needs a filesystem of about \d+ bytes \(\d+ MiB\)/.test(e.message ?? '') && /raise --size to \d+M/.test(e.message ?? ''),
    );
    assert.deepEqual(await readdir(dir), [], 'no file, no temporary file');
    await assert.rejects(planExt4(memoryTree(Array.from({ length: 3000 }, (_, i) => ({ path: `f${i}`, kind: 'file' as const, content: '' }))), { size: 8 * MIB, inodes: 100 }), codeOf('E_NO_SPACE'));
  });

  it('a name over 255 bytes: E_NAME_TOO_LONG naming it; a symbolic link target longer than a block: E_NAME_TOO_LONG', async () => {
    const long = 'n'.repeat(256);
    await assert.rejects(planExt4(memoryTree([{ path: `d/${long}`, kind: 'file', content: 'x' }])), codeOf('E_NAME_TOO_LONG', `d/${long}`));
    await assert.rejects(planExt4(memoryTree([{ path: `é${'n'.repeat(254)}`, kind: 'file', content: 'x' }])), codeOf('E_NAME_TOO_LONG'), '256 bytes of UTF-8');
    await assert.rejects(planExt4(memoryTree([{ path: 'l', kind: 'symlink', linkTarget: 't'.repeat(1024) }]), { blockSize: 1024 }), codeOf('E_NAME_TOO_LONG', 'l'));
  });

  it('feature combinations that cannot be: E_BAD_OPTION naming "features" (64bit off on a disk that needs it, extents off, unknown features)', async () => {
    const tree = memoryTree([]);
    await assert.rejects(planExt4(tree, { size: 17 * 2 ** 40, features: '^64bit' }), codeOf('E_BAD_OPTION'));
    await assert.rejects(planExt4(tree, { features: '^extent' }), codeOf('E_BAD_OPTION'));
    await assert.rejects(planExt4(tree, { features: 'inline_data' }), codeOf('E_BAD_OPTION'));
    await assert.rejects(planExt4(tree, { features: '^metadata_csum,metadata_csum_seed' }), codeOf('E_BAD_OPTION'));
    const ok = await planExt4(tree, { size: 17 * 2 ** 40 });
    assert.equal(ok.blocks, 17 * 2 ** 40 / 4096, 'with 64bit (the default) the same size plans fine');
    assert.equal(ok.features.compat & 0x10, 0, 'past 2^32 blocks without resize_inode, as mke2fs');
  });

  it('more than 65000 names of one file, an attribute outside the namespaces, lost+found that is a file: typed errors naming the path', async () => {
    const { tree } = bigDirectory(132_000);
    await assert.rejects(planExt4(tree), codeOf('E_FIELD_RANGE', `big/${'0'.repeat(6)}-${'x'.repeat(34)}`));
    await assert.rejects(planExt4(memoryTree([{ path: 'f', kind: 'file', content: 'x', xattrs: [{ name: 'os2.x', value: new Uint8Array(1) }] }])), codeOf('E_UNSUPPORTED_ENTRY', 'f'));
    await assert.rejects(planExt4(memoryTree([{ path: 'f', kind: 'file', content: 'x', xattrs: [{ name: 'user.x', value: new Uint8Array(1) }] }]), { features: '^ext_attr' }), codeOf('E_UNSUPPORTED_ENTRY', 'f'));
    await assert.rejects(planExt4(memoryTree([{ path: 'lost+found', kind: 'file', content: 'x' }])), codeOf('E_NAME_COLLISION', 'lost+found'));
  });

  it('a file that changes between plan and write: E_SOURCE_CHANGED naming it, the output file removed', async () => {
    const dir = await tempDir('ext4-changed');
    const src = join(dir, 'src');
    await run(requireTool('mkdir', 'coreutils'), [src]);
    await writeFile(join(src, 'grows'), 'abc');
    await writeFile(join(src, 'shrinks'), 'abcdef');
    for (const [name, change] of [
      ['grows', () => appendFile(join(src, 'grows'), 'more')],
      ['shrinks', () => writeFile(join(src, 'shrinks'), 'ab')],
    ] as const) {
      const out = join(dir, `${name}.img`);
      const plan = await planExt4(nodeSource(src), { epoch: EPOCH });
      await change();
      await assert.rejects((async () => withSink(await fileSink(out), (s: ByteSink) => plan.write(s)))(), codeOf('E_SOURCE_CHANGED', name));
      assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.img') || f.startsWith('.')), [], 'no image left');
      await writeFile(join(src, 'grows'), 'abc');
      await writeFile(join(src, 'shrinks'), 'abcdef');
    }
    // a sparse file whose trailing hole went away
    const sparse = join(src, 'sparse');
    const fd = openSync(sparse, 'w');
    ftruncateSync(fd, 8 * MIB);
    writeSync(fd, Buffer.from('head'), 0, 4, 0);
    closeSync(fd);
    const plan = await planExt4(nodeSource(src), { epoch: EPOCH });
    const fd2 = openSync(sparse, 'r+');
    ftruncateSync(fd2, 4 * MIB);
    closeSync(fd2);
    await assert.rejects(plan.write(new MemorySink()), codeOf('E_SOURCE_CHANGED', 'sparse'));
  });
});
