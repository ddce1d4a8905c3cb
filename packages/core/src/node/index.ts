export * from './fs-source.js';
export * from './file-sink.js';
export * from './output-target.js';
export * from './host-files.js';
export * from './reader.js';
export { createNodePool } from './pool.js';
export type { NodePoolOptions } from './pool.js';
export { registerNodeCodecs, nodeZlibEngine } from './codecs.js';
export * from './spool.js';
