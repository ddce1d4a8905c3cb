/**
 * Node pool over worker_threads: `createNodePool({ workers, inFlight })`. Workers start on the first
 * job, are unref'd while idle (a forgotten pool never keeps the process alive) and terminated by
 * `close()`. `workers: 0` gives the inline pool.
 */
import { Worker } from 'node:worker_threads';
import { createPortPool, inlinePool, type CodecName, type TaskPort, type WorkerPool } from '@imgkit/core';

export interface NodePoolOptions {
  /** Worker threads; 0 runs inline. */
  workers: number;
  /** Jobs outstanding per worker. @default 2 */
  inFlight?: number;
  /** Extra modules (URLs or specifiers) each worker imports; they may call `registerTask`. @default [] */
  modules?: string[];
  /**
   * Codecs each worker loads as it starts (e.g. ['zstd']: its wasm compiles before the first job).
   * Implies `eager`. @default []
   */
  preload?: CodecName[];
  /** Start the workers now rather than at the first job. @default false (true with `preload`) */
  eager?: boolean;
}

/** Drop `--input-type` and an `-e`/`-p` script from the parent's execArgv. */
function workerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--input-type')) continue;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++;
      continue;
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}

export function createNodePool(options: NodePoolOptions): WorkerPool {
  if (options.workers === 0) return inlinePool();
  const entry = new URL('./worker.js', import.meta.url);
  const spawn = (): TaskPort => {
    // Inherit loaders (e.g. --import tsx) but not options that only apply to the main script.
    const execArgv = workerExecArgv(process.execArgv);
    const workerData = { modules: options.modules ?? [], preload: options.preload ?? [] };
    let w: Worker;
    try {
      w = new Worker(entry, { workerData, execArgv });
    } catch (err) {
      // V8 options (--max-old-space-size, --stack-size, --trace-gc, …) are process-wide: Node refuses
      // them in a worker's execArgv. Drop the ones it names and keep the rest (e.g. --import loaders).
      if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
      const named = String((err as Error).message).split(': ').slice(1).join(': ').split(', ').map((f) => f.trim());
      w = new Worker(entry, { workerData, execArgv: execArgv.filter((a) => !named.includes(a)) });
    }
    let exited = false;
    return {
      post: (req, transfer) => w.postMessage(req, transfer),
      listen(onReply, fail) {
        w.on('message', onReply);
        w.on('error', fail);
        w.on('exit', (code) => {
          exited = true;
          fail(new Error(`worker exited with code ${code}`));
        });
      },
      setBusy: (busy) => (busy ? w.ref() : w.unref()),
      terminate: async () => {
        if (!exited) await w.terminate();
      },
    };
  };
  const o: { workers: number; inFlight?: number; eager?: boolean } = { workers: options.workers };
  if (options.inFlight !== undefined) o.inFlight = options.inFlight;
  if (options.eager === true || (options.preload?.length ?? 0) > 0) o.eager = true;
  return createPortPool(spawn, o);
}
