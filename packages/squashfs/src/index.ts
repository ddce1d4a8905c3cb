export { writeSquashfs, planSquashfs, squashfsRequirements, resolveOptions } from './writer.js';
export type { SquashfsOptions, SquashfsResult, SquashfsPlan } from './writer.js';
export type { SquashfsCompression } from './compressor.js';
export { SQUASHFS_LEVELS } from './compressor.js';
export { Superblock, SQUASHFS_MAGIC, SUPERBLOCK_FLAGS, COMPRESSION_ID } from './superblock.js';
