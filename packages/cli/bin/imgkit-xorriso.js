#!/usr/bin/env node
// A stand-in for the `xorriso` program where build tools call it: `imgkit-xorriso [native commands]
// -as mkisofs [mkisofs options] [-- native commands]`, e.g. `grub-mkrescue --xorriso=…/imgkit-xorriso.js`.
// Exit codes as imgkit's: 0 done, 1 failed, 2 usage; signals as imgkit's (index.ts withSignalHandling).
import { xorrisoMain } from '../dist/index.js';

xorrisoMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`imgkit-xorriso: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
