/**
 * Write-behind for container outputs. A writer hands the output small pieces (64 KiB clusters,
 * 512-byte markers) and awaits each one; a file sink then stalls the whole pipeline on every
 * flush. This wrapper gathers the pieces into 4 MiB chunks and lets up to `maxQueued` of them be
 * written while the writer goes on reading and encoding — in order, one output call at a time.
 * `writeZeros` passes through (holes stay holes); `writeAt` and `drain` wait for the queue.
 * Memory: (maxQueued + 1) chunks.
 */
import type { ByteSink } from '@imgkit/core';

export class WriteBehind implements ByteSink {
  private buf: Uint8Array;
  private fill = 0;
  private pos: number;
  /** Output calls in flight, oldest first; each settles after the one before it and never rejects. */
  private ops: Promise<void>[] = [];
  private failure: { error: unknown } | undefined;
  private readonly spare: Uint8Array[] = [];

  constructor(
    private readonly out: ByteSink,
    private readonly chunkBytes = 4 << 20,
    private readonly maxQueued = 3,
  ) {
    this.buf = new Uint8Array(chunkBytes);
    this.pos = out.position;
  }

  get seekable(): boolean {
    return this.out.seekable;
  }
  get position(): number {
    return this.pos;
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }

  private enqueue(op: () => Promise<void>): void {
    const prev = this.ops[this.ops.length - 1] ?? Promise.resolve();
    this.ops.push(
      prev.then(async () => {
        if (this.failure) return;
        try {
          await op();
        } catch (error) {
          this.failure ??= { error };
        }
      }),
    );
  }

  private async throttle(): Promise<void> {
    while (this.ops.length > this.maxQueued) await this.ops.shift();
    this.check();
  }

  private async flushBuffer(): Promise<void> {
    if (this.fill === 0) return;
    const whole = this.buf;
    const b = whole.subarray(0, this.fill);
    this.enqueue(async () => {
      await this.out.write(b);
      if (this.spare.length < this.maxQueued) this.spare.push(whole);
    });
    this.buf = this.spare.pop() ?? new Uint8Array(this.chunkBytes);
    this.fill = 0;
    await this.throttle();
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.check();
    let at = 0;
    while (at < chunk.byteLength) {
      const n = Math.min(this.chunkBytes - this.fill, chunk.byteLength - at);
      this.buf.set(chunk.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      this.pos += n;
      if (this.fill === this.chunkBytes) await this.flushBuffer();
    }
  }

  async writeZeros(length: number): Promise<void> {
    if (length <= 0) return;
    this.check();
    if (length < 64 * 1024 && this.fill + length <= this.chunkBytes) {
      this.buf.fill(0, this.fill, this.fill + length);
      this.fill += length;
      this.pos += length;
      if (this.fill === this.chunkBytes) await this.flushBuffer();
      return;
    }
    await this.flushBuffer();
    this.enqueue(async () => {
      if (this.out.writeZeros) await this.out.writeZeros(length);
      else {
        const z = new Uint8Array(Math.min(length, 1 << 20));
        for (let left = length; left > 0; left -= z.byteLength) await this.out.write(left >= z.byteLength ? z : z.subarray(0, left));
      }
    });
    this.pos += length;
    await this.throttle();
  }

  /** Write everything queued. */
  async drain(): Promise<void> {
    await this.flushBuffer();
    while (this.ops.length > 0) await this.ops.shift();
    this.check();
  }

  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    await this.drain();
    await this.out.writeAt(offset, chunk);
  }

  /** Drains; the wrapped sink is closed by its owner. */
  async close(): Promise<void> {
    await this.drain();
  }
}
