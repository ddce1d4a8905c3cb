/**
 * The same images built in Chromium (the web page, apps/web) and in Node (the CLI), same machine,
 * same run, same worker count:
 *
 *   gzip initramfs   page: cpio, --compress gzip, saved in memory    CLI: imgkit cpio --compress gzip --workers 2
 *   squashfs         page: squashfs, -comp gzip, saved to OPFS       CLI: imgkit squashfs -comp gzip -processors 2
 *
 *   npm run build && node --import tsx benchmarks/browser.ts      # BENCH_ITER=3 by default
 *
 * Input: 50 MB of real files — /usr/lib/python3, then shared libraries of /usr/lib/x86_64-linux-gnu
 * until 50,000,000 bytes — copied to benchmarks/data/web-tree and made what a browser sees of a
 * folder (files 0644, folders 0755 dated by their newest file, no symlinks), so that both sides
 * read the same tree and must write the same bytes; or the folder in BENCH_WEB_TREE (used as it
 * is: the bytes then differ wherever its modes or folder times differ from what a browser sees).
 * -all-root and SOURCE_DATE_EPOCH on both sides. The page is driven by playwright-core (Debian's chromium, headless, the flags of
 * test/browser.test.ts): the folder is picked once through the real `<input webkitdirectory>`,
 * then each run is the time from the click on Build to the page saying it is done (the image is
 * complete in its save target). The CLI's time is the process's wall time (GNU time), so it
 * includes Node's start-up (about 0.1 s) and the page's does not. Peak RSS is the CLI's; the
 * browser's is not measured. After the runs the page's images are downloaded and compared with
 * the CLI's byte for byte. The page runs min(4, navigator.hardwareConcurrency) workers: the CLI
 * is given the same number (2 on the project's 2-core machine; BENCH_WORKERS overrides).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, markdownTable, MiB, runCases, type Case } from './lib.js';
import { chooseKind, chooseTarget, openWebPage, pickFolder, saveDownload, setFields } from '../test/lib/web.ts';
import { normalizeForBrowser } from '../test/lib/web-fixture.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env['BENCH_ITER'] ?? 3);
const TARGET_BYTES = 50_000_000;

/** Copy regular files of `sources` (in sorted order, times kept) into `dest` until TARGET_BYTES. */
function makeInput(dest: string, sources: string[]): void {
  rmSync(dest, { recursive: true, force: true });
  let total = 0;
  const copy = (src: string, rel: string): void => {
    for (const name of readdirSync(src).sort()) {
      if (total >= TARGET_BYTES) return;
      const from = join(src, name);
      const st = lstatSync(from);
      const to = join(dest, rel, name);
      if (st.isDirectory()) copy(from, join(rel, name));
      else if (st.isFile() && total + st.size <= TARGET_BYTES) {
        mkdirSync(join(dest, rel), { recursive: true });
        copyFileSync(from, to);
        utimesSync(to, st.atime, st.mtime);
        total += st.size;
      }
    }
  };
  for (const s of sources) copy(s, s.replace(/^\/+/, '').replace(/\//g, '_'));
}

const tree = process.env['BENCH_WEB_TREE'] ?? join(ROOT, 'benchmarks/data/web-tree');
if (!process.env['BENCH_WEB_TREE']) {
  if (!existsSync(tree)) makeInput(tree, ['/usr/lib/python3', '/usr/lib/x86_64-linux-gnu']);
  await normalizeForBrowser(tree);
}
const workers = Number(process.env['BENCH_WORKERS'] ?? Math.min(4, availableParallelism()));
const EPOCH = '1700000000';

mkdirSync(RESULTS, { recursive: true });
const fileBytes = execFileSync('find', ['.', '-type', 'f', '-printf', '%s\n'], { cwd: tree, encoding: 'utf8' }).trim().split('\n').reduce((n, x) => n + Number(x), 0);
const count = execFileSync('sh', ['-c', 'find . | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
const links = execFileSync('sh', ['-c', 'find . -type l | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache
const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const env = { SOURCE_DATE_EPOCH: EPOCH };

interface Job {
  name: string;
  kind: 'cpio' | 'squashfs';
  fields: Record<string, string>;
  target: 'memory' | 'opfs';
  cli: string[];
  out: string;
}
const jobs: Job[] = [
  { name: 'gzip initramfs', kind: 'cpio', fields: { '--compress': 'gzip' }, target: 'memory', cli: ['cpio', tree, join(RESULTS, 'node.cpio.gz'), '--compress', 'gzip', '--workers', String(workers), '--all-root'], out: join(RESULTS, 'node.cpio.gz') },
  { name: 'squashfs (gzip)', kind: 'squashfs', fields: { '-comp': 'gzip' }, target: 'opfs', cli: ['squashfs', tree, join(RESULTS, 'node.squashfs'), '-comp', 'gzip', '-processors', String(workers), '-all-root'], out: join(RESULTS, 'node.squashfs') },
];

// Node (the CLI), timed under GNU time.
const cases: Case[] = jobs.map((j) => ({ name: j.name, argv: [process.execPath, imgkit, ...j.cli], env, output: j.out }));
for (const j of jobs) rmSync(j.out, { force: true });
const node = await runCases(cases, ITER);

// Chromium (the page).
const s = await openWebPage();
const browser: { name: string; seconds: number[]; bytes: number; same: boolean }[] = [];
try {
  const picked = performance.now();
  await pickFolder(s.page, tree);
  const pickSeconds = (performance.now() - picked) / 1000;
  for (const j of jobs) {
    await chooseKind(s.page, j.kind);
    await setFields(s.page, { SOURCE_DATE_EPOCH: EPOCH, '--all-root': true, ...j.fields });
    await chooseTarget(s.page, j.target);
    const seconds: number[] = [];
    for (let i = 0; i < ITER; i++) {
      const t0 = performance.now();
      await s.page.click('#build-button');
      await s.page.waitForSelector('body:not([data-state=running]):not([data-state=idle])', { timeout: 600_000 });
      seconds.push((performance.now() - t0) / 1000);
      const state = await s.page.evaluate(() => document.body.dataset['state']);
      if (state !== 'done') throw new Error(`${j.name}: the page says ${state}: ${await s.page.textContent('#error')}`);
    }
    const saved = join(RESULTS, `browser-${j.kind}`);
    await saveDownload(s.page, saved);
    const a = readFileSync(saved);
    const b = readFileSync(j.out);
    browser.push({ name: j.name, seconds, bytes: a.length, same: a.equals(b) });
  }
  console.log(`Input: ${tree}, ${fileBytes} bytes (${(fileBytes / MiB).toFixed(1)} MiB) of files in ${count} entries (${links} symlinks); ${workers} workers on both sides; median of ${ITER} runs.`);
  console.log(`Picking the folder in the page (setInputFiles of every file, once): ${pickSeconds.toFixed(2)} s, not counted.\n`);
} finally {
  await s.close();
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const rows: (string | number)[][] = [];
for (const [i, j] of jobs.entries()) {
  const n = node[i]!;
  const b = browser[i]!;
  rows.push([j.name, 'Chromium (page)', median(b.seconds).toFixed(2), '—', (b.bytes / MiB).toFixed(2), (median(b.seconds) / n.seconds).toFixed(2), b.same ? 'yes' : 'NO']);
  rows.push([j.name, 'Node (CLI)', n.seconds.toFixed(2), (n.maxRssKiB / 1024).toFixed(0), ((n.outputBytes ?? 0) / MiB).toFixed(2), '1.00', '']);
}
console.log(markdownTable(['job', 'runtime', 'wall s', 'peak RSS MiB', 'output MiB', 'time vs Node', 'same bytes'], rows));
console.log(`\nMachine: ${machineLine()}`);
if (browser.some((b) => !b.same)) process.exitCode = 1;
