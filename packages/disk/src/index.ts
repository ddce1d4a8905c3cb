/**
 * @imgkit/disk: a declarative layout (YAML or JSON) → a partitioned disk image. The layout names a
 * table (GPT, MBR, hybrid), partitions with sizes, types and contents (a directory or tar archive as
 * FAT or squashfs, an image file, another layout), and raw images at fixed offsets:
 *
 *     const plan = await planLayoutFile(text, 'disk.yaml', { files: nodeLayoutFiles('.'), epoch });
 *     const result = await withSink(await fileSink('disk.img'), (sink) => plan.write(sink));
 *     result.layout.partitions;  // final sectors, GUIDs
 *     result.allocated;          // byte ranges holding data (the rest are holes)
 *
 * Browser-safe: files are reached through `LayoutFiles` (`nodeLayoutFiles` in `@imgkit/disk/node`,
 * `memoryLayoutFiles` here).
 */
export * from './text.js';
export * from './spec.js';
export * from './files.js';
export { excludeMatcher, type ContentPlan, type LayoutInput } from './content.js';
export * from './compose.js';
export { ContentWindow, TrackingSink, type ByteRange } from './window.js';
export { writeLayoutImage, layoutImageNeeds, type LayoutImageResult } from './image.js';
export { HoldingTee, RehearsalSink, ReplaySink, type HeldPiece, type Patch } from './rehearsal.js';
