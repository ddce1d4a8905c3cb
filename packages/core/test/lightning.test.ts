import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readChecked, type SourceTree } from '@imgkit/core';
import { lightningFsSource } from '@imgkit/core/browser';
import { nodeSource } from '@imgkit/core/node';
import { tempDir } from '../../../test/lib/tools.ts';
import { lightningFsEnvironment } from '../../../test/lib/lightning-env.ts';
import { snapshot } from './snapshot.ts';

// lightning-fs expects a browser: IndexedDB from fake-indexeddb, a navigator without Web Locks.
await lightningFsEnvironment();
const { default: LightningFS } = await import('@isomorphic-git/lightning-fs');


test('lightningFsSource yields the same snapshot as nodeSource for files, dirs and symlinks', async () => {
  const d = await tempDir('lightning');
  const w = (p: string, data: string | Uint8Array) => fsp.writeFile(path.join(d, p), data);
  await fsp.mkdir(path.join(d, 'a/b'), { recursive: true });
  await fsp.mkdir(path.join(d, 'private'), { mode: 0o700 });
  await w('empty', '');
  const big = new Uint8Array(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
  await w('a/big', big);
  for (const n of ['a-b', 'a.c', 'B', 'é', '\uFF71', '\u{1F600}', 'a/b/x', 'a/b-c']) await w(n, n);
  await fsp.chmod(path.join(d, 'a.c'), 0o755);
  await fsp.chown(path.join(d, 'B'), 1000, 1001);
  await fsp.symlink('a/big', path.join(d, 'link'));
  await fsp.symlink('/nowhere', path.join(d, 'a/dangling'));
  // lightning-fs gives symlinks the instance's default owner (1:1) and has no lchown: match it.
  for (const l of ['link', 'a/dangling']) await fsp.lchown(path.join(d, l), 1, 1);
  const expected = await snapshot(nodeSource(d));

  const fs = new LightningFS('imgkit-test', { wipe: true });
  const p = fs.promises;
  await p.mkdir('/proj');
  const dirs: [string, number, number, number, number][] = [];
  for await (const e of nodeSource(d).walk()) {
    const at = e.path === '' ? '/proj' : `/proj/${e.path}`;
    if (e.kind === 'dir') {
      if (e.path !== '') await p.mkdir(at, { mode: e.mode });
      dirs.push([at, e.mode, e.uid, e.gid, e.mtime]);
    } else if (e.kind === 'file') {
      await p.writeFile(at, new Uint8Array(await fsp.readFile(path.join(d, e.path))), { mode: e.mode });
      await p.chown(at, e.uid, e.gid);
      await p.utimes(at, e.mtime, e.mtime);
    } else if (e.kind === 'symlink') {
      await p.symlink(e.linkTarget!, at);
      await p.lutimes(at, e.mtime, e.mtime);
    }
  }
  for (const [at, mode, uid, gid, mtime] of dirs.reverse()) {
    await p.chmod(at, mode);
    await p.chown(at, uid, gid);
    await p.utimes(at, mtime, mtime);
  }
  const got = await snapshot(lightningFsSource(fs, '/proj'));
  assert.deepEqual([...got.keys()], [...expected.keys()]);
  assert.deepEqual(got, expected);
  assert.equal(got.get('a/big')!.size, 300_000);

  await assert.rejects(snapshot(lightningFsSource(fs, '/missing')), { code: 'E_SOURCE_MISSING', path: '/missing' });
  await assert.rejects(snapshot(lightningFsSource(fs, '/proj/a.c')), { code: 'E_SOURCE_MISSING' });
});
