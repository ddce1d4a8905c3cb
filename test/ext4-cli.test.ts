/**
 * `imgkit ext4` end to end: mke2fs's letters (-b -I -N -m -L -U -O -E -J) reach the image
 * (dumpe2fs -h), SOURCE_DATE_EPOCH makes images reproducible and without it UUIDs are random,
 * standard output, --tar and --manifest sources, and bad input → a clear error (code, path),
 * exit 1 (2 for usage), nothing left behind.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeRichTree } from './lib/fixture.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir } from './lib/tree.ts';
import { asctime, assertFsckClean, debugfs, dumpe2fsHeader, withMount, withoutLostFound } from './ext4-lib.ts';

const EPOCH = '1700000000';
let src: string;
let work: string;

before(async () => {
  work = await tempDir('ext4-cli');
  src = join(work, 'src');
  await makeRichTree(src);
});

async function outDir(name: string): Promise<string> {
  const d = join(work, name);
  await mkdir(d, { recursive: true });
  return d;
}

describe('imgkit ext4', () => {
  it("mke2fs's options reach the image; e2fsck -fn finds nothing; one line says what was written", async () => {
    const out = join(await outDir('opts'), 'fs.img');
    const r = await runImgkit(
      ['ext4', src, out, '--size', '48M', '-b', '1024', '-I', '128', '-N', '3000', '-m', '1', '-L', 'cli-label', '-O', '^metadata_csum', '-O', '^64bit', '-J', 'size=4', '-U', '11111111-2222-4333-8444-555555555555', '-E', 'hash_seed=66666666-7777-4888-9999-aaaaaaaaaaaa'],
      { env: { SOURCE_DATE_EPOCH: EPOCH } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^imgkit: wrote 48\.0 MiB \(50331648 bytes\) to .*fs\.img\n$/);
    await assertFsckClean(out);
    const h = await dumpe2fsHeader(out);
    assert.equal(h.get('Filesystem volume name'), 'cli-label');
    assert.equal(h.get('Filesystem UUID'), '11111111-2222-4333-8444-555555555555');
    assert.equal(h.get('Directory Hash Seed'), '66666666-7777-4888-9999-aaaaaaaaaaaa');
    assert.equal(h.get('Block size'), '1024');
    assert.equal(h.get('Inode size'), '128');
    assert.equal(h.get('Block count'), String(48 * 1024));
    assert.equal(h.get('Reserved block count'), String(Math.floor((1 * 48 * 1024) / 100)));
    assert.ok(Number(h.get('Inode count')) >= 3000);
    assert.equal(h.get('Total journal blocks'), '4096');
    assert.equal(h.get('Filesystem features'), 'has_journal ext_attr resize_inode dir_index filetype extent flex_bg sparse_super large_file huge_file dir_nlink extra_isize');
    assert.equal(h.get('Filesystem created'), asctime(Number(EPOCH)));
  });

  it('SOURCE_DATE_EPOCH: the same bytes twice, to a file and to standard output; without it a random UUID, dated now', async () => {
    const d = await outDir('repro');
    const env = { SOURCE_DATE_EPOCH: EPOCH };
    assert.equal((await runImgkit(['ext4', src, join(d, 'a.img'), '-L', 'r'], { env })).code, 0);
    assert.equal((await runImgkit(['ext4', src, join(d, 'b.img'), '-L', 'r'], { env })).code, 0);
    const a = await readFile(join(d, 'a.img'));
    assert.ok(a.equals(await readFile(join(d, 'b.img'))), 'same bytes');
    const piped = await runImgkit(['ext4', src, '-', '-L', 'r'], { env });
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(piped.stdout.equals(a), 'standard output: same bytes');
    const before = Math.floor(Date.now() / 1000);
    assert.equal((await runImgkit(['ext4', src, join(d, 'c.img')], { env: { SOURCE_DATE_EPOCH: undefined } })).code, 0);
    assert.equal((await runImgkit(['ext4', src, join(d, 'e.img')], { env: { SOURCE_DATE_EPOCH: undefined } })).code, 0);
    const c = await dumpe2fsHeader(join(d, 'c.img'));
    const e = await dumpe2fsHeader(join(d, 'e.img'));
    assert.notEqual(c.get('Filesystem UUID'), e.get('Filesystem UUID'));
    assert.notEqual(c.get('Directory Hash Seed'), e.get('Directory Hash Seed'));
    const created = Date.parse(`${c.get('Filesystem created')} UTC`) / 1000;
    assert.ok(created >= before - 1 && created <= Math.floor(Date.now() / 1000) + 1, `created ${c.get('Filesystem created')}`);
  });

  it('a tar archive (--tar) and a manifest (devices, owners): the mounted tree equals the directory, plus the manifest entries', async () => {
    const d = await outDir('tar');
    const tarFile = join(d, 'tree.tar');
    await run(requireTool('tar', 'tar'), ['-cf', tarFile, '--numeric-owner', '-C', src, '.']);
    const manifest = join(d, 'm.list');
    await writeFile(manifest, 'dir /dev 0755 0 0\nnod /dev/null 0666 0 0 c 1 3\nnod /dev/sda 0660 0 6 b 8 0\n');
    const out = join(d, 'fs.img');
    const r = await runImgkit(['ext4', tarFile, out, '--tar', '--manifest', manifest, '-L', 'tar'], { env: { SOURCE_DATE_EPOCH: undefined } }); // dated now: no time is clamped
    assert.equal(r.code, 0, r.stderr);
    await assertFsckClean(out);
    assert.match(await debugfs(out, 'stat /dev/sda'), /Device major\/minor number: 08:00/);
    await withMount(out, { readOnly: true }, async (mnt) => {
      const got = withoutLostFound(await snapshotDir(mnt));
      for (const k of ['dev', 'dev/null', 'dev/sda']) got.delete(k);
      assertSameTree(got, await snapshotDir(src), { ignore: ['root'] });
    });
  });

  it('bad input: too small (exit 1, E_NO_SPACE with the size needed), unknown feature, -E or block size (exit 2); nothing left behind', async () => {
    const d = await outDir('bad');
    const out = join(d, 'fs.img');
    const small = await runImgkit(['ext4', src, out, '--size', '2M']);
    assert.equal(small.code, 1, small.stderr);
    assert.match(small.stderr, /\[E_NO_SPACE\]/);
    assert.match(small.stderr, /raise --size to \d+M/);
    assert.doesNotMatch(small.stderr, /\n\s+at /, 'no stack trace');
    for (const args of [['-O', 'no_such_feature'], ['-O', 'inline_data'], ['-E', 'stride=4'], ['-b', '8192'], ['-O', '^extent']]) {
      const r = await runImgkit(['ext4', src, out, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /imgkit ext4 --help|error: option/);
    }
    const missing = await runImgkit(['ext4', join(d, 'nowhere'), out]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\[E_SOURCE_MISSING\]/);
    assert.deepEqual(await readdir(d), [], 'no image and no temporary file');
    // an existing output keeps its content when the write fails
    await writeFile(out, 'old content');
    assert.equal((await runImgkit(['ext4', src, out, '--size', '2M'])).code, 1);
    assert.equal(await readFile(out, 'utf8'), 'old content');
  });
});
