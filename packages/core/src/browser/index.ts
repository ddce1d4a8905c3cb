export {};
export * from './lightning-source.js';
export * from './file-source.js';
export { createBrowserPool, startBrowserWorker } from './pool.js';
export type { BrowserPoolOptions } from './pool.js';
export * from './io.js';
