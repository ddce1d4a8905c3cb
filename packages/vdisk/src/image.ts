/**
 * One entry per operation over every format: open an image for reading (`openImage`, detecting
 * the format), check it (`checkImage`), write a source in any format (`writeImage`) and build a
 * container sink (`containerSink`) — what `imgkit convert`, `imgkit check` and the disk composer
 * (`imgkit disk --format`) call.
 */
import type { ByteSink, RandomAccessReader, WorkerPool } from '@imgkit/core';
import { badOption } from './errors.js';
import { detectFormat, type ImageFormat } from './detect.js';
import type { CheckReport } from './check-report.js';
import { PassthroughSink } from './passthrough.js';
import { pipeSource, rawSource, SECTOR_SIZE, type ByteRange, type RangeSource } from './range-source.js';
import { openQcow2 } from './qcow2/reader.js';
import { checkQcow2 } from './qcow2/check.js';
import { qcow2NeedsSeekable, qcow2Sink, writeQcow2, type Qcow2Options } from './qcow2/writer.js';
import { openVmdk } from './vmdk/reader.js';
import { checkVmdk } from './vmdk/check.js';
import { vmdkNeedsSeekable, vmdkSink, writeVmdk, type VmdkOptions } from './vmdk/writer.js';
import { openVhd } from './vhd/reader.js';
import { checkVhd } from './vhd/check.js';
import { vhdNeedsSeekable, vhdSink, writeVhd, type VhdOptions } from './vhd/writer.js';
import { openVhdx } from './vhdx/reader.js';
import { checkVhdx } from './vhdx/check.js';
import { vhdxNeedsSeekable, vhdxSink, writeVhdx, type VhdxOptions } from './vhdx/writer.js';
import { ovaSink, writeOva, type OvaOptions } from './ova/writer.js';

export type OutputFormat = 'raw' | 'qcow2' | 'vmdk' | 'ova' | 'vhd' | 'vhdx';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['raw', 'qcow2', 'vmdk', 'ova', 'vhd', 'vhdx'];

export interface OpenImageOptions {
  /** The input's format; detected from its magic numbers when absent. 'raw' forces a raw read. */
  format?: ImageFormat;
  /** Name for messages. */
  path?: string;
  /** Raw inputs: whether the file has allocated blocks (stat.blocks > 0). */
  hasData?: boolean;
}

/** Open an image of any supported format as a RangeSource. */
export async function openImage(reader: RandomAccessReader, o: OpenImageOptions = {}): Promise<RangeSource> {
  const format = o.format ?? (await detectFormat(reader));
  switch (format) {
    case 'raw': {
      const ro: Parameters<typeof rawSource>[1] = { force: true };
      if (o.path !== undefined) ro.path = o.path;
      if (o.hasData !== undefined) ro.hasData = o.hasData;
      return rawSource(reader, ro);
    }
    case 'qcow2':
      return openQcow2(reader);
    case 'vmdk':
      return openVmdk(reader);
    case 'vhd':
      return openVhd(reader);
    case 'vhdx':
      return openVhdx(reader);
    default:
      throw badOption('vdisk', 'format', `unknown input format "${String(format)}"`, 'use raw, qcow2, vmdk, vhd or vhdx');
  }
}

/** Check an image (format detected); a raw image has nothing to check. */
export async function checkImage(reader: RandomAccessReader, format?: ImageFormat): Promise<CheckReport> {
  const f = format ?? (await detectFormat(reader));
  switch (f) {
    case 'qcow2':
      return checkQcow2(reader);
    case 'vmdk':
      return checkVmdk(reader);
    case 'vhd':
      return checkVhd(reader);
    case 'vhdx':
      return checkVhdx(reader);
    default:
      return { format: 'raw', errors: [], leaks: [], incomplete: 'a raw image has no structure to check', info: { imageEndOffset: reader.size } };
  }
}

/** Options of every output format; each format reads its own. */
export interface ImageOptions {
  format: OutputFormat;
  qcow2?: Omit<Qcow2Options, 'virtualSize' | 'pool' | 'allocation'>;
  vmdk?: Omit<VmdkOptions, 'virtualSize' | 'pool' | 'allocation'>;
  vhd?: Omit<VhdOptions, 'virtualSize' | 'allocation'>;
  vhdx?: Omit<VhdxOptions, 'virtualSize' | 'allocation'>;
  ova?: Omit<OvaOptions, 'virtualSize' | 'pool'>;
  /** Seconds since 1970 for ids and times (each format's `epoch` unless set there). */
  epoch?: number;
  pool?: WorkerPool;
}

/** Whether `format` with these options can only be written to a seekable output. */
export function imageNeedsSeekable(o: ImageOptions, allocationKnown = false): boolean {
  switch (o.format) {
    case 'raw':
      return false;
    case 'qcow2':
      return o.qcow2?.compress === true || (!allocationKnown && qcow2NeedsSeekable({}));
    case 'vmdk':
      return !allocationKnown && vmdkNeedsSeekable({ subformat: o.vmdk?.subformat ?? 'streamOptimized' });
    case 'vhd':
      return !allocationKnown && vhdNeedsSeekable({ subformat: o.vhd?.subformat ?? 'dynamic' });
    case 'vhdx':
      return !allocationKnown && vhdxNeedsSeekable({ subformat: o.vhdx?.subformat ?? 'dynamic' });
    case 'ova':
      return true;
  }
}

const withEpoch = <T extends { epoch?: number }>(x: T | undefined, epoch: number | undefined): T => ({ ...(epoch !== undefined ? { epoch } : {}), ...(x ?? ({} as T)) });

/**
 * A container sink for the disk composer: `virtualSize` bytes written in order become an image
 * of `o.format`. `allocation` (the ranges the composer writes) lets table-first formats stream to
 * a pipe.
 */
export function containerSink(out: ByteSink, virtualSize: number, o: ImageOptions, allocation?: readonly ByteRange[]): ByteSink {
  const pool = o.pool ? { pool: o.pool } : {};
  const alloc = allocation ? { allocation } : {};
  switch (o.format) {
    case 'raw':
      return new PassthroughSink(out, { format: 'raw', diskSize: virtualSize, ownsOut: true });
    case 'qcow2':
      return qcow2Sink(out, { ...o.qcow2, ...pool, ...(o.qcow2?.compress ? {} : alloc), virtualSize });
    case 'vmdk':
      return vmdkSink(out, { ...withEpoch(o.vmdk, o.epoch), ...pool, ...(o.vmdk?.subformat === 'monolithicSparse' ? alloc : {}), virtualSize: Math.ceil(virtualSize / SECTOR_SIZE) * SECTOR_SIZE });
    case 'vhd':
      return vhdSink(out, { ...withEpoch(o.vhd, o.epoch), ...((o.vhd?.subformat ?? 'dynamic') === 'dynamic' ? alloc : {}), virtualSize });
    case 'vhdx':
      return vhdxSink(out, { ...withEpoch(o.vhdx, o.epoch), ...((o.vhdx?.subformat ?? 'dynamic') === 'dynamic' ? alloc : {}), virtualSize });
    case 'ova':
      return ovaSink(out, { ...withEpoch(o.ova, o.epoch), ...pool, virtualSize });
    default:
      throw badOption('vdisk', 'format', `unknown output format "${String(o.format)}"`, `use ${OUTPUT_FORMATS.join(', ')}`);
  }
}

/** Write `source` as an image of `o.format` to `out` (not closed: the caller's withSink does). */
export async function writeImage(source: RangeSource, out: ByteSink, o: ImageOptions): Promise<void> {
  const pool = o.pool ? { pool: o.pool } : {};
  switch (o.format) {
    case 'raw': {
      const sink = new PassthroughSink(out, { format: 'raw', diskSize: source.virtualSize, ownsOut: false });
      await pipeSource(source, sink);
      await sink.close();
      return;
    }
    case 'qcow2':
      return writeQcow2(source, out, { ...o.qcow2, ...pool });
    case 'vmdk':
      return writeVmdk(source, out, { ...withEpoch(o.vmdk, o.epoch), ...pool });
    case 'vhd':
      return writeVhd(source, out, withEpoch(o.vhd, o.epoch));
    case 'vhdx':
      return writeVhdx(source, out, withEpoch(o.vhdx, o.epoch));
    case 'ova':
      return writeOva(source, out, { ...withEpoch(o.ova, o.epoch), ...pool });
    default:
      throw badOption('vdisk', 'format', `unknown output format "${String(o.format)}"`, `use ${OUTPUT_FORMATS.join(', ')}`);
  }
}
