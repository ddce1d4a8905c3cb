import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LAST_LONG_ENTRY, LfnEntry, decodeLfnEntries, encodeLfnEntries, lfnEntryCount, nameBytes, shortNameChecksum } from '@imgkit/fat';

test('long-name entry: offsets match fatgen103 "FAT Long Directory Entry Structure"', () => {
  const table: [string, number, number][] = [['ord', 0, 1], ['name1', 1, 10], ['attr', 11, 1], ['type', 12, 1], ['checksum', 13, 1], ['name2', 14, 12], ['fstClusLo', 26, 2], ['name3', 28, 4]];
  const fields = LfnEntry.fields as Record<string, { offset: number; size: number }>;
  assert.equal(LfnEntry.size, 32);
  assert.deepEqual(Object.keys(fields).sort(), table.map(([n]) => n).sort());
  for (const [n, o, s] of table) assert.deepEqual([fields[n]!.offset, fields[n]!.size], [o, s], n);
});

test('long-name entries: the bytes mcopy 4.0.32 wrote for "Mixed Case Long Name.html" (golden)', () => {
  // Root directory of `mkfs.fat -C l.img 1024; mcopy -i l.img "Mixed Case Long Name.html" ::/`, first 64 bytes.
  const golden =
    '426e00670020004e0061000f009c6d0065002e00680074006d0000006c0000000' + '14d0069007800650064000f009c20004300610073006500200000004c006f00';
  const short = nameBytes('MIXEDC~1', 'HTM');
  assert.equal(shortNameChecksum(short), 0x9c);
  const out = new Uint8Array(64);
  assert.equal(encodeLfnEntries('Mixed Case Long Name.html', 0x9c, out, 0), 64);
  assert.equal(Buffer.from(out).toString('hex'), golden);
  assert.equal(decodeLfnEntries(out, 2), 'Mixed Case Long Name.html');
  const first = LfnEntry.decode(out, 0);
  assert.equal(first.ord, 2 | LAST_LONG_ENTRY);
  assert.equal(first.attr, 0x0f);
  assert.equal(LfnEntry.decode(out, 32).ord, 1);
});

test('checksum: fatgen103 ChkSum (rotate right, add) on known names', () => {
  // Computed by hand: each step sum = ((sum & 1) << 7) + (sum >> 1) + byte, mod 256.
  let sum = 0;
  for (const b of Buffer.from('README  TXT', 'latin1')) sum = ((((sum & 1) << 7) | (sum >> 1)) + b) & 0xff;
  assert.equal(shortNameChecksum(nameBytes('README', 'TXT')), sum);
  assert.notEqual(shortNameChecksum(nameBytes('README', 'TXT')), shortNameChecksum(nameBytes('README', 'TXU')));
});

test('padding: one 0x0000 after the name when there is room, then 0xFFFF; none when the name fills its entries', () => {
  const u16 = (b: Uint8Array, at: number) => b[at]! | (b[at + 1]! << 8);
  const a = new Uint8Array(32);
  encodeLfnEntries('abc', 1, a, 0);
  assert.deepEqual([u16(a, 1), u16(a, 3), u16(a, 5), u16(a, 7), u16(a, 9)], [0x61, 0x62, 0x63, 0x0000, 0xffff]);
  assert.equal(u16(a, 30), 0xffff);
  const b = new Uint8Array(32);
  encodeLfnEntries('abcdefghijklm', 1, b, 0); // exactly 13 units
  assert.equal(u16(b, 30), 0x6d);
  assert.equal(decodeLfnEntries(b, 1), 'abcdefghijklm');
  assert.deepEqual([1, 12, 13, 14, 26, 27, 255].map(lfnEntryCount), [1, 1, 1, 2, 2, 3, 20]);
  // Characters outside the BMP are stored as their UTF-16 surrogate pair.
  const c = new Uint8Array(32);
  encodeLfnEntries('🙂', 1, c, 0);
  assert.deepEqual([u16(c, 1), u16(c, 3), u16(c, 5)], [0xd83d, 0xde42, 0]);
  assert.equal(decodeLfnEntries(c, 1), '🙂');
});
