#!/usr/bin/env node
// xorriso with the HFS+ options taken out of its `-as mkisofs` arguments, then run as it is.
// imgkit accepts these options but writes no HFS+ filesystem and no Apple Partition Map for it
// (one warning: the image does not boot on Macs; issue 13 allows exactly that), so the client
// tests compare imgkit's image with what xorriso makes WITHOUT them: everything else (El Torito,
// MBR, GPT, file data, names) is still held to xorriso's bytes. Used as grub-mkrescue's --xorriso=.
// The options and their value counts are xorrisofs(1)'s.
import { spawnSync } from 'node:child_process';

const HFSPLUS = { '-hfsplus': 0, '-apm-block-size': 1, '-hfsplus-file-creator-type': 3, '-hfs-bless-by': 2, '-hfs-bless': 1, '-hfsplus-serial-no': 1, '-hfsplus-block-size': 1, '-prep-boot-part': 1 };
const xorriso = process.env.IMGKIT_REAL_XORRISO || 'xorriso';
const args = process.argv.slice(2);
const out = [];
const left = [];
let inMkisofs = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '-as' && args[i + 1] === 'mkisofs') inMkisofs = true;
  else if (a === '--') inMkisofs = false;
  if (inMkisofs && Object.hasOwn(HFSPLUS, a)) {
    left.push(args.slice(i, i + 1 + HFSPLUS[a]).join(' '));
    i += HFSPLUS[a];
    continue;
  }
  out.push(a);
}
// One line the client tests look for: which options the reference left out.
if (left.length > 0) process.stderr.write(`xorriso-without-hfsplus: left out ${left.join(' ')}\n`);
const r = spawnSync(xorriso, out, { stdio: 'inherit' });
process.exitCode = r.status ?? 1;
