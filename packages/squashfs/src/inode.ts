/**
 * Inodes ("SquashFS binary format", "Inode table"; fs/squashfs/squashfs_fs.h struct
 * squashfs_*_inode). Every inode starts with the same 16-byte header; the type decides the rest.
 * Basic types are used when their narrower fields suffice; extended types (+7) add a link count
 * where the basic one has none, 64-bit sizes, and an xattr index.
 */
import { struct, u16le, u32le, u64le } from '@imgkit/core';

export const INODE_TYPE = {
  dir: 1,
  file: 2,
  symlink: 3,
  block: 4,
  char: 5,
  fifo: 6,
  socket: 7,
  ldir: 8,
  lfile: 9,
  lsymlink: 10,
  lblock: 11,
  lchar: 12,
  lfifo: 13,
  lsocket: 14,
} as const;
/** Extended type = basic type + 7; directory entries always carry the basic type. */
export const EXTENDED_OFFSET = 7;
/** squashfs_fs.h SQUASHFS_INVALID_XATTR / SQUASHFS_INVALID_FRAG. */
export const NO_XATTR = 0xffffffff;
export const NO_FRAGMENT = 0xffffffff;
/** Data block size word: bit 24 set = stored uncompressed; 0 = a sparse (all-zero) block. */
export const DATA_UNCOMPRESSED = 1 << 24;

export function dataSize(length: number, { uncompressed }: { uncompressed: boolean }): number {
  return uncompressed ? length | DATA_UNCOMPRESSED : length;
}

// struct squashfs_base_inode
export const InodeHeader = struct('squashfs.inode', 16, {
  type: u16le(0),
  mode: u16le(2), // permission + set-id/sticky bits (mode & 07777); the type gives S_IFMT
  uidIndex: u16le(4),
  gidIndex: u16le(6),
  mtime: u32le(8),
  inodeNumber: u32le(12),
});
export type InodeHeaderFields = Parameters<typeof InodeHeader.encode>[0];

// struct squashfs_dir_inode (type 1)
export const DirInode = struct('squashfs.dirInode', 16, {
  startBlock: u32le(0), // directory table block (relative)
  nlink: u32le(4),
  fileSize: u16le(8), // listing bytes + 3
  offset: u16le(10),
  parentInode: u32le(12),
});
// struct squashfs_ldir_inode (type 8), followed by iCount directory indexes
export const LdirInode = struct('squashfs.ldirInode', 24, {
  nlink: u32le(0),
  fileSize: u32le(4),
  startBlock: u32le(8),
  parentInode: u32le(12),
  indexCount: u16le(16),
  offset: u16le(18),
  xattr: u32le(20),
});
// struct squashfs_dir_index
export const DirIndex = struct('squashfs.dirIndex', 12, {
  index: u32le(0), // byte offset of a directory header inside this directory's listing
  startBlock: u32le(4), // directory table block holding that header (relative)
  nameSize: u32le(8), // name length - 1
});
// struct squashfs_reg_inode (type 2), followed by u32le block sizes
export const FileInode = struct('squashfs.fileInode', 16, {
  startBlock: u32le(0),
  fragment: u32le(4),
  offset: u32le(8),
  fileSize: u32le(12),
});
// struct squashfs_lreg_inode (type 9), followed by u32le block sizes
export const LfileInode = struct('squashfs.lfileInode', 40, {
  startBlock: u64le(0),
  fileSize: u64le(8),
  sparse: u64le(16),
  nlink: u32le(24),
  fragment: u32le(28),
  offset: u32le(32),
  xattr: u32le(36),
});
// struct squashfs_symlink_inode (types 3 and 10); extended adds u32 xattr after the target
export const SymlinkInode = struct('squashfs.symlinkInode', 8, { nlink: u32le(0), targetSize: u32le(4) });
// struct squashfs_dev_inode / squashfs_ldev_inode
export const DevInode = struct('squashfs.devInode', 8, { nlink: u32le(0), rdev: u32le(4) });
export const LdevInode = struct('squashfs.ldevInode', 12, { nlink: u32le(0), rdev: u32le(4), xattr: u32le(8) });
// struct squashfs_ipc_inode / squashfs_lipc_inode
export const IpcInode = struct('squashfs.ipcInode', 4, { nlink: u32le(0) });
export const LipcInode = struct('squashfs.lipcInode', 8, { nlink: u32le(0), xattr: u32le(4) });
/** The smallest inode: a basic fifo or socket (header + nlink), 20 bytes. */
export const MIN_INODE_BYTES = InodeHeader.size + IpcInode.size;

const u32 = struct('u32', 4, { v: u32le(0) });

function withHeader(header: InodeHeaderFields, body: Uint8Array, tail?: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + body.byteLength + (tail?.byteLength ?? 0));
  InodeHeader.encode(header, out, 0);
  out.set(body, 16);
  if (tail) out.set(tail, 16 + body.byteLength);
  return out;
}

export interface DirInodeInfo {
  startBlock: number;
  offset: number;
  fileSize: number;
  nlink: number;
  parentInode: number;
  xattr: number;
  index: { index: number; startBlock: number; name: Uint8Array }[];
}

export function encodeDirInode(h: Omit<InodeHeaderFields, 'type'>, d: DirInodeInfo): Uint8Array {
  const extended = d.index.length > 0 || d.fileSize > 0xffff || d.xattr !== NO_XATTR;
  if (!extended) {
    return withHeader(
      { ...h, type: INODE_TYPE.dir },
      DirInode.encode({ startBlock: d.startBlock, nlink: d.nlink, fileSize: d.fileSize, offset: d.offset, parentInode: d.parentInode }),
    );
  }
  let tailLen = 0;
  for (const i of d.index) tailLen += DirIndex.size + i.name.byteLength;
  const tail = new Uint8Array(tailLen);
  let at = 0;
  for (const i of d.index) {
    DirIndex.encode({ index: i.index, startBlock: i.startBlock, nameSize: i.name.byteLength - 1 }, tail, at);
    tail.set(i.name, at + DirIndex.size);
    at += DirIndex.size + i.name.byteLength;
  }
  return withHeader(
    { ...h, type: INODE_TYPE.ldir },
    LdirInode.encode({
      nlink: d.nlink,
      fileSize: d.fileSize,
      startBlock: d.startBlock,
      parentInode: d.parentInode,
      indexCount: d.index.length,
      offset: d.offset,
      xattr: d.xattr,
    }),
    tail,
  );
}

export interface FileInodeInfo {
  startBlock: number;
  fileSize: number;
  /** Bytes held by sparse blocks (lreg only; mksquashfs uses lreg when any). */
  sparseBytes: number;
  nlink: number;
  fragment: number;
  fragmentOffset: number;
  xattr: number;
  blockSizes: ArrayLike<number>;
}

/** mksquashfs uses the basic form unless a field needs the extended one. */
export function fileNeedsExtended(f: FileInodeInfo): boolean {
  return f.fileSize > 0xffffffff || f.startBlock > 0xffffffff || f.nlink > 1 || f.xattr !== NO_XATTR || f.sparseBytes > 0;
}

export function encodeFileInode(h: Omit<InodeHeaderFields, 'type'>, f: FileInodeInfo): Uint8Array {
  const list = new Uint8Array(4 * f.blockSizes.length);
  const view = new DataView(list.buffer);
  for (let i = 0; i < f.blockSizes.length; i++) view.setUint32(4 * i, f.blockSizes[i]!, true);
  if (!fileNeedsExtended(f)) {
    return withHeader(
      { ...h, type: INODE_TYPE.file },
      FileInode.encode({ startBlock: f.startBlock, fragment: f.fragment, offset: f.fragmentOffset, fileSize: f.fileSize }),
      list,
    );
  }
  return withHeader(
    { ...h, type: INODE_TYPE.lfile },
    LfileInode.encode({
      startBlock: BigInt(f.startBlock),
      fileSize: BigInt(f.fileSize),
      sparse: BigInt(f.sparseBytes),
      nlink: f.nlink,
      fragment: f.fragment,
      offset: f.fragmentOffset,
      xattr: f.xattr,
    }),
    list,
  );
}

export function encodeSymlinkInode(h: Omit<InodeHeaderFields, 'type'>, nlink: number, target: Uint8Array, xattr: number): Uint8Array {
  const body = SymlinkInode.encode({ nlink, targetSize: target.byteLength });
  if (xattr === NO_XATTR) return withHeader({ ...h, type: INODE_TYPE.symlink }, body, target);
  const tail = new Uint8Array(target.byteLength + 4);
  tail.set(target, 0);
  u32.encode({ v: xattr }, tail, target.byteLength);
  return withHeader({ ...h, type: INODE_TYPE.lsymlink }, body, tail);
}

export function encodeDevInode(
  h: Omit<InodeHeaderFields, 'type'>,
  kind: 'block' | 'char',
  nlink: number,
  rdev: number,
  xattr: number,
): Uint8Array {
  if (xattr === NO_XATTR) return withHeader({ ...h, type: INODE_TYPE[kind] }, DevInode.encode({ nlink, rdev }));
  return withHeader({ ...h, type: INODE_TYPE[kind] + EXTENDED_OFFSET }, LdevInode.encode({ nlink, rdev, xattr }));
}

export function encodeIpcInode(h: Omit<InodeHeaderFields, 'type'>, kind: 'fifo' | 'socket', nlink: number, xattr: number): Uint8Array {
  if (xattr === NO_XATTR) return withHeader({ ...h, type: INODE_TYPE[kind] }, IpcInode.encode({ nlink }));
  return withHeader({ ...h, type: INODE_TYPE[kind] + EXTENDED_OFFSET }, LipcInode.encode({ nlink, xattr }));
}

/**
 * Linux new_encode_dev, as mksquashfs stores st_rdev in 32 bits: minor's low 8 bits, major's 12
 * bits, then minor's upper 12 bits.
 */
export function encodeRdev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & 0xfff00) << 12)) >>> 0;
}
