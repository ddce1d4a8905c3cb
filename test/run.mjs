#!/usr/bin/env node
// Runs every test: packages/*/test/*.test.ts and test/*.test.ts, with node:test + tsx, TAP output.
// Node 20 has no glob in `--test`, so the files are listed here. Arguments, if any, are substrings:
// only files whose path contains one of them run (`node test/run.mjs cpio boot`); `--exclude WORD`
// (repeatable) leaves out files whose path contains WORD (`node test/run.mjs --exclude test/boot-`).
// The exit code is node's.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
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
const r = spawnSync(process.execPath, ['--test', '--import', 'tsx', '--test-reporter=tap', ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
