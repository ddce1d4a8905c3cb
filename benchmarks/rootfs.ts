/**
 * Issue 15's table: imgkit against the native tools on real root filesystems, same input, same
 * run, every job in turn (medians of BENCH_ITER runs, default 3):
 *
 *   cpio gzip -6       imgkit cpio --compress gzip --workers 2   vs  find . | cpio -o -H newc | gzip -6
 *   cpio zstd -3       imgkit cpio --compress zstd --workers 2   vs  find . | cpio -o -H newc | zstd -3
 *   squashfs gzip-9    imgkit squashfs -comp gzip -b 128K -processors 2  vs  mksquashfs (the same flags)
 *   squashfs zstd-15   the same with -comp zstd
 *   iso                imgkit mkisofs -R -J -joliet-long  vs  xorriso -as mkisofs -R -J -joliet-long
 *   floor              tar cf /dev/null (GNU tar then skips the reads: the walk alone) and
 *                      tar cf - | cat > /dev/null (walk + every file read)
 *
 *   npm run bench -- rootfs        # or: node --import tsx benchmarks/rootfs.ts
 *
 * Trees: the Debian 12 minbase tree of benchmarks/make-debian-rootfs.sh (apt lists kept: one
 * ~48 MiB Packages file among ~5k small files), and, when BENCH_LARGE_TREE names one, a larger
 * tree (issue 15: ~1.2 GB, minbase plus a kernel, a compiler, python3, perl, systemd, …); without
 * it that row group is skipped and the output says so. BENCH_JOBS=cpio-gzip,iso,… picks jobs.
 *
 * The columns: wall seconds (inflated and noisy on a shared machine: the load average is printed
 * before and after), CPU seconds (user + system of every thread and child: the figure to compare
 * under load), peak RSS (the largest single process; for a pipeline, its biggest stage) and the
 * output size ratio. Outputs go to benchmarks/results/; the page cache is warmed first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineLine, markdownTable, runCases, type Case, type CaseResult } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 3);
const IMGKIT = join(ROOT, 'packages/cli/bin/imgkit.js');
const EPOCH = '1700000000';

interface Job {
  id: string;
  label: string;
  /** The goal for the time ratio (imgkit / native). */
  goal: string;
  cases(tree: string, out: (name: string) => string): [Case, Case];
}

const env = { SOURCE_DATE_EPOCH: EPOCH };
const removing = (p: string) => () => rmSync(p, { force: true });

function cpioJob(codec: 'gzip' | 'zstd', native: string, goal: string): Job {
  return {
    id: `cpio-${codec}`,
    label: `cpio ${codec} vs \`find | cpio -o -H newc | ${native}\``,
    goal,
    cases: (tree, out) => {
      const mine = out(`rootfs.cpio.${codec}`);
      const theirs = out(`rootfs.native.cpio.${codec}`);
      return [
        { name: `imgkit cpio ${codec}`, argv: [process.execPath, IMGKIT, 'cpio', tree, mine, '--compress', codec, '--workers', '2'], env, output: mine, before: removing(mine) },
        { name: native, shell: `find . | cpio -o -H newc --quiet | ${native} > '${theirs}'`, cwd: tree, output: theirs, before: removing(theirs) },
      ];
    },
  };
}

function squashfsJob(codec: 'gzip' | 'zstd', goal: string): Job {
  const flags = ['-comp', codec, '-b', '131072', '-processors', '2', '-mkfs-time', EPOCH];
  return {
    id: `squashfs-${codec}`,
    label: `squashfs ${codec === 'gzip' ? 'gzip-9' : 'zstd-15'} 128K vs \`mksquashfs -processors 2\``,
    goal,
    cases: (tree, out) => {
      const mine = out(`rootfs.sqfs.${codec}`);
      const theirs = out(`rootfs.native.sqfs.${codec}`);
      return [
        { name: `imgkit squashfs ${codec}`, argv: [process.execPath, IMGKIT, 'squashfs', tree, mine, ...flags], output: mine, before: removing(mine) },
        { name: `mksquashfs ${codec}`, argv: ['mksquashfs', tree, theirs, ...flags, '-noappend', '-quiet', '-no-progress'], output: theirs, before: removing(theirs) },
      ];
    },
  };
}

const ISO_ARGS = ['-R', '-J', '-joliet-long'];
const JOBS: Job[] = [
  cpioJob('gzip', 'gzip -6', '≤ 0.50'),
  cpioJob('zstd', 'zstd -3 -q', '≤ 0.80'),
  squashfsJob('gzip', '≤ 0.80, size ≤ 1.00'),
  squashfsJob('zstd', '≤ 1.00'),
  {
    id: 'iso',
    label: 'iso vs `xorriso -as mkisofs -R -J -joliet-long`',
    goal: '≤ 0.70',
    cases: (tree, out) => {
      const mine = out('rootfs.iso');
      const theirs = out('rootfs.native.iso');
      return [
        { name: 'imgkit mkisofs', argv: [process.execPath, IMGKIT, 'mkisofs', ...ISO_ARGS, '-quiet', '-o', mine, tree], env, output: mine, before: removing(mine) },
        { name: 'xorriso -as mkisofs', argv: ['xorriso', '-as', 'mkisofs', ...ISO_ARGS, '-quiet', '-o', theirs, tree], env, output: theirs, before: removing(theirs) },
      ];
    },
  },
  {
    id: 'floor',
    label: 'floor: `tar cf /dev/null` (walk) vs `tar cf - | cat > /dev/null` (walk + reads)',
    goal: '',
    cases: (tree) => [
      { name: 'tar cf /dev/null', argv: ['tar', 'cf', '/dev/null', '-C', tree, '.'] },
      { name: 'tar cf - | cat', shell: `tar cf - -C '${tree}' . | cat > /dev/null` },
    ],
  },
];

const NEEDS: Record<string, string> = { mksquashfs: 'squashfs-tools', xorriso: 'xorriso', cpio: 'cpio', gzip: 'gzip', zstd: 'zstd', tar: 'tar' };
for (const [tool, pkg] of Object.entries(NEEDS)) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
  }
}

const chosen = process.env.BENCH_JOBS ? process.env.BENCH_JOBS.split(',') : JOBS.map((j) => j.id);
for (const id of chosen) if (!JOBS.some((j) => j.id === id)) throw new Error(`BENCH_JOBS: unknown job ${id}; one of ${JOBS.map((j) => j.id).join(', ')}`);
const jobs = JOBS.filter((j) => chosen.includes(j.id));

function describe(tree: string): string {
  const du = Number(execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]);
  const files = execFileSync('sh', ['-c', 'find . -type f | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
  const entries = execFileSync('sh', ['-c', 'find . | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
  const big = execFileSync('sh', ['-c', 'find . -type f -printf "%s\\n" | sort -n | tail -1'], { cwd: tree, encoding: 'utf8' }).trim();
  return `${(du / 2 ** 20).toFixed(0)} MiB in ${files} files (${entries} entries), largest file ${(Number(big) / 2 ** 20).toFixed(1)} MiB`;
}

const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
const f2 = (x: number) => x.toFixed(2);
const mib = (r: CaseResult) => (r.maxRssKiB / 1024).toFixed(0);

async function runTree(name: string, tree: string): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: tree }); // warm the page cache
  console.log(`\n### ${name}: ${tree}\n\n${describe(tree)}. Load average before: ${load()}.\n`);
  const rows: string[][] = [];
  for (const job of jobs) {
    const [mine, theirs] = await runCases(job.cases(tree, (n) => join(RESULTS, n)), ITER);
    const size = mine!.outputBytes !== undefined && theirs!.outputBytes ? (mine!.outputBytes / theirs!.outputBytes).toFixed(3) : '';
    rows.push([
      job.label,
      f2(mine!.seconds),
      f2(theirs!.seconds),
      f2(mine!.seconds / theirs!.seconds),
      f2(mine!.cpuSeconds),
      f2(theirs!.cpuSeconds),
      theirs!.cpuSeconds > 0 ? f2(mine!.cpuSeconds / theirs!.cpuSeconds) : '',
      size,
      mib(mine!),
      mib(theirs!),
      job.goal,
      load(),
    ]);
  }
  console.log(
    markdownTable(
      ['job', 'imgkit s', 'native s', 'ratio', 'imgkit CPU s', 'native CPU s', 'CPU ratio', 'size ratio', 'imgkit peak MiB', 'native peak MiB', 'goal (ratio)', 'load after'],
      rows,
    ),
  );
}

console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each; wall ratios from a loaded machine are not goals met.`);
const minbase = process.env.BENCH_TREE ?? execFileSync(join(ROOT, 'benchmarks/make-debian-rootfs.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
await runTree('minbase', minbase);
const large = process.env.BENCH_LARGE_TREE;
if (large && existsSync(large)) await runTree('large', large);
else console.log('\n### large: skipped (set BENCH_LARGE_TREE to a ~1.2 GB root filesystem to run it)');
