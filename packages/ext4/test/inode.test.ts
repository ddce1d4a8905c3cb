import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EXTENTS_FL,
  Inode,
  decodeTime,
  encodeDevice,
  encodeInode,
  encodeTime,
  fsChecksumSeed,
  parseUuid,
  type InodeFields,
} from '@imgkit/ext4';
import { REF_TIME, REF_UUID, hex, inodeBytes, refImage } from './reference.ts';

test('inode: offsets of inodes.rst "The Inode"', () => {
  const f = Inode.fields;
  const table: [keyof typeof f, number][] = [
    ['mode', 0x0], ['uidLo', 0x2], ['sizeLo', 0x4], ['atime', 0x8], ['ctime', 0xc], ['mtime', 0x10], ['dtime', 0x14], ['gidLo', 0x18],
    ['linksCount', 0x1a], ['blocksLo', 0x1c], ['flags', 0x20], ['block', 0x28], ['generation', 0x64], ['fileAclLo', 0x68], ['sizeHigh', 0x6c],
    ['blocksHigh', 0x74], ['fileAclHigh', 0x76], ['uidHigh', 0x78], ['gidHigh', 0x7a], ['checksumLo', 0x7c], ['extraIsize', 0x80],
    ['checksumHi', 0x82], ['ctimeExtra', 0x84], ['mtimeExtra', 0x88], ['atimeExtra', 0x8c], ['crtime', 0x90], ['crtimeExtra', 0x94], ['projid', 0x9c],
  ];
  for (const [name, off] of table) assert.equal(f[name].offset, off, name);
  assert.equal(f.block.size, 60);
});

test('inode times: low 32 bits signed, two epoch bits in the extra word (inodes.rst "Inode Timestamps")', () => {
  const cases: [number, number, number][] = [
    [0, 0, 0],
    [REF_TIME, REF_TIME, 0],
    [0x7fffffff, 0x7fffffff, 0],
    [-1, 0xffffffff, 0],
    [-0x80000000, 0x80000000, 0],
    [0x80000000, 0x80000000, 1], // 2038-01-19T03:14:08Z
    [0xffffffff, 0xffffffff, 1],
    [0x100000000 + 5, 5, 1],
    [0x17fffffff, 0x7fffffff, 1],
    [0x180000000, 0x80000000, 2],
  ];
  for (const [s, lo, epoch] of cases) {
    const t = encodeTime(s);
    assert.deepEqual(t, { lo, extra: epoch }, String(s));
    assert.equal(decodeTime(t.lo, t.extra), s);
  }
  assert.equal(encodeTime(5, 999_999_999).extra, 999_999_999 << 2 >>> 0);
});

test('device numbers: old encoding below 256, new encoding (i_block[1]) otherwise', () => {
  const v = (b: Uint8Array) => new DataView(b.buffer);
  assert.equal(v(encodeDevice(1, 3)).getUint32(0, true), 0x0103);
  assert.equal(v(encodeDevice(1, 3)).getUint32(4, true), 0);
  const wide = encodeDevice(300, 70000);
  assert.equal(v(wide).getUint32(0, true), 0);
  // new_encode_dev: minor & 0xff | major << 8 | (minor & ~0xff) << 12
  assert.equal(v(wide).getUint32(4, true), 0x11112c70);
  assert.equal(v(encodeDevice(8, 256)).getUint32(4, true), 0x00100800);
});

function fieldsOf(raw: Uint8Array): InodeFields {
  const d = Inode.decode(raw);
  return {
    mode: d.mode,
    uid: d.uidLo | (d.uidHigh << 16),
    gid: d.gidLo | (d.gidHigh << 16),
    size: d.sizeLo + d.sizeHigh * 2 ** 32,
    atime: decodeTime(d.atime, d.atimeExtra),
    ctime: decodeTime(d.ctime, d.ctimeExtra),
    mtime: decodeTime(d.mtime, d.mtimeExtra),
    crtime: decodeTime(d.crtime, d.crtimeExtra),
    links: d.linksCount,
    blocks512: d.blocksLo + d.blocksHigh * 2 ** 32,
    flags: d.flags,
    block: d.block,
    fileAcl: d.fileAclLo,
    extraIsize: d.extraIsize,
  };
}

test("inodes of mke2fs's image (root, resize, journal, lost+found, bad blocks) re-encode to the same bytes, checksum included", () => {
  const img = refImage('empty-4k');
  const seed = fsChecksumSeed(parseUuid(REF_UUID, 'uuid'));
  for (const ino of [1, 2, 7, 8, 11]) {
    const raw = inodeBytes(img, 4096, 34, ino);
    const f = fieldsOf(raw);
    if (ino === 2 || ino === 8 || ino === 11) assert.equal(f.flags & EXTENTS_FL, EXTENTS_FL, `inode ${ino} uses extents`);
    const out = new Uint8Array(256);
    encodeInode(f, ino, 256, seed, out, 0);
    assert.equal(hex(out), hex(raw), `inode ${ino}`);
  }
  // without metadata_csum: no checksum
  const img1 = refImage('empty-1k-nocsum');
  for (const ino of [2, 7, 8, 11]) {
    const raw = inodeBytes(img1, 1024, 42, ino);
    const out = new Uint8Array(256);
    encodeInode(fieldsOf(raw), ino, 256, undefined, out, 0);
    assert.equal(hex(out), hex(raw), `1k inode ${ino}`);
  }
});

test('inode: a 128-byte inode keeps only the first 128 bytes and the low checksum half', () => {
  const f: InodeFields = { mode: 0o100644, uid: 70000, gid: 3, size: 5 * 2 ** 32 + 7, atime: 1, ctime: 2, mtime: 3, crtime: 4, links: 1, blocks512: 8, flags: EXTENTS_FL, block: new Uint8Array(60), fileAcl: 0 };
  const out = new Uint8Array(128);
  encodeInode(f, 12, 128, 0x1234, out, 0);
  const d = Inode.decode(new Uint8Array([...out, ...new Uint8Array(32)]));
  assert.equal(d.uidLo | (d.uidHigh << 16), 70000);
  assert.equal(d.sizeLo + d.sizeHigh * 2 ** 32, 5 * 2 ** 32 + 7);
  assert.notEqual(d.checksumLo, 0);
});
