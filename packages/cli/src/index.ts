/**
 * imgkit's command line. Each command lives in commands/<name>.ts and exports
 * `register(program, ctx)`; shared parsing, sinks and exit-code handling are in common.ts.
 */
import { constants as osConstants } from 'node:os';
import { Command, CommanderError } from 'commander';
import { clearProgress, interruptOutputs, resetOutputs, type CliContext } from './common.js';

export * from './common.js';

type Register = (program: Command, ctx: CliContext) => void;

/** Signals that end a run early, leaving no temporary file. */
const HANDLED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/**
 * Every command module, registered in this order, imported only when needed: each pulls in its
 * format packages (and their codecs), and importing all of them cost ~0.35 s of CPU before any
 * work (issue 15), which `imgkit cpio …` or `imgkit --version` should not pay.
 */
const COMMANDS: Readonly<Record<string, () => Promise<{ register: Register }>>> = {
  cpio: () => import('./commands/cpio.js'),
  squashfs: () => import('./commands/squashfs.js'),
  iso: () => import('./commands/iso.js'),
  mkisofs: () => import('./commands/mkisofs.js'),
  fat: () => import('./commands/fat.js'),
  ext4: () => import('./commands/ext4.js'),
  disk: () => import('./commands/disk.js'),
  convert: () => import('./commands/convert.js'),
  check: () => import('./commands/check.js'),
  inspect: () => import('./commands/inspect.js'),
  build: () => import('./commands/build.js'),
};

/**
 * The command modules argv needs: the named command (also after `help`); none for a bare
 * `--version`; all of them otherwise (the command list in --help, "did you mean" for a typo).
 */
export function commandsFor(argv: readonly string[]): string[] {
  const words = argv.slice(2);
  const first = words.findIndex((w) => !w.startsWith('-'));
  const name = first < 0 ? undefined : words[first] === 'help' ? words[first + 1] : words[first];
  if (name !== undefined && Object.hasOwn(COMMANDS, name)) return [name];
  if (first < 0 && words.length > 0 && words.every((w) => w === '--version' || w === '-V')) return [];
  return Object.keys(COMMANDS);
}

export async function buildProgram(ctx: CliContext, names: readonly string[] = Object.keys(COMMANDS)): Promise<Command> {
  const modules = await Promise.all(names.map((n) => COMMANDS[n]!()));
  const program = new Command('imgkit')
    .description('write filesystem and disk images (cpio, squashfs, ISO 9660, …) without root')
    .version('0.1.0')
    .showHelpAfterError('(see imgkit --help)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void ctx.stdout.write(s), writeErr: (s) => void ctx.stderr.write(s) });
  for (const c of modules) c.register(program, ctx);
  program.hook('preAction', (_program, sub) => void (ctx.command = sub.name())); // runCommand's "see imgkit <command> --help"
  for (const sub of program.commands) sub.exitOverride().showHelpAfterError(`(see imgkit ${sub.name()} --help)`).configureOutput({ writeOut: (s) => void ctx.stdout.write(s), writeErr: (s) => void ctx.stderr.write(s) });
  return program;
}

/** Run the CLI with Node's argv; resolves to the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: readonly string[], ctx?: Partial<CliContext>): Promise<number> {
  const full: CliContext = {
    env: ctx?.env ?? process.env,
    stdout: ctx?.stdout ?? process.stdout,
    stderr: ctx?.stderr ?? process.stderr,
    exitCode: 0,
  };
  const program = await buildProgram(full, commandsFor(argv));
  if (argv.length <= 2) {
    program.outputHelp();
    return 2;
  }
  return withSignalHandling(full, 'imgkit', async () => {
    try {
      await program.parseAsync([...argv]);
    } catch (err) {
      if (err instanceof CommanderError) {
        // --help and --version "fail" with exit code 0; everything else is a usage error.
        return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
      }
      full.stderr.write(`imgkit: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
    return full.exitCode;
  });
}

/**
 * `imgkit-xorriso [native commands] -as mkisofs …` (bin/imgkit-xorriso.js, for
 * `grub-mkrescue --xorriso=…`): the same signal handling and exit codes as `imgkit`.
 */
export async function xorrisoMain(args: readonly string[], ctx?: Partial<CliContext>): Promise<number> {
  const full: CliContext = { env: ctx?.env ?? process.env, stdout: ctx?.stdout ?? process.stdout, stderr: ctx?.stderr ?? process.stderr, exitCode: 0 };
  return withSignalHandling(full, 'imgkit-xorriso', async () => {
    const { runXorriso } = await import('./commands/mkisofs.js');
    await runXorriso(full, [...args]);
    return full.exitCode;
  });
}

/**
 * Run `body` with SIGINT/SIGTERM/SIGHUP handled. Ctrl-C, kill or a closed terminal stop at once.
 * Everything happens synchronously in the handler, so the writer never runs again (no second
 * error): the temporary file is removed, what is left is said, and the process ends by the same
 * signal (exit status 128 + n, and a shell script looping over imgkit stops too). Not
 * process.exit(): it waits for libuv's thread pool, and a thread blocked opening a FIFO (`--tar
 * fifo`, an output FIFO without a reader) would keep the process alive forever.
 */
async function withSignalHandling(full: CliContext, program: string, body: () => Promise<number>): Promise<number> {
  const onSignal = (signal: NodeJS.Signals) => {
    const left = interruptOutputs();
    try {
      clearProgress(full);
      full.stderr.write(`${program}: interrupted (${signal}); ${left}\n`);
    } catch {
      /* stderr may be gone with the terminal (SIGHUP) */
    }
    for (const s of HANDLED_SIGNALS) process.off(s, onSignal);
    process.kill(process.pid, signal); // default action now: the process ends here
    process.exit(128 + (osConstants.signals[signal] ?? 0)); // only if something else still handles it
  };
  resetOutputs();
  for (const s of HANDLED_SIGNALS) process.on(s, onSignal);
  try {
    return await body();
  } finally {
    for (const s of HANDLED_SIGNALS) process.off(s, onSignal);
  }
}
