/**
 * Id table ("SquashFS binary format", "ID table"): inodes store 16-bit indexes into a table of
 * 32-bit uids and gids shared by both. Ids are numbered in order of first use, as mksquashfs does;
 * the u32le values go into metadata blocks followed by the u64le array of their offsets.
 */
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { encodeIndexedTable, type BlockCompressor } from './metadata.js';

/** squashfs_fs.h SQUASHFS_IDS: indexes are u16. */
export const MAX_IDS = 65536;

export class IdTable {
  private readonly index = new Map<number, number>();
  readonly ids: number[] = [];

  /** The index of `id`, adding it on first use. */
  get(id: number, path: string): number {
    let i = this.index.get(id);
    if (i === undefined) {
      if (!Number.isSafeInteger(id) || id < 0 || id > 0xffffffff) {
        throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'squashfs', path, detail: `owner id ${id} does not fit 32 bits` });
      }
      if (this.ids.length >= MAX_IDS) {
        throw new ImgkitError(ErrorCodes.FIELD_RANGE, {
          format: 'squashfs',
          path,
          field: 'squashfs.superblock.idCount',
          detail: `more than ${MAX_IDS} distinct uids and gids`,
          hint: 'force the owners: -all-root or -force-uid/-force-gid (library: applyOwnership)',
        });
      }
      i = this.ids.length;
      this.ids.push(id);
      this.index.set(id, i);
    }
    return i;
  }

  encode(compress: BlockCompressor | null, tableOffset: number): { bytes: Uint8Array; indexOffset: number } {
    const entries = new Uint8Array(4 * this.ids.length);
    const view = new DataView(entries.buffer);
    this.ids.forEach((id, i) => view.setUint32(4 * i, id, true));
    return encodeIndexedTable(entries, compress, tableOffset);
  }
}
