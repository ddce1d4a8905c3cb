import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32cUpdate, fromHex } from '@imgkit/core';
import {
  XattrEntry,
  XattrHeader,
  aclToDisk,
  blockHash,
  encodeIbodyXattrs,
  encodeXattrBlock,
  entryHash,
  fsChecksumSeed,
  ibodyCapacity,
  inodeChecksumSeed,
  parseUuid,
  placeXattrs,
  prepareXattr,
  type StoredXattr,
} from '@imgkit/ext4';
import { REF_UUID, hex } from './reference.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const stored = (name: string, value: Uint8Array | string): StoredXattr => {
  const r = prepareXattr({ name, value: typeof value === 'string' ? enc(value) : value });
  if (!('ok' in r)) throw new Error(r.problem);
  return r.ok;
};

// A reference made by mke2fs 1.47.0 on a file with four attributes set in this order (os.setxattr):
//   user.comment=hello, trusted.t=T, user.big=200 × 'B', security.selinux="system_u:object_r:etc_t:s0\0"
//   E2FSPROGS_FAKE_TIME=1700000000 mke2fs -t ext4 -T default -b 1024 -O ^has_journal -U 5f6a1c1e-… -d xt xt.img 2M
// The inode (12) kept the first two; the block (33) the other two, sorted.
const IBODY_HEX =
  '000002ea07015400000000000500000000000000636f6d6d656e740001045000000000000100000000000000740000000000000000000000000000000000000000000000000000000000000000000000000000005400000068656c6c6f000000';
const BLOCK_HEAD_HEX = '000002ea010000000100000000000000099314110000000000000000000000000301380300000000c8000000478501006269670007061c03000000001b000000e200d30d73656c696e75780000000000';
const SELINUX_VALUE_HEX = '73797374656d5f753a6f626a6563745f723a6574635f743a73300000';

test('xattr structures: header 32 bytes, entries 16 + name (attributes.rst)', () => {
  assert.equal(XattrHeader.size, 32);
  assert.deepEqual(Object.values(XattrEntry.fields).map((f) => f.offset), [0, 1, 2, 4, 8, 12]);
  assert.equal(ibodyCapacity(256, 32), 88);
  assert.equal(ibodyCapacity(128, 0), 0);
});

test("xattrs: placement, in-inode bytes and block bytes equal mke2fs's (the block's h_hash aside: mke2fs leaves it 0)", () => {
  const attrs = [stored('user.comment', 'hello'), stored('trusted.t', 'T'), stored('user.big', 'B'.repeat(200)), stored('security.selinux', enc('system_u:object_r:etc_t:s0\0'))];
  const placed = placeXattrs(attrs, 256, 32, 1024)!;
  assert.deepEqual(placed.ibody.map((x) => [x.index, new TextDecoder().decode(x.name)]), [[1, 'comment'], [4, 't']]);
  assert.deepEqual(placed.block.map((x) => [x.index, new TextDecoder().decode(x.name)]), [[1, 'big'], [6, 'selinux']]);
  const inode = new Uint8Array(256);
  encodeIbodyXattrs(placed.ibody, inode, 0, 256, 32);
  assert.equal(hex(inode.subarray(160)), IBODY_HEX);

  const fsSeed = fsChecksumSeed(parseUuid(REF_UUID, 'uuid'));
  const block = encodeXattrBlock(placed.block, 1, 33, 1024, fsSeed);
  const v = new DataView(block.buffer);
  assert.equal(v.getUint32(12, true), blockHash(placed.block), 'imgkit writes the block hash the kernel computes');
  assert.notEqual(blockHash(placed.block), 0);
  // With h_hash 0 (as mke2fs) and the checksum recomputed by the definition, the bytes are mke2fs's.
  v.setUint32(12, 0, true);
  v.setUint32(16, 0, true);
  const crc = crc32cUpdate(crc32cUpdate(crc32cUpdate(fsSeed, new Uint8Array([33, 0, 0, 0])), new Uint8Array(4)), block);
  v.setUint32(16, crc, true);
  assert.equal(hex(block.subarray(0, 80)), BLOCK_HEAD_HEX);
  assert.equal(hex(block.subarray(0x31c, 0x31c + 28)), SELINUX_VALUE_HEX);
  assert.ok(block.subarray(0x338, 0x400).every((b) => b === 0x42));
  assert.equal(entryHash(placed.block[0]!), 0x00018547);
  assert.equal(entryHash(placed.block[1]!), 0x0dd300e2);
  void inodeChecksumSeed;
});

test('POSIX ACLs: the xattr API format (version 2) becomes ext4\'s compact one (version 1)', () => {
  const api = new Uint8Array(4 + 5 * 8);
  const v = new DataView(api.buffer);
  v.setUint32(0, 2, true);
  const ents: [number, number, number][] = [[0x01, 7, 0xffffffff], [0x02, 5, 1000], [0x04, 5, 0xffffffff], [0x10, 7, 0xffffffff], [0x20, 4, 0xffffffff]];
  ents.forEach(([tag, perm, id], k) => {
    v.setUint16(4 + k * 8, tag, true);
    v.setUint16(6 + k * 8, perm, true);
    v.setUint32(8 + k * 8, id, true);
  });
  const disk = aclToDisk(api)!;
  assert.equal(hex(disk), '01000000' + '01000700' + '02000500e8030000' + '04000500' + '10000700' + '20000400');
  assert.equal(aclToDisk(api.subarray(0, 7)), undefined);
  const p = prepareXattr({ name: 'system.posix_acl_access', value: api });
  assert.ok('ok' in p && p.ok.index === 2 && p.ok.name.byteLength === 0 && hex(p.ok.value) === hex(disk));
});

test('prepareXattr: names outside the namespaces ext4 stores are refused, prefixes become indexes', () => {
  assert.ok('problem' in prepareXattr({ name: 'os2.foo', value: enc('x') }));
  assert.ok('problem' in prepareXattr({ name: 'system.posix_acl_access', value: enc('junk') }));
  const cap = prepareXattr({ name: 'security.capability', value: fromHex('0100000220000000000000000000000000000000') });
  assert.ok('ok' in cap && cap.ok.index === 6 && new TextDecoder().decode(cap.ok.name) === 'capability');
  assert.equal(placeXattrs([stored('user.huge', 'x'.repeat(1000))], 256, 32, 1024), undefined, 'more than a block holds');
});
