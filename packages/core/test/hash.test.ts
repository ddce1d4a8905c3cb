import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as zlib from 'node:zlib';
import { Sha256, crc32, crc32Combine, crc32c, crc32cUpdate, deterministicId, sha256, toHex } from '@imgkit/core';

function pseudoRandom(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
/** CRC-32 from zlib: the gzip trailer stores it little-endian (RFC 1952 §2.3.1). */
function zlibCrc32(data: Uint8Array): number {
  const gz = zlib.gzipSync(data);
  return new DataView(gz.buffer, gz.byteOffset + gz.byteLength - 8, 4).getUint32(0, true);
}

test('sha256: FIPS 180-4 example vectors', () => {
  assert.equal(toHex(sha256('')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(toHex(sha256('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(
    toHex(sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
  const million = new Sha256();
  const chunk = new Uint8Array(1000).fill(0x61);
  for (let i = 0; i < 1000; i++) million.update(chunk);
  assert.equal(toHex(million.digest()), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

test('sha256 equals node:crypto for every length around the block and padding edges, in any split', () => {
  const data = pseudoRandom(300, 7);
  for (let n = 0; n <= 200; n++) {
    const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
    assert.equal(toHex(sha256(data.subarray(0, n))), want, `length ${n}`);
    const split = (n * 37) % (n + 1);
    const inc = new Sha256().update(data.subarray(0, split)).update(data.subarray(split, n));
    assert.equal(toHex(inc.digest()), want, `length ${n} split at ${split}`);
  }
  const big = pseudoRandom(1 << 20, 3);
  assert.equal(toHex(sha256(big)), createHash('sha256').update(big).digest('hex'));
});

test('crc32: check value, zlib agreement, continuation and combine', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  for (const n of [1, 3, 64, 1000, 65537]) {
    const d = pseudoRandom(n, n);
    assert.equal(crc32(d), zlibCrc32(d), `length ${n}`);
    const cut = Math.floor(n / 3);
    assert.equal(crc32(d.subarray(cut), crc32(d.subarray(0, cut))), crc32(d), `continued at ${cut}`);
    for (const at of [0, cut, n]) {
      const a = d.subarray(0, at);
      const b = d.subarray(at);
      assert.equal(crc32Combine(crc32(a), crc32(b), b.byteLength), crc32(d), `combine ${n} at ${at}`);
    }
  }
});

/** CRC-32C one bit at a time (the definition), to check the table-driven code against. */
function crc32cBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

test('crc32c: check value, RFC 3720 B.4 vectors, bitwise agreement, continuation, raw form', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // RFC 3720 B.4 "CRC Examples": 32 bytes of zeros, of ones, ascending, descending
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  for (const n of [1, 7, 8, 9, 63, 1000, 4096, 65537]) {
    const d = pseudoRandom(n, n + 11);
    assert.equal(crc32c(d), crc32cBitwise(d), `length ${n}`);
    const cut = Math.floor(n / 3);
    assert.equal(crc32c(d.subarray(cut), crc32c(d.subarray(0, cut))), crc32c(d), `continued at ${cut}`);
    // the kernel's crc32c_le(seed, …): no inversions, so crc32c = ~crc32cUpdate(~0, …)
    assert.equal(~crc32cUpdate(0xffffffff, d) >>> 0, crc32c(d));
    assert.equal(crc32cUpdate(crc32cUpdate(0x12345678, d.subarray(0, cut)), d.subarray(cut)), crc32cUpdate(0x12345678, d));
  }
});

test('deterministicId: sha256 of the documented string, truncated; stable and input-sensitive', () => {
  const id = deterministicId('gpt-disk', 1700000000, 16, 'boot', 2);
  assert.equal(toHex(id), createHash('sha256').update('imgkit:gpt-disk:1700000000:boot:2').digest('hex').slice(0, 32));
  assert.deepEqual(deterministicId('gpt-disk', 1700000000, 16, 'boot', 2), id);
  assert.notDeepEqual(deterministicId('gpt-disk', 1700000001, 16, 'boot', 2), id);
  assert.notDeepEqual(deterministicId('gpt-disk', 1700000000, 16, 'boot', 3), id);
  assert.equal(deterministicId('fat-serial', 0, 4).byteLength, 4);
});
