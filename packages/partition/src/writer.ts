/**
 * Writing a partitioned disk through a ByteSink, strictly in offset order so that any sink works,
 * standard output included:
 *
 *   protective/hybrid MBR · primary GPT · [partition 1 content] · [EBR] · [partition …] · backup GPT
 *
 * Gaps and partitions without content go out as `writeZeros`, which the file sink turns into holes,
 * so an empty 64 GiB disk costs a few blocks. A partition's content is anything with
 * `write(sink)` — a format plan (`planFat(…)`, `planSquashfs(…)`) or a function — and is handed a
 * `subSink` window over exactly that partition: a write past its end is E_NO_SPACE naming it, and
 * whatever it leaves unwritten is padded with zeros. Everything is relative to `sink.position` at
 * entry, so a disk can itself be written inside another image.
 */
import { ErrorCodes, ImgkitError, subSink, writeZeros, type ByteSink } from '@imgkit/core';
import { planPartitionTable, type DiskLayout, type PartitionTableSpec, type ResolvedPartition } from './layout.js';

/** Content for one partition: a plan from another format, or a function writing into the window. */
export type PartitionContent = { write(sink: ByteSink): Promise<unknown> } | ((sink: ByteSink) => Promise<unknown>);

export interface WriteDiskOptions {
  /**
   * Content per partition, in the order of `spec.partitions` (the same index as
   * `ResolvedPartition.index`; numbers can repeat in a hybrid table with MBR-only entries).
   * `undefined` leaves a partition zero. @default none: every partition is zeros
   */
  contents?: readonly (PartitionContent | undefined | null)[];
}

function partitionLabel(p: ResolvedPartition): string {
  return p.name ? `partition ${p.number} ("${p.name}")` : `partition ${p.number}`;
}

/** Write the whole disk: table regions, partition contents and zeros, in offset order. */
export async function writeDisk(sink: ByteSink, layout: DiskLayout, options: WriteDiskOptions = {}): Promise<void> {
  const base = sink.position;
  type Item = { offset: number; end: number; region?: Uint8Array; what: string; part?: ResolvedPartition; content?: PartitionContent };
  const items: Item[] = layout.regions.map((r) => ({ offset: r.offset, end: r.offset + r.bytes.byteLength, region: r.bytes, what: r.what }));
  const contents = options.contents ?? [];
  if (contents.length > layout.partitions.length) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'partition',
      field: `contents[${layout.partitions.length}]`,
      detail: `${contents.length} contents for ${layout.partitions.length} partitions`,
    });
  }
  contents.forEach((content, index) => {
    if (!content) return;
    const part = layout.partitions[index]!;
    items.push({ offset: part.offset, end: part.offset + part.sizeBytes, what: partitionLabel(part), part, content });
  });
  items.sort((a, b) => a.offset - b.offset || (a.region ? -1 : 1));
  let end = 0;
  let prev = '';
  for (const it of items) {
    if (it.offset < end) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, {
        format: 'partition',
        field: it.part ? `contents[${it.part.index}]` : 'regions',
        detail: `${it.what} at byte ${it.offset} overlaps ${prev}, which ends at byte ${end}; a sequential write cannot go back`,
        hint: 'write the content of an overlapping partition through partitionSink() on a seekable sink afterwards',
      });
    }
    await writeZeros(sink, base + it.offset - sink.position);
    if (it.region) await sink.write(it.region);
    else {
      const p = it.part!;
      const window = subSink(sink, base + p.offset, p.sizeBytes, partitionLabel(p));
      const c = it.content!;
      await (typeof c === 'function' ? c(window) : c.write(window));
      const at = base + p.offset + window.position;
      if (sink.position !== at) {
        throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
          format: 'partition',
          field: `contents[${p.index}]`,
          detail: `the content of ${partitionLabel(p)} left the disk at byte ${sink.position - base}, not at its own end ${at - base}`,
        });
      }
      await window.finish(); // zeros (holes) to the partition's end
    }
    end = it.end;
    prev = it.what;
  }
  await writeZeros(sink, base + layout.sizeBytes - sink.position);
}

/**
 * A window over one partition (by its index in `spec.partitions`) of a disk already written, or
 * being written, to a seekable sink, for content written out of order. `base` is where the disk
 * starts in the sink.
 */
export function partitionSink(sink: ByteSink, layout: DiskLayout, index: number, base = 0): ByteSink {
  const p = layout.partitions[index];
  if (!p) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'partition', detail: `there is no partitions[${index}]; the layout has ${layout.partitions.length}` });
  return subSink(sink, base + p.offset, p.sizeBytes, partitionLabel(p));
}

/** A disk as a plan, the way composition code sees every format (STYLE.md "Composing images"). */
export interface DiskPlan {
  layout: DiskLayout;
  /** Exact: known before anything is written. */
  sizeBytes: number;
  minSizeBytes: number;
  /** The table is written in order; contents decide for themselves. */
  needsSeekableSink: false;
  /** The partition with this name, or this index in `spec.partitions`. */
  partition(nameOrIndex: string | number): ResolvedPartition;
  write(sink: ByteSink, options?: WriteDiskOptions): Promise<void>;
}

/** Solve the layout (pure) and return a plan whose `write` writes the disk. */
export function planDisk(spec: PartitionTableSpec): DiskPlan {
  const layout = planPartitionTable(spec);
  return {
    layout,
    sizeBytes: layout.sizeBytes,
    minSizeBytes: layout.sizeBytes,
    needsSeekableSink: false,
    partition(key) {
      const p = typeof key === 'number' ? layout.partitions[key] : layout.partitions.find((x) => x.name === key);
      if (!p) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'partition', detail: `there is no partition ${JSON.stringify(key)}` });
      return p;
    },
    write: (sink, options) => writeDisk(sink, layout, options),
  };
}

/** Write the table regions only, each with `writeAt`, onto a seekable sink that already holds the disk. */
export async function writePartitionTable(sink: ByteSink, layout: DiskLayout, base = 0): Promise<void> {
  if (!sink.seekable) {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'partition', detail: 'patching a table into an existing disk needs a seekable sink', hint: 'use writeDisk to write the whole disk in order' });
  }
  if (sink.position < base + layout.sizeBytes) await writeZeros(sink, base + layout.sizeBytes - sink.position);
  for (const r of layout.regions) await sink.writeAt(base + r.offset, r.bytes);
}
