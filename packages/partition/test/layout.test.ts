/**
 * The geometry solver: whole disks byte-identical to what sgdisk, sfdisk and genimage write for the
 * same description, the placement rules, and every kind of bad input (code, field, and the names
 * and numbers in the message).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ImgkitError, MemorySink, toHex } from '@imgkit/core';
import { GPT_TYPES, decodeGptEntryArray, decodeGptHeader, decodeMbr, planDisk, planPartitionTable, parseSize, type PartitionTableSpec } from '@imgkit/partition';
import { readXxdFixture } from './xxd.ts';

async function diskBytes(spec: PartitionTableSpec): Promise<Uint8Array> {
  const sink = new MemorySink();
  await planDisk(spec).write(sink);
  return sink.bytes();
}

/** The first differing offset, for a readable failure. */
function assertSameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  assert.equal(got.byteLength, want.byteLength, `${what}: length`);
  for (let i = 0; i < got.byteLength; i++) {
    if (got[i] !== want[i]) assert.fail(`${what}: first difference at byte 0x${i.toString(16)}: ${got[i]} vs ${want[i]}`);
  }
}

const SGDISK_PARTS = [
  { name: 'EFI System', type: 'esp', size: '4M', guid: '0C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5', attributes: ['required' as const] },
  { name: 'swap', type: 'swap', size: '2M', guid: '1C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5' },
  { name: 'root é☃', type: 'root-x86-64', size: 'fill', guid: '2C1D2E3F-4A5B-4C6D-8E7F-8091A2B3C4D5', bootable: true, attributes: ['read-only' as const, 'no-auto' as const] },
];

describe('whole disks equal the reference tools\' output', () => {
  for (const [ss, fixture] of [
    [512, 'sgdisk-gpt-512.xxd'],
    [4096, 'sgdisk-gpt-4096.xxd'],
  ] as const) {
    test(`GPT, ${ss}-byte sectors: sgdisk -n/-t/-c/-u/-A (fill, attributes, non-ASCII name)`, async () => {
      const got = await diskBytes({ table: 'gpt', sectorSize: ss, sizeBytes: '16M', diskGuid: '11111111-2222-4333-8444-555555555555', partitions: SGDISK_PARTS });
      assertSameBytes(got, readXxdFixture(fixture), fixture);
    });
  }

  test('MBR with an extended partition and three logical ones: sfdisk', async () => {
    const got = await diskBytes({
      table: 'mbr',
      sizeBytes: '32M',
      diskSignature: 0x12345678,
      extendedType: 0x05,
      partitions: [
        { type: 'esp', size: '4M', bootable: true },
        { type: 0x83, size: '4M' },
        { type: 'linux', size: '2M', logical: true },
        { type: 'swap', size: '2M', logical: true },
        { type: 'linux', size: '1M', logical: true },
      ],
    });
    assertSameBytes(got, readXxdFixture('sfdisk-mbr-logical.xxd'), 'sfdisk-mbr-logical');
  });

  test('hybrid MBR: genimage partition-table-type = "hybrid"', async () => {
    const got = await diskBytes({
      table: 'hybrid',
      sizeBytes: '16M',
      diskSignature: 0x1a2b3c4d,
      diskGuid: '6a9f1c3e-0b7d-4e21-9c55-2f1e8d3a7b40',
      gptFirstUsableLba: 2048, // genimage sets FirstUsableLBA to its first partition
      partitions: [
        { name: 'esp', type: 'esp', mbrType: 0xef, bootable: true, size: '4M', guid: '0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5' },
        { name: 'data', type: 'linux', size: '2M', guid: '1c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5' },
        { name: 'boot', type: 'linux', mbrType: 0x83, size: '3M', guid: '2c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5' },
      ],
    });
    assertSameBytes(got, readXxdFixture('genimage-hybrid.xxd'), 'genimage-hybrid');
  });
});

describe('placement', () => {
  const starts = (l: ReturnType<typeof planPartitionTable>) => l.partitions.map((p) => [p.number, p.startLba, p.sectorCount]);

  test('1 MiB alignment by default, in 512- and 4096-byte sectors; the disk ends at the backup GPT rounded to 1 MiB', () => {
    const l = planPartitionTable({ table: 'gpt', partitions: [{ size: '3M' }, { size: 1536 * 1024 }] });
    assert.deepEqual(starts(l), [[1, 2048, 6144], [2, 8192, 3072]]);
    assert.equal(l.firstUsableLba, 34);
    assert.equal(l.sizeBytes, 6 << 20, 'partitions end at 5.5 MiB; + 33 sectors of backup GPT → rounded up to 6 MiB');
    assert.equal(l.lastUsableLba, l.diskSectors - 34);
    const k = planPartitionTable({ table: 'gpt', sectorSize: 4096, partitions: [{ size: '3M' }, { size: '1M' }] });
    assert.deepEqual(starts(k), [[1, 256, 768], [2, 1024, 256]]);
    assert.equal(k.firstUsableLba, 6);
    assert.equal(k.lastUsableLba, k.diskSectors - 6);
  });

  test('no size: the content minimum rounded up to the alignment (genimage); a given size below it is refused', () => {
    const l = planPartitionTable({ table: 'mbr', partitions: [{ minSizeBytes: 1_500_000 }, { minSizeBytes: 1, alignment: 512 }] });
    assert.deepEqual(starts(l), [[1, 2048, 4096], [2, 6144, 1]]);
    assert.equal(l.sizeBytes, 4 << 20);
    assert.equal(l.diskSignature, planPartitionTable({ table: 'mbr', partitions: [{ size: '1M' }] }).diskSignature, 'signature from epoch and label only');
  });

  test('percent of the disk, rounded down to the alignment; fill takes the rest up to the last usable sector', () => {
    const l = planPartitionTable({ table: 'gpt', sizeBytes: '100M', partitions: [{ size: '33%' }, { size: 'fill' }] });
    assert.deepEqual(starts(l), [[1, 2048, 33 * 2048], [2, 34 * 2048, l.lastUsableLba + 1 - 34 * 2048]]);
    assert.equal(l.partitions[1]!.endLba, l.lastUsableLba);
  });

  test('fill in the middle: the partitions after it are packed at the end, aligned; a pinned one is a fence', () => {
    const l = planPartitionTable({ table: 'gpt', sizeBytes: '64M', partitions: [{ name: 'esp', size: '8M' }, { name: 'root', size: 'fill' }, { name: 'home', size: '4M' }, { name: 'var', size: '2M' }] });
    const last = l.lastUsableLba + 1; // 131039
    const varStart = Math.floor((last - 4096) / 2048) * 2048;
    const homeStart = varStart - 8192;
    assert.deepEqual(starts(l), [[1, 2048, 16384], [2, 18432, homeStart - 18432], [3, homeStart, 8192], [4, varStart, 4096]]);
    const f = planPartitionTable({ table: 'mbr', sizeBytes: '64M', partitions: [{ size: '1M' }, { size: 'fill' }, { size: '1M' }, { size: '2M', offset: '40M' }] });
    assert.deepEqual(starts(f), [[1, 2048, 2048], [2, 4096, 39 * 2048 - 4096], [3, 39 * 2048, 2048], [4, 40 * 2048, 4096]]);
    assert.equal(f.sizeBytes, 64 << 20);
  });

  test('pinned offsets; later automatic partitions follow the furthest end so far', () => {
    const l = planPartitionTable({ table: 'gpt', partitions: [{ size: '1M', offset: '10M' }, { size: '1M' }, { size: '1M', offset: '2M' }, { size: '1M' }] });
    assert.deepEqual(starts(l), [[1, 20480, 2048], [2, 22528, 2048], [3, 4096, 2048], [4, 24576, 2048]]);
  });

  test('sizes: bytes, K/M/G/T (1024), KB/MB (1000), KiB, fractions, B', () => {
    const cases: [string | number, number][] = [[4096, 4096], ['512', 512], ['16M', 16 << 20], ['16MiB', 16 << 20], ['1.5G', 1.5 * 2 ** 30], ['2k', 2048], ['100MB', 100e6], ['1T', 2 ** 40], ['512B', 512]];
    for (const [s, bytes] of cases) assert.deepEqual(parseSize(s, 'f'), { kind: 'bytes', bytes }, String(s));
    assert.deepEqual(parseSize('25%', 'f', { percent: true }), { kind: 'percent', percent: 25 });
    assert.deepEqual(parseSize('fill', 'f', { fill: true }), { kind: 'fill' });
    for (const s of ['', '1Q', '-1', '1.1', '0.5K1', '200%']) assert.throws(() => parseSize(s, 'f', { percent: true }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION', s);
  });

  test('MBR logical partitions: extended in the slot of the first one, numbered 5…, EBR one alignment unit before each', () => {
    const l = planPartitionTable({ table: 'mbr', partitions: [{ size: '1M' }, { size: '1M', logical: true }, { size: '1M', logical: true }, { size: '1M' }] });
    assert.deepEqual(l.partitions.map((p) => [p.number, p.startLba, p.ebrLba, p.mbrSlot]), [
      [1, 2048, undefined, 1],
      [5, 6144, 4096, undefined],
      [6, 10240, 8192, undefined],
      [3, 12288, undefined, 3],
    ]);
    assert.deepEqual(l.extended, { slot: 2, startLba: 4096, sectorCount: 12288 - 4096, type: 0x0f });
    const mbr = decodeMbr(l.regions[0]!.bytes);
    assert.deepEqual(mbr.records.map((r) => [r.slot, r.type, r.startLba]), [[1, 0x83, 2048], [2, 0x0f, 4096], [3, 0x83, 12288]]);
    // genimage's extended-partition = 4: partitions 4… are logical
    const g = planPartitionTable({ table: 'mbr', extendedPartition: 4, partitions: [1, 2, 3, 4, 5, 6].map(() => ({ size: '1M' })) });
    assert.deepEqual(g.partitions.map((p) => p.number), [1, 2, 3, 5, 6, 7]);
    assert.equal(g.extended?.slot, 4);
  });

  test('hybrid: mirrored entries in order, then 0xEE over LBA 1 to the end of the primary array; first and none variants; MBR-only entries', () => {
    const parts = [{ name: 'bios', type: 'bios-boot', size: '1M' }, { name: 'esp', type: 'esp', mbrType: 'esp', size: '4M' }, { name: 'root', size: '8M', mbrType: 0x83, bootable: true }];
    const rec = (l: ReturnType<typeof planPartitionTable>) => decodeMbr(l.regions[0]!.bytes).records.map((r) => [r.slot, r.bootIndicator, r.type, r.startLba, r.sectorCount]);
    const after = planPartitionTable({ table: 'hybrid', partitions: parts });
    assert.deepEqual(rec(after), [[1, 0, 0xef, 4096, 8192], [2, 0x80, 0x83, 12288, 16384], [3, 0, 0xee, 1, 33]]);
    assert.deepEqual(after.partitions.map((p) => [p.number, p.mbrSlot]), [[1, undefined], [2, 1], [3, 2]]);
    assert.equal(after.partitions[2]!.attributes, 4n, 'bootable also sets the GPT legacy BIOS bootable bit, as genimage does');
    const first = planPartitionTable({ table: 'hybrid', hybridProtective: 'first', partitions: parts });
    assert.deepEqual(rec(first).map((r) => r[2]), [0xee, 0xef, 0x83]);
    const none = planPartitionTable({ table: 'hybrid', hybridProtective: 'none', sizeBytes: '20M', partitions: [{ name: 'iso', mbrOnly: true, mbrType: 0x17, bootable: true, offset: 0, size: '20M', alignment: 512, mayOverlap: true }, { name: 'esp', type: 'esp', mbrType: 'esp', offset: '2M', size: '4M' }] });
    assert.deepEqual(rec(none), [[1, 0x80, 0x17, 0, 40960], [2, 0, 0xef, 4096, 8192]]);
    assert.deepEqual(none.partitions.map((p) => [p.number, p.typeGuid]), [[1, undefined], [1, GPT_TYPES.esp]], 'the MBR-only entry is not in the GPT');
    const gpt = none.regions.find((r) => r.offset === 512)!.bytes;
    assert.ok(decodeGptHeader(gpt.subarray(0, 512)).headerCrcOk);
    assert.deepEqual(decodeGptEntryArray(gpt.subarray(512), 128).map((e) => [e.number, e.startLba, e.endLba, e.name]), [[1, 4096, 12287, 'esp']]);
  });

  test('GUIDs and the disk signature derive from epoch and label: same input, same bytes; another label, other GUIDs', async () => {
    const spec: PartitionTableSpec = { table: 'hybrid', epoch: 1_700_000_000, label: 'disk-a', partitions: [{ name: 'esp', type: 'esp', mbrType: 'esp', size: '1M' }, { name: 'root', size: '1M' }] };
    const a = planPartitionTable(spec);
    assert.deepEqual(await diskBytes(spec), await diskBytes(spec));
    const b = planPartitionTable({ ...spec, label: 'disk-b' });
    assert.notEqual(a.diskGuid, b.diskGuid);
    assert.notEqual(a.diskSignature, b.diskSignature);
    assert.notEqual(a.partitions[0]!.uniqueGuid, b.partitions[0]!.uniqueGuid);
    assert.notEqual(a.partitions[0]!.uniqueGuid, a.partitions[1]!.uniqueGuid);
    const c = planPartitionTable({ ...spec, epoch: 1_700_000_001 });
    assert.notEqual(a.diskGuid, c.diskGuid);
    assert.equal(planPartitionTable({ ...spec, table: 'gpt', partitions: [{ size: '1M' }] }).diskSignature, 0, 'a protective MBR has signature 0 (UEFI §5.2.3)');
  });

  test('regions are sorted, do not overlap, and the table bytes decode with valid CRCs', () => {
    const l = planPartitionTable({ table: 'gpt', sectorSize: 4096, gptEntryArrayLba: 16, partitions: [{ size: '1M' }] });
    assert.deepEqual(l.regions.map((r) => [r.offset, r.bytes.byteLength, r.what]), [
      [0, 4096, 'protective MBR'],
      [4096, 4096, 'primary GPT header'],
      [16 * 4096, 4 * 4096, 'primary GPT entries'],
      [l.sizeBytes - 5 * 4096, 5 * 4096, 'backup GPT entries and header'],
    ]);
    assert.equal(l.firstUsableLba, 20);
    const h = decodeGptHeader(l.regions[1]!.bytes);
    assert.ok(h.headerCrcOk);
    assert.equal(h.partitionEntryLba, 16n);
  });
});

/** Assert an ImgkitError with this code and field whose message contains every needle. */
function expectError(fn: () => unknown, code: string, field: string | undefined, ...needles: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ImgkitError, `an ImgkitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (field !== undefined) assert.equal(e.field, field, e.message);
    for (const n of needles) {
      if (typeof n === 'string') assert.ok(e.message.includes(n), `message "${e.message}" mentions ${n}`);
      else assert.match(e.message, n);
    }
    return true;
  });
}

describe('bad input', () => {
  test('overlapping partitions: both named, with their sector ranges', () => {
    expectError(
      () => planPartitionTable({ table: 'gpt', partitions: [{ name: 'root', size: '4M', offset: '1M' }, { name: 'home', size: '4M', offset: '3M' }] }),
      'E_BAD_OPTION',
      'partitions[1].offset',
      '"home" (partitions[1]) (sectors 6144–14335)',
      '"root" (partitions[0]) (sectors 2048–10239)',
      'overlaps',
    );
  });

  test('a partition over the GPT header or the backup GPT', () => {
    expectError(() => planPartitionTable({ table: 'mbr', partitions: [{ name: 'boot', size: '1M', offset: 0, alignment: 512 }] }), 'E_BAD_OPTION', 'partitions[0].offset', '"boot"', 'the MBR (sector 0)');
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'early', size: '1M', offset: 16 * 512, alignment: 512 }] }), 'E_BAD_OPTION', 'partitions[0].offset', '"early"', 'starts at sector 16, before the first usable sector 34');
  });

  test('a partition past the disk: E_NO_SPACE naming it, its sectors and the disk\'s limit', () => {
    expectError(
      () => planPartitionTable({ table: 'gpt', sizeBytes: '8M', partitions: [{ name: 'esp', size: '2M' }, { name: 'root', size: '6M' }] }),
      'E_NO_SPACE',
      'partitions[1].size',
      '"root" (partitions[1]) (sectors 6144–18431)',
      'last usable sector 16350',
      '8388608-byte disk',
    );
    expectError(() => planPartitionTable({ table: 'mbr', sizeBytes: '4M', partitions: [{ name: 'big', size: '4M' }] }), 'E_NO_SPACE', 'partitions[0].size', '"big"', 'the disk end (8192 sectors)');
  });

  test('a 37-unit GPT name: E_NAME_TOO_LONG, not a silent cut', () => {
    const name = 'a-very-long-partition-name-of-37-unit';
    assert.equal(name.length, 37);
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ size: '1M' }, { name, size: '1M' }] }), 'E_NAME_TOO_LONG', 'partitions[1].name', '37 UTF-16 units; the limit is 36');
    expectError(() => planPartitionTable({ table: 'hybrid', partitions: [{ name: '☃'.repeat(37), size: '1M', mbrType: 0x83 }] }), 'E_NAME_TOO_LONG', 'partitions[0].name');
  });

  test('five primaries in an MBR: every primary named, the count and the way out', () => {
    const names = ['one', 'two', 'three', 'four', 'five'];
    expectError(
      () => planPartitionTable({ table: 'mbr', partitions: names.map((name) => ({ name, size: '1M' })) }),
      'E_BAD_OPTION',
      'partitions',
      'an MBR holds 4 primary entries; 5 primary partitions make 5',
      ...names.map((n, i) => `"${n}" (partitions[${i}])`),
      'logical: true',
    );
    expectError(
      () => planPartitionTable({ table: 'mbr', partitions: [...names.slice(0, 4).map((name) => ({ name, size: '1M' })), { name: 'five', size: '1M', logical: true }] }),
      'E_BAD_OPTION',
      'partitions',
      '4 primary partitions and the extended partition make 5',
    );
  });

  test('an unknown type name: the message lists the known names', () => {
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'r', type: 'root-riscv64', size: '1M' }] }), 'E_BAD_OPTION', 'partitions[0].type', 'unknown GPT partition type "root-riscv64"', ...Object.keys(GPT_TYPES));
    expectError(() => planPartitionTable({ table: 'mbr', partitions: [{ type: 'home', size: '1M' }] }), 'E_BAD_OPTION', 'partitions[0].type', 'exists only in GPT', 'linux, swap, esp');
  });

  test('a misaligned pinned offset: the offset, the alignment and the nearest aligned offsets', () => {
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'p', size: '1M', offset: 3 * 2 ** 20 + 4096 }] }), 'E_BAD_OPTION', 'partitions[0].offset', 'offset 3149824 bytes (sector 6152)', '1048576-byte alignment', '3145728 or 4194304');
    expectError(() => planPartitionTable({ table: 'gpt', sectorSize: 4096, partitions: [{ size: '1M', offset: 512, alignment: 512 }] }), 'E_BAD_OPTION', 'partitions[0].alignment', 'not a multiple of the 4096-byte sector');
  });

  test('a size below the content\'s minimum', () => {
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'esp', size: '32M', minSizeBytes: 33_554_433 }] }), 'E_NO_SPACE', 'partitions[0].size', '"esp"', '33554432 bytes', 'at least 33554944 bytes');
    expectError(() => planPartitionTable({ table: 'gpt', sizeBytes: '8M', partitions: [{ size: '6M' }, { name: 'rest', size: 'fill', minSizeBytes: 2 << 20 }] }), 'E_NO_SPACE', 'partitions[1].size', '"rest"', 'only 2015 sectors are left before sector 16351', 'needs 4096');
  });

  test('more than one fill, fill or percent without a disk size, a size of neither kind', () => {
    expectError(() => planPartitionTable({ table: 'gpt', sizeBytes: '64M', partitions: [{ name: 'a', size: 'fill' }, { name: 'b', size: 'fill' }] }), 'E_BAD_OPTION', 'partitions', '"a" (partitions[0]) and "b" (partitions[1])');
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'a', size: '10%' }] }), 'E_BAD_OPTION', 'partitions[0].size', 'needs the disk size');
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'a' }] }), 'E_BAD_OPTION', 'partitions[0].size', 'neither a size nor content');
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ size: 1000 }] }), 'E_BAD_OPTION', 'partitions[0].size', 'not a multiple of the 512-byte sector');
  });

  test('hybrid: more than three mirrored entries, or none', () => {
    const four = ['a', 'b', 'c', 'd'].map((name) => ({ name, size: '1M', mbrType: 0x83 }));
    expectError(() => planPartitionTable({ table: 'hybrid', partitions: four }), 'E_BAD_OPTION', 'partitions', '3 mirrored entries beside its 0xEE entry; 4 partitions', '"d" (partitions[3])');
    assert.equal(planPartitionTable({ table: 'hybrid', hybridProtective: 'none', partitions: four }).partitions.length, 4);
    expectError(() => planPartitionTable({ table: 'hybrid', partitions: [{ size: '1M' }] }), 'E_BAD_OPTION', 'partitions', 'at least one partition with mbrType');
  });

  test('options that do not belong to the table kind', () => {
    expectError(() => planPartitionTable({ table: 'gpt', partitions: [{ name: 'l', size: '1M', logical: true }] }), 'E_BAD_OPTION', 'partitions[0].logical', 'only in an MBR');
    expectError(() => planPartitionTable({ table: 'mbr', partitions: [{ size: '1M', attributes: ['required'] }] }), 'E_BAD_OPTION', 'partitions[0].attributes');
    expectError(() => planPartitionTable({ table: 'mbr', partitions: [{ size: '1M', type: 0x05 }] }), 'E_BAD_OPTION', 'partitions[0].type', 'logical: true');
    expectError(() => planPartitionTable({ table: 'gpt', sectorSize: 1024 as 512, partitions: [] }), 'E_BAD_OPTION', 'sectorSize');
    expectError(() => planPartitionTable({ table: 'mbr', sizeBytes: '4T', partitions: [{ name: 'far', size: '1M', offset: '3T' }] }), 'E_BAD_OPTION', 'partitions[0]', '"far"', '2^32 − 1 sectors', 'use a GPT');
  });

  test('logical partitions out of disk order', () => {
    expectError(
      () => planPartitionTable({ table: 'mbr', partitions: [{ name: 'l1', size: '1M', logical: true, offset: '10M' }, { name: 'l2', size: '1M', logical: true, offset: '4M' }] }),
      'E_BAD_OPTION',
      'partitions[1].offset',
      '"l2"',
      'EBR at sector 6144',
      '"l1"',
    );
  });
});

test('the sfdisk golden keeps its meaning: sgdisk-style hex of the MBR record of the extended partition', () => {
  const l = planPartitionTable({ table: 'mbr', sizeBytes: '32M', diskSignature: 0x12345678, extendedType: 0x05, partitions: [{ size: '4M' }, { size: '4M' }, { size: '2M', logical: true }] });
  assert.equal(toHex(l.regions[0]!.bytes.subarray(446 + 32, 446 + 48)), '00' + '25' + '2501' + '05' + chsHex(l.extended!.startLba + l.extended!.sectorCount - 1) + '00480000' + '00180000');
});
function chsHex(lba: number): string {
  const c = Math.floor(lba / 16065);
  const h = Math.floor(lba / 63) % 255;
  const s = (lba % 63) + 1;
  return [h, s | ((c >> 2) & 0xc0), c & 0xff].map((x) => x.toString(16).padStart(2, '0')).join('');
}
