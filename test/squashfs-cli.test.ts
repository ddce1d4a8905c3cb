/**
 * `imgkit squashfs`: mksquashfs-style options reach the image (checked with unsquashfs), the
 * manifest and tar sources work, and impossible requests exit 2 with a message.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyManifest, parseManifest } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { Superblock } from '@imgkit/squashfs';
import { makeRichTree, richManifestText, RICH_MANIFEST_PATH } from './lib/fixture.js';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.js';

const UNSQUASHFS = () => requireTool('unsquashfs', 'squashfs-tools');
let work: string;
let src: string;

async function imgkitOk(args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await runImgkit(args, { env });
  assert.equal(r.code, 0, r.stderr);
}
async function listing(image: string): Promise<string[]> {
  return (await run(UNSQUASHFS(), ['-lln', image], { env: { TZ: 'UTC' } })).stdout.toString().trim().split('\n');
}
async function stat(image: string): Promise<string> {
  return (await run(UNSQUASHFS(), ['-stat', image])).stdout.toString();
}

before(async () => {
  work = await tempDir('sqfs-cli');
  src = join(work, 'src');
  await makeRichTree(src);
});

describe('imgkit squashfs', () => {
  it('takes mksquashfs spellings: -comp, -b, -Xcompression-level, -no-fragments, -no-duplicates, -mkfs-time', async () => {
    const image = join(work, 'a.sqfs');
    await imgkitOk(['squashfs', src, image, '-comp', 'zstd', '-b', '64K', '-Xcompression-level', '19', '-no-fragments', '-no-duplicates', '-mkfs-time', '1000', '-processors', '1']);
    const s = await stat(image);
    assert.match(s, /^Compression zstd$/m);
    assert.match(s, /compression-level 19/);
    assert.match(s, /^Block size 65536$/m);
    assert.match(s, /^Number of fragments 0$/m);
    assert.doesNotMatch(s, /Duplicates are removed/);
    assert.equal(Superblock.decode(await readFile(image)).modificationTime, 1000);
    const out = join(work, 'a-out');
    await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
    assertSameTree(await snapshotDir(out), await snapshotTree(nodeSource(src)));
  });

  it('-all-root, -force-uid/-force-gid and -e (repeatable, with wildcards)', async () => {
    const image = join(work, 'b.sqfs');
    await imgkitOk(['squashfs', src, image, '-all-root', '-e', 'sizes', '-e', 'misc/*.txt', '-e', 'links/loop?']);
    const lines = await listing(image);
    assert.ok(lines.every((l) => / 0\/0 /.test(l)), 'everything is owned by 0:0');
    const names = lines.map((l) => l.replace(/^.* squashfs-root\/?/, '').replace(/ -> .*$/, ''));
    assert.ok(!names.some((n) => n === 'sizes' || n.startsWith('sizes/')), 'sizes/ excluded with its contents');
    assert.ok(!names.includes('misc/grüße.txt'));
    assert.ok(!names.includes('links/loop1') && !names.includes('links/loop2'));
    assert.ok(names.includes('misc/-dash') && names.includes('links/rel'));

    const image2 = join(work, 'b2.sqfs');
    await imgkitOk(['squashfs', src, image2, '-force-uid', '1234', '-force-gid', '5678']);
    assert.ok((await listing(image2)).every((l) => / 1234\/5678 /.test(l)));
  });

  it('SOURCE_DATE_EPOCH sets the mkfs time and clamps newer file times', async () => {
    const image = join(work, 'c.sqfs');
    await imgkitOk(['squashfs', src, image], { SOURCE_DATE_EPOCH: '1800000000' });
    assert.equal(Superblock.decode(await readFile(image)).modificationTime, 1_800_000_000);
    const future = (await listing(image)).find((l) => l.endsWith('squashfs-root/future'))!;
    assert.match(future, / 2027-01-15 08:00 /); // 2_100_000_000 clamped to 1_800_000_000
  });

  it('--manifest adds devices, fifos and sockets and sets owners', async () => {
    const image = join(work, 'd.sqfs');
    await imgkitOk(['squashfs', src, image, '--manifest', RICH_MANIFEST_PATH, '-mkfs-time', '5']);
    const out = join(work, 'd-out');
    await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
    const expected = await snapshotTree(applyManifest(nodeSource(src), parseManifest(await richManifestText(), RICH_MANIFEST_PATH), { mtime: 5 }));
    assertSameTree(await snapshotDir(out), expected);
  });

  it('--tar reads a tar archive as the source', async () => {
    const tarFile = join(work, 'src.tar');
    await run(requireTool('tar', 'tar'), ['--format=pax', '-cf', tarFile, '-C', src, '.']);
    const image = join(work, 'e.sqfs');
    await imgkitOk(['squashfs', tarFile, image, '--tar']);
    const out = join(work, 'e-out');
    await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
    assertSameTree(await snapshotDir(out), await snapshotTree(nodeSource(src)), { ignore: ['root'] });
  });

  it('-processors 0 and 2 give the same bytes', async () => {
    const a = join(work, 'p0.sqfs');
    const b = join(work, 'p2.sqfs');
    await imgkitOk(['squashfs', src, a, '-processors', '0', '-comp', 'gzip']);
    await imgkitOk(['squashfs', src, b, '-processors', '2', '-comp', 'gzip']);
    assert.deepEqual(await readFile(a), await readFile(b));
  });

  it('refuses standard output and bad options with exit status 2', async () => {
    const r1 = await runImgkit(['squashfs', src, '-']);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /standard output/);
    const r2 = await runImgkit(['squashfs', src, join(work, 'x.sqfs'), '-b', '3000']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /blockSize/);
    const r3 = await runImgkit(['squashfs', src, join(work, 'y.sqfs'), '-comp', 'lzo']);
    assert.equal(r3.code, 2);
    const r4 = await runImgkit(['squashfs', join(work, 'missing'), join(work, 'z.sqfs')]);
    assert.equal(r4.code, 1);
  });
});
