/**
 * Codec interface: pure block compressors. Each format maps its on-disk compressor ids to these
 * names in one table. Implementations are loaded once per realm (main thread or worker) by
 * `loadCodec`; wasm codecs are initialised exactly once.
 */
export type CodecName =
  | 'gzip' // RFC 1952 member
  | 'zlib' // RFC 1950 stream (squashfs "gzip")
  | 'deflate-raw' // RFC 1951 (qcow2 clusters with windowBits 12)
  | 'zstd' // RFC 8878 frame, single segment with content size
  | 'lz4-block' // LZ4 block format (squashfs lz4)
  | 'lz4-frame' // LZ4 frame format (lz4 CLI default)
  | 'lz4-legacy' // legacy format, magic 0x184C2102 (kernel initramfs, `lz4 -l`)
  | 'xz' // .xz stream, LZMA2
  | 'none';

export interface CodecSpec {
  name: CodecName;
  /** Compression level; each codec's own default when absent (deflate 6, zstd 3, xz 6). */
  level?: number;
  /** deflate family: log2 of the window (8…15). @default 15 */
  windowBits?: number;
  /** xz: LZMA2 dictionary size in bytes (squashfs: the block size). */
  dictSize?: number;
  /** xz: integrity check. The kernel needs crc32. @default 'crc32' */
  check?: 'crc32' | 'crc64' | 'none';
}

export interface Codec {
  readonly spec: Readonly<CodecSpec>;
  /** Compress one independent block. Pure: the same input gives the same bytes. */
  compress(block: Uint8Array): Uint8Array;
  /** Inverse of compress (tests, round trips, qcow2 reads). */
  decompress(data: Uint8Array, expectedSize?: number): Uint8Array;
}
