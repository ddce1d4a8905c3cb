/**
 * `imgkit disk <layout> <out>`: a layout file (YAML or JSON) → a partitioned disk image (sparse raw).
 * The layout's paths are relative to the layout file. The output is a file (written under a
 * temporary name and renamed at the end) or a block device; standard output is refused: the disk
 * is patched after it is written (the partition table last, squashfs superblocks).
 */
import * as nodePath from 'node:path';
import { type Command } from 'commander';
import { withSink } from '@imgkit/core';
import { planLayoutFile, type ComposeOptions, type DiskResult, type LayoutPlan } from '@imgkit/disk';
import { nodeLayoutFiles } from '@imgkit/disk/node';
import { readFile } from 'node:fs/promises';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { UsageError, addWorkersOption, checkOutput, epochFromEnv, formatBytes, openPool, openSink, printWarning, runCommand, type CliContext } from '../common.js';

interface DiskFlags {
  workers: number;
  strict?: boolean;
  verbose?: boolean;
}

const WHY_NOT_STDOUT = 'a disk image cannot be written to standard output: imgkit writes the partition table last and squashfs patches its superblock, both by seeking back; give a file name or a block device';

/** The layout as a table, for -v. */
function describeLayout(r: DiskResult): string {
  const l = r.layout;
  const lines = [`imgkit: ${l.table.toUpperCase()} disk, ${l.sizeBytes} bytes (${formatBytes(l.sizeBytes)}), ${l.sectorSize}-byte sectors${l.diskGuid ? `, disk GUID ${l.diskGuid}` : `, signature 0x${l.diskSignature.toString(16).padStart(8, '0')}`}`];
  for (const p of r.partitions) {
    const q = l.partitions[p.index]!;
    const type = q.typeGuid ?? `0x${(q.mbrType ?? 0).toString(16).padStart(2, '0')}`;
    lines.push(`imgkit:   ${String(p.number).padStart(2)}  sectors ${q.startLba}–${q.endLba}  ${formatBytes(p.sizeBytes).padStart(10)}  ${type}  ${p.label || '-'}  ${p.content}${p.content !== 'none' ? ` (${p.contentBytes} bytes)` : ''}`);
  }
  const data = r.allocated.reduce((s, x) => s + x.length, 0);
  lines.push(`imgkit:   ${r.allocated.length} written ranges, ${data} bytes of data; the rest is holes`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('disk')
    .description('write a partitioned disk image (GPT, MBR, hybrid) from a layout file (YAML or JSON)')
    .argument('<layout>', 'layout file (.yaml, .yml or .json); the paths in it are relative to it')
    .argument('<out>', 'output image file or block device (not standard output)')
    .option('--strict', 'stop at the first warning (a lossy conversion) instead of printing it')
    .option('-v, --verbose', 'print the partitions written');
  addWorkersOption(cmd);
  cmd.addHelpText(
    'after',
    [
      '',
      'A layout (see the @imgkit/disk README):',
      '  table: gpt                # gpt | mbr | hybrid',
      '  size: 2G                  # whole disk; omitted: the end of the last partition',
      '  partitions:',
      '    - { label: esp, type: esp, size: 100M, content: { fat: boot/ } }',
      '    - { label: root, type: linux, size: 1G, content: { squashfs: rootfs/, compression: zstd } }',
      '    - { label: data, type: linux, size: fill }',
      '  raw:',
      '    - { offset: 8K, image: u-boot.bin }',
      'SOURCE_DATE_EPOCH, when set, clamps newer file times and seeds GUIDs and FAT serials.',
      'Example:\n  imgkit disk appliance.yaml appliance.img -v',
    ].join('\n'),
  );
  cmd.action((layoutPath: string, out: string, flags: DiskFlags) =>
    runCommand(ctx, async () => {
      if (out === '-') throw new UsageError(WHY_NOT_STDOUT);
      const epoch = epochFromEnv(ctx);
      let text: string;
      try {
        text = await readFile(layoutPath, 'utf8');
      } catch (err) {
        const code = (err as { code?: string }).code;
        throw new ImgkitError(code === 'EISDIR' ? ErrorCodes.BAD_OPTION : ErrorCodes.SOURCE_MISSING, { format: 'cli', path: layoutPath, detail: `cannot read the layout: ${code ?? String(err)}`, hint: 'give a .yaml, .yml or .json layout file' });
      }
      const pool = await openPool(flags.workers);
      let plan: LayoutPlan | undefined;
      try {
        const options: ComposeOptions = { files: nodeLayoutFiles(nodePath.dirname(layoutPath)), pool, onWarning: printWarning(ctx), strict: flags.strict === true };
        if (epoch !== undefined) options.epoch = epoch;
        plan = await planLayoutFile(text, layoutPath, options);
        // The output must be none of the inputs (nor inside a source directory).
        const files: Record<string, string> = { 'layout file': layoutPath };
        for (const i of plan.inputs) if (i.kind === 'file') files[`${i.field} file`] = i.path;
        checkOutput(out, { dirs: plan.inputs.filter((i) => i.kind === 'dir').map((i) => i.path), files }, { seekable: true, what: 'a disk image' });
        const sink = await openSink(ctx, out, { seekable: true, what: 'a disk image' });
        const p = plan;
        const result = await withSink(sink, (s) => p.write(s));
        if (flags.verbose) ctx.stderr.write(describeLayout(result));
      } finally {
        await plan?.close();
        await pool.close();
      }
    }),
  );
}
