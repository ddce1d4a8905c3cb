export { writeSquashfs, planSquashfs, squashfsRequirements, resolveOptions } from './writer.js';
export type { SquashfsOptions, SquashfsResult, SquashfsPlan } from './writer.js';
export type { SquashfsCompression } from './compressor.js';
export { SQUASHFS_LEVELS } from './compressor.js';
export { Superblock, SQUASHFS_MAGIC, SUPERBLOCK_FLAGS, COMPRESSION_ID } from './superblock.js';
export { SQUASHFS_INVALID_BLK, SQUASHFS_MAJOR, SQUASHFS_MINOR } from './superblock.js';
export { GzipOptions, XzOptions, Lz4Options, ZstdOptions } from './compressor.js';
export { DirHeader, DirEntry } from './directory.js';
export { METADATA_SIZE, METADATA_UNCOMPRESSED } from './metadata.js';
