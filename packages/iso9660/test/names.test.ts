/** Level 1–3 name mangling, §9.3 ordering, Joliet names, and Rock Ridge entry encodings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError, toHex } from '@imgkit/core';
import { compareIsoIdentifiers, isoCandidate, jolietName, mangleDirectory, nmEntries, pxEntry, slEntries, splitSystemUse, spEntry, tfEntry, uniqueJolietNames } from '@imgkit/iso9660';

test('candidates per level: d-characters, 8.3 at level 1, 30/31 characters at 2 and 3', () => {
  const cases: [string, boolean, 1 | 2 | 3, string, string][] = [
    ['readme.txt', false, 1, 'README', 'TXT'],
    ['a-very-long-name.html', false, 1, 'A_VERY_L', 'HTM'],
    ['.bashrc', false, 1, '', 'BAS'],
    ['Makefile', false, 2, 'MAKEFILE', ''],
    ['x.tar.gz', false, 2, 'X_TAR', 'GZ'],
    ['日本語.txt', false, 3, '___', 'TXT'],
    ['some.dir', true, 1, 'SOME_DIR', ''],
    ['a'.repeat(40), true, 2, 'A'.repeat(31), ''],
    ['b'.repeat(40) + '.c', false, 3, 'B'.repeat(29), 'C'],
  ];
  for (const [name, dir, level, n, e] of cases) assert.deepEqual(isoCandidate(name, dir, level), { name: n, ext: e }, name);
});

test('collisions after mangling get unique, deterministic identifiers', () => {
  const items = ['longfilename1.txt', 'LongFileName1.TXT', 'longfilename2.txt', 'noext', 'NOEXT'].map((name) => ({ name, isDir: false }));
  const ids = mangleDirectory(items, 1);
  assert.deepEqual(ids, ['LONGFILE.TXT;1', 'LONGFI_1.TXT;1', 'LONGFI_2.TXT;1', 'NOEXT.;1', 'NOEXT_1.;1']);
  assert.deepEqual(mangleDirectory(items, 1), ids);
  // A directory and a file may share a name stem: their identifiers differ (no ".;1").
  assert.deepEqual(mangleDirectory([{ name: 'a', isDir: true }, { name: 'a', isDir: false }], 1), ['A', 'A.;1']);
});

test('§9.3 order: name then extension, padded with spaces; version descending', () => {
  const ids = ['AB.;1', 'A.B;1', 'A_.;1', 'A.;2', 'A.;1', 'A'];
  assert.deepEqual([...ids].sort(compareIsoIdentifiers), ['A.;2', 'A.;1', 'A', 'A.B;1', 'AB.;1', 'A_.;1']);
});

test('Joliet: forbidden and non-BMP characters become "_" with a warning; limits', () => {
  const warned: string[] = [];
  assert.equal(jolietName('a:b?🙂', 'p', 64, (w) => warned.push(w.code), false), 'a_b__');
  assert.deepEqual(warned, [ErrorCodes.NAME_UNENCODABLE]);
  assert.throws(() => jolietName('x'.repeat(65), 'd/x', 64, undefined, false), (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_TOO_LONG' && e.path === 'd/x');
  assert.equal(jolietName('x'.repeat(103), 'd/x', 103, undefined, false).length, 103);
  assert.deepEqual(uniqueJolietNames(['a_b', 'a_b', 'a_b'], 64), ['a_b', 'a_b~1', 'a_b~2']);
});

test('Rock Ridge entries: SP, PX (1.12, with inode), TF, NM goldens', () => {
  assert.equal(toHex(spEntry()), '5350070 1beef00'.replace(/ /g, ''));
  const px = pxEntry(0o100644, 2, 1000, 100, 7);
  assert.equal(px.byteLength, 44);
  assert.equal(toHex(px.subarray(0, 12)), '50582c01' + 'a4810000000081a4');
  assert.equal(toHex(px.subarray(36, 44)), '0700000000000007');
  const tf = tfEntry(0);
  assert.equal(toHex(tf), '54461a010e' + '46010100000000'.repeat(3));
  const nm = nmEntries('n'.repeat(300));
  assert.equal(nm.length, 2);
  assert.equal(nm[0]![4], 1, 'CONTINUE on the first NM');
  assert.equal(nm[0]!.byteLength, 255);
  assert.equal(nm[1]![4], 0);
});

test('SL: components, ROOT/PARENT flags, long targets cut only inside a component', () => {
  const [sl] = slEntries('/usr/../bin');
  assert.equal(toHex(sl!), '534c' + '13' + '01' + '00' + '0800' + '0003757372' + '0400' + '0003' + '62696e');
  const long = slEntries(`${'x'.repeat(200)}/${'y'.repeat(200)}/z`);
  assert.ok(long.length >= 2);
  for (let i = 0; i < long.length - 1; i++) {
    assert.equal(long[i]![4], 1, 'SL CONTINUE');
    // The last component record of a continued entry carries COMP_CONTINUE.
    let at = 5;
    let lastFlags = -1;
    while (at < long[i]!.byteLength) {
      lastFlags = long[i]![at]!;
      at += 2 + long[i]![at + 1]!;
    }
    assert.equal(lastFlags & 1, 1);
  }
  // Reassemble as Linux does and compare.
  let path = '';
  long.forEach((e) => {
    let at = 5;
    while (at < e.byteLength) {
      const flags = e[at]!;
      const len = e[at + 1]!;
      path += new TextDecoder().decode(e.subarray(at + 2, at + 2 + len));
      at += 2 + len;
      if (!(flags & 1)) path += '/';
    }
  });
  assert.equal(path.replace(/\/$/, ''), `${'x'.repeat(200)}/${'y'.repeat(200)}/z`);
});

test('System Use split: whole entries inline, the rest in continuation areas', () => {
  const e = (n: number) => new Uint8Array(n);
  const small = splitSystemUse([e(40), e(40)], 200, 2048);
  assert.equal(small.areas.length, 0);
  const big = splitSystemUse([e(44), e(26), e(250), e(250), e(9)], 200, 2048);
  assert.deepEqual(big.inline.map((x) => x.byteLength), [44, 26]);
  assert.deepEqual(big.areas.map((a) => a.map((x) => x.byteLength)), [[250, 250, 9]]);
  const many = splitSystemUse(Array.from({ length: 20 }, () => e(250)), 200, 2048);
  for (const a of many.areas) assert.ok(a.reduce((s, x) => s + x.byteLength, 0) <= 2048);
  assert.equal(many.areas.flat().length + many.inline.length, 20);
});
