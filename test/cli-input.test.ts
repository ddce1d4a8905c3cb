/**
 * Input hardening through the command line (issue 14, "Input"): tar archives (truncation, the
 * end-of-archive marker, "not a tar archive", open failures, pipes and standard input), name limits
 * (cpio and squashfs: 255 bytes per component), manifest duplicates and long names, compression
 * levels (one table, usage errors exit 2), --exclude for cpio and --tar, and usage errors pointing
 * to the command's own --help. Images that are made are checked with the reference tools.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, test } from 'node:test';
import { IMGKIT_BIN, letOthersReachRepo, requireTool, run, runImgkit, tempDir, type RunResult } from './lib/tools.js';
import { assertSameTree, snapshotDir } from './lib/tree.js';

const TAR = () => requireTool('tar', 'tar');
const UNSQUASHFS = () => requireTool('unsquashfs', 'squashfs-tools');
const MKSQUASHFS = () => requireTool('mksquashfs', 'squashfs-tools');
const CPIO = () => requireTool('cpio', 'cpio');

let work: string;
before(async () => {
  work = await tempDir('cli-input');
});

/** A fresh empty directory (tests assert it stays empty after a failure). */
async function fresh(name: string): Promise<string> {
  const d = join(work, name);
  await mkdir(d, { recursive: true });
  return d;
}

function assertFailed(r: RunResult, exit: number, code: string, ...named: string[]): void {
  assert.equal(r.code, exit, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, new RegExp(`\\[${code}\\]`), r.stderr);
  for (const n of named) assert.ok(r.stderr.includes(n), `stderr names ${n}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** A small tree with a few kinds, fixed modes and times; returns its directory. */
async function makeTree(name: string): Promise<string> {
  const src = join(work, name);
  await mkdir(join(src, 'etc/conf.d'), { recursive: true });
  await mkdir(join(src, 'var/cache'), { recursive: true });
  await writeFile(join(src, 'etc/hostname'), 'imgkit\n');
  await writeFile(join(src, 'etc/conf.d/net'), 'x'.repeat(1000));
  await writeFile(join(src, 'var/cache/big'), new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff));
  await writeFile(join(src, 'tail'), 'zzz');
  await symlink('etc/hostname', join(src, 'link'));
  await chmod(join(src, 'etc/hostname'), 0o600);
  for (const p of ['etc/hostname', 'etc/conf.d/net', 'var/cache/big', 'tail', 'etc/conf.d', 'etc', 'var/cache', 'var', '']) {
    await utimes(join(src, p), 1_600_000_000, 1_600_000_000);
  }
  return src;
}

/** `tar -c` of `src` in a fixed order (GNU tar, pax format) and the offset where its end marker starts. */
async function makeTar(src: string, file: string): Promise<{ bytes: Buffer; end: number }> {
  spawnSync(TAR(), ['--format=posix', '--pax-option=delete=atime,delete=ctime', '--sort=name', '--numeric-owner', '-C', src, '-cf', file, '.'], { stdio: 'inherit' });
  const bytes = await readFile(file);
  let end = bytes.byteLength;
  while (end >= 512 && bytes.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  return { bytes, end };
}

async function extractSquashfs(image: string, name: string): Promise<string> {
  const x = join(work, name);
  await run(UNSQUASHFS(), ['-q', '-n', '-d', x, image]);
  return x;
}

describe('imgkit squashfs --tar', () => {
  let src: string;
  let full: { bytes: Buffer; end: number };
  let expected: Awaited<ReturnType<typeof snapshotDir>>;
  before(async () => {
    src = await makeTree('tar-src');
    full = await makeTar(src, join(work, 'full.tar'));
    // what GNU tar unpacks from the complete archive is the reference
    const ref = await fresh('tar-ref');
    await run(TAR(), ['-xpf', join(work, 'full.tar'), '--numeric-owner', '--same-owner', '-C', ref]);
    expected = await snapshotDir(ref);
  });

  test('an archive ending in one zero block is accepted: unsquashfs extracts what GNU tar extracts from the complete one; standard input and a FIFO give the same bytes', async () => {
    const dir = await fresh('one-zero');
    const cut = join(dir, 'one-zero.tar');
    await writeFile(cut, full.bytes.subarray(0, full.end + 512));
    assert.equal(spawnSync(MKSQUASHFS(), ['-', join(dir, 'mk.sqfs'), '-tar', '-quiet', '-no-progress'], { input: await readFile(cut) }).status, 0, 'mksquashfs -tar accepts it too');
    const image = join(dir, 'a.sqfs');
    const r = await runImgkit(['squashfs', cut, image, '-tar', '-processors', '1']);
    assert.equal(r.code, 0, r.stderr);
    assertSameTree(await snapshotDir(await extractSquashfs(image, 'one-zero-x')), expected, { ignore: ['root'] });

    // '-' reads standard input, as `mksquashfs - img -tar` does
    const viaStdin = join(dir, 'stdin.sqfs');
    const s = await runImgkit(['squashfs', '-', viaStdin, '-tar', '-processors', '1'], { input: await readFile(cut) });
    assert.equal(s.code, 0, s.stderr);
    assert.ok((await readFile(viaStdin)).equals(await readFile(image)), 'standard input: the same image');

    // a FIFO is read once; the writer comes after imgkit has opened it
    const fifo = join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const viaFifo = join(dir, 'fifo.sqfs');
    const child = spawn(process.execPath, [IMGKIT_BIN, 'squashfs', fifo, viaFifo, '-tar', '-processors', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = once(child, 'exit');
    await new Promise<void>((resolve, reject) => createReadStream(cut).pipe(createWriteStream(fifo)).on('finish', resolve).on('error', reject));
    const [code] = await exited;
    assert.equal(code, 0, err);
    assert.ok((await readFile(viaFifo)).equals(await readFile(image)), 'FIFO: the same image');
  });

  test('cut archives and non-archives: exit 1, E_TAR_FORMAT naming the archive, the offset and the member; nothing left; mksquashfs -tar refuses each too', async () => {
    const dir = await fresh('cuts');
    const out = await fresh('cuts-out');
    const gz = spawnSync(requireTool('gzip', 'gzip'), ['-c'], { input: full.bytes }).stdout as Buffer;
    // the last member's header is at end − 512 − its data (the tree's 'var/cache/big' is large)
    const cases: [string, Buffer, RegExp][] = [
      ['no-end', full.bytes.subarray(0, full.end), /truncated: the archive ends \(after member ".*"\) without the end-of-archive marker/],
      ['in-padding', full.bytes.subarray(0, full.end - 10), /truncated: the archive ends inside member ".*": its data and padding run to offset/],
      ['in-data', full.bytes.subarray(0, full.end - 600), /truncated: the archive ends inside member/],
      ['in-header', full.bytes.subarray(0, 1024 + 100), /truncated: the archive ends 100 bytes into a header|truncated: the archive ends inside/],
      ['empty', Buffer.alloc(0), /not a tar archive: it is empty/],
      ['gzip', gz, /not a tar archive: .*gzip-compressed data \(decompress it first: gzip -dc\)/],
      ['text', Buffer.from('#!/bin/sh\necho not a tar\n'.repeat(50)), /not a tar archive: the first header's checksum does not match/],
    ];
    for (const [name, data, message] of cases) {
      const file = join(dir, `${name}.tar`);
      await writeFile(file, data);
      const r = await runImgkit(['squashfs', file, join(out, 'x.sqfs'), '-tar', '-processors', '0']);
      assertFailed(r, 1, 'E_TAR_FORMAT', `tar: ${file}: `);
      assert.match(r.stderr, message, name);
      assert.deepEqual(await readdir(out), [], `${name}: no output or temporary file left`);
      assert.notEqual(spawnSync(MKSQUASHFS(), ['-', join(dir, 'mk.sqfs'), '-tar', '-quiet', '-no-progress'], { input: data }).status, 0, `mksquashfs -tar refuses ${name}`);
    }
    // the padding cut is the one that used to give a valid image without the last member: name it
    const padding = await runImgkit(['squashfs', join(dir, 'in-padding.tar'), join(out, 'x.sqfs'), '-tar']);
    assert.match(padding.stderr, /at offset \d+: truncated/);
  });

  test('open failures say which: no such file, a directory, permission denied (as nobody) — each with its own code and message', async () => {
    const base = await tempDir('cli-tar-open');
    await chmod(base, 0o755);
    const out = join(base, 'out');
    await mkdir(out);
    await chmod(out, 0o777);
    const missing = await runImgkit(['squashfs', join(base, 'nope.tar'), join(out, 'x.sqfs'), '-tar']);
    assertFailed(missing, 1, 'E_SOURCE_MISSING', join(base, 'nope.tar'), 'no such file (ENOENT)');
    const dir = await runImgkit(['squashfs', base, join(out, 'x.sqfs'), '-tar']);
    assertFailed(dir, 1, 'E_SOURCE_MISSING', 'is a directory', 'without --tar the source is a directory');
    const secret = join(base, 'secret.tar');
    await writeFile(secret, full.bytes);
    await chmod(secret, 0o000);
    const args = [IMGKIT_BIN, 'squashfs', secret, join(out, 'x.sqfs'), '-tar', '-processors', '0'];
    let r: RunResult;
    if (process.getuid?.() === 0) {
      letOthersReachRepo();
      r = await run(requireTool('setpriv', 'util-linux'), ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], { allowFail: true });
    } else r = await run(process.execPath, args, { allowFail: true });
    assertFailed(r, 1, 'E_SOURCE_UNREADABLE', secret, 'permission denied (EACCES)');
    assert.deepEqual(await readdir(out), []);
  });

  test('a FIFO nobody writes to: imgkit waits in the event loop, and SIGTERM ends it (exit 143, nothing left)', async () => {
    const dir = await fresh('fifo-wait');
    const out = await fresh('fifo-wait-out');
    const fifo = join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const child = spawn(process.execPath, [IMGKIT_BIN, 'squashfs', fifo, join(out, 'x.sqfs'), '-tar', '-processors', '0'], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    await sleep(1000); // lets it reach the FIFO; not a timing assertion: any moment works below
    assert.equal(child.exitCode, null, 'still waiting for a writer');
    child.kill('SIGTERM');
    const guard = sleep(60_000).then(() => 'hung');
    const result = await Promise.race([exited, guard]);
    assert.notEqual(result, 'hung', 'SIGTERM ended it');
    const [code, signal] = result as [number | null, NodeJS.Signals | null];
    assert.ok(code === 143 || signal === 'SIGTERM', `exit ${code} ${signal}`);
    assert.deepEqual(await readdir(out), []);
  });

  test('-e works with --tar: a path, a directory with everything below it, a pattern', async () => {
    const dir = await fresh('tar-exclude');
    const image = join(dir, 'a.sqfs');
    const r = await runImgkit(['squashfs', join(work, 'full.tar'), image, '-tar', '-e', 'tail', '-e', 'var/cache', '-e', 'etc/*.d', '-processors', '0']);
    assert.equal(r.code, 0, r.stderr);
    const want = new Map([...expected].filter(([p]) => !['tail', 'var/cache', 'var/cache/big', 'etc/conf.d', 'etc/conf.d/net'].includes(p)));
    assertSameTree(await snapshotDir(await extractSquashfs(image, 'tar-exclude-x')), want, { ignore: ['root', 'dirMtime'] });
  });

  test('names: a 255-byte component is written and extracted by unsquashfs; 256 is E_NAME_TOO_LONG naming it, with a hint the command can follow', async () => {
    const python = requireTool('python3', 'python3');
    const dir = await fresh('sqfs-names');
    for (const len of [255, 256]) {
      const file = join(dir, `n${len}.tar`);
      const script = `import tarfile, io\nwith tarfile.open(${JSON.stringify(file)}, 'w', format=tarfile.PAX_FORMAT) as t:\n  d = tarfile.TarInfo('d'); d.type = tarfile.DIRTYPE; d.mode = 0o755; d.mtime = 1600000000; t.addfile(d)\n  f = tarfile.TarInfo('d/' + 'b' * ${len}); f.size = 3; f.mode = 0o644; f.mtime = 1600000000; t.addfile(f, io.BytesIO(b'hi\\n'))\n`;
      await run(python, ['-c', script]);
      const image = join(dir, `n${len}.sqfs`);
      const r = await runImgkit(['squashfs', file, image, '-tar', '-processors', '0']);
      if (len === 255) {
        assert.equal(r.code, 0, r.stderr);
        const x = await extractSquashfs(image, 'sqfs-n255-x');
        assert.equal((await readFile(join(x, 'd', 'b'.repeat(255)))).toString(), 'hi\n');
      } else {
        assertFailed(r, 1, 'E_NAME_TOO_LONG', `d/${'b'.repeat(150)}`, 'a name of 256 bytes', 'Linux names are at most 255 bytes', 'exclude it');
        const help = (await runImgkit(['squashfs', '--help'])).stdout.toString();
        assert.match(help, /--exclude <path>/, 'squashfs has the exclude option its hint names');
      }
    }
  });
});

describe('imgkit cpio: names, --exclude, long host paths', () => {
  test('a 255-byte component: GNU cpio extracts the archive to the same tree; a 256-byte name in a manifest is E_NAME_TOO_LONG naming the manifest line and field', async () => {
    const src = await fresh('cpio-255');
    await mkdir(join(src, 'd'));
    const long = 'n'.repeat(255);
    await writeFile(join(src, 'd', long), 'content\n');
    await mkdir(join(src, 'd', `${'m'.repeat(255)}`));
    await writeFile(join(src, 'd', 'm'.repeat(255), 'inner'), 'inner\n');
    const out = join(work, 'cpio-255.cpio');
    const r = await runImgkit(['cpio', src, out, '--compress', 'none', '--workers', '0']);
    assert.equal(r.code, 0, r.stderr);
    const x = await fresh('cpio-255-x');
    await run(CPIO(), ['-idm', '--quiet', '--no-absolute-filenames'], { input: await readFile(out), cwd: x });
    assertSameTree(await snapshotDir(x), await snapshotDir(src), { ignore: ['root', 'dirMtime'] });

    const manifest = join(work, 'long.list');
    await writeFile(manifest, `# comment\ndir /d/${'o'.repeat(256)} 0755 0 0\n`);
    const outDir = await fresh('cpio-256-out');
    const bad = await runImgkit(['cpio', src, join(outDir, 'x.cpio'), '--manifest', manifest]);
    assertFailed(bad, 1, 'E_NAME_TOO_LONG', `${manifest}:2:`, 'name "/d/oooo', '(259 bytes)', 'component of 256 bytes');
    assert.deepEqual(await readdir(outDir), []);
  });

  test('--exclude: an exact path, a directory with everything below it, a pattern; GNU cpio lists the rest', async () => {
    const src = await fresh('cpio-exclude');
    await mkdir(join(src, 'etc'));
    await mkdir(join(src, 'var/cache/apt'), { recursive: true });
    for (const f of ['etc/keep', 'etc/a.bak', 'etc/b.bak', 'var/cache/apt/pkg', 'var/log', 'secret']) await writeFile(join(src, f), f);
    const out = join(work, 'exclude.cpio');
    const r = await runImgkit(['cpio', src, out, '--compress', 'none', '--exclude', 'secret', '--exclude', 'var/cache', '--exclude', 'etc/*.bak']);
    assert.equal(r.code, 0, r.stderr);
    const names = (await run(CPIO(), ['-it', '--quiet'], { input: await readFile(out) })).stdout.toString().trim().split('\n').sort();
    assert.deepEqual(names, ['.', 'etc', 'etc/keep', 'var', 'var/log']);
    assert.match((await runImgkit(['cpio', '--help'])).stdout.toString(), /--exclude <path>/);
  });

  test('a host path over PATH_MAX is E_PATH_TOO_LONG naming it (not "fix its permissions")', async () => {
    const src = await fresh('deep');
    // made with relative mkdir/chdir: the absolute path is too long for one system call
    const seg = 'd'.repeat(250);
    const script = `import os, sys\nos.chdir(sys.argv[1])\nfor i in range(18):\n  os.mkdir('${seg}'); os.chdir('${seg}')\nopen('f', 'w').write('x')\n`;
    const made = spawnSync(requireTool('python3', 'python3'), ['-c', script, src]);
    assert.equal(made.status, 0, made.stderr.toString());
    try {
      const outDir = await fresh('deep-out');
      const r = await runImgkit(['cpio', src, join(outDir, 'x.cpio'), '--compress', 'none', '--workers', '0']);
      assertFailed(r, 1, 'E_PATH_TOO_LONG', 'PATH_MAX', 'ENAMETOOLONG', 'exclude it');
      assert.match(r.stderr, /imgkit: core: d{200}… \(\d{4} bytes\): /, 'the tree path, its first 200 bytes');
      assert.doesNotMatch(r.stderr, /permission/i);
      assert.deepEqual(await readdir(outDir), []);
    } finally {
      spawnSync('rm', ['-rf', src]); // fts walks it relatively; Node's rm would hit the same limit
    }
  });
});

describe('manifests through the CLI', () => {
  test('duplicate and conflicting lines: a warning naming both lines, the last one wins in the archive; --strict refuses (exit 1, E_NAME_COLLISION)', async () => {
    const src = await fresh('dup-src');
    await mkdir(join(src, 'etc'));
    await writeFile(join(work, 'motd'), 'hello\n');
    const manifest = join(work, 'dup.list');
    await writeFile(manifest, ['file /etc/motd motd 0644 0 0', 'dir /etc 0755 0 0', 'slink /etc/motd /run/motd 0777 0 0', 'dir /etc 0755 0 0', ''].join('\n'));
    const out = join(work, 'dup.cpio');
    const r = await runImgkit(['cpio', src, out, '--compress', 'none', '--manifest', manifest]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(`imgkit: warning: ${manifest}:3: name "etc/motd" is already given on line 1: this slink line replaces the file from there`), r.stderr);
    assert.ok(r.stderr.includes(`imgkit: warning: ${manifest}:4: name "etc" is already given on line 2: the same line repeated`), r.stderr);
    const listing = (await run(CPIO(), ['-itv', '--quiet'], { input: await readFile(out) })).stdout.toString();
    assert.match(listing, /^lrwxrwxrwx .* etc\/motd -> \/run\/motd$/m);

    const outDir = await fresh('dup-strict');
    const s = await runImgkit(['cpio', src, join(outDir, 'x.cpio'), '--manifest', manifest, '--strict']);
    assertFailed(s, 1, 'E_NAME_COLLISION', `${manifest}:3:`, 'line 1');
    assert.deepEqual(await readdir(outDir), []);
    // squashfs passes the warnings on too
    const q = await runImgkit(['squashfs', src, join(work, 'dup.sqfs'), '--manifest', manifest, '-processors', '0']);
    assert.equal(q.code, 0, q.stderr);
    assert.ok(q.stderr.includes(`${manifest}:3: name "etc/motd" is already given on line 1`), q.stderr);
  });

  test('a 2 MB name in a manifest: exit 1 naming the line and field; the message quotes 64 bytes of it', async () => {
    const src = await fresh('huge-src');
    const manifest = join(work, 'huge.list');
    await writeFile(manifest, `dir /a 0755 0 0\npipe /a/${'p'.repeat(2_000_000)} 0644 0 0\n`);
    const r = await runImgkit(['cpio', src, join(work, 'huge.cpio'), '--manifest', manifest]);
    assertFailed(r, 1, 'E_NAME_TOO_LONG', `${manifest}:2:`, '(2000003 bytes)');
    assert.ok(r.stderr.length < 1000, `stderr is ${r.stderr.length} bytes`);
  });
});

describe('compression levels and usage errors', () => {
  test('one table per codec and command: every impossible level exits 2 naming the valid range and the command help; no NaN, no chunkSize, no dictSize', async () => {
    const out = await fresh('levels');
    const cases: [string[], RegExp][] = [
      [['cpio', '--compress', 'lz4', '--level', '1'], /lz4 has no compression levels .*leave out --level/],
      [['cpio', '--compress', 'none', '--level', '1'], /none has no compression levels/],
      [['cpio', '--compress', 'xz', '--level', '10'], /xz level 10 is outside 0…7 \(--level takes 0…7 for xz; 6 when left out\)/],
      [['cpio', '--compress', 'xz', '--level', '8'], /xz level 8 is outside 0…7: presets 8 and 9 use 32 and 64 MiB dictionaries/],
      [['cpio', '--compress', 'xz', '--level', '9'], /xz level 9 is outside 0…7/],
      [['cpio', '--compress', 'zstd', '--level', '0'], /zstd level 0 is outside 1…19/],
      [['cpio', '--compress', 'zstd', '--level', '20'], /zstd level 20 is outside 1…19: .*8 MiB/],
      [['cpio', '--compress', 'gzip', '--level', '10'], /gzip level 10 is outside 0…9/],
      [['squashfs', '-comp', 'lz4', '-Xcompression-level', '1'], /lz4 has no compression levels .*leave out -Xcompression-level/],
      [['squashfs', '-comp', 'gzip', '-Xcompression-level', '0'], /gzip level 0 is outside 1…9/],
      [['squashfs', '-comp', 'zstd', '-Xcompression-level', '0'], /zstd level 0 is outside 1…22/],
      [['squashfs', '-comp', 'zstd', '-Xcompression-level', '23'], /zstd level 23 is outside 1…22/],
      [['squashfs', '-comp', 'xz', '-Xcompression-level', '10'], /xz level 10 is outside 0…9/],
    ];
    const src = await makeTree('levels-src');
    for (const [args, message] of cases) {
      const [command, ...rest] = args;
      const r = await runImgkit([command!, src, join(out, 'x'), ...rest]);
      assertFailed(r, 2, 'E_BAD_OPTION');
      assert.match(r.stderr, message, args.join(' '));
      assert.ok(r.stderr.includes(`(see imgkit ${command} --help)`), r.stderr);
      assert.doesNotMatch(r.stderr, /NaN|chunkSize|dictSize/, r.stderr);
      assert.deepEqual(await readdir(out), [], args.join(' '));
    }
    // the ends of the ranges work: xz 7 and zstd 19 in cpio, xz 9 in squashfs (dictionary = block size)
    for (const [args, check] of [
      [['cpio', '--compress', 'xz', '--level', '7'], ['xz', '-dc']],
      [['cpio', '--compress', 'zstd', '--level', '19'], ['zstd', '-dc']],
    ] as const) {
      const file = join(work, `ok-${args[2]}.cpio`);
      const r = await runImgkit([args[0], src, file, ...args.slice(1), '--workers', '0']);
      assert.equal(r.code, 0, r.stderr);
      const raw = (await run(requireTool(check[0], check[0] === 'xz' ? 'xz-utils' : 'zstd'), [check[1]], { input: await readFile(file) })).stdout;
      const x = await fresh(`ok-${args[2]}-x`);
      await run(CPIO(), ['-idm', '--quiet'], { input: raw, cwd: x });
      assertSameTree(await snapshotDir(x), await snapshotDir(src), { ignore: ['root', 'dirMtime', 'symlinkMtime', 'uid', 'gid'] });
    }
    const sq = join(work, 'xz9.sqfs');
    const r = await runImgkit(['squashfs', src, sq, '-comp', 'xz', '-Xcompression-level', '9', '-processors', '0']);
    assert.equal(r.code, 0, r.stderr);
    assertSameTree(await snapshotDir(await extractSquashfs(sq, 'xz9-x')), await snapshotDir(src), { ignore: ['root'] });
  });

  test('usage errors found after parsing point to the command help', async () => {
    const r = await runImgkit(['squashfs', await makeTree('usage-src'), '-']);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(r.stderr.includes('(see imgkit squashfs --help)'), r.stderr);
    assert.ok(!r.stderr.includes('(see imgkit --help)'), r.stderr);
  });
});
