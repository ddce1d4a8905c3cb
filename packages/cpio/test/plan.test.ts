import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryTree } from '@imgkit/core';
import { planCpio } from '@imgkit/cpio';

test('planCpio: root as ".", sequential inodes, dir link counts, link groups, no content read', async () => {
  let reads = 0;
  const content = () => {
    reads++;
    return (async function* () {
      yield new Uint8Array(3);
    })();
  };
  const plan = await planCpio(
    memoryTree([
      { path: 'a/b/c', kind: 'dir' },
      { path: 'a/f', kind: 'file', size: 3, content },
      { path: 'a/g', kind: 'file', hardLinkTo: 'a/f' },
      { path: 'z', kind: 'symlink', linkTarget: 'a/f' },
    ]),
  );
  const by = new Map(plan.map((p) => [new TextDecoder().decode(p.name), p]));
  assert.deepEqual([...by.keys()], ['.', 'a', 'a/b', 'a/b/c', 'a/f', 'a/g', 'z']);
  assert.deepEqual(plan.map((p) => p.ino), [1, 2, 3, 4, 5, 5, 6]);
  assert.deepEqual([by.get('.')!.nlink, by.get('a')!.nlink, by.get('a/b')!.nlink, by.get('a/b/c')!.nlink], [3, 3, 3, 2]);
  assert.deepEqual([by.get('a/f')!.nlink, by.get('a/g')!.nlink, by.get('a/f')!.filesize, by.get('a/g')!.filesize], [2, 2, 0, 3]);
  assert.equal(by.get('a/g')!.content, by.get('a/f')!.entry);
  assert.equal(by.get('z')!.filesize, 3);
  assert.equal(by.get('z')!.mode, 0o120777);
  assert.equal(reads, 0);
});

test('planCpio: the epoch clamps only newer times', async () => {
  const plan = await planCpio(memoryTree([{ path: 'old', kind: 'file', mtime: 10 }, { path: 'new', kind: 'file', mtime: 5000 }]), { epoch: 100 });
  assert.deepEqual(plan.map((p) => p.mtime), [0, 100, 10]);
});
