// ReadAhead: small files read ahead of the writer, handed out in order, bounded, errors in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadAhead, collectBytes, ImgkitError, ErrorCodes, type SourceEntry } from '@imgkit/core';

function fileEntry(path: string, size: number, log: string[], opts: { fail?: boolean } = {}): SourceEntry {
  const data = new Uint8Array(size).fill(path.charCodeAt(0));
  return {
    path, kind: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size,
    read: () =>
      (async function* () {
        log.push(`open ${path}`);
        await new Promise((r) => setTimeout(r, 1));
        if (opts.fail) throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path, detail: 'test failure' });
        yield data;
      })(),
  };
}

test('contents come back in order and equal to direct reads; reads start ahead, bounded in files', async () => {
  const log: string[] = [];
  const entries = ['a', 'b', 'c', 'd', 'e', 'f'].map((p, i) => fileEntry(p, 10 + i, log));
  const ra = new ReadAhead(entries, { files: 2 });
  const first = await collectBytes(ra.read(0));
  assert.deepEqual([...first], new Array(10).fill('a'.charCodeAt(0)));
  // while 'a' was handed out, at most 2 reads were in flight ahead of it
  assert.ok(log.length <= 3, log.join(','));
  assert.deepEqual(new Set(log), new Set(['open a', 'open b', 'open c']));
  const got: Uint8Array[] = [];
  for (let i = 1; i < entries.length; i++) got.push(await collectBytes(ra.read(i)));
  assert.equal(log.length, 6, 'each file opened once');
  for (let i = 1; i < entries.length; i++) assert.deepEqual(got[i - 1], await collectBytes(entries[i]!.read()));
});

test('a large file stops the window and is streamed directly; undefined slots are skipped', async () => {
  const log: string[] = [];
  const entries = [fileEntry('a', 5, log), undefined, fileEntry('B', 4096, log), fileEntry('c', 5, log)];
  const ra = new ReadAhead(entries, { files: 8, fileBytes: 1024 });
  await collectBytes(ra.read(0));
  assert.ok(!log.includes('open c'), 'nothing past the large file was read ahead');
  assert.equal((await collectBytes(ra.read(2))).byteLength, 4096);
  assert.equal((await collectBytes(ra.read(3))).byteLength, 5);
});

test('a failed read ahead surfaces when (and only when) the writer reaches that entry', async () => {
  const log: string[] = [];
  const entries = [fileEntry('a', 5, log), fileEntry('x', 5, log, { fail: true }), fileEntry('c', 5, log)];
  const ra = new ReadAhead(entries);
  assert.equal((await collectBytes(ra.read(0))).byteLength, 5);
  await assert.rejects(collectBytes(ra.read(1)), (e: unknown) => e instanceof ImgkitError && e.path === 'x');
});
