import type { ByteSink, SourceTree } from '@imgkit/core';
import { planExt4, type PlanExt4Options } from './plan.js';
import type { Ext4Result } from './writer.js';

export { planExt4, lostFoundBlocks, type Ext4Plan, type Ext4Node, type PlanExt4Options } from './plan.js';
export { resolveOptions, parseUuid, formatUuid, deterministicUuid, type Ext4Options, type ResolvedExt4Options } from './options.js';
export type { Ext4Progress, Ext4Result } from './writer.js';
export * from './features.js';
export * from './superblock.js';
export * from './group-descriptor.js';
export * from './inode.js';
export * from './extent.js';
export * from './directory.js';
export * from './htree.js';
export * from './xattr.js';
export * from './journal.js';
export * from './bitmap.js';
export { computeGeometry, groupHasSuper, backupGroups, type Geometry, type GeometryInput, type GroupLayout } from './geometry.js';
export { resizeInodeLayout, DIND_BLOCK_INDEX, type ResizeInodeLayout } from './resize-inode.js';
export { fsChecksumSeed, inodeChecksumSeed, crc16 } from './checksum.js';
export { UsedBlocks, type Run } from './allocator.js';

/**
 * Write `source` as an ext4 filesystem to `sink`, starting at its current position (does not close
 * the sink: wrap in `withSink`). Equivalent to `planExt4(source, options).then((p) => p.write(sink))`.
 */
export async function writeExt4(source: SourceTree, sink: ByteSink, options: PlanExt4Options = {}): Promise<Ext4Result> {
  const plan = await planExt4(source, options);
  return plan.write(sink);
}
