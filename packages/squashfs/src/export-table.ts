/**
 * Export table ("SquashFS binary format", "Export table"; the kernel's NFS "lookup table"): for
 * inode number n, entry n-1 is the u64le reference of that inode in the inode table. Entries fill
 * metadata blocks (1024 each), followed by the u64le array of their offsets.
 */
import { encodeIndexedTable, type BlockCompressor } from './metadata.js';

export function encodeExportTable(
  inodeRefs: readonly bigint[],
  compress: BlockCompressor | null,
  tableOffset: number,
): { bytes: Uint8Array; indexOffset: number } {
  const entries = new Uint8Array(8 * inodeRefs.length);
  const view = new DataView(entries.buffer);
  inodeRefs.forEach((ref, i) => view.setBigUint64(8 * i, ref, true));
  return encodeIndexedTable(entries, compress, tableOffset);
}
