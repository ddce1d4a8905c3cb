/**
 * `imgkit convert` against `qemu-img convert`, same input, same run:
 *
 *   -O qcow2            qcow2, 64 KiB clusters
 *   -O qcow2 -c         compressed, zlib (raw deflate, 4 KiB window)
 *   -O qcow2 -c -o compression_type=zstd
 *   -O vmdk -o subformat=streamOptimized
 *   -O vpc  -o subformat=fixed (qemu-img: ,force_size, the footer's size as imgkit writes it)
 *   -O vhdx             dynamic
 *
 *   npm run build && node --import tsx benchmarks/vdisk.ts        # BENCH_ITER=1 by default
 *
 * Input: a 2 GiB raw disk holding an ext4 filesystem (mkfs.ext4 -d) with a few hundred MB of
 * files — hard links to /usr/share/locale, /usr/share/doc and /usr/lib/python3.11 of this
 * machine — made once under benchmarks/data/ (BENCH_RAW for another image), in two copies: sparse
 * as mkfs.ext4 leaves it, and fully allocated (`cp --sparse=never`). qemu-img skips the holes of
 * the sparse one with SEEK_DATA, which Node does not expose: imgkit reads them (the kernel fills
 * them with zero pages), so the sparse rows show that cost and the dense rows the engines alone.
 * BENCH_INPUTS=sparse or dense runs one of them. imgkit runs with its
 * default worker count (the CPU count, at most 8); qemu-img with its defaults. Outputs go to
 * benchmarks/results/. The page cache is warmed. Wall time and peak RSS from GNU time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA = join(ROOT, 'benchmarks/data');
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 1);

function need(cmd: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${cmd} is missing: apt-get install -y ${pkg}`);
  }
}

function prepareRaw(): string {
  if (process.env.BENCH_RAW) return process.env.BENCH_RAW;
  const raw = join(DATA, 'vdisk-2g.raw');
  if (existsSync(`${raw}.complete`)) return raw;
  need('mkfs.ext4', 'e2fsprogs');
  mkdirSync(DATA, { recursive: true });
  const tree = join(DATA, 'vdisk-tree');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree);
  for (const src of ['/usr/share/locale', '/usr/share/doc', '/usr/lib/python3.11']) {
    if (existsSync(src)) execFileSync('cp', ['-al', src, join(tree, src.replace(/\//g, '_'))]);
  }
  rmSync(raw, { force: true });
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, raw, '2G'], { env: { ...process.env, E2FSPROGS_FAKE_TIME: '1700000000' } });
  execFileSync('touch', [`${raw}.complete`]);
  return raw;
}

function prepareDense(raw: string): string {
  const dense = raw.replace(/\.raw$/, '') + '-dense.raw';
  if (existsSync(`${dense}.complete`)) return dense;
  execFileSync('cp', ['--sparse=never', raw, dense]);
  execFileSync('touch', [`${dense}.complete`]);
  return dense;
}

need('qemu-img', 'qemu-utils');
const sparse = prepareRaw();
const which = process.env.BENCH_INPUTS ?? 'sparse,dense';
const inputs: [string, string][] = [];
if (which.includes('sparse')) inputs.push(['sparse', sparse]);
if (which.includes('dense')) inputs.push(['dense', prepareDense(sparse)]);
mkdirSync(RESULTS, { recursive: true });
const used = Number(execFileSync('du', ['-B1', sparse], { encoding: 'utf8' }).split('\t')[0]);
for (const [, f] of inputs) execFileSync('cat', [f], { stdio: ['ignore', 'ignore', 'inherit'] }); // warm the page cache

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const env = { SOURCE_DATE_EPOCH: '1700000000' };
const jobs: [string, string[], string[]][] = [
  ['qcow2', ['-O', 'qcow2'], ['-O', 'qcow2']],
  ['qcow2', ['-O', 'qcow2', '-c'], ['-O', 'qcow2', '-c']],
  ['qcow2', ['-O', 'qcow2', '-c', '-o', 'compression_type=zstd'], ['-O', 'qcow2', '-c', '-o', 'compression_type=zstd']],
  ['vmdk', ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], ['-O', 'vmdk', '-o', 'subformat=streamOptimized']],
  ['vhd', ['-O', 'vpc', '-o', 'subformat=fixed'], ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on']],
  ['vhdx', ['-O', 'vhdx'], ['-O', 'vhdx']],
];
const cases: Case[] = [];
for (const [kind, raw] of inputs) {
  jobs.forEach(([ext, mineArgs, theirArgs], i) => {
    const mine = join(RESULTS, `imgkit-${kind}-${i}.${ext}`);
    const theirs = join(RESULTS, `native-${kind}-${i}.${ext}`);
    cases.push({ name: `${kind}: imgkit convert ${mineArgs.join(' ')}`, argv: [process.execPath, imgkit, 'convert', raw, mine, ...mineArgs], env, output: mine, before: () => rmSync(mine, { force: true }) });
    cases.push({ name: `${kind}: qemu-img convert -f raw ${theirArgs.join(' ')}`, argv: ['qemu-img', 'convert', '-f', 'raw', ...theirArgs, raw, theirs], env, output: theirs, before: () => rmSync(theirs, { force: true }) });
  });
}

const results = await runCases(cases, ITER);
// A fixed VHD is as big as the disk whatever writes it; report its allocated blocks instead of the file size.
for (const r of results) {
  const c = cases.find((x) => x.name === r.name)!;
  if (c.output?.endsWith('.vhd') && existsSync(c.output)) r.outputBytes = Number(execFileSync('du', ['-B1', c.output], { encoding: 'utf8' }).split('\t')[0]);
}
const rows = comparisonRows(results);
const qv = execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0];
console.log(`Input: ${sparse} — ${(statSync(sparse).size / 2 ** 30).toFixed(0)} GiB raw, ${(used / 1e6).toFixed(0)} MB allocated (ext4 with ${tryCount()} files); dense: the same fully allocated`);
console.log(`Reference: ${qv}`);
console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each; fixed VHD sizes are allocated bytes (du)\n`);
console.log(markdownTable(['command', 'wall s', 'peak RSS MiB', 'output MiB', 'time ratio', 'size ratio'], rows));

function tryCount(): string {
  const tree = join(DATA, 'vdisk-tree');
  if (!existsSync(tree)) return 'an unknown number of';
  return execFileSync('sh', ['-c', 'find . -type f | wc -l'], { cwd: tree, encoding: 'utf8' }).trim();
}
