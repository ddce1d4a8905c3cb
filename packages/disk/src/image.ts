/**
 * A layout written straight into a VM disk image — qcow2, VMDK, VHD, VHDX, OVA (@imgkit/vdisk's
 * container sinks) — or raw, with no raw temporary file: the composer streams the virtual disk
 * into the container sink, which keeps only the blocks holding data.
 *
 *     const plan = await planLayoutFile(text, 'layout.yaml', { files, epoch, pool });
 *     await withSink(await fileSink('disk.qcow2'), (out) => writeLayoutImage(plan, out, { format: 'qcow2', pool }));
 *
 * What it does (the same composition by hand: `plan.prepare()`, then
 * `plan.write(containerSink(out, prepared.sizeBytes, o, prepared.allocation))`):
 * - container sinks take the disk strictly in order, so a plan that patches (squashfs, sizes only
 *   writing tells) is rehearsed first (rehearsal.ts): squashfs is held in memory from the
 *   rehearsal up to `rehearsalMemoryBytes`, compressed again past it; no temporary file. The
 *   rehearsal also gives the final size, the container's virtual size.
 * - a table-first container (uncompressed qcow2, dynamic VHD and VHDX, monolithicSparse VMDK) on
 *   an output that cannot seek back (a pipe) needs the allocation map before its first byte:
 *   every content is then rehearsed, and the map is the composer's exact one. On a seekable
 *   output the containers patch their own tables and need no map. Compressed qcow2 and OVA need a
 *   seekable output (E_SINK_UNSUPPORTED before any work).
 * - `out` is borrowed: it is not closed (the caller's withSink does that).
 */
import { ErrorCodes, ImgkitError, writeZeros, type ByteSink } from '@imgkit/core';
import { containerSink, imageNeedsSeekable, type ImageOptions, type OutputFormat } from '@imgkit/vdisk';
import type { DiskResult, LayoutPlan } from './compose.js';

const MiB = 1 << 20;

export interface LayoutImageResult extends DiskResult {
  format: OutputFormat;
  /** Indexes of the layout's partitions whose contents were rehearsed before writing. */
  rehearsed: number[];
  /** Whether the container was given the allocation map up front (a table-first layout on a pipe). */
  allocationMap: boolean;
}

/** A sink over `out` that leaves closing and aborting `out` to its owner. */
function borrowed(out: ByteSink): ByteSink {
  return {
    get position() {
      return out.position;
    },
    get seekable() {
      return out.seekable;
    },
    write: (chunk) => out.write(chunk),
    writeAt: (offset, chunk) => out.writeAt(offset, chunk),
    writeZeros: (length) => writeZeros(out, length),
    expectSize: async (end) => out.expectSize?.(end),
    close: async () => {},
    abort: async () => {},
  };
}

/** Whether `o` can be written to an output that cannot seek back, and whether it then needs an allocation map. */
export function layoutImageNeeds(o: ImageOptions): { seekableOutput: boolean; mapOnStream: boolean } {
  return { seekableOutput: imageNeedsSeekable(o, true), mapOnStream: imageNeedsSeekable(o, false) && !imageNeedsSeekable(o, true) };
}

/** Write the layout as an image of `o.format` at `out`'s position (see the top of this file). */
export async function writeLayoutImage(plan: LayoutPlan, out: ByteSink, o: ImageOptions): Promise<LayoutImageResult> {
  const needs = layoutImageNeeds(o);
  if (!out.seekable && needs.seekableOutput) {
    const why = o.format === 'ova' ? 'an OVA carries the VMDK size in its tar header and OVF, known only at its end' : 'compressed cluster sizes are known only once compressed, after the tables that point to them';
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'disk', field: 'format', detail: `${o.format === 'ova' ? 'an OVA' : 'a compressed qcow2'} needs a seekable output: ${why}`, hint: 'write to a file' });
  }
  const mapNeeded = !out.seekable && needs.mapOnStream;
  // A seekable raw output takes the table patched last and needs no rehearsal.
  const prepared = o.format === 'raw' && out.seekable ? undefined : await plan.prepare({ allocation: mapNeeded });
  if (o.format === 'raw') {
    const r = await plan.write(out);
    return { ...r, format: 'raw', rehearsed: prepared?.rehearsed ?? [], allocationMap: false };
  }
  const size = prepared!.sizeBytes;
  const sectorSize = prepared!.layout.sectorSize;
  const options: ImageOptions = { ...o };
  if (options.epoch === undefined && plan.epoch !== undefined) options.epoch = plan.epoch;
  if (o.format === 'vhd' && o.vhd?.sizeAlign === 'mib' && size % MiB !== 0) {
    // Rounding the VHD up would leave the backup GPT short of the disk's last sector.
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'disk', field: 'size', detail: `the disk is ${size} bytes, not a whole number of MiB, and the VHD may not be rounded up under the partition table`, hint: `give the layout a size in whole MiB (size: ${Math.ceil(size / MiB)}M)` });
  }
  if (o.format === 'vhdx') {
    // VHDX states the logical sector size the guest sees: it must be the layout's.
    const given = o.vhdx?.logicalSectorSize;
    if (given !== undefined && given !== sectorSize) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'disk', field: 'logical_sector_size', detail: `the layout has ${sectorSize}-byte sectors and the VHDX would show ${given}-byte sectors: the guest would not find the partition table`, hint: `leave logical_sector_size out, or set it to ${sectorSize}` });
    }
    if (given === undefined && sectorSize !== 512) options.vhdx = { ...o.vhdx, logicalSectorSize: sectorSize };
  }
  const sink = containerSink(borrowed(out), size, options, mapNeeded ? prepared!.allocation : undefined);
  let r: DiskResult;
  try {
    r = await plan.write(sink);
    await sink.close();
  } catch (err) {
    try {
      await sink.abort?.(err);
    } catch {
      /* keep the first error */
    }
    throw err;
  }
  return { ...r, format: o.format, rehearsed: prepared!.rehearsed, allocationMap: mapNeeded };
}
