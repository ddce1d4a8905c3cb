/**
 * Worker pool interface. A pool runs named tasks from one worker entry module, yields results in
 * job order, keeps at most `inFlight` jobs queued, transfers buffers, and runs inline with
 * `workers: 0`. Output never depends on the worker count.
 */
export interface WorkerPool {
  /** Number of worker threads (0 = inline). */
  readonly workers: number;
  /**
   * Run `task` on each job; results come in job order. Job buffers are copied before they are sent,
   * unless `options.transferInput`: then a job's `Uint8Array` fields that own their whole buffer
   * change hands (the caller must not touch them again), saving a copy per job.
   */
  map<I, O>(jobs: AsyncIterable<I> | Iterable<I>, task: string, options?: MapOptions): AsyncIterable<O>;
  close(): Promise<void>;
}

export interface MapOptions {
  /** Hand job buffers over instead of copying them. @default false */
  transferInput?: boolean;
}
