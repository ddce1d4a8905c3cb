/**
 * SIGINT, SIGTERM and SIGHUP at every stage (issue 14): the process stops at once, ends by the
 * signal (status 128 + n), leaves no temporary file, and says one true sentence about what the
 * output holds (nothing for a new file, its old content for a replaced one, an incomplete image on
 * a device or standard output). Never a second error from a writer that kept going.
 *
 * No timing: the kernel delivers the signal at an exact point, under strace (syscall tampering,
 * `inject=openat:signal=SIG`), when imgkit opens a given directory (the walk) or file (the write).
 * The same trace records whether imgkit ever opened a later path, which proves it stopped before
 * the walk or the write would have reached it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { withLoopDevice } from './lib/loop.ts';
import { IMGKIT_BIN, requireTool, run, tempDir } from './lib/tools.ts';

const STRACE = requireTool('strace', 'strace');

let work: string;

const DIRS = 40;
const FILES = 25;
const name = (i: number) => String(i).padStart(2, '0');

/** d00…d39, each with f00…f24 of `fileBytes` bytes: 1041 entries, walked in that order. */
async function makeTree(dir: string, fileBytes: number): Promise<string> {
  for (let i = 0; i < DIRS; i++) {
    await mkdir(join(dir, `d${name(i)}`), { recursive: true });
    for (let j = 0; j < FILES; j++) await writeFile(join(dir, `d${name(i)}`, `f${name(j)}`), Buffer.alloc(fileBytes, i + j));
  }
  return dir;
}

let emptyTree: string;
let fullTree: string;
before(async () => {
  work = await tempDir('cli-signals');
  emptyTree = await makeTree(join(work, 'empty-tree'), 0);
  fullTree = await makeTree(join(work, 'full-tree'), 32 << 10); // 32 MiB of content
});

interface Interrupted {
  /** Exit code, or null when the process ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: Buffer;
  /** Paths (of `at` and `watch`) imgkit opened, in order. */
  opened: string[];
}

/**
 * Run imgkit; the kernel sends it `signal` when it opens `at`. Records its opens of `at` and
 * `watch`. A hang guard (not a measurement) kills it after two minutes and fails the test.
 */
async function interruptAt(args: readonly string[], opts: { signal: NodeJS.Signals; at: string; watch?: string }): Promise<Interrupted> {
  const trace = join(await tempDir('strace'), 'trace');
  const paths = [opts.at, ...(opts.watch ? [opts.watch] : [])].flatMap((p) => ['-P', p]);
  const child = spawn(
    STRACE,
    // (not --seccomp-bpf: strace 6.1 then skips the injection)
    ['-f', '-qq', '-o', trace, '-e', 'trace=openat', '-e', `inject=openat:signal=${opts.signal}:when=1`, ...paths, process.execPath, IMGKIT_BIN, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true }, // its own process group, for the hang guard
  );
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  let hung = false;
  const guard = setTimeout(() => {
    hung = true;
    process.kill(-child.pid!, 'SIGKILL'); // strace and imgkit (which would keep the pipes open)
  }, 120_000);
  const [code, signal] = (await new Promise((resolve) => child.on('close', (c, s) => resolve([c, s])))) as [number | null, NodeJS.Signals | null];
  clearTimeout(guard);
  assert.equal(hung, false, `imgkit ${args.join(' ')} did not stop; stderr: ${stderr}`);
  const opened = (await readFile(trace, 'utf8'))
    .split('\n')
    .map((l) => /openat\(AT_FDCWD, "([^"]*)"/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  return { code, signal, stderr, stdout: Buffer.concat(out), opened: [...new Set(opened)] };
}

const SIGNAL_NUMBER: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** Ended by `signal` (a shell shows 128 + n), with exactly one line on stderr: `said`. */
function assertStopped(r: Interrupted, signal: NodeJS.Signals, said: string): void {
  assert.ok(r.signal === signal || r.code === 128 + SIGNAL_NUMBER[signal]!, `ended by ${signal}: code ${r.code}, signal ${r.signal}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, `imgkit: interrupted (${signal}); ${said}\n`, 'one line, no second error');
}

async function outDir(n: string): Promise<string> {
  const d = join(work, n);
  await mkdir(d);
  return d;
}

describe('a signal during the tree walk stops it there', () => {
  for (const [cmd, signal, argsFor] of [
    ['cpio', 'SIGINT', (out: string) => ['cpio', emptyTree, out, '--workers', '0']],
    ['squashfs', 'SIGTERM', (out: string) => ['squashfs', emptyTree, out, '-processors', '0']],
    ['iso', 'SIGHUP', (out: string) => ['iso', emptyTree, out]],
    ['mkisofs -R', 'SIGINT', (out: string) => ['mkisofs', '-R', '-o', out, emptyTree]],
  ] as const) {
    test(`${cmd}: ${signal} when the walk opens d20 → exits before it opens d39, no temporary file`, async () => {
      const dir = await outDir(`walk-${cmd.replace(/\W/g, '')}`);
      const out = join(dir, 'image');
      const r = await interruptAt(argsFor(out), { signal, at: join(emptyTree, 'd20'), watch: join(emptyTree, 'd39') });
      assertStopped(r, signal, `${out} was not created`);
      assert.deepEqual(r.opened, [join(emptyTree, 'd20')], 'the walk went no further');
      assert.deepEqual(await readdir(dir), [], 'no output, no temporary file');
    });
  }
});

describe('a signal while writing stops the write there', () => {
  test('iso replacing a file: SIGINT when d05/f00 is read → the file keeps its old content, d39/f24 is never read', async () => {
    const dir = await outDir('write-iso');
    const out = join(dir, 'live.iso');
    await writeFile(out, 'the previous image\n');
    const r = await interruptAt(['iso', fullTree, out], { signal: 'SIGINT', at: join(fullTree, 'd05/f00'), watch: join(fullTree, 'd39/f24') });
    assertStopped(r, 'SIGINT', `${out} keeps its previous content`);
    assert.deepEqual(r.opened, [join(fullTree, 'd05/f00')]);
    assert.equal(await readFile(out, 'utf8'), 'the previous image\n');
    assert.deepEqual(await readdir(dir), ['live.iso'], 'no temporary file');
  });

  test('cpio to a block device: SIGTERM mid-write → the device is said to hold an incomplete image, and is still the device', async () => {
    await withLoopDevice(64 << 20, 0xa5, async (dev, backing) => {
      const r = await interruptAt(['cpio', fullTree, dev, '--compress', 'none', '--workers', '0'], { signal: 'SIGTERM', at: join(fullTree, 'd10/f00'), watch: join(fullTree, 'd39/f24') });
      assert.match(r.stderr, new RegExp(`^imgkit: interrupted \\(SIGTERM\\); ${dev} now holds an incomplete image \\(its first \\d+\\.\\d MiB were overwritten\\): do not boot or mount it\\n$`));
      assert.ok(r.signal === 'SIGTERM' || r.code === 143, `${r.code} ${r.signal}`);
      assert.deepEqual(r.opened, [join(fullTree, 'd10/f00')]);
      assert.ok((await stat(dev)).isBlockDevice());
      assert.equal((await stat(backing)).size, 64 << 20);
      assert.equal((await readFile(dev)).subarray(0, 6).toString('latin1'), '070701');
    });
  });

  test("cpio to '-': SIGHUP mid-write → 'the image on standard output is incomplete', nothing claimed removed", async () => {
    const r = await interruptAt(['cpio', fullTree, '-', '--compress', 'none', '--workers', '0'], { signal: 'SIGHUP', at: join(fullTree, 'd10/f00'), watch: join(fullTree, 'd39/f24') });
    assertStopped(r, 'SIGHUP', 'the image on standard output is incomplete');
    assert.deepEqual(r.opened, [join(fullTree, 'd10/f00')]);
    assert.ok(r.stdout.byteLength > 0 && r.stdout.byteLength < DIRS * FILES * (32 << 10));
  });
});

test('squashfs --tar FIFO: SIGINT while blocked opening the FIFO (no writer) → ends at once', async () => {
  const dir = await outDir('tar-fifo');
  const fifo = join(dir, 'in.tar');
  await run(requireTool('mkfifo', 'coreutils'), [fifo]);
  const out = join(dir, 'out.sqfs');
  const r = await interruptAt(['squashfs', '--tar', fifo, out], { signal: 'SIGINT', at: fifo });
  assertStopped(r, 'SIGINT', 'nothing was written');
  assert.deepEqual(r.opened, [fifo]);
  assert.deepEqual(await readdir(dir), ['in.tar']);
});
