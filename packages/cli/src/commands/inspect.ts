/**
 * `imgkit inspect <image>`: what is inside an image — VM container fields, partition tables, El
 * Torito entries, filesystem and archive summaries — as a tree, or as JSON with `--json`, with
 * consistency checks. Exit codes as `imgkit check` (qemu-img check): 0 no defect, 1 the
 * inspection could not be completed, 2 a defect, 3 leaked clusters only.
 */
import type { Command } from 'commander';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { nodeFileReader } from '@imgkit/core/node';
import { formatInspectTree, inspectImage, type InspectReport } from '@imgkit/inspect';
import { runCommand, type CliContext } from '../common.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description('show what is inside an image (VM container, partitions, El Torito, filesystems, archives) and check that its structures agree')
    .argument('<image>', 'image file or block device')
    .option('--json', 'print the report as JSON')
    .option('--no-count', 'do not walk directories and archives to count entries')
    .addHelpText(
      'after',
      '\nExit codes: 0 no defect (warnings may be shown), 1 inspection not completed, 2 a defect (the message names the structure and field), 3 leaked clusters only.',
    )
    .action(async (image: string, flags: { json?: boolean; count: boolean }) => {
      let report: InspectReport | undefined;
      await runCommand(ctx, async () => {
        const reader = await nodeFileReader(image).catch((err: unknown) => {
          throw err instanceof ImgkitError ? err : new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: image, detail: String(err) });
        });
        try {
          report = await inspectImage(reader, { name: image, countEntries: flags.count });
        } finally {
          await reader.close();
        }
        if (flags.json) ctx.stdout.write(`${JSON.stringify({ image: report.image, exitCode: report.exitCode, findings: report.findings, root: report.root }, null, 2)}\n`);
        else ctx.stdout.write(formatInspectTree(report));
      });
      if (report && ctx.exitCode === 0) ctx.exitCode = report.exitCode;
    });
}
