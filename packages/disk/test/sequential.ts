/** Test helper: a sink that cannot seek back (no `writeAt`), like a pipe, keeping what it gets. */
import { MemorySink, type ByteSink } from '@imgkit/core';

export class Sequential implements ByteSink {
  readonly seekable = false;
  readonly mem = new MemorySink();
  get position() {
    return this.mem.position;
  }
  write(c: Uint8Array) {
    return this.mem.write(c);
  }
  async writeAt(): Promise<void> {
    throw new Error('cannot seek');
  }
  close() {
    return Promise.resolve();
  }
}
