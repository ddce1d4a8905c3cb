import assert from 'node:assert/strict';
import { test } from 'node:test';
import { END_OF_CHAIN, fatBytes, fatPieces, getFatEntry, mkfsGeometry, setFatEntry, type FatBits, type FatGeometry } from '@imgkit/fat';

/** The whole table from its pieces (zeros expanded). */
function joined(g: FatGeometry, runEnds: number[], pieceBytes?: number): Uint8Array {
  const out = new Uint8Array(fatBytes(g));
  let at = 0;
  for (const p of fatPieces(g, runEnds, pieceBytes)) {
    if (typeof p === 'number') at += p;
    else {
      out.set(p, at);
      at += p.byteLength;
    }
  }
  assert.equal(at, out.byteLength, 'pieces add up to one FAT');
  return out;
}

test('FAT12 packing (fatgen103: entry n at byte n*1.5, even entries in the low 12 bits): literal bytes', () => {
  const buf = new Uint8Array(6);
  setFatEntry(12, buf, 0, 0, 0xff0);
  setFatEntry(12, buf, 0, 1, 0xfff);
  setFatEntry(12, buf, 0, 2, 0x003);
  setFatEntry(12, buf, 0, 3, 0xff8);
  assert.deepEqual([...buf], [0xf0, 0xff, 0xff, 0x03, 0x80, 0xff]);
  for (const [n, v] of [[0, 0xff0], [1, 0xfff], [2, 3], [3, 0xff8]]) assert.equal(getFatEntry(12, buf, n!), v);
});

test('FAT16 and FAT32 entries are little-endian; FAT32 keeps the top 4 bits 0', () => {
  const b16 = new Uint8Array(4);
  setFatEntry(16, b16, 0, 1, 0xabcd);
  assert.deepEqual([...b16], [0, 0, 0xcd, 0xab]);
  const b32 = new Uint8Array(8);
  setFatEntry(32, b32, 0, 1, 0xffffffff);
  assert.deepEqual([...b32.subarray(4)], [0xff, 0xff, 0xff, 0x0f]);
  assert.equal(getFatEntry(32, b32, 1), 0x0fffffff);
});

test('the first FAT bytes equal mkfs.fat\'s for an empty volume (media byte in FAT[0], FAT[1] all ones, FAT32 root EOC)', () => {
  // From `mkfs.fat --invariant -C` images (see fixtures/README.md): the FAT's first bytes.
  const cases: [number, FatBits, number[], number[]][] = [
    [1440 * 1024, 12, [], [0xf0, 0xff, 0xff, 0x00]],
    [64 << 20, 16, [], [0xf8, 0xff, 0xff, 0xff, 0x00]],
    [1 << 30, 32, [2], [0xf8, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 0xf8, 0xff, 0xff, 0x0f, 0x00]],
  ];
  for (const [size, bits, runs, head] of cases) {
    const g = mkfsGeometry({ sizeBytes: size })!;
    assert.equal(g.fatBits, bits);
    const t = joined(g, runs);
    assert.deepEqual([...t.subarray(0, head.length)], head, `FAT${bits}`);
    assert.ok(t.subarray(head.length).every((b) => b === 0), `FAT${bits}: the rest is free`);
  }
});

test('runs become chains: next cluster inside a run, end-of-chain at its end; pieces of any size give the same table', () => {
  for (const bits of [12, 16, 32] as const) {
    const g = mkfsGeometry({ sizeBytes: bits === 32 ? 600 << 20 : bits === 16 ? 64 << 20 : 4 << 20, fatBits: bits })!;
    const runEnds = [2, 5, 6, 40, 41, 1000];
    const whole = joined(g, runEnds);
    for (const piece of [3, 7, 64, 4096]) assert.deepEqual(joined(g, runEnds, piece), whole, `FAT${bits} pieces of ${piece}`);
    let start = 2;
    for (const end of runEnds) {
      for (let c = start; c < end; c++) assert.equal(getFatEntry(bits, whole, c), c + 1, `FAT${bits} cluster ${c}`);
      assert.equal(getFatEntry(bits, whole, end), END_OF_CHAIN[bits], `FAT${bits} end ${end}`);
      start = end + 1;
    }
    assert.equal(getFatEntry(bits, whole, 1001), 0, 'free after the last run');
    // The free tail is reported as a zero count, not bytes.
    const pieces = [...fatPieces(g, runEnds)];
    assert.equal(typeof pieces.at(-1), 'number');
  }
});

test('a run past the last cluster is refused', () => {
  const g = mkfsGeometry({ sizeBytes: 1440 * 1024 })!;
  assert.throws(() => [...fatPieces(g, [g.clusterCount + 2])], RangeError);
});
