/**
 * VM disk test kit: a sparse raw disk with known data ranges (2 GiB virtual, a few MiB of data),
 * a RangeSource over exactly those ranges (what the disk composer will provide), and qemu-img
 * wrappers (check, compare, info, convert) that fail naming the Debian package when missing.
 */
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withSink, type ByteSink } from '@imgkit/core';
import { fileSink, nodeFileReader } from '@imgkit/core/node';
import { writeImage, type ByteRange, type ImageOptions, type RangeSource } from '@imgkit/vdisk';
import { requireTool, run, type RunResult } from './tools.ts';
import { xorshiftBytes } from './xorshift.ts';

export const QEMU_IMG = (): string => requireTool('qemu-img', 'qemu-utils');

export interface SparseDisk {
  path: string;
  size: number;
  ranges: ByteRange[];
}

const MiB = 1 << 20;

/**
 * A sparse raw disk: random data at 1 MiB (a partition table's place), compressible text, data
 * straddling cluster and 512 MiB (one qcow2 L2 table's reach) boundaries, a lone sector, a run of
 * zeros inside a data range (must read back as zeros, may stay unallocated), and the last sector.
 */
export async function makeSparseDisk(dir: string, size = 2 * 1024 * MiB, name = 'disk.raw'): Promise<SparseDisk> {
  const path = join(dir, name);
  const pieces: { offset: number; bytes: Uint8Array }[] = [
    { offset: 0, bytes: xorshiftBytes(4096, 11, false) },
    { offset: 1 * MiB, bytes: xorshiftBytes(3 * MiB, 12, false) },
    { offset: 64 * MiB, bytes: new TextEncoder().encode('imgkit vdisk '.repeat(200_000)) },
    { offset: 512 * MiB - 70_000, bytes: xorshiftBytes(140_000, 13, true) },
    { offset: 900 * MiB + 123, bytes: xorshiftBytes(1, 14, false).map(() => 0x5a) },
    { offset: 1500 * MiB, bytes: (() => { const b = xorshiftBytes(2 * MiB, 15, true); b.fill(0, 256 * 1024, 1024 * 1024); return b; })() },
    { offset: size - 512, bytes: xorshiftBytes(512, 16, false) },
  ];
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    for (const p of pieces) await fh.write(p.bytes, 0, p.bytes.byteLength, p.offset);
  } finally {
    await fh.close();
  }
  return { path, size, ranges: pieces.map((p) => ({ offset: p.offset, length: p.bytes.byteLength })) };
}

/** A RangeSource reading only `ranges` of a raw file: the composer's view (no holes are read). */
export async function rangeFileSource(disk: SparseDisk): Promise<RangeSource & { close(): Promise<void> }> {
  const reader = await nodeFileReader(disk.path);
  return {
    virtualSize: disk.size,
    format: 'raw',
    async *ranges() {
      yield* disk.ranges;
    },
    async *read(offset: number, length: number) {
      for (let at = 0; at < length; at += 4 * MiB) yield await reader.read(offset + at, Math.min(4 * MiB, length - at));
    },
    close: () => reader.close(),
  };
}

/** Write `disk` as `o.format` to `out` from its exact ranges. */
export async function writeDiskImage(disk: SparseDisk, out: string, o: ImageOptions): Promise<void> {
  const src = await rangeFileSource(disk);
  try {
    await withSink(await fileSink(out), (s: ByteSink) => writeImage(src, s, o));
  } finally {
    await src.close();
  }
}

export function qemuImg(args: readonly string[]): Promise<RunResult> {
  return run(QEMU_IMG(), args, { allowFail: true });
}

export async function qemuInfo(path: string, format?: string): Promise<Record<string, unknown> & { 'virtual-size': number; format: string }> {
  const r = await run(QEMU_IMG(), ['info', '--output=json', ...(format ? ['-f', format] : []), path]);
  return JSON.parse(r.stdout.toString('utf8'));
}

export async function writeBytes(path: string, bytes: Uint8Array): Promise<void> {
  await writeFile(path, bytes);
}
