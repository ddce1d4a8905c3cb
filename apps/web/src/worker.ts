/**
 * The Web Worker module of the page's compression pool (bundled as worker.js beside page.js).
 * Importing @imgkit/core/browser brings core's task registry ('compress', 'stream-chunk'); zstd's
 * wasm is inline in the bundle, xz finds liblzma.wasm beside this file (`new URL(…, import.meta.url)`).
 */
import { startBrowserWorker } from '@imgkit/core/browser';

startBrowserWorker();
