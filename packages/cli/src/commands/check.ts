/**
 * `imgkit check <image>`: consistency check of a qcow2, VMDK, VHD or VHDX image (format
 * detected), with `qemu-img check`'s exit codes: 0 no errors, 1 the check could not be completed,
 * 2 corruption, 3 leaked clusters only. `--output json` prints the report as JSON.
 */
import { Option, type Command } from 'commander';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { nodeFileReader } from '@imgkit/core/node';
import { checkExitCode, checkImage, formatCheckReport, type CheckReport, type ImageFormat } from '@imgkit/vdisk';
import { runCommand, type CliContext } from '../common.js';

const FORMATS: Record<string, ImageFormat> = { qcow2: 'qcow2', vmdk: 'vmdk', vpc: 'vhd', vhd: 'vhd', vhdx: 'vhdx' };

export function register(program: Command, ctx: CliContext): void {
  program
    .command('check')
    .description('check a qcow2, VMDK, VHD or VHDX image for corruption and leaks (qemu-img check exit codes)')
    .argument('<image>', 'image file')
    .addOption(new Option('-f <format>', 'image format (detected when absent)').choices(Object.keys(FORMATS)))
    .addOption(new Option('--output <format>', 'report format').choices(['human', 'json']).default('human'))
    .addHelpText('after', '\nExit codes: 0 no errors, 1 check not completed, 2 corruption, 3 leaked clusters only.')
    .action(async (image: string, flags: { f?: string; output: 'human' | 'json' }) => {
      let report: CheckReport | undefined;
      await runCommand(ctx, async () => {
        const reader = await nodeFileReader(image).catch((err: unknown) => {
          throw err instanceof ImgkitError ? err : new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: image, detail: String(err) });
        });
        try {
          report = await checkImage(reader, flags.f ? FORMATS[flags.f] : undefined);
        } finally {
          await reader.close();
        }
        if (flags.output === 'json') ctx.stdout.write(`${JSON.stringify({ ...report, exitCode: checkExitCode(report) }, null, 2)}\n`);
        else ctx.stdout.write(formatCheckReport(report));
      });
      if (report && ctx.exitCode === 0) ctx.exitCode = checkExitCode(report);
    });
}
