#!/usr/bin/env node
// A stand-in for the `xorriso` program where build tools call it: `imgkit-xorriso [native commands]
// -as mkisofs [mkisofs options] [-- native commands]`, e.g. `grub-mkrescue --xorriso=…/imgkit-xorriso.js`.
// Exit codes as imgkit's: 0 done, 1 failed, 2 usage.
import { runXorriso } from '../dist/commands/mkisofs.js';
import { abortActiveSinks } from '../dist/common.js';

const ctx = { env: process.env, stdout: process.stdout, stderr: process.stderr, exitCode: 0 };
const onSignal = (signal) => {
  process.stderr.write(`imgkit-xorriso: interrupted (${signal}); output removed\n`);
  void abortActiveSinks(signal).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
runXorriso(ctx, process.argv.slice(2)).then(
  () => {
    process.exitCode = ctx.exitCode;
  },
  (err) => {
    process.stderr.write(`imgkit-xorriso: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
