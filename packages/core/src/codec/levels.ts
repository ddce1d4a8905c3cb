/**
 * Compression levels: ONE table of what each codec takes, and one check that formats and commands
 * call with their own narrower range where their readers need it (cpio: zstd ≤ 19, because the
 * kernel's initramfs unpacker refuses windows over 8 MiB). A level out of range, or any level for a
 * codec without levels (LZ4 here only has its fast mode), is E_BAD_OPTION naming the valid range:
 * the caller asked for something impossible, so the CLI exits 2.
 */
import { ErrorCodes, ImgkitError } from '../errors.js';
import type { CodecName, CodecSpec } from './types.js';

export interface LevelRange {
  min: number;
  max: number;
  /** Used when no level is given. */
  default: number;
  /** Why the range stops where it does, when that is not the codec's own limit… */
  why?: string;
  /** …which is this (`why` is shown for levels between max and it). */
  codecMax?: number;
}

/**
 * Largest xz dictionary this WebAssembly build of liblzma (node-liblzma 4.0.2) can encode with:
 * measured, every preset runs with 16 MiB, the BT4 presets (4…9) fail with 24 MiB
 * (lzma_stream_buffer_encode returns LZMA_MEM_ERROR: the encoder needs about 11.5 × the dictionary).
 */
export const XZ_MAX_DICT_SIZE = 16 << 20;

const DEFLATE: LevelRange = { min: 0, max: 9, default: 6 };

/** Each codec's levels (undefined: the codec takes none). */
export const CODEC_LEVELS: Readonly<Record<CodecName, LevelRange | undefined>> = {
  gzip: DEFLATE,
  zlib: DEFLATE,
  'deflate-raw': DEFLATE,
  // zstd's negative "fast" levels are not offered; 0 would mean "default" to libzstd, so it is refused.
  zstd: { min: 1, max: 22, default: 3 },
  // Presets 0…9. The preset's dictionary (8: 32 MiB, 9: 64 MiB) must also fit XZ_MAX_DICT_SIZE,
  // so with preset dictionaries only 0…7 run (XZ_PRESET_LEVELS); with a given dictSize all do.
  xz: { min: 0, max: 9, default: 6 },
  'lz4-block': undefined,
  'lz4-frame': undefined,
  'lz4-legacy': undefined,
  none: undefined,
};

/** xz presets whose own dictionary (xzPresetDictSize) this build can allocate: 0…7. */
export const XZ_PRESET_LEVELS: LevelRange = {
  min: 0,
  max: 7,
  default: 6,
  codecMax: 9,
  why: `presets 8 and 9 use 32 and 64 MiB dictionaries; this WebAssembly liblzma allocates at most ${XZ_MAX_DICT_SIZE >> 20} MiB`,
};

export interface LevelCheck {
  /** What the user calls the compressor ("zstd", "lz4"). */
  label: string;
  /** Error format and field, e.g. 'cpio' and 'level'. */
  format: string;
  field: string;
  /** The valid levels (undefined: none). */
  range: LevelRange | undefined;
  /** How the caller spells the option in a hint, e.g. "--level". @default "level" */
  option?: string;
}

/** A human range: "1…19". */
export function formatLevelRange(r: LevelRange): string {
  return `${r.min}…${r.max}`;
}

/** Throws E_BAD_OPTION unless `level` is undefined or a whole number in the range. Returns it. */
export function checkLevel(level: number | undefined, c: LevelCheck): number | undefined {
  if (level === undefined) return undefined;
  const option = c.option ?? 'level';
  if (c.range === undefined) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: c.format,
      field: c.field,
      detail: `${c.label} has no compression levels (level ${String(level)} given)`,
      hint: `leave out ${option}`,
    });
  }
  const r = c.range;
  if (typeof level !== 'number' || !Number.isInteger(level) || level < r.min || level > r.max) {
    const why = r.why !== undefined && level > r.max && level <= (r.codecMax ?? Infinity) ? `: ${r.why}` : '';
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: c.format,
      field: c.field,
      detail: `${c.label} level ${String(level)} is outside ${formatLevelRange(r)}${why}`,
      hint: `${option} takes ${formatLevelRange(r)} for ${c.label}; ${r.default} when left out`,
    });
  }
  return level;
}

/** The narrower of two ranges (a command narrowing a codec's). */
export function narrowLevels(base: LevelRange, narrow: Partial<LevelRange>): LevelRange {
  const out: LevelRange = {
    min: Math.max(base.min, narrow.min ?? base.min),
    max: Math.min(base.max, narrow.max ?? base.max),
    default: narrow.default ?? base.default,
  };
  const why = narrow.why ?? base.why;
  if (why !== undefined) {
    out.why = why;
    out.codecMax = base.codecMax ?? base.max;
  }
  return out;
}

/** A codec's level from its spec (its default when absent); E_BAD_OPTION `codec.<name>.level` when out of range. */
export function codecLevel(spec: Readonly<CodecSpec>): number | undefined {
  const range = CODEC_LEVELS[spec.name];
  checkLevel(spec.level, { label: spec.name, format: 'core', field: `codec.${spec.name}.level`, range });
  return spec.level ?? range?.default;
}
