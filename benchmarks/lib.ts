/**
 * Shared benchmark helpers: run a command under GNU time (`/usr/bin/time -f '%e %M %U %S'`) for its
 * wall seconds, peak RSS and CPU seconds, repeat it with tinybench, and print markdown tables.
 * CPU seconds (user + system of the whole command tree, every thread) are the figure to compare
 * on a loaded machine: wall time there measures the other work as much as this.
 *
 * Peak RSS is the largest resident set of any single process in the command's tree (getrusage
 * RUSAGE_CHILDREN ru_maxrss, which is what GNU time's %M reports); for a shell pipeline that is its
 * biggest stage, not the sum of the stages.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';

export const GNU_TIME = '/usr/bin/time';

export interface Measurement {
  /** Wall-clock seconds. */
  seconds: number;
  /** Peak resident set, KiB. */
  maxRssKiB: number;
  /** User + system CPU seconds of the command and its children, all threads. */
  cpuSeconds: number;
}

export interface CommandSpec {
  /** argv; or a shell command line when `shell` is set. */
  argv?: string[];
  shell?: string;
  cwd?: string;
  env?: Record<string, string>;
}

/** Run a command once under GNU time; throws with its stderr if it fails. */
export function timeCommand(spec: CommandSpec): Promise<Measurement> {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} is missing: apt-get install -y time`);
  const dir = mkdtempSync(join(tmpdir(), 'imgkit-bench-'));
  const report = join(dir, 'time');
  const argv = spec.shell !== undefined ? ['sh', '-c', spec.shell] : spec.argv!;
  return new Promise((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-f', '%e %M %U %S', '-o', report, ...argv], {
      cwd: spec.cwd,
      env: { ...process.env, ...(spec.env ?? {}) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        if (code !== 0) return reject(new Error(`${argv.join(' ')} exited with ${code}:\n${err.slice(-2000)}`));
        const [s, m, u, sys] = readFileSync(report, 'utf8').trim().split('\n').at(-1)!.split(/\s+/);
        resolve({ seconds: Number(s), maxRssKiB: Number(m), cpuSeconds: Number(u) + Number(sys) });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

export interface Case extends CommandSpec {
  name: string;
  /** File whose size is reported after the run (the output). */
  output?: string;
  /** Run before each iteration (e.g. remove the previous output). */
  before?: () => void;
}

export interface CaseResult {
  name: string;
  runs: Measurement[];
  /** Median wall seconds, median CPU seconds and peak RSS over the runs. */
  seconds: number;
  cpuSeconds: number;
  maxRssKiB: number;
  outputBytes?: number;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Run each case `iterations` times through tinybench (sequentially, no warmup: these are
 * whole-process runs of seconds each), recording GNU time's figures per run.
 */
export async function runCases(cases: readonly Case[], iterations: number): Promise<CaseResult[]> {
  const runs = new Map<string, Measurement[]>(cases.map((c) => [c.name, []]));
  const bench = new Bench({ name: 'commands', iterations, time: 0, warmup: false });
  for (const c of cases) {
    bench.add(c.name, async () => {
      c.before?.();
      runs.get(c.name)!.push(await timeCommand(c));
    });
  }
  await bench.run();
  for (const t of bench.tasks) {
    const r = t.result as { error?: unknown } | undefined;
    if (r && 'error' in r && r.error) throw r.error;
  }
  return cases.map((c) => {
    const rs = runs.get(c.name)!;
    const out: CaseResult = {
      name: c.name,
      runs: rs,
      seconds: median(rs.map((r) => r.seconds)),
      cpuSeconds: median(rs.map((r) => r.cpuSeconds)),
      maxRssKiB: Math.max(...rs.map((r) => r.maxRssKiB)),
    };
    if (c.output && existsSync(c.output)) out.outputBytes = statSync(c.output).size;
    return out;
  });
}

/** A markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** One line describing the machine (for the table's caption). */
export function machineLine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${availableParallelism()} × ${cpu.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`;
}

export const MiB = 1024 * 1024;
export function fmtMiB(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

/**
 * Table rows for results run in pairs (imgkit case, then the native case it is compared with):
 * name, wall s, peak RSS MiB, output MiB, time ratio, size ratio (the native row is 1.00 / 1.000).
 */
export function comparisonRows(results: readonly CaseResult[]): string[][] {
  const rows: string[][] = [];
  for (let i = 0; i + 1 < results.length; i += 2) {
    const a = results[i]!;
    const b = results[i + 1]!;
    const row = (r: CaseResult, time: string, size: string) => [r.name, r.seconds.toFixed(2), (r.maxRssKiB / 1024).toFixed(0), fmtMiB(r.outputBytes ?? 0), time, size];
    rows.push(row(a, (a.seconds / b.seconds).toFixed(2), ((a.outputBytes ?? 0) / (b.outputBytes ?? 1)).toFixed(3)));
    rows.push(row(b, '1.00', '1.000'));
  }
  return rows;
}
