/**
 * Short names. The expected names in the first table are what `mcopy` (mtools 4.0.32) generated
 * for the same long names copied one by one in this order into an empty `mkfs.fat` image, as shown
 * by `mdir` (test/fat.test.ts repeats that comparison against mtools itself).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes } from '@imgkit/core';
import { NT_LOWER_BASE, NT_LOWER_EXT, assignShortNames, basisName, foldName, longNameProblem, replaceInvalid, shortNameText, withTail } from '@imgkit/fat';

// [long name, short name, NT flags, long name needed]
const MTOOLS: [string, string, number, boolean][] = [
  ['.bashrc', 'BASHRC~1', 0, true],
  ['12345678.123', '12345678.123', 0, false],
  ['123456789.12', '123456~1.12', 0, true],
  ['@home', '@HOME', NT_LOWER_BASE, false],
  ['MAKEFILE.AM', 'MAKEFILE.AM', 0, false],
  ['Makefile', 'MAKEFILE', 0, true],
  ['MiXeD.txt', 'MIXED.TXT', 0, true],
  ['README.TXT', 'README.TXT', 0, false],
  ['UPPER.txt', 'UPPER.TXT', NT_LOWER_EXT, false],
  ['a b c d e f.txt', 'ABCD~1.TXT', 0, true],
  ['a+b.txt', 'A_B~1.TXT', 0, true],
  ['a,b', 'A_B~1', 0, true],
  ['ab[1].c', 'AB_1_~1.C', 0, true],
  ['abc~1.txt', 'ABC~1.TXT', NT_LOWER_BASE | NT_LOWER_EXT, false],
  ['aux.txt', 'AUX~1.TXT', 0, true],
  ['file.html', 'FILE~1.HTM', 0, true],
  ['it\'s.txt', 'IT_S~1.TXT', 0, true],
  ['longfilename1.txt', 'LONGFI~1.TXT', 0, true],
  ['longfilename10.txt', 'LONGFI~2.TXT', 0, true],
  ['longfilename11.txt', 'LONGFI~3.TXT', 0, true],
  ['longfilename2.txt', 'LONGFI~4.TXT', 0, true],
  ['longfilename3.txt', 'LONGFI~5.TXT', 0, true],
  ['longfilename4.txt', 'LONGFI~6.TXT', 0, true],
  ['longfilename5.txt', 'LONGFI~7.TXT', 0, true],
  ['longfilename6.txt', 'LONGFI~8.TXT', 0, true],
  ['longfilename7.txt', 'LONGFI~9.TXT', 0, true],
  ['longfilename8.txt', 'LONGF~10.TXT', 0, true],
  ['longfilename9.txt', 'LONGF~11.TXT', 0, true],
  ['lower.TXT', 'LOWER.TXT', NT_LOWER_BASE, false],
  ['readme2.txt', 'README2.TXT', NT_LOWER_BASE | NT_LOWER_EXT, false],
  ['semi;colon', 'SEMI_C~1', 0, true],
  ['short', 'SHORT', NT_LOWER_BASE, false],
  ['tab=eq', 'TAB_EQ~1', 0, true],
  ['trailing.dots.x', 'TRAILI~1.X', 0, true],
  ['verylongname', 'VERYLO~1', 0, true],
  ['with space', 'WITHSP~1', 0, true],
  ['x.abcd', 'X~1.ABC', 0, true],
  ['x.y.z', 'XY~1.Z', 0, true],
  ['{brace}', '{BRACE}', NT_LOWER_BASE, false],
];

test('short names: as mtools generates them for the same names in the same order', () => {
  const got = assignShortNames(MTOOLS.map(([n]) => n));
  const table = got.map((s, i) => [MTOOLS[i]![0], shortNameText(s.bytes), s.ntCase, s.needsLfn]);
  assert.deepEqual(table, MTOOLS);
});

test('short names: a generated tail never takes the name of an entry literally called that', () => {
  // "longname~1.txt" sorts after "longname.txt" but is reserved first.
  const got = assignShortNames(['Longname.txt.bak', 'LONGNA~1.BAK', 'longna~2.bak']).map((s) => shortNameText(s.bytes));
  assert.deepEqual(got, ['LONGNA~3.BAK', 'LONGNA~1.BAK', 'LONGNA~2.BAK']);
});

test('short names: tails grow past ~9 and ~99, cutting the base (mtools autorename)', () => {
  assert.equal(withTail('ABCDEFGH', 1), 'ABCDEF~1');
  assert.equal(withTail('ABCDEFGH', 10), 'ABCDE~10');
  assert.equal(withTail('AB', 9), 'AB~9');
  assert.equal(withTail('AB', 10), 'AB~10');
  assert.equal(withTail('AB', 123456), 'A~123456');
  const names = Array.from({ length: 120 }, (_, i) => `same prefix ${String(i).padStart(3, '0')}.dat`);
  const got = assignShortNames(names).map((s) => shortNameText(s.bytes));
  assert.equal(new Set(got).size, 120);
  assert.equal(got[0], 'SAMEPR~1.DAT');
  assert.equal(got[9], 'SAMEP~10.DAT');
  assert.equal(got[99], 'SAME~100.DAT');
});

test('short names: non-ASCII characters become "_" and force a tail (no OEM code page is written)', () => {
  const b = basisName('grüße.txt');
  assert.deepEqual([b.base, b.ext, b.tail, b.lfn], ['GR__E', 'TXT', true, true]);
  assert.equal(shortNameText(assignShortNames(['日本語'])[0]!.bytes), '___~1');
  assert.equal(shortNameText(assignShortNames(['🙂'])[0]!.bytes), '_~1');
});

test('long names: what FAT refuses (E_NAME_UNENCODABLE / E_NAME_TOO_LONG), and the opt-in replacement', () => {
  for (const bad of ['a*b', 'q?', 'c:d', 'x"y', 'l<g>', 'p|q', 'back\\slash', 'tab\there', 'dot.', 'space ', 'dots...']) {
    assert.equal(longNameProblem(bad)?.code, ErrorCodes.NAME_UNENCODABLE, bad);
  }
  assert.equal(longNameProblem('x'.repeat(256))?.code, ErrorCodes.NAME_TOO_LONG);
  for (const ok of ['x'.repeat(255), ' leading space', '.hidden', 'semi;colon', 'a+b=c[d]', 'grüße', '🙂', 'with space.txt']) {
    assert.equal(longNameProblem(ok), undefined, ok);
  }
  assert.equal(replaceInvalid('a*b?c'), 'a_b_c');
  assert.equal(replaceInvalid('trail. . '), 'trail');
  assert.equal(replaceInvalid('...'), '_');
});

test('names compare without case, as FAT drivers compare them', () => {
  assert.equal(foldName('ReadMe.txt'), foldName('README.TXT'));
  assert.equal(foldName('grüße'), foldName('GRÜßE'));
  assert.notEqual(foldName('a'), foldName('b'));
});
