import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, ImgkitError, MemorySink, memoryTree } from '@imgkit/core';
import { decodeCpio, writeCpio } from '@imgkit/cpio';

async function archive(): Promise<Uint8Array> {
  const sink = new MemorySink();
  await writeCpio(memoryTree([{ path: 'f', kind: 'file', content: 'hello' }]), sink, { compression: 'none' });
  return sink.bytes().slice();
}

test('decodeCpio: reads back names, data and the end offset', async () => {
  const bytes = await archive();
  const { entries, end } = decodeCpio(bytes);
  assert.deepEqual(entries.map((e) => e.name), ['.', 'f', 'TRAILER!!!']);
  assert.equal(new TextDecoder().decode(entries[1]!.data), 'hello');
  assert.equal(end, bytes.byteLength);
});

test('decodeCpio: bad magic, truncation and a missing trailer are E_BAD_INPUT', async () => {
  const bytes = await archive();
  const isBad = (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_INPUT;
  const wrongMagic = bytes.slice();
  wrongMagic[5] = 0x37; // "070707": the old binary-ish odc magic
  assert.throws(() => decodeCpio(wrongMagic), isBad);
  assert.throws(() => decodeCpio(bytes.subarray(0, 200)), isBad);
  const { entries } = decodeCpio(bytes);
  assert.throws(() => decodeCpio(bytes.subarray(0, entries[2]!.offset)), isBad);
});
