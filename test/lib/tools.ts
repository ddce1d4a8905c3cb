/**
 * Reference tools and processes for tests: find a tool (a missing one FAILS the test, naming the
 * Debian package), run a command and collect its output, and make temporary directories that are
 * removed when the test process exits.
 */
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const SEARCH_PATH = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** Absolute path of `cmd`; throws (so the test fails) naming the Debian package when it is missing. */
export function requireTool(cmd: string, debianPackage: string): string {
  if (cmd.includes('/')) {
    try {
      accessSync(cmd, constants.X_OK);
      return cmd;
    } catch {
      throw new Error(`required tool ${cmd} is missing: apt-get install -y ${debianPackage}`);
    }
  }
  for (const dir of SEARCH_PATH) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  throw new Error(`required tool "${cmd}" is not installed: apt-get install -y ${debianPackage}`);
}

export interface RunOptions {
  /** Bytes or text written to the child's stdin (stdin is closed either way). */
  input?: Uint8Array | string;
  cwd?: string;
  /** Extra environment variables (merged over process.env). */
  env?: Record<string, string | undefined>;
  /** Do not throw on a non-zero exit status. */
  allowFail?: boolean;
}
export interface RunResult {
  code: number;
  /** Signal that ended the child, if any. */
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a command; throws with its stderr on a non-zero exit unless `allowFail`. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(opts.env ?? {}) };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(cmd, args, { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.stdin.on('error', () => {
      /* the child may exit before reading all input */
    });
    child.on('close', (code, signal) => {
      const res: RunResult = { code: code ?? 128, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
      if (res.code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}:\n${res.stderr.slice(0, 4000)}`));
      } else resolve(res);
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

const made: string[] = [];
let hooked = false;

/** A fresh directory under the system temp dir, removed when the test process exits. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `imgkit-${prefix.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const d of made) {
        try {
          rmSync(d, { recursive: true, force: true });
        } catch {
          /* best effort */
        }
      }
    });
  }
  return dir;
}

/** Repository root (test/lib/../..). */
export const REPO_ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
/** The built CLI entry point. */
export const IMGKIT_BIN = join(REPO_ROOT, 'packages/cli/bin/imgkit.js');

/** Run the imgkit CLI (built dist) with `node`; never throws on exit status. */
export function runImgkit(args: readonly string[], opts: Omit<RunOptions, 'allowFail'> = {}): Promise<RunResult> {
  return run(process.execPath, [IMGKIT_BIN, ...args], { ...opts, allowFail: true });
}

/**
 * Tests that drop to uid 65534 (root ignores permission bits) run code from this checkout, so that
 * user must be able to traverse every directory above it. A clone in a `mktemp -d` directory (0700)
 * is not: add the search bit (o+x, no read) where it is missing.
 */
export function letOthersReachRepo(): void {
  for (let d = REPO_ROOT; d !== dirname(d); d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
  }
}
