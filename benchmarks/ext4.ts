/**
 * `imgkit ext4` against `mke2fs -t ext4 -d`, same input, same run, same filesystem size:
 *
 *   imgkit ext4 <tree> out.img                                  (size chosen: the smallest whole MiB with 10 % free)
 *   truncate -s <that size> out.img && mke2fs -q -t ext4 -T default -d <tree> out.img
 *
 *   npm run build && node --import tsx benchmarks/ext4.ts       # BENCH_ITER=1 by default
 *
 * Inputs: the Debian 12 minbase root filesystem (benchmarks/make-debian-rootfs.sh, as the squashfs
 * benchmark; BENCH_TREE for another) and /usr/share (many small files; BENCH_EXT4_LARGE for
 * another, BENCH_EXT4_LARGE=none to leave it out). `-T default` gives mke2fs Debian's [defaults] (4 KiB blocks, 16 KiB per inode) at every
 * size, as imgkit's defaults; without it mke2fs picks 1 KiB blocks below 512 MiB. Both images are
 * checked with e2fsck -fn; the table gives the blocks in use (dumpe2fs) and the bytes the sparse
 * image takes on disk, besides wall time and peak RSS (GNU time). Outputs go to benchmarks/results/.
 * The page cache is warmed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 1);

for (const [tool, pkg] of [['mke2fs', 'e2fsprogs'], ['e2fsck', 'e2fsprogs'], ['dumpe2fs', 'e2fsprogs']]) {
  if (!['/usr/sbin', '/sbin', '/usr/bin'].some((d) => existsSync(join(d, tool!)))) throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
}
mkdirSync(RESULTS, { recursive: true });

function minbase(): string {
  if (process.env.BENCH_TREE) return process.env.BENCH_TREE;
  return execFileSync(join(ROOT, 'benchmarks/make-debian-rootfs.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}
const large = process.env.BENCH_EXT4_LARGE ?? '/usr/share';
const trees: [string, string][] = [['Debian minbase', minbase()]];
if (large !== 'none') trees.push([large, large]);

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const mib = (n: number) => (n / 2 ** 20).toFixed(1);

/** Blocks in use × block size, from dumpe2fs -h. */
function usedBytes(image: string): number {
  const h = execFileSync('dumpe2fs', ['-h', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(h)![1]);
  return (field('Block count') - field('Free blocks')) * field('Block size');
}
const onDisk = (file: string) => statSync(file).blocks * 512;

for (const [label, tree] of trees) {
  const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]!;
  const count = execFileSync('sh', ['-c', 'find . | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
  execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache
  const slug = label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const mine = join(RESULTS, `imgkit-${slug}.ext4`);
  const theirs = join(RESULTS, `native-${slug}.ext4`);
  // The size imgkit chooses, given to mke2fs so both make the same filesystem.
  rmSync(mine, { force: true });
  execFileSync(process.execPath, [imgkit, 'ext4', tree, mine], { env: { ...process.env, ...env } });
  const size = statSync(mine).size;
  const cases: Case[] = [
    { name: `imgkit ext4 (size chosen: ${mib(size)} MiB)`, argv: [process.execPath, imgkit, 'ext4', tree, mine], env, output: mine, before: () => rmSync(mine, { force: true }) },
    {
      name: `mke2fs -t ext4 -T default -d (${mib(size)} MiB)`,
      shell: `truncate -s ${size} '${theirs}' && mke2fs -q -t ext4 -T default -d '${tree}' '${theirs}'`,
      env: { E2FSPROGS_FAKE_TIME: env.SOURCE_DATE_EPOCH },
      output: theirs,
      before: () => rmSync(theirs, { force: true }),
    },
  ];
  const [a, b] = await runCases(cases, ITER);
  for (const img of [mine, theirs]) {
    const r = execFileSync('e2fsck', ['-fn', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    console.log(`e2fsck -fn ${img.replace(`${ROOT}/`, '')}: ${r.trim().split('\n').at(-1)}`);
  }
  const row = (r: NonNullable<typeof a>, img: string, time: string, used: string) => [r.name, r.seconds.toFixed(2), (r.maxRssKiB / 1024).toFixed(0), mib(usedBytes(img)), mib(onDisk(img)), time, used];
  console.log(`\nInput: ${label} (${tree}) — ${(Number(du) / 1e6).toFixed(1)} MB in ${count} entries`);
  console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each\n`);
  console.log(
    markdownTable(
      ['command', 'wall s', 'peak RSS MiB', 'fs used MiB', 'on disk MiB', 'time ratio', 'used ratio'],
      [row(a!, mine, (a!.seconds / b!.seconds).toFixed(2), (usedBytes(mine) / usedBytes(theirs)).toFixed(3)), row(b!, theirs, '1.00', '1.000')],
    ),
  );
}
