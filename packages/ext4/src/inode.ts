/**
 * Inodes: kernel Documentation/filesystems/ext4/inodes.rst (struct ext4_inode). The first 128
 * bytes are the original ext2 inode; with 256-byte inodes the next i_extra_isize (32) bytes carry
 * the checksum's high half, the times' extra words (2 epoch bits for dates after 2038, nanoseconds)
 * and the creation time; the rest of the inode holds extended attributes (xattr.ts).
 */
import { bytes, crc32cUpdate, struct, u16le, u32le, type StructValues } from '@imgkit/core';
import { inodeChecksumSeed } from './checksum.js';

export const GOOD_OLD_INODE_SIZE = 128;
/** sizeof(struct ext2_inode_large) − 128: what mke2fs gives every inode. */
export const EXTRA_ISIZE = 32;
/** i_block: 15 × u32 = 60 bytes (extent tree root, fast symlink, device numbers). */
export const IBLOCK_BYTES = 60;

// inodes.rst "i_mode" file types
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

// inodes.rst "i_flags"
export const INDEX_FL = 0x1000; //      hashed directory (htree)
export const HUGE_FILE_FL = 0x40000; // i_blocks counts file-system blocks, not 512-byte sectors
export const EXTENTS_FL = 0x80000; //   i_block holds an extent tree

/** Reserved inode numbers (inodes.rst "Special inodes"). */
export const BAD_BLOCKS_INO = 1;
export const ROOT_INO = 2;
export const RESIZE_INO = 7;
export const JOURNAL_INO = 8;
export const LOST_FOUND_INO = 11;

/** A directory's link count stops at this (dir_nlink: then 1, "many"), as EXT4_LINK_MAX. */
export const LINK_MAX = 65000;

// inodes.rst "The Inode" table.
export const Inode = struct('ext4.inode', GOOD_OLD_INODE_SIZE + EXTRA_ISIZE, {
  mode: u16le(0x0),
  uidLo: u16le(0x2),
  sizeLo: u32le(0x4),
  atime: u32le(0x8),
  ctime: u32le(0xc),
  mtime: u32le(0x10),
  dtime: u32le(0x14),
  gidLo: u16le(0x18),
  linksCount: u16le(0x1a),
  blocksLo: u32le(0x1c), //         512-byte units (huge_file without HUGE_FILE_FL)
  flags: u32le(0x20),
  version: u32le(0x24), //          osd1 l_i_version
  block: bytes(0x28, IBLOCK_BYTES),
  generation: u32le(0x64),
  fileAclLo: u32le(0x68), //        the extended attribute block
  sizeHigh: u32le(0x6c),
  faddr: u32le(0x70), //            obsolete fragment address
  blocksHigh: u16le(0x74), //       osd2 l_i_blocks_high
  fileAclHigh: u16le(0x76),
  uidHigh: u16le(0x78),
  gidHigh: u16le(0x7a),
  checksumLo: u16le(0x7c), //       crc32c(inode seed, inode with both checksum halves zero) low 16 bits
  reserved: u16le(0x7e),
  extraIsize: u16le(0x80), //       from here: only when the inode is larger than 128 bytes
  checksumHi: u16le(0x82),
  ctimeExtra: u32le(0x84), //       nanoseconds << 2 | epoch bits
  mtimeExtra: u32le(0x88),
  atimeExtra: u32le(0x8c),
  crtime: u32le(0x90),
  crtimeExtra: u32le(0x94),
  versionHi: u32le(0x98),
  projid: u32le(0x9c),
});
export type InodeValues = StructValues<typeof Inode.fields>;

/** What the writer needs to encode one inode. */
export interface InodeFields {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since 1970 (may be negative or past 2038). */
  atime: number;
  ctime: number;
  mtime: number;
  crtime: number;
  links: number;
  /** 512-byte sectors (data, extent tree and xattr blocks). */
  blocks512: number;
  flags: number;
  /** 60 bytes: extent root, fast symlink target or device numbers. */
  block: Uint8Array;
  /** The extended attribute block, 0 for none. */
  fileAcl: number;
  generation?: number;
  /** i_extra_isize: 32, or 0 for an inode written as a 128-byte one (the bad-blocks inode). @default 32 */
  extraIsize?: number;
}

/**
 * A time as inodes.rst "Inode Timestamps" stores it: the low 32 bits of the signed seconds, and
 * in the extra word the two bits that extend them (epoch) and the nanoseconds.
 */
export function encodeTime(seconds: number, nanoseconds = 0): { lo: number; extra: number } {
  const lo = ((seconds % 0x100000000) + 0x100000000) % 0x100000000;
  const signedLo = lo >= 0x80000000 ? lo - 0x100000000 : lo;
  const epochBits = (Math.round((seconds - signedLo) / 0x100000000) % 4 + 4) % 4;
  return { lo, extra: (epochBits | (nanoseconds << 2)) >>> 0 };
}

/** The seconds a stored time means (tests, decoders). */
export function decodeTime(lo: number, extra: number): number {
  const signedLo = lo >= 0x80000000 ? lo - 0x100000000 : lo;
  return signedLo + (extra & 3) * 0x100000000;
}

/** The times a 128-byte inode (no extra words) can hold. */
export const OLD_TIME_MIN = -0x80000000;
export const OLD_TIME_MAX = 0x7fffffff;

/**
 * Encode inode `ino` into `into` at `at` (inodeSize bytes; the caller zeroes the buffer and may
 * have put in-inode xattrs after the extra fields), with its checksum when `csumSeed` (the fs seed)
 * is given: crc32c(inode seed, the whole inode with i_checksum_lo/hi zero), inodes.rst "i_checksum".
 */
export function encodeInode(f: InodeFields, ino: number, inodeSize: number, csumSeed: number | undefined, into: Uint8Array, at: number): void {
  const a = encodeTime(f.atime);
  const c = encodeTime(f.ctime);
  const m = encodeTime(f.mtime);
  const cr = encodeTime(f.crtime);
  const values: InodeValues = {
    mode: f.mode,
    uidLo: f.uid & 0xffff,
    sizeLo: f.size % 0x100000000,
    atime: a.lo,
    ctime: c.lo,
    mtime: m.lo,
    dtime: 0,
    gidLo: f.gid & 0xffff,
    linksCount: f.links,
    blocksLo: f.blocks512 % 0x100000000,
    flags: f.flags,
    version: 0,
    block: f.block,
    generation: f.generation ?? 0,
    fileAclLo: f.fileAcl % 0x100000000,
    sizeHigh: Math.floor(f.size / 0x100000000),
    faddr: 0,
    blocksHigh: Math.floor(f.blocks512 / 0x100000000),
    fileAclHigh: Math.floor(f.fileAcl / 0x100000000),
    uidHigh: Math.floor(f.uid / 0x10000),
    gidHigh: Math.floor(f.gid / 0x10000),
    checksumLo: 0,
    reserved: 0,
    extraIsize: EXTRA_ISIZE,
    checksumHi: 0,
    ctimeExtra: c.extra,
    mtimeExtra: m.extra,
    atimeExtra: a.extra,
    crtime: cr.lo,
    crtimeExtra: cr.extra,
    versionHi: 0,
    projid: 0,
  };
  const extra = f.extraIsize ?? EXTRA_ISIZE;
  if (extra === 0) {
    Object.assign(values, { extraIsize: 0, ctimeExtra: 0, mtimeExtra: 0, atimeExtra: 0, crtime: 0, crtimeExtra: 0 });
  }
  if (inodeSize > GOOD_OLD_INODE_SIZE) Inode.encode(values, into, at);
  else {
    // A 128-byte inode: encode into a scratch buffer and keep the first 128 bytes.
    const full = Inode.encode(values);
    into.set(full.subarray(0, GOOD_OLD_INODE_SIZE), at);
  }
  if (csumSeed !== undefined) {
    const crc = crc32cUpdate(inodeChecksumSeed(csumSeed, ino, f.generation ?? 0), into.subarray(at, at + inodeSize));
    into[at + 0x7c] = crc & 0xff;
    into[at + 0x7d] = (crc >>> 8) & 0xff;
    if (inodeSize > GOOD_OLD_INODE_SIZE && extra >= 4) {
      into[at + 0x82] = (crc >>> 16) & 0xff;
      into[at + 0x83] = crc >>> 24;
    }
  }
}

/**
 * A device number in i_block (the kernel's ext4 "old" and "new" encodings, as mke2fs -d writes
 * them): major and minor below 256 go in i_block[0] as major << 8 | minor; otherwise i_block[1]
 * holds minor & 0xff | major << 8 | (minor & ~0xff) << 12.
 */
export function encodeDevice(major: number, minor: number): Uint8Array {
  const out = new Uint8Array(IBLOCK_BYTES);
  const v = new DataView(out.buffer);
  if (major < 256 && minor < 256) v.setUint32(0, major * 256 + minor, true);
  else v.setUint32(4, ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0, true);
  return out;
}
