import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FieldRangeError,
  achars,
  alignUp,
  ascii,
  asciiz,
  bytes,
  collectBytes,
  compareBytes,
  compareUtf8,
  concatBytes,
  dchars,
  fromHex,
  hex,
  i32le,
  i8,
  isAllZero,
  octal,
  padLength,
  rechunk,
  struct,
  toHex,
  u16be,
  u16both,
  u16le,
  u32be,
  u32both,
  u32le,
  u64be,
  u64le,
  u8,
  utf16be,
} from '@imgkit/core';

const Sample = struct('test.sample', 48, {
  a: u8(0),
  b: u16le(1),
  c: u16be(3),
  d: u32le(5),
  e: u32be(9),
  f: u64le(13),
  g: u64be(21),
  h: i8(29),
  i: i32le(30),
  j: u16both(34),
  k: u32both(38),
  l: bytes(46, 2),
});
const sampleValues = {
  a: 0x01,
  b: 0x0302,
  c: 0x0405,
  d: 0x09080706,
  e: 0x0a0b0c0d,
  f: 0x1615141312111000n,
  g: 0x2021222324252627n,
  h: -2,
  i: -0x12345678,
  j: 0x1234,
  k: 0x12345678,
  l: new Uint8Array([0xaa, 0xbb]),
};

test('struct: fields land at their offsets with their byte order (golden hex) and decode back', () => {
  const b = Sample.encode(sampleValues);
  assert.equal(b.byteLength, 48);
  assert.equal(
    toHex(b),
    '01' + '0203' + '0405' + '06070809' + '0a0b0c0d' + '0010111213141516' + '2021222324252627' + 'fe' + '88a9cbed' + '34121234' + '7856341212345678' + 'aabb',
  );
  assert.deepEqual(Sample.decode(b), sampleValues);
  // Encoding into a larger buffer at an offset leaves the rest alone.
  const big = new Uint8Array(60).fill(0xee);
  Sample.encode(sampleValues, big, 6);
  assert.deepEqual(big.subarray(6, 54), b);
  assert.equal(big[5], 0xee);
  assert.equal(big[54], 0xee);
  assert.deepEqual(Sample.decode(big, 6), sampleValues);
  assert.throws(() => Sample.encode(sampleValues, new Uint8Array(50), 3), RangeError);
  assert.throws(() => Sample.decode(new Uint8Array(47)), RangeError);
  assert.throws(() => struct('bad', 4, { x: u32le(1) }), RangeError);
});

test('struct: values that do not fit throw FieldRangeError naming <struct>.<field>', () => {
  const cases: [string, unknown][] = [
    ['a', 256],
    ['a', -1],
    ['a', 1.5],
    ['b', 0x10000],
    ['c', 0x10000],
    ['d', 2 ** 32],
    ['e', -1],
    ['f', 1n << 64n],
    ['g', -1n],
    ['h', 128],
    ['h', -129],
    ['i', 2 ** 31],
    ['j', 0x10000],
    ['k', 2 ** 32],
    ['l', new Uint8Array(3)],
  ];
  for (const [field, value] of cases) {
    assert.throws(
      () => Sample.encode({ ...sampleValues, [field]: value } as typeof sampleValues),
      (err: unknown) => err instanceof FieldRangeError && err.code === 'E_FIELD_RANGE' && err.field === `test.sample.${field}`,
      `${field} = ${String(value)}`,
    );
  }
  const { a: _omit, ...missing } = sampleValues;
  assert.throws(() => Sample.encode(missing as typeof sampleValues), { code: 'E_FIELD_RANGE', field: 'test.sample.a' });
  // Edge values that do fit.
  const edges = { ...sampleValues, a: 255, b: 0xffff, d: 0xffffffff, f: (1n << 64n) - 1n, h: -128, i: -(2 ** 31), k: 0xffffffff };
  assert.deepEqual(Sample.decode(Sample.encode(edges)), edges);
});

test('text fields: d-/a-characters, ASCII padding, UTF-16BE (Joliet), hex (newc) and octal (tar)', () => {
  const T = struct('test.text', 46, {
    d: dchars(0, 8),
    a: achars(8, 6),
    s: ascii(14, 4),
    z: asciiz(18, 4),
    u: utf16be(22, 8),
    x: hex(30, 8),
    o: octal(38, 8),
  });
  const v = { d: 'CD_01', a: 'A B.', s: 'ab', z: 'q', u: 'Ω1', x: 0x1a2b, o: 0o755 };
  const b = T.encode(v);
  assert.equal(new TextDecoder().decode(b.subarray(0, 22)), 'CD_01   A B.  ab  q\0\0\0');
  assert.equal(toHex(b.subarray(22, 30)), '03a9003100200020');
  assert.equal(new TextDecoder().decode(b.subarray(30, 46)), '00001A2B0000755\0');
  assert.deepEqual(T.decode(b), v);
  for (const [field, value] of [
    ['d', 'lower'],
    ['d', 'TOOLONGNAME'],
    ['a', 'a'],
    ['s', 'é'],
    ['u', '12345'],
    ['x', 2 ** 32],
    ['o', 0o10000000],
  ] as const) {
    assert.throws(() => T.encode({ ...v, [field]: value }), { code: 'E_FIELD_RANGE', field: `test.text.${field}` }, `${field} = ${value}`);
  }
  assert.ok(Number.isNaN(hex(0, 4).read(new DataView(new ArrayBuffer(4)), new TextEncoder().encode('12G4'), 0)));
  // hex: every digit, both ends of the range, upper case, zero-filled on the left
  const H = struct('test.hex', 8, { x: hex(0, 8) });
  for (const [n, text] of [
    [0, '00000000'],
    [0xffffffff, 'FFFFFFFF'],
    [0x0abcdef1, '0ABCDEF1'],
    [0x23456789, '23456789'],
    [9, '00000009'],
  ] as const) {
    assert.equal(new TextDecoder().decode(H.encode({ x: n })), text, `hex ${n}`);
    assert.equal(H.decode(H.encode({ x: n })).x, n);
  }
});

test('bytes helpers: UTF-8 order, alignment, hex, zero check, rechunk', async () => {
  const names = ['a', 'B', 'é', '\uFF71', '\u{1F600}', 'a-b', 'a', 'ab', ''];
  const byBytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual([...names].sort(compareUtf8), byBytes);
  assert.ok(compareUtf8('\uFF71', '\u{1F600}') < 0 && '\uFF71' > '\u{1F600}'); // differs from UTF-16 order
  assert.equal(compareBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])), -1);
  assert.deepEqual([alignUp(0, 512), alignUp(1, 512), alignUp(512, 512), alignUp(7, 3)], [0, 512, 512, 9]);
  assert.deepEqual([padLength(110, 4), padLength(112, 4)], [2, 0]);
  assert.equal(toHex(fromHex('00ff7A')), '00ff7a');
  assert.deepEqual(concatBytes([new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3])]), new Uint8Array([1, 2, 3]));
  const z = new Uint8Array(1027);
  assert.ok(isAllZero(z) && isAllZero(z.subarray(1)));
  z[1026] = 1;
  assert.ok(!isAllZero(z) && !isAllZero(z.subarray(3)));
  async function* chunks() {
    for (const n of [3, 0, 10, 1, 7]) yield new Uint8Array(n).fill(n);
  }
  const sizes: number[] = [];
  const parts: Uint8Array[] = [];
  for await (const c of rechunk(chunks(), 4)) {
    sizes.push(c.byteLength);
    parts.push(c.slice());
  }
  assert.deepEqual(sizes, [4, 4, 4, 4, 4, 1]);
  assert.deepEqual(concatBytes(parts), await collectBytes(chunks()));
});
