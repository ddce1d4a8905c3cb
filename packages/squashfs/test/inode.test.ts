import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '@imgkit/core';
import {
  encodeFileInode, encodeDirInode, encodeSymlinkInode, encodeDevInode, encodeIpcInode, encodeRdev, fileNeedsExtended,
  InodeHeader, LfileInode, LdirInode, NO_XATTR, NO_FRAGMENT, dataSize, DATA_UNCOMPRESSED,
} from '../src/inode.js';

const h = { mode: 0o644, uidIndex: 0, gidIndex: 1, mtime: 1000, inodeNumber: 1 };

describe('inodes', () => {
  it('header and extended file offsets follow squashfs_fs.h', () => {
    assert.equal(InodeHeader.size, 16);
    assert.equal(LfileInode.fields.nlink.offset, 24);
    assert.equal(LfileInode.fields.xattr.offset, 36);
    assert.equal(LdirInode.fields.indexCount.offset, 16);
  });
  it('a hard-linked file in a fragment matches mksquashfs byte for byte (extended, nlink 2)', () => {
    const bytes = encodeFileInode(h, { startBlock: 0, fileSize: 6, sparseBytes: 0, nlink: 2, fragment: 0, fragmentOffset: 0, xattr: NO_XATTR, blockSizes: [] });
    assert.equal(toHex(bytes), '0900a40100000100e803000001000000000000000000000006000000000000000000000000000000020000000000000000000000ffffffff');
  });
  it('basic regular file with a block list', () => {
    const bytes = encodeFileInode({ ...h, mode: 0o755 }, { startBlock: 96, fileSize: 200000, sparseBytes: 0, nlink: 1, fragment: NO_FRAGMENT, fragmentOffset: 0, xattr: NO_XATTR, blockSizes: [dataSize(5000, { uncompressed: false }), dataSize(68928, { uncompressed: true })] });
    assert.equal(bytes.byteLength, 32 + 8);
    assert.equal(toHex(bytes.subarray(0, 2)), '0200');
    const v = new DataView(bytes.buffer);
    assert.equal(v.getUint32(16, true), 96);
    assert.equal(v.getUint32(20, true), NO_FRAGMENT);
    assert.equal(v.getUint32(36, true), 68928 | DATA_UNCOMPRESSED);
  });
  it('chooses the extended form when a field needs it', () => {
    const base = { startBlock: 0, fileSize: 1, sparseBytes: 0, nlink: 1, fragment: 0, fragmentOffset: 0, xattr: NO_XATTR, blockSizes: [] };
    const cases: [Partial<typeof base>, boolean][] = [[{}, false], [{ nlink: 2 }, true], [{ fileSize: 2 ** 32 }, true], [{ startBlock: 2 ** 32 }, true], [{ xattr: 0 }, true], [{ sparseBytes: 4096 }, true]];
    for (const [c, ext] of cases) assert.equal(fileNeedsExtended({ ...base, ...c }), ext, JSON.stringify(c));
  });
  it('directories: basic (32 bytes) and extended with an index', () => {
    const d = { startBlock: 0, offset: 10, fileSize: 40, nlink: 2, parentInode: 15, xattr: NO_XATTR, index: [] };
    assert.equal(encodeDirInode(h, d).byteLength, 32);
    const name = new TextEncoder().encode('f0300');
    const l = encodeDirInode(h, { ...d, fileSize: 20000, index: [{ index: 8200, startBlock: 4000, name }] });
    assert.equal(l.byteLength, 40 + 12 + 5);
    const v = new DataView(l.buffer);
    assert.equal(v.getUint16(0, true), 8);
    assert.equal(v.getUint16(32, true), 1); // i_count
    assert.equal(v.getUint32(48, true), 4); // name size - 1
  });
  it('symlinks, devices and ipc inodes, basic and extended', () => {
    const t = new TextEncoder().encode('../target');
    assert.equal(encodeSymlinkInode(h, 1, t, NO_XATTR).byteLength, 24 + 9);
    assert.equal(encodeSymlinkInode(h, 1, t, 3).byteLength, 24 + 9 + 4);
    assert.equal(toHex(encodeDevInode(h, 'char', 1, encodeRdev(1, 3), NO_XATTR).subarray(16)), '0100000003010000');
    assert.equal(encodeDevInode(h, 'block', 1, 0, 0).subarray(0, 1)[0], 11);
    assert.equal(encodeIpcInode(h, 'fifo', 1, NO_XATTR).byteLength, 20);
    assert.equal(encodeIpcInode(h, 'socket', 1, 0)[0], 14);
  });
  it('device numbers use Linux new_encode_dev (as mksquashfs: 300:70000 → 0x11112c70)', () => {
    assert.equal(encodeRdev(300, 70000), 0x11112c70);
    assert.equal(encodeRdev(8, 1), 0x801);
  });
});
