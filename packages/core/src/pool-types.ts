/**
 * Worker pool interface. A pool runs named tasks from one worker entry module, yields results in
 * job order, keeps at most `inFlight` jobs queued, transfers buffers, and runs inline with
 * `workers: 0`. Output never depends on the worker count.
 */
export interface WorkerPool {
  /** Number of worker threads (0 = inline). */
  readonly workers: number;
  map<I, O>(jobs: AsyncIterable<I> | Iterable<I>, task: string): AsyncIterable<O>;
  close(): Promise<void>;
}
