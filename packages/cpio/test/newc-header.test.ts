import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { CPIO_HEADER_SIZE, NewcHeader, byteSum, encodeEntryHead } from '@imgkit/cpio';

const FIELDS: [string, number][] = [
  // buffer-format.rst "cpio_header" table: name, offset
  ['magic', 0], ['ino', 6], ['mode', 14], ['uid', 22], ['gid', 30], ['nlink', 38], ['mtime', 46], ['filesize', 54],
  ['devmajor', 62], ['devminor', 70], ['rdevmajor', 78], ['rdevminor', 86], ['namesize', 94], ['check', 102],
];

test('newc header: offsets and widths match buffer-format.rst', () => {
  assert.equal(NewcHeader.size, 110);
  assert.equal(CPIO_HEADER_SIZE, 110);
  for (const [name, offset] of FIELDS) {
    const f = (NewcHeader.fields as Record<string, { offset: number; size: number }>)[name]!;
    assert.equal(f.offset, offset, name);
    assert.equal(f.size, name === 'magic' ? 6 : 8, name);
  }
});

const SAMPLE = {
  magic: '070701', ino: 0x2d1, mode: 0o100755, uid: 0, gid: 0, nlink: 1, mtime: 0x5f5e1000, filesize: 5,
  devmajor: 0, devminor: 0, rdevmajor: 0, rdevminor: 0, check: 0,
};

test('newc header: literal golden bytes (name "init", padding to 4)', () => {
  const head = encodeEntryHead(SAMPLE, new TextEncoder().encode('init'));
  const expected =
    '070701' + '000002D1' + '000081ED' + '00000000' + '00000000' + '00000001' + '5F5E1000' + '00000005' +
    '00000000' + '00000000' + '00000000' + '00000000' + '00000005' + '00000000' + 'init\0';
  // 110 + 5 = 115 → padded to 116
  assert.equal(head.byteLength, 116);
  assert.equal(new TextDecoder().decode(head.subarray(0, 115)), expected);
  assert.equal(head[115], 0);
});

test('newc header: decode(encode(x)) === x', () => {
  const values = { ...SAMPLE, namesize: 5 };
  assert.deepEqual(NewcHeader.decode(NewcHeader.encode(values)), values);
});

test('newc header: name padding for each name length mod 4', () => {
  for (const [len, total] of [[1, 112], [2, 116], [3, 116], [4, 116], [5, 116], [6, 120]] as const) {
    // name of len bytes + NUL after 110 bytes, rounded up to 4
    assert.equal(encodeEntryHead(SAMPLE, new Uint8Array(len).fill(0x61)).byteLength, total, `len ${len}`);
  }
});

test('newc header: values beyond 8 hex digits throw E_FIELD_RANGE naming the field', () => {
  assert.throws(
    () => NewcHeader.encode({ ...SAMPLE, filesize: 2 ** 32, namesize: 2 }),
    (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.FIELD_RANGE && e.field === 'cpio.newc.filesize',
  );
});

test('byteSum: 32-bit sum of bytes, wraps', () => {
  assert.equal(byteSum(new Uint8Array([1, 2, 255])), 258);
  assert.equal(byteSum(new Uint8Array([1]), 0xffffffff), 0);
});
