/**
 * Container sinks: a ByteSink that receives a virtual disk in order (from `pipeSource`, or from a
 * disk writer such as @imgkit/partition's `writeDisk`) and hands its format fixed-size blocks
 * (qcow2 clusters, VMDK grains, VHD/VHDX blocks). All-zero blocks — `writeZeros` runs and blocks
 * that read as zeros — go to `zeros()` in one call per run, so the format leaves them
 * unallocated, the way the file sink turns zeros into holes:
 *
 *     await withSink(qcow2Sink(await fileSink('disk.qcow2'), { virtualSize }), (s) => disk.write(s));
 *
 * The sink is sequential (`seekable: false`): a block is encoded once it is complete, so bytes
 * written cannot be patched. Memory: one block buffer, plus what the format holds (its README says).
 */
import { ErrorCodes, ImgkitError, NoSpaceError, type ByteSink } from '@imgkit/core';
import { isZeroBlock } from './zero.js';

export interface BlockHandler {
  /** Block `index` holds non-zero bytes. `data` (blockSize bytes) is valid only until the promise settles. */
  data(index: number, data: Uint8Array): Promise<void>;
  /** Blocks [first, first + count) are all zeros. */
  zeros?(first: number, count: number): Promise<void>;
  /** Every block has been given: write the tables and trailers. */
  finish(): Promise<void>;
  /** Give up: release what the format holds (the output itself is aborted by the sink). */
  abort?(): Promise<void>;
}

export class BlockSink implements ByteSink {
  readonly seekable = false;
  private pos = 0;
  private fill = 0;
  private pendingNonZero = false;
  /** Bytes of `pending` that may be non-zero: [dirtyLo, dirtyHi). Everything else is zero. */
  private dirtyLo = 0;
  private dirtyHi = 0;
  private readonly pending: Uint8Array;
  private state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly format: string,
    readonly virtualSize: number,
    readonly blockSize: number,
    private readonly handler: BlockHandler,
    private readonly out: ByteSink,
    /** Close and abort `out` with this sink (a container sink); false when a writeX() call only borrows it. */
    private readonly ownsOut = true,
    /** Called after the handler finished and before `out` is closed (a WriteBehind's drain). */
    private readonly drain?: () => Promise<void>,
  ) {
    this.pending = new Uint8Array(blockSize);
  }

  get position(): number {
    return this.pos;
  }

  private check(n: number): void {
    if (this.state !== 'open') {
      throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: this.format, detail: `the ${this.format} image is already ${this.state}` });
    }
    if (this.pos + n > this.virtualSize) {
      throw new NoSpaceError({
        format: this.format,
        field: 'virtualSize',
        detail: `a write of ${n} bytes at ${this.pos} passes the end of the ${this.virtualSize}-byte virtual disk`,
        hint: 'raise the virtual size',
      });
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.check(chunk.byteLength);
    const bs = this.blockSize;
    let at = 0;
    const n = chunk.byteLength;
    while (at < n) {
      if (this.fill === 0 && n - at >= bs) {
        // whole blocks straight from the chunk, no copy
        const blk = chunk.subarray(at, at + bs);
        const index = this.pos / bs;
        if (isZeroBlock(blk)) await this.zeroRun(index, 1);
        else {
          await this.flushZeroRun();
          await this.handler.data(index, blk);
        }
        at += bs;
        this.pos += bs;
        continue;
      }
      const k = Math.min(bs - this.fill, n - at);
      const part = chunk.subarray(at, at + k);
      // zero parts need no copy: `pending` is zero outside its dirty range
      if (!isZeroBlock(part)) {
        if (this.dirtyHi === this.dirtyLo) this.dirtyLo = this.fill;
        this.pending.set(part, this.fill);
        this.dirtyHi = this.fill + k;
        this.pendingNonZero = true;
      }
      this.fill += k;
      this.pos += k;
      at += k;
      if (this.fill === bs) await this.flushPending();
    }
  }

  private zeroRunStart = -1;
  private zeroRunCount = 0;

  /** Zero blocks are reported in runs: contiguous ones are merged until data or the end. */
  private async zeroRun(first: number, count: number): Promise<void> {
    if (this.zeroRunCount > 0 && this.zeroRunStart + this.zeroRunCount === first) {
      this.zeroRunCount += count;
      return;
    }
    await this.flushZeroRun();
    this.zeroRunStart = first;
    this.zeroRunCount = count;
  }

  private async flushZeroRun(): Promise<void> {
    if (this.zeroRunCount > 0 && this.handler.zeros) await this.handler.zeros(this.zeroRunStart, this.zeroRunCount);
    this.zeroRunCount = 0;
  }

  private async flushPending(): Promise<void> {
    const index = Math.floor((this.pos - 1) / this.blockSize);
    if (this.pendingNonZero) {
      await this.flushZeroRun();
      await this.handler.data(index, this.pending);
    } else await this.zeroRun(index, 1);
    if (this.dirtyHi > this.dirtyLo) this.pending.fill(0, this.dirtyLo, this.dirtyHi);
    this.dirtyLo = this.dirtyHi = 0;
    this.fill = 0;
    this.pendingNonZero = false;
  }

  async writeZeros(length: number): Promise<void> {
    if (length <= 0) return;
    this.check(length);
    const bs = this.blockSize;
    if (this.fill > 0) {
      const k = Math.min(bs - this.fill, length);
      this.fill += k; // `pending` is zero past `fill`
      this.pos += k;
      length -= k;
      if (this.fill === bs) await this.flushPending();
    }
    if (length >= bs) {
      const whole = Math.floor(length / bs);
      await this.zeroRun(this.pos / bs, whole);
      this.pos += whole * bs;
      length -= whole * bs;
    }
    if (length > 0) {
      this.fill = length;
      this.pos += length;
    }
  }

  async writeAt(): Promise<void> {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
      format: this.format,
      detail: `a ${this.format} container is written in order and cannot patch bytes of the virtual disk`,
      hint: 'write the content in order, or spool a writer that patches (squashfs) before putting it into the disk',
    });
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    try {
      // the rest of the virtual disk is zeros
      const tail = this.virtualSize - this.pos;
      if (tail > 0) await this.writeZeros(tail);
      if (this.fill > 0) {
        this.pos = Math.ceil(this.pos / this.blockSize) * this.blockSize; // pad the last block
        await this.flushPending();
        this.pos = this.virtualSize;
      }
      await this.flushZeroRun();
      await this.handler.finish();
      await this.drain?.();
    } catch (err) {
      await this.abort();
      throw err;
    }
    this.state = 'closed';
    if (this.ownsOut) await this.out.close();
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    try {
      await this.handler.abort?.();
    } finally {
      if (this.ownsOut) await this.out.abort?.(reason);
    }
  }
}
