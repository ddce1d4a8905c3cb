import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32cUpdate } from '@imgkit/core';
import {
  DxCountLimit,
  DxRootInfo,
  HASH_HALF_MD4,
  HASH_LEGACY,
  HASH_TEA,
  dirHash,
  encodeDxNode,
  encodeDxRoot,
  hashSeedWords,
  layoutHtree,
  nodeLimit,
  parseUuid,
  rootLimit,
} from '@imgkit/ext4';

// Golden hashes from e2fsprogs: debugfs -R "dx_hash -h <alg> -s e2936b0b-cfae-4bee-b2f1-b0c0a50ad3a5 <name>" (1.47.0)
const SEED = hashSeedWords(parseUuid('e2936b0b-cfae-4bee-b2f1-b0c0a50ad3a5', 'seed'));
const GOLDEN: [string, number, number, number][] = [
  ['.', HASH_HALF_MD4, 0x3c4d4e6e, 0x720b5925],
  ['.', HASH_TEA, 0x4691faaa, 0xe23fb801],
  ['.', HASH_LEGACY, 0x71d73e48, 0],
  ['hello', HASH_HALF_MD4, 0x13610566, 0x0928eb91],
  ['hello', HASH_TEA, 0xcb6778c0, 0xf6125ed7],
  ['hello', HASH_LEGACY, 0x32252546, 0],
  ['lost+found', HASH_HALF_MD4, 0x3c91de3a, 0x993624de],
  ['a-much-longer-file-name-that-spans-more-than-thirty-two-bytes.txt', HASH_HALF_MD4, 0x2fb4d0ec, 0xcda124ea],
  ['a-much-longer-file-name-that-spans-more-than-thirty-two-bytes.txt', HASH_TEA, 0xf97c8140, 0x80a981d3],
  ['a-much-longer-file-name-that-spans-more-than-thirty-two-bytes.txt', HASH_LEGACY, 0x22b8ea5a, 0],
  ['grüße', HASH_HALF_MD4, 0x3a4c9668, 0xd003ec55], // bytes ≥ 0x80 hash as signed chars
  ['grüße', HASH_TEA, 0xe4a77728, 0xa9855484],
  ['grüße', HASH_LEGACY, 0xcc69faba, 0],
];

test('dirHash: half_md4, tea and legacy agree with debugfs dx_hash (signed chars, seeded)', () => {
  for (const [name, v, hash, minor] of GOLDEN) {
    assert.deepEqual(dirHash(new TextEncoder().encode(name), v, SEED, false), { hash, minor }, `${name} version ${v}`);
  }
  // all-zero seed: the MD4 constants (debugfs -R "dx_hash -h half_md4 hello")
  assert.deepEqual(dirHash(new TextEncoder().encode('hello'), HASH_HALF_MD4, new Uint32Array(4), false), { hash: 0x1746da32, minor: 0x420013b5 });
});

test('htree limits: root 507 and node 510 entries per 4 KiB block with metadata_csum, 508 and 511 without', () => {
  assert.deepEqual([rootLimit(4096, true), nodeLimit(4096, true), rootLimit(4096, false), nodeLimit(4096, false)], [507, 510, 508, 511]);
  assert.deepEqual([rootLimit(1024, true), nodeLimit(1024, true)], [123, 126]);
});

test('layoutHtree: full leaves, hash ranges with the continuation bit, a second level when the root is full', () => {
  const names = (n: number, len: number, hash: (i: number) => number) => Array.from({ length: n }, (_, i) => ({ nameLen: len, hash: hash(i), minor: i }));
  // 12-byte names → 20-byte records; 4084 / 20 = 204 per leaf
  const l = layoutHtree(names(500, 12, (i) => i * 1000), 4096, true)!;
  assert.equal(l.indirectLevels, 0);
  assert.deepEqual(l.leaves.map((x) => x.end - x.start), [204, 204, 92]);
  assert.equal(l.leaves[1]!.hash, 204 * 1000);
  assert.equal(l.blockCount, 4);
  // equal hashes across a leaf boundary: the next leaf's hash carries bit 0
  const same = layoutHtree(names(300, 12, (i) => (i < 250 ? i * 2 : 1000)), 4096, true)!;
  assert.equal(same.leaves[1]!.hash, 204 * 2, 'a fresh hash');
  const col = layoutHtree(names(300, 12, () => 1000), 4096, true)!;
  assert.equal(col.leaves[1]!.hash, 1001, 'continued');
  // more leaves than the root holds: interior nodes
  const big = layoutHtree(names(508 * 204, 12, (i) => i * 2), 4096, true)!;
  assert.equal(big.indirectLevels, 1);
  assert.equal(big.leaves.length, 508);
  assert.deepEqual(big.nodes, [{ start: 0, end: 508 }]);
  assert.equal(big.blockCount, 1 + 1 + 508);
  // beyond two levels: undefined (large_dir)
  assert.equal(layoutHtree(names(rootLimit(1024, true) * nodeLimit(1024, true) * 50 + 1, 12, (i) => i * 2), 1024, true), undefined);
});

test('dx root and node: "." and ".." records, dx_root_info, count/limit, entries, dx_tail checksum', () => {
  const root = new Uint8Array(4096);
  const seed = 0x1234;
  encodeDxRoot(20, 2, HASH_HALF_MD4, 0, [{ hash: 0, block: 1 }, { hash: 0x80000000, block: 2 }], 4096, true, seed, root);
  const v = new DataView(root.buffer);
  assert.equal(v.getUint32(0, true), 20);
  assert.equal(v.getUint16(4, true), 12);
  assert.equal(v.getUint16(16, true), 4096 - 12, '".." spans the rest of the block');
  assert.deepEqual({ ...DxRootInfo.decode(root, 24) }, { reservedZero: 0, hashVersion: 1, infoLength: 8, indirectLevels: 0, unusedFlags: 0 });
  assert.deepEqual({ ...DxCountLimit.decode(root, 32) }, { limit: 507, count: 2 });
  assert.equal(v.getUint32(36, true), 1, 'entry 0: block only');
  assert.deepEqual([v.getUint32(40, true), v.getUint32(44, true)], [0x80000000, 2]);
  const tailAt = 32 + 507 * 8;
  const want = crc32cUpdate(crc32cUpdate(seed, root.subarray(0, 32 + 2 * 8)), new Uint8Array(8));
  assert.equal(v.getUint32(tailAt + 4, true), want);
  const node = new Uint8Array(1024);
  encodeDxNode([{ hash: 0, block: 3 }], 1024, undefined, node);
  const nv = new DataView(node.buffer);
  assert.deepEqual([nv.getUint32(0, true), nv.getUint16(4, true)], [0, 1024]);
  assert.deepEqual({ ...DxCountLimit.decode(node, 8) }, { limit: 127, count: 1 });
});
