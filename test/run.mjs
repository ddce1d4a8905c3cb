#!/usr/bin/env node
// Runs every test: packages/*/test/*.test.ts and test/*.test.ts, with node:test + tsx, TAP output.
// Node 20 has no glob in `--test`, so the files are listed here. Arguments, if any, are substrings:
// only files whose path contains one of them run (`node test/run.mjs cpio boot`); `--exclude WORD`
// (repeatable) leaves out files whose path contains WORD (`node test/run.mjs --exclude test/boot-`).
// The exit code is node's (non-zero if either lane failed).
//
// Two lanes: QEMU boot files (test/boot-*) run in one `node --test` process and every other file in
// another, at the same time. Node runs test files one at a time on this 2-core machine (its default
// concurrency is the core count minus one), and a boot file keeps at most two QEMU busy while most
// other files use one core, so the lanes overlap what would otherwise queue. The other lane's TAP
// goes to standard output as it runs; the boot lane's is kept in a file and printed after it, then
// one closing summary counts both. IMGKIT_TEST_LANES=1 runs everything in one process, in order.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tests = (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(dir, f)) : []);

let files = [];
for (const pkg of readdirSync(join(root, 'packages')).sort()) files.push(...tests(join(root, 'packages', pkg, 'test')));
files.push(...tests(join(root, 'test')));
files = files.map((f) => relative(root, f));
const filters = [];
const excluded = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--exclude') {
    if (args[i + 1] === undefined) {
      console.error('--exclude needs a word');
      process.exit(2);
    }
    excluded.push(args[++i]);
  } else filters.push(args[i]);
}
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (excluded.length > 0) files = files.filter((f) => !excluded.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files${filters.length ? ` match ${filters.join(' ')}` : ''}${excluded.length ? ` without ${excluded.join(' ')}` : ''}`);
  process.exit(1);
}
const nodeTest = (list) => [process.execPath, ['--test', '--import', 'tsx', '--test-reporter=tap', ...list]];
const bootFiles = files.filter((f) => /(^|\/)test\/boot-/.test(f));
const otherFiles = files.filter((f) => !bootFiles.includes(f));
if (process.env.IMGKIT_TEST_LANES === '1' || bootFiles.length === 0 || otherFiles.length === 0) {
  const [cmd, args] = nodeTest(files);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/** Counts from a TAP summary ("# tests N", "# pass N", …): the last block in the text. */
function counts(text) {
  const c = {};
  for (const m of text.matchAll(/^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) c[m[1]] = Number(m[2]);
  return c;
}
/** Runs one lane; resolves with its exit code. `out` receives its stdout and stderr. */
function lane(list, out) {
  const [cmd, args] = nodeTest(list);
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const take = (chunk) => {
    text += chunk.toString();
    out.write(chunk);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), text })));
}

const dir = mkdtempSync(join(tmpdir(), 'imgkit-test-lanes-'));
const bootLog = join(dir, 'boot.tap');
const bootOut = createWriteStream(bootLog);
console.log(`# lanes: ${otherFiles.length} files here, ${bootFiles.length} boot files at the same time (their TAP follows when both end)`);
const started = Date.now();
const [other, boot] = await Promise.all([lane(otherFiles, process.stdout), lane(bootFiles, bootOut)]);
await new Promise((r) => bootOut.end(r));
console.log(`# ---- boot lane (${bootFiles.join(' ')}) ----`);
process.stdout.write(readFileSync(bootLog));
rmSync(dir, { recursive: true, force: true });
const a = counts(other.text);
const b = counts(boot.text);
const sum = (k) => (a[k] ?? 0) + (b[k] ?? 0);
console.log(`# ---- both lanes: ${Math.round((Date.now() - started) / 1000)} s wall time ----`);
for (const k of ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo']) console.log(`# ${k} ${sum(k)}`);
// A lane that died without its summary (a crash) must not pass for an empty one.
const missing = [['other', other], ['boot', boot]].filter(([, l]) => counts(l.text).tests === undefined).map(([n]) => n);
if (missing.length > 0) console.log(`# lane without a TAP summary: ${missing.join(', ')}`);
process.exit(other.code !== 0 || boot.code !== 0 || missing.length > 0 ? 1 : 0);
