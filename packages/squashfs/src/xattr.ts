/**
 * Xattr table ("SquashFS binary format", "Extended attributes"; squashfs_fs.h struct
 * squashfs_xattr_entry / squashfs_xattr_val / squashfs_xattr_id / squashfs_xattr_id_table).
 *
 * Layout, in emission order: the key/value metadata blocks (each key: u16 type = namespace id,
 * u16 name length, name without its prefix; each value: u32 length, bytes); then the xattr id
 * metadata blocks (per distinct set: u64 reference of its first key, u32 count, u32 size); then
 * a 16-byte header (u64 start of the key/value blocks, u32 id count, u32 unused) followed by the
 * u64le offsets of the id blocks. The superblock points at that header. Inodes store the set's id.
 * Identical sets are stored once, as mksquashfs does. Out-of-line values are not used.
 */
import { ErrorCodes, ImgkitError, concatBytes, encodeUtf8, struct, u32le, u64le, type Xattr } from '@imgkit/core';
import { MetadataWriter, encodeIndexedTable, metadataRef, type BlockCompressor } from './metadata.js';

/** squashfs_fs.h SQUASHFS_XATTR_USER / TRUSTED / SECURITY. */
export const XATTR_PREFIXES: readonly [string, number][] = [
  ['user.', 0],
  ['trusted.', 1],
  ['security.', 2],
];

export const XattrId = struct('squashfs.xattrId', 16, { ref: u64le(0), count: u32le(8), size: u32le(12) });
export const XattrIdTableHeader = struct('squashfs.xattrIdTable', 16, { xattrTableStart: u64le(0), idCount: u32le(8), unused: u32le(12) });

/** Split a full name into its squashfs namespace id and the stored suffix; null if unsupported. */
export function splitXattrName(name: string): { type: number; suffix: Uint8Array } | null {
  for (const [prefix, type] of XATTR_PREFIXES) {
    if (name.startsWith(prefix) && name.length > prefix.length) return { type, suffix: encodeUtf8(name.slice(prefix.length)) };
  }
  return null;
}

export function encodeXattrPairs(xattrs: readonly Xattr[], path: string): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const x of xattrs) {
    const split = splitXattrName(x.name);
    if (!split) {
      throw new ImgkitError(ErrorCodes.UNSUPPORTED_ENTRY, {
        format: 'squashfs',
        path,
        detail: `xattr "${x.name}" is outside the user., trusted. and security. namespaces squashfs stores`,
      });
    }
    const kv = new Uint8Array(4 + split.suffix.byteLength + 4 + x.value.byteLength);
    const v = new DataView(kv.buffer);
    v.setUint16(0, split.type, true);
    v.setUint16(2, split.suffix.byteLength, true);
    kv.set(split.suffix, 4);
    v.setUint32(4 + split.suffix.byteLength, x.value.byteLength, true);
    kv.set(x.value, 8 + split.suffix.byteLength);
    parts.push(kv);
  }
  return concatBytes(parts);
}

export class XattrTable {
  private readonly byKey = new Map<string, number>();
  private readonly sets: { pairs: Uint8Array; count: number }[] = [];

  get count(): number {
    return this.sets.length;
  }

  /** The id of this set of xattrs (stored once per distinct set), sorted by name for determinism. */
  add(xattrs: readonly Xattr[], path: string): number {
    const sorted = [...xattrs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const pairs = encodeXattrPairs(sorted, path);
    let key = '';
    for (let i = 0; i < pairs.byteLength; i++) key += String.fromCharCode(pairs[i]!);
    let id = this.byKey.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push({ pairs, count: sorted.length });
      this.byKey.set(key, id);
    }
    return id;
  }

  /** Emit the whole xattr section at `tableOffset`; returns its bytes and the header offset. */
  encode(compress: BlockCompressor | null, tableOffset: number): { bytes: Uint8Array; headerOffset: number } {
    const kv = new MetadataWriter(compress);
    const ids = new Uint8Array(XattrId.size * this.sets.length);
    this.sets.forEach((s, i) => {
      const ref = metadataRef(kv.position());
      kv.append(s.pairs);
      XattrId.encode({ ref, count: s.count, size: s.pairs.byteLength }, ids, i * XattrId.size);
    });
    const kvBlocks = kv.finish();
    const kvBytes = kv.byteLength;
    const idTable = encodeIndexedTable(ids, compress, tableOffset + kvBytes);
    // encodeIndexedTable puts the u64 offsets right after the id blocks; the header goes between.
    const idBlocksLen = idTable.indexOffset - (tableOffset + kvBytes);
    const headerOffset = tableOffset + kvBytes + idBlocksLen;
    const header = XattrIdTableHeader.encode({ xattrTableStart: BigInt(tableOffset), idCount: this.sets.length, unused: 0 });
    const out = new Uint8Array(kvBytes + idTable.bytes.byteLength + header.byteLength);
    let at = 0;
    for (const b of kvBlocks) {
      out.set(b, at);
      at += b.byteLength;
    }
    out.set(idTable.bytes.subarray(0, idBlocksLen), at);
    at += idBlocksLen;
    out.set(header, at);
    at += header.byteLength;
    out.set(idTable.bytes.subarray(idBlocksLen), at);
    return { bytes: out, headerOffset };
  }
}
