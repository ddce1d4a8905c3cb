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
import { readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
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
  tarSource,
  type ByteSink,
  type CodecName,
  type ImgkitWarning,
  type RandomAccessReader,
  type SourceTree,
  type WorkerPool,
} from '@imgkit/core';
import { createNodePool, fileSink, inspectOutput, nodeAnyReader, nodeHostFiles, nodeSource, nodeStreamReader, removeTempFilesSync, stdoutSink, type FileSink, type OutputTarget } from '@imgkit/core/node';

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
  } finally {
    // After the error: what a failed device, FIFO or standard output now holds (a file is simply not there).
    for (const note of failureNotes.splice(0)) ctx.stderr.write(`imgkit: ${note}\n`);
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

/** Inputs a command reads while it writes: the output must be none of them. */
export interface OutputInputs {
  /** Source directories: a file output must not lie inside one (the walk would read it). */
  dirs?: readonly (string | undefined)[];
  /** Files read while writing, by the option that names them: { '--tar': 'x.tar' }. */
  files?: Readonly<Record<string, string | undefined>>;
  /** A manifest: the output must be neither it nor a host file its `file` lines name. */
  manifest?: string | undefined;
}

/**
 * Check the output before any work: what it is (inspectOutput: a missing directory, a directory, a
 * socket or a read-only file are refused, a symlink is followed), that it is none of the inputs
 * (compared by device + inode, and by device number for device nodes), and that a writer which
 * patches earlier bytes (`seekable`) does not get a pipe. Returns what the output is (undefined for '-').
 * Both refusals of an input use E_OUTPUT_IN_SOURCE: the output would be read while written.
 */
export function checkOutput(out: string, inputs: OutputInputs = {}, opts: { seekable?: boolean; what?: string } = {}): OutputTarget | undefined {
  if (out === '-') {
    if (opts.seekable) throw seekableOnStdout(opts.what);
    return undefined;
  }
  const t = inspectOutput(out);
  if (opts.seekable && t.kind === 'fifo') throw notSeekable(out, 'FIFO', opts.what);
  const inSource = (detail: string) => new ImgkitError(ErrorCodes.OUTPUT_IN_SOURCE, { format: 'cli', path: out, detail, hint: 'write the image somewhere else' });
  // A device node or FIFO in a tree is not read by the walk, only a regular file is.
  if (t.kind === 'file') {
    const ancestors: Stats[] = [];
    for (let d = nodePath.dirname(t.target); ; d = nodePath.dirname(d)) {
      ancestors.push(statSync(d));
      if (d === nodePath.dirname(d)) break;
    }
    for (const dir of inputs.dirs ?? []) {
      if (dir === undefined) continue;
      const st = statOrUndefined(dir);
      // By identity, so a bind mount or another name of the source directory counts too.
      if (st?.isDirectory() && ancestors.some((a) => a.dev === st.dev && a.ino === st.ino)) {
        throw new ImgkitError(ErrorCodes.OUTPUT_IN_SOURCE, {
          format: 'cli',
          path: out,
          detail: `the output lies inside the source directory ${dir}`,
          hint: 'write the image outside the tree it is made from',
        });
      }
    }
  }
  if (!t.exists) return t; // a file that does not exist yet is no input
  const same = (st: Stats) => (t.rdev !== undefined && (st.isBlockDevice() || st.isCharacterDevice()) ? st.rdev === t.rdev : st.dev === t.dev && st.ino === t.ino);
  for (const [option, file] of Object.entries(inputs.files ?? {})) {
    const st = file !== undefined && file !== '-' ? statOrUndefined(file) : undefined; // '-': standard input
    if (st && same(st)) throw inSource(`the output is the ${option} ${file}; it would be overwritten while it is read`);
  }
  if (inputs.manifest !== undefined) {
    const st = statOrUndefined(inputs.manifest);
    if (st && same(st)) throw inSource(`the output is the manifest ${inputs.manifest}`);
    for (const [line, host] of manifestHostFiles(inputs.manifest)) {
      const hs = statOrUndefined(host);
      if (hs && same(hs)) throw inSource(`the output is ${host}, which ${inputs.manifest}:${line} copies into the image`);
    }
  }
  return t;
}

/** Refuse an output file inside the source tree (checkOutput with directories only). */
export function checkOutputOutside(out: string, sourceDirs: readonly string[]): void {
  checkOutput(out, { dirs: sourceDirs });
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** `file` lines of a manifest: [line, absolute host path]. A manifest that cannot be read or parsed yields none (its own error comes later). */
function manifestHostFiles(manifest: string): [number, string][] {
  let parsed;
  try {
    parsed = parseManifest(readFileSync(manifest, 'utf8'), manifest);
  } catch {
    return [];
  }
  const base = nodePath.dirname(nodePath.resolve(manifest));
  return parsed.entries.flatMap((e) => (e.type === 'file' ? [[e.line, nodePath.resolve(base, e.location)] as [number, string]] : []));
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

/** An output being written by the running command. */
interface ActiveOutput {
  /** The output as given on the command line. */
  out: string;
  sink: FileSink | undefined; // undefined: standard output
  stdoutSink: ByteSink | undefined;
  /** The target existed before (a file being replaced). */
  existed: boolean;
  /** The output path is a symlink to the target. */
  viaSymlink: boolean;
  /** Closed successfully: the image is complete. */
  done: boolean;
}
/** Outputs of the running command, open or complete (what a signal handler reports on). */
const activeOutputs = new Set<ActiveOutput>();

/** Forget the outputs of an earlier command run in this process. */
export function resetOutputs(): void {
  activeOutputs.clear();
  failureNotes.length = 0;
}
/** What failed outputs now hold, printed by runCommand after the error. */
const failureNotes: string[] = [];

function seekableOnStdout(what: string | undefined): UsageError {
  return new UsageError(`${what ?? 'this image'} cannot be written to standard output: the writer patches bytes it wrote earlier; give a file name`);
}

function notSeekable(out: string, kind: string, what: string | undefined): ImgkitError {
  return new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
    format: 'cli',
    path: out,
    detail: `${what ?? 'this image'} cannot be written to a ${kind}: the writer patches bytes it wrote earlier, and a ${kind} cannot seek back`,
    hint: `write it to a file, then copy that: cat image > ${out}`,
  });
}

/** What an output holds when the command stops early (failure or signal), as a sentence. */
function leftBehind(o: ActiveOutput): string {
  if (o.done) return `${o.out === '-' ? 'the image on standard output' : o.out} was already complete`;
  if (o.sink === undefined) {
    return o.stdoutSink && o.stdoutSink.position > 0 ? 'the image on standard output is incomplete' : 'nothing was written to standard output';
  }
  const s = o.sink;
  if (s.kind === 'file') {
    if (s.state === 'closed') return `${o.out} was already complete`; // renamed into place
    return o.existed ? `${o.out} keeps its previous content` : `${o.out} was not created`;
  }
  const name = o.viaSymlink ? `${o.out} (${s.path})` : o.out;
  if (s.bytesWritten === 0) return `nothing was written to ${name}; it is unchanged`;
  if (s.kind === 'block') return `${name} now holds an incomplete image (its first ${formatBytes(s.bytesWritten)} were overwritten): do not boot or mount it`;
  return `the image sent to ${name} is incomplete (${formatBytes(s.bytesWritten)} sent)`;
}

/**
 * For a signal handler that ends the process right after: stop every output synchronously (a
 * temporary file is removed; devices, FIFOs and standard output keep what they got) and say, truly
 * for each kind, what is left.
 */
export function interruptOutputs(): string {
  const outputs = [...activeOutputs];
  activeOutputs.clear();
  for (const o of outputs) {
    try {
      o.sink?.abortSync();
    } catch {
      /* best effort: we are exiting */
    }
  }
  try {
    removeTempFilesSync(); // also one being created right now, not yet an active output
  } catch {
    /* best effort */
  }
  return outputs.length === 0 ? 'nothing was written' : outputs.map(leftBehind).join('; ');
}

/**
 * The output sink: '-' is standard output (refused for writers that seek back, and when stdout
 * is a terminal); a regular file is written under a temporary name and renamed on success; a
 * device or FIFO in place (see fileSink). On success one line on stderr says what was written where;
 * on failure, for outputs written in place, one line after the error says what they now hold.
 */
export async function openSink(ctx: CliContext, out: string, opts: { seekable: boolean; what?: string }): Promise<ByteSink> {
  let active: ActiveOutput;
  let sink: ByteSink;
  if (out === '-') {
    if (opts.seekable) throw seekableOnStdout(opts.what);
    if (ctx.stdout.isTTY) throw new UsageError('refusing to write an image to a terminal; redirect standard output or give a file name');
    sink = stdoutSink(ctx.stdout);
    active = { out, sink: undefined, stdoutSink: sink, existed: false, viaSymlink: false, done: false };
  } else {
    const target = checkOutput(out)!;
    const fs = await fileSink(out, { target });
    if (opts.seekable && !fs.seekable) {
      await fs.abort?.();
      throw notSeekable(out, target.kind === 'fifo' ? 'FIFO' : 'character device', opts.what);
    }
    sink = fs;
    active = { out, sink: fs, stdoutSink: undefined, existed: target.exists, viaSymlink: target.viaSymlink, done: false };
  }
  activeOutputs.add(active);
  const close = sink.close.bind(sink);
  const abort = sink.abort?.bind(sink);
  return Object.assign(sink, {
    close: async () => {
      await close(); // on failure the output stays open: abort() follows and says what is left
      active.done = true;
      clearProgress(ctx);
      const where = out === '-' ? 'standard output' : active.viaSymlink ? `${out} (${active.sink!.path})` : out;
      const size = sink.position < 1024 ? formatBytes(sink.position) : `${formatBytes(sink.position)} (${sink.position} bytes)`;
      ctx.stderr.write(`imgkit: wrote ${size} to ${where}\n`);
    },
    abort: async (reason?: unknown) => {
      const wasActive = activeOutputs.delete(active);
      await abort?.(reason);
      if (wasActive && !active.done && (out === '-' || active.sink!.kind !== 'file')) failureNotes.push(leftBehind(active));
    },
  });
}

/**
 * A worker pool for `--workers N` (N = 0: inline); close it when done. The workers start at once and
 * load `codecs` (a plan's or `xRequirements(options)`'s), so they boot while the main thread walks the tree.
 */
export async function openPool(workers: number, codecs?: CodecName | readonly CodecName[]): Promise<WorkerPool> {
  const preload = codecs === undefined ? [] : typeof codecs === 'string' ? [codecs] : [...codecs];
  return createNodePool(preload.length === 0 ? { workers, eager: true } : { workers, preload });
}

// ---- progress line ----

let progressShown = false;

export function formatBytes(n: number): string {
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

/**
 * The tar archive of --tar (squashfs, ext4): a file is read in place; '-' (standard input, as
 * `mksquashfs - img -tar`) and a FIFO are read once into an unlinked temporary file (the tree is
 * walked before its contents are read, in another order). Open failures name the path and the reason.
 */
export async function openTar(source: string): Promise<RandomAccessReader & { close(): Promise<void> }> {
  if (source === '-') {
    if (process.stdin.isTTY) throw new UsageError('--tar with source "-" reads a tar archive from standard input, which is a terminal; redirect or pipe the archive in');
    return nodeStreamReader(process.stdin, { name: 'standard input' });
  }
  try {
    return await nodeAnyReader(source);
  } catch (err) {
    if (!(err instanceof ImgkitError)) throw err;
    const isDir = /^is a directory/.test(err.detail);
    throw new ImgkitError(err.code, {
      format: 'cli',
      path: source,
      detail: `cannot open the tar archive: ${err.detail}`,
      hint: isDir ? 'without --tar the source is a directory' : (err.hint ?? 'give a tar archive file, or - for standard input'),
      cause: err,
    });
  }
}

/**
 * The source tree of a command that takes a directory or, with --tar, a tar archive ('-': standard
 * input), with --exclude applied; `close()` releases the archive (a no-op for a directory).
 */
export async function openTreeSource(source: string, tar: boolean | undefined, exclude: ((path: string) => boolean) | undefined): Promise<{ tree: SourceTree; close(): Promise<void> }> {
  if (tar) {
    const reader = await openTar(source);
    return { tree: tarSource(reader, { name: source === '-' ? 'standard input' : source, ...(exclude ? { exclude } : {}) }), close: () => reader.close() };
  }
  return { tree: nodeSource(checkSourceDir(source), exclude ? { exclude } : {}), close: async () => {} };
}
