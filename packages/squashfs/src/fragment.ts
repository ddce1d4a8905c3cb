/**
 * Fragment table ("SquashFS binary format", "Fragment table"; squashfs_fs.h struct
 * squashfs_fragment_entry): one 16-byte entry per fragment block — where it starts and its size
 * word (bit 24 = stored uncompressed) — packed 512 to a metadata block, then a u64le array of
 * the metadata blocks' offsets, which the superblock points at.
 *
 * A fragment block gathers the tails of small files (mksquashfs: files shorter than a block; with
 * `alwaysUseFragments`, the tail of every file). A tail that does not fit in the open block closes
 * it and starts the next, so a tail never spans two fragment blocks.
 */
import { struct, u32le, u64le } from '@imgkit/core';
import { encodeIndexedTable, type BlockCompressor } from './metadata.js';

// struct squashfs_fragment_entry (squashfs on-disk format, "Fragment table"): start, size with the
// uncompressed bit 24, unused.
export const FragmentEntry = struct('squashfs.fragmentEntry', 16, {
  startBlock: u64le(0), // absolute offset of the fragment block
  size: u32le(8), // dataSize(): bit 24 set when stored uncompressed
  unused: u32le(12),
});

export interface FragmentInfo {
  start: number;
  sizeWord: number;
}

export function encodeFragmentTable(
  fragments: readonly FragmentInfo[],
  compress: BlockCompressor | null,
  tableOffset: number,
): { bytes: Uint8Array; indexOffset: number } {
  const entries = new Uint8Array(FragmentEntry.size * fragments.length);
  fragments.forEach((f, i) => FragmentEntry.encode({ startBlock: BigInt(f.start), size: f.sizeWord, unused: 0 }, entries, i * FragmentEntry.size));
  return encodeIndexedTable(entries, compress, tableOffset);
}

/** Packs file tails into fragment blocks of `blockSize` bytes. */
export class FragmentPacker {
  private buf: Uint8Array | null = null;
  private fill = 0;
  /** Number of fragment blocks opened so far (the open one included). */
  count = 0;

  constructor(private readonly blockSize: number) {}

  /**
   * Place a tail. Returns the fragment index and offset, and the block that had to be closed to
   * make room (to be compressed and written before anything that follows).
   */
  add(tail: Uint8Array): { fragment: number; offset: number; closed: Uint8Array | null } {
    let closed: Uint8Array | null = null;
    if (this.buf !== null && this.fill + tail.byteLength > this.blockSize) closed = this.close();
    if (this.buf === null) {
      this.buf = new Uint8Array(this.blockSize);
      this.fill = 0;
      this.count++;
    }
    const offset = this.fill;
    this.buf.set(tail, offset);
    this.fill += tail.byteLength;
    return { fragment: this.count - 1, offset, closed };
  }

  /** Close the open block (if any) and return its bytes. */
  close(): Uint8Array | null {
    if (this.buf === null) return null;
    const out = this.buf.subarray(0, this.fill);
    this.buf = null;
    this.fill = 0;
    return out;
  }
}
