/**
 * The sequential disk writer: regions and contents in offset order through any sink (a non-seekable
 * one too), zeros as holes, windows that refuse to overflow, and everything relative to the sink's
 * position at entry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, MemorySink, type ByteSink } from '@imgkit/core';
import { partitionSink, planDisk, writeDisk, writePartitionTable, type DiskLayout } from '@imgkit/partition';

/** A sequential sink that records which bytes came through write() and how many as writeZeros. */
class StreamRecorder implements ByteSink {
  readonly seekable = false;
  position = 0;
  written = 0;
  zeros = 0;
  readonly chunks: { at: number; bytes: Uint8Array }[] = [];
  async write(chunk: Uint8Array) {
    this.chunks.push({ at: this.position, bytes: Uint8Array.from(chunk) });
    this.position += chunk.byteLength;
    this.written += chunk.byteLength;
  }
  async writeAt(): Promise<void> {
    throw new Error('a stream cannot seek');
  }
  async writeZeros(n: number) {
    this.position += n;
    this.zeros += n;
  }
  async close() {}
  flatten(): Uint8Array {
    const out = new Uint8Array(this.position);
    for (const c of this.chunks) out.set(c.bytes, c.at);
    return out;
  }
}

const GiB = 2 ** 30;
const plan = (sizeBytes = GiB) =>
  planDisk({
    table: 'gpt',
    sizeBytes,
    label: 'writer',
    partitions: [
      { name: 'esp', type: 'esp', size: sizeBytes / 16 },
      { name: 'root', type: 'root-x86-64', size: sizeBytes / 4 },
      { name: 'home', type: 'home', size: 'fill' },
    ],
  });

const marker = (text: string) => new TextEncoder().encode(text);

test('a 1 GiB disk through a non-seekable sink: only table bytes and contents are written, the rest is writeZeros', async () => {
  const p = plan();
  const sink = new StreamRecorder();
  const esp = marker('ESP CONTENT');
  await p.write(sink, {
    contents: [
      { write: (s: ByteSink) => s.write(esp) }, // a plan-shaped object
      undefined,
      async (s: ByteSink) => {
        await s.write(marker('HOME'));
        await s.writeZeros!(4096);
        await s.write(marker('END'));
      },
    ],
  });
  assert.equal(sink.position, GiB);
  const tableBytes = p.layout.regions.reduce((n, r) => n + r.bytes.byteLength, 0);
  assert.equal(sink.written, tableBytes + esp.byteLength + 4 + 3, 'nothing else went through write()');
  assert.equal(sink.zeros + sink.written, GiB);
  // every chunk lands in order, at the offset the layout says
  const at = sink.chunks.map((c) => c.at);
  assert.deepEqual(at, [...at].sort((a, b) => a - b));
  const home = p.partition('home');
  assert.deepEqual(sink.chunks.map((c) => [c.at, c.bytes.byteLength]), [
    [0, 512],
    [512, 33 * 512],
    [p.partition('esp').offset, esp.byteLength],
    [home.offset, 4],
    [home.offset + 4 + 4096, 3],
    [GiB - 33 * 512, 33 * 512],
  ]);
});

test('the same bytes through a memory sink and a stream; contents read back at their partition offsets', async () => {
  const p = plan(64 << 20);
  const contents = [undefined, async (s: ByteSink) => s.write(marker('ROOT'))];
  const mem = new MemorySink();
  await p.write(mem, { contents });
  const rec = new StreamRecorder();
  await p.write(rec, { contents });
  const a = mem.bytes();
  const b = rec.flatten();
  assert.equal(a.byteLength, b.byteLength);
  assert.ok(Buffer.from(a).equals(Buffer.from(b)));
  const root = p.partition('root');
  assert.equal(new TextDecoder().decode(a.subarray(root.offset, root.offset + 4)), 'ROOT');
});

test('a content writing past its partition is E_NO_SPACE naming the partition', async () => {
  const p = planDisk({ table: 'mbr', partitions: [{ size: '1M' }, { name: 'tiny', size: 4096, alignment: 512 }] });
  await assert.rejects(
    p.write(new MemorySink(), { contents: [undefined, async (s: ByteSink) => s.write(new Uint8Array(4097))] }),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_NO_SPACE' && /partition 2 \("tiny"\) of 4096 bytes is full \(needs 4097\)/.test(e.message),
  );
});

test('relative to sink.position at entry: a disk inside another image', async () => {
  const p = planDisk({ table: 'gpt', partitions: [{ name: 'a', size: '1M' }] });
  const sink = new MemorySink();
  await sink.write(new Uint8Array(4096).fill(0xaa));
  await p.write(sink, { contents: [(s: ByteSink) => s.write(marker('A'))] });
  const bytes = sink.bytes();
  assert.equal(bytes.byteLength, 4096 + p.sizeBytes);
  assert.equal(bytes[4096 + 510], 0x55);
  assert.equal(new TextDecoder().decode(bytes.subarray(4096 + 512, 4096 + 520)), 'EFI PART');
  assert.equal(bytes[4096 + p.partition('a').offset], 'A'.charCodeAt(0));
  // and a window onto that partition afterwards (seekable sink)
  const w = partitionSink(sink, p.layout, 0, 4096);
  await w.writeAt(1, marker('B'));
  assert.equal(sink.bytes()[4096 + p.partition('a').offset + 1], 'B'.charCodeAt(0));
});

test('more contents than partitions, and contents that overlap, are refused before writing', async () => {
  const p = planDisk({ table: 'gpt', partitions: [{ size: '1M' }] });
  const sink = new MemorySink();
  await assert.rejects(p.write(sink, { contents: [undefined, async () => undefined] }), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'contents[1]' && /2 contents for 1 partitions/.test(e.message));
  assert.equal(sink.position, 0, 'nothing written');
  const o = planDisk({ table: 'hybrid', hybridProtective: 'none', sizeBytes: '8M', partitions: [{ name: 'all', mbrOnly: true, mbrType: 0x17, offset: 0, size: '8M', alignment: 512, mayOverlap: true }, { name: 'esp', type: 'esp', mbrType: 'esp', size: '1M' }] });
  await assert.rejects(
    o.write(new MemorySink(), { contents: [async () => undefined, async () => undefined] }),
    (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && /overlaps/.test(e.message) && /partitionSink/.test(e.message),
  );
});

test('writePartitionTable patches only the table onto an existing disk (seekable sinks only)', async () => {
  const layout: DiskLayout = plan(64 << 20).layout;
  const sink = new MemorySink();
  await sink.write(new Uint8Array(2 << 20).fill(0x11));
  await writePartitionTable(sink, layout);
  const b = sink.bytes();
  assert.equal(b.byteLength, 64 << 20);
  assert.equal(b[510], 0x55);
  assert.equal(b[1 << 20], 0x11, 'partition bytes untouched');
  await assert.rejects(writePartitionTable(new StreamRecorder(), layout), (e: unknown) => e instanceof ImgkitError && e.code === 'E_SINK_UNSUPPORTED');
});
