import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { FSINFO_LEAD_SIGNATURE, FSINFO_STRUCT_SIGNATURE, FSINFO_TRAIL_SIGNATURE, FsInfo, encodeFsInfo, mkfsGeometry } from '@imgkit/fat';

const fixture = (name: string) => new Uint8Array(Buffer.from(readFileSync(new URL(`../../../fixtures/fat/${name}`, import.meta.url), 'utf8').replace(/\s+/g, ''), 'hex'));

test('FSInfo: offsets match fatgen103 "FAT32 FSInfo Sector Structure"', () => {
  const table: [string, number, number][] = [
    ['leadSignature', 0, 4], ['reserved1', 4, 480], ['structSignature', 484, 4], ['freeCount', 488, 4], ['nextFree', 492, 4], ['reserved2', 496, 12], ['trailSignature', 508, 4],
  ];
  const fields = FsInfo.fields as Record<string, { offset: number; size: number }>;
  assert.equal(FsInfo.size, 512);
  assert.deepEqual(Object.keys(fields).sort(), table.map(([n]) => n).sort());
  for (const [n, o, s] of table) assert.deepEqual([fields[n]!.offset, fields[n]!.size], [o, s], n);
});

test('FSInfo: the bytes mkfs.fat writes for an empty 1 GiB volume (golden: root in cluster 2, the rest free)', () => {
  const theirs = fixture('mkfs-fat32-1g.sectors0-7.hex').subarray(512, 1024);
  const g = mkfsGeometry({ sizeBytes: 1024 ** 3 })!;
  assert.deepEqual(encodeFsInfo(g.clusterCount - 1, 2), theirs);
  const d = FsInfo.decode(theirs);
  assert.equal(d.leadSignature, FSINFO_LEAD_SIGNATURE);
  assert.equal(d.structSignature, FSINFO_STRUCT_SIGNATURE);
  assert.equal(d.trailSignature, FSINFO_TRAIL_SIGNATURE);
  assert.deepEqual([...theirs.subarray(0, 4)], [0x52, 0x52, 0x61, 0x41]); // "RRaA"
  assert.deepEqual([...theirs.subarray(508)], [0, 0, 0x55, 0xaa]);
});

test('FSInfo: decode(encode(x)) === x', () => {
  const v = FsInfo.decode(encodeFsInfo(12345, 678));
  assert.equal(v.freeCount, 12345);
  assert.equal(v.nextFree, 678);
  assert.deepEqual(FsInfo.decode(FsInfo.encode(v)), v);
});
