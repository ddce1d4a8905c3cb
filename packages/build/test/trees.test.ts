/**
 * overlayTrees: overlayfs's rules on in-memory layers — replace, merge directories, a non-directory
 * hiding a directory's subtree, whiteouts as char 0/0 and as OCI `.wh.<name>`, opaque directories
 * (`.wh..wh..opq`), a hard link whose target a later layer removed; output sorted parents first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, memoryTree, makeDev, type MemoryEntryInit, type SourceTree } from '@imgkit/core';
import { generatedTree, overlayTrees } from '@imgkit/build';

async function listing(t: SourceTree): Promise<string[]> {
  const out: string[] = [];
  for await (const e of t.walk()) {
    let content = '';
    if (e.kind === 'file') for await (const c of e.read()) content += new TextDecoder().decode(c);
    out.push(`${e.path || '.'} ${e.kind}${e.kind === 'file' ? `=${content}` : ''}`);
  }
  return out;
}
const layer = (inits: MemoryEntryInit[]) => memoryTree(inits);

test('a later layer replaces files, merges directories and hides what a non-directory covers', async () => {
  const a = layer([
    { path: 'etc/hostname', kind: 'file', content: 'a' },
    { path: 'etc/keep', kind: 'file', content: 'k' },
    { path: 'opt/tool/bin', kind: 'file', content: 'x' },
  ]);
  const b = layer([
    { path: 'etc/hostname', kind: 'file', content: 'b' },
    { path: 'opt/tool', kind: 'symlink', linkTarget: '/usr/lib/tool' },
  ]);
  assert.deepEqual(await listing(overlayTrees([a, b])), ['. dir', 'etc dir', 'etc/hostname file=b', 'etc/keep file=k', 'opt dir', 'opt/tool symlink']);
});

test('whiteouts: char device 0/0 (overlayfs) and .wh.<name> (OCI) delete; .wh..wh..opq empties a directory', async () => {
  const a = layer([
    { path: 'var/old/file', kind: 'file', content: 'o' },
    { path: 'var/log', kind: 'file', content: 'l' },
    { path: 'srv/a', kind: 'file', content: 'a' },
    { path: 'srv/b', kind: 'file', content: 'b' },
    { path: 'dev/null', kind: 'char', rdev: makeDev(1, 3) },
  ]);
  const b = layer([
    { path: 'var/.wh.old', kind: 'file', content: '' },
    { path: 'var/log', kind: 'char', rdev: 0 },
    { path: 'srv/.wh..wh..opq', kind: 'file', content: '' },
    { path: 'srv/c', kind: 'file', content: 'c' },
  ]);
  assert.deepEqual(await listing(overlayTrees([a, b])), ['. dir', 'dev dir', 'dev/null char', 'srv dir', 'srv/c file=c', 'var dir']);
});

test('a hard link whose first name a later layer replaced is an error naming it', async () => {
  const a = layer([
    { path: 'x', kind: 'file', content: 'x' },
    { path: 'y', kind: 'file', hardLinkTo: 'x' },
  ]);
  const b = layer([{ path: '.wh.x', kind: 'file', content: '' }]);
  await assert.rejects(listing(overlayTrees([a, b])), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_INPUT' && e.path === 'y');
});

test('generatedTree adds parents, dates everything, streams host content', async () => {
  const t = generatedTree([{ path: 'boot/grub/grub.cfg', content: 'cfg' }, { path: 'EFI/BOOT/BOOTX64.EFI', size: 3, read: async function* () { yield new Uint8Array([1, 2, 3]); } }], 42);
  const entries = [];
  for await (const e of t.walk()) entries.push([e.path, e.kind, e.mtime, e.size, e.mode.toString(8)]);
  assert.deepEqual(entries, [
    ['', 'dir', 42, 0, '755'],
    ['EFI', 'dir', 42, 0, '755'],
    ['EFI/BOOT', 'dir', 42, 0, '755'],
    ['EFI/BOOT/BOOTX64.EFI', 'file', 42, 3, '644'],
    ['boot', 'dir', 42, 0, '755'],
    ['boot/grub', 'dir', 42, 0, '755'],
    ['boot/grub/grub.cfg', 'file', 42, 3, '644'],
  ]);
});
