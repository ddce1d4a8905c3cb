/**
 * `imgkit disk <layout> <out> [--format fmt]`: a layout file (YAML or JSON) → a partitioned disk
 * image: sparse raw, or straight into a VM image (qcow2, VMDK, VHD, VHDX, OVA) with no raw
 * temporary file, with `imgkit convert`'s (qemu-img's) `-o` options and `-c`. The layout's paths
 * are relative to the layout file. The output is a file (written under a temporary name and
 * renamed at the end), a block device, or standard output / a FIFO where the format streams (a
 * disk that patches is then rehearsed first: @imgkit/disk's rehearsal.ts).
 */
import * as nodePath from 'node:path';
import { Option, type Command } from 'commander';
import { withSink } from '@imgkit/core';
import { layoutImageNeeds, planLayoutFile, writeLayoutImage, type ComposeOptions, type LayoutImageResult, type LayoutPlan } from '@imgkit/disk';
import type { OutputFormat } from '@imgkit/vdisk';
import { nodeLayoutFiles } from '@imgkit/disk/node';
import { readFile } from 'node:fs/promises';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { UsageError, addWorkersOption, checkOutput, epochFromEnv, formatBytes, openPool, openSink, printWarning, runCommand, type CliContext } from '../common.js';
import { parseImageOptions } from './convert.js';

interface DiskFlags {
  workers: number;
  strict?: boolean;
  verbose?: boolean;
  format?: string;
  o: string[];
  c?: boolean;
  vhdSizeAlign?: 'sector' | 'mib';
}

/** --format names, qemu-img's included (`vpc` is VHD). */
const FORMAT_NAMES: Record<string, OutputFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', ova: 'ova', vpc: 'vhd', vhd: 'vhd', vhdx: 'vhdx' };
/** Without --format, the output's extension names the format (a .qcow2 file of raw bytes helps nobody); anything else is raw. */
const EXTENSIONS: Record<string, OutputFormat> = { '.qcow2': 'qcow2', '.vmdk': 'vmdk', '.ova': 'ova', '.vhd': 'vhd', '.vpc': 'vhd', '.vhdx': 'vhdx' };

export function diskOutputFormat(out: string, given: string | undefined): OutputFormat {
  if (given !== undefined) return FORMAT_NAMES[given]!;
  return out === '-' ? 'raw' : (EXTENSIONS[nodePath.extname(out).toLowerCase()] ?? 'raw');
}

/** The layout as a table, for -v. */
function describeLayout(r: LayoutImageResult, plan: LayoutPlan): string {
  const l = r.layout;
  const lines = [`imgkit: ${l.table.toUpperCase()} disk, ${l.sizeBytes} bytes (${formatBytes(l.sizeBytes)}), ${l.sectorSize}-byte sectors${l.diskGuid ? `, disk GUID ${l.diskGuid}` : `, signature 0x${l.diskSignature.toString(16).padStart(8, '0')}`}`];
  for (const p of r.partitions) {
    const q = l.partitions[p.index]!;
    const type = q.typeGuid ?? `0x${(q.mbrType ?? 0).toString(16).padStart(2, '0')}`;
    lines.push(`imgkit:   ${String(p.number).padStart(2)}  sectors ${q.startLba}–${q.endLba}  ${formatBytes(p.sizeBytes).padStart(10)}  ${type}  ${p.label || '-'}  ${p.content}${p.content !== 'none' ? ` (${p.contentBytes} bytes)` : ''}`);
  }
  const data = r.allocated.reduce((s, x) => s + x.length, 0);
  lines.push(`imgkit:   ${r.allocated.length} written ranges, ${data} bytes of data; the rest is ${r.format === 'raw' ? 'holes' : 'unallocated'}`);
  if (r.rehearsed.length > 0) {
    const names = r.rehearsed.map((i) => (plan.spec.partitions[i]?.label ? `"${plan.spec.partitions[i]!.label}"` : `partition ${i + 1}`));
    lines.push(`imgkit:   rehearsed before writing (${r.format === 'raw' ? 'the output cannot seek back' : `the ${r.format} container takes the disk in order`}${r.allocationMap ? ' and needs the allocation map first' : ''}): ${names.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('disk')
    .description('write a partitioned disk image (GPT, MBR, hybrid) from a layout file (YAML or JSON)')
    .argument('<layout>', 'layout file (.yaml, .yml or .json); the paths in it are relative to it')
    .argument('<out>', "output image file, block device, or '-' for standard output where the format streams")
    .addOption(new Option('-O, --format <format>', 'image format (default: from the extension of <out>: .qcow2 .vmdk .vhd .vhdx .ova; otherwise raw)').choices(Object.keys(FORMAT_NAMES)))
    .addOption(new Option('-o <options>', 'format options as imgkit convert takes them, key=value[,key=value…] (repeatable)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]).default([]))
    .option('-c', 'compress (qcow2 clusters)')
    .addOption(new Option('--vhd-size-align <unit>', "VHD: the disk must be a whole MiB ('mib', as Azure requires)").choices(['sector', 'mib']))
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
      'Formats (-O/--format; -o and -c as imgkit convert takes them, see imgkit convert --help):',
      '  raw (sparse), qcow2, vmdk (streamOptimized; -o subformat=monolithicSparse), vhd or vpc',
      '  (dynamic; -o subformat=fixed), vhdx, ova. No raw temporary file is written. Standard output',
      '  and FIFOs take raw, vmdk, fixed vhd/vhdx, and qcow2 and dynamic vhd/vhdx (given the',
      '  allocation map from a first pass); compressed qcow2 and ova need a file.',
      'SOURCE_DATE_EPOCH, when set, clamps newer file times and seeds GUIDs, FAT serials and image ids.',
      'Examples:\n  imgkit disk appliance.yaml appliance.img -v',
      '  imgkit disk appliance.yaml appliance.qcow2 -c -o compression_type=zstd',
      '  imgkit disk appliance.yaml azure.vhd -o subformat=fixed --vhd-size-align mib',
      '  imgkit disk appliance.yaml - --format vmdk | ssh host "cat > appliance.vmdk"',
    ].join('\n'),
  );
  cmd.action((layoutPath: string, out: string, flags: DiskFlags) =>
    runCommand(ctx, async () => {
      const format = diskOutputFormat(out, flags.format);
      const image = parseImageOptions(format, flags.o, flags.c === true);
      if (flags.vhdSizeAlign) {
        if (format !== 'vhd') throw new UsageError('--vhd-size-align applies to VHD output (--format vpc)');
        (image.vhd ??= {}).sizeAlign = flags.vhdSizeAlign;
      }
      const needs = layoutImageNeeds(image);
      const what = format === 'raw' ? 'a disk image' : format === 'ova' ? 'an OVA image' : format === 'qcow2' && image.qcow2?.compress ? 'a compressed qcow2 image' : `a ${format.toUpperCase()} image`;
      const epoch = epochFromEnv(ctx);
      if (epoch !== undefined) image.epoch = epoch;
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
        checkOutput(out, { dirs: plan.inputs.filter((i) => i.kind === 'dir').map((i) => i.path), files }, { seekable: needs.seekableOutput, what });
        const sink = await openSink(ctx, out, { seekable: needs.seekableOutput, what });
        const p = plan;
        image.pool = pool;
        const result = await withSink(sink, (s) => writeLayoutImage(p, s, image));
        if (flags.verbose) ctx.stderr.write(describeLayout(result, p));
      } finally {
        await plan?.close();
        await pool.close();
      }
    }),
  );
}
