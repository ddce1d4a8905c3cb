/**
 * Volume layout. The literal table is what mkfs.fat 4.2 (Debian 12) wrote for `mkfs.fat -C img
 * <KiB>` (read back from the boot sectors); test/fat.test.ts runs mkfs.fat for the same table and
 * more. The search for the smallest size is checked against a plain scan of every size.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fits, mkfsGeometry, smallestFit, type FatBits, type SpaceNeed } from '@imgkit/fat';

// KiB, forced type, [bits, sectors/cluster, reserved, root entries, total sectors, media, FAT sectors, sectors/track, heads]
const MKFS: [number, FatBits | undefined, number[]][] = [
  [360, undefined, [12, 2, 1, 112, 720, 0xfd, 2, 9, 2]],
  [720, undefined, [12, 2, 1, 112, 1440, 0xf9, 3, 9, 2]],
  [1200, undefined, [12, 1, 1, 224, 2400, 0xf9, 7, 15, 2]],
  [1440, undefined, [12, 1, 1, 224, 2880, 0xf0, 9, 18, 2]],
  [1441, undefined, [12, 4, 1, 512, 2880, 0xf8, 3, 16, 2]],
  [2880, undefined, [12, 2, 1, 224, 5760, 0xf0, 9, 36, 2]],
  [8191, undefined, [12, 4, 4, 512, 16352, 0xf8, 12, 32, 2]],
  [16384, undefined, [16, 4, 4, 512, 32768, 0xf8, 32, 32, 2]],
  [65536, undefined, [16, 4, 4, 512, 131072, 0xf8, 128, 32, 8]],
  [262144, undefined, [16, 8, 8, 512, 524288, 0xf8, 256, 32, 16]],
  [524287, undefined, [16, 16, 16, 512, 1048572, 0xf8, 256, 63, 32]],
  [524288, undefined, [32, 8, 32, 0, 1048572, 0xf8, 1024, 63, 32]],
  [4194304, undefined, [32, 8, 32, 0, 8388576, 0xf8, 8176, 63, 255]],
  [16777216, undefined, [32, 16, 32, 0, 33554430, 0xf8, 16384, 63, 255]],
  [33554432, undefined, [32, 32, 32, 0, 67108860, 0xf8, 16384, 63, 255]],
  [1440, 32, [32, 1, 32, 0, 2880, 0xf0, 22, 18, 2]],
  [266241, 32, [32, 8, 32, 0, 532476, 0xf8, 520, 63, 16]],
  [9000, 16, [16, 4, 4, 512, 17984, 0xf8, 20, 32, 2]],
  [2097152, 16, [16, 128, 128, 2048, 4194288, 0xf8, 128, 63, 128]],
  [65536, 12, [12, 64, 64, 1024, 131072, 0xf8, 64, 32, 8]],
];

test('layout: what mkfs.fat 4.2 writes for these sizes (literal table)', () => {
  for (const [kib, bits, expected] of MKFS) {
    const g = mkfsGeometry({ sizeBytes: kib * 1024, ...(bits ? { fatBits: bits } : {}) });
    assert.ok(g, `${kib} KiB`);
    assert.deepEqual([g.fatBits, g.sectorsPerCluster, g.reservedSectors, g.rootEntries, g.totalSectors, g.media, g.fatSectors, g.sectorsPerTrack, g.heads], expected, `${kib} KiB${bits ? ` -F ${bits}` : ''}`);
    assert.equal(g.dataStartSector, g.reservedSectors + 2 * g.fatSectors + g.rootDirSectors);
    assert.equal(g.clusterCount, Math.floor((g.totalSectors - g.dataStartSector) / g.sectorsPerCluster));
    assert.equal(g.hiddenSectors, 0);
    assert.equal(g.driveNumber, g.media === 0xf8 ? 0x80 : 0);
  }
});

test('layout: sizes mkfs.fat refuses are refused (too small, FAT16 below 4087 clusters, FAT12 beyond 4084)', () => {
  for (const [kib, bits] of [[1, undefined], [40, undefined], [8192, 16], [262144, 12]] as const) {
    assert.equal(mkfsGeometry({ sizeBytes: kib * 1024, ...(bits ? { fatBits: bits } : {}) }), undefined, `${kib} KiB ${bits ?? ''}`);
  }
});

test('layout: a bigger root directory when the tree needs it (mkfs.fat -r), rounded to whole clusters', () => {
  const g = mkfsGeometry({ sizeBytes: 64 << 20, minRootEntries: 700 })!;
  // 700 × 32 bytes → 44 sectors, already whole 4-sector clusters → 44 × 16 entries (mkfs.fat -r 700 says the same).
  assert.equal(g.rootEntries, 704);
  assert.equal(g.rootDirSectors % g.sectorsPerCluster, 0);
  assert.ok(g.rootEntries >= 700);
});

/** A need of `files` files of `fileBytes` each, plus `dirs` one-cluster directories. */
function need(files: number, fileBytes: number, rootEntries = 16): SpaceNeed {
  return { rootEntries, clusters: (cb, bits) => files * Math.ceil(fileBytes / cb) + (bits === 32 ? 1 : 0) };
}

test('smallest size: the first size (in KiB) that holds the tree, found without trying every size', () => {
  const cases: [SpaceNeed, FatBits | undefined][] = [
    [need(1, 100), undefined],
    [need(10, 1000), undefined],
    [need(700, 1), undefined], // many tiny files: at 1440 KiB (512-byte clusters) they fit, just above they do not
    [need(2000, 1), undefined],
    [need(3, 1 << 20), undefined],
    [need(40, 200_000), 16],
    [need(5, 100_000), 12],
  ];
  for (const [n, bits] of cases) {
    const found = smallestFit(n, bits);
    assert.ok(found !== undefined);
    const g = mkfsGeometry({ sizeBytes: found, ...(bits ? { fatBits: bits } : {}) })!;
    assert.ok(fits(g, n), 'the size found holds the tree');
    for (let kib = 1; kib * 1024 < found; kib++) {
      const h = mkfsGeometry({ sizeBytes: kib * 1024, ...(bits ? { fatBits: bits } : {}) });
      assert.ok(!h || !fits(h, n), `${kib} KiB would already hold it (found ${found / 1024} KiB)`);
    }
  }
  // A floppy size wins where its 512-byte clusters hold what 2 KiB clusters above it do not:
  // 2000 one-byte files fit the 1200 KiB format (2371 clusters), not 1201 … ~4000 KiB.
  assert.equal(smallestFit(need(2000, 1)), 1200 * 1024);
  assert.ok(!fits(mkfsGeometry({ sizeBytes: 1201 * 1024 })!, need(2000, 1)));
});

test('smallest size: large trees and FAT32 are found quickly and exactly at the boundary', () => {
  const big = need(1000, 3 << 20); // 3 GiB of 3 MiB files
  const s = smallestFit(big)!;
  const g = mkfsGeometry({ sizeBytes: s })!;
  assert.equal(g.fatBits, 32);
  assert.ok(fits(g, big));
  for (let kib = s / 1024 - 300; kib < s / 1024; kib++) assert.ok(!fits(mkfsGeometry({ sizeBytes: kib * 1024 })!, big), `${kib} KiB`);
});
