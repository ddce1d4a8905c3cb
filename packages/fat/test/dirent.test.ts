import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ATTR_ARCHIVE, DirEntry, FAT_TIME_MAX, FAT_TIME_MIN, fatTimestamp, fromFatTimestamp, nameBytes } from '@imgkit/fat';

test('directory entry: offsets match fatgen103 "FAT 32 Byte Directory Entry Structure"', () => {
  const table: [string, number, number][] = [
    ['name', 0, 11], ['attr', 11, 1], ['ntRes', 12, 1], ['crtTimeTenth', 13, 1], ['crtTime', 14, 2], ['crtDate', 16, 2], ['lstAccDate', 18, 2],
    ['fstClusHi', 20, 2], ['wrtTime', 22, 2], ['wrtDate', 24, 2], ['fstClusLo', 26, 2], ['fileSize', 28, 4],
  ];
  const fields = DirEntry.fields as Record<string, { offset: number; size: number }>;
  assert.equal(DirEntry.size, 32);
  assert.deepEqual(Object.keys(fields).sort(), table.map(([n]) => n).sort());
  for (const [n, o, s] of table) assert.deepEqual([fields[n]!.offset, fields[n]!.size], [o, s], n);
});

test('directory entry: golden bytes of the short entry mcopy 4.0.32 wrote for a 1-byte file in cluster 2', () => {
  // "MIXEDC~1HTM", ARCHIVE, times 0x2420 / dates 0x5d7e (2026-11-30 04:33:00), cluster 2, size 1.
  const golden = '4d49584544437e3148544d20000020247e5d7e5d000020247e5d020001000000';
  const t = fatTimestamp(Date.UTC(2026, 10, 30, 4, 33, 0) / 1000);
  assert.deepEqual([t.time, t.date], [0x2420, 0x5d7e]);
  const ours = DirEntry.encode({
    name: nameBytes('MIXEDC~1', 'HTM'), attr: ATTR_ARCHIVE, ntRes: 0, crtTimeTenth: 0, crtTime: t.time, crtDate: t.date, lstAccDate: t.date,
    fstClusHi: 0, wrtTime: t.time, wrtDate: t.date, fstClusLo: 2, fileSize: 1,
  });
  assert.equal(Buffer.from(ours).toString('hex'), golden);
  assert.deepEqual(DirEntry.decode(DirEntry.encode(DirEntry.decode(ours))), DirEntry.decode(ours));
});

test('FAT date and time: fields, 2-second steps, the odd second in the creation tenths, the 1980–2107 range', () => {
  // 2023-11-14 22:13:21 UTC: year 43, month 11, day 14; 22:13, 21 s → 10 (20 s) + 100 tenths.
  const t = fatTimestamp(1_700_000_001);
  assert.equal(t.date, (43 << 9) | (11 << 5) | 14);
  assert.equal(t.time, (22 << 11) | (13 << 5) | 10);
  assert.equal(t.tenths, 100);
  assert.equal(t.clamped, false);
  assert.equal(fromFatTimestamp(t.date, t.time), 1_700_000_000);
  assert.equal(fromFatTimestamp(t.date, t.time, t.tenths), 1_700_000_001);
  assert.deepEqual(fatTimestamp(0), { ...fatTimestamp(FAT_TIME_MIN), clamped: true });
  assert.deepEqual(fatTimestamp(FAT_TIME_MIN), { date: (0 << 9) | (1 << 5) | 1, time: 0, tenths: 0, clamped: false });
  assert.deepEqual(fatTimestamp(2 ** 33), { ...fatTimestamp(FAT_TIME_MAX), clamped: true });
  const max = fatTimestamp(FAT_TIME_MAX);
  assert.equal(max.date >> 9, 127);
  assert.equal(fromFatTimestamp(max.date, max.time), FAT_TIME_MAX);
  // Every day of 1980–2107 (leap years, 2000 and 2100 included) at a few times of day, against Date.
  for (let s = FAT_TIME_MIN + 7; s <= FAT_TIME_MAX; s += 86400 + 3607) {
    const e = fatTimestamp(s);
    const d = new Date(s * 1000);
    const want = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
    assert.equal(e.date, want, String(s));
    assert.equal(fromFatTimestamp(e.date, e.time, e.tenths), s, String(s));
  }
});
