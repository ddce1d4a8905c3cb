/**
 * Compressor ids, codec specs and compressor options ("SquashFS binary format", "Compression
 * options"; squashfs-tools gzip_wrapper.h, xz_wrapper.h, lz4_wrapper.h, zstd_wrapper.h).
 *
 * When the COMPRESSOR_OPTIONS flag is set, an uncompressed metadata block holding these options
 * follows the superblock. mksquashfs writes them only when they differ from its defaults, except
 * for lz4, whose options are always written (the kernel refuses an lz4 image without them).
 */
import { CODEC_LEVELS, narrowLevels, struct, u16le, u32le } from '@imgkit/core';
import type { CodecSpec, LevelRange } from '@imgkit/core';
import { COMPRESSION_ID } from './superblock.js';

export type SquashfsCompression = 'gzip' | 'zstd' | 'lz4' | 'xz';

/**
 * Levels per compressor: the codec's (core's CODEC_LEVELS) as mksquashfs takes them, with its
 * defaults (gzip_wrapper.h GZIP_DEFAULT_COMPRESSION_LEVEL 9, zstd_wrapper.h ZSTD_DEFAULT_COMPRESSION_LEVEL
 * 15). xz: mksquashfs has no level option (always preset 6); imgkit takes presets 0…9, which all run
 * here because the dictionary is the block size (≤ 1 MiB), not the preset's; 6…9 differ only in
 * the preset dictionary, so with it replaced they give the same bytes. lz4 has no levels.
 */
export const SQUASHFS_LEVELS: Readonly<Record<SquashfsCompression, LevelRange | undefined>> = {
  gzip: narrowLevels(CODEC_LEVELS.zlib!, { min: 1, default: 9 }),
  zstd: narrowLevels(CODEC_LEVELS.zstd!, { default: 15 }),
  xz: narrowLevels(CODEC_LEVELS.xz!, { default: 6 }),
  lz4: undefined,
};
export const DEFAULT_LEVEL: Record<SquashfsCompression, number | undefined> = {
  gzip: SQUASHFS_LEVELS.gzip!.default,
  zstd: SQUASHFS_LEVELS.zstd!.default,
  xz: SQUASHFS_LEVELS.xz!.default,
  lz4: undefined,
};

// gzip_wrapper.h struct gzip_comp_opts
export const GzipOptions = struct('squashfs.gzipOptions', 8, {
  compressionLevel: u32le(0),
  windowSize: u16le(4),
  strategy: u16le(6),
});
// xz_wrapper.h struct comp_opts
export const XzOptions = struct('squashfs.xzOptions', 8, { dictionarySize: u32le(0), executableFilters: u32le(4) });
// lz4_wrapper.h struct lz4_comp_opts; version 1 = LZ4_LEGACY, flags bit 0 = LZ4_HC
export const Lz4Options = struct('squashfs.lz4Options', 8, { version: u32le(0), flags: u32le(4) });
export const LZ4_LEGACY = 1;
// zstd_wrapper.h struct zstd_comp_opts
export const ZstdOptions = struct('squashfs.zstdOptions', 4, { compressionLevel: u32le(0) });

export function compressionId(c: SquashfsCompression): number {
  return COMPRESSION_ID[c];
}

/** The one table from squashfs compressors to core codec names. squashfs "gzip" is a zlib stream. */
export function codecSpecFor(c: SquashfsCompression, level: number | undefined, blockSize: number): CodecSpec {
  switch (c) {
    case 'gzip':
      return { name: 'zlib', level: level ?? 9, windowBits: 15 };
    case 'zstd':
      return { name: 'zstd', level: level ?? 15 };
    case 'lz4':
      return { name: 'lz4-block' };
    case 'xz':
      // The kernel sizes the LZMA2 dictionary from the block size when no options are stored.
      return { name: 'xz', level: level ?? 6, dictSize: blockSize, check: 'crc32' };
  }
}

/** Compressor options block payload, or null when mksquashfs would not write one. */
export function encodeCompressorOptions(c: SquashfsCompression, level: number | undefined): Uint8Array | null {
  switch (c) {
    case 'gzip':
      if (level === undefined || level === 9) return null;
      return GzipOptions.encode({ compressionLevel: level, windowSize: 15, strategy: 0 });
    case 'zstd':
      if (level === undefined || level === 15) return null;
      return ZstdOptions.encode({ compressionLevel: level });
    case 'lz4':
      return Lz4Options.encode({ version: LZ4_LEGACY, flags: 0 });
    case 'xz':
      // Dictionary = block size and no executable filters: mksquashfs's defaults, no options.
      return null;
  }
}
