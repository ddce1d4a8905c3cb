/**
 * The "newc" (070701) and "crc" (070702) cpio header, per the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst ("cpio_header"): 110 bytes, the
 * 6-byte magic then 13 fields of 8 ASCII hex digits. The name (with its NUL) follows and is padded
 * to a multiple of 4 counted from the start of the header; the data follows and is padded to 4.
 */
import { ascii, hex, padLength, struct, type StructValues } from '@imgkit/core';

export const NEWC_MAGIC = '070701';
/** "crc" format: identical to newc, but `check` holds the 32-bit sum of the data bytes. */
export const CRC_MAGIC = '070702';
export const CPIO_HEADER_SIZE = 110;
/** Name of the entry that ends an archive. */
export const CPIO_TRAILER_NAME = 'TRAILER!!!';
/**
 * Longest name the kernel unpacks, NUL included: init/initramfs.c skips entries whose
 * name_len exceeds PATH_MAX (4096). Symlink targets (the body) are limited the same way, and
 * Linux cannot create a target longer than PATH_MAX − 1 bytes.
 */
export const CPIO_PATH_MAX = 4096;
/** newc fields are 8 hex digits: file sizes, ids and times up to 2^32 − 1. */
export const CPIO_FIELD_MAX = 0xffffffff;

// buffer-format.rst, "cpio_header": field, offset, width (all 8 hex digits except c_magic).
export const NewcHeader = struct('cpio.newc', CPIO_HEADER_SIZE, {
  magic: ascii(0, 6), //         "070701" or "070702"
  ino: hex(6, 8), //             inode number; names of one hard-linked file share it
  mode: hex(14, 8), //           S_IFMT type bits | permission bits
  uid: hex(22, 8),
  gid: hex(30, 8),
  nlink: hex(38, 8), //          number of links to this file
  mtime: hex(46, 8), //          seconds since the epoch
  filesize: hex(54, 8), //       bytes of data after the name (the symlink target for symlinks)
  devmajor: hex(62, 8), //       device holding the file (with ino: hard-link identity)
  devminor: hex(70, 8),
  rdevmajor: hex(78, 8), //      device number of char/block special files
  rdevminor: hex(86, 8),
  namesize: hex(94, 8), //       name length including the trailing NUL
  check: hex(102, 8), //         newc: 0; crc: sum of all data bytes, modulo 2^32
});
export type NewcHeaderValues = StructValues<typeof NewcHeader.fields>;

/** Padding after header + name (counted from the header's start) to the next multiple of 4. */
export function namePadding(nameSizeWithNul: number): number {
  return padLength(CPIO_HEADER_SIZE + nameSizeWithNul, 4);
}

/** Header + name + NUL + padding, in one buffer. */
export function encodeEntryHead(h: Omit<NewcHeaderValues, 'namesize'>, nameBytes: Uint8Array): Uint8Array {
  const nameSize = nameBytes.byteLength + 1;
  const out = new Uint8Array(CPIO_HEADER_SIZE + nameSize + namePadding(nameSize));
  NewcHeader.encode({ ...h, namesize: nameSize }, out, 0);
  out.set(nameBytes, CPIO_HEADER_SIZE);
  return out;
}

/** The 32-bit byte sum the "crc" format stores in `check`. */
export function byteSum(data: Uint8Array, prev = 0): number {
  let s = prev;
  for (let i = 0; i < data.byteLength; i++) s += data[i]!;
  return s >>> 0;
}
