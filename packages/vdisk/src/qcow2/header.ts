/**
 * qcow2 header and header extensions. qemu docs/interop/qcow2.rst "Header": all numbers
 * big-endian; version 2 ends at byte 72, version 3 adds the feature bitmaps, refcount_order and
 * header_length (at least 104, a multiple of 8) and, at 104, compression_type ("Additional fields").
 */
import { struct, u32be, u64be, u8, viewOf } from '@imgkit/core';

/** "QFI\xfb" */
export const QCOW2_MAGIC = 0x514649fb;
/** Version 3 header length as written here: through compression_type (104) plus padding to 112. */
export const QCOW2_V3_HEADER_LENGTH = 112;
export const QCOW2_V2_HEADER_LENGTH = 72;

/** qcow2.rst "Header", bytes 0–71 (versions 2 and 3). */
export const Qcow2HeaderV2 = struct('qcow2.header', QCOW2_V2_HEADER_LENGTH, {
  magic: u32be(0),
  version: u32be(4),
  backingFileOffset: u64be(8),
  backingFileSize: u32be(16),
  clusterBits: u32be(20),
  size: u64be(24),
  cryptMethod: u32be(32),
  l1Size: u32be(36),
  l1TableOffset: u64be(40),
  refcountTableOffset: u64be(48),
  refcountTableClusters: u32be(56),
  nbSnapshots: u32be(60),
  snapshotsOffset: u64be(64),
});

/** qcow2.rst "Header" bytes 72–103 and "Additional fields" byte 104 (version 3). */
export const Qcow2HeaderV3 = struct('qcow2.header', QCOW2_V3_HEADER_LENGTH, {
  ...Qcow2HeaderV2.fields,
  incompatibleFeatures: u64be(72),
  compatibleFeatures: u64be(80),
  autoclearFeatures: u64be(88),
  refcountOrder: u32be(96),
  headerLength: u32be(100),
  compressionType: u8(104),
});

/** incompatible_features bits (qcow2.rst "Header" bytes 72–79). */
export const INCOMPAT_DIRTY = 1n << 0n;
export const INCOMPAT_CORRUPT = 1n << 1n;
export const INCOMPAT_DATA_FILE = 1n << 2n;
export const INCOMPAT_COMPRESSION = 1n << 3n;
export const INCOMPAT_EXTL2 = 1n << 4n;
export const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/** compression_type values ("Additional fields" byte 104). */
export const QCOW2_COMPRESSION_DEFLATE = 0;
export const QCOW2_COMPRESSION_ZSTD = 1;

/** Header extension types (qcow2.rst "Header extensions"). */
export const EXT_END = 0x00000000;
export const EXT_BACKING_FORMAT = 0xe2792aca;
export const EXT_FEATURE_TABLE = 0x6803f857;
export const EXT_BITMAPS = 0x23852875;
export const EXT_CRYPTO = 0x0537be77;
export const EXT_DATA_FILE = 0x44415441;

/** Feature name table entry (qcow2.rst "Feature name table"): type, bit, 46-byte name. */
const FEATURE_ENTRY_BYTES = 48;
const FEATURE_NAMES: readonly [type: 0 | 1 | 2, bit: number, name: string][] = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];

export interface Qcow2HeaderFields {
  version: 2 | 3;
  clusterBits: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  /** Version 3 only. */
  compressionType?: typeof QCOW2_COMPRESSION_DEFLATE | typeof QCOW2_COMPRESSION_ZSTD;
}

/**
 * The first cluster: the header, then (version 3) the feature name table extension and the end
 * marker. Version 2 images carry no extensions (the end marker is the zero padding).
 */
export function encodeHeaderCluster(h: Qcow2HeaderFields, clusterSize: number): Uint8Array {
  const out = new Uint8Array(clusterSize);
  const common = {
    magic: QCOW2_MAGIC,
    version: h.version,
    backingFileOffset: 0n,
    backingFileSize: 0,
    clusterBits: h.clusterBits,
    size: BigInt(h.size),
    cryptMethod: 0,
    l1Size: h.l1Size,
    l1TableOffset: BigInt(h.l1TableOffset),
    refcountTableOffset: BigInt(h.refcountTableOffset),
    refcountTableClusters: h.refcountTableClusters,
    nbSnapshots: 0,
    snapshotsOffset: 0n,
  };
  if (h.version === 2) {
    Qcow2HeaderV2.encode(common, out, 0);
    return out;
  }
  const zstd = h.compressionType === QCOW2_COMPRESSION_ZSTD;
  Qcow2HeaderV3.encode(
    {
      ...common,
      incompatibleFeatures: zstd ? INCOMPAT_COMPRESSION : 0n,
      compatibleFeatures: 0n,
      autoclearFeatures: 0n,
      refcountOrder: 4,
      headerLength: QCOW2_V3_HEADER_LENGTH,
      compressionType: h.compressionType ?? QCOW2_COMPRESSION_DEFLATE,
    },
    out,
    0,
  );
  // Feature name table, then the end-of-extensions marker (8 zero bytes: already zero).
  const ext = QCOW2_V3_HEADER_LENGTH;
  const bytes = FEATURE_NAMES.length * FEATURE_ENTRY_BYTES;
  if (ext + 8 + bytes + 8 > clusterSize) return out; // 512-byte clusters: no room, the table is optional
  const v = viewOf(out);
  v.setUint32(ext, EXT_FEATURE_TABLE, false);
  v.setUint32(ext + 4, bytes, false);
  let at = ext + 8;
  for (const [type, bit, name] of FEATURE_NAMES) {
    out[at] = type;
    out[at + 1] = bit;
    for (let i = 0; i < name.length; i++) out[at + 2 + i] = name.charCodeAt(i);
    at += FEATURE_ENTRY_BYTES;
  }
  return out;
}

export interface Qcow2HeaderInfo {
  version: number;
  clusterBits: number;
  clusterSize: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  backingFileOffset: number;
  cryptMethod: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
}

/** Decode the header fields (no validation beyond what decoding needs; readers check the rest). */
export function decodeHeader(bytes: Uint8Array): Qcow2HeaderInfo {
  const v2 = Qcow2HeaderV2.decode(bytes, 0);
  const version = v2.version;
  let v3: Partial<ReturnType<typeof Qcow2HeaderV3.decode>> = {};
  let headerLength = QCOW2_V2_HEADER_LENGTH;
  if (version >= 3) {
    const view = viewOf(bytes);
    headerLength = view.getUint32(100, false);
    v3 = {
      incompatibleFeatures: view.getBigUint64(72, false),
      compatibleFeatures: view.getBigUint64(80, false),
      autoclearFeatures: view.getBigUint64(88, false),
      refcountOrder: view.getUint32(96, false),
      compressionType: headerLength > 104 ? bytes[104]! : 0,
    };
  }
  return {
    version,
    clusterBits: v2.clusterBits,
    clusterSize: 2 ** v2.clusterBits,
    size: Number(v2.size),
    l1Size: v2.l1Size,
    l1TableOffset: Number(v2.l1TableOffset),
    refcountTableOffset: Number(v2.refcountTableOffset),
    refcountTableClusters: v2.refcountTableClusters,
    nbSnapshots: v2.nbSnapshots,
    snapshotsOffset: Number(v2.snapshotsOffset),
    backingFileOffset: Number(v2.backingFileOffset),
    cryptMethod: v2.cryptMethod,
    incompatibleFeatures: v3.incompatibleFeatures ?? 0n,
    compatibleFeatures: v3.compatibleFeatures ?? 0n,
    autoclearFeatures: v3.autoclearFeatures ?? 0n,
    refcountOrder: v3.refcountOrder ?? 4,
    headerLength,
    compressionType: v3.compressionType ?? 0,
  };
}
