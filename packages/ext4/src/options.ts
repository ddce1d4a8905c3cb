/** Ext4Options and their validation (one `resolveOptions`; errors name the field). */
import { ErrorCodes, ImgkitError, deterministicId, encodeUtf8, resolveEpoch, type WarningHandler } from '@imgkit/core';
import {
  DEFAULT_FEATURES,
  COMPAT_RESIZE_INODE,
  INCOMPAT_64BIT,
  INCOMPAT_CSUM_SEED,
  INCOMPAT_EXTENTS,
  INCOMPAT_FLEX_BG,
  RO_COMPAT_GDT_CSUM,
  RO_COMPAT_METADATA_CSUM,
  RO_COMPAT_SPARSE_SUPER,
  editFeatures,
  type FeatureWords,
} from './features.js';
import { HASH_HALF_MD4, HASH_LEGACY, HASH_TEA } from './superblock.js';

const FORMAT = 'ext4';

export interface Ext4Options {
  /**
   * Image size in bytes (mke2fs's fs-size): the filesystem takes whole blocks of it (maybe a few
   * fewer, as mke2fs drops a last group too small for its metadata); the image is exactly this
   * long. Too small for the tree: E_NO_SPACE saying how much it needs.
   * @default the smallest size (in whole MiB) that holds the tree, `margin` and `inodeReserve`
   */
  size?: number;
  /** Block size (mke2fs -b). @default 4096 */
  blockSize?: 1024 | 2048 | 4096;
  /** Inode size (mke2fs -I): a power of two from 128 to the block size. @default 256 */
  inodeSize?: number;
  /** Bytes per inode (mke2fs -i), when `inodes` is not given. @default 16384 */
  inodeRatio?: number;
  /** Number of inodes (mke2fs -N), rounded up to whole inode-table blocks per group. @default from inodeRatio */
  inodes?: number;
  /** Percentage of blocks reserved for the superuser (mke2fs -m), 0 … 50. @default 5 */
  reservedPercent?: number;
  /** Volume label (mke2fs -L): up to 16 bytes of UTF-8. @default none */
  label?: string;
  /** Filesystem UUID (mke2fs -U), "xxxxxxxx-xxxx-…" or "null". @default derived from epoch and label */
  uuid?: string;
  /** htree hash seed (mke2fs -E hash_seed=), a UUID. @default derived from epoch and label */
  hashSeed?: string;
  /** Directory hash (mke2fs.conf hash_alg). @default 'half_md4' */
  hashAlg?: 'legacy' | 'half_md4' | 'tea';
  /**
   * Feature switches as mke2fs -O takes them, applied to Debian's ext4 defaults (has_journal,
   * ext_attr, resize_inode, dir_index, filetype, extent, 64bit, flex_bg, sparse_super, large_file,
   * huge_file, dir_nlink, extra_isize, metadata_csum): e.g. "^metadata_csum,^64bit" for old boot
   * loaders and kernels. @default none
   */
  features?: string;
  /** Groups per flex group (mke2fs -G), a power of two. @default 16 */
  flexBgSize?: number;
  /** Journal size in blocks (mke2fs -J size= gives MiB). @default mke2fs's size for the filesystem */
  journalBlocks?: number;
  /**
   * Free space the automatic size leaves for users (beyond the reserved blocks): bytes, or "N%" of
   * what the tree takes. Ignored when `size` is given. @default "10%"
   */
  margin?: number | `${number}%`;
  /** Free inodes the automatic size leaves: a count, or "N%" of the inodes the tree takes. @default "10%" */
  inodeReserve?: number | `${number}%`;
  /** Seconds since 1970: clamps newer file times; dates the filesystem, derives UUID and hash seed. @default 0 */
  epoch?: number;
  /** When the filesystem is dated (mkfs time, creation times) if not `epoch`: the CLI passes the current time. @default epoch */
  now?: number;
  /** Lossy conversions are reported here. @default ignored */
  onWarning?: WarningHandler;
  /** Turn warnings into errors. @default false */
  strict?: boolean;
}

export interface ResolvedExt4Options {
  size: number | undefined;
  blockSize: number;
  inodeSize: number;
  inodeRatio: number;
  inodes: number | undefined;
  reservedPercent: number;
  label: Uint8Array;
  labelText: string | undefined;
  uuid: Uint8Array;
  hashSeed: Uint8Array;
  hashVersion: number;
  features: FeatureWords;
  flexBgSize: number;
  journalBlocks: number | undefined;
  margin: { bytes: number } | { percent: number };
  inodeReserve: { count: number } | { percent: number };
  epoch: number;
  clampTimes: boolean;
  /** Filesystem and creation times. */
  now: number;
  onWarning: WarningHandler | undefined;
  strict: boolean;
}

function bad(field: string, detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, { format: FORMAT, field, detail, ...(hint ? { hint } : {}) });
}

const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** A UUID's text → its 16 bytes in text order (how ext4 stores s_uuid and s_hash_seed). */
export function parseUuid(text: string, field: string): Uint8Array {
  if (text.toLowerCase() === 'null' || text.toLowerCase() === 'clear') return new Uint8Array(16);
  if (!UUID_TEXT.test(text)) throw bad(field, `"${text}" is not a UUID (8-4-4-4-12 hexadecimal digits)`);
  const hex = text.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** 16 bytes → "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as dumpe2fs prints it. */
export function formatUuid(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A random-looking (version 4, RFC 9562 variant) UUID derived from `purpose`, epoch and label. */
export function deterministicUuid(purpose: string, epoch: number, label: string): Uint8Array {
  const u = deterministicId(purpose, epoch, 16, label);
  u[6] = (u[6]! & 0x0f) | 0x40;
  u[8] = (u[8]! & 0x3f) | 0x80;
  return u;
}

function parsePart<T extends string>(v: number | `${number}%` | undefined, dflt: `${number}%`, field: string, unit: T): { [K in T]: number } | { percent: number } {
  const value = v ?? dflt;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw bad(field, `${value} is not a whole number ≥ 0`);
    return { [unit]: value } as { [K in T]: number };
  }
  const m = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (!m) throw bad(field, `"${value}" is neither a number nor a percentage like "10%"`);
  return { percent: Number(m[1]) };
}

const HASHES = { legacy: HASH_LEGACY, half_md4: HASH_HALF_MD4, tea: HASH_TEA } as const;

export function resolveOptions(o: Ext4Options): ResolvedExt4Options {
  const blockSize = o.blockSize ?? 4096;
  if (blockSize !== 1024 && blockSize !== 2048 && blockSize !== 4096) {
    throw bad('blockSize', `block size ${String(blockSize)} is not 1024, 2048 or 4096`, 'imgkit writes blocks of at most the 4 KiB page size');
  }
  const inodeSize = o.inodeSize ?? 256;
  if (!Number.isSafeInteger(inodeSize) || inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
    throw bad('inodeSize', `inode size ${inodeSize} is not a power of two from 128 to the block size (${blockSize})`);
  }
  let inodeRatio = o.inodeRatio ?? 16384;
  if (!Number.isSafeInteger(inodeRatio) || inodeRatio < 1024 || inodeRatio > 65536 * 1024) {
    throw bad('inodeRatio', `inode ratio ${inodeRatio} is outside 1024 … 67108864 bytes per inode`);
  }
  if (inodeRatio < blockSize) inodeRatio = blockSize; // mke2fs: at least one block per inode
  if (o.inodes !== undefined && (!Number.isSafeInteger(o.inodes) || o.inodes < 1 || o.inodes > 0xffffffff)) {
    throw bad('inodes', `inode count ${o.inodes} is not a whole number in 1 … 2^32 − 1`);
  }
  const reservedPercent = o.reservedPercent ?? 5;
  if (typeof reservedPercent !== 'number' || !(reservedPercent >= 0 && reservedPercent <= 50)) {
    throw bad('reservedPercent', `reserved blocks percentage ${String(reservedPercent)} is outside 0 … 50`);
  }
  if (o.size !== undefined && (!Number.isSafeInteger(o.size) || o.size <= 0)) throw bad('size', `size ${o.size} is not a whole number of bytes`);
  let label: Uint8Array = new Uint8Array(0);
  if (o.label !== undefined) {
    label = encodeUtf8(o.label);
    if (label.byteLength > 16) throw bad('label', `the label "${o.label}" is ${label.byteLength} bytes; ext4 labels hold 16`, 'shorten it');
  }
  const epoch = resolveEpoch(o.epoch, FORMAT);
  const now = o.now !== undefined ? resolveEpoch(o.now, FORMAT) : epoch;
  const uuid = o.uuid !== undefined ? parseUuid(o.uuid, 'uuid') : deterministicUuid('ext4-uuid', epoch, o.label ?? '');
  const hashSeed = o.hashSeed !== undefined ? parseUuid(o.hashSeed, 'hashSeed') : deterministicUuid('ext4-hash-seed', epoch, o.label ?? '');
  const hashAlg = o.hashAlg ?? 'half_md4';
  if (!(hashAlg in HASHES)) throw bad('hashAlg', `"${String(hashAlg)}" is not legacy, half_md4 or tea`);

  const features = o.features !== undefined ? editFeatures(DEFAULT_FEATURES, o.features) : { ...DEFAULT_FEATURES };
  // mke2fs's consistency rules (misc/mke2fs.c PRS)
  if ((features.incompat & INCOMPAT_EXTENTS) === 0) {
    throw bad('features', 'imgkit stores files as extents; it cannot turn extent off', 'keep the extent feature (every kernel since 2.6.28 and GRUB 2 read it)');
  }
  if ((features.incompat & INCOMPAT_64BIT) !== 0 && (features.incompat & INCOMPAT_EXTENTS) === 0) {
    throw bad('features', 'extents must be enabled for a 64-bit filesystem');
  }
  if ((features.compat & COMPAT_RESIZE_INODE) !== 0 && (features.ro_compat & RO_COMPAT_SPARSE_SUPER) === 0) {
    throw bad('features', 'reserved online resize blocks (resize_inode) need sparse_super', 'turn resize_inode off too (^resize_inode)');
  }
  if ((features.ro_compat & RO_COMPAT_METADATA_CSUM) !== 0) features.ro_compat &= ~RO_COMPAT_GDT_CSUM; // metadata_csum supersedes uninit_bg
  if ((features.incompat & INCOMPAT_CSUM_SEED) !== 0 && (features.ro_compat & RO_COMPAT_METADATA_CSUM) === 0) {
    throw bad('features', 'metadata_csum_seed needs metadata_csum');
  }
  const flexBgSize = o.flexBgSize ?? 16;
  if (!Number.isSafeInteger(flexBgSize) || flexBgSize < 1 || (flexBgSize & (flexBgSize - 1)) !== 0 || flexBgSize > 2 ** 30) {
    throw bad('flexBgSize', `flex group size ${flexBgSize} is not a power of two`);
  }
  if (o.flexBgSize !== undefined && (features.incompat & INCOMPAT_FLEX_BG) === 0) {
    throw bad('flexBgSize', 'flex_bg is off, so no flex group size may be given', 'drop ^flex_bg or the flex group size');
  }
  if (o.journalBlocks !== undefined && (!Number.isSafeInteger(o.journalBlocks) || o.journalBlocks <= 0)) {
    throw bad('journalBlocks', `journal size ${o.journalBlocks} is not a whole number of blocks`);
  }
  return {
    size: o.size,
    blockSize,
    inodeSize,
    inodeRatio,
    inodes: o.inodes,
    reservedPercent,
    label,
    labelText: o.label,
    uuid,
    hashSeed,
    hashVersion: HASHES[hashAlg],
    features,
    flexBgSize,
    journalBlocks: o.journalBlocks,
    margin: parsePart(o.margin, '10%', 'margin', 'bytes'),
    inodeReserve: parsePart(o.inodeReserve, '10%', 'inodeReserve', 'count'),
    epoch,
    clampTimes: o.epoch !== undefined,
    now,
    onWarning: o.onWarning,
    strict: o.strict ?? false,
  };
}
