/**
 * The browser path for real: headless Chromium (Debian's `chromium`, no driver) loads a page bundled
 * by esbuild (test/browser/build.ts) from a node:http server on 127.0.0.1. The page writes the spec
 * tree (test/browser/tree-spec.ts) into lightning-fs, builds squashfs (zstd, gzip) images on a
 * 2-worker module Web Worker pool into a MemorySink and cpio archives (gzip, zstd, xz) through a
 * WebStreamSink, and POSTs each image back.
 *
 * Each image is then checked with the reference tools (`unsquashfs -lln` / `-d`, `cpio -itvn` /
 * `-idm` after `gzip|zstd|xz -dc`), the extracted tree compared with the spec tree, and the bytes
 * compared with the same image built in Node from the same tree on disk (nodeSource, inline pool,
 * node:zlib for deflate): all formats here promise the same bytes for the same input and epoch.
 * That holds across realms for deflate too: the browser's pako 3 and Node 20's node:zlib give
 * identical bytes for squashfs's level-9 gzip blocks and for cpio's level-6 raw pieces (32 KiB
 * dictionary, sync flush). Should a future Node zlib differ, the two gzip byte comparisons are the
 * ones to fail, and the tool checks above still hold.
 *
 * lightning-fs has no utimes and no owners: every entry is applyOwnership({ allRoot, epoch })'d in
 * the page (times clamped to the epoch), and the Node side does the same to its disk copy.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { applyOwnership, MemorySink, withSink, type SourceTree } from '@imgkit/core';
import { nodeSource } from '@imgkit/core/node';
import { writeSquashfs } from '@imgkit/squashfs';
import { writeCpio } from '@imgkit/cpio';
import { inspectImage } from '@imgkit/inspect';
import { memoryReader } from '@imgkit/core';
import { buildBrowserPage } from './browser/build.js';
import { BROWSER_TEST, contentOf, treeSpec, type ImageName } from './browser/tree-spec.js';
import { assertListingMatches as assertCpioListing, parseCpioListing, permString } from './lib/cpio-listing.js';
import { parseLln } from './lib/squashfs-listing.js';
import { CHROMIUM_FLAGS } from './lib/chromium.ts';
import { requireTool, run, tempDir } from './lib/tools.js';
import { assertSameTree, snapshotDir, type Snapshot } from './lib/tree.js';

const CHROMIUM = () => requireTool('chromium', 'chromium');
const UNSQUASHFS = () => requireTool('unsquashfs', 'squashfs-tools');
const CPIO = () => requireTool('cpio', 'cpio');
const DECOMPRESSOR: Record<string, () => string[]> = {
  gzip: () => [requireTool('gzip', 'gzip'), '-dc'],
  zstd: () => [requireTool('zstd', 'zstd'), '-dc'],
  xz: () => [requireTool('xz', 'xz-utils'), '-dc'],
};
/** Whole run: bundle, start Chromium, build 5 images in the page. */
const PAGE_TIMEOUT_MS = 90_000;
const { epoch } = BROWSER_TEST;

// ------------------------------------------------------------------------------------------------
// The expected tree, from the spec: what lightning-fs holds after applyOwnership({ allRoot, epoch }).

function expectedSnapshot(): Snapshot {
  const snap: Snapshot = new Map();
  snap.set('', { kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: epoch, size: 0 });
  for (const e of treeSpec(BROWSER_TEST.seed)) {
    if (e.kind === 'dir') snap.set(e.path, { kind: 'dir', mode: e.mode, uid: 0, gid: 0, mtime: epoch, size: 0 });
    else if (e.kind === 'symlink') {
      snap.set(e.path, { kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: epoch, size: Buffer.byteLength(e.linkTarget!), linkTarget: e.linkTarget! });
    } else {
      const sha256 = createHash('sha256').update(contentOf(e)).digest('hex');
      snap.set(e.path, { kind: 'file', mode: e.mode, uid: 0, gid: 0, mtime: epoch, size: e.size!, sha256, nlink: 1 });
    }
  }
  return snap;
}

/** The spec tree on disk (times are "now", clamped to the epoch by applyOwnership like the page's). */
async function writeSpecTree(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  for (const e of treeSpec(BROWSER_TEST.seed)) {
    const at = join(dir, e.path);
    if (e.kind === 'dir') {
      await mkdir(at);
      await chmod(at, e.mode);
    } else if (e.kind === 'file') {
      await writeFile(at, contentOf(e));
      await chmod(at, e.mode);
    } else await symlink(e.linkTarget!, at);
  }
}

// ------------------------------------------------------------------------------------------------
// Server + Chromium

interface PageRun {
  images: Map<string, Buffer>;
  /** Per image: the report of @imgkit/inspect run in the page. */
  inspect: Map<string, unknown>;
  /** Per image: what each pool worker reported ('worker-stats' task of test/browser/worker.ts). */
  stats: Map<string, { name: string; seen: Record<string, number> }[]>;
  errors: string[];
  /** Outcome of each pool failure case of page.ts `errorPaths()`. */
  errorPaths: Record<string, string> | undefined;
  requested: string[];
  done: string | undefined;
  chromiumLog: string;
}

const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm' };

function startServer(root: string, state: PageRun, onDone: () => void): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') {
        if (url.pathname.startsWith('/image/')) state.images.set(url.pathname.slice(7), body);
        else if (url.pathname.startsWith('/inspect/')) state.inspect.set(url.pathname.slice(9), JSON.parse(body.toString('utf8')));
        else if (url.pathname.startsWith('/stats/')) state.stats.set(url.pathname.slice(7), JSON.parse(body.toString('utf8')));
        else if (url.pathname === '/error-paths') state.errorPaths = JSON.parse(body.toString('utf8'));
        else if (url.pathname === '/error') state.errors.push(`${url.searchParams.get('where')}: ${body.toString('utf8')}`);
        else if (url.pathname === '/done') {
          state.done = body.toString('utf8');
          onDone();
        }
        res.writeHead(204).end();
        return;
      }
      state.requested.push(url.pathname);
      const rel = normalize(url.pathname === '/' ? '/index.html' : url.pathname);
      readFile(join(root, rel)).then(
        (data) => res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(rel)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(data),
        () => res.writeHead(404).end(),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

/** Chromium's stderr without the D-Bus noise of a machine with no session bus (console lines kept). */
function chromiumLogTail(log: string): string {
  return log
    .split('\n')
    .filter((l) => !/dbus|bluez|idle_linux|UPower|Floss/i.test(l))
    .join('\n')
    .slice(-6000);
}

/** The shared flags (test/lib/chromium.ts), headless, a fresh profile, logging to stderr. */
function chromiumArgs(profile: string, url: string): string[] {
  return ['--headless', ...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0', url];
}

async function runPage(): Promise<PageRun> {
  const chromium = CHROMIUM();
  const dir = await tempDir('browser');
  const outdir = join(dir, 'site');
  await buildBrowserPage(outdir);
  const state: PageRun = { images: new Map(), inspect: new Map(), stats: new Map(), errors: [], errorPaths: undefined, requested: [], done: undefined, chromiumLog: '' };
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const { server, port } = await startServer(outdir, state, () => finish());
  let child: ChildProcess | undefined;
  try {
    child = spawn(chromium, chromiumArgs(join(dir, 'profile'), `http://127.0.0.1:${port}/`), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const log: string[] = [];
    child.stdout!.on('data', (b: Buffer) => log.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => log.push(b.toString()));
    const exited = new Promise<string>((r) => child!.once('exit', (code, sig) => r(`chromium exited early (${code ?? sig})`)));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((r) => (timer = setTimeout(() => r(`no POST /done within ${PAGE_TIMEOUT_MS / 1000} s`), PAGE_TIMEOUT_MS)));
    const outcome = await Promise.race([finished.then(() => 'done'), exited, timeout]);
    clearTimeout(timer);
    state.chromiumLog = log.join('');
    if (outcome !== 'done') state.errors.push(`${outcome}; chromium said:\n${chromiumLogTail(state.chromiumLog)}`);
    return state;
  } finally {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGKILL'); // the process group of the Chromium we started
      } catch {
        child.kill('SIGKILL');
      }
      await gone;
    }
    await new Promise((r) => server.close(r));
  }
}

// ------------------------------------------------------------------------------------------------
// Node's images of the same tree

async function nodeImage(name: ImageName, srcDir: string): Promise<Buffer> {
  const source = (): SourceTree => applyOwnership(nodeSource(srcDir), { allRoot: true, epoch });
  const sink = new MemorySink();
  const sq = BROWSER_TEST.squashfs.find((j) => j.name === name);
  const cp = BROWSER_TEST.cpio.find((j) => j.name === name);
  if (sq) await withSink(sink, (s) => writeSquashfs(source(), s, { compression: sq.compression, epoch }));
  else if (cp) await withSink(sink, (s) => writeCpio(source(), s, { compression: cp.compression, level: cp.level, epoch }));
  else throw new Error(`unknown image ${name}`);
  return Buffer.from(sink.bytes());
}

// ------------------------------------------------------------------------------------------------

describe('browser: headless Chromium builds images from lightning-fs on a Web Worker pool', { timeout: 150_000 }, () => {
  let page: PageRun;
  let srcDir: string;
  const expected = expectedSnapshot();

  before(async () => {
    page = await runPage();
    srcDir = join(await tempDir('browser-src'), 'tree');
    await writeSpecTree(srcDir);
  });
  after(() => {
    if (page && (page.errors.length > 0 || page.done !== 'ok')) console.log(`chromium log (tail):\n${chromiumLogTail(page.chromiumLog)}`);
  });

  it('the page ran to the end without an error and sent every image', () => {
    assert.deepEqual(page.errors, [], `errors reported by the page:\n${page.errors.join('\n\n')}`);
    assert.equal(page.done, 'ok');
    const names = [...BROWSER_TEST.squashfs, ...BROWSER_TEST.cpio].map((j) => j.name);
    assert.deepEqual([...page.images.keys()].sort(), [...names].sort());
    for (const [name, bytes] of page.images) assert.ok(bytes.length > 0, `${name} is empty`);
  });

  it('@imgkit/inspect runs in the page: each image\'s report equals Node\'s on the same bytes, clean, with the spec tree\'s entry count', async () => {
    const entries = treeSpec(BROWSER_TEST.seed).length; // below the root
    for (const [name, bytes] of page.images) {
      const browser = page.inspect.get(name) as { exitCode: number; root: { children: unknown[] } } | undefined;
      assert.ok(browser, `${name}: the page sent an inspect report`);
      const node = JSON.parse(JSON.stringify(await inspectImage(memoryReader(new Uint8Array(bytes)), { name }))) as typeof browser;
      assert.deepEqual(browser, node, `${name}: the browser's report is Node's`);
      assert.equal(browser.exitCode, 0, `${name}: no defect`);
      const text = JSON.stringify(browser);
      const count = /"entries":(\d+)/.exec(text);
      assert.ok(count, `${name}: an entry count`);
      // squashfs counts the root too; cpio holds "." (the root) as an entry of its own
      assert.equal(Number(count[1]), entries + 1, `${name}: entries`);
    }
  });

  it('the workers loaded their own bundle and liblzma.wasm beside it; the page used setWasmLoader; zstd fetched nothing', () => {
    assert.ok(page.requested.includes('/worker.js'), `requests: ${page.requested.join(' ')}`);
    assert.ok(page.requested.includes('/liblzma.wasm'), 'worker realm: liblzma.wasm beside worker.js (package default)');
    assert.ok(page.requested.includes('/wasm/liblzma.wasm'), 'page realm: liblzma.wasm from setWasmLoader');
    assert.ok(!page.requested.some((r) => /zstd/.test(r)), `zstd's wasm is inline, yet: ${page.requested.join(' ')}`);
  });

  it('the Web Workers of each pool compressed the blocks', () => {
    const lines: string[] = [];
    for (const job of [...BROWSER_TEST.squashfs, ...BROWSER_TEST.cpio]) {
      const stats = page.stats.get(job.name);
      assert.ok(stats, `no worker stats for ${job.name}`);
      assert.deepEqual(stats.map((s) => s.name).sort(), ['imgkit-0', 'imgkit-1'], `${job.name}: workers`);
      // squashfs data blocks and cpio's zstd frames are 'compress' jobs, other cpio pieces 'stream-chunk'
      const task = job.name.startsWith('squashfs') || job.name === 'cpio-zstd' ? 'compress' : 'stream-chunk';
      const counts = stats.map((s) => s.seen[task] ?? 0);
      lines.push(`${job.name} ${task} ${counts.join('+')}`);
      // cpio-zstd: frames end at the first entry boundary after 4 MiB, so this ~1.9 MB archive is one frame
      if (job.name === 'cpio-zstd') assert.equal(counts[0]! + counts[1]!, 1, `${job.name}: ${JSON.stringify(stats)}`);
      else for (const [i, n] of counts.entries()) assert.ok(n > 0, `${job.name}: worker ${stats[i]!.name} ran no ${task} job: ${JSON.stringify(stats)}`);
    }
    console.log(`jobs per worker: ${lines.join('; ')}`);
  });

  it('pool failures reject with E_WORKER instead of hanging', () => {
    const r = page.errorPaths;
    assert.ok(r, 'the page sent no error-path results');
    assert.match(r['missing worker module']!, /^E_WORKER: .*missing-worker\.js could not be loaded/);
    assert.match(r['worker module throws']!, /^E_WORKER: .*fails on purpose/);
    assert.match(r['uncloneable output']!, /^E_WORKER: .*"uncloneable" returned a value that cannot be posted back: DataCloneError/);
    assert.match(r['unknown task']!, /^E_WORKER: .*no task named "no-such-task"/);
  });

  for (const job of BROWSER_TEST.squashfs) {
    it(`${job.name}: unsquashfs lists and extracts the spec tree; bytes equal Node's`, async () => {
      const bytes = page.images.get(job.name);
      assert.ok(bytes, `the page sent no ${job.name}`);
      const dir = await tempDir(job.name);
      const image = join(dir, 'img.sqfs');
      await writeFile(image, bytes);

      const stat = await run(UNSQUASHFS(), ['-stat', image], { env: { TZ: 'UTC' } });
      assert.match(stat.stdout.toString(), new RegExp(`^Compression ${job.compression}$`, 'm'));
      const listing = parseLln((await run(UNSQUASHFS(), ['-lln', image], { env: { TZ: 'UTC' } })).stdout.toString());
      assert.deepEqual([...listing.keys()].sort(), [...expected.keys()].sort(), 'unsquashfs -lln: names');
      const minute = new Date(epoch * 1000).toISOString().slice(0, 16).replace('T', ' ');
      for (const [p, e] of expected) {
        const l = listing.get(p)!;
        assert.equal(l.perms, permString(e.kind, e.mode), `${p}: perms`);
        assert.deepEqual([l.uid, l.gid, l.minute], [0, 0, minute], `${p}: owner and time`);
        if (e.kind !== 'dir') assert.equal(l.size, String(e.size), `${p}: size`);
        if (e.kind === 'symlink') assert.equal(l.target, e.linkTarget, `${p}: target`);
      }

      const out = join(dir, 'x');
      await run(UNSQUASHFS(), ['-no-progress', '-d', out, image]);
      assertSameTree(await snapshotDir(out), expected);

      const node = await nodeImage(job.name, srcDir);
      assert.equal(bytes.length, node.length, 'browser and Node image sizes');
      assert.ok(bytes.equals(node), `${job.name}: the browser image differs from Node's`);
    });
  }

  for (const job of BROWSER_TEST.cpio) {
    it(`${job.name}: ${job.compression} -dc | cpio lists and extracts the spec tree; bytes equal Node's`, async () => {
      const bytes = page.images.get(job.name);
      assert.ok(bytes, `the page sent no ${job.name}`);
      const [dec, ...decArgs] = DECOMPRESSOR[job.compression]!();
      const archive = (await run(dec!, decArgs, { input: bytes })).stdout;
      assert.ok(archive.subarray(0, 6).equals(Buffer.from('070701')), 'a newc archive');

      const listed = await run(CPIO(), ['-itvn', '--quiet'], { input: archive, env: { TZ: 'UTC' } });
      assertCpioListing(parseCpioListing(listed.stdout.toString()), expected, 'cpio -itvn');

      const out = join(await tempDir(job.name), 'x');
      await mkdir(out);
      await chmod(out, 0o755);
      await run(CPIO(), ['-idm', '--quiet', '--no-absolute-filenames'], { input: archive, cwd: out });
      // GNU cpio sets directory times before their contents are written, and never symlink times.
      assertSameTree(await snapshotDir(out), expected, { ignore: ['root', 'dirMtime', 'symlinkMtime'] });

      const node = await nodeImage(job.name, srcDir);
      assert.equal(bytes.length, node.length, 'browser and Node archive sizes');
      assert.ok(bytes.equals(node), `${job.name}: the browser archive differs from Node's`);
    });
  }
});
