/**
 * One image inside another without the caller writing a temporary file (issue 8): a FAT ESP, an
 * initramfs and a squashfs as files of an ISO. A FAT volume and an uncompressed cpio know their
 * sizes from their plans and are streamed into the ISO while the ISO is written; a compressed cpio and a squashfs are
 * spooled first (memory up to a bound, then an unlinked temporary file). The files extracted from
 * the ISO by xorriso equal the images written directly, and the cpio inside is read by cpio.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { imageContent, memoryTree, withSink, MemorySink, type ImageContent } from '@imgkit/core';
import { fileSink, nodeSource, nodeSpoolSink } from '@imgkit/core/node';
import { planCpio, writeCpio } from '@imgkit/cpio';
import { writeIso } from '@imgkit/iso9660';
import { planFat, writeFat } from '@imgkit/fat';
import { planSquashfs, writeSquashfs } from '@imgkit/squashfs';
import { DEFAULT_ROOTFS } from './lib/fixture.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';

const EPOCH = 1_700_000_000;

test('a live ISO holding a FAT ESP (streamed), an initramfs (streamed when uncompressed, spooled to a temporary file when compressed) and a squashfs (spooled): the files in the ISO are the images written directly', async () => {
  const xorriso = requireTool('xorriso', 'xorriso');
  const cpio = requireTool('cpio', 'cpio');
  const dir = await tempDir('nest');
  const spoolDir = join(dir, 'spool');
  await run('mkdir', [spoolDir]);
  const tree = () => nodeSource(DEFAULT_ROOTFS);

  const plain = await imageContent(await planCpio(tree(), { compression: 'none', epoch: EPOCH }), { label: 'the initramfs' });
  const esp = () => memoryTree([{ path: 'EFI/BOOT/BOOTX64.EFI', kind: 'file', content: 'MZ'.repeat(40_000) }, { path: 'loader/entries/live.conf', kind: 'file', content: 'title live\n' }], { mtime: EPOCH });
  const fat = await imageContent(await planFat(esp(), { label: 'ESP', epoch: EPOCH }), { label: 'the ESP' });
  const spilled: string[] = [];
  const spool = (label: string) => () => nodeSpoolSink({ label, memoryBytes: 0, dir: spoolDir, onSpill: (i) => spilled.push(`${i.label} → ${i.store}`) });
  const zstd = await imageContent(await planCpio(tree(), { compression: 'zstd', epoch: EPOCH }), { label: 'the zstd initramfs', spool: spool('the zstd initramfs') });
  const sqfs = await imageContent(await planSquashfs(tree(), { compression: 'xz', epoch: EPOCH }), { label: 'the root filesystem', spool: spool('the root filesystem') });
  assert.deepEqual([plain.how, fat.how, zstd.how, sqfs.how], ['stream', 'stream', 'file', 'file']);
  assert.deepEqual(spilled, [`the zstd initramfs → an unlinked temporary file in ${spoolDir}`, `the root filesystem → an unlinked temporary file in ${spoolDir}`]);
  assert.deepEqual(await readdir(spoolDir), [], 'spool files have no name');

  const file = (path: string, c: ImageContent) => ({ path, kind: 'file' as const, size: c.size, content: () => c.read(), mtime: EPOCH });
  const live = memoryTree([file('boot/efi.img', fat), file('boot/initrd.img', plain), file('boot/initrd.zst', zstd), file('live/filesystem.squashfs', sqfs)], { mtime: EPOCH });
  const iso = join(dir, 'live.iso');
  await withSink(await fileSink(iso), (s) => writeIso(live, s, { epoch: EPOCH }));
  await Promise.all([plain.dispose(), fat.dispose(), zstd.dispose(), sqfs.dispose()]);

  const direct = async (f: (s: MemorySink) => Promise<unknown>) => {
    const m = new MemorySink();
    await f(m);
    return Buffer.from(m.bytes());
  };
  const want: Record<string, Buffer> = {
    'boot/efi.img': await direct((s) => writeFat(esp(), s, { label: 'ESP', epoch: EPOCH })),
    'boot/initrd.img': await direct((s) => writeCpio(tree(), s, { compression: 'none', epoch: EPOCH })),
    'boot/initrd.zst': await direct((s) => writeCpio(tree(), s, { compression: 'zstd', epoch: EPOCH })),
    'live/filesystem.squashfs': await direct((s) => writeSquashfs(tree(), s, { compression: 'xz', epoch: EPOCH })),
  };
  const out = join(dir, 'out');
  await run(xorriso, ['-osirrox', 'on', '-indev', iso, '-extract', '/', out]);
  for (const [p, bytes] of Object.entries(want)) {
    const got = await readFile(join(out, p));
    assert.equal(got.byteLength, bytes.byteLength, p);
    assert.ok(got.equals(bytes), `${p} in the ISO equals the image written directly`);
  }
  await run(requireTool('fsck.fat', 'dosfstools'), ['-n', join(out, 'boot/efi.img')]);
  const listing = await run('sh', ['-c', `${cpio} -it --quiet < '${join(out, 'boot/initrd.img')}'`]);
  assert.match(String(listing.stdout), /^init$/m);
  assert.match(String(listing.stdout), /^bin\/hello$/m);
});
