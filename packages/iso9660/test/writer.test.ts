/**
 * writeIso in memory: volume dates (never 1970, different trees differ, the same tree the same
 * bytes), xorriso's date options, the Rock Ridge name limit, the geometry of big isohybrid images.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError, MemorySink, memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { alignment, resolveOptions, RR_NAME_MAX_BYTES, writeIso, type IsoOptions } from '@imgkit/iso9660';

async function iso(entries: MemoryEntryInit[], o: IsoOptions = {}): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeIso(memoryTree(entries), sink, o);
  return sink.bytes().slice();
}

const text = (b: Uint8Array, at: number, n: number) => Buffer.from(b.subarray(at, at + n)).toString('latin1');
/** PVD §8.4.26–8.4.29: creation, modification, expiration, effective (17 bytes each, from 813). */
const pvdDates = (b: Uint8Array) => [813, 830, 847, 864].map((at) => text(b, 16 * 2048 + at, 16));
/** The blkid UUID of an ISO: the modification date, else the creation date, as YYYY-MM-DD-hh-mm-ss-cc. */
const blkidUuid = (b: Uint8Array) => {
  const [c, m] = pvdDates(b);
  const d = m !== '0000000000000000' ? m! : c!;
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}-${d.slice(8, 10)}-${d.slice(10, 12)}-${d.slice(12, 14)}-${d.slice(14, 16)}`;
};

test('without an epoch the volume is dated by the newest time in the tree', async () => {
  const newest = Date.UTC(2024, 2, 5, 6, 7, 8) / 1000;
  const b = await iso([
    { path: 'a', kind: 'file', content: 'a\n', mtime: newest - 1000 },
    { path: 'd', kind: 'dir', mtime: newest },
    { path: 'd/b', kind: 'file', content: 'b\n', mtime: newest - 5 },
  ]);
  assert.deepEqual(pvdDates(b), ['2024030506070800', '2024030506070800', '0000000000000000', '0000000000000000']);
  assert.equal(blkidUuid(b), '2024-03-05-06-07-08-00');
});

test('a tree dated 1970 gets a date from its listing: never 1970, different trees differ, the same tree the same bytes', async () => {
  // The descriptors precede the data, so the date comes from the names, kinds and sizes.
  const tree = (name: string): MemoryEntryInit[] => [{ path: name, kind: 'file', content: 'data\n', mtime: 0 }, { path: '', kind: 'dir', mtime: 0 }];
  const [a1, a2, b] = [await iso(tree('one')), await iso(tree('one')), await iso(tree('two'))];
  assert.deepEqual(a1, a2);
  for (const x of [a1, b]) {
    const year = Number(blkidUuid(x).slice(0, 4));
    assert.ok(year >= 2000 && year < 2020, blkidUuid(x));
  }
  assert.notEqual(blkidUuid(a1), blkidUuid(b));
});

test('xorriso date options: --modification-date (uuid), -volume_date c/m/x/f, all_file_dates; the epoch dates the rest', async () => {
  const entries: MemoryEntryInit[] = [{ path: 'f', kind: 'file', content: 'x', mtime: 1_600_000_000 }];
  const u = await iso(entries, { epoch: 1_700_000_000, volumeDates: { uuid: '2022080916483300' } });
  assert.deepEqual(pvdDates(u), ['2022080916483300', '2022080916483300', '0000000000000000', '0000000000000000']);
  assert.equal(blkidUuid(u), '2022-08-09-16-48-33-00');
  const d = await iso(entries, { epoch: 1_700_000_000, volumeDates: { creation: 1_600_000_000, expiration: '2030010100000000', effective: 1_650_000_000 } });
  assert.deepEqual(pvdDates(d), ['2020091312264000', '2023111422132000', '2030010100000000', '2022041505200000']);
  // all_file_dates: every file record's time (ECMA-119 §9.1.5, 7 bytes) is the given one.
  const f = await iso(entries, { epoch: 1_700_000_000, allFileDates: 1_500_000_000, rockRidge: false });
  const rootLba = Buffer.from(f).readUInt32LE(16 * 2048 + 156 + 2);
  const dir = f.subarray(rootLba * 2048, rootLba * 2048 + 2048);
  const third = dir[0]! + dir[dir[0]!]!; // ".", "..", then F
  assert.deepEqual([...dir.subarray(third + 18, third + 24)], [117, 7, 14, 2, 40, 0]);
});

test(`Rock Ridge names: ${RR_NAME_MAX_BYTES} bytes per component are written, one more is E_NAME_TOO_LONG naming the path`, async () => {
  const ok = 'n'.repeat(RR_NAME_MAX_BYTES);
  await iso([{ path: `d/${ok}`, kind: 'file', content: 'x' }], { epoch: 0 });
  const long = `${'é'.repeat(127)}xx`; // 256 bytes of UTF-8
  await assert.rejects(
    iso([{ path: `d/${long}`, kind: 'file', content: 'x' }], { epoch: 0 }),
    (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.NAME_TOO_LONG && e.path === `d/${long}` && /256 bytes.*255/.test(e.message),
  );
  // Without Rock Ridge the name is only mangled, so any length is fine.
  await iso([{ path: `d/${long}`, kind: 'file', content: 'x' }], { epoch: 0, rockRidge: false });
});

test('isohybrid geometry beyond 1 GiB as libisofs: more heads at 32 sectors, cylinders aligned (xorriso: 1600 MiB → 101 heads)', () => {
  const o = resolveOptions({ biosBoot: { path: 'b' }, hybrid: 'isohybrid-mbr', mbrTemplate: new Uint8Array(432) });
  const warnings: string[] = [];
  // xorriso 1.5.4 on a tree with one 1600 MiB file: "MBR heads per cyl: 101", 3280480 sectors.
  const a = alignment(o, 3280480 / 4 - 100, (w) => warnings.push(w));
  assert.equal(a.heads, 101);
  assert.equal(a.sectors, 32);
  assert.equal(((3280480 / 4 - 100 + a.padBlocks) * 4) % (101 * 32), 0);
  // Small images keep 64/32 and pad to 1 MiB.
  const s = alignment(o, 1000, (w) => warnings.push(w));
  assert.deepEqual([s.heads, s.sectors, (1000 + s.padBlocks) % 512], [64, 32, 0]);
  // Beyond 255 heads at 63 sectors the image cannot be aligned: a warning, no padding.
  const h = alignment(o, 9_000_000_000 / 2048, (w) => warnings.push(w));
  assert.deepEqual([h.heads, h.sectors, h.padBlocks], [255, 63, 0]);
  assert.equal(warnings.length, 1);
});
