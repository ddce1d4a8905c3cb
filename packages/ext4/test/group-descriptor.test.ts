import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupDesc32, GroupDesc64, crc16, encodeGroupDesc, fsChecksumSeed, parseUuid } from '@imgkit/ext4';
import { REF_UUID, block, hex, refImage } from './reference.ts';

test('group descriptor: offsets of group_descr.rst (32 bytes; 64 with the high halves)', () => {
  const f = GroupDesc64.fields;
  const table: [keyof typeof f, number][] = [
    ['blockBitmapLo', 0x0], ['inodeBitmapLo', 0x4], ['inodeTableLo', 0x8], ['freeBlocksCountLo', 0xc], ['freeInodesCountLo', 0xe],
    ['usedDirsCountLo', 0x10], ['flags', 0x12], ['blockBitmapCsumLo', 0x18], ['inodeBitmapCsumLo', 0x1a], ['itableUnusedLo', 0x1c],
    ['checksum', 0x1e], ['blockBitmapHi', 0x20], ['inodeTableHi', 0x28], ['freeBlocksCountHi', 0x2c], ['itableUnusedHi', 0x32],
    ['blockBitmapCsumHi', 0x38], ['inodeBitmapCsumHi', 0x3a], ['reserved', 0x3c],
  ];
  for (const [name, off] of table) assert.equal(f[name].offset, off, name);
  assert.equal(GroupDesc32.size, 32);
  assert.equal(GroupDesc64.size, 64);
});

test("group descriptor: mke2fs's 64-byte one re-encodes to the same bytes (crc32c checksum)", () => {
  const raw = block(refImage('empty-4k'), 4096, 1).subarray(0, 64);
  const d = GroupDesc64.decode(raw);
  assert.equal(d.blockBitmapLo, 2);
  assert.equal(d.inodeBitmapLo, 18);
  assert.equal(d.inodeTableLo, 34);
  assert.equal(d.freeBlocksCountLo, 982);
  const out = new Uint8Array(64);
  encodeGroupDesc(
    {
      blockBitmap: d.blockBitmapLo,
      inodeBitmap: d.inodeBitmapLo,
      inodeTable: d.inodeTableLo,
      freeBlocks: d.freeBlocksCountLo,
      freeInodes: d.freeInodesCountLo,
      usedDirs: d.usedDirsCountLo,
      flags: d.flags,
      itableUnused: d.itableUnusedLo,
      blockBitmapCsum: d.blockBitmapCsumLo | (d.blockBitmapCsumHi << 16),
      inodeBitmapCsum: d.inodeBitmapCsumLo | (d.inodeBitmapCsumHi << 16),
    },
    0,
    64,
    { kind: 'crc32c', seed: fsChecksumSeed(parseUuid(REF_UUID, 'uuid')) },
    out,
    0,
  );
  assert.equal(hex(out), hex(raw));
});

test("group descriptor: mke2fs's 32-byte one (no checksum) re-encodes to the same bytes", () => {
  const raw = block(refImage('empty-1k-nocsum'), 1024, 2).subarray(0, 32);
  const d = GroupDesc32.decode(raw);
  assert.equal(d.inodeTableLo, 42);
  assert.equal(d.checksum, 0);
  const out = new Uint8Array(32);
  encodeGroupDesc(
    { blockBitmap: d.blockBitmapLo, inodeBitmap: d.inodeBitmapLo, inodeTable: d.inodeTableLo, freeBlocks: d.freeBlocksCountLo, freeInodes: d.freeInodesCountLo, usedDirs: d.usedDirsCountLo, flags: d.flags, itableUnused: 0, blockBitmapCsum: 0, inodeBitmapCsum: 0 },
    0,
    32,
    { kind: 'none' },
    out,
    0,
  );
  assert.equal(hex(out), hex(raw));
});

test('crc16 (uninit_bg): CRC-16/ARC and CRC-16/MODBUS check values; the descriptor form skips bg_checksum', () => {
  const nine = new TextEncoder().encode('123456789');
  assert.equal(crc16(0, nine), 0xbb3d);
  assert.equal(crc16(0xffff, nine), 0x4b37);
  const uuid = parseUuid(REF_UUID, 'uuid');
  const a = new Uint8Array(32);
  const input = { blockBitmap: 5, inodeBitmap: 6, inodeTable: 7, freeBlocks: 100, freeInodes: 50, usedDirs: 2, flags: 4, itableUnused: 40, blockBitmapCsum: 0, inodeBitmapCsum: 0 };
  encodeGroupDesc(input, 3, 32, { kind: 'crc16', uuid }, a, 0);
  const g = new Uint8Array([3, 0, 0, 0]);
  const z = a.slice();
  const expected = crc16(crc16(crc16(crc16(0xffff, uuid), g), z.subarray(0, 0x1e)), z.subarray(0x20));
  assert.equal(a[0x1e]! | (a[0x1f]! << 8), expected);
});

test('group descriptor: tables past block 2^32 need 64-bit descriptors', () => {
  const out = new Uint8Array(32);
  assert.throws(() => encodeGroupDesc({ blockBitmap: 2 ** 32, inodeBitmap: 1, inodeTable: 1, freeBlocks: 0, freeInodes: 0, usedDirs: 0, flags: 0, itableUnused: 0, blockBitmapCsum: 0, inodeBitmapCsum: 0 }, 0, 32, { kind: 'none' }, out, 0), /64-bit/);
});
