import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex, toHex } from '@imgkit/core';
import { Superblock, SQUASHFS_MAGIC, SUPERBLOCK_FLAGS, COMPRESSION_ID } from '../src/superblock.js';
import { encodeCompressorOptions, codecSpecFor } from '../src/compressor.js';

// The superblock of an image made by mksquashfs 4.5.1 (-comp gzip -mkfs-time 0) from a 14-inode tree.
const MKSQUASHFS_SUPERBLOCK =
  '687371730e00000000000000000002000100000001001100c000030004000000b701000000000000c30a000000000000' +
  '810a000000000000ab0a000000000000c2080000000000008409000000000000320a0000000000006b0a000000000000';

describe('superblock', () => {
  it('has the spec offsets ("The superblock", squashfs_fs.h struct squashfs_super_block)', () => {
    const f = Superblock.fields;
    assert.equal(Superblock.size, 96);
    const offsets = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.offset]));
    assert.deepEqual(offsets, {
      magic: 0, inodeCount: 4, modificationTime: 8, blockSize: 12, fragmentEntryCount: 16, compressionId: 20, blockLog: 22,
      flags: 24, idCount: 26, versionMajor: 28, versionMinor: 30, rootInodeRef: 32, bytesUsed: 40, idTableStart: 48,
      xattrIdTableStart: 56, inodeTableStart: 64, directoryTableStart: 72, fragmentTableStart: 80, exportTableStart: 88,
    });
  });
  it('decodes a mksquashfs superblock and encodes it back byte for byte', () => {
    const bytes = fromHex(MKSQUASHFS_SUPERBLOCK);
    const sb = Superblock.decode(bytes);
    assert.equal(sb.magic, SQUASHFS_MAGIC);
    assert.equal(sb.inodeCount, 14);
    assert.equal(sb.blockSize, 131072);
    assert.equal(sb.blockLog, 17);
    assert.equal(sb.compressionId, COMPRESSION_ID.gzip);
    assert.equal(sb.flags, SUPERBLOCK_FLAGS.DUPLICATES | SUPERBLOCK_FLAGS.EXPORTABLE);
    assert.equal(sb.rootInodeRef, 0x1b7n);
    assert.equal(sb.versionMajor, 4);
    assert.equal(toHex(Superblock.encode(sb)), MKSQUASHFS_SUPERBLOCK);
  });
  it('refuses values that do not fit instead of truncating', () => {
    const sb = Superblock.decode(fromHex(MKSQUASHFS_SUPERBLOCK));
    assert.throws(() => Superblock.encode({ ...sb, idCount: 65536 }), { code: 'E_FIELD_RANGE' });
  });
});

describe('compressor options', () => {
  it('are written only where mksquashfs writes them', () => {
    assert.equal(encodeCompressorOptions('gzip', undefined), null);
    assert.equal(encodeCompressorOptions('gzip', 9), null);
    assert.equal(toHex(encodeCompressorOptions('gzip', 6)!), '060000000f000000'); // level, window 15, no strategies
    assert.equal(encodeCompressorOptions('zstd', 15), null);
    assert.equal(toHex(encodeCompressorOptions('zstd', 19)!), '13000000');
    assert.equal(toHex(encodeCompressorOptions('lz4', undefined)!), '0100000000000000'); // always: LZ4_LEGACY, no HC
    assert.equal(encodeCompressorOptions('xz', undefined), null);
  });
  it('map to the codec the kernel reads (gzip = zlib stream, xz dictionary = block size, CRC32)', () => {
    assert.equal(codecSpecFor('gzip', undefined, 131072).name, 'zlib');
    assert.deepEqual(codecSpecFor('xz', undefined, 65536), { name: 'xz', level: 6, dictSize: 65536, check: 'crc32' });
    assert.equal(codecSpecFor('lz4', undefined, 131072).name, 'lz4-block');
  });
});
