/**
 * @imgkit/inspect on images built in memory (no file system: what a browser does): the report's
 * tree and exit codes, a GPT disk with a FAT ESP, a squashfs, MBR tables with overlapping records
 * and a looping EBR chain, truncated containers, nesting limits. The comparisons with the
 * reference tools are in test/inspect.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemorySink, crc32, memoryReader, memoryTree, withSink } from '@imgkit/core';
import { planFat } from '@imgkit/fat';
import { encodeEbr, encodeMbr, planDisk } from '@imgkit/partition';
import { writeSquashfs } from '@imgkit/squashfs';
import { containerSink } from '@imgkit/vdisk';
import { exitCodeOf, formatInspectTree, inspectImage, type InspectNode } from '@imgkit/inspect';

const EPOCH = 1_700_000_000;
const tree = () =>
  memoryTree([
    { path: 'EFI/BOOT/BOOTX64.EFI', kind: 'file', content: new Uint8Array(5000).fill(1), mtime: EPOCH },
    { path: 'EFI/BOOT/grub.cfg', kind: 'file', content: 'set timeout=0\n', mtime: EPOCH },
    { path: 'loader/entries', kind: 'dir', mtime: EPOCH },
  ]);

function find(n: InspectNode, type: string): InspectNode[] {
  return [...(n.type === type ? [n] : []), ...n.children.flatMap((c) => find(c, type))];
}

async function gptDisk(): Promise<Uint8Array> {
  const esp = await planFat(tree(), { label: 'ESP', epoch: EPOCH });
  const disk = planDisk({ table: 'gpt', sizeBytes: '16M', epoch: EPOCH, label: 'unit', partitions: [{ name: 'esp', type: 'esp', size: '4M' }, { name: 'rest', type: 'linux', size: 'fill' }] });
  const sink = new MemorySink();
  await withSink(sink, (s) => disk.write(s, { contents: [esp] }));
  return sink.bytes().slice();
}

test('exit codes: a defect is 2, an incomplete inspection 1, leaks only 3, warnings 0', () => {
  const f = (severity: 'defect' | 'leak' | 'warning' | 'incomplete') => ({ severity, field: 'x', message: 'm' });
  assert.equal(exitCodeOf([]), 0);
  assert.equal(exitCodeOf([f('warning')]), 0);
  assert.equal(exitCodeOf([f('leak'), f('warning')]), 3);
  assert.equal(exitCodeOf([f('incomplete'), f('leak')]), 1);
  assert.equal(exitCodeOf([f('defect'), f('incomplete'), f('leak')]), 2);
});

test('a GPT disk with a FAT ESP, built in memory: tables, partitions, the FAT summary and counts; the tree text', async () => {
  const bytes = await gptDisk();
  const r = await inspectImage(memoryReader(bytes), { name: 'disk.img' });
  assert.equal(r.exitCode, 0, JSON.stringify(r.findings));
  assert.equal(r.root.type, 'disk');
  assert.equal(r.root.fields.table, 'gpt');
  const gpt = find(r.root, 'gpt')[0]!;
  assert.deepEqual(gpt.children.map((p) => [p.fields.name, p.fields.typeName, p.fields.startLba]), [['esp', 'esp', 2048], ['rest', 'linux', 10240]]);
  const fat = find(r.root, 'fat')[0]!;
  assert.equal(fat.fields.label, 'ESP');
  assert.equal(fat.fields.directories, 5); // the root, EFI, EFI/BOOT, loader, loader/entries
  assert.equal(fat.fields.files, 2);
  const text = formatInspectTree(r);
  assert.match(text, /^disk\.img: disk/);
  assert.match(text, /label: ESP/);
  assert.match(text, /0 defects, 0 warnings \(exit code 0\)/);
});

test('GPT damage: header CRC, entry array CRC, backup header, a partition past the end', async () => {
  const good = await gptDisk();
  const fields = async (b: Uint8Array) => (await inspectImage(memoryReader(b))).findings.filter((f) => f.severity === 'defect').map((f) => f.field);
  const crc = good.slice();
  crc[512 + 48]! ^= 1; // LastUsableLBA
  assert.ok((await fields(crc)).includes('gpt.header.headerCrc32'));
  const arr = good.slice();
  arr[1024 + 60]! ^= 1; // a name byte of entry 1
  assert.ok((await fields(arr)).includes('gpt.header.partitionEntryArrayCrc32'));
  const backup = good.slice();
  backup.fill(0, backup.byteLength - 512);
  assert.ok((await fields(backup)).includes('gpt.backupHeader.signature'));
  // entry 2 ends past the disk: patch its ending LBA and re-seal both CRCs so only that is wrong
  const past = good.slice();
  const v = new DataView(past.buffer);
  v.setBigUint64(1024 + 128 + 40, 1n << 40n, true);
  const entries = past.subarray(1024, 1024 + 128 * 128);
  v.setUint32(512 + 88, crc32(entries), true);
  v.setUint32(512 + 16, 0, true);
  v.setUint32(512 + 16, crc32(past.subarray(512, 512 + 92)), true);
  assert.ok((await fields(past)).includes('gpt.entries[1].endingLba'));
});

test('MBR: overlapping records, a record past the end, and an EBR chain that loops are defects', async () => {
  const disk = new Uint8Array(8 << 20);
  disk.set(encodeMbr({ diskSignature: 0x1234, records: [{ type: 0x83, startLba: 2048, sectorCount: 4096 }, { type: 0x83, startLba: 4096, sectorCount: 4096 }, { type: 0x0c, startLba: 10240, sectorCount: 1 << 20 }] }));
  const r = await inspectImage(memoryReader(disk));
  assert.equal(r.exitCode, 2);
  const fields = r.findings.map((f) => f.field);
  assert.ok(fields.includes('mbr.partition'), 'overlap');
  assert.ok(fields.includes('mbr.partitionRecords[2].sizeInLba'), 'past the end');
  // extended partition at 2048 whose second EBR links back to the first
  const ext = new Uint8Array(8 << 20);
  ext.set(encodeMbr({ records: [{ type: 0x0f, startLba: 2048, sectorCount: 8192 }] }));
  ext.set(encodeEbr({ ebrLba: 2048, extendedStartLba: 2048, logical: { type: 0x83, startLba: 4096, sectorCount: 1024 }, next: { ebrLba: 6144, endLba: 8192 } }), 2048 * 512);
  ext.set(encodeEbr({ ebrLba: 6144, extendedStartLba: 2048, logical: { type: 0x83, startLba: 7168, sectorCount: 1024 }, next: { ebrLba: 2048, endLba: 4096 } }), 6144 * 512);
  const r2 = await inspectImage(memoryReader(ext));
  assert.ok(r2.findings.some((f) => f.field === 'mbr.ebr' && /loops/.test(f.message)), JSON.stringify(r2.findings));
  assert.equal(find(r2.root, 'partition').filter((p) => p.fields.number === 5 || p.fields.number === 6).length, 2);
});

test('a squashfs in memory: superblock fields and entry counts; bytes_used beyond the input is a defect', async () => {
  const sink = new MemorySink();
  await withSink(sink, (s) => writeSquashfs(tree(), s, { compression: 'zstd', epoch: EPOCH }));
  const bytes = sink.bytes().slice();
  const r = await inspectImage(memoryReader(bytes));
  assert.equal(r.exitCode, 0, JSON.stringify(r.findings));
  assert.equal(r.root.fields.compression, 'zstd');
  assert.equal(r.root.fields.entries, 7); // the root, EFI, EFI/BOOT, its 2 files, loader, loader/entries
  assert.deepEqual(r.root.fields.byType, { directory: 4, file: 2 });
  const cut = bytes.slice(0, (r.root.fields.bytesUsed as number) - 16); // the id table's end cut off
  const r2 = await inspectImage(memoryReader(cut));
  assert.equal(r2.exitCode, 2);
  assert.ok(r2.findings.some((f) => f.field === 'squashfs.superblock.bytesUsed'));
});

test('a qcow2 in memory holding the GPT disk: container fields, the disk inside; a truncated qcow2 is a defect, not a crash', async () => {
  const disk = await gptDisk();
  const out = new MemorySink();
  await withSink(out, async (s) => {
    const c = containerSink(s, disk.byteLength, { format: 'qcow2' });
    await c.write(disk);
    await c.close();
  });
  const q = out.bytes().slice();
  const r = await inspectImage(memoryReader(q));
  assert.equal(r.exitCode, 0, JSON.stringify(r.findings));
  assert.equal(r.root.type, 'qcow2');
  assert.equal(r.root.fields.virtualSize, disk.byteLength);
  assert.equal(find(r.root, 'fat')[0]!.fields.label, 'ESP');
  const r2 = await inspectImage(memoryReader(q.slice(0, q.byteLength >> 1)));
  assert.equal(r2.exitCode, 2, JSON.stringify(r2.findings));
  assert.ok(r2.findings.some((f) => f.field.startsWith('vdisk.qcow2')));
});

test('nothing to inspect: an empty input, zeros, random bytes; nesting deeper than maxDepth is incomplete', async () => {
  assert.equal((await inspectImage(memoryReader(new Uint8Array(0)))).root.type, 'empty');
  assert.equal((await inspectImage(memoryReader(new Uint8Array(10000)))).root.type, 'empty');
  const noise = new Uint8Array(10000).map((_, i) => (i * 2654435761) >>> 24 || 1);
  const r = await inspectImage(memoryReader(noise));
  assert.equal(r.root.type, 'unknown');
  assert.equal(r.exitCode, 0);
  const deep = await inspectImage(memoryReader(await gptDisk()), { maxDepth: 0 });
  assert.equal(deep.exitCode, 1);
  assert.ok(deep.findings.some((f) => f.field === 'inspect.depth'));
});
