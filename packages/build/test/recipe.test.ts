/**
 * parseRecipe: defaults, shorthands, file names, JSON recipes (fields as RFC 6901 pointers), and
 * refusals at their line and field (each with its code).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError } from '@imgkit/core';
import { artifactFiles, parseRecipe } from '@imgkit/build';

const BASE = 'name: app\nversion: 2.1\nroot: rootfs/\nkernel: vmlinuz\nboot:\n  efi: { loader: grub.efi }\n  entries:\n    - { label: main, cmdline: quiet }\n';

test('defaults and shorthands: arch amd64, zstd squashfs, `- tar`, names from the pattern', () => {
  const r = parseRecipe(`${BASE}artifacts:\n  - tar\n  - update\n  - { type: iso }\n  - { type: disk, formats: [raw, vhdx], name: "{name}-disk.{ext}", layout: { table: gpt, partitions: [] } }\n`, 'r.yaml');
  assert.equal(r.arch, 'amd64');
  assert.equal(r.version, '2.1');
  assert.equal(r.squashfs.compression, 'zstd');
  assert.deepEqual(r.root?.layers, ['rootfs/']);
  assert.deepEqual(r.artifacts.flatMap((a) => artifactFiles(r, a)), ['app-2.1-amd64.tar', 'system-2.1.squashfs', 'app-2.1-amd64.iso', 'app-disk.img', 'app-disk.vhdx']);
});

test('a JSON recipe names fields as JSON pointers, with lines', () => {
  const text = '{\n  "name": "app",\n  "version": "1",\n  "artifacts": [\n    { "type": "nope" }\n  ]\n}\n';
  assert.throws(() => parseRecipe(text, 'r.json'), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === '/artifacts/0/type' && e.line === 5);
});

const refusals: [string, string, string, number][] = [
  ['unknown key in an artifact', `${BASE}artifacts:\n  - { type: tar, compress: yes }\n`, 'artifacts[0].compress', 10],
  ['a bootEntry that is no label', `${BASE}artifacts:\n  - { type: iso, bootEntry: other }\n`, 'artifacts[0].bootEntry', 10],
  ['an unknown placeholder', `${BASE}artifacts:\n  - { type: tar, name: "{name}-{date}.tar" }\n`, 'artifacts[0].name', 10],
  ['a duplicate boot label', BASE.replace('    - { label: main, cmdline: quiet }\n', '    - { label: main, cmdline: quiet }\n    - { label: main, cmdline: other }\n') + 'artifacts: [tar]\n', 'boot.entries[1].label', 9],
  ['initramfs with both file and dir', `${BASE}initramfs: { file: a, dir: b }\nartifacts: [tar]\n`, 'initramfs', 9],
  ['a block size that is no power of two', `${BASE}squashfs: { blockSize: 100000 }\nartifacts: [tar]\n`, 'squashfs.blockSize', 9],
  ['no artifacts', BASE, 'artifacts', 1],
];
for (const [what, text, field, line] of refusals) {
  test(`refused: ${what} (${field}, line ${line})`, () => {
    assert.throws(() => parseRecipe(text, 'r.yaml'), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === field && e.line === line && e.path === 'r.yaml');
  });
}
