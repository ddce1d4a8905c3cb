/**
 * The web page (apps/web) in a real browser: playwright-core drives Debian's Chromium headless,
 * with the flags of test/browser.test.ts, against the page built by apps/web/scripts/build.ts and
 * served from 127.0.0.1 by apps/web/scripts/serve.ts. Everything goes through the page as a person
 * uses it: the folder goes in through the real `<input webkitdirectory>`, the options through the
 * form (fields named by their CLI flags), the image comes out through the Download link (memory
 * and OPFS targets) or the service worker's streamed download.
 *
 * Each saved image is checked with the reference tools (cpio -itvn and -idm, unsquashfs -lln and -d,
 * xorriso's El Torito report and extraction, fsck.fat and mcopy, sfdisk and sgdisk, qemu-img check
 * and compare), its contents compared with the tree, and its bytes compared with what the CLI
 * (`imgkit …` with the same flags and SOURCE_DATE_EPOCH) writes from the same folder on disk. The
 * page's ISO is booted in QEMU (SeaBIOS from the isohybrid MBR as a disk, OVMF from the El Torito
 * UEFI image as a CD). Bad input shows the CLI's message and offers no download; a cancelled build
 * saves nothing; and with the server stopped and the network off, a reload still builds (service
 * worker cache: page, worker bundle, liblzma.wasm).
 *
 * A screenshot of the page after the ISO build is saved to test-artifacts/web-iso-report.png.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyManifest, applyOwnership, parseManifest, withSink, MemorySink, type SourceTree } from '@imgkit/core';
import { nodeHostFiles, nodeSource } from '@imgkit/core/node';
import { planFat } from '@imgkit/fat';
import { planDisk } from '@imgkit/partition';
import { assertListingMatches as assertCpioListing, parseCpioListing } from './lib/cpio-listing.ts';
import { fatView, FAT_IGNORED, fsckFat, mcopyExtract } from './lib/fat.ts';
import { boot, consoleTail } from './lib/qemu.ts';
import { assertListingMatches as assertSquashfsListing, parseLln } from './lib/squashfs-listing.ts';
import { REPO_ROOT, requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir, snapshotTree, type Snapshot } from './lib/tree.ts';
import { QEMU_IMG } from './lib/vdisk.ts';
import { contentOf, LIVE_MARKER, makeBadFatTree, makeBulkTree, makeDataTree, makeDiskTree, makeLiveTree, WEB_DISK_LAYOUT, WEB_EPOCH, writeTree } from './lib/web-fixture.ts';
import { assertFsckClean, withMount, withoutLostFound } from './ext4-lib.ts';
import { chooseKind, chooseTarget, clickBuild, openWebPage, outcome, pickFile, pickFolder, saveDownload, setFields, type WebSession } from './lib/web.ts';

const EPOCH = String(WEB_EPOCH);
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

let s: WebSession;
let work = '';
let data: { root: string; manifest: string };
let live: { root: string; mbrTemplate: string };
let expected: Snapshot;
/** The FAT-in-GPT disk the page built: the raw input of the VM-disk conversions. */
let rawDisk = '';

/** What the CLI's source flags make of the data tree: --all-root, --manifest, SOURCE_DATE_EPOCH. */
function cliTree(root: string, manifestPath: string, manifestText: string): SourceTree {
  const owned = applyOwnership(nodeSource(root), { allRoot: true });
  const withManifest = applyManifest(owned, parseManifest(manifestText, manifestPath), { hostFiles: nodeHostFiles(join(manifestPath, '..')), mtime: WEB_EPOCH });
  return applyOwnership(withManifest, { epoch: WEB_EPOCH });
}

/** The CLI's image of the same input: `SOURCE_DATE_EPOCH=… imgkit <args>`; its bytes. */
async function cli(args: string[], out: string): Promise<Buffer> {
  const r = await runImgkit([...args.slice(0, 2), out, ...args.slice(2)], { env: { SOURCE_DATE_EPOCH: EPOCH } });
  assert.equal(r.code, 0, `imgkit ${args.join(' ')} failed:\n${r.stderr}`);
  return readFile(out);
}

/** The CLI's error line for the same input (exit 1). */
async function cliError(args: string[]): Promise<string> {
  const r = await runImgkit(args, { env: { SOURCE_DATE_EPOCH: EPOCH } });
  assert.equal(r.code, 1, `imgkit ${args.join(' ')} should fail with exit 1:\n${r.stderr}`);
  return r.stderr.trim().split('\n').at(-1)!;
}

function assertSameBytes(page: Buffer, node: Buffer, what: string): void {
  assert.equal(page.length, node.length, `${what}: the page wrote ${page.length} bytes, the CLI ${node.length}`);
  assert.ok(page.equals(node), `${what}: the page's bytes differ from the CLI's`);
}

/** A fresh page (reload: the service worker serves it once installed), the data tree picked, source fields set. */
async function freshPage(dir = data.root, manifest: string | null = data.manifest): Promise<void> {
  await s.page.reload();
  await s.page.waitForSelector('body[data-state=idle]');
  await pickFolder(s.page, dir);
  await setFields(s.page, { SOURCE_DATE_EPOCH: EPOCH, '--all-root': true, '--manifest': { file: manifest } });
}

async function built(what: string, download = !what.includes('stream')): Promise<void> {
  const o = await clickBuild(s.page);
  assert.equal(o.state, 'done', `${what}: the page says ${o.state}: ${o.error}\n${s.log.slice(-20).join('\n')}`);
  assert.equal(o.downloadOffered, download, `${what}: download offered`);
}

/** A file of the page's private storage (OPFS), read back through the page. */
async function opfsRead(dir: string, name: string): Promise<Buffer> {
  const b64 = await s.page.evaluate(
    async ([d, n]) => {
      const root = await navigator.storage.getDirectory();
      const f = await (await (await root.getDirectoryHandle(d!)).getFileHandle(n!)).getFile();
      const bytes = new Uint8Array(await f.arrayBuffer());
      let text = '';
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(text);
    },
    [dir, name],
  );
  return Buffer.from(b64, 'base64');
}

/** Files in a folder of the page's private storage (OPFS): the page's images by default. */
async function opfsFiles(dir = 'imgkit-images'): Promise<string[]> {
  return s.page.evaluate(async (d) => {
    const root = await navigator.storage.getDirectory();
    const names: string[] = [];
    for await (const [name, h] of (root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (h.kind === 'directory' && name === d) for await (const [n] of (h as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) names.push(`${name}/${n}`);
    }
    return names;
  }, dir);
}

describe('web page: images built in Chromium from a picked folder, checked by the reference tools, equal to the CLI', { timeout: 900_000 }, () => {
  before(async () => {
    work = await tempDir('web-test');
    data = await makeDataTree(join(work, 'tree'));
    live = await makeLiveTree(join(work, 'live', 'live'), await tempDir('web-live-kit'));
    expected = await snapshotTree(cliTree(data.root, data.manifest, await readFile(data.manifest, 'utf8')));
    s = await openWebPage();
    // The service worker installs on the first load and takes the page: the streamed download and
    // the offline test need it.
    await s.page.waitForSelector('body[data-offline=true]', { timeout: 180_000 });
  });
  after(async () => {
    if (s) {
      if (process.exitCode) console.log(`page log (tail):\n${s.log.slice(-40).join('\n')}`);
      await s.close();
    }
  });

  it('cpio gzip, in memory: cpio -itvn lists the tree and manifest entries, -idm extracts the contents; bytes equal imgkit cpio', async () => {
    await freshPage();
    await chooseKind(s.page, 'cpio');
    await setFields(s.page, { '--compress': 'gzip' });
    await chooseTarget(s.page, 'memory');
    await built('cpio gzip');
    const saved = join(work, 'page.cpio.gz');
    assert.equal(await saveDownload(s.page, saved), 'tree.cpio.gz');
    const bytes = await readFile(saved);
    const archive = (await run(requireTool('gzip', 'gzip'), ['-dc', saved])).stdout;
    const listing = parseCpioListing((await run(requireTool('cpio', 'cpio'), ['-itvn', '--quiet'], { input: archive, env: { TZ: 'UTC' } })).stdout.toString());
    assertCpioListing(listing, expected, 'cpio -itvn');
    const out = join(work, 'cpio-x');
    await mkdir(out);
    await run(requireTool('cpio', 'cpio'), ['-idm', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: out });
    const files = new Map([...expected].filter(([, e]) => e.kind === 'file'));
    assertSameTree(new Map([...(await snapshotDir(out))].filter(([p]) => files.has(p))), files, { ignore: ['mode', 'uid', 'gid', 'mtime', 'root'] });
    assertSameBytes(bytes, await cli(['cpio', data.root, '--compress', 'gzip', '--manifest', data.manifest, '--all-root'], join(work, 'cli.cpio.gz')), 'cpio gzip');
  });

  it('cpio zstd, streamed download through the service worker: zstd -t and cpio -itvn accept it; bytes equal imgkit cpio', async () => {
    await freshPage();
    await chooseKind(s.page, 'cpio');
    await setFields(s.page, { '--compress': 'zstd' });
    await chooseTarget(s.page, 'stream');
    const download = s.page.waitForEvent('download', { timeout: 300_000 });
    await built('cpio zstd stream');
    const d = await download;
    const saved = join(work, 'page.cpio.zst');
    await d.saveAs(saved);
    assert.equal(d.suggestedFilename(), 'tree.cpio.zst');
    await run(requireTool('zstd', 'zstd'), ['-tq', saved]);
    const archive = (await run(requireTool('zstd', 'zstd'), ['-dc', saved])).stdout;
    assertCpioListing(parseCpioListing((await run(requireTool('cpio', 'cpio'), ['-itvn', '--quiet'], { input: archive, env: { TZ: 'UTC' } })).stdout.toString()), expected, 'cpio -itvn');
    assertSameBytes(await readFile(saved), await cli(['cpio', data.root, '--compress', 'zstd', '--manifest', data.manifest, '--all-root'], join(work, 'cli.cpio.zst')), 'cpio zstd');
  });

  it('squashfs zstd on the Web Worker pool, through OPFS: unsquashfs -lln lists the tree, -d extracts it; bytes equal imgkit squashfs', async () => {
    await freshPage();
    await chooseKind(s.page, 'squashfs');
    await setFields(s.page, { '-comp': 'zstd', '--uid': '0' });
    // The command line in squashfs's own spelling (mksquashfs's -all-root, -force-uid).
    assert.match((await s.page.textContent('#command')) ?? '', /imgkit squashfs tree <out> -comp zstd --manifest web\.manifest -all-root -force-uid 0$/);
    await chooseTarget(s.page, 'opfs');
    await built('squashfs');
    assert.deepEqual(await opfsFiles(), ['imgkit-images/tree.squashfs'], 'the image is in the private storage');
    const saved = join(work, 'page.squashfs');
    await saveDownload(s.page, saved);
    const unsquashfs = requireTool('unsquashfs', 'squashfs-tools');
    assert.match((await run(unsquashfs, ['-stat', saved], { env: { TZ: 'UTC' } })).stdout.toString(), /^Compression zstd$/m);
    assertSquashfsListing(parseLln((await run(unsquashfs, ['-lln', saved], { env: { TZ: 'UTC' } })).stdout.toString()), expected);
    const out = join(work, 'sq-x');
    await run(unsquashfs, ['-d', out, '-no-xattrs', saved]);
    assertSameTree(await snapshotDir(out), expected, { ignore: ['root', 'uid', 'gid', 'nlink', 'hardLinkGroup'] });
    assertSameBytes(await readFile(saved), await cli(['squashfs', data.root, '-comp', 'zstd', '--manifest', data.manifest, '-all-root', '-force-uid', '0'], join(work, 'cli.squashfs')), 'squashfs zstd');
  });

  it('a tar file as the source (read by offset through a Blob reader): squashfs equals imgkit squashfs --tar, unsquashfs lists the tree', async () => {
    const tar = join(work, 'data.tar');
    await run(requireTool('tar', 'tar'), ['--format=pax', '-cf', tar, '-C', data.root, '.']);
    await s.page.reload();
    await s.page.waitForSelector('body[data-state=idle]');
    await pickFile(s.page, '#tar-input', tar);
    await setFields(s.page, { SOURCE_DATE_EPOCH: EPOCH, '--all-root': true, '--manifest': { file: data.manifest } });
    await chooseKind(s.page, 'squashfs');
    await setFields(s.page, { '-comp': 'gzip' });
    await chooseTarget(s.page, 'memory');
    await built('squashfs from tar');
    const saved = join(work, 'page-tar.squashfs');
    assert.equal(await saveDownload(s.page, saved), 'data.squashfs');
    assertSquashfsListing(parseLln((await run(requireTool('unsquashfs', 'squashfs-tools'), ['-lln', saved], { env: { TZ: 'UTC' } })).stdout.toString()), expected);
    assertSameBytes(await readFile(saved), await cli(['squashfs', tar, '--tar', '-comp', 'gzip', '--manifest', data.manifest, '-all-root'], join(work, 'cli-tar.squashfs')), 'squashfs from tar');
  });

  it('squashfs to a streamed download is refused before anything starts (it needs to seek), with no download', async () => {
    await freshPage();
    await chooseKind(s.page, 'squashfs');
    await chooseTarget(s.page, 'stream');
    let downloads = 0;
    const count = () => void downloads++;
    s.page.on('download', count);
    const o = await clickBuild(s.page);
    s.page.off('download', count);
    assert.equal(o.state, 'error');
    assert.equal(o.code, 'E_SINK_UNSUPPORTED');
    assert.match(o.error, /^imgkit: squashfs: this writer needs a seekable output: squashfs writes its superblock last.*a streamed download only appends \(save with 'Save as…', to the browser's storage \(OPFS\) or in memory\) \[E_SINK_UNSUPPORTED\]$/);
    assert.equal(o.downloadOffered, false);
    assert.equal(downloads, 0);
  });

  it('ISO hybrid BIOS + UEFI: xorriso reports both El Torito entries and extracts the tree; bytes equal imgkit iso; the report draws the layout', async () => {
    await freshPage(live.root, null);
    await chooseKind(s.page, 'iso');
    const isoFlags: Record<string, string | boolean | { file: string }> = {
      '--volid': 'IMGKIT_LIVE',
      '--joliet': true,
      '--bios-boot': 'isolinux/isolinux.bin',
      '--boot-catalog': 'isolinux/boot.cat',
      '--boot-load-size': '4',
      '--boot-info-table': true,
      '--efi-boot': 'boot/efi.img',
      '--hybrid': 'isohybrid-mbr',
      '--mbr-template': { file: live.mbrTemplate },
      '--isohybrid-gpt': true,
    };
    await setFields(s.page, isoFlags);
    await chooseTarget(s.page, 'memory');
    await built('iso');
    const o = await outcome(s.page);
    // The report: the El Torito entries and the partition rows, decoded from the bytes written.
    assert.match(o.report, /El Torito boot entries/);
    assert.match(o.report, /BIOS \(x86\)\s+yes\s+no emulation\s+4\s+\d+/);
    assert.match(o.report, /UEFI\s+yes\s+no emulation/);
    assert.match(o.report, /ISO 9660\s+IMGKIT_LIVE\s+0\s/);
    assert.match(o.report, /MBR\s+1\s+0\s/);
    assert.match(o.report, /GPT\s+1\s/);
    assert.equal(await s.page.locator('svg.layout rect.part').count(), await s.page.locator('table.extents tr').count() - 1, 'one bar per table entry');
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'web-iso-report.png');
    await s.page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot of the page after the ISO build: ${shot}`);

    const saved = join(work, 'page.iso');
    await saveDownload(s.page, saved);
    const xorriso = requireTool('xorriso', 'xorriso');
    const el = (await run(xorriso, ['-indev', saved, '-report_el_torito', 'plain'])).stdout.toString();
    assert.match(el, /El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
    assert.match(el, /El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
    const out = join(work, 'iso-x');
    await run(xorriso, ['-osirrox', 'on', '-indev', saved, '-extract', '/', out]);
    const liveSnap = await snapshotTree(applyOwnership(nodeSource(live.root), { epoch: WEB_EPOCH }));
    const got = await snapshotDir(out);
    got.delete('isolinux/boot.cat');
    // isolinux.bin carries the boot info table patched in; every other file is as picked.
    assertSameTree(got, liveSnap, { ignore: ['root', 'mode', 'uid', 'gid', 'mtime', 'nlink', 'hardLinkGroup'], only: [...liveSnap.keys()].filter((p) => p !== 'isolinux/isolinux.bin') });
    const cliArgs = ['iso', live.root];
    for (const [flag, v] of Object.entries(isoFlags)) {
      if (v === true) cliArgs.push(flag);
      else if (typeof v === 'string') cliArgs.push(flag, v);
      else if (typeof v === 'object') cliArgs.push(flag, v.file);
    }
    assertSameBytes(await readFile(saved), await cli(cliArgs, join(work, 'cli.iso')), 'iso');
  });

  it("the page's ISO boots: SeaBIOS from the isohybrid MBR as a disk, OVMF from the El Torito UEFI image as a CD", async () => {
    const iso = join(work, 'page.iso');
    const bios = await boot({ drives: [{ file: iso, if: 'ide', format: 'raw' }], bootDisk: 'disk', firmware: 'seabios', marker: LIVE_MARKER });
    assert.ok(bios.passed, `SeaBIOS: ${bios.reason}\n${consoleTail(bios.console)}`);
    const uefi = await boot({ cdrom: iso, bootDisk: 'cdrom', firmware: 'ovmf', marker: LIVE_MARKER, memoryMb: 1024 });
    assert.ok(uefi.passed, `OVMF: ${uefi.reason}\n${consoleTail(uefi.console)}`);
    assert.match(uefi.console, /imgkit-cmdpath=\(cd\d*\)/, 'GRUB came from the CD');
  });

  it('FAT: fsck.fat finds nothing to fix, mcopy extracts the tree; bytes equal imgkit fat', async () => {
    await freshPage(data.root, null);
    await chooseKind(s.page, 'fat');
    await setFields(s.page, { '--label': 'IMGKIT' });
    await chooseTarget(s.page, 'memory');
    await built('fat');
    const saved = join(work, 'page.fat.img');
    assert.equal(await saveDownload(s.page, saved), 'tree.fat.img');
    await fsckFat(saved);
    const out = join(work, 'fat-x');
    await mkdir(out);
    await mcopyExtract(saved, out);
    const view = fatView(await snapshotTree(applyOwnership(nodeSource(data.root), { allRoot: true })), WEB_EPOCH);
    assertSameTree(fatView(await snapshotDir(out)), view, { ignore: [...FAT_IGNORED, 'dirMtime'] });
    assertSameBytes(await readFile(saved), await cli(['fat', data.root, '--label', 'IMGKIT', '--all-root'], join(work, 'cli.fat.img')), 'fat');
  });

  it('FAT in a GPT disk: sfdisk and sgdisk see one ESP holding exactly the FAT volume, fsck.fat accepts the partition; bytes equal the library', async () => {
    await freshPage(data.root, null);
    await chooseKind(s.page, 'fat');
    await setFields(s.page, { '--label': 'IMGKIT', table: 'gpt' });
    await chooseTarget(s.page, 'opfs');
    await built('fat in gpt');
    const o = await outcome(s.page);
    assert.match(o.report, /GPT\s+1 IMGKIT\s+1048576\s/);
    rawDisk = join(work, 'page.disk.img');
    assert.equal(await saveDownload(s.page, rawDisk), 'tree.disk.img');
    const bytes = await readFile(rawDisk);
    await run(requireTool('sgdisk', 'gdisk'), ['-v', rawDisk]);
    const table = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', rawDisk])).stdout.toString()).partitiontable;
    assert.equal(table.label, 'gpt');
    assert.equal(table.partitions.length, 1);
    const p = table.partitions[0];
    assert.equal(p.type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    const fat = await readFile(join(work, 'cli.fat.img'));
    assert.equal(p.start, 2048);
    assert.equal(p.size * 512, fat.length, 'the partition is the FAT volume size');
    const part = bytes.subarray(p.start * 512, p.start * 512 + fat.length);
    const partFile = join(work, 'partition.img');
    await writeFile(partFile, part);
    await fsckFat(partFile);
    assert.ok(part.equals(fat), 'the partition holds the same FAT volume as imgkit fat writes');
    // The Node side: the same library calls on the tree on disk.
    const plan = await planFat(applyOwnership(nodeSource(data.root), { allRoot: true, epoch: WEB_EPOCH }), { label: 'IMGKIT', epoch: WEB_EPOCH, invalidNames: 'error' });
    const disk = planDisk({ table: 'gpt', epoch: WEB_EPOCH, label: 'IMGKIT', partitions: [{ name: 'IMGKIT', type: 'esp', minSizeBytes: plan.sizeBytes, size: plan.sizeBytes }] });
    const node = new MemorySink();
    await withSink(node, (sink) => disk.write(sink, { contents: [plan] }));
    assertSameBytes(bytes, Buffer.from(node.bytes()), 'fat in gpt');
  });

  it('ext4 (-L, -m, --exclude, manifest): e2fsck -fn finds nothing, the mounted tree is the source; bytes equal imgkit ext4', async () => {
    await freshPage();
    await chooseKind(s.page, 'ext4');
    const flags = { '-m': '1', '-L': 'imgkit-web', '-O': '^metadata_csum', '--exclude': 'data/zeros' };
    await setFields(s.page, flags);
    assert.match((await s.page.textContent('#command')) ?? '', /imgkit ext4 tree <out> -m 1 -L imgkit-web -O \^metadata_csum --exclude data\/zeros --manifest web\.manifest --all-root$/);
    await chooseTarget(s.page, 'memory');
    await built('ext4');
    const o = await outcome(s.page);
    assert.match(o.report, /label\s+imgkit-web/);
    const saved = join(work, 'page.ext4');
    assert.equal(await saveDownload(s.page, saved), 'tree.ext4');
    await assertFsckClean(saved, 'the page’s ext4');
    const want = new Map([...expected].filter(([p]) => p !== 'data/zeros'));
    await withMount(saved, { readOnly: true }, async (dir) => assertSameTree(withoutLostFound(await snapshotDir(dir)), want, { ignore: ['root'] }));
    const cliArgs = ['ext4', data.root, ...Object.entries(flags).flat(), '--manifest', data.manifest, '--all-root'];
    assertSameBytes(await readFile(saved), await cli(cliArgs, join(work, 'cli.ext4')), 'ext4');
  });

  it('folders picked in a form: cpio --early (microcode in front) and iso --efi-dir (the UEFI image built from a folder) equal the CLI; cpio and xorriso read them', async () => {
    const early = join(work, 'early');
    const efi = join(work, 'efi');
    await writeTree(early, [{ path: 'kernel/x86/microcode/GenuineIntel.bin', content: contentOf(10_000, 80), mtime: WEB_EPOCH - 100 }]);
    await writeTree(efi, [{ path: 'EFI/BOOT/BOOTX64.EFI', content: contentOf(40_000, 81), mtime: WEB_EPOCH - 100 }]);
    await freshPage();
    await chooseKind(s.page, 'cpio');
    await setFields(s.page, { '--compress': 'gzip', '--early': { file: early } });
    assert.match((await s.page.textContent('#command')) ?? '', /imgkit cpio tree <out> --early early /);
    await chooseTarget(s.page, 'memory');
    await built('cpio --early');
    const saved = join(work, 'page-early.cpio');
    await saveDownload(s.page, saved);
    const bytes = await readFile(saved);
    // The early archive comes first, uncompressed: cpio reads it up to its trailer.
    const first = (await run(requireTool('cpio', 'cpio'), ['-itn', '--quiet'], { input: bytes })).stdout.toString().trim().split('\n');
    assert.ok(first.includes('kernel/x86/microcode/GenuineIntel.bin'), first.join(' '));
    assertSameBytes(bytes, await cli(['cpio', data.root, '--compress', 'gzip', '--early', early, '--manifest', data.manifest, '--all-root'], join(work, 'cli-early.cpio')), 'cpio --early');

    await freshPage(data.root, null);
    await chooseKind(s.page, 'iso');
    await setFields(s.page, { '--efi-dir': { file: efi }, '--efi-label': 'WEBESP' });
    await chooseTarget(s.page, 'memory');
    await built('iso --efi-dir');
    const iso = join(work, 'page-efidir.iso');
    await saveDownload(s.page, iso);
    const el = (await run(requireTool('xorriso', 'xorriso'), ['-indev', iso, '-report_el_torito', 'plain'])).stdout.toString();
    assert.match(el, /El Torito boot img :\s+1\s+UEFI\s+y\s+none/);
    assertSameBytes(await readFile(iso), await cli(['iso', data.root, '--efi-dir', efi, '--efi-label', 'WEBESP', '--all-root'], join(work, 'cli-efidir.iso')), 'iso --efi-dir');
  });

  it('disk from a layout (GPT: FAT ESP, squashfs root, ext4 home) over the picked folder: sfdisk, sgdisk, fsck.fat and mcopy on the ESP, unsquashfs, e2fsck; bytes equal imgkit disk; as compressed qcow2 and as a streamed download too', async () => {
    const { root, layout } = await makeDiskTree(join(work, 'appliance'));
    await freshPage(root, null);
    await chooseKind(s.page, 'disk');
    await setFields(s.page, { layout: WEB_DISK_LAYOUT });
    assert.match((await s.page.textContent('#command')) ?? '', /SOURCE_DATE_EPOCH=\d+ imgkit disk appliance\/layout\.yaml <out>/);
    await chooseTarget(s.page, 'opfs');
    await built('disk raw');
    const o = await outcome(s.page);
    assert.match(o.report, /GPT\s+1 esp\s+1048576\s/);
    assert.match(o.report, /partition 3 home\s+\d+ bytes, ext4/);
    const saved = join(work, 'page-disk.img');
    assert.equal(await saveDownload(s.page, saved), 'appliance.img');
    await run(requireTool('sgdisk', 'gdisk'), ['-v', saved]);
    const table = JSON.parse((await run(requireTool('sfdisk', 'fdisk'), ['--json', saved])).stdout.toString()).partitiontable;
    assert.equal(table.label, 'gpt');
    assert.deepEqual(table.partitions.map((p: { name: string }) => p.name), ['esp', 'root', 'home']);
    assert.equal(table.partitions[0].type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    const bytes = await readFile(saved);
    const part = async (i: number, name: string) => {
      const p = table.partitions[i];
      const f = join(work, name);
      await writeFile(f, bytes.subarray(p.start * 512, (p.start + p.size) * 512));
      return f;
    };
    const esp = await part(0, 'page-esp.img');
    await fsckFat(esp);
    const espOut = join(work, 'esp-x');
    await mkdir(espOut);
    await mcopyExtract(esp, espOut);
    assertSameTree(fatView(await snapshotDir(espOut)), fatView(await snapshotTree(applyOwnership(nodeSource(join(root, 'boot')), { allRoot: true })), WEB_EPOCH), { ignore: [...FAT_IGNORED, 'dirMtime'] });
    const lln = (await run(requireTool('unsquashfs', 'squashfs-tools'), ['-lln', await part(1, 'page-root.sqfs')], { env: { TZ: 'UTC' } })).stdout.toString();
    for (const want of [/^-rwxr-xr-x 0\/0\s+3000 .* squashfs-root\/bin\/tool$/m, /^crw------- 0\/0\s+5,\s*1 .* squashfs-root\/dev\/console$/m, /^lrwxrwxrwx 0\/0 .* squashfs-root\/sbin\/init -> \/bin\/tool$/m, /squashfs-root\/usr\/lib\/big$/m]) assert.match(lln, want);
    const home = await part(2, 'page-home.ext4');
    await assertFsckClean(home, 'the page’s ext4 partition');
    await withMount(home, { readOnly: true }, async (dir) => {
      const got = withoutLostFound(await snapshotDir(dir));
      assert.deepEqual([...got.keys()].filter((p) => p !== '').sort(), ['user', 'user/data.bin', 'user/notes.txt']);
      assert.equal(got.get('user/notes.txt')?.mtime, WEB_EPOCH, 'a newer time is clamped to SOURCE_DATE_EPOCH');
    });
    assertSameBytes(bytes, await cli(['disk', layout], join(work, 'cli-disk.img')), 'disk raw');
    assert.equal(await s.page.locator('svg.layout rect.part').count(), 4, 'the protective MBR entry and three GPT partitions drawn');
    await mkdir(ARTIFACTS, { recursive: true });
    await s.page.screenshot({ path: join(ARTIFACTS, 'web-disk-report.png'), fullPage: true });

    // The same layout straight into a compressed qcow2 (zstd clusters): qemu-img compares it with the raw disk.
    await setFields(s.page, { '--format': 'qcow2', '-c': true, '-o': 'compression_type=zstd' });
    assert.match((await s.page.textContent('#command')) ?? '', /imgkit disk appliance\/layout\.yaml <out> --format qcow2 -c -o compression_type=zstd/);
    await built('disk qcow2');
    const qcow2 = join(work, 'page-disk.qcow2');
    assert.equal(await saveDownload(s.page, qcow2), 'appliance.qcow2');
    await run(QEMU_IMG(), ['check', '-f', 'qcow2', qcow2]);
    await run(QEMU_IMG(), ['compare', '-f', 'raw', '-F', 'qcow2', saved, qcow2]);
    assertSameBytes(await readFile(qcow2), await cli(['disk', layout, '--format', 'qcow2', '-c', '-o', 'compression_type=zstd'], join(work, 'cli-disk.qcow2')), 'disk qcow2');

    // Raw again, as a streamed download (cannot seek back): the composer rehearses the squashfs
    // and the tables first, then sends every byte in order — the same bytes.
    await setFields(s.page, { '--format': 'raw', '-c': false, '-o': '' });
    await chooseTarget(s.page, 'stream');
    const download = s.page.waitForEvent('download', { timeout: 120_000 });
    await built('disk raw stream');
    assert.match((await outcome(s.page)).report, /rehearsed\s+partitions 2/);
    const streamed = join(work, 'page-disk-stream.img');
    await (await download).saveAs(streamed);
    assertSameBytes(await readFile(streamed), bytes, 'disk raw, streamed');
  });

  for (const [format, target, flags, qemuFormat] of [
    ['qcow2', 'opfs', { '-O': 'qcow2' }, 'qcow2'],
    ['vmdk', 'memory', { '-O': 'vmdk' }, 'vmdk'],
    ['vhd', 'memory', { '-O': 'vpc', '-o': 'subformat=fixed' }, 'vpc'],
  ] as const) {
    it(`${format} from the page's raw disk (${target}): qemu-img check and compare accept it; bytes equal imgkit convert`, async () => {
      assert.ok(rawDisk, 'the FAT-in-GPT test made the raw disk');
      await s.page.reload();
      await s.page.waitForSelector('body[data-state=idle]');
      await pickFile(s.page, '#image-input', rawDisk);
      await chooseKind(s.page, 'convert');
      await setFields(s.page, { SOURCE_DATE_EPOCH: EPOCH, ...flags });
      await chooseTarget(s.page, target);
      await built(format);
      const saved = join(work, `page.${format}`);
      await saveDownload(s.page, saved);
      if (qemuFormat !== 'vpc') await run(QEMU_IMG(), ['check', '-f', qemuFormat, saved]); // qemu-img has no check for vpc
      const info = JSON.parse((await run(QEMU_IMG(), ['info', '--output=json', '-f', qemuFormat, saved])).stdout.toString());
      assert.equal(info.format, qemuFormat);
      await run(QEMU_IMG(), ['compare', '-f', 'raw', '-F', qemuFormat, rawDisk, saved]);
      assertSameBytes(await readFile(saved), await cli(['convert', rawDisk, ...Object.entries(flags).flat()], join(work, `cli.${format}`)), format);
    });
  }

  it('Save as… (File System Access API, the picker answered with an OPFS file): squashfs through the seekable writable equals imgkit squashfs; a failed build removes the picked file', async () => {
    await freshPage();
    // The test stands in for the user at the native save dialog: the picker returns a file handle.
    await s.page.evaluate(() => {
      (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async ({ suggestedName }: { suggestedName: string }) => {
        const root = await navigator.storage.getDirectory();
        return (await root.getDirectoryHandle('picked', { create: true })).getFileHandle(suggestedName, { create: true });
      };
    });
    await chooseKind(s.page, 'squashfs');
    await setFields(s.page, { '-comp': 'gzip' });
    await chooseTarget(s.page, 'file');
    await built('squashfs save-as', false);
    assert.equal(await s.page.textContent('#download-note'), 'saved as tree.squashfs');
    const bytes = await opfsRead('picked', 'tree.squashfs');
    const saved = join(work, 'saveas.squashfs');
    await writeFile(saved, bytes);
    assert.match((await run(requireTool('unsquashfs', 'squashfs-tools'), ['-stat', saved])).stdout.toString(), /^Compression gzip$/m);
    assertSameBytes(bytes, await cli(['squashfs', data.root, '-comp', 'gzip', '--manifest', data.manifest, '-all-root'], join(work, 'cli-gzip.squashfs')), 'squashfs gzip (save as)');
    // A build that fails into the picked file leaves no file behind.
    await chooseKind(s.page, 'fat');
    await setFields(s.page, { '--size': '512K', '--manifest': { file: null } });
    await chooseTarget(s.page, 'file');
    const o = await clickBuild(s.page);
    assert.equal(o.code, 'E_NO_SPACE');
    assert.deepEqual(await opfsFiles('picked'), ['picked/tree.squashfs'], 'tree.fat.img was removed');
  });

  it('a folder opened through the File System Access API (a directory handle) keeps its empty folders: cpio -itvn lists them', async () => {
    await s.page.reload();
    await s.page.waitForSelector('body[data-state=idle]');
    const files: { path: string; b64: string }[] = [];
    for (const [p, e] of expected) if (e.kind === 'file' && !p.startsWith('data/')) files.push({ path: p, b64: (await readFile(join(data.root, p))).toString('base64') });
    // The test stands in for the user at the folder dialog: the picker returns a folder of OPFS.
    await s.page.evaluate(
      async ({ list, empty }) => {
        const root = await navigator.storage.getDirectory();
        await root.removeEntry('folder', { recursive: true }).catch(() => {});
        const top = await root.getDirectoryHandle('folder', { create: true });
        // (No named helper functions in here: tsx would wrap them in a __name() the page lacks.)
        for (const f of [{ path: `${empty}/.`, b64: '' }, ...list]) {
          const parts = f.path.split('/');
          let d = top;
          for (const part of parts.slice(0, -1)) d = await d.getDirectoryHandle(part, { create: true });
          if (parts.at(-1) === '.') continue;
          const w = await (await d.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
          await w.write(Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0)));
          await w.close();
        }
        (window as unknown as { showDirectoryPicker: unknown }).showDirectoryPicker = async () => top;
      },
      { list: files, empty: 'var/empty' },
    );
    await s.page.click('#dir-handle');
    await s.page.waitForSelector('#source-state[data-picked=true]');
    await chooseKind(s.page, 'cpio');
    await setFields(s.page, { SOURCE_DATE_EPOCH: EPOCH, '--compress': 'none' });
    await chooseTarget(s.page, 'memory');
    await built('cpio from a directory handle');
    const saved = join(work, 'handle.cpio');
    await saveDownload(s.page, saved);
    const listing = parseCpioListing((await run(requireTool('cpio', 'cpio'), ['-itvn', '--quiet', '-F', saved], { env: { TZ: 'UTC' } })).stdout.toString());
    const dirs = new Set<string>(['var', 'var/empty']);
    for (const f of files) for (let d = f.path; d.includes('/'); ) dirs.add((d = d.slice(0, d.lastIndexOf('/'))));
    assert.deepEqual(listing.map((e) => e.name).sort(), ['.', ...dirs, ...files.map((f) => f.path)].sort());
    for (const e of listing) {
      const f = files.find((x) => x.path === e.name);
      if (f) assert.equal(e.size, Buffer.from(f.b64, 'base64').length, `${e.name}: size`);
      else assert.equal(e.perms, 'drwxr-xr-x', `${e.name}: a folder`);
    }
    const out = join(work, 'handle-x');
    await mkdir(out);
    await run(requireTool('cpio', 'cpio'), ['-idm', '--quiet', '--no-absolute-filenames', '-F', saved], { cwd: out });
    const snap = await snapshotDir(out);
    for (const f of files) assert.equal(snap.get(f.path)?.sha256, expected.get(f.path)!.sha256, `${f.path}: content`);
    assert.equal(snap.get('var/empty')?.kind, 'dir');
  });

  it('bad input: a name FAT cannot hold shows the CLI’s message and offers no download', async () => {
    const bad = join(work, 'bad');
    const name = await makeBadFatTree(bad);
    await freshPage(bad, null);
    await chooseKind(s.page, 'fat');
    await chooseTarget(s.page, 'memory');
    const o = await clickBuild(s.page);
    assert.equal(o.state, 'error');
    assert.equal(o.downloadOffered, false);
    assert.ok(o.error.includes(name), `the message names ${name}: ${o.error}`);
    assert.equal(o.error, await cliError(['fat', bad, join(work, 'bad.img'), '--all-root']));
  });

  it('bad input: a picked layout file whose FAT partition is too small shows the CLI’s message (the layout named by its file name) and offers no download', async () => {
    const dir = join(work, 'small-esp');
    await writeTree(join(dir, 'tree'), [{ path: 'boot/big.efi', content: contentOf(70_000, 82), mtime: WEB_EPOCH - 10 }]);
    const layout = join(dir, 'bad.yaml');
    await writeFile(layout, 'table: gpt\npartitions:\n  - { label: esp, type: esp, size: 64K, content: { fat: boot/ } }\n');
    await freshPage(join(dir, 'tree'), null);
    await chooseKind(s.page, 'disk');
    await setFields(s.page, { 'layout-file': { file: layout } });
    assert.match((await s.page.textContent('#command')) ?? '', /imgkit disk tree\/bad\.yaml <out>/);
    await chooseTarget(s.page, 'memory');
    const o = await clickBuild(s.page);
    assert.equal(o.state, 'error');
    assert.equal(o.code, 'E_NO_SPACE');
    assert.equal(o.downloadOffered, false);
    // The CLI runs with the layout beside the tree, as the page reads it.
    await writeFile(join(dir, 'tree', 'bad.yaml'), await readFile(layout));
    const cliLine = await cliError(['disk', join(dir, 'tree', 'bad.yaml'), join(work, 'bad-disk.img')]);
    assert.equal(o.error, cliLine.replace(`${join(dir, 'tree')}/`, ''));
    assert.match(o.error, /^imgkit: disk: bad\.yaml:3: partitions\[0\]\.content\.fat: .*the size given is 65536 bytes/);
  });

  for (const [kind, size, out] of [
    ['fat', '512K', 'big.img'],
    ['ext4', '1M', 'big.ext4'],
  ] as const) {
    it(`bad input: a tree too large for the chosen ${kind} size shows the CLI’s message, offers no download and leaves nothing in OPFS`, async () => {
      await freshPage(data.root, null);
      await chooseKind(s.page, kind);
      await setFields(s.page, { '--size': size });
      await chooseTarget(s.page, 'opfs');
      const o = await clickBuild(s.page);
      assert.equal(o.state, 'error');
      assert.equal(o.code, 'E_NO_SPACE');
      assert.equal(o.downloadOffered, false);
      assert.deepEqual(await opfsFiles(), [], 'nothing left in the private storage');
      assert.equal(o.error, await cliError([kind, data.root, join(work, out), '--size', size, '--all-root']));
    });
  }

  it('cancel: a long xz squashfs build into OPFS stops, says so, offers nothing and leaves nothing', async () => {
    const bulk = join(work, 'bulk');
    await makeBulkTree(bulk, 24 << 20, 48);
    await freshPage(bulk, null);
    await chooseKind(s.page, 'squashfs');
    await setFields(s.page, { '-comp': 'xz' });
    await chooseTarget(s.page, 'opfs');
    // The page's test gate holds the job after its output is opened, until Cancel has been
    // clicked: no race between the build and the click, however fast or loaded the machine.
    await s.page.evaluate(() => {
      const g = globalThis as { __imgkitTestGate?: Promise<void>; __imgkitRelease?: () => void };
      g.__imgkitTestGate = new Promise<void>((resolve) => (g.__imgkitRelease = resolve));
    });
    await s.page.click('#build-button');
    await s.page.waitForSelector('body[data-state=running]');
    await s.page.click('#cancel-button');
    await s.page.evaluate(() => (globalThis as { __imgkitRelease?: () => void }).__imgkitRelease?.());
    await s.page.waitForSelector('body[data-state=cancelled]', { timeout: 180_000 });
    const o = await outcome(s.page);
    assert.equal(o.error, 'Cancelled: nothing was saved.');
    assert.equal(o.downloadOffered, false);
    assert.deepEqual(await opfsFiles(), [], 'the partial image was removed from the private storage');
  });

  it('offline: with the server stopped and the network off, a reload builds cpio xz on the workers (liblzma.wasm from the cache); bytes equal imgkit cpio', async () => {
    const before = s.served.requests.length;
    await s.served.close();
    await s.context.setOffline(true);
    try {
      await freshPage();
      await chooseKind(s.page, 'cpio');
      await setFields(s.page, { '--compress': 'xz', '--level': '0' });
      await chooseTarget(s.page, 'memory');
      await built('cpio xz offline');
      const saved = join(work, 'offline.cpio.xz');
      await saveDownload(s.page, saved);
      assert.equal(s.served.requests.length, before, 'nothing reached the server');
      await run(requireTool('xz', 'xz-utils'), ['-t', saved]);
      assertSameBytes(await readFile(saved), await cli(['cpio', data.root, '--compress', 'xz', '--level', '0', '--manifest', data.manifest, '--all-root'], join(work, 'cli.cpio.xz')), 'cpio xz');
    } finally {
      await s.context.setOffline(false);
    }
  });
});
