/**
 * Directory listings ("SquashFS binary format", "Directory table"; squashfs_fs.h struct
 * squashfs_dir_header / squashfs_dir_entry). A listing is a run of headers, each followed by up to
 * 256 entries whose inodes lie in the same inode-table block and whose inode numbers are within
 * a signed 16-bit delta of the header's. Entries are sorted by the bytes of their names (the
 * kernel's lookup stops at the first name greater than the one it seeks).
 *
 * Listings longer than a metadata block get a directory index in their (extended) inode: one
 * entry each time a header starts more than 8 KiB after the previous indexed point, naming the
 * header's offset in the listing, the directory-table block it lies in, and its first name. The
 * kernel's lookup skips to the last index whose name sorts before the name it seeks
 * (fs/squashfs/namei.c get_dir_index_using_name); mksquashfs places them by the same rule.
 */
import { struct, u16le, u32le } from '@imgkit/core';
import { i16le } from './fields.js';
import { METADATA_SIZE, type MetadataWriter } from './metadata.js';

// struct squashfs_dir_header
export const DirHeader = struct('squashfs.dirHeader', 12, {
  count: u32le(0), // entries - 1
  startBlock: u32le(4), // inode table block of every entry's inode (relative)
  inodeNumber: u32le(8), // base for the entries' deltas
});
// struct squashfs_dir_entry, followed by the name (not NUL-terminated)
export const DirEntry = struct('squashfs.dirEntry', 8, {
  offset: u16le(0), // inode offset inside its block
  inodeNumberDelta: i16le(2),
  type: u16le(4), // basic inode type
  nameSize: u16le(6), // name length - 1
});

export const MAX_ENTRIES_PER_HEADER = 256;
export const SQUASHFS_NAME_LEN = 256;

export interface DirectoryEntryInfo {
  name: Uint8Array;
  inodeBlock: number;
  inodeOffset: number;
  inodeNumber: number;
  /** Basic inode type (1…7). */
  type: number;
}

export interface WrittenDirectory {
  startBlock: number;
  offset: number;
  /** Listing bytes + 3 (the kernel counts "." and ".."). */
  fileSize: number;
  index: { index: number; startBlock: number; name: Uint8Array }[];
}

/** Append one directory's listing to the directory table. */
export function writeDirectory(table: MetadataWriter, entries: readonly DirectoryEntryInfo[]): WrittenDirectory {
  const start = table.position();
  const index: WrittenDirectory['index'] = [];
  let length = 0;
  let lastIndexed = 0;
  let i = 0;
  while (i < entries.length) {
    const first = entries[i]!;
    // mksquashfs's rule: once the listing since the last indexed header plus this entry would pass
    // a metadata block, this header becomes an index point.
    const at = table.position();
    if (i > 0 && length + DirEntry.size + first.name.byteLength - lastIndexed > METADATA_SIZE) {
      index.push({ index: length, startBlock: at.block, name: first.name });
      lastIndexed = length;
    }
    // Decide how many entries share this header.
    let n = 1;
    let runLength = DirHeader.size + DirEntry.size + first.name.byteLength;
    while (i + n < entries.length && n < MAX_ENTRIES_PER_HEADER) {
      const e = entries[i + n]!;
      const delta = e.inodeNumber - first.inodeNumber;
      const size = DirEntry.size + e.name.byteLength;
      if (e.inodeBlock !== first.inodeBlock || delta > 32767 || delta < -32768) break;
      if (length + runLength + size - lastIndexed > METADATA_SIZE) break;
      runLength += size;
      n++;
    }
    const header = DirHeader.encode({ count: n - 1, startBlock: first.inodeBlock, inodeNumber: first.inodeNumber });
    table.append(header);
    length += header.byteLength;
    for (let k = 0; k < n; k++) {
      const e = entries[i + k]!;
      const ent = new Uint8Array(DirEntry.size + e.name.byteLength);
      DirEntry.encode(
        { offset: e.inodeOffset, inodeNumberDelta: e.inodeNumber - first.inodeNumber, type: e.type, nameSize: e.name.byteLength - 1 },
        ent,
        0,
      );
      ent.set(e.name, DirEntry.size);
      table.append(ent);
      length += ent.byteLength;
    }
    i += n;
  }
  return { startBlock: start.block, offset: start.offset, fileSize: length + 3, index };
}
