import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsedBlocks, bitmapChecksum, blockBitmap, fsChecksumSeed, inodeBitmap, parseUuid, setBits } from '@imgkit/ext4';
import { REF_UUID, block, hex, refImage } from './reference.ts';

test('setBits: bit i of byte j is 8j + i, partial bytes at both ends', () => {
  const b = new Uint8Array(4);
  setBits(b, 3, 19);
  assert.equal(hex(b), 'f8ff0700');
  const c = new Uint8Array(2);
  setBits(c, 5, 6);
  assert.equal(hex(c), '2000');
});

test("bitmaps: mke2fs's block and inode bitmaps (4 KiB image; padding bits set), and their checksums", () => {
  const img = refImage('empty-4k');
  // used: 0 … 1065 (the metadata, the gaps' directories and journal, the resize block) — dumpe2fs "Free blocks: 1066-2047"
  const used = new UsedBlocks(0, 2048);
  used.add(0, 1066);
  const bb = new Uint8Array(4096);
  blockBitmap(used, 0, 2048, 32768, bb);
  assert.equal(hex(bb), hex(block(img, 4096, 2)));
  const ib = new Uint8Array(4096);
  inodeBitmap(11, 512, ib);
  assert.equal(hex(ib), hex(block(img, 4096, 18)));
  const seed = fsChecksumSeed(parseUuid(REF_UUID, 'uuid'));
  // dumpe2fs: "Block bitmap at 2 (+2), csum 0x3ad18f00", "Inode bitmap at 18 (+18), csum 0x93d5bdcb"
  assert.equal(bitmapChecksum(seed, bb, 32768 / 8), 0x3ad18f00);
  assert.equal(bitmapChecksum(seed, ib, 512 / 8), 0x93d5bdcb);
});
