export * from './errors.js';
export * from './struct.js';
export * from './bytes.js';
export * from './hash.js';
export * from './source.js';
export * from './sink.js';
export * from './time.js';
export * from './codec/types.js';
export * from './pool-types.js';
export * from './random-access.js';
export * from './manifest.js';
export * from './tar-source.js';
export * from './names.js';
export { loadCodec, registerCodecProvider, setWasmLoader, codecKey, isCodecName } from './codec/registry.js';
export type { CodecFactory, WasmSource } from './codec/registry.js';
export { deflateCodec, pakoEngine, setDeflateEngine, getDeflateEngine } from './codec/deflate.js';
export type { DeflateEngine, DeflateFormat } from './codec/deflate.js';
export {
  lz4CompressBlock,
  lz4DecompressBlock,
  lz4CompressBound,
  xxh32,
  LZ4_LEGACY_MAGIC,
  LZ4_FRAME_MAGIC,
} from './codec/lz4.js';
export { xzPresetDictSize, isXzDictSize } from './codec/xz.js';
export { CODEC_LEVELS, XZ_MAX_DICT_SIZE, XZ_PRESET_LEVELS, checkLevel, codecLevel, formatLevelRange, narrowLevels } from './codec/levels.js';
export type { LevelCheck, LevelRange } from './codec/levels.js';
export { decompressStream, detectCompression } from './codec/decode-stream.js';
export type { StreamCompression, DecompressStreamOptions, DecompressedStream } from './codec/decode-stream.js';
export { compressStream, STREAM_BOUNDARY, ContentFill } from './codec/stream.js';
export type { CompressStreamOptions, StreamInput } from './codec/stream.js';
export { inlinePool, createPortPool } from './pool.js';
export type { TaskPort, PortPoolOptions } from './pool.js';
export { registerTask, runTask, hasTask, handleTaskRequest } from './worker-tasks.js';
export type { TaskHandler, TaskRequest, TaskReply, CompressJob, CompressResult } from './worker-tasks.js';
export * from './read-ahead.js';
export * from './tree-check.js';
export * from './plan.js';
export * from './spool.js';
export * from './nest.js';
