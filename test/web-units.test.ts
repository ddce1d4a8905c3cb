/**
 * The web page's parts that run without a browser, in Node 20 (which has File and Blob):
 * - fileSource (@imgkit/core/browser): a source over picked File objects — walk order, the
 *   metadata a browser can give, folder times, errors, chunked reads, and the same cpio bytes as
 *   nodeSource for the same tree on disk;
 * - the in-memory download (BlobSink): appends and patches across parts, its limit;
 * - trackSink + decodeCaptured: the report's partition layout and El Torito entries, decoded from
 *   the bytes of a hybrid ISO as they went by, agree with what writeIso says it wrote;
 * - the ISO form → IsoOptions mapping equals the CLI's isoOptionsFrom for the same flags;
 * - the VM-image fields (-O/--format, -o, -c, --vhd-size-align) give what the CLI's
 *   parseImageOptions gives, and refuse what it refuses;
 * - the ext4 form with every mke2fs letter gives the bytes `imgkit ext4` gives with those flags;
 * - the disk composer over picked File objects (pickedLayoutFiles) writes the bytes it writes over
 *   the same folder on disk (nodeLayoutFiles, what `imgkit disk` uses).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { relative, join } from 'node:path';
import { describe, it } from 'node:test';
import { applyOwnership, ErrorCodes, ImgkitError, MemorySink, memoryTree, withSink, type SourceEntry } from '@imgkit/core';
import { fileSource, type FileTreeItem } from '@imgkit/core/browser';
import { nodeSource } from '@imgkit/core/node';
import { writeCpio } from '@imgkit/cpio';
import { writeIso } from '@imgkit/iso9660';
import { isoOptionsFrom } from '../packages/cli/src/commands/iso.ts';
import { planLayoutFile } from '@imgkit/disk';
import { nodeLayoutFiles } from '@imgkit/disk/node';
import type { OutputFormat } from '@imgkit/vdisk';
import { parseImageOptions } from '../packages/cli/src/commands/convert.ts';
import { ext4Options, imageOptions, isoOptions } from '../apps/web/src/options.ts';
import { planExt4 } from '@imgkit/ext4';
import { pickedLayoutFiles } from '../apps/web/src/layout-files.ts';
import { fromFileList } from '../apps/web/src/sources.ts';
import { BlobSink } from '../apps/web/src/save.ts';
import { decodeCaptured } from '../apps/web/src/report.ts';
import { newCounters, trackSink } from '../apps/web/src/track.ts';
import { runImgkit, tempDir } from './lib/tools.ts';
import { snapshotDir } from './lib/tree.ts';
import { makeDataTree, makeDiskTree, WEB_EPOCH } from './lib/web-fixture.ts';

/** A File as `<input webkitdirectory>` gives it: with its path under the picked folder's name. */
function picked(path: string, content: string | Uint8Array, lastModified: number): File {
  const f = new File([content as BlobPart], path.split('/').at(-1)!, { lastModified });
  Object.defineProperty(f, 'webkitRelativePath', { value: path });
  return f;
}

async function walk(items: Parameters<typeof fileSource>[0]): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  for await (const e of fileSource(items).walk()) out.push(e);
  return out;
}

async function read(e: SourceEntry): Promise<{ chunks: number[]; bytes: Buffer }> {
  const parts: Uint8Array[] = [];
  for await (const c of e.read()) parts.push(c);
  return { chunks: parts.map((p) => p.byteLength), bytes: Buffer.concat(parts) };
}

describe('fileSource: a source tree over picked File objects', () => {
  it('drops the picked folder’s name, walks parents first in UTF-8 order, gives 0644 files and 0755 folders owned by 0:0', async () => {
    const t = 1_650_000_000_000;
    const entries = await walk([
      picked('root/b/z.txt', 'z', t + 5000),
      picked('root/a.txt', 'aa', t + 1999),
      picked('root/b/sub/é.txt', 'e', t + 9000),
      picked('root/B.txt', 'B', t),
    ]);
    assert.deepEqual(
      entries.map((e) => [e.path, e.kind, e.mode.toString(8), e.uid, e.gid, e.size]),
      [
        ['', 'dir', '755', 0, 0, 0],
        ['B.txt', 'file', '644', 0, 0, 1],
        ['a.txt', 'file', '644', 0, 0, 2],
        ['b', 'dir', '755', 0, 0, 0],
        ['b/sub', 'dir', '755', 0, 0, 0],
        ['b/sub/é.txt', 'file', '644', 0, 0, 1],
        ['b/z.txt', 'file', '644', 0, 0, 1],
      ],
    );
    const mtime = Object.fromEntries(entries.map((e) => [e.path, e.mtime]));
    assert.equal(mtime['a.txt'], 1_650_000_001, 'whole seconds, rounded down');
    assert.equal(mtime['b/sub'], 1_650_000_009, 'a folder is as new as the newest file below it');
    assert.equal(mtime['b'], 1_650_000_009);
    assert.equal(mtime[''], 1_650_000_009);
  });

  it('keeps empty folders given as items (a directory handle walk), and reads content in 1 MiB slices', async () => {
    const big = new Uint8Array(2.5 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
    const items: FileTreeItem[] = [
      { path: 'empty', kind: 'dir', lastModified: 1_600_000_000_000 },
      { path: 'data/big.bin', file: new File([big], 'big.bin', { lastModified: 1_600_000_500_000 }) },
    ];
    const entries = await walk(items);
    assert.deepEqual(entries.map((e) => e.path), ['', 'data', 'data/big.bin', 'empty']);
    assert.equal(entries[3]!.mtime, 1_600_000_000);
    const r = await read(entries[2]!);
    assert.deepEqual(r.chunks, [1 << 20, 1 << 20, big.byteLength - (2 << 20)]);
    assert.ok(r.bytes.equals(Buffer.from(big)));
  });

  it('refuses a path picked twice, a name that is both a file and a folder, and ".."; a failed read is E_SOURCE_UNREADABLE naming the file', async () => {
    const f = () => new File(['x'], 'x');
    assert.throws(() => fileSource([{ path: 'a', file: f() }, { path: 'a', file: f() }]), (e: ImgkitError) => e.code === ErrorCodes.BAD_INPUT && e.path === 'a' && /picked twice/.test(e.message));
    assert.throws(() => fileSource([{ path: 'a/b', file: f() }, { path: 'a', file: f() }]), (e: ImgkitError) => e.code === ErrorCodes.BAD_INPUT && /both a file and a directory/.test(e.message));
    assert.throws(() => fileSource([{ path: '../etc/passwd', file: f() }]), (e: ImgkitError) => e.code === ErrorCodes.BAD_INPUT);
    const gone = { size: 10, lastModified: 0, slice: () => ({ arrayBuffer: () => Promise.reject(new DOMException('A requested file or directory could not be found', 'NotReadableError')) }) };
    const [, e] = await walk([{ path: 'gone.bin', file: gone }]);
    await assert.rejects(read(e!), (err: ImgkitError) => err.code === ErrorCodes.SOURCE_UNREADABLE && err.path === 'gone.bin' && /NotReadableError/.test(err.message) && /pick the folder again/.test(err.message));
  });

  it('gives the same cpio bytes as nodeSource for the same tree on disk (files 0644, folders 0755 and dated by their newest file)', async () => {
    const dir = await tempDir('web-units');
    const { root } = await makeDataTree(join(dir, 'tree'));
    const snap = await snapshotDir(root);
    const files: File[] = [];
    for (const [p, e] of snap) if (e.kind === 'file') files.push(picked(`tree/${p}`, await readFile(join(root, p)), e.mtime * 1000));
    const image = async (tree: Parameters<typeof writeCpio>[0]) => {
      const sink = new MemorySink();
      await withSink(sink, (s) => writeCpio(applyOwnership(tree, { allRoot: true, epoch: WEB_EPOCH }), s, { compression: 'none', epoch: WEB_EPOCH }));
      return Buffer.from(sink.bytes());
    };
    const a = await image(fileSource(files));
    const b = await image(nodeSource(root));
    assert.ok(a.length > 1_000_000);
    assert.ok(a.equals(b), 'fileSource and nodeSource archives differ');
    assert.equal(relative(dir, root), 'tree');
  });
});

describe('BlobSink: the in-memory download', () => {
  it('appends and patches across 8-byte parts like a byte array would', async () => {
    const sink = new BlobSink('x.img', 1 << 20, 8);
    const ref = new Uint8Array(61);
    for (let i = 0; i < 61; i += 7) {
      const chunk = new Uint8Array(Math.min(7, 61 - i)).map((_, k) => i + k);
      ref.set(chunk, i);
      await sink.write(chunk);
    }
    for (const [at, len, v] of [[0, 4, 200], [6, 5, 201], [15, 20, 202], [58, 3, 203], [3, 1, 204]] as const) {
      const patch = new Uint8Array(len).fill(v);
      ref.set(patch, at);
      await sink.writeAt(at, patch);
    }
    assert.equal(sink.position, 61);
    await sink.close();
    const got = new Uint8Array(await (await sink.saved()).file!.arrayBuffer());
    assert.deepEqual([...got], [...ref]);
  });

  it('stops at its limit with E_NO_SPACE and the way out', async () => {
    const sink = new BlobSink('x.img', 100, 16);
    await sink.write(new Uint8Array(90));
    await assert.rejects(sink.write(new Uint8Array(20)), (e: ImgkitError) => e.code === ErrorCodes.NO_SPACE && /limited to 100 bytes/.test(e.message) && /OPFS/.test(e.message));
  });
});

describe('report: layout and El Torito entries decoded from the bytes as they were written', () => {
  it('a hybrid ISO (isohybrid MBR + GPT, BIOS + UEFI): extents and boot entries agree with writeIso', async () => {
    const mbrPath = '/usr/lib/ISOLINUX/isohdpfx.bin';
    if (!existsSync(mbrPath)) throw new Error(`${mbrPath} is missing: apt-get install -y isolinux`);
    const mbr = new Uint8Array(await readFile(mbrPath));
    const tree = memoryTree([
      { path: 'isolinux/isolinux.bin', kind: 'file', content: new Uint8Array(4096).fill(0x90) },
      { path: 'boot/efi.img', kind: 'file', content: new Uint8Array(1 << 20).fill(0xf6) },
      { path: 'README', kind: 'file', content: 'hello\n' },
    ]);
    const counters = newCounters();
    const inner = new MemorySink();
    const { sink, captured } = trackSink(inner, counters, new AbortController().signal);
    const r = await writeIso(tree, sink, { volumeId: 'UNIT', biosBoot: { path: 'isolinux/isolinux.bin', bootInfoTable: true }, efiBoot: { path: 'boot/efi.img' }, hybrid: 'isohybrid-mbr', mbrTemplate: mbr, isohybridGpt: true, epoch: WEB_EPOCH });
    assert.equal(counters.bytesWritten, r.sizeBytes);
    const d = decodeCaptured(captured, { kind: 'iso', outputBytes: r.sizeBytes, summary: [] });
    const iso = d.extents.find((e) => e.table === 'ISO 9660')!;
    assert.deepEqual([iso.label, iso.offset, iso.sizeBytes], ['UNIT', 0, r.volumeBlocks * 2048]);
    // xorriso's -isohybrid-gpt-basdat layout: GPT entry 1 is the ISO from block 0, entry 2 the EFI
    // image, both basic data (test/iso-xorriso.test.ts holds these bytes to xorriso's).
    const gpt = d.extents.filter((e) => e.table === 'GPT');
    assert.equal(gpt.length, 2, JSON.stringify(gpt));
    assert.equal(gpt[0]!.offset, 0, 'GPT partition 1 is the ISO');
    assert.equal(gpt[1]!.offset, r.efiImageLba! * 2048, 'GPT partition 2 is the EFI image');
    assert.equal(gpt[1]!.sizeBytes, 1 << 20);
    assert.deepEqual(gpt.map((e) => [e.label, e.detail]), [['1 ISOHybrid', 'basic-data'], ['2 ISOHybrid1', 'basic-data']]);
    assert.ok(d.extents.some((e) => e.table === 'MBR' && e.offset === 0 && /bootable/.test(e.detail)), JSON.stringify(d.extents));
    assert.deepEqual(
      d.boot.map((b) => [b.platform, b.bootable, b.media, b.lba]),
      [
        ['BIOS (x86)', true, 'no emulation', r.biosImageLba],
        ['UEFI', true, 'no emulation', r.efiImageLba],
      ],
    );
  });

  it('a cancelled job stops at the next write', async () => {
    const c = new AbortController();
    const { sink } = trackSink(new MemorySink(), newCounters(), c.signal);
    await sink.write(new Uint8Array(10));
    c.abort();
    await assert.rejects(sink.write(new Uint8Array(10)), (e: DOMException) => e.name === 'AbortError');
  });
});

describe('the ISO form gives the options the CLI gives for the same flags', () => {
  it('imgkit iso … --volid --joliet-long --bios-boot --boot-catalog --boot-load-size --boot-info-table --efi-boot --hybrid --mbr-template --isohybrid-gpt --pad-blocks', async () => {
    const dir = await tempDir('web-units-iso');
    await mkdir(join(dir, 'boot'));
    await writeFile(join(dir, 'boot/efi.img'), new Uint8Array(512));
    const mbrPath = '/usr/lib/ISOLINUX/isohdpfx.bin';
    const cli = await isoOptionsFrom(
      dir,
      { rock: true, isoLevel: 2, volid: 'LIVE', publisher: 'P', joliet: true, jolietLong: true, biosBoot: 'isolinux/isolinux.bin', bootCatalog: 'isolinux/boot.cat', bootLoadSize: 4, bootInfoTable: true, efiBoot: 'boot/efi.img', hybrid: 'isohybrid-mbr', mbrTemplate: mbrPath, isohybridGpt: true, padBlocks: 0 },
      undefined,
    );
    const page = await isoOptions({
      '--volid': 'LIVE',
      '--publisher': 'P',
      '--iso-level': '2',
      '--joliet-long': true,
      '--bios-boot': 'isolinux/isolinux.bin',
      '--boot-catalog': 'isolinux/boot.cat',
      '--boot-load-size': '4',
      '--boot-info-table': true,
      '--efi-boot': 'boot/efi.img',
      '--hybrid': 'isohybrid-mbr',
      '--mbr-template': new File([await readFile(mbrPath)], 'isohdpfx.bin'),
      '--isohybrid-gpt': true,
      '--pad-blocks': '0',
    });
    assert.deepEqual(page, cli);
  });
});

describe('the ISO form: the flags added since (grub2 hybrid, system area, dates, Rock Ridge version)', () => {
  it('imgkit iso … --hybrid grub2 --grub2-boot-info --catalog-hidden --rrip 1.10 --modification-date --mbr-force-bootable --iso-partition-type --cylinder-align', async () => {
    const dir = await tempDir('web-units-iso2');
    const cli = await isoOptionsFrom(
      dir,
      { rock: true, isoLevel: 3, biosBoot: 'boot/grub/i386-pc/eltorito.img', bootInfoTable: true, grub2BootInfo: true, catalogHidden: true, rrip: '1.10', modificationDate: '2023111422133200', hybrid: 'grub2', mbrForceBootable: true, isoPartitionType: '0x83', cylinderAlign: 'off' },
      undefined,
    );
    const page = await isoOptions({
      '--bios-boot': 'boot/grub/i386-pc/eltorito.img',
      '--boot-info-table': true,
      '--grub2-boot-info': true,
      '--catalog-hidden': true,
      '--rrip': '1.10',
      '--modification-date': '2023111422133200',
      '--hybrid': 'grub2',
      '--mbr-force-bootable': true,
      '--iso-partition-type': '0x83',
      '--cylinder-align': 'off',
    });
    assert.deepEqual(page, cli);
    await assert.rejects(isoOptions({ '--iso-partition-type': 'linux' }), (e: ImgkitError) => e.code === ErrorCodes.BAD_OPTION && e.field === '--iso-partition-type');
    await assert.rejects(isoOptions({ '--grub2-boot-info': true }), (e: ImgkitError) => e.code === ErrorCodes.BAD_OPTION && e.field === '--bios-boot');
  });
});

describe('the VM-image fields give the CLI’s ImageOptions (imgkit convert -O/-o/-c, imgkit disk --format)', () => {
  const cases: [string, string, boolean][] = [
    ['qcow2', '', false],
    ['qcow2', 'compression_type=zstd,cluster_size=128k,compat=0.10', true],
    ['qcow2', 'refcount_bits=16,preallocation=off,lazy_refcounts=off', false],
    ['vmdk', 'subformat=monolithicSparse,adapter_type=lsilogic,hwversion=6', false],
    ['vpc', 'subformat=fixed,block_size=2M,force_size=on', false],
    ['vhdx', 'subformat=dynamic,block_size=8M,log_size=1M,block_state_zero=off,logical_sector_size=4096,physical_sector_size=4096', false],
    ['ova', 'name=appliance,cpus=2,memory=2G,firmware=efi,controller=scsi,hwversion=14,network=nat', false],
    ['raw', '', false],
  ];
  const NAMES: Record<string, OutputFormat> = { qcow2: 'qcow2', vmdk: 'vmdk', vpc: 'vhd', vhdx: 'vhdx', ova: 'ova', raw: 'raw' };
  for (const [format, o, c] of cases) {
    it(`-O ${format}${o ? ` -o ${o}` : ''}${c ? ' -c' : ''}`, () => {
      const cli = parseImageOptions(NAMES[format]!, o ? [o] : [], c);
      // The CLI makes an empty per-format object for keys that set nothing (force_size, refcount_bits…).
      const strip = (x: object) => JSON.parse(JSON.stringify(x, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0 ? undefined : v)));
      assert.deepEqual(strip(imageOptions({ '-O': format, '-o': o, '-c': c })), strip(cli));
      assert.deepEqual(strip(imageOptions({ '--format': format, '-o': o, '-c': c }, '--format')), strip(cli));
    });
  }
  it('refuses what the CLI refuses: an unknown key, a bad value, -c on vmdk, --vhd-size-align on qcow2', () => {
    for (const [format, o, c, field] of [
      ['qcow2', 'subformat=fixed', false, '-o'],
      ['qcow2', 'compression_type=lz4', false, '-o'],
      ['vhdx', 'logical_sector_size=1024', false, '-o'],
      ['vmdk', '', true, '-c'],
    ] as const) {
      assert.throws(() => parseImageOptions(NAMES[format]!, [o], c));
      assert.throws(() => imageOptions({ '-O': format, '-o': o, '-c': c }), (e: ImgkitError) => e.code === ErrorCodes.BAD_OPTION && e.field === field, `${format} ${o}`);
    }
    assert.throws(() => imageOptions({ '-O': 'qcow2', '--vhd-size-align': 'mib' }), (e: ImgkitError) => e.field === '--vhd-size-align');
    assert.deepEqual(imageOptions({ '-O': 'vpc', '--vhd-size-align': 'mib' }), { format: 'vhd', vhd: { sizeAlign: 'mib' } });
  });
});

describe('the disk composer over picked File objects', () => {
  it('pickedLayoutFiles writes the bytes nodeLayoutFiles writes for the same folder (FAT, squashfs with a manifest, ext4 with exclude)', async () => {
    const dir = await tempDir('web-units-disk');
    const { root, layout } = await makeDiskTree(join(dir, 'appliance'));
    const snap = await snapshotDir(root);
    const files: File[] = [];
    for (const [p, e] of snap) if (e.kind === 'file') files.push(picked(`appliance/${p}`, await readFile(join(root, p)), e.mtime * 1000));
    const text = await readFile(layout, 'utf8');
    const disk = async (files: Parameters<typeof planLayoutFile>[2]['files']) => {
      const plan = await planLayoutFile(text, 'layout.yaml', { files, epoch: WEB_EPOCH });
      const sink = new MemorySink();
      const r = await withSink(sink, (s) => plan.write(s));
      return { bytes: Buffer.from(sink.bytes()), r };
    };
    const page = await disk(pickedLayoutFiles(fromFileList(files)));
    const node = await disk(nodeLayoutFiles(root));
    assert.deepEqual(page.r.partitions.map((p) => p.content), ['fat', 'squashfs', 'ext4']);
    assert.ok(page.bytes.length > 8 << 20);
    assert.ok(page.bytes.equals(node.bytes), 'the disks differ');
    // Image files, raw images, a nested layout (paths relative to it), an MBR: the readers and at().
    await mkdir(join(root, 'nested'));
    await writeFile(join(root, 'nested/inner.yaml'), 'table: gpt\npartitions:\n  - { label: inner-esp, type: esp, content: { fat: ../boot/ } }\n');
    await writeFile(join(root, 'blob.bin'), Buffer.alloc(300_000, 0x5a));
    await writeFile(join(root, 'loader.bin'), Buffer.alloc(4096, 0xa5));
    const mbr = 'table: mbr\npartitions:\n  - { type: linux, content: { image: blob.bin } }\n  - { type: linux, content: { layout: nested/inner.yaml } }\nraw:\n  - { offset: 8K, image: loader.bin }\n';
    const more: File[] = [...files];
    for (const p of ['nested/inner.yaml', 'blob.bin', 'loader.bin']) more.push(picked(`appliance/${p}`, await readFile(join(root, p)), 0));
    const composed = async (files: Parameters<typeof planLayoutFile>[2]['files']) => {
      const plan = await planLayoutFile(mbr, 'mbr.yaml', { files, epoch: WEB_EPOCH });
      const sink = new MemorySink();
      await withSink(sink, (s) => plan.write(s));
      return Buffer.from(sink.bytes());
    };
    const a = await composed(pickedLayoutFiles(fromFileList(more)));
    assert.ok(a.subarray(8192, 8192 + 4096).equals(Buffer.alloc(4096, 0xa5)), 'the raw image at 8K');
    assert.ok(a.equals(await composed(nodeLayoutFiles(root))), 'the MBR disks differ');
    // A path the folder does not have is E_SOURCE_MISSING naming it.
    await assert.rejects(planLayoutFile('table: gpt\npartitions:\n  - { size: 1M, content: { fat: nowhere/ } }\n', 'layout.yaml', { files: pickedLayoutFiles(fromFileList(files)) }), (e: ImgkitError) => e.code === ErrorCodes.SOURCE_MISSING && /nowhere/.test(e.message));
  });
});

describe('the ext4 form gives the bytes imgkit ext4 gives for the same flags', () => {
  it('-b -I -i -m -L -U -O -E (hash_seed and a no-op) -J -G --hash-alg --margin --inode-reserve', async () => {
    const dir = await tempDir('web-units-ext4');
    const { root } = await makeDataTree(join(dir, 'tree'));
    const flags: Record<string, string> = {
      '-b': '2048',
      '-I': '512',
      '-i': '8192',
      '-m': '0.5',
      '-L': 'web-units',
      '-U': '0b7f3a52-7c1e-4d2a-9a43-2f6d1c0e9b11',
      '-O': '^64bit,^metadata_csum',
      '-E': 'hash_seed=5d3c2b1a-0f9e-4d8c-b7a6-958473625140,lazy_itable_init',
      '-J': 'size=4',
      '-G': '4',
      '--hash-alg': 'tea',
      '--margin': '16M',
      '--inode-reserve': '50',
    };
    const out = join(dir, 'cli.ext4');
    const r = await runImgkit(['ext4', root, out, ...Object.entries(flags).flat(), '--all-root'], { env: { SOURCE_DATE_EPOCH: String(WEB_EPOCH) } });
    assert.equal(r.code, 0, r.stderr);
    const plan = await planExt4(applyOwnership(nodeSource(root), { allRoot: true }), ext4Options(flags, WEB_EPOCH));
    const sink = new MemorySink();
    await withSink(sink, (s) => plan.write(s));
    const page = Buffer.from(sink.bytes());
    assert.equal(plan.blockSize, 2048);
    assert.ok(page.equals(await readFile(out)), 'the page’s mapping and the CLI’s give different bytes');
    assert.throws(() => ext4Options({ '-J': 'device=/dev/sdb' }, WEB_EPOCH), (e: ImgkitError) => e.code === ErrorCodes.BAD_OPTION && e.field === '-J');
    assert.throws(() => ext4Options({ '-E': 'stride=4' }, WEB_EPOCH), (e: ImgkitError) => e.field === '-E');
    assert.throws(() => ext4Options({ '-m': '60' }, WEB_EPOCH), (e: ImgkitError) => e.field === '-m');
    // Without SOURCE_DATE_EPOCH: random identifiers, as the CLI and mke2fs.
    const a = ext4Options({}, undefined);
    const b = ext4Options({}, undefined);
    assert.notEqual(a.uuid, b.uuid);
    assert.notEqual(a.hashSeed, b.hashSeed);
  });
});
