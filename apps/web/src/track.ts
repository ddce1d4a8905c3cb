/**
 * Progress, cancel and the report's raw material, as wrappers around the source and the sink, so
 * every format gets them the same way without changing a writer:
 *
 * - `trackTree` counts entries as the writer walks them (its plan pass) and files and bytes as it
 *   reads them (its write pass), and stops a read when the job is cancelled.
 * - `trackSink` counts the bytes written, stops the writer at its next write when cancelled (the
 *   job then aborts the real sink: nothing is saved), and keeps the image's first HEAD_BYTES (MBR,
 *   GPT, ISO volume descriptors) plus the El Torito boot catalog, found through the Boot Record
 *   volume descriptor as it goes by, so the report can show the partition layout and the boot
 *   entries even for a streamed download that cannot be read back.
 */
import { writeZeros, type ByteSink, type SourceEntry, type SourceTree } from '@imgkit/core';

export interface Counters {
  entries: number;
  filesRead: number;
  bytesRead: number;
  bytesWritten: number;
}

export function newCounters(): Counters {
  return { entries: 0, filesRead: 0, bytesRead: 0, bytesWritten: 0 };
}

/** What a cancel throws inside the writer. */
export function cancelError(): DOMException {
  return new DOMException('cancelled', 'AbortError');
}
export const isCancel = (err: unknown): boolean => err instanceof DOMException && err.name === 'AbortError';

export function trackTree(tree: SourceTree, c: Counters, signal: AbortSignal): SourceTree {
  return {
    async *walk() {
      for await (const e of tree.walk()) {
        if (signal.aborted) throw cancelError();
        c.entries++;
        if (e.kind !== 'file') {
          yield e;
          continue;
        }
        const inner = e.read.bind(e);
        const tracked: SourceEntry = {
          ...e,
          read: async function* () {
            c.filesRead++;
            for await (const chunk of inner()) {
              if (signal.aborted) throw cancelError();
              c.bytesRead += chunk.byteLength;
              yield chunk;
            }
          },
        };
        yield tracked;
      }
    },
  };
}

/** Bytes of the image kept for the report: MBR + GPT (LBA 0–33) and ISO descriptors from 32 KiB. */
export const HEAD_BYTES = 64 * 1024;
const ISO_BLOCK = 2048;
/** ECMA-119 §8.2 / El Torito §2.0: the Boot Record volume descriptor is at block 17, the catalog's LBA at byte 0x47. */
const BOOT_RECORD_OFFSET = 17 * ISO_BLOCK;

export interface Captured {
  head: Uint8Array;
  /** The El Torito boot catalog block, when the image has one. */
  catalog?: Uint8Array;
}

export function trackSink(sink: ByteSink, c: Counters, signal: AbortSignal): { sink: ByteSink; captured: Captured } {
  const head = new Uint8Array(HEAD_BYTES);
  const captured: Captured = { head };
  let catalogOffset: number | undefined;
  const catalog = new Uint8Array(ISO_BLOCK);
  const base = sink.position;
  const keep = (offset: number, chunk: Uint8Array) => {
    // Head bytes.
    if (offset < HEAD_BYTES) head.set(chunk.subarray(0, Math.min(chunk.byteLength, HEAD_BYTES - offset)), offset);
    // "CD001" then "EL TORITO SPECIFICATION": the catalog's block (u32le at 0x47).
    if (catalogOffset === undefined && offset < BOOT_RECORD_OFFSET + ISO_BLOCK && offset + chunk.byteLength >= BOOT_RECORD_OFFSET + ISO_BLOCK) {
      const br = head.subarray(BOOT_RECORD_OFFSET, BOOT_RECORD_OFFSET + ISO_BLOCK);
      const id = new TextDecoder().decode(br.subarray(7, 30));
      if (br[0] === 0 && new TextDecoder().decode(br.subarray(1, 6)) === 'CD001' && id === 'EL TORITO SPECIFICATION') {
        catalogOffset = new DataView(br.buffer, br.byteOffset).getUint32(0x47, true) * ISO_BLOCK;
      }
    }
    if (catalogOffset !== undefined) {
      const from = Math.max(offset, catalogOffset);
      const to = Math.min(offset + chunk.byteLength, catalogOffset + ISO_BLOCK);
      if (from < to) {
        catalog.set(chunk.subarray(from - offset, to - offset), from - catalogOffset);
        captured.catalog = catalog;
      }
    }
  };
  const check = () => {
    if (signal.aborted) throw cancelError();
  };
  const wrapped: ByteSink = {
    get position() {
      return sink.position;
    },
    get seekable() {
      return sink.seekable;
    },
    async write(chunk) {
      check();
      keep(sink.position - base, chunk);
      await sink.write(chunk);
      c.bytesWritten = sink.position - base;
    },
    async writeAt(offset, chunk) {
      check();
      keep(offset - base, chunk);
      await sink.writeAt(offset, chunk);
    },
    async writeZeros(length) {
      check();
      await writeZeros(sink, length);
      c.bytesWritten = sink.position - base;
    },
    async expectSize(end) {
      await sink.expectSize?.(end);
    },
    close: () => sink.close(),
    abort: (reason) => sink.abort?.(reason) ?? Promise.resolve(),
  };
  return { sink: wrapped, captured };
}
