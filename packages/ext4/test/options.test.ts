import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deterministicUuid, formatUuid, parseUuid, resolveOptions } from '@imgkit/ext4';

const refuses = (o: Parameters<typeof resolveOptions>[0], field: string) =>
  assert.throws(() => resolveOptions(o), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === field, JSON.stringify(o));

test("resolveOptions: Debian's defaults (4 KiB, 256-byte inodes, 16384 bytes per inode, 5 %, half_md4, flex 16)", () => {
  const o = resolveOptions({});
  assert.deepEqual([o.blockSize, o.inodeSize, o.inodeRatio, o.reservedPercent, o.hashVersion, o.flexBgSize], [4096, 256, 16384, 5, 1, 16]);
  assert.deepEqual(o.margin, { percent: 10 });
  assert.equal(resolveOptions({ blockSize: 4096, inodeRatio: 2048 }).inodeRatio, 4096, 'at least one block per inode, as mke2fs');
});

test('resolveOptions: each bad value names its field', () => {
  refuses({ blockSize: 8192 as 4096 }, 'blockSize');
  refuses({ inodeSize: 100 }, 'inodeSize');
  refuses({ inodeSize: 8192 }, 'inodeSize');
  refuses({ inodeRatio: 10 }, 'inodeRatio');
  refuses({ inodes: 0 }, 'inodes');
  refuses({ reservedPercent: 51 }, 'reservedPercent');
  refuses({ label: 'a label of more than sixteen bytes' }, 'label');
  refuses({ uuid: 'not-a-uuid' }, 'uuid');
  refuses({ hashSeed: '1234' }, 'hashSeed');
  refuses({ hashAlg: 'md5' as 'tea' }, 'hashAlg');
  refuses({ flexBgSize: 3 }, 'flexBgSize');
  refuses({ flexBgSize: 4, features: '^flex_bg' }, 'flexBgSize');
  refuses({ margin: '10 percent' as `${number}%` }, 'margin');
  refuses({ size: 1.5 }, 'size');
  refuses({ epoch: -1 }, 'epoch');
});

test('UUIDs: text ↔ bytes in text order; derived ones are stable, version 4, and depend on epoch and label', () => {
  const u = parseUuid('5f6a1c1e-6a0f-4c3b-9d55-1f0d5e0b7a21', 'uuid');
  assert.equal(u[0], 0x5f);
  assert.equal(formatUuid(u), '5f6a1c1e-6a0f-4c3b-9d55-1f0d5e0b7a21');
  assert.ok(parseUuid('null', 'uuid').every((b) => b === 0));
  const a = deterministicUuid('ext4-uuid', 1700000000, 'root');
  assert.deepEqual(a, deterministicUuid('ext4-uuid', 1700000000, 'root'));
  assert.notDeepEqual(a, deterministicUuid('ext4-uuid', 1700000001, 'root'));
  assert.notDeepEqual(a, deterministicUuid('ext4-uuid', 1700000000, 'data'));
  assert.equal(a[6]! >> 4, 4);
  assert.equal(a[8]! >> 6, 2);
  const o = resolveOptions({ epoch: 5, label: 'x' });
  assert.notDeepEqual(o.uuid, o.hashSeed, 'UUID and hash seed are derived separately');
});
