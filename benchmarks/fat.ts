/**
 * `imgkit fat` against `mkfs.fat -C` + `mcopy -s`, same input, same run, same image size:
 *
 *   imgkit fat <tree> out.img                                  (the smallest size that holds it)
 *   mkfs.fat -C out.img <that size in KiB> && mcopy -s -m -i out.img <tree>/* ::/
 *
 *   npm run build && node --import tsx benchmarks/fat.ts       # BENCH_ITER=3 by default
 *
 * Input: /usr/lib/python3 (about 50 MB in 3300 files and directories, no links: what FAT holds),
 * or the directory in BENCH_FAT_TREE. Both images come out the same size (mkfs.fat is given the
 * size imgkit chose) and the same layout, so the size ratio is 1.000 by construction; both are
 * checked with fsck.fat. Outputs go to benchmarks/results/. The page cache is warmed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 3);
const tree = process.env.BENCH_FAT_TREE ?? '/usr/lib/python3';

for (const [tool, pkg] of [['mkfs.fat', 'dosfstools'], ['mcopy', 'mtools'], ['fsck.fat', 'dosfstools']]) {
  if (!existsSync(`/usr/sbin/${tool}`) && !existsSync(`/usr/bin/${tool}`) && !existsSync(`/sbin/${tool}`)) throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
}
mkdirSync(RESULTS, { recursive: true });
const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]!;
const count = execFileSync('sh', ['-c', 'find . | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const mine = join(RESULTS, 'imgkit-fat.img');
const theirs = join(RESULTS, 'native-fat.img');
const env = { SOURCE_DATE_EPOCH: '1700000000', MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LANG: 'C.UTF-8' };

// The size imgkit chooses, given to mkfs.fat so both make the same volume.
rmSync(mine, { force: true });
execFileSync(process.execPath, [imgkit, 'fat', tree, mine], { env: { ...process.env, ...env } });
const kib = statSync(mine).size / 1024;
const top = readdirSync(tree).map((n) => `'${join(tree, n).replace(/'/g, `'\\''`)}'`).join(' ');

const cases: Case[] = [
  { name: 'imgkit fat (size chosen: smallest that fits)', argv: [process.execPath, imgkit, 'fat', tree, mine], env, output: mine, before: () => rmSync(mine, { force: true }) },
  {
    name: `mkfs.fat -C ${kib} + mcopy -s -m`,
    shell: `mkfs.fat -C '${theirs}' ${kib} >/dev/null && mcopy -s -m -i '${theirs}' ${top} ::/`,
    env,
    output: theirs,
    before: () => rmSync(theirs, { force: true }),
  },
];

const rows = comparisonRows(await runCases(cases, ITER));
for (const img of [mine, theirs]) {
  const out = execFileSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
  console.log(`fsck.fat -n ${img.replace(`${ROOT}/`, '')}: ${out.trim().split('\n').at(-1)}`);
}
console.log(`Input: ${tree} — ${(Number(du) / 1e6).toFixed(1)} MB in ${count} entries; image ${kib} KiB`);
console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each\n`);
console.log(markdownTable(['command', 'wall s', 'peak RSS MiB', 'output MiB', 'time ratio', 'size ratio'], rows));
