/**
 * `imgkit convert <in> <out> -O fmt`: a disk image (raw, qcow2, VMDK, VHD, VHDX; detected) → a
 * disk image (raw, qcow2, VMDK, OVA, VHD, VHDX), with `qemu-img convert`'s spellings: -f, -O, -o
 * key=value,… (cluster_size, compat, compression_type, subformat, adapter_type, hwversion,
 * block_size, force_size, …), -c. `vpc` is accepted for VHD as qemu names it.
 */
import { statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { ErrorCodes, ImgkitError, withSink } from '@imgkit/core';
import { nodeFileReader } from '@imgkit/core/node';
import {
  SECTOR_SIZE,
  detectFormat,
  imageNeedsSeekable,
  openImage,
  setZeroDetector,
  writeImage,
  type ImageFormat,
  type ImageOptions,
  type OutputFormat,
  type RangeSource,
} from '@imgkit/vdisk';
import { addWorkersOption, epochFromEnv, openPool, openSink, runCommand, UsageError, type CliContext } from '../common.js';

interface ConvertFlags {
  f?: string;
  O: string;
  o: string[];
  c?: boolean;
  workers: number;
  vhdSizeAlign?: 'sector' | 'mib';
  p?: boolean;
  q?: boolean;
}

const INPUT_FORMATS: Record<string, ImageFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vpc: 'vhd', vhd: 'vhd', vhdx: 'vhdx' };
const OUTPUT_NAMES: Record<string, OutputFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', ova: 'ova', vpc: 'vhd', vhd: 'vhd', vhdx: 'vhdx' };

const ZEROS = Buffer.alloc(1 << 20);
/** Node's memcmp instead of a JavaScript loop for the all-zero test (8× faster, same answers). */
function nativeIsZero(u: Uint8Array): boolean {
  for (let at = 0; at < u.byteLength; at += ZEROS.byteLength) {
    const n = Math.min(ZEROS.byteLength, u.byteLength - at);
    if (!Buffer.from(u.buffer, u.byteOffset + at, n).equals(n === ZEROS.byteLength ? ZEROS : ZEROS.subarray(0, n))) return false;
  }
  return true;
}

const CHUNK = 4 << 20;
/**
 * A raw disk file as a RangeSource, read in 4 MiB chunks with three reads in flight into recycled
 * buffers (a chunk is reused once the writer asks for the next, by which time it is done with it).
 * A file without allocated blocks is known to be zeros without reading it.
 */
async function nodeRawSource(path: string, size: number, hasData: boolean): Promise<RangeSource & { close(): Promise<void> }> {
  const fh = await openFile(path, 'r');
  return {
    virtualSize: Math.ceil(size / SECTOR_SIZE) * SECTOR_SIZE,
    format: 'raw',
    async *ranges() {
      if (size > 0 && hasData) yield { offset: 0, length: size };
    },
    async *read(offset: number, length: number) {
      const free: Buffer[] = [];
      const inFlight: Promise<{ buf: Buffer; n: number }>[] = [];
      let requested = 0;
      let last: Buffer | undefined;
      const request = () => {
        while (inFlight.length < 3 && requested < length) {
          const want = Math.min(CHUNK, length - requested);
          const buf = free.pop() ?? Buffer.allocUnsafe(CHUNK);
          const p = fh.read(buf, 0, want, offset + requested).then((r) => ({ buf, n: r.bytesRead }));
          p.catch(() => {});
          inFlight.push(p);
          requested += want;
        }
      };
      request();
      while (inFlight.length > 0) {
        const { buf, n } = await inFlight.shift()!;
        if (last) free.push(last);
        last = buf;
        request();
        if (n === 0) return;
        yield buf.subarray(0, n);
      }
    },
    close: () => fh.close(),
  };
}

/** "65536", "64k", "64K", "2M", "1G" (powers of 1024, as qemu-img reads sizes). */
export function parseSize(value: string, key: string): number {
  const m = /^(\d+)([kKmMgGtT]?)[bB]?$/.exec(value);
  if (!m) throw new UsageError(`-o ${key}=${value}: not a size (e.g. 65536, 64k, 2M)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * mult;
}

function onOff(value: string, key: string): boolean {
  if (['on', 'true', 'yes', ''].includes(value)) return true;
  if (['off', 'false', 'no'].includes(value)) return false;
  throw new UsageError(`-o ${key}=${value}: expected on or off`);
}

/** -o key=value,key=value (repeatable) → ImageOptions for `format`. Unknown keys are usage errors naming the known ones. */
export function parseImageOptions(format: OutputFormat, raw: readonly string[], compress: boolean): ImageOptions {
  const o: ImageOptions = { format };
  const pairs = raw.flatMap((s) => s.split(',')).filter((s) => s !== '').map((kv) => {
    const i = kv.indexOf('=');
    return i < 0 ? ([kv, ''] as const) : ([kv.slice(0, i), kv.slice(i + 1)] as const);
  });
  const known: Record<OutputFormat, string[]> = {
    qcow2: ['cluster_size', 'compat', 'compression_type', 'refcount_bits', 'preallocation', 'lazy_refcounts'],
    vmdk: ['subformat', 'adapter_type', 'hwversion'],
    vhd: ['subformat', 'force_size', 'block_size'],
    vhdx: ['subformat', 'block_size', 'log_size', 'block_state_zero', 'logical_sector_size', 'physical_sector_size'],
    ova: ['name', 'cpus', 'memory', 'firmware', 'controller', 'hwversion', 'network'],
    raw: [],
  };
  const int = (v: string, key: string): number => {
    if (!/^\d+$/.test(v)) throw new UsageError(`-o ${key}=${v}: not a whole number`);
    return Number(v);
  };
  for (const [key, value] of pairs) {
    if (!known[format].includes(key)) {
      throw new UsageError(`-o ${key}: not an option of ${format} output${known[format].length ? ` (known: ${known[format].join(', ')})` : ''}`);
    }
    switch (format) {
      case 'qcow2': {
        const q = (o.qcow2 ??= {});
        if (key === 'cluster_size') q.clusterSize = parseSize(value, key);
        else if (key === 'compat') {
          if (value !== '1.1' && value !== '0.10' && value !== 'v3' && value !== 'v2') throw new UsageError(`-o compat=${value}: use 1.1 or 0.10`);
          q.compat = value === '1.1' || value === 'v3' ? '1.1' : '0.10';
        } else if (key === 'compression_type') {
          if (value !== 'zlib' && value !== 'zstd') throw new UsageError(`-o compression_type=${value}: use zlib or zstd`);
          q.compressionType = value;
        } else if (key === 'refcount_bits' && value !== '16') throw new UsageError('-o refcount_bits: imgkit writes 16-bit refcounts (refcount_bits=16)');
        else if (key === 'preallocation' && value !== 'off') throw new UsageError('-o preallocation: only off (images are sparse)');
        else if (key === 'lazy_refcounts' && onOff(value, key)) throw new UsageError('-o lazy_refcounts: only off (refcounts are exact)');
        break;
      }
      case 'vmdk': {
        const v = (o.vmdk ??= {});
        if (key === 'subformat') {
          if (value !== 'streamOptimized' && value !== 'monolithicSparse') throw new UsageError(`-o subformat=${value}: use streamOptimized or monolithicSparse`);
          v.subformat = value;
        } else if (key === 'adapter_type') {
          if (!['ide', 'buslogic', 'lsilogic', 'legacyESX'].includes(value)) throw new UsageError(`-o adapter_type=${value}: use ide, buslogic, lsilogic or legacyESX`);
          v.adapterType = value as NonNullable<typeof v.adapterType>;
        } else if (key === 'hwversion') v.hwVersion = int(value, key);
        break;
      }
      case 'vhd': {
        const v = (o.vhd ??= {});
        if (key === 'subformat') {
          if (value !== 'fixed' && value !== 'dynamic') throw new UsageError(`-o subformat=${value}: use fixed or dynamic`);
          v.subformat = value;
        } else if (key === 'block_size') v.blockSize = parseSize(value, key);
        else if (key === 'force_size') onOff(value, key); // the footer's current size is always the disk size
        break;
      }
      case 'vhdx': {
        const v = (o.vhdx ??= {});
        if (key === 'subformat') {
          if (value !== 'fixed' && value !== 'dynamic') throw new UsageError(`-o subformat=${value}: use fixed or dynamic`);
          v.subformat = value;
        } else if (key === 'block_size') v.blockSize = parseSize(value, key);
        else if (key === 'log_size' && parseSize(value, key) !== 1 << 20) throw new UsageError('-o log_size: imgkit writes a 1 MiB empty log');
        else if (key === 'block_state_zero') onOff(value, key);
        else if (key === 'logical_sector_size' || key === 'physical_sector_size') {
          const n = int(value, key);
          if (n !== 512 && n !== 4096) throw new UsageError(`-o ${key}=${value}: use 512 or 4096`);
          if (key === 'logical_sector_size') v.logicalSectorSize = n;
          else v.physicalSectorSize = n;
        }
        break;
      }
      case 'ova': {
        const v = (o.ova ??= {});
        if (key === 'name') v.name = value;
        else if (key === 'cpus') v.cpus = int(value, key);
        else if (key === 'memory') v.memoryMiB = Math.ceil(parseSize(/^\d+$/.test(value) ? `${value}M` : value, key) / (1 << 20));
        else if (key === 'firmware') {
          if (value !== 'efi' && value !== 'bios') throw new UsageError(`-o firmware=${value}: use efi or bios`);
          v.firmware = value;
        } else if (key === 'controller') {
          if (value !== 'sata' && value !== 'scsi') throw new UsageError(`-o controller=${value}: use sata or scsi`);
          v.controller = value;
        } else if (key === 'hwversion') v.hwVersion = int(value, key);
        else if (key === 'network') v.network = value;
        break;
      }
    }
  }
  if (compress) {
    if (format !== 'qcow2') throw new UsageError(`-c compresses qcow2 clusters; ${format === 'vmdk' || format === 'ova' ? 'stream-optimized VMDK grains are always compressed' : `${format} has no compressed form`}`);
    (o.qcow2 ??= {}).compress = true;
  }
  return o;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('convert')
    .description('convert a disk image between raw, qcow2, VMDK, OVA, VHD and VHDX (qemu-img convert options)')
    .argument('<in>', 'input image (format detected: raw, qcow2, vmdk, vhd, vhdx)')
    .argument('<out>', "output image, or '-' for standard output where the format streams")
    .addOption(new Option('-O <format>', 'output format').choices(Object.keys(OUTPUT_NAMES)).makeOptionMandatory())
    .addOption(new Option('-f <format>', 'input format (detected when absent; raw reads any file as a disk)').choices(Object.keys(INPUT_FORMATS)))
    .addOption(new Option('-o <options>', 'format options, key=value[,key=value…] (repeatable)').argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]).default([]))
    .option('-c', 'compress (qcow2 clusters)')
    .addOption(
      new Option('--vhd-size-align <unit>', "VHD: round the disk size up to a whole MiB ('mib', as Azure requires) or sector").choices(['sector', 'mib']),
    )
    .option('-p', 'accepted for qemu-img compatibility (no progress display)')
    .option('-q', 'accepted for qemu-img compatibility (imgkit is quiet)');
  addWorkersOption(cmd);
  cmd.addHelpText(
    'after',
    '\nSOURCE_DATE_EPOCH, when set, dates the image and seeds its identifiers (otherwise 0).\nExamples:\n' +
      '  imgkit convert disk.raw disk.qcow2 -O qcow2 -c -o compression_type=zstd\n' +
      '  imgkit convert disk.raw disk.vmdk -O vmdk -o subformat=streamOptimized\n' +
      '  imgkit convert disk.raw azure.vhd -O vpc -o subformat=fixed --vhd-size-align mib\n' +
      '  imgkit convert disk.qcow2 appliance.ova -O ova -o name=appliance,cpus=2,memory=2G,firmware=efi',
  );
  cmd.action((input: string, out: string, flags: ConvertFlags) =>
    runCommand(ctx, async () => {
      const format = OUTPUT_NAMES[flags.O]!;
      const options = parseImageOptions(format, flags.o, flags.c === true);
      const epoch = epochFromEnv(ctx);
      if (epoch !== undefined) options.epoch = epoch;
      if (flags.vhdSizeAlign) {
        if (format !== 'vhd') throw new UsageError('--vhd-size-align applies to VHD output (-O vpc)');
        (options.vhd ??= {}).sizeAlign = flags.vhdSizeAlign;
      }
      if (input === '-') throw new UsageError('the input must be a file: images are read by offset');
      // An image is read twice for a table-first layout on a pipe, so only compression and OVA need a seekable output.
      const seekable = imageNeedsSeekable(options, true);
      const compress = format === 'qcow2' ? options.qcow2?.compress === true : format === 'vmdk' || format === 'ova' ? (options.vmdk?.subformat ?? 'streamOptimized') === 'streamOptimized' : false;
      let stat;
      try {
        stat = statSync(input);
      } catch {
        throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'cli', path: input, detail: 'the input image does not exist' });
      }
      setZeroDetector(nativeIsZero);
      const reader = await nodeFileReader(input);
      let raw: Awaited<ReturnType<typeof nodeRawSource>> | undefined;
      try {
        const inputFormat = flags.f ? INPUT_FORMATS[flags.f]! : await detectFormat(reader);
        let source: RangeSource;
        if (inputFormat === 'raw') source = raw = await nodeRawSource(input, stat.size, stat.blocks > 0);
        else source = await openImage(reader, { format: inputFormat, path: input });
        const codec = format === 'qcow2' ? (options.qcow2?.compressionType === 'zstd' ? 'zstd' : 'deflate-raw') : 'zlib';
        const pool = await openPool(compress ? flags.workers : 0, compress ? codec : undefined);
        options.pool = pool;
        try {
          const sink = await openSink(ctx, out, { seekable, what: `a ${format === 'qcow2' ? 'compressed qcow2' : format.toUpperCase()} image` });
          await withSink(sink, (s) => writeImage(source, s, options));
        } finally {
          await pool.close();
        }
      } finally {
        await raw?.close();
        await reader.close();
      }
    }),
  );
}

