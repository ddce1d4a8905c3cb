/**
 * Browser pool over module Web Workers: `createBrowserPool({ workers, workerUrl })`. The worker
 * module at `workerUrl` is the application's own bundle entry that calls `startBrowserWorker()`
 * (after importing any modules that `registerTask`); give the xz codec its liblzma.wasm URL there
 * with `setWasmLoader('xz', …)` if the bundler does not place it beside the bundle (zstd's wasm is
 * inlined in its module).
 */
import { createPortPool, inlinePool, handleTaskRequest, ErrorCodes, ImgkitError, type TaskPort, type TaskRequest, type WorkerPool } from '@imgkit/core';

export interface BrowserPoolOptions {
  /** Web Workers; 0 runs inline. */
  workers: number;
  /** URL of the module worker script that calls `startBrowserWorker()`. */
  workerUrl: string | URL;
  /** Jobs outstanding per worker. @default 2 */
  inFlight?: number;
}

export function createBrowserPool(options: BrowserPoolOptions): WorkerPool {
  if (options.workers === 0) return inlinePool();
  const spawn = (i: number): TaskPort => {
    const w = new Worker(options.workerUrl, { type: 'module', name: `imgkit-${i}` });
    return {
      post: (req, transfer) => w.postMessage(req, transfer),
      listen(onReply, fail) {
        w.addEventListener('message', (e) => onReply(e.data));
        // A worker script that is missing (404), not JavaScript, or throws while loading fires an
        // ErrorEvent, often without a message: name the URL.
        w.addEventListener('error', (e) => {
          e.preventDefault(); // handled here: the pool rejects its jobs with E_WORKER
          fail(new Error(e.message || `the worker module ${String(options.workerUrl)} could not be loaded or did not start`));
        });
        w.addEventListener('messageerror', () => fail(new Error('worker message could not be deserialised')));
      },
      terminate: () => w.terminate(),
    };
  };
  const o: { workers: number; inFlight?: number } = { workers: options.workers };
  if (options.inFlight !== undefined) o.inFlight = options.inFlight;
  return createPortPool(spawn, o);
}

/** Call in the worker module: answers the pool's task requests. */
export function startBrowserWorker(): void {
  const scope = globalThis as unknown as {
    addEventListener(t: 'message', f: (e: MessageEvent<TaskRequest>) => void): void;
    postMessage(m: unknown, transfer: Transferable[]): void;
  };
  scope.addEventListener('message', (e) => {
    void handleTaskRequest(e.data).then(({ reply, transfer }) => {
      try {
        scope.postMessage(reply, transfer);
      } catch (err) {
        // e.g. DataCloneError for a task output that cannot be cloned: answer anyway, or the job
        // would never settle and the pool would wait for ever.
        const detail = `task "${e.data.task}" returned a value that cannot be posted back: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
        const error = new ImgkitError(ErrorCodes.WORKER, { format: 'core', field: `pool.task.${e.data.task}`, detail });
        scope.postMessage({ id: e.data.id, ok: false, error: error.toJSON() }, []);
      }
    });
  });
}
