/**
 * The plan contract every format follows (STYLE.md "Composing images"): what is known before the
 * first byte, and the one way to write it. These are the names and fields of @imgkit/core's
 * `ImagePlan` (core/src/plan.ts, on its way to main with the seams work); the ISO declares them here
 * until core exports them, so that `IsoPlan` is an `ImagePlan` either way.
 */
import type { ByteSink, CodecName } from '@imgkit/core';

/** What a writer needs from its output and its pool, known from the options alone. */
export interface ImageRequirements {
  /** The writer patches bytes it wrote earlier (`writeAt`): standard output or a pipe will not do. */
  readonly needsSeekableSink: boolean;
  /** Codecs the writer runs on its pool: what a pool should preload. */
  readonly codecs: readonly CodecName[];
}

/** A planned image: everything known before its first byte, and the one way to write it. */
export interface ImagePlan<R = unknown> extends ImageRequirements {
  /** Bytes the image takes, exact, where the plan knows it; undefined where only writing tells. */
  readonly sizeBytes: number | undefined;
  /** A true lower bound of the image's size (equal to `sizeBytes` where that is known). */
  readonly minSizeBytes: number;
  /**
   * Write the image at the sink's current position (its offset 0 is `sink.position` at entry) and
   * resolve with the format's result. Does not close the sink. May be called again.
   */
  write(sink: ByteSink): Promise<R>;
}
