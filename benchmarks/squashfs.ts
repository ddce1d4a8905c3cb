/**
 * `imgkit squashfs` against mksquashfs, same input, same run, same compressor, level and block size:
 *
 *   imgkit squashfs <tree> out -comp gzip -b 131072 -processors 2
 *   mksquashfs <tree> out -comp gzip -b 131072 -processors 2 -noappend      (and the same with zstd)
 *
 *   npm run build && node --import tsx benchmarks/squashfs.ts      # BENCH_ITER=1 by default
 *
 * Both sides use mksquashfs's default levels (gzip 9, zstd 15), which are imgkit's defaults too.
 * Input: a Debian 12 minbase root filesystem made once by benchmarks/make-debian-rootfs.sh (needs
 * root and the Debian mirror) under benchmarks/data/ (git-ignored); set BENCH_TREE for another
 * tree. Outputs go to benchmarks/results/ (git-ignored). The page cache is warmed first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, fmtMiB, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 1);
const CODECS = (process.env.BENCH_CODECS ?? 'gzip,zstd').split(',');

function prepareTree(): string {
  if (process.env.BENCH_TREE) return process.env.BENCH_TREE;
  return execFileSync(join(ROOT, 'benchmarks/make-debian-rootfs.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

const tree = prepareTree();
if (!existsSync('/usr/bin/mksquashfs')) throw new Error('mksquashfs is missing: apt-get install -y squashfs-tools');
mkdirSync(RESULTS, { recursive: true });
const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]!;
const count = execFileSync('sh', ['-c', 'find . | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const out = (name: string) => join(RESULTS, name);
const clean = (p: string) => () => rmSync(p, { force: true });
const cases: Case[] = [];
for (const codec of CODECS) {
  const mine = out(`imgkit.sqfs.${codec}`);
  const theirs = out(`native.sqfs.${codec}`);
  cases.push({
    name: `imgkit squashfs -comp ${codec} -processors 2`,
    argv: [process.execPath, imgkit, 'squashfs', tree, mine, '-comp', codec, '-b', '131072', '-processors', '2', '-mkfs-time', '1700000000'],
    output: mine,
    before: clean(mine),
  });
  cases.push({
    name: `mksquashfs -comp ${codec} -processors 2`,
    argv: ['mksquashfs', tree, theirs, '-comp', codec, '-b', '131072', '-processors', '2', '-noappend', '-quiet', '-no-progress', '-mkfs-time', '1700000000'],
    output: theirs,
    before: clean(theirs),
  });
}

const results = await runCases(cases, ITER);
const rows = comparisonRows(results);
console.log(`Input: ${tree} — ${(Number(du) / 1e6).toFixed(0)} MB in ${count} entries (Debian 12 debootstrap --variant=minbase)`);
console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each\n`);
console.log(markdownTable(['command', 'wall s', 'peak RSS MiB', 'output MiB', 'time ratio', 'size ratio'], rows));
