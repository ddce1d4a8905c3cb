import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32cUpdate } from '@imgkit/core';
import { DirEntry, DirEntryTail, FT_DIR, encodeDirBlock, fsChecksumSeed, inodeChecksumSeed, packLinear, parseUuid, recLen } from '@imgkit/ext4';
import { REF_UUID, block, hex, refImage } from './reference.ts';

const name = (s: string) => new TextEncoder().encode(s);

test('dirent: 8-byte header (directory.rst ext4_dir_entry_2), records 4-byte aligned', () => {
  assert.deepEqual(Object.values(DirEntry.fields).map((f) => f.offset), [0, 4, 6, 7]);
  assert.deepEqual(Object.values(DirEntryTail.fields).map((f) => f.offset), [0, 4, 6, 7, 8]);
  assert.deepEqual([1, 2, 3, 4, 5, 8, 255].map(recLen), [12, 12, 12, 12, 16, 16, 264]);
});

test("encodeDirBlock: mke2fs's root and lost+found blocks, with (4 KiB) and without (1 KiB) the checksum tail", () => {
  const img = refImage('empty-4k');
  const seed2 = inodeChecksumSeed(fsChecksumSeed(parseUuid(REF_UUID, 'uuid')), 2);
  const out = new Uint8Array(4096);
  encodeDirBlock(
    [
      { name: name('.'), ino: 2, fileType: FT_DIR },
      { name: name('..'), ino: 2, fileType: FT_DIR },
      { name: name('lost+found'), ino: 11, fileType: FT_DIR },
    ],
    4096,
    seed2,
    out,
  );
  assert.equal(hex(out), hex(block(img, 4096, 3)));
  const tail = DirEntryTail.decode(out, 4096 - 12);
  assert.equal(tail.reservedFt, 0xde);
  assert.equal(tail.checksum, crc32cUpdate(seed2, out.subarray(0, 4096 - 12)));
  // lost+found's second block: one empty record and the tail
  const seed11 = inodeChecksumSeed(fsChecksumSeed(parseUuid(REF_UUID, 'uuid')), 11);
  const empty = new Uint8Array(4096);
  encodeDirBlock([], 4096, seed11, empty);
  assert.equal(hex(empty), hex(block(img, 4096, 5)));
  // 1 KiB, no checksums: root at block 11
  const img1 = refImage('empty-1k-nocsum');
  const out1 = new Uint8Array(1024);
  encodeDirBlock([{ name: name('.'), ino: 2, fileType: 2 }, { name: name('..'), ino: 2, fileType: 2 }, { name: name('lost+found'), ino: 11, fileType: 2 }], 1024, undefined, out1);
  assert.equal(hex(out1), hex(block(img1, 1024, 11)));
});

test('packLinear: names fill blocks in order, a later short name goes back into an earlier block with room (ext2fs_link)', () => {
  const mk = (n: number) => ({ name: new Uint8Array(n).fill(0x61), ino: 12, fileType: 1 });
  // 1024-byte blocks with a tail: 1012 usable. 4 × 248 = 992 fill block 0 (20 left); 300 → block 1; 12 fits block 0.
  const blocks = packLinear([mk(240), mk(240), mk(240), mk(240), mk(292), mk(4)], 1024, true);
  assert.deepEqual(blocks, [[0, 1, 2, 3, 5], [4]]);
  // without a tail 1024 bytes hold four 248-byte records and a 32-byte one
  assert.deepEqual(packLinear([mk(240), mk(240), mk(240), mk(240), mk(24), mk(240)], 1024, false), [[0, 1, 2, 3, 4], [5]]);
});
