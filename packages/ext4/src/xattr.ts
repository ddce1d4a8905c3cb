/**
 * Extended attributes: kernel Documentation/filesystems/ext4/attributes.rst. They live in the
 * space after an inode's extra fields (a 4-byte magic, then entries; value offsets count from the
 * first entry) and, when that is full, in one block (struct ext4_xattr_header, then entries;
 * offsets count from the block start). Entries are struct ext4_xattr_entry with the name's
 * namespace as an index and the rest of the name after it; values grow down from the end of the
 * region, each padded to 4 bytes; a zero word ends the entry list.
 *
 * Placement is e2fsprogs' (lib/ext2fs/ext_attr.c, what mke2fs -d writes): each attribute, in the
 * order given, goes into the inode while it fits, else into the block; block entries are sorted
 * by (name index, name length, name) as the kernel keeps them. Block entries carry their hash and
 * the block a hash of those (the kernel shares identical blocks through it); inode entries carry 0.
 * POSIX ACLs arrive in the xattr API's format (version 2, 8-byte entries) and are stored in ext4's
 * compact one (fs/ext4/acl.h: version 1, 4-byte entries for the owner, group, mask and other).
 */
import { crc32cUpdate, encodeUtf8, struct, u8, u16le, u32le, type Xattr } from '@imgkit/core';
import { crc32cU32 } from './checksum.js';

export const XATTR_MAGIC = 0xea020000;
/** struct ext4_xattr_header */
export const XATTR_HEADER_BYTES = 32;
/** struct ext4_xattr_entry before the name */
export const XATTR_ENTRY_BYTES = 16;
/** The kernel shares one block among at most this many inodes (EXT4_XATTR_REFCOUNT_MAX). */
export const XATTR_REFCOUNT_MAX = 1024;

// attributes.rst "struct ext4_xattr_header"
export const XattrHeader = struct('ext4.xattr-header', XATTR_HEADER_BYTES, {
  magic: u32le(0x0),
  refcount: u32le(0x4),
  blocks: u32le(0x8), //    1
  hash: u32le(0xc),
  checksum: u32le(0x10), // crc32c(fs seed, le64 block number, the block with this field zero)
});
// attributes.rst "struct ext4_xattr_entry"
export const XattrEntry = struct('ext4.xattr-entry', XATTR_ENTRY_BYTES, {
  nameLen: u8(0x0),
  nameIndex: u8(0x1),
  valueOffs: u16le(0x2),
  valueInum: u32le(0x4), // 0: the value is here (ea_inode is not used)
  valueSize: u32le(0x8),
  hash: u32le(0xc),
});

/** attributes.rst "Attribute Name Indices", longest prefix first (e2fsprogs' ea_names order). */
export const NAME_INDEXES: readonly { prefix: string; index: number }[] = [
  { prefix: 'system.posix_acl_default', index: 3 },
  { prefix: 'system.posix_acl_access', index: 2 },
  { prefix: 'system.richacl', index: 8 },
  { prefix: 'security.', index: 6 },
  { prefix: 'trusted.', index: 4 },
  { prefix: 'system.', index: 7 },
  { prefix: 'user.', index: 1 },
];

/** One attribute as stored: namespace index, the rest of the name, the on-disk value. */
export interface StoredXattr {
  index: number;
  name: Uint8Array;
  value: Uint8Array;
}

/** Bytes an entry takes (header + name, rounded up to 4): EXT4_XATTR_LEN. */
export function entryBytes(nameLen: number): number {
  return (XATTR_ENTRY_BYTES + nameLen + 3) & ~3;
}
/** Bytes a value takes: EXT4_XATTR_SIZE. */
export function valueBytes(size: number): number {
  return (size + 3) & ~3;
}

// fs/ext4/acl.h / include/uapi/linux/posix_acl_xattr.h
const ACL_USER_OBJ = 0x01;
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_GROUP = 0x08;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;
const POSIX_ACL_XATTR_VERSION = 2;
const EXT4_ACL_VERSION = 1;

/** The xattr API's ACL (posix_acl_xattr_header + 8-byte entries) as ext4 stores it; undefined if malformed. */
export function aclToDisk(value: Uint8Array): Uint8Array | undefined {
  if (value.byteLength < 4 || (value.byteLength - 4) % 8 !== 0) return undefined;
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (v.getUint32(0, true) !== POSIX_ACL_XATTR_VERSION) return undefined;
  const count = (value.byteLength - 4) / 8;
  if (count === 0) return undefined;
  const out: number[] = [];
  const push32 = (x: number) => out.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24);
  const push16 = (x: number) => out.push(x & 0xff, x >>> 8);
  push32(EXT4_ACL_VERSION);
  for (let k = 0; k < count; k++) {
    const at = 4 + k * 8;
    const tag = v.getUint16(at, true);
    push16(tag);
    push16(v.getUint16(at + 2, true));
    if (tag === ACL_USER || tag === ACL_GROUP) push32(v.getUint32(at + 4, true));
    else if (tag !== ACL_USER_OBJ && tag !== ACL_GROUP_OBJ && tag !== ACL_MASK && tag !== ACL_OTHER) return undefined;
  }
  return Uint8Array.from(out);
}

/** Why a source attribute cannot be stored, or what to store. */
export type PrepareResult = { ok: StoredXattr } | { problem: string };

/** Map a source attribute to its stored form: namespace index, short name, value (ACLs converted). */
export function prepareXattr(x: Xattr): PrepareResult {
  const ns = NAME_INDEXES.find((n) => x.name.startsWith(n.prefix));
  if (!ns) return { problem: `extended attribute "${x.name}" is in no namespace ext4 stores (user., trusted., security., system.)` };
  const name = encodeUtf8(x.name.slice(ns.prefix.length));
  if ((ns.index === 2 || ns.index === 3) && name.byteLength !== 0) return { problem: `"${x.name}" is not a POSIX ACL name` };
  if (name.byteLength > 255) return { problem: `extended attribute name "${x.name}" is longer than 255 bytes after its prefix` };
  let value = x.value;
  if (ns.index === 2 || ns.index === 3) {
    const disk = aclToDisk(value);
    if (!disk) return { problem: `"${x.name}" is not a valid POSIX ACL (version 2, 8-byte entries)` };
    value = disk;
  }
  return { ok: { index: ns.index, name, value } };
}

/** attributes.rst "e_hash": names rotate by 5, values (as le32 words) by 16. */
export function entryHash(x: StoredXattr): number {
  let hash = 0;
  for (let i = 0; i < x.name.byteLength; i++) hash = ((hash << 5) ^ (hash >>> 27) ^ x.name[i]!) >>> 0;
  if (x.value.byteLength > 0) {
    const padded = new Uint8Array(valueBytes(x.value.byteLength));
    padded.set(x.value);
    const v = new DataView(padded.buffer);
    for (let at = 0; at < padded.byteLength; at += 4) hash = ((hash << 16) ^ (hash >>> 16) ^ v.getUint32(at, true)) >>> 0;
  }
  return hash;
}

/** Kernel order of block entries (ext4_xattr_set_entry keeps them sorted): index, name length, name bytes. */
export function compareStored(a: StoredXattr, b: StoredXattr): number {
  if (a.index !== b.index) return a.index - b.index;
  if (a.name.byteLength !== b.name.byteLength) return a.name.byteLength - b.name.byteLength;
  for (let i = 0; i < a.name.byteLength; i++) if (a.name[i] !== b.name[i]) return a.name[i]! - b.name[i]!;
  return 0;
}

/** Space in an inode for attributes: inode size − 128 − i_extra_isize − magic − final zero word. */
export function ibodyCapacity(inodeSize: number, extraIsize: number): number {
  return Math.max(0, inodeSize - 128 - extraIsize - 8);
}
/** Space in a block: block size − header − final zero word. */
export function xattrBlockCapacity(blockSize: number): number {
  return blockSize - XATTR_HEADER_BYTES - 4;
}

export interface XattrPlacement {
  ibody: StoredXattr[];
  block: StoredXattr[];
}

/**
 * Split an inode's attributes between its body and a block as e2fsprogs does: each goes into the
 * inode while it fits, the rest into the block (sorted). Returns undefined when the block overflows.
 */
export function placeXattrs(attrs: readonly StoredXattr[], inodeSize: number, extraIsize: number, blockSize: number): XattrPlacement | undefined {
  let ibodyFree = ibodyCapacity(inodeSize, extraIsize);
  let blockFree = xattrBlockCapacity(blockSize);
  const ibody: StoredXattr[] = [];
  const block: StoredXattr[] = [];
  for (const x of attrs) {
    const need = entryBytes(x.name.byteLength) + valueBytes(x.value.byteLength);
    if (inodeSize > 128 && need <= ibodyFree) {
      ibody.push(x);
      ibodyFree -= need;
    } else if (need <= blockFree) {
      block.push(x);
      blockFree -= need;
    } else return undefined;
  }
  block.sort(compareStored);
  return { ibody, block };
}

/**
 * Entries and values into `region` (zeroed): entries from `entriesAt`, values packed down from the
 * region's end; value offsets relative to `offsetBase`. `withHash`: e_hash set (block entries).
 */
function writeEntries(attrs: readonly StoredXattr[], region: Uint8Array, entriesAt: number, offsetBase: number, withHash: boolean): void {
  let at = entriesAt;
  let end = region.byteLength;
  for (const x of attrs) {
    end -= valueBytes(x.value.byteLength);
    region.set(x.value, end);
    XattrEntry.encode(
      { nameLen: x.name.byteLength, nameIndex: x.index, valueOffs: end - offsetBase, valueInum: 0, valueSize: x.value.byteLength, hash: withHash ? entryHash(x) : 0 },
      region,
      at,
    );
    region.set(x.name, at + XATTR_ENTRY_BYTES);
    at += entryBytes(x.name.byteLength);
  }
  if (at + 4 > end) throw new Error('internal: extended attributes overflow their region');
}

/**
 * The in-inode attribute area: `inode` is the whole inode buffer (inodeSize bytes at `at`); the
 * magic goes right after the extra fields (128 + extraIsize), entries after it.
 */
export function encodeIbodyXattrs(attrs: readonly StoredXattr[], inode: Uint8Array, at: number, inodeSize: number, extraIsize: number): void {
  if (attrs.length === 0) return;
  const start = at + 128 + extraIsize;
  new DataView(inode.buffer, inode.byteOffset).setUint32(start, XATTR_MAGIC, true);
  const region = inode.subarray(start + 4, at + inodeSize);
  writeEntries(attrs, region, 0, 0, false);
}

/** attributes.rst "h_hash": the entries' hashes rotated by 16; 0 if an entry's hash is 0. */
export function blockHash(attrs: readonly StoredXattr[]): number {
  let hash = 0;
  for (const x of attrs) {
    const h = entryHash(x);
    if (h === 0) return 0;
    hash = ((hash << 16) ^ (hash >>> 16) ^ h) >>> 0;
  }
  return hash;
}

/** An attribute block shared by `refcount` inodes, at `blockNr` (its checksum covers the number). */
export function encodeXattrBlock(attrs: readonly StoredXattr[], refcount: number, blockNr: number, blockSize: number, fsSeed: number | undefined): Uint8Array {
  const out = new Uint8Array(blockSize);
  writeEntries(attrs, out, XATTR_HEADER_BYTES, 0, true);
  XattrHeader.encode({ magic: XATTR_MAGIC, refcount, blocks: 1, hash: blockHash(attrs), checksum: 0 }, out, 0);
  if (fsSeed !== undefined) {
    // csum.c ext2fs_ext_attr_block_csum: crc32c(fs seed, le64 block) then the block
    const crc = crc32cUpdate(crc32cU32(crc32cU32(fsSeed, blockNr % 0x100000000), Math.floor(blockNr / 0x100000000)), out);
    new DataView(out.buffer).setUint32(0x10, crc, true);
  }
  return out;
}

/** A key that is equal for attribute lists whose blocks would be identical (sharing). */
export function blockKey(attrs: readonly StoredXattr[]): string {
  let s = '';
  for (const x of attrs) {
    s += `${x.index}:${x.name.join(',')}=${x.value.join(',')};`;
  }
  return s;
}
