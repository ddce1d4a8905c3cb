import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ErrorCodes,
  ImgkitError,
  UnsupportedEntryError,
  checkTree,
  compareTreePaths,
  compareWalkOrder,
  emptyContent,
  memoryTree,
  type SourceEntry,
  type SourceTree,
  type TreeRules,
} from '@imgkit/core';

/** A tree that yields exactly these entries, in this order (to break the walk contract on purpose). */
function rawTree(entries: Partial<SourceEntry>[]): SourceTree {
  const full = entries.map((e) => ({ kind: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, read: emptyContent, ...e }) as SourceEntry);
  return {
    async *walk() {
      yield* full;
    },
  };
}

async function drain(tree: SourceTree, rules: TreeRules) {
  const checked = checkTree(tree, rules);
  const seen: { path: string; name: string; parent: string | undefined; depth: number }[] = [];
  for await (const c of checked) seen.push({ path: c.entry.path, name: c.name, parent: c.parent, depth: c.depth });
  return { seen, summary: checked.summary };
}

function rejects(code: string, path: string) {
  return (e: unknown) => e instanceof ImgkitError && e.code === code && e.path === path && e.format === 'test';
}

const RULES: TreeRules = { format: 'test' };

test('checkTree passes a well-formed walk through, with names, parents and depths', async () => {
  const tree = memoryTree([
    { path: 'a/b/file', kind: 'file', content: 'x' },
    { path: 'a/c', kind: 'dir' },
    { path: 'z', kind: 'symlink', linkTarget: 'a' },
  ]);
  const { seen, summary } = await drain(tree, RULES);
  assert.deepEqual(seen, [
    { path: '', name: '', parent: undefined, depth: 0 },
    { path: 'a', name: 'a', parent: '', depth: 1 },
    { path: 'a/b', name: 'b', parent: 'a', depth: 2 },
    { path: 'a/b/file', name: 'file', parent: 'a/b', depth: 3 },
    { path: 'a/c', name: 'c', parent: 'a', depth: 2 },
    { path: 'z', name: 'z', parent: '', depth: 1 },
  ]);
  assert.equal(summary.entries, 6);
  // Directories: 2 + subdirectories.
  assert.equal(summary.linkCount(''), 3);
  assert.equal(summary.linkCount('a'), 4);
  assert.equal(summary.linkCount('a/b'), 2);
  assert.equal(summary.linkCount('a/b/file'), 1);
});

test('checkTree counts hard-link groups and refuses links to files not walked before', async () => {
  const tree = memoryTree([
    { path: 'a', kind: 'file', content: 'data' },
    { path: 'b', kind: 'file', hardLinkTo: 'a' },
    { path: 'd/c', kind: 'file', hardLinkTo: 'a' },
    { path: 'e', kind: 'file', content: 'single' },
  ]);
  const { summary } = await drain(tree, RULES);
  assert.deepEqual([...summary.linkGroups], [['a', ['a', 'b', 'd/c']]]);
  for (const p of ['a', 'b', 'd/c']) assert.equal(summary.linkCount(p), 3, p);
  assert.equal(summary.linkCount('e'), 1);

  const forward = rawTree([{ path: '', kind: 'dir' }, { path: 'a', hardLinkTo: 'b' }, { path: 'b' }]);
  await assert.rejects(drain(forward, RULES), rejects(ErrorCodes.BAD_INPUT, 'a'));
  const toLink = rawTree([{ path: '', kind: 'dir' }, { path: 'a' }, { path: 'b', hardLinkTo: 'a' }, { path: 'c', hardLinkTo: 'b' }]);
  await assert.rejects(drain(toLink, RULES), rejects(ErrorCodes.BAD_INPUT, 'c'));
  const dirLink = rawTree([{ path: '', kind: 'dir' }, { path: 'a' }, { path: 'b', kind: 'dir', hardLinkTo: 'a' }]);
  await assert.rejects(drain(dirLink, RULES), rejects(ErrorCodes.BAD_INPUT, 'b'));
});

test('checkTree: hard links of symlinks and device nodes (nodeSource reports them) are groups too; a link to another kind is refused', async () => {
  const tree = memoryTree([
    { path: 'bin/sh', kind: 'symlink', linkTarget: 'busybox' },
    { path: 'bin/sh2', kind: 'symlink', linkTarget: 'busybox', hardLinkTo: 'bin/sh' },
    { path: 'dev/null', kind: 'char', rdev: 0x103 },
    { path: 'dev/null2', kind: 'char', rdev: 0x103, hardLinkTo: 'dev/null' },
  ]);
  const { summary } = await drain(tree, RULES);
  assert.deepEqual([...summary.linkGroups], [['bin/sh', ['bin/sh', 'bin/sh2']], ['dev/null', ['dev/null', 'dev/null2']]]);
  assert.equal(summary.linkCount('dev/null2'), 2);
  const mixed = rawTree([{ path: '', kind: 'dir' }, { path: 'a', kind: 'symlink', linkTarget: 'x' }, { path: 'b', kind: 'file', hardLinkTo: 'a' }]);
  await assert.rejects(drain(mixed, RULES), (e: unknown) => rejects(ErrorCodes.BAD_INPUT, 'b')(e) && /a file cannot be a hard link to "a", a symlink/.test((e as Error).message));
});

test('checkTree: a path too long for a message is quoted by its first 200 bytes', async () => {
  const long = `${'d'.repeat(250)}/`.repeat(20) + 'f';
  const bad = rawTree([{ path: '', kind: 'dir' }, { path: long }]);
  await assert.rejects(drain(bad, RULES), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.BAD_INPUT && e.path!.endsWith(`… (${long.length} bytes)`) && e.path!.length < 300);
});

test('checkTree refuses walks that break the SourceTree contract, naming the path', async () => {
  const cases: [string, Partial<SourceEntry>[], string][] = [
    ['no root first', [{ path: 'a' }], 'a'],
    ['root not a directory', [{ path: '', kind: 'file' }], ''],
    ['unsorted', [{ path: '', kind: 'dir' }, { path: 'b' }, { path: 'a' }], 'a'],
    ['twice', [{ path: '', kind: 'dir' }, { path: 'a' }, { path: 'a' }], 'a'],
    ['child before parent', [{ path: '', kind: 'dir' }, { path: 'd/x' }, { path: 'd', kind: 'dir' }], 'd/x'],
    ['parent is a file', [{ path: '', kind: 'dir' }, { path: 'f' }, { path: 'f/x' }], 'f/x'],
    ['dot component', [{ path: '', kind: 'dir' }, { path: 'a/./b' }], 'a/./b'],
    ['dot-dot component', [{ path: '', kind: 'dir' }, { path: '../etc' }], '../etc'],
    ['empty component', [{ path: '', kind: 'dir' }, { path: 'a//b' }], 'a//b'],
    ['leading slash', [{ path: '', kind: 'dir' }, { path: '/abs' }], '/abs'],
  ];
  for (const [what, entries, path] of cases) {
    await assert.rejects(drain(rawTree(entries), RULES), rejects(ErrorCodes.BAD_INPUT, path), what);
  }
  await assert.rejects(drain(rawTree([]), RULES), rejects(ErrorCodes.BAD_INPUT, ''), 'empty tree');
});

test('checkTree refuses kinds the format cannot store with its own reason', async () => {
  const tree = memoryTree([{ path: 'dev/null', kind: 'char', rdev: 0x103 }]);
  await assert.rejects(
    drain(tree, { format: 'test', kinds: ['file', 'dir'], refuse: { char: { detail: 'no devices here', hint: 'exclude it' } } }),
    (e: unknown) => e instanceof UnsupportedEntryError && e.code === ErrorCodes.UNSUPPORTED_ENTRY && e.path === 'dev/null' && e.detail === 'no devices here',
  );
  await assert.rejects(
    drain(memoryTree([{ path: 's', kind: 'socket' }]), { format: 'test', kinds: ['file', 'dir'] }),
    (e: unknown) => e instanceof UnsupportedEntryError && e.path === 's' && /socket/.test(e.detail),
  );
});

test('checkTree applies name byte limits and the format name rule', async () => {
  const long = 'é'.repeat(128); // 256 bytes of UTF-8
  await assert.rejects(drain(memoryTree([{ path: long, kind: 'file' }]), { format: 'test', maxNameBytes: 255 }), rejects(ErrorCodes.NAME_TOO_LONG, long));
  await assert.rejects(drain(memoryTree([{ path: 'aa/bb/cc', kind: 'file' }]), { format: 'test', maxPathBytes: 7 }), rejects(ErrorCodes.PATH_TOO_LONG, 'aa/bb/cc'));
  const rule: TreeRules = {
    format: 'test',
    checkName: (name) => (name.includes(':') ? { code: ErrorCodes.NAME_UNENCODABLE, detail: 'no colons' } : undefined),
  };
  const { seen } = await drain(memoryTree([{ path: 'ok/fine', kind: 'file' }]), rule);
  assert.equal(seen.length, 3);
  await assert.rejects(drain(memoryTree([{ path: 'ok/a:b', kind: 'file' }]), rule), rejects(ErrorCodes.NAME_UNENCODABLE, 'ok/a:b'));
});

test('compareWalkOrder orders paths exactly as compareTreePaths (random paths, separators, surrogates, U+E000…U+FFFF)', () => {
  const alphabet = ['a', 'b', 'A', '-', '.', ' ', '/', '0', '~', 'é', 'Z', '\u{e000}', '\u{ffff}', '\u{10000}', '🙂', '日'];
  let x = 12345;
  const rnd = (n: number) => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const path = () => Array.from({ length: 1 + rnd(6) }, () => alphabet[rnd(alphabet.length)]).join('');
  for (let i = 0; i < 20000; i++) {
    const a = path();
    const b = i % 10 === 0 ? `${a}/${path()}` : path();
    assert.equal(Math.sign(compareWalkOrder(a, b)), Math.sign(compareTreePaths(a, b)), JSON.stringify([a, b]));
  }
});
