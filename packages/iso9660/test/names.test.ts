/** Level 1–3 name mangling, §9.3 ordering, Joliet names, and Rock Ridge entry encodings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError, toHex } from '@imgkit/core';
import { compareIsoIdentifiers, erEntry, isoCandidate, jolietName, mangleDirectory, nmEntries, pxEntry, slEntries, splitSystemUse, spEntry, tfEntry, truncatedJolietName, uniqueJolietNames } from '@imgkit/iso9660';

test('candidates per level, as xorriso names them: 8.3 at level 1, 30 characters at 2 and 3', () => {
  const cases: [string, boolean, 1 | 2 | 3, string, string | undefined][] = [
    ['readme.txt', false, 1, 'README', 'TXT'],
    ['a-very-long-name.html', false, 1, 'A_VERY_L', 'HTM'],
    ['.bashrc', false, 1, '_BASHRC', ''],
    ['.ab', false, 1, '', 'AB'],
    ['Makefile', false, 2, 'MAKEFILE', ''],
    ['x.tar.gz', false, 2, 'X_TAR', 'GZ'],
    ['日本語.txt', false, 3, '___', 'TXT'],
    ['some.dir', true, 1, 'SOME_DIR', undefined],
    ['a'.repeat(40), true, 2, 'A'.repeat(31), undefined],
    ['b'.repeat(40) + '.c', false, 3, 'B'.repeat(29), 'C'],
    // xorriso keeps an extension whole while name and extension fit 30 characters …
    ['file.longextension', false, 2, 'FILE', 'LONGEXTENSION'],
    // … and cuts it to make room for the name down to 3 characters.
    ['a_very_long_file_name_with_many_chars.extension', false, 3, 'A_VERY_LONG_FILE_NAME_WITH_', 'EXT'],
    ['short.averyveryverylongextensionname', false, 3, 'SHORT', 'AVERYVERYVERYLONGEXTENSIO'],
  ];
  for (const [name, dir, level, n, e] of cases) assert.deepEqual(isoCandidate(name, dir, level), { name: n, ext: e }, name);
  // xorriso's mkisofs emulation keeps dots in directory names.
  assert.deepEqual(isoCandidate('some.dir', true, 3, true), { name: 'SOME', ext: 'DIR' });
  assert.deepEqual(mangleDirectory([{ name: 'some.dir', isDir: true }, { name: 'plain', isDir: true }], 3, true), ['SOME.DIR', 'PLAIN']);
});

test('collisions after mangling get unique, deterministic identifiers', () => {
  const items = ['longfilename1.txt', 'LongFileName1.TXT', 'longfilename2.txt', 'noext', 'NOEXT'].map((name) => ({ name, isDir: false }));
  const ids = mangleDirectory(items, 1);
  // As xorriso: every member of a clashing group is numbered, the name cut for the digit.
  assert.deepEqual(ids, ['LONGFIL0.TXT;1', 'LONGFIL1.TXT;1', 'LONGFIL2.TXT;1', 'NOEXT0.;1', 'NOEXT1.;1']);
  // What xorriso 1.5.4 named GRUB's modules (level 1).
  assert.deepEqual(mangleDirectory(['gcry_sha1.mod', 'gcry_sha256.mod', 'gcry_sha512.mod', 'search.mod', 'search_fs_file.mod', 'search_fs_uuid.mod', 'search_label.mod'].map((name) => ({ name, isDir: false })), 1), ['GCRY_SH0.MOD;1', 'GCRY_SH1.MOD;1', 'GCRY_SH2.MOD;1', 'SEARCH.MOD;1', 'SEARCH_0.MOD;1', 'SEARCH_1.MOD;1', 'SEARCH_L.MOD;1']);
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
  assert.equal(jolietName('a:b?🙂', 'p', 64, false, false, (w) => warned.push(w.code), false), 'a_b__');
  assert.deepEqual(warned, [ErrorCodes.NAME_UNENCODABLE]);
  assert.throws(() => jolietName('x'.repeat(65), 'd/x', 64, false, false, undefined, false), (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_TOO_LONG' && e.path === 'd/x');
  assert.equal(jolietName('x'.repeat(103), 'd/x', 103, false, false, undefined, false).length, 103);
  assert.deepEqual(uniqueJolietNames(['a_b', 'a_b', 'a_b'], 64), ['a_b', 'a_b~1', 'a_b~2']);
});

test('Joliet names over the limit, shortened as xorriso does (with a warning; strict makes it an error)', () => {
  // What xorriso 1.5.4 wrote for these names (-J, 64 units).
  const cases: [string, boolean, string][] = [
    [`${'x'.repeat(70)}.extension`, false, `${'x'.repeat(61)}.ext`],
    ['y'.repeat(70), false, 'y'.repeat(64)],
    [`${'z'.repeat(62)}.tar.gz`, false, `${'z'.repeat(62)}.gz`],
    ['d'.repeat(70), true, 'd'.repeat(64)],
  ];
  for (const [name, dir, want] of cases) {
    const warned: string[] = [];
    assert.equal(jolietName(name, `p/${name}`, 64, dir, true, (w) => warned.push(w.code), false), want);
    assert.deepEqual(warned, [ErrorCodes.NAME_TOO_LONG]);
    assert.equal(truncatedJolietName(name, 64, dir), want);
  }
  assert.throws(() => jolietName('y'.repeat(70), 'p/y', 64, false, true, undefined, true), (e: unknown) => e instanceof ImgkitError && e.code === 'E_NAME_TOO_LONG' && e.path === 'p/y');
});

test('Rock Ridge entries: SP, PX (1.12, with inode), TF, NM goldens', () => {
  assert.equal(toHex(spEntry()), '5350070 1beef00'.replace(/ /g, ''));
  const px = pxEntry(0o100644, 2, 1000, 100, 7);
  assert.equal(px.byteLength, 44);
  assert.equal(toHex(px.subarray(0, 12)), '50582c01' + 'a4810000000081a4');
  assert.equal(toHex(px.subarray(36, 44)), '0700000000000007');
  // RRIP 1.10 (mkisofs, xorriso -as mkisofs): no serial number, 36 bytes; ER "RRIP_1991A", 237 bytes.
  const px110 = pxEntry(0o100644, 2, 1000, 100, 7, '1.10');
  assert.equal(px110.byteLength, 36);
  assert.equal(toHex(px110.subarray(0, 4)), '50582401');
  assert.equal(erEntry('1.10').byteLength, 237);
  assert.equal(new TextDecoder().decode(erEntry('1.10').subarray(8, 18)), 'RRIP_1991A');
  assert.equal(erEntry().byteLength, 8 + 9 + 72 + 93);
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
