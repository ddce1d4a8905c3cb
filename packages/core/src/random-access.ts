/**
 * Random-access readers: a byte source read by offset (a tar archive used as a source tree, an
 * input image). Node opens a file handle (`nodeFileReader` in `@imgkit/core/node`); browsers read a
 * Blob or File by slices (`blobReader`); tests use `memoryReader`.
 */
import { ErrorCodes, ImgkitError } from './errors.js';

export interface RandomAccessReader {
  /** Total length in bytes. */
  readonly size: number;
  /**
   * Read `length` bytes at `offset`. Returns fewer bytes only when the range runs past `size`.
   * The returned buffer belongs to the caller.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Release the underlying handle, if any. */
  close?(): Promise<void>;
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'core', detail: `invalid read range ${offset}+${length}` });
  }
}

/** A reader over bytes in memory. */
export function memoryReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(offset, length);
      return bytes.slice(Math.min(offset, bytes.byteLength), Math.min(offset + length, bytes.byteLength));
    },
  };
}

/** A reader over a Blob or File (browsers, Node 20's Blob): reads slices on demand. */
export function blobReader(blob: Blob): RandomAccessReader {
  return {
    size: blob.size,
    async read(offset, length) {
      checkRange(offset, length);
      const end = Math.min(offset + length, blob.size);
      if (offset >= end) return new Uint8Array(0);
      return new Uint8Array(await blob.slice(offset, end).arrayBuffer());
    },
  };
}

/** Stream `length` bytes from `offset` in chunks of at most `chunkSize` (content of an archived file). */
export async function* readRange(reader: RandomAccessReader, offset: number, length: number, chunkSize = 1 << 20): AsyncIterable<Uint8Array> {
  let done = 0;
  while (done < length) {
    const want = Math.min(chunkSize, length - done);
    const chunk = await reader.read(offset + done, want);
    if (chunk.byteLength === 0) return; // truncated input: the consumer's size check reports it
    done += chunk.byteLength;
    yield chunk;
  }
}
