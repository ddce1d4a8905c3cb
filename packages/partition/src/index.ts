/**
 * @imgkit/partition: GPT, MBR (with extended and logical partitions) and hybrid MBR partition
 * tables. `planDisk(spec)` / `planPartitionTable(spec)` solve the geometry (pure); `writeDisk(sink,
 * layout, { contents })` writes the disk in offset order. With no contents and a file sink, that is an
 * empty partitioned disk whose partitions are holes:
 *
 *     await withSink(await fileSink('disk.img'), (sink) => planDisk({ table: 'gpt', sizeBytes: '64M', partitions }).write(sink));
 *
 * The low-level encoders (`encodeMbr`, `encodeEbr`, `encodeGpt`, `encodeGptEntry`) serve callers
 * whose partitions are dictated by something else, such as the ISO's hybrid system area.
 */
export * from './guid.js';
export * from './types.js';
export * from './attributes.js';
export * from './mbr.js';
export * from './ebr.js';
export * from './gpt-entry.js';
export * from './gpt-header.js';
export * from './layout.js';
export * from './writer.js';
