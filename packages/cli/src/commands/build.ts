/**
 * `imgkit build <recipe> [--out DIR]`: every artifact a recipe names (@imgkit/build), into DIR
 * (default: the current directory), each with a `.sha256` beside it; a progress line per artifact
 * on stderr and a summary table (artifact, size, sha256, time) on stdout.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { parseRecipe, runBuild, type BuildEvent, type BuildOptions } from '@imgkit/build';
import { nodeBuildHost } from '@imgkit/build/node';
import { addWorkersOption, epochFromEnv, formatBytes, openPool, printWarning, runCommand, type CliContext } from '../common.js';

interface BuildFlags {
  out: string;
  workers: number;
  strict?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('build')
    .description('build every artifact of a recipe (ISO, disks, VM images, update image, tar, initramfs), each with a .sha256')
    .argument('<recipe>', 'recipe file (.yaml, .yml or .json); the paths in it are relative to it')
    .option('--out <dir>', 'output directory (created if missing)', '.')
    .option('--strict', 'stop at the first warning instead of printing it');
  addWorkersOption(cmd);
  cmd.addHelpText(
    'after',
    [
      '',
      'A recipe (see the @imgkit/build README):',
      '  name: appliance',
      '  version: 1.2.0',
      '  arch: amd64',
      '  root: [rootfs/, overlay/]',
      '  kernel: /boot/vmlinuz-*',
      '  initramfs: { dir: initramfs/, manifest: initramfs.manifest }',
      '  boot:',
      '    isolinux: { bin: /usr/lib/ISOLINUX/isolinux.bin, ldlinux: /usr/lib/syslinux/modules/bios/ldlinux.c32, mbr: /usr/lib/ISOLINUX/isohdpfx.bin }',
      '    efi: { loader: /usr/lib/grub/x86_64-efi/monolithic/grubx64.efi }',
      '    entries: [{ label: live, cmdline: console=ttyS0 }]',
      '  artifacts: [iso, update, tar]',
      'SOURCE_DATE_EPOCH, when set, wins over the recipe\'s epoch.',
    ].join('\n'),
  );
  cmd.action((recipePath: string, flags: BuildFlags) =>
    runCommand(ctx, async () => {
      let text: string;
      try {
        text = await readFile(recipePath, 'utf8');
      } catch (err) {
        throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: recipePath, detail: `cannot read the recipe: ${(err as { code?: string }).code ?? String(err)}` });
      }
      const recipe = parseRecipe(text, recipePath);
      const pool = await openPool(flags.workers);
      const started = new Map<string, number>();
      const rows: string[][] = [];
      const onProgress = (e: BuildEvent) => {
        if (e.type === 'start') {
          started.set(e.file, performance.now());
          ctx.stderr.write(`imgkit: building ${e.artifact} ${e.file}\n`);
        } else {
          const seconds = ((performance.now() - (started.get(e.file) ?? performance.now())) / 1000).toFixed(1);
          ctx.stderr.write(`imgkit: built ${e.artifact} ${e.file} (${formatBytes(e.sizeBytes)}, ${seconds} s)\n`);
          rows.push([e.artifact, e.file, String(e.sizeBytes), e.sha256, `${seconds} s`]);
        }
      };
      try {
        const host = nodeBuildHost(recipePath, flags.out);
        const options: BuildOptions = { ...host, pool, onProgress, onWarning: printWarning(ctx), strict: flags.strict === true };
        const epoch = epochFromEnv(ctx);
        if (epoch !== undefined) options.epoch = epoch;
        await runBuild(recipe, options);
      } finally {
        await pool.close();
      }
      const table = [['artifact', 'file', 'bytes', 'sha256', 'time'], ...rows];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
      ctx.stdout.write(table.map((r) => r.map((c, i) => (i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n');
    }),
  );
}
