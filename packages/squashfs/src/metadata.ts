/**
 * Metadata blocks ("SquashFS binary format", "Metadata blocks"; squashfs_fs.h SQUASHFS_METADATA_SIZE):
 * the inode, directory, fragment, export, id and xattr tables are cut into blocks of 8 KiB of
 * uncompressed data. Each block on disk is a u16le header and the payload: the header holds the
 * payload length, with bit 15 set when the payload is stored uncompressed (when compressing did not
 * make it smaller). A reference to a byte inside a table is (offset of its block from the table
 * start << 16) | (offset inside the uncompressed block).
 */
import { ErrorCodes, ImgkitError, concatBytes } from '@imgkit/core';

export const METADATA_SIZE = 8192;
export const METADATA_UNCOMPRESSED = 0x8000;

export type BlockCompressor = (block: Uint8Array) => Uint8Array;

/** Header + payload of one metadata block: compressed when that is smaller, else raw. */
export function encodeMetadataBlock(payload: Uint8Array, compress: BlockCompressor | null): Uint8Array {
  if (payload.byteLength > METADATA_SIZE) throw new RangeError(`metadata block of ${payload.byteLength} bytes exceeds ${METADATA_SIZE}`);
  const c = compress ? compress(payload) : null;
  const useCompressed = c !== null && c.byteLength > 0 && c.byteLength < payload.byteLength;
  const body = useCompressed ? c : payload;
  const out = new Uint8Array(2 + body.byteLength);
  const header = useCompressed ? body.byteLength : body.byteLength | METADATA_UNCOMPRESSED;
  out[0] = header & 0xff;
  out[1] = header >>> 8;
  out.set(body, 2);
  return out;
}

export interface MetadataPosition {
  /** Offset of the block's header from the start of the table (compressed bytes). */
  block: number;
  /** Offset inside the block's uncompressed payload, 0 … 8191. */
  offset: number;
}

/** A 48-bit metadata reference as stored in superblock/dir entries: block << 16 | offset. */
export function metadataRef(p: MetadataPosition): bigint {
  return (BigInt(p.block) << 16n) | BigInt(p.offset);
}

/**
 * Writes a table as a stream of metadata blocks held in memory (tables grow with the entry count,
 * not with file sizes). Blocks are compressed as soon as they fill, so `position()` always knows
 * the compressed offset of the current block.
 */
export class MetadataWriter {
  private readonly blocks: Uint8Array[] = [];
  private compressedBytes = 0;
  private buf = new Uint8Array(METADATA_SIZE);
  private fill = 0;
  /** Compressed start of every flushed block, in order (table indexes need them). */
  readonly blockStarts: number[] = [];

  constructor(private readonly compress: BlockCompressor | null) {}

  position(): MetadataPosition {
    return { block: this.compressedBytes, offset: this.fill };
  }
  /** Uncompressed bytes appended so far. */
  get uncompressedSize(): number {
    return this.blockStarts.length * METADATA_SIZE + this.fill;
  }

  append(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.byteLength) {
      const n = Math.min(METADATA_SIZE - this.fill, bytes.byteLength - at);
      this.buf.set(bytes.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === METADATA_SIZE) this.flushBlock();
    }
  }

  private flushBlock(): void {
    const block = encodeMetadataBlock(this.buf.subarray(0, this.fill), this.compress);
    this.blockStarts.push(this.compressedBytes);
    this.blocks.push(block);
    this.compressedBytes += block.byteLength;
    this.fill = 0;
  }

  /** Flush the partial last block and return the table's bytes (as a list of blocks). */
  finish(): Uint8Array[] {
    if (this.fill > 0) this.flushBlock();
    return this.blocks;
  }
  get byteLength(): number {
    return this.compressedBytes + (this.fill > 0 ? 2 + this.fill : 0);
  }
}

/** Reader used by tests and round trips: undo the metadata blocks of a table. */
export function readMetadataBlocks(
  bytes: Uint8Array,
  decompress: (data: Uint8Array, expected: number) => Uint8Array,
): { data: Uint8Array; blockOffsets: number[] } {
  const parts: Uint8Array[] = [];
  const blockOffsets: number[] = [];
  let at = 0;
  while (at + 2 <= bytes.byteLength) {
    const header = bytes[at]! | (bytes[at + 1]! << 8);
    const len = header & ~METADATA_UNCOMPRESSED;
    const body = bytes.subarray(at + 2, at + 2 + len);
    if (body.byteLength !== len) throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'squashfs', detail: 'truncated metadata block' });
    blockOffsets.push(at);
    parts.push(header & METADATA_UNCOMPRESSED ? body : decompress(body, METADATA_SIZE));
    at += 2 + len;
  }
  return { data: concatBytes(parts), blockOffsets };
}

/**
 * A fixed-entry table (fragment, export, id, xattr ids): entries packed into metadata blocks,
 * followed by an uncompressed array of u64le absolute offsets of those blocks. The superblock
 * points at that array. Returns the bytes to write at `tableOffset` and the array's offset.
 */
export function encodeIndexedTable(
  entries: Uint8Array,
  compress: BlockCompressor | null,
  tableOffset: number,
): { bytes: Uint8Array; indexOffset: number } {
  const w = new MetadataWriter(compress);
  w.append(entries);
  const blocks = w.finish();
  const indexOffset = tableOffset + w.byteLength;
  const out = new Uint8Array(w.byteLength + 8 * blocks.length);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.byteLength;
  }
  w.blockStarts.forEach((start, i) => view.setBigUint64(at + 8 * i, BigInt(tableOffset + start), true));
  return { bytes: out, indexOffset };
}
