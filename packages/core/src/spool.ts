/**
 * Spooling: an image whose size is known only once it is written (a compressed initramfs, a
 * squashfs) is written to a spool first, and then read back into its container — an ISO that
 * needs the file's size in its directory records before the content, a partition table that
 * needs it before the partitions.
 *
 * A spool is a seekable ByteSink (squashfs can patch its superblock in it). It holds the image in
 * memory, in 1 MiB blocks, up to a bound (`memoryBytes`, default 64 MiB); past it, everything goes
 * on in an overflow store — in Node an unlinked temporary file (`nodeSpoolSink` and
 * `tempFileStore` in @imgkit/core/node); without one, past the bound is E_NO_SPACE. Once spilled,
 * only the block being filled stays in memory. Zero runs (`writeZeros`) take no memory and stay
 * holes in the temporary file, and `copyTo` turns all-zero blocks back into `writeZeros`.
 *
 * `where` says which happened ('memory' or 'file'), and `onSpill` is called at the moment it
 * spills, so a caller can say so ("the initramfs went to a temporary file in /tmp").
 *
 * Life cycle: write (the writer), `close()` (the size is final), `read()` / `copyTo(sink)` any
 * number of times, `dispose()` (frees the memory, closes and so deletes the temporary file).
 * `abort()` disposes too.
 */
import { isAllZero } from './bytes.js';
import { ErrorCodes, ImgkitError, NoSpaceError } from './errors.js';
import { writeZeros, type ByteSink } from './sink.js';

/** Where a spool goes on past its memory bound: random-access storage that reads unwritten bytes as zeros. */
export interface SpoolStore {
  /** What and where it is, for messages: 'an unlinked temporary file in /tmp'. */
  readonly description: string;
  /** Write `chunk` at `offset` (may leave a gap before it: a hole, read as zeros). */
  writeAt(offset: number, chunk: Uint8Array): Promise<void>;
  /** Read `length` bytes at `offset`; bytes never written read as zeros. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Release it (a temporary file is closed, and so gone). */
  close(): Promise<void>;
}

export interface SpoolOptions {
  /** Bytes held in memory before the spool goes on in `overflow`. @default 67108864 (64 MiB) */
  memoryBytes?: number;
  /** Opens the store the spool goes on in past `memoryBytes`. @default none: past the bound is E_NO_SPACE */
  overflow?: () => Promise<SpoolStore>;
  /** What is spooled, in messages ('the initramfs'). @default 'the image' */
  label?: string;
  /** Called once, when the spool moves from memory to its overflow store. @default none */
  onSpill?: (info: { label: string; bytes: number; store: string }) => void;
}

/** A spool: a seekable sink now, an image of known size to read back afterwards. */
export interface Spool extends ByteSink {
  /** Where the bytes are: all in memory, or (past the bound) in the overflow store. */
  readonly where: 'memory' | 'file';
  /** The overflow store's description once spilled ('an unlinked temporary file in /tmp'). */
  readonly store: string | undefined;
  /** The image's size: its end so far, final after `close()`. */
  readonly sizeBytes: number;
  /** The spooled bytes in order, in chunks of at most 1 MiB (views: copy what you keep). After `close()`. */
  read(): AsyncIterable<Uint8Array>;
  /** Write the spooled bytes to `sink` (all-zero blocks as `writeZeros`: holes). After `close()`. */
  copyTo(sink: ByteSink): Promise<void>;
  /** Free the memory and the overflow store. Safe to call twice and after a failure. */
  dispose(): Promise<void>;
}

const BLOCK_BYTES = 1 << 20;
export const DEFAULT_SPOOL_MEMORY_BYTES = 64 << 20;
const ZEROS = new Uint8Array(BLOCK_BYTES);

/**
 * A spool that holds up to `memoryBytes` in memory and goes on in `overflow` (see the top of this
 * file). Browser-safe; `nodeSpoolSink` (@imgkit/core/node) adds a temporary file as the overflow.
 */
export function spoolSink(options: SpoolOptions = {}): Spool {
  const memoryBytes = options.memoryBytes ?? DEFAULT_SPOOL_MEMORY_BYTES;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 0) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'core', field: 'memoryBytes', detail: `a spool's memory bound must be a whole number of bytes ≥ 0 (got ${memoryBytes})` });
  }
  const label = options.label ?? 'the image';
  /** Block k covers bytes [k·1 MiB, (k+1)·1 MiB); null: zeros (never written). Only the last may be shorter. */
  let blocks: (Uint8Array | null)[] = [];
  /** Blocks below this index are in the store (their slots are null). */
  let inStore = 0;
  let memory = 0;
  let pos = 0;
  let store: SpoolStore | undefined;
  let state: 'open' | 'closed' | 'disposed' = 'open';

  const refuse = (what: string) => new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'core', detail: `the spool of ${label} is ${state}: cannot ${what}` });
  const mustBe = (want: 'open' | 'closed', what: string) => {
    if (state !== want) throw refuse(what);
  };

  /** Move to the overflow store: every complete block, and from now on each block as it fills. */
  const spill = async (): Promise<void> => {
    if (!options.overflow) {
      throw new NoSpaceError({
        format: 'core',
        detail: `${label} is larger than the ${memoryBytes} bytes a spool holds in memory, and the spool has no overflow store`,
        hint: 'raise memoryBytes, or give an overflow store (nodeSpoolSink in Node spills to a temporary file)',
      });
    }
    store = await options.overflow();
    options.onSpill?.({ label, bytes: pos, store: store.description });
    await flushComplete();
  };
  /** Spilled: write the complete blocks below the current one to the store and drop them. */
  const flushComplete = async (): Promise<void> => {
    const last = Math.floor(pos / BLOCK_BYTES);
    for (; inStore < last; inStore++) {
      const b = blocks[inStore];
      if (b) {
        if (!isAllZero(b)) await store!.writeAt(inStore * BLOCK_BYTES, b);
        memory -= b.byteLength;
        blocks[inStore] = null;
      }
    }
  };
  /** The capacity block k gets to hold `upTo` bytes: 4 KiB, doubled as needed, at most 1 MiB. */
  const capacityFor = (k: number, upTo: number): number => {
    const have = blocks[k]?.byteLength ?? 0;
    if (have >= upTo) return have;
    let cap = have || Math.min(BLOCK_BYTES, 4096);
    while (cap < upTo) cap = Math.min(BLOCK_BYTES, cap * 2);
    return cap;
  };
  /** Block k, able to hold `upTo` bytes. */
  const blockFor = (k: number, upTo: number): Uint8Array => {
    const b = blocks[k] ?? null;
    if (b && b.byteLength >= upTo) return b;
    const cap = capacityFor(k, upTo);
    const next = new Uint8Array(cap);
    if (b) next.set(b);
    memory += cap - (b?.byteLength ?? 0);
    while (blocks.length <= k) blocks.push(null);
    blocks[k] = next;
    return next;
  };
  /** Copy `chunk` to offset `at` (memory blocks or the store). */
  const put = async (at: number, chunk: Uint8Array): Promise<void> => {
    let done = 0;
    while (done < chunk.byteLength) {
      const off = at + done;
      const k = Math.floor(off / BLOCK_BYTES);
      const inBlock = off - k * BLOCK_BYTES;
      const n = Math.min(BLOCK_BYTES - inBlock, chunk.byteLength - done);
      const piece = chunk.subarray(done, done + n);
      if (k < inStore) await store!.writeAt(off, piece);
      else blockFor(k, inBlock + n).set(piece, inBlock);
      done += n;
    }
  };
  /** Bytes [at, at + n) as a view or a fresh buffer (zeros where nothing was written). */
  const get = async (at: number, n: number): Promise<Uint8Array> => {
    const k = Math.floor(at / BLOCK_BYTES);
    const inBlock = at - k * BLOCK_BYTES;
    if (k < inStore) return store!.read(at, n);
    const b = blocks[k];
    if (!b) return ZEROS.subarray(0, n);
    if (b.byteLength >= inBlock + n) return b.subarray(inBlock, inBlock + n);
    const out = new Uint8Array(n);
    if (b.byteLength > inBlock) out.set(b.subarray(inBlock));
    return out;
  };

  const spool: Spool = {
    seekable: true,
    get position() {
      return pos;
    },
    get sizeBytes() {
      return pos;
    },
    get where() {
      return store ? 'file' : 'memory';
    },
    get store() {
      return store?.description;
    },
    async write(chunk) {
      mustBe('open', 'write');
      if (chunk.byteLength === 0) return;
      if (!store) {
        // Memory the write would add: what the blocks it reaches grow by.
        const end = pos + chunk.byteLength;
        const lastK = Math.floor((end - 1) / BLOCK_BYTES);
        let grow = 0;
        for (let k = Math.floor(pos / BLOCK_BYTES); k <= lastK; k++) {
          grow += capacityFor(k, k === lastK ? end - k * BLOCK_BYTES : BLOCK_BYTES) - (blocks[k]?.byteLength ?? 0);
        }
        if (memory + grow > memoryBytes) await spill();
      }
      await put(pos, chunk);
      pos += chunk.byteLength;
      if (store) await flushComplete();
    },
    async writeAt(offset, chunk) {
      mustBe('open', 'patch');
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + chunk.byteLength > pos) {
        throw new RangeError(`writeAt ${offset}+${chunk.byteLength} is outside the ${pos} bytes written`);
      }
      await put(offset, chunk);
    },
    async writeZeros(length) {
      mustBe('open', 'write');
      if (length <= 0) return;
      // Zeros take no memory: unwritten blocks read as zeros. Only the tail block's unused part
      // must be zero, and it is (blocks are allocated zeroed and only grow).
      pos += length;
      if (store) await flushComplete();
    },
    async close() {
      mustBe('open', 'close');
      state = 'closed';
    },
    async abort() {
      await spool.dispose();
    },
    async dispose() {
      if (state === 'disposed') return;
      state = 'disposed';
      blocks = [];
      memory = 0;
      const s = store;
      store = undefined;
      await s?.close();
    },
    async *read() {
      mustBe('closed', 'read it back');
      const size = pos;
      for (let at = 0; at < size; ) {
        const n = Math.min(BLOCK_BYTES - (at % BLOCK_BYTES), size - at);
        yield await get(at, n);
        if (state !== 'closed') throw refuse('read it back');
        at += n;
      }
    },
    async copyTo(sink) {
      mustBe('closed', 'copy it');
      const size = pos;
      for (let at = 0; at < size; ) {
        const n = Math.min(BLOCK_BYTES - (at % BLOCK_BYTES), size - at);
        const k = Math.floor(at / BLOCK_BYTES);
        if (k >= inStore && !blocks[k]) await writeZeros(sink, n);
        else {
          const bytes = await get(at, n);
          if (isAllZero(bytes)) await writeZeros(sink, n);
          else await sink.write(bytes);
        }
        at += n;
      }
    },
  };
  return spool;
}
