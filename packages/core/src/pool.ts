/**
 * Worker pools. `inlinePool()` runs tasks in this realm, one after another. `createPortPool()` is the
 * ordered pool shared by the Node (worker_threads) and browser (module Web Worker) pools: it keeps at
 * most `workers × inFlight` jobs outstanding, gives each job to the worker with the fewest, and
 * yields results in job order, so the output never depends on the worker count or on timing.
 */
import { ImgkitError, ErrorCodes, isSerializedError } from './errors.js';
import type { MapOptions, WorkerPool } from './pool-types.js';
import { runTask, prepareTransfer, serializeTaskError, type TaskReply, type TaskRequest } from './worker-tasks.js';

/** Runs every task inline, in job order (what `workers: 0` means). */
export function inlinePool(): WorkerPool {
  return {
    workers: 0,
    async *map<I, O>(jobs: AsyncIterable<I> | Iterable<I>, task: string): AsyncIterable<O> {
      for await (const job of jobs) {
        let out: unknown;
        try {
          out = await runTask(task, job);
        } catch (err) {
          // the same error a worker would send back: ImgkitErrors as they are, others as E_WORKER
          if (err instanceof ImgkitError) throw err;
          throw ImgkitError.fromJSON({ ...serializeTaskError(err, task) });
        }
        yield out as O;
      }
    },
    async close() {},
  };
}

/** One worker seen through messages (worker_threads Worker or Web Worker). */
export interface TaskPort {
  post(req: TaskRequest, transfer: ArrayBuffer[]): void;
  /** Called once with the handlers; `fail` for a worker that died or could not start. */
  listen(onReply: (reply: TaskReply) => void, fail: (err: unknown) => void): void;
  /** Hint: the worker has jobs (keep the process alive) or none (let it exit). */
  setBusy?(busy: boolean): void;
  terminate(): Promise<void> | void;
}

export interface PortPoolOptions {
  workers: number;
  /** Jobs outstanding per worker. @default 2 */
  inFlight?: number;
  /** Start the workers now (they boot while the caller plans) instead of at the first job. @default false */
  eager?: boolean;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  worker: number;
}

function poolError(detail: string, cause?: unknown): ImgkitError {
  return new ImgkitError(ErrorCodes.WORKER, { format: 'core', field: 'pool', detail, cause });
}

/** Ordered pool over `workers` ports made by `spawn` (created lazily on the first job). */
export function createPortPool(spawn: (index: number) => TaskPort, options: PortPoolOptions): WorkerPool {
  const workers = options.workers;
  const inFlight = options.inFlight ?? 2;
  if (!Number.isInteger(workers) || workers < 1) throw poolError(`workers must be a positive integer, not ${workers}`);
  if (!Number.isInteger(inFlight) || inFlight < 1) throw poolError(`inFlight must be a positive integer, not ${inFlight}`);

  let ports: TaskPort[] | undefined;
  const load: number[] = new Array(workers).fill(0);
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closed = false;
  let broken: unknown;

  const settle = (id: number): Pending | undefined => {
    const p = pending.get(id);
    if (!p) return undefined;
    pending.delete(id);
    if (--load[p.worker]! === 0) ports?.[p.worker]?.setBusy?.(false);
    return p;
  };

  const start = (): TaskPort[] => {
    if (ports) return ports;
    ports = [];
    for (let i = 0; i < workers; i++) {
      const port = spawn(i);
      port.listen(
        (reply) => {
          const p = settle(reply.id);
          if (!p) return;
          if (reply.ok) p.resolve(reply.output);
          else p.reject(isSerializedError(reply.error) ? ImgkitError.fromJSON(reply.error) : poolError('malformed worker reply'));
        },
        (err) => {
          broken ??= err instanceof ImgkitError ? err : poolError(`worker ${i} failed: ${err instanceof Error ? err.message : String(err)}`, err);
          for (const [id, p] of [...pending]) if (p.worker === i) settle(id)?.reject(broken);
        },
      );
      port.setBusy?.(false);
      ports.push(port);
    }
    return ports;
  };

  const dispatch = (task: string, input: unknown, transferInput: boolean): Promise<unknown> => {
    if (broken) return Promise.reject(broken);
    const ps = start();
    let w = 0;
    for (let i = 1; i < workers; i++) if (load[i]! < load[w]!) w = i;
    const id = nextId++;
    const { value, transfer } = prepareTransfer(input, !transferInput);
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject, worker: w });
      if (load[w]!++ === 0) ps[w]!.setBusy?.(true);
      try {
        ps[w]!.post({ id, task, input: value }, transfer);
      } catch (err) {
        settle(id)?.reject(poolError(`cannot send job to worker: ${err instanceof Error ? err.message : String(err)}`, err));
      }
    });
  };

  if (options.eager) start();

  return {
    workers,
    async *map<I, O>(jobs: AsyncIterable<I> | Iterable<I>, task: string, options?: MapOptions): AsyncIterable<O> {
      if (closed) throw poolError('pool is closed');
      const transferInput = options?.transferInput === true;
      const it =
        Symbol.asyncIterator in (jobs as object)
          ? (jobs as AsyncIterable<I>)[Symbol.asyncIterator]()
          : (jobs as Iterable<I>)[Symbol.iterator]();
      const queue: Promise<unknown>[] = [];
      const capacity = workers * inFlight;
      let exhausted = false;
      try {
        for (;;) {
          while (!exhausted && queue.length < capacity) {
            const r = await it.next();
            if (r.done) {
              exhausted = true;
              break;
            }
            const p = dispatch(task, r.value, transferInput);
            p.catch(() => {}); // observed when its turn comes
            queue.push(p);
          }
          const head = queue.shift();
          if (!head) return;
          yield (await head) as O;
        }
      } finally {
        if (!exhausted) await it.return?.();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      const ps = ports ?? [];
      broken ??= poolError('pool was closed');
      for (const id of [...pending.keys()]) settle(id)?.reject(broken);
      await Promise.all(ps.map((p) => p.terminate()));
    },
  };
}
