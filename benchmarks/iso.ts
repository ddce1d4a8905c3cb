/**
 * `imgkit mkisofs` against `xorriso -as mkisofs`, same input, same run, the same command line:
 *
 *   imgkit mkisofs      -R -J -joliet-long -o out <tree>
 *   xorriso -as mkisofs -R -J -joliet-long -o out <tree>
 *
 *   npm run build && node --import tsx benchmarks/iso.ts      # BENCH_ITER=1 by default
 *
 * Input: the Debian 12 minbase root filesystem made by benchmarks/make-debian-rootfs.sh (needs
 * root and the Debian mirror, once) under benchmarks/data/; set BENCH_TREE for another tree.
 * -joliet-long because the tree has names over 64 UTF-16 units, which both would shorten (imgkit
 * with a warning per name). Outputs go to benchmarks/results/. The page cache is warmed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, fmtMiB, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 1);

function prepareTree(): string {
  if (process.env.BENCH_TREE) return process.env.BENCH_TREE;
  return execFileSync(join(ROOT, 'benchmarks/make-debian-rootfs.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

const tree = prepareTree();
if (!existsSync('/usr/bin/xorriso')) throw new Error('xorriso is missing: apt-get install -y xorriso');
mkdirSync(RESULTS, { recursive: true });
const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]!;
const count = execFileSync('sh', ['-c', 'find . | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const mine = join(RESULTS, 'imgkit.iso');
const theirs = join(RESULTS, 'native.iso');
const args = ['-R', '-J', '-joliet-long'];
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const cases: Case[] = [
  { name: `imgkit mkisofs ${args.join(' ')}`, argv: [process.execPath, imgkit, 'mkisofs', ...args, '-o', mine, tree], env, output: mine, before: () => rmSync(mine, { force: true }) },
  { name: `xorriso -as mkisofs ${args.join(' ')}`, argv: ['xorriso', '-as', 'mkisofs', ...args, '-quiet', '-o', theirs, tree], env, output: theirs, before: () => rmSync(theirs, { force: true }) },
];

const rows = comparisonRows(await runCases(cases, ITER));
console.log(`Input: ${tree} — ${(Number(du) / 1e6).toFixed(0)} MB in ${count} entries`);
console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each\n`);
console.log(markdownTable(['command', 'wall s', 'peak RSS MiB', 'output MiB', 'time ratio', 'size ratio'], rows));
