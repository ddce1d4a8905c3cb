/**
 * `imgkit cpio` against the native pipeline, same input, same run:
 *
 *   imgkit cpio <tree> out --compress gzip --workers 2   vs   find . | cpio -o -H newc | gzip -6
 *   imgkit cpio <tree> out --compress zstd --workers 2   vs   find . | cpio -o -H newc | zstd -3
 *
 *   npm run build && node --import tsx benchmarks/cpio.ts      # BENCH_ITER=3 by default
 *
 * Input: a copy (cp -a, made once under benchmarks/data/, git-ignored) of /usr/share/locale
 * (gettext catalogues) + /usr/lib/python3 + /usr/lib/python3.11 (Python sources and bytecode) of
 * Debian 12: ~300 MB of real files, tens of thousands of entries. Set BENCH_TREE to use another tree.
 * Outputs go to benchmarks/results/ (git-ignored). The host's page cache is warmed once first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, fmtMiB, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA = join(ROOT, 'benchmarks/data');
const RESULTS = join(ROOT, 'benchmarks/results');
const SOURCES = ['/usr/share/locale', '/usr/lib/python3', '/usr/lib/python3.11'];
const ITER = Number(process.env.BENCH_ITER ?? 3);

function prepareTree(): string {
  if (process.env.BENCH_TREE) return process.env.BENCH_TREE;
  const tree = join(DATA, 'cpio-tree');
  if (!existsSync(join(tree, '.complete'))) {
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    for (const s of SOURCES) if (existsSync(s)) execFileSync('cp', ['-a', s, tree]);
    execFileSync('touch', [join(tree, '.complete')]);
  }
  return tree;
}

const tree = prepareTree();
mkdirSync(RESULTS, { recursive: true });
const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]!;
const count = execFileSync('sh', ['-c', `find . | wc -l`], { cwd: tree, encoding: 'utf8' }).trim();
execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const out = (name: string) => join(RESULTS, name);
const clean = (p: string) => () => rmSync(p, { force: true });
const cases: Case[] = [];
for (const [codec, native] of [
  ['gzip', 'gzip -6'],
  ['zstd', 'zstd -3 -q'],
] as const) {
  const mine = out(`imgkit.cpio.${codec}`);
  const theirs = out(`native.cpio.${codec}`);
  cases.push({ name: `imgkit ${codec} (2 workers)`, argv: [process.execPath, imgkit, 'cpio', tree, mine, '--compress', codec, '--workers', '2'], output: mine, before: clean(mine), env: { SOURCE_DATE_EPOCH: '1700000000' } });
  cases.push({ name: `find | cpio -o -H newc | ${native}`, shell: `find . | cpio -o -H newc --quiet | ${native} > '${theirs}'`, cwd: tree, output: theirs, before: clean(theirs) });
}

const results = await runCases(cases, ITER);
const rows = comparisonRows(results);
console.log(`Input: ${tree} — ${(Number(du) / 1e6).toFixed(0)} MB in ${count} entries (${SOURCES.join(' + ')} of Debian 12)`);
console.log(`Machine: ${machineLine()}; median of ${ITER} runs each\n`);
console.log(markdownTable(['command', 'wall s', 'peak RSS MiB', 'output MiB', 'time ratio', 'size ratio'], rows));
