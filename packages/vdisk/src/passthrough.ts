/**
 * Sinks for formats that store the disk's bytes as they are (raw, fixed VHD, fixed VHDX): a
 * prefix (tables known up front), the disk, the rest of the disk as zeros, a suffix (the VHD
 * footer). All-zero stretches of 64 KiB go to the output's `writeZeros`, so a file output keeps
 * the holes of a sparse input. Written in order; nothing is held.
 */
import { ErrorCodes, ImgkitError, NoSpaceError, writeZeros, type ByteSink } from '@imgkit/core';
import { isZeroBlock } from './zero.js';
import { WriteBehind } from './write-behind.js';

const PIECE = 64 * 1024;

/** Write `chunk`, turning 64 KiB all-zero pieces into `writeZeros`. */
export async function writeSparse(out: ByteSink, chunk: Uint8Array): Promise<void> {
  let at = 0;
  const n = chunk.byteLength;
  while (at < n) {
    let end = Math.min(n, at + PIECE);
    if (end - at === PIECE && isZeroBlock(chunk.subarray(at, end))) {
      while (end + PIECE <= n && isZeroBlock(chunk.subarray(end, end + PIECE))) end += PIECE;
      await writeZeros(out, end - at);
    } else {
      while (end + PIECE <= n && !isZeroBlock(chunk.subarray(end, end + PIECE))) end += PIECE;
      await out.write(chunk.subarray(at, end));
    }
    at = end;
  }
}

export interface PassthroughOptions {
  format: string;
  /** Bytes of disk the sink accepts (and pads to on close). */
  diskSize: number;
  /** Written before the first byte of the disk. */
  prefix?: Uint8Array;
  /** Written after the padded disk. */
  suffix?: Uint8Array;
  ownsOut: boolean;
}

export class PassthroughSink implements ByteSink {
  readonly seekable = false;
  private pos = 0;
  private started = false;
  private state: 'open' | 'closed' | 'aborted' = 'open';
  private readonly out: WriteBehind;
  constructor(
    private readonly target: ByteSink,
    private readonly o: PassthroughOptions,
  ) {
    this.out = new WriteBehind(target);
  }
  get position(): number {
    return this.pos;
  }
  private async begin(n: number): Promise<void> {
    if (this.state !== 'open') throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: this.o.format, detail: `the ${this.o.format} image is already ${this.state}` });
    if (this.pos + n > this.o.diskSize) {
      throw new NoSpaceError({ format: this.o.format, field: 'virtualSize', detail: `a write of ${n} bytes at ${this.pos} passes the end of the ${this.o.diskSize}-byte disk`, hint: 'raise the virtual size' });
    }
    if (!this.started) {
      this.started = true;
      if (this.o.prefix) await this.out.write(this.o.prefix);
    }
  }
  async write(chunk: Uint8Array): Promise<void> {
    await this.begin(chunk.byteLength);
    await writeSparse(this.out, chunk);
    this.pos += chunk.byteLength;
  }
  async writeZeros(n: number): Promise<void> {
    if (n <= 0) return;
    await this.begin(n);
    await writeZeros(this.out, n);
    this.pos += n;
  }
  async writeAt(): Promise<void> {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: this.o.format, detail: `a ${this.o.format} container is written in order and cannot patch bytes of the disk` });
  }
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    await this.begin(0);
    await writeZeros(this.out, this.o.diskSize - this.pos);
    this.pos = this.o.diskSize;
    if (this.o.suffix) await this.out.write(this.o.suffix);
    await this.out.drain();
    this.state = 'closed';
    if (this.o.ownsOut) await this.target.close();
  }
  async abort(reason?: unknown): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    if (this.o.ownsOut) await this.target.abort?.(reason);
  }
}
