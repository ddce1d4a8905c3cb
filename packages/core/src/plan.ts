/**
 * The contract every format's planning step follows (STYLE.md "Composing images"): composition
 * code — a disk with partitions, an ISO holding an initramfs, the CLI — asks a plan, never a format.
 *
 *     const plan = await planCpio(tree, { compression: 'none' });  // walks metadata, reads no content
 *     plan.sizeBytes          // exact where known before writing, else undefined
 *     plan.minSizeBytes       // what a container must at least give it
 *     plan.needsSeekableSink  // the writer patches bytes it wrote before (writeAt)
 *     plan.codecs             // what a worker pool should preload
 *     await plan.write(subSink(disk, offset, length, 'partition 2'));
 *
 * `writeX(tree, sink, options)` is `planX(tree, options).then((p) => p.write(sink))`. What depends on
 * the options only (seekability, codecs) is also given by a synchronous `xRequirements(options)`,
 * so a command can refuse a pipe and start its workers before the tree is walked.
 */
import type { CodecName } from './codec/types.js';
import type { ByteSink } from './sink.js';

/** What a writer needs from its output and its pool, known from the options alone. */
export interface ImageRequirements {
  /**
   * The writer patches bytes it wrote earlier (`writeAt`: the squashfs superblock, qcow2 tables):
   * standard output, a pipe or a Web stream will not do.
   */
  readonly needsSeekableSink: boolean;
  /** Codecs the writer runs on its pool: what `createNodePool({ preload })` should load. */
  readonly codecs: readonly CodecName[];
}

/** A planned image: everything known before its first byte, and the one way to write it. */
export interface ImagePlan<R = unknown> extends ImageRequirements {
  /**
   * Bytes the image takes, exact, where the plan knows it (an uncompressed cpio archive, a FAT
   * volume, an ISO after layout); undefined where only writing tells (compressed data).
   */
  readonly sizeBytes: number | undefined;
  /**
   * A true lower bound of the image's size (of `sizeBytes`, or of what writing will produce where
   * that is undefined): a container (a partition) smaller than this cannot hold the tree. Where
   * the format could lay the same tree out smaller, it says so: FAT gives the smallest volume that
   * holds the tree even when a larger `size` was asked for (an uncompressed cpio: its `sizeBytes`).
   */
  readonly minSizeBytes: number;
  /**
   * Write the image at the sink's current position (relative to it: the image's offset 0 is
   * `sink.position` at entry) and resolve with the format's result. Does not close the sink. May
   * be called again (each call reads the content again); a content that changed since the plan
   * is E_SOURCE_CHANGED naming it.
   */
  write(sink: ByteSink): Promise<R>;
}
