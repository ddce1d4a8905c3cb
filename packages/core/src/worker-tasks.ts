/**
 * Named tasks a pool can run. The same registry exists in every realm: the main thread (inline
 * pool) and each worker, which imports this module (and any `modules` given to the pool, which
 * may call `registerTask`). Tasks take and return structured-cloneable values; top-level
 * `Uint8Array` fields of results are transferred, not copied.
 */
import { copyBytes } from './bytes.js';
import { ImgkitError, ErrorCodes, isSerializedError, type SerializedError } from './errors.js';
import { loadCodec } from './codec/registry.js';
import type { CodecSpec } from './codec/types.js';
import { getDeflateEngine } from './codec/deflate.js';
import { crc32 } from './hash.js';
import { lz4LegacyChunk, lz4FrameBlock } from './codec/lz4.js';
import { xzSplitSingleBlock } from './codec/xz.js';
import { transcodePiece } from './codec/zstd-splice.js';

export type TaskHandler<I = any, O = any> = (input: I) => O | Promise<O>;

const tasks = new Map<string, TaskHandler>();

/** Register a task in this realm (call it in a module the pool's workers import too). */
export function registerTask<I, O>(name: string, handler: TaskHandler<I, O>): void {
  tasks.set(name, handler as TaskHandler);
}

export function hasTask(name: string): boolean {
  return tasks.has(name);
}

/** Run a task in this realm. Unknown names reject with `E_WORKER`. */
export async function runTask(name: string, input: unknown): Promise<unknown> {
  const t = tasks.get(name);
  if (!t) {
    throw new ImgkitError(ErrorCodes.WORKER, {
      format: 'core',
      field: 'pool.task',
      detail: `no task named "${name}" in this realm`,
      hint: 'register it with registerTask() in the worker: a module passed to createNodePool as `modules`, or the browser worker script before startBrowserWorker()',
    });
  }
  return t(input);
}

/** `pool.map(jobs, 'compress')`: one independent block through one codec. */
export interface CompressJob {
  codec: CodecSpec;
  data: Uint8Array;
  /** Compress only `data`'s first `size` bytes (lets a caller hand over a partly filled buffer). @default all */
  size?: number;
  /** Send `data` back as `input` once compressed, for the caller to fill again. @default false */
  returnInput?: boolean;
  /** zstd only: re-encode the frame's blocks to be spliced into a bigger frame (zstd-splice.ts). */
  zstdPiece?: boolean;
}
export interface CompressResult {
  data: Uint8Array;
  /** The job's `data`, when it asked for it back. */
  input?: Uint8Array;
  /** With `zstdPiece`: where the last block's header starts in `data`. */
  lastBlockAt?: number;
}

registerTask<CompressJob, CompressResult>('compress', async ({ codec, data, size, returnInput, zstdPiece }) => {
  const c = await loadCodec(codec);
  const input = size === undefined ? data : data.subarray(0, size);
  const compressed = copyIfView(c.compress(input), data);
  let result: CompressResult = { data: compressed };
  if (zstdPiece) {
    if (codec.name !== 'zstd') throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'core', field: 'pool.task.compress.zstdPiece', detail: `zstdPiece needs codec zstd, not ${codec.name}` });
    const t = transcodePiece(compressed, input);
    result = { data: t.data, lastBlockAt: t.lastBlockAt };
  }
  if (returnInput) result.input = data;
  return result;
});

/** A codec may return (a view of) its input, e.g. 'none': never hand out the buffer that goes back for reuse. */
function copyIfView(out: Uint8Array, input: Uint8Array): Uint8Array {
  return out.buffer === input.buffer ? copyBytes(out) : out;
}

/** One piece of a `compressStream` (internal task, 'stream-chunk'). */
export interface StreamChunkJob {
  codec: CodecSpec;
  data: Uint8Array;
  /** gzip: the 32 KiB of input before this piece. */
  dictionary?: Uint8Array;
  /** gzip: the final piece (ends the deflate stream). */
  last?: boolean;
}
export interface StreamChunkResult {
  data: Uint8Array;
  /** gzip: CRC-32 of the piece's input. */
  crc?: number;
  /** xz: Index record of the block. */
  unpaddedSize?: number;
  uncompressedSize?: number;
}

registerTask<StreamChunkJob, StreamChunkResult>('stream-chunk', async ({ codec, data, dictionary, last }) => {
  switch (codec.name) {
    case 'gzip':
    case 'deflate-raw': {
      const engine = getDeflateEngine();
      const out = engine.deflateRawPiece(data, codec.level ?? 6, dictionary, last === true);
      return { data: out, crc: engine.crc32 ? engine.crc32(data) : crc32(data) };
    }
    case 'lz4-legacy':
      return { data: lz4LegacyChunk(data) };
    case 'lz4-frame':
      return { data: lz4FrameBlock(data) };
    case 'xz': {
      const c = await loadCodec(codec);
      const one = xzSplitSingleBlock(c.compress(data));
      if (!one) return { data: new Uint8Array(0), unpaddedSize: 0, uncompressedSize: 0 };
      return { data: copyBytes(one.block), unpaddedSize: one.unpaddedSize, uncompressedSize: one.uncompressedSize };
    }
    default: {
      const c = await loadCodec(codec);
      return { data: c.compress(data) };
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Wire protocol shared by the Node and browser pools.

export interface TaskRequest {
  id: number;
  task: string;
  input: unknown;
}
export type TaskReply = { id: number; ok: true; output: unknown } | { id: number; ok: false; error: SerializedError };

/** Turn anything thrown in a task into a serialisable ImgkitError. */
export function serializeTaskError(err: unknown, task: string): SerializedError {
  if (err instanceof ImgkitError) return err.toJSON();
  if (isSerializedError(err)) return err;
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new ImgkitError(ErrorCodes.WORKER, { format: 'core', field: `pool.task.${task}`, detail: `task failed: ${msg}` }).toJSON();
}

/** A view that owns its whole (non-shared) buffer can be transferred as is; others are copied. */
export function ownBuffer(u: Uint8Array): Uint8Array {
  if (u.byteOffset === 0 && u.byteLength === u.buffer.byteLength && u.buffer instanceof ArrayBuffer) {
    return u.constructor === Uint8Array ? u : new Uint8Array(u.buffer);
  }
  return copyBytes(u);
}

/**
 * Prepare a value for postMessage: top-level Uint8Array fields (or the value itself) get their own
 * buffers, which are listed for transfer. With `copy`, buffers are always copied first, so the
 * sender's arrays stay usable (used for job inputs).
 */
export function prepareTransfer(value: unknown, copy: boolean): { value: unknown; transfer: ArrayBuffer[] } {
  const transfer: ArrayBuffer[] = [];
  const fix = (u: Uint8Array): Uint8Array => {
    const own = copy ? copyBytes(u) : ownBuffer(u);
    if (!transfer.includes(own.buffer as ArrayBuffer)) transfer.push(own.buffer as ArrayBuffer);
    return own;
  };
  if (value instanceof Uint8Array) {
    const v = fix(value);
    return { value: v, transfer };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      if (v instanceof Uint8Array) {
        out ??= { ...(value as Record<string, unknown>) };
        out[k] = fix(v);
      }
    }
    return { value: out ?? value, transfer };
  }
  return { value, transfer };
}

/** Worker side: run one request and build the reply with its transfer list. */
export async function handleTaskRequest(req: TaskRequest): Promise<{ reply: TaskReply; transfer: ArrayBuffer[] }> {
  try {
    const output = await runTask(req.task, req.input);
    const { value, transfer } = prepareTransfer(output, false);
    return { reply: { id: req.id, ok: true, output: value }, transfer };
  } catch (err) {
    return { reply: { id: req.id, ok: false, error: serializeTaskError(err, req.task) }, transfer: [] };
  }
}
