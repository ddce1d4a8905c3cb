/**
 * What every imgkit command shares: the context (streams, environment), option parsers, source
 * setup (directory + manifest + owners + epoch), output sinks, the progress line, and
 * `runCommand`, which turns errors into messages and exit codes:
 *
 *   0  success
 *   1  failure (an ImgkitError's message; no stack trace unless IMGKIT_DEBUG is set)
 *   2  usage (bad arguments or options; commander's own errors too)
 *
 * A command's action parses its options with these helpers and makes ONE library call.
 */
import { realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as nodePath from 'node:path';
import type { Writable } from 'node:stream';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  ErrorCodes,
  ImgkitError,
  applyManifest,
  applyOwnership,
  parseEpoch,
  parseManifest,
  type ByteSink,
  type CodecName,
  type ImgkitWarning,
  type SourceTree,
  type WorkerPool,
} from '@imgkit/core';
import { createNodePool, fileSink, nodeHostFiles, nodeSource, stdoutSink } from '@imgkit/core/node';

export type CliStream = Writable & { isTTY?: boolean };

/** Everything a command may touch outside its arguments. */
export interface CliContext {
  env: Record<string, string | undefined>;
  stdout: CliStream;
  stderr: CliStream;
  /** Set by runCommand. */
  exitCode: number;
  /** The command being run ('cpio', …), set before its action: usage errors point to its --help. */
  command?: string;
}

/** A usage error found after commander's parsing (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Codes that mean "the command line asked for something impossible" rather than "it failed". */
const USAGE_CODES = new Set<string>([ErrorCodes.BAD_OPTION]);

/** Run a command's action: sets ctx.exitCode to 0, 1 (failure) or 2 (usage) and prints the error. */
export async function runCommand(ctx: CliContext, action: () => Promise<void>): Promise<void> {
  try {
    await action();
    ctx.exitCode = 0;
  } catch (err) {
    clearProgress(ctx);
    // Usage errors found after parsing point to the command's own help, as commander's do.
    const seeHelp = `(see imgkit ${ctx.command ? `${ctx.command} ` : ''}--help)`;
    if (err instanceof UsageError || (err instanceof InvalidArgumentError)) {
      ctx.stderr.write(`imgkit: ${err.message}\n${seeHelp}\n`);
      ctx.exitCode = 2;
      return;
    }
    if (err instanceof ImgkitError) {
      const usage = USAGE_CODES.has(err.code);
      ctx.stderr.write(`imgkit: ${err.message} [${err.code}]\n${usage ? `${seeHelp}\n` : ''}`);
      if (ctx.env.IMGKIT_DEBUG) ctx.stderr.write(`${err.stack ?? ''}\n`);
      ctx.exitCode = usage ? 2 : 1;
      return;
    }
    const msg = err instanceof Error ? err.message : String(err);
    ctx.stderr.write(`imgkit: ${msg}\n`);
    if (ctx.env.IMGKIT_DEBUG && err instanceof Error) ctx.stderr.write(`${err.stack ?? ''}\n`);
    ctx.exitCode = 1;
  }
}

// ---- option parsers (commander argParsers: throwing InvalidArgumentError means exit 2) ----

/** A whole-number option in [min, max]. */
export function intOption(min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a whole number.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${n} is outside ${min}…${max}.`);
    return n;
  };
}

/** --workers N: 0 compresses on the main thread. Default: the CPU count, at most 8. */
export function addWorkersOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--workers <n>', 'compression worker threads (0 = on the main thread)').argParser(intOption(0, 64)).default(Math.min(availableParallelism(), 8), 'number of CPUs, at most 8'),
  );
}

/** --manifest, --all-root, --uid, --gid: the source overlay options. */
export function addSourceOptions(cmd: Command): Command {
  return cmd
    .option('--manifest <file>', 'gen_init_cpio-style list adding entries (devices, …) or setting owners and modes')
    .option('--all-root', 'make every entry owned by 0:0')
    .addOption(new Option('--uid <n>', 'owner uid for every entry').argParser(intOption(0, 0xffffffff)))
    .addOption(new Option('--gid <n>', 'group gid for every entry').argParser(intOption(0, 0xffffffff)))
    .option('--strict', 'stop at the first warning (a lossy conversion) instead of printing it');
}

export interface SourceFlags {
  strict?: boolean;
  manifest?: string;
  allRoot?: boolean;
  uid?: number;
  gid?: number;
  /** --exclude patterns (excludeMatcher). */
  exclude?: string[];
}

/** --exclude PATH, repeatable: what excludeMatcher takes (mksquashfs -e, mkisofs -m). */
export function addExcludeOption(cmd: Command, flag = '--exclude <path>'): Command {
  return cmd.addOption(
    new Option(flag, 'leave out this path and everything below it (relative to the source; * and ? match within a name); repeatable')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .default([]),
  );
}

/** SOURCE_DATE_EPOCH (the only place imgkit reads it); undefined when unset. */
export function epochFromEnv(ctx: CliContext): number | undefined {
  return parseEpoch(ctx.env.SOURCE_DATE_EPOCH);
}

function realpathOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return nodePath.resolve(p);
  }
}

/** The source directory must exist and be a directory (E_SOURCE_MISSING otherwise). */
export function checkSourceDir(dir: string): string {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: dir, detail: 'the source directory does not exist', hint: 'check the path' });
  }
  if (!st.isDirectory()) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: dir, detail: 'the source is not a directory' });
  return realpathSync(dir);
}

/** Refuse an output file inside the source tree (it would be read while being written). */
export function checkOutputOutside(out: string, sourceDirs: readonly string[]): void {
  if (out === '-') return;
  const abs = nodePath.join(realpathOrSelf(nodePath.dirname(nodePath.resolve(out))), nodePath.basename(out));
  for (const dir of sourceDirs) {
    const src = realpathOrSelf(dir);
    if (abs === src || abs.startsWith(src.endsWith('/') ? src : `${src}/`)) {
      throw new ImgkitError(ErrorCodes.OUTPUT_IN_SOURCE, {
        format: 'cli',
        path: out,
        detail: `the output lies inside the source directory ${dir}`,
        hint: 'write the image outside the tree it is made from',
      });
    }
  }
}

/** --exclude (mksquashfs -e, mkisofs -m): an exact tree path, or a pattern with * and ? (not crossing '/'). */
export function excludeMatcher(patterns: readonly string[]): ((path: string) => boolean) | undefined {
  if (patterns.length === 0) return undefined;
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const raw of patterns) {
    const p = raw.replace(/^\/+|\/+$/g, '');
    if (/[*?]/.test(p)) {
      const re = p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
      globs.push(new RegExp(`^${re}$`));
    } else exact.add(p);
  }
  return (path) => exact.has(path) || globs.some((g) => g.test(path));
}

/**
 * The tree a command writes: the directory, forced owners (--all-root/--uid/--gid), then the
 * manifest (whose lines state owners explicitly, so they win), then epoch clamping.
 */
export async function openSourceTree(dir: string, flags: SourceFlags, epoch: number | undefined, onWarning?: (w: ImgkitWarning) => void): Promise<SourceTree> {
  const exclude = excludeMatcher(flags.exclude ?? []);
  const tree = await applySourceFlags(nodeSource(checkSourceDir(dir), exclude ? { exclude } : {}), flags, epoch, onWarning);
  return epoch !== undefined ? applyOwnership(tree, { epoch }) : tree;
}

/**
 * Forced owners, then the manifest on top of `tree` (its lines state owners explicitly, so they
 * win); the manifest's own entries get `epoch` (or 0) as their time. Duplicate manifest lines go to
 * `onWarning` (refused with --strict).
 */
export async function applySourceFlags(tree: SourceTree, flags: SourceFlags, epoch: number | undefined, onWarning?: (w: ImgkitWarning) => void): Promise<SourceTree> {
  const owners: { allRoot?: boolean; uid?: number; gid?: number } = {};
  if (flags.allRoot) owners.allRoot = true;
  if (flags.uid !== undefined) owners.uid = flags.uid;
  if (flags.gid !== undefined) owners.gid = flags.gid;
  let out = applyOwnership(tree, owners);
  if (flags.manifest !== undefined) {
    let text: string;
    try {
      text = await readFile(flags.manifest, 'utf8');
    } catch (err) {
      throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: flags.manifest, detail: `cannot read the manifest: ${(err as { code?: string }).code ?? String(err)}` });
    }
    const manifest = parseManifest(text, flags.manifest, { ...(onWarning ? { onWarning } : {}), strict: flags.strict === true });
    out = applyManifest(out, manifest, { hostFiles: nodeHostFiles(nodePath.dirname(nodePath.resolve(flags.manifest))), mtime: epoch ?? 0 });
  }
  return out;
}

/** File sinks of the running command: removed (temporary file and all) if a signal ends it. */
const activeSinks = new Set<ByteSink>();

/** Abort every open output sink (SIGINT/SIGTERM): no partial output or temporary file stays. */
export async function abortActiveSinks(reason: unknown): Promise<void> {
  const sinks = [...activeSinks];
  activeSinks.clear();
  for (const s of sinks) {
    try {
      await s.abort?.(reason);
    } catch {
      /* best effort: we are exiting */
    }
  }
}

/**
 * The output sink: '-' is standard output (refused for writers that seek back, and when stdout
 * is a terminal); anything else a file written under a temporary name and renamed on success.
 */
export async function openSink(ctx: CliContext, out: string, opts: { seekable: boolean; what?: string }): Promise<ByteSink> {
  if (out === '-') {
    if (opts.seekable) {
      throw new UsageError(`${opts.what ?? 'this image'} cannot be written to standard output: the writer patches bytes it wrote earlier; give a file name`);
    }
    if (ctx.stdout.isTTY) throw new UsageError('refusing to write an image to a terminal; redirect standard output or give a file name');
    return stdoutSink(ctx.stdout);
  }
  const sink = await fileSink(out);
  activeSinks.add(sink);
  const forget = () => activeSinks.delete(sink);
  const close = sink.close.bind(sink);
  const abort = sink.abort?.bind(sink);
  return Object.assign(sink, {
    close: async () => {
      forget();
      await close();
    },
    abort: async (reason?: unknown) => {
      forget();
      await abort?.(reason);
    },
  });
}

/**
 * A worker pool for `--workers N` (N = 0: inline); close it when done. The workers start at once and
 * load `codec`, so they boot while the main thread walks the tree.
 */
export async function openPool(workers: number, codec?: CodecName): Promise<WorkerPool> {
  return createNodePool(codec === undefined ? { workers, eager: true } : { workers, preload: [codec] });
}

// ---- progress line ----

let progressShown = false;

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A throttled one-line progress display on stderr, only when stderr is a terminal. */
export function progressLine(ctx: CliContext, label: string): ((p: { entries: number; totalEntries: number; bytes: number }) => void) | undefined {
  if (!ctx.stderr.isTTY) return undefined;
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 100 && p.entries < p.totalEntries) return;
    last = now;
    progressShown = true;
    ctx.stderr.write(`\r\x1b[K${label}: ${p.entries}/${p.totalEntries} entries, ${formatBytes(p.bytes)}`);
  };
}

export function clearProgress(ctx: CliContext): void {
  if (progressShown) {
    ctx.stderr.write('\r\x1b[K');
    progressShown = false;
  }
}

/** Warnings printed per code before the rest of that code is only counted. */
const WARNINGS_SHOWN_PER_CODE = 10;

/**
 * The `onWarning` every command passes to its library call: prints each warning with its path, the
 * first ten of each code, then says once that more of that code follow unprinted (a Debian tree
 * can raise one per file, e.g. every "pkg:amd64.list" name that Joliet cannot hold).
 */
export function printWarning(ctx: CliContext): (w: ImgkitWarning) => void {
  const seen = new Map<string, number>();
  return (w) => {
    const n = (seen.get(w.code) ?? 0) + 1;
    seen.set(w.code, n);
    const where = w.path !== undefined ? `${w.path}${w.line !== undefined ? `:${w.line}` : ''}: ` : w.line !== undefined ? `line ${w.line}: ` : '';
    if (n <= WARNINGS_SHOWN_PER_CODE) ctx.stderr.write(`imgkit: warning: ${where}${w.detail}\n`);
    else if (n === WARNINGS_SHOWN_PER_CODE + 1) {
      ctx.stderr.write(`imgkit: warning: more warnings like the last (${w.code}) are not printed; pass --strict to stop at the first\n`);
    }
  };
}
