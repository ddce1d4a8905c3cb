/**
 * Push-style front of the ordered worker pool. A container sink is driven by `write()` calls, but
 * `pool.map` pulls jobs from an iterable; this queue sits between them: `push()` hands a job over
 * (and waits while `limit` jobs are outstanding: that is the sink's backpressure), and results
 * are handed to `onResult` in job order, so the output never depends on the worker count.
 */
import type { WorkerPool } from '@imgkit/core';

export class OrderedJobs<J, R, M> {
  private readonly queue: J[] = [];
  private readonly metas: M[] = [];
  private outstanding = 0;
  private ended = false;
  private failure: unknown;
  private failed = false;
  private wakeProducer: (() => void) | undefined;
  private roomWaiters: (() => void)[] = [];
  private consumer: Promise<void> | undefined;

  constructor(
    private readonly pool: WorkerPool,
    private readonly task: string,
    private readonly limit: number,
    private readonly onResult: (result: R, meta: M) => Promise<void>,
  ) {}

  private start(): void {
    if (this.consumer) return;
    const self = this;
    async function* jobs(): AsyncIterable<J> {
      for (;;) {
        while (self.queue.length === 0) {
          if (self.ended || self.failed) return;
          await new Promise<void>((resolve) => (self.wakeProducer = resolve));
          self.wakeProducer = undefined;
        }
        yield self.queue.shift()!;
      }
    }
    this.consumer = (async () => {
      try {
        for await (const r of this.pool.map<J, R>(jobs(), this.task, { transferInput: true })) {
          const meta = this.metas.shift() as M;
          await this.onResult(r, meta);
          this.outstanding--;
          this.wakeRoom();
        }
      } catch (err) {
        this.fail(err);
      }
    })();
  }

  private fail(err: unknown): void {
    if (!this.failed) {
      this.failed = true;
      this.failure = err;
    }
    this.wakeProducer?.();
    this.wakeRoom();
  }

  private wakeRoom(): void {
    const w = this.roomWaiters;
    this.roomWaiters = [];
    for (const f of w) f();
  }

  private throwIfFailed(): void {
    if (this.failed) throw this.failure;
  }

  /** Queue a job (its buffers are transferred to the worker: do not touch them again). */
  async push(job: J, meta: M): Promise<void> {
    this.throwIfFailed();
    this.start();
    this.queue.push(job);
    this.metas.push(meta);
    this.outstanding++;
    this.wakeProducer?.();
    while (this.outstanding > this.limit && !this.failed) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    this.throwIfFailed();
  }

  /** No more jobs: wait until every result has been handled. */
  async end(): Promise<void> {
    this.ended = true;
    this.wakeProducer?.();
    if (this.consumer) await this.consumer;
    this.throwIfFailed();
  }

  /** Stop: pending jobs are dropped. */
  async abort(reason: unknown = new Error('aborted')): Promise<void> {
    this.ended = true;
    this.fail(reason);
    if (this.consumer) await this.consumer.catch(() => undefined);
  }
}
