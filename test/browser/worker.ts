/**
 * The Web Worker module of the browser test's pool (bundled beside page.js by build.ts). The xz
 * codec finds liblzma.wasm beside this bundle (its default: `new URL(…, import.meta.url)`); zstd's
 * wasm is inline.
 *
 * Besides `startBrowserWorker()`, it counts the requests it answers per task and registers a
 * 'worker-stats' task reporting them, so the test can see that both workers compressed blocks, and
 * an 'uncloneable' task for the error-path check.
 */
import { registerTask } from '@imgkit/core';
import { startBrowserWorker } from '@imgkit/core/browser';

const seen: Record<string, number> = {};
addEventListener('message', (e: MessageEvent<{ task?: unknown }>) => {
  const task = String(e.data?.task);
  seen[task] = (seen[task] ?? 0) + 1;
});
// A task whose output cannot be structured-cloned: the worker must still answer (with E_WORKER).
registerTask('uncloneable', () => ({ fn: () => 1 }));
registerTask('worker-stats', () => ({ name: (globalThis as { name?: string }).name ?? '', seen: { ...seen } }));

startBrowserWorker();
