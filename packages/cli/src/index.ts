/**
 * imgkit's command line. Each command lives in commands/<name>.ts and exports
 * `register(program, ctx)`; shared parsing, sinks and exit-code handling are in common.ts.
 */
import { Command, CommanderError } from 'commander';
import { abortActiveSinks, type CliContext } from './common.js';
import * as cpio from './commands/cpio.js';
import * as iso from './commands/iso.js';
import * as mkisofs from './commands/mkisofs.js';
import * as squashfs from './commands/squashfs.js';
import * as convert from './commands/convert.js';
import * as check from './commands/check.js';

export * from './common.js';

type Register = (program: Command, ctx: CliContext) => void;
/** Every command module, registered in this order. */
const COMMANDS: readonly { register: Register }[] = [cpio, squashfs, iso, mkisofs, convert, check];

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('imgkit')
    .description('write filesystem and disk images (cpio, squashfs, ISO 9660, …) without root')
    .version('0.1.0')
    .showHelpAfterError('(see imgkit --help)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void ctx.stdout.write(s), writeErr: (s) => void ctx.stderr.write(s) });
  for (const c of COMMANDS) c.register(program, ctx);
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
  const program = buildProgram(full);
  if (argv.length <= 2) {
    program.outputHelp();
    return 2;
  }
  // Ctrl-C or kill: remove the temporary output file before exiting (128 + signal number).
  const onSignal = (signal: NodeJS.Signals) => {
    full.stderr.write(`imgkit: interrupted (${signal}); output removed\n`);
    void abortActiveSinks(signal).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; everything else is a usage error.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    }
    full.stderr.write(`imgkit: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return full.exitCode;
}
