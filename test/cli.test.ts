/**
 * `imgkit cpio` end to end: the README's first command on the bundled fixtures, standard output,
 * SOURCE_DATE_EPOCH and owner options, and every bad input → a clear error (code + path), exit 1,
 * and no output or temporary file left behind; usage errors exit 2.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { applyManifest, applyOwnership, parseManifest } from '@imgkit/core';
import { nodeHostFiles, nodeSource } from '@imgkit/core/node';
import { decodeCpio } from '@imgkit/cpio';
import { DEFAULT_MANIFEST_PATH, DEFAULT_ROOTFS, makeRichTree } from './lib/fixture.js';
import { IMGKIT_BIN, letOthersReachRepo, requireTool, run, runImgkit, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir, snapshotTree } from './lib/tree.js';

const CPIO = requireTool('cpio', 'cpio');
const GZIP = requireTool('gzip', 'gzip');

let work: string;
before(async () => {
  work = await tempDir('cli-test');
});

/** A fresh empty output directory; tests assert it is still empty after a failure. */
async function outDir(name: string): Promise<string> {
  const d = join(work, name);
  await mkdir(d, { recursive: true });
  return d;
}

async function assertFailed(r: { code: number; stderr: string }, code: string, path: string | undefined, dir: string): Promise<void> {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
  if (path !== undefined) assert.ok(r.stderr.includes(path), `stderr names ${path}: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.deepEqual(await readdir(dir), [], 'no output or temporary file left');
}

describe('imgkit cpio', () => {
  test("the README's first command: bundled fixtures + manifest → an archive GNU cpio extracts to the same tree", async () => {
    const dir = await outDir('readme');
    const out = join(dir, 'out.cpio.gz');
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, out, '--manifest', DEFAULT_MANIFEST_PATH, '--all-root', '--compress', 'gzip']);
    assert.equal(r.code, 0, r.stderr);
    const raw = (await run(GZIP, ['-dc', out])).stdout;
    const x = join(work, 'readme-x');
    await mkdir(x);
    await run(CPIO, ['-idm', '--no-absolute-filenames', '--quiet'], { input: raw, cwd: x });
    const manifest = parseManifest(await readFile(DEFAULT_MANIFEST_PATH, 'utf8'), DEFAULT_MANIFEST_PATH);
    const tree = applyManifest(applyOwnership(nodeSource(DEFAULT_ROOTFS), { allRoot: true }), manifest, { hostFiles: nodeHostFiles(join(DEFAULT_ROOTFS, '..')) });
    const expected = await snapshotTree(tree);
    assert.ok(expected.has('dev/console') && expected.get('dev/console')!.kind === 'char');
    assertSameTree(await snapshotDir(x), expected, { ignore: ['root', 'dirMtime', 'symlinkMtime'] });
  });

  test("'-' writes a valid archive to standard output; SOURCE_DATE_EPOCH clamps times; --uid/--gid set owners", async () => {
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, '-', '--compress', 'gzip', '--uid', '1234', '--gid', '99', '--workers', '0'], {
      env: { SOURCE_DATE_EPOCH: '1000000000' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...r.stdout.subarray(0, 2)], [0x1f, 0x8b]);
    const raw = (await run(GZIP, ['-dc'], { input: r.stdout })).stdout;
    const listing = (await run(CPIO, ['-it', '--quiet'], { input: raw })).stdout.toString('utf8').trim().split('\n');
    assert.ok(listing.includes('bin/hello') && listing.includes('etc/os-release'), listing.join(' '));
    const entries = decodeCpio(raw).entries.filter((e) => e.name !== 'TRAILER!!!');
    for (const e of entries) {
      assert.ok(e.mtime <= 1_000_000_000, `${e.name} mtime ${e.mtime}`);
      assert.deepEqual([e.uid, e.gid], [1234, 99], e.name);
    }
  });

  test('--early DIR puts an uncompressed archive in front; --format crc writes 070702', async () => {
    const early = join(work, 'early-src');
    await mkdir(join(early, 'kernel/x86/microcode'), { recursive: true });
    await writeFile(join(early, 'kernel/x86/microcode/AuthenticAMD.bin'), 'ucode');
    const dir = await outDir('early');
    const out = join(dir, 'x.img');
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, out, '--early', early, '--format', 'crc', '--compress', 'xz', '--workers', '0']);
    assert.equal(r.code, 0, r.stderr);
    const bytes = await readFile(out);
    const first = decodeCpio(bytes);
    assert.equal(first.entries[0]!.magic, '070701');
    assert.ok(first.entries.some((e) => e.name === 'kernel/x86/microcode/AuthenticAMD.bin' && e.uid === 0));
    let at = first.end;
    while (bytes[at] === 0) at++;
    const main = (await run(requireTool('xz', 'xz-utils'), ['-dc'], { input: bytes.subarray(at) })).stdout;
    assert.equal(main.subarray(0, 6).toString('latin1'), '070702');
    const listing = (await run(CPIO, ['-it', '--quiet', '--only-verify-crc'], { input: main })).stderr;
    assert.equal(listing.trim(), '', 'GNU cpio verifies every checksum');
  });

  test('an unreadable file → E_SOURCE_UNREADABLE naming it, exit 1, nothing left', async () => {
    // Root reads anything, so run the CLI as nobody (setpriv) over a world-readable tree whose one
    // file is mode 000, writing into a world-writable directory.
    const base = await tempDir('cli-unreadable');
    await chmod(base, 0o755);
    const src = join(base, 'src');
    await mkdir(join(src, 'etc'), { recursive: true });
    await writeFile(join(src, 'etc/ok'), 'ok\n');
    await writeFile(join(src, 'etc/secret'), 'secret\n');
    await chmod(join(src, 'etc/secret'), 0o000);
    const dir = join(base, 'out');
    await mkdir(dir);
    await chmod(dir, 0o777);
    const args = [IMGKIT_BIN, 'cpio', src, join(dir, 'x.cpio'), '--compress', 'none', '--workers', '0'];
    let r;
    if (process.getuid?.() === 0) {
      const setpriv = requireTool('setpriv', 'util-linux');
      letOthersReachRepo();
      r = await run(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], { allowFail: true });
    } else {
      r = await run(process.execPath, args, { allowFail: true });
    }
    await assertFailed(r, 'E_SOURCE_UNREADABLE', 'etc/secret', dir);
  });

  test('a name longer than PATH_MAX (4096 bytes with its NUL) → E_NAME_TOO_LONG with the path, exit 1, nothing left', async () => {
    // Made through the manifest: the host cannot even lstat a path that long under a temp dir.
    const seg = 'd'.repeat(250);
    const lines: string[] = [];
    let p = '';
    for (let i = 0; i < 16; i++) {
      p += `/${seg}`;
      lines.push(`dir ${p} 0755 0 0`);
    }
    const long = `${p}/${'f'.repeat(200)}`; // 16 × 251 + 201 = 4217 bytes
    lines.push(`pipe ${long} 0644 0 0`);
    const manifest = join(work, 'long.manifest');
    await writeFile(manifest, `${lines.join('\n')}\n`);
    const dir = await outDir('long');
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, join(dir, 'x.cpio.gz'), '--manifest', manifest]);
    // the manifest refuses it already, naming its line (17) and quoting the start of the name
    await assertFailed(r, 'E_NAME_TOO_LONG', `${manifest}:17: name "${long.slice(0, 64)}…" (4217 bytes)`, dir);
  });

  test('a file of 4 GiB (sparse) → E_FIELD_RANGE naming it, before anything is read; nothing left', async () => {
    const src = join(work, 'huge-src');
    await mkdir(src);
    await writeFile(join(src, 'small'), 'small\n');
    await run(requireTool('truncate', 'coreutils'), ['-s', String(2 ** 32), join(src, 'huge.img')]);
    const dir = await outDir('huge');
    const r = await runImgkit(['cpio', src, join(dir, 'x.cpio.gz'), '--workers', '0']);
    await assertFailed(r, 'E_FIELD_RANGE', 'huge.img', dir);
  });

  test('a manifest syntax error → E_MANIFEST_SYNTAX with the file and line, exit 1, nothing left', async () => {
    const manifest = join(work, 'bad.manifest');
    await writeFile(manifest, '# fine\ndir /dev 0755 0 0\nnod /dev/console 0600 0 0 q 5 1\n');
    const dir = await outDir('bad-manifest');
    const r = await runImgkit(['cpio', DEFAULT_ROOTFS, join(dir, 'x.cpio.gz'), '--manifest', manifest]);
    await assertFailed(r, 'E_MANIFEST_SYNTAX', 'bad.manifest', dir);
    assert.match(r.stderr, /bad\.manifest:3\b/);
  });

  test('a missing source directory → E_SOURCE_MISSING, exit 1, nothing left', async () => {
    const dir = await outDir('missing');
    const r = await runImgkit(['cpio', join(work, 'no-such-dir'), join(dir, 'x.cpio.gz')]);
    await assertFailed(r, 'E_SOURCE_MISSING', 'no-such-dir', dir);
  });

  test('an output path inside the source tree → E_OUTPUT_IN_SOURCE, exit 1, nothing written', async () => {
    const src = join(work, 'inside-src');
    await makeRichTree(src);
    const before = await snapshotDir(src);
    const r = await runImgkit(['cpio', src, join(src, 'misc/out.cpio.gz')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /\[E_OUTPUT_IN_SOURCE\]/);
    assertSameTree(await snapshotDir(src), before);
  });

  // SIGTERM/SIGINT/SIGHUP while writing: test/cli-signals.test.ts (delivered at an exact point with strace).

  test('usage errors exit 2; --help exits 0', async () => {
    const dir = await outDir('usage');
    const cases: string[][] = [
      ['cpio', DEFAULT_ROOTFS],
      ['cpio', DEFAULT_ROOTFS, join(dir, 'x'), '--compress', 'bz2'],
      ['cpio', DEFAULT_ROOTFS, join(dir, 'x'), '--level', 'high'],
      ['cpio', DEFAULT_ROOTFS, join(dir, 'x'), '--workers', '-1'],
      ['cpio', DEFAULT_ROOTFS, join(dir, 'x'), '--format', 'odc'],
      ['cpio', DEFAULT_ROOTFS, join(dir, 'x'), '--no-such-option'],
      ['no-such-command'],
    ];
    for (const args of cases) {
      const r = await runImgkit(args);
      assert.equal(r.code, 2, `${args.join(' ')} → ${r.code}: ${r.stderr}`);
      assert.ok(r.stderr.length > 0, `${args.join(' ')} explains itself`);
    }
    assert.deepEqual(await readdir(dir), []);
    const bad = await runImgkit(['cpio', DEFAULT_ROOTFS, join(dir, 'x')], { env: { SOURCE_DATE_EPOCH: 'yesterday' } });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /SOURCE_DATE_EPOCH/);
    for (const args of [['--help'], ['cpio', '--help']]) {
      const r = await runImgkit(args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString('utf8'), /Usage: imgkit/);
    }
  });
});

test('warnings: ten per kind are printed, then one line says more follow; --strict stops at the first', async () => {
  const dir = await tempDir('cli-warn');
  const src = join(dir, 'src');
  await mkdir(src);
  // 15 names with ':' — Joliet cannot hold it, so each is a warning (as for Debian's pkg:amd64.list)
  for (let i = 0; i < 15; i++) await writeFile(join(src, `pkg${String(i).padStart(2, '0')}:amd64.list`), `${i}\n`);
  const out = join(dir, 'a.iso');
  const r = await runImgkit(['iso', src, out, '--joliet']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('imgkit: warning:'));
  assert.equal(lines.filter((l) => l.includes(':amd64.list')).length, 10, r.stderr);
  assert.equal(lines.filter((l) => l.includes('more warnings like the last (E_NAME_UNENCODABLE)')).length, 1, r.stderr);
  // The image itself: Joliet has "_" where the name had ":", Rock Ridge keeps the name.
  const isoinfo = requireTool('isoinfo', 'genisoimage');
  const joliet = (await run(isoinfo, ['-J', '-f', '-i', out])).stdout.toString().split('\n');
  const rock = (await run(isoinfo, ['-R', '-f', '-i', out])).stdout.toString().split('\n');
  for (let i = 0; i < 15; i++) {
    const n = String(i).padStart(2, '0');
    assert.ok(joliet.includes(`/pkg${n}_amd64.list`), `Joliet /pkg${n}_amd64.list`);
    assert.ok(rock.includes(`/pkg${n}:amd64.list`), `Rock Ridge /pkg${n}:amd64.list`);
  }

  const strictOut = join(dir, 'b.iso');
  const s = await runImgkit(['iso', src, strictOut, '--joliet', '--strict']);
  assert.equal(s.code, 1, s.stderr);
  assert.match(s.stderr, /E_NAME_UNENCODABLE/);
  assert.match(s.stderr, /pkg00:amd64\.list/);
  assert.equal(existsSync(strictOut), false, 'no output after a strict failure');
  assert.deepEqual((await readdir(dir)).sort(), ['a.iso', 'src'], 'no temporary file left');
});
