/**
 * nodeSource with blocking calls (the default) still lets the event loop run during a walk, so a
 * signal handler or timer is not held up until the walk ends, and an AbortSignal stops the walk
 * and the reads. Counted in entries, never in time.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { YIELD_EVERY_ENTRIES, nodeSource } from '@imgkit/core/node';
import { tempDir } from '../../../test/lib/tools.ts';

async function tree(files: number, dirs = 1): Promise<string> {
  const root = await tempDir('walk-pace');
  for (let d = 0; d < dirs; d++) {
    await mkdir(join(root, `d${d}`));
    for (let i = 0; i < files; i++) await writeFile(join(root, `d${d}`, `f${String(i).padStart(4, '0')}`), `${d}/${i}\n`);
  }
  return root;
}

test('a blocking walk turns the event loop every YIELD_EVERY_ENTRIES entries', async () => {
  const root = await tree(100, 10); // 1011 entries
  let seen = 0;
  const firedAt: number[] = [];
  const tick = () => {
    firedAt.push(seen);
    if (firedAt.length < 1000) setImmediate(tick);
  };
  setImmediate(tick);
  for await (const _ of nodeSource(root).walk()) seen++;
  assert.equal(seen, 1011);
  const during = firedAt.filter((n) => n < seen);
  // Between two turns at most YIELD_EVERY_ENTRIES lstat calls, i.e. at most that many entries.
  assert.ok(during.length >= Math.floor(1010 / YIELD_EVERY_ENTRIES), `the loop turned ${during.length} times during the walk: ${during.join(' ')}`);
  for (let i = 1; i < during.length; i++) assert.ok(during[i]! - during[i - 1]! <= YIELD_EVERY_ENTRIES + 1, `gap ${during[i - 1]} → ${during[i]}`);
});

test('an AbortSignal stops the walk at its next check, and the reads', async () => {
  const root = await tree(50, 4);
  const ac = new AbortController();
  let seen = 0;
  await assert.rejects(
    (async () => {
      for await (const e of nodeSource(root, { signal: ac.signal }).walk()) {
        if (++seen === 10) ac.abort(new Error('stop here'));
        void e;
      }
    })(),
    /stop here/,
  );
  assert.equal(seen, 10, 'not one entry after the abort');

  const ac2 = new AbortController();
  const entries = [];
  for await (const e of nodeSource(root, { signal: ac2.signal }).walk()) if (e.kind === 'file') entries.push(e);
  ac2.abort(new Error('no more reads'));
  await assert.rejects(
    (async () => {
      for await (const _ of entries[0]!.read()) {
        /* nothing */
      }
    })(),
    /no more reads/,
  );
});
