/**
 * `imgkit disk <layout> <out> --format …`: the A/B appliance layout (fixtures/disk/ab) written
 * straight into VM disk images, judged by qemu-img against `imgkit disk`'s raw output of the same
 * layout:
 * - qcow2, VMDK (streamOptimized), VHD (fixed) and VHDX: the process, traced with strace -f (every
 *   open, create, rename and link of every thread), creates exactly one file — the container, under
 *   its temporary name in the output directory, renamed into place — so no raw disk is ever on
 *   disk; the directory then holds only the container. `qemu-img check` finds no errors or leaks
 *   (VHD: qemu-img has no check for vpc, so `imgkit check`), `qemu-img compare` says identical,
 *   `qemu-img info` shows the format, subformat and virtual size.
 * - pipes: `imgkit disk layout - --format vmdk` (byte-identical to the file), qcow2 and dynamic
 *   VHD/VHDX (table-first, given the allocation map from the rehearsal), raw; none creates a file.
 * - the `-o`/`-c` options as `imgkit convert` takes them, the format from the output's extension,
 *   worker counts, OVA, usage errors, and a failing layout leaving nothing behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { pseudoRandomBytes } from './lib/fixture.ts';
import { IMGKIT_BIN, REPO_ROOT, requireTool, run, runImgkit, tempDir, type RunResult } from './lib/tools.ts';
import { qemuImg, qemuInfo } from './lib/vdisk.ts';

const LAYOUT = join(REPO_ROOT, 'fixtures/disk/ab/layout.yaml');
const ENV = { SOURCE_DATE_EPOCH: '1700000000' };
const GiB = 1024 ** 3;
let raw = '';

before(async () => {
  const dir = await tempDir('disk-vm-raw');
  raw = join(dir, 'ab.img');
  const r = await runImgkit(['disk', LAYOUT, raw], { env: ENV });
  assert.equal(r.code, 0, r.stderr);
});

interface Traced extends RunResult {
  /** Files the process (any thread) opened for writing or created, as strace shows them. */
  created: string[];
  /** [from, to] of every rename. */
  renamed: [string, string][];
  /** Paths of any link, symlink or mknod. */
  linked: string[];
}

/** Run imgkit under `strace -f`, recording every syscall that could put a file on disk. */
async function traced(args: readonly string[]): Promise<Traced> {
  const strace = requireTool('strace', 'strace');
  const trace = join(await tempDir('disk-vm-trace'), 'trace');
  const r = await run(strace, ['-f', '-qq', '-e', 'trace=open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mknod,mknodat', '-o', trace, process.execPath, IMGKIT_BIN, ...args], { env: ENV, allowFail: true });
  const created: string[] = [];
  const renamed: [string, string][] = [];
  const linked: string[] = [];
  // Under strace -f a call that another thread interrupts is split in two lines,
  // `PID call(args <unfinished ...>` and later `PID <... call resumed>rest) = N` (seen under load):
  // join them so every call is one line with its result.
  const pending = new Map<string, string>();
  const lines: string[] = [];
  for (const raw of (await readFile(trace, 'utf8')).split('\n')) {
    const cut = /^(\d+) +(.*) <unfinished \.\.\.>$/.exec(raw);
    if (cut) {
      pending.set(cut[1]!, cut[2]!);
      continue;
    }
    const resumed = /^(\d+) +<\.\.\. \w+ resumed>(.*)$/.exec(raw);
    if (resumed && pending.has(resumed[1]!)) {
      lines.push(`${resumed[1]} ${pending.get(resumed[1]!)}${resumed[2]}`);
      pending.delete(resumed[1]!);
      continue;
    }
    lines.push(raw);
  }
  for (const line of lines) {
    const ok = / = \d+$/.test(line);
    const open = /^\d+ +(?:open|openat|openat2|creat)\((?:[^,]+, )?"([^"]+)", ([^,)]+)/.exec(line);
    if (open && ok && (/creat\(/.test(line) || /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(open[2]!)) && !open[1]!.startsWith('/dev/') && !open[1]!.startsWith('/proc/')) created.push(open[1]!);
    const ren = /^\d+ +rename(?:at2?)?\((?:[^,]+, )?"([^"]+)", (?:[^,]+, )?"([^"]+)"/.exec(line);
    if (ren && ok) renamed.push([ren[1]!, ren[2]!]);
    const lnk = /^\d+ +(?:link|linkat|symlink|symlinkat|mknod|mknodat)\(.*"([^"]+)"/.exec(line);
    if (lnk && ok) linked.push(lnk[1]!);
  }
  return { ...r, created, renamed, linked };
}

/** The process put exactly one file on disk: `out`, written under a temporary name beside it and renamed into place. */
function assertOnlyContainer(t: Traced, out: string): void {
  assert.equal(t.created.length, 1, `files created: ${t.created.join(', ')}`);
  const tmp = t.created[0]!;
  assert.equal(dirname(tmp), dirname(out), 'the temporary name lies beside the output');
  assert.match(basename(tmp), /\.imgkit-[0-9a-f]+\.tmp$/);
  assert.deepEqual(t.renamed, [[tmp, out]]);
  assert.deepEqual(t.linked, []);
}

async function compareWithRaw(image: string, qemuFormat: string): Promise<void> {
  const c = await qemuImg(['compare', '-f', 'raw', '-F', qemuFormat, raw, image]);
  assert.equal(c.code, 0, `${image}: ${c.stdout.toString()}${c.stderr}`);
  assert.match(c.stdout.toString(), /Images are identical/);
}

async function checkClean(image: string, qemuFormat: string): Promise<void> {
  if (qemuFormat === 'vpc') {
    // qemu-img has no check for vpc ("This image format does not support checks", exit 63).
    const r = await runImgkit(['check', image]);
    assert.equal(r.code, 0, r.stdout.toString() + r.stderr);
    assert.match(r.stdout.toString(), /No errors were found/);
    return;
  }
  const r = await qemuImg(['check', '-f', qemuFormat, image]);
  assert.equal(r.code, 0, r.stdout.toString() + r.stderr);
  assert.match(r.stdout.toString(), /No errors were found on the image/);
  assert.doesNotMatch(r.stdout.toString(), /leak/i);
}

const CASES: { name: string; file: string; args: string[]; qemu: string; info: (i: Record<string, unknown>) => void }[] = [
  { name: 'qcow2', file: 'ab.qcow2', args: ['--format', 'qcow2'], qemu: 'qcow2', info: (i) => assert.equal((i['format-specific'] as { data: { compat: string } }).data.compat, '1.1') },
  {
    name: 'VMDK (streamOptimized)',
    file: 'ab.vmdk',
    args: ['--format', 'vmdk'],
    qemu: 'vmdk',
    info: (i) => assert.equal((i['format-specific'] as { data: { 'create-type': string } }).data['create-type'], 'streamOptimized'),
  },
  { name: 'VHD (fixed)', file: 'ab.vhd', args: ['--format', 'vpc', '-o', 'subformat=fixed'], qemu: 'vpc', info: () => undefined },
  { name: 'VHDX', file: 'ab.vhdx', args: ['--format', 'vhdx'], qemu: 'vhdx', info: () => undefined },
];

for (const c of CASES) {
  test(`the A/B layout straight into ${c.name}: strace sees one file created (the container); qemu-img check clean, compare identical to the raw disk`, async () => {
    const dir = await tempDir('disk-vm');
    const out = join(dir, c.file);
    const t = await traced(['disk', LAYOUT, out, ...c.args, '-v']);
    assert.equal(t.code, 0, t.stderr);
    assertOnlyContainer(t, out);
    assert.deepEqual(await readdir(dir), [c.file], 'the output directory holds only the container');
    assert.match(t.stderr, /rehearsed before writing \(the \w+ container takes the disk in order\): "system-a"/);
    const st = await stat(out);
    assert.ok(st.blocks * 512 < 80 * 2 ** 20, `${c.file} takes ${st.blocks * 512} bytes on disk, not the 2 GiB disk`);
    await checkClean(out, c.qemu);
    await compareWithRaw(out, c.qemu);
    const info = await qemuInfo(out, c.qemu);
    assert.equal(info.format, c.qemu);
    assert.equal(info['virtual-size'], 2 * GiB);
    c.info(info);
  });
}

test('to a pipe: VMDK streams byte-identical to the file, qcow2 and dynamic VHD/VHDX stream table-first with the rehearsed allocation map, raw streams; no file is created', async () => {
  const dir = await tempDir('disk-vm-pipe');
  const vmdkFile = join(dir, 'file.vmdk');
  assert.equal((await runImgkit(['disk', LAYOUT, vmdkFile, '--format', 'vmdk'], { env: ENV })).code, 0);
  for (const [format, qemu, extra] of [
    ['vmdk', 'vmdk', []],
    ['qcow2', 'qcow2', []],
    ['vpc', 'vpc', []],
    ['vhdx', 'vhdx', []],
    ['vpc', 'vpc', ['-o', 'subformat=fixed']],
  ] as [string, string, string[]][]) {
    const t = await traced(['disk', LAYOUT, '-', '--format', format, ...extra, '-v']);
    assert.equal(t.code, 0, t.stderr);
    assert.deepEqual(t.created, [], `${format}: no file is created`);
    const piped = join(dir, `pipe-${format}${extra.length}.img`);
    await writeFile(piped, t.stdout);
    const tableFirst = format !== 'vmdk' && extra.length === 0;
    assert.equal(/needs the allocation map first/.test(t.stderr), tableFirst, t.stderr);
    if (format === 'vmdk') assert.ok(t.stdout.equals(await readFile(vmdkFile)), 'the piped VMDK is the file VMDK');
    await checkClean(piped, qemu);
    await compareWithRaw(piped, qemu);
  }
  // raw: 2 GiB through a pipe, hashed on the way
  const sh = await run('/bin/sh', ['-c', `"${process.execPath}" "${IMGKIT_BIN}" disk "${LAYOUT}" - | sha256sum`], { env: ENV });
  const want = createHash('sha256');
  for await (const chunk of createReadStream(raw)) want.update(chunk as Buffer);
  assert.equal(sh.stdout.toString().split(' ')[0], want.digest('hex'));
});

test('-o and -c as imgkit convert takes them, the format from the extension, worker counts, OVA', async () => {
  const dir = await tempDir('disk-vm-options');
  // qcow2 compressed with zstd, 128 KiB clusters; the format from the .qcow2 extension
  const zstd = join(dir, 'z.qcow2');
  assert.equal((await runImgkit(['disk', LAYOUT, zstd, '-c', '-o', 'compression_type=zstd,cluster_size=128k'], { env: ENV })).code, 0);
  const zi = await qemuInfo(zstd);
  assert.equal(zi.format, 'qcow2');
  assert.equal(zi['cluster-size'], 131072);
  assert.equal((zi['format-specific'] as { data: { 'compression-type': string } }).data['compression-type'], 'zstd');
  await checkClean(zstd, 'qcow2');
  await compareWithRaw(zstd, 'qcow2');
  // extension → format; an explicit --format wins over the extension
  const vhdx = join(dir, 'e.vhdx');
  assert.equal((await runImgkit(['disk', LAYOUT, vhdx], { env: ENV })).code, 0);
  assert.equal((await qemuInfo(vhdx)).format, 'vhdx');
  const rawNamedQcow2 = join(dir, 'raw.qcow2');
  assert.equal((await runImgkit(['disk', LAYOUT, rawNamedQcow2, '--format', 'raw'], { env: ENV })).code, 0);
  assert.equal((await qemuInfo(rawNamedQcow2, 'raw'))['virtual-size'], 2 * GiB);
  const fh = await open(rawNamedQcow2);
  const head = Buffer.alloc(8);
  await fh.read(head, 0, 8, 512);
  await fh.close();
  assert.equal(head.toString(), 'EFI PART', 'raw bytes: the GPT header at LBA 1');
  // compressed outputs do not depend on the worker count
  for (const args of [['--format', 'vmdk'], ['--format', 'qcow2', '-c']]) {
    const a = join(dir, 'w0');
    const b = join(dir, 'w2');
    assert.equal((await runImgkit(['disk', LAYOUT, a, ...args, '--workers', '0'], { env: ENV })).code, 0);
    assert.equal((await runImgkit(['disk', LAYOUT, b, ...args, '--workers', '2'], { env: ENV })).code, 0);
    assert.ok((await readFile(a)).equals(await readFile(b)), `${args.join(' ')}: 0 and 2 workers give the same bytes`);
  }
  // OVA: .ovf, the stream-optimized VMDK, the manifest; the disk inside is the layout's
  const ova = join(dir, 'ab.ova');
  assert.equal((await runImgkit(['disk', LAYOUT, ova, '-o', 'name=ab,firmware=efi'], { env: ENV })).code, 0);
  const tar = requireTool('tar', 'tar');
  assert.deepEqual((await run(tar, ['-tf', ova])).stdout.toString().trim().split('\n'), ['ab.ovf', 'ab-disk1.vmdk', 'ab.mf']);
  await run(tar, ['-xf', ova, '-C', dir, 'ab-disk1.vmdk']);
  await checkClean(join(dir, 'ab-disk1.vmdk'), 'vmdk');
  await compareWithRaw(join(dir, 'ab-disk1.vmdk'), 'vmdk');
});

test('usage errors name the option (exit 2); a layout that fails while writing leaves no file (exit 1)', async () => {
  const dir = await tempDir('disk-vm-errors');
  const usage: [string[], RegExp][] = [
    [['x.vhdx', '-c'], /-c compresses qcow2 clusters; vhdx has no compressed form/],
    [['x.qcow2', '-o', 'nonsense=1'], /-o nonsense: not an option of qcow2 output/],
    [['x.img', '-o', 'cluster_size=64k'], /not an option of raw output/],
    [['-', '--format', 'qcow2', '-c'], /compressed qcow2 image cannot be written to standard output/],
    [['-', '--format', 'ova'], /OVA image cannot be written to standard output/],
    [['x.qcow2', '--vhd-size-align', 'mib'], /--vhd-size-align applies to VHD output/],
    [['x.img', '--format', 'qed'], /argument 'qed' is invalid/],
  ];
  for (const [args, re] of usage) {
    const r = await runImgkit(['disk', LAYOUT, ...args.map((a) => (a.startsWith('x.') ? join(dir, a) : a))], { env: ENV });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  // squashfs bigger than its partition: found in the rehearsal, before the container's first byte
  await mkdir(join(dir, 'tree'));
  await writeFile(join(dir, 'tree/noise.bin'), pseudoRandomBytes(256 << 10, 7));
  await writeFile(join(dir, 'small.yaml'), 'table: gpt\nsize: 8M\npartitions:\n  - { label: sys, size: 64K, content: { squashfs: tree } }\n');
  const r = await runImgkit(['disk', join(dir, 'small.yaml'), join(dir, 'out.qcow2')], { env: ENV });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /\[E_NO_SPACE\]/);
  assert.match(r.stderr, /small\.yaml:4: /);
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('out') || f.includes('.imgkit-')), [], 'nothing is left behind');
});
