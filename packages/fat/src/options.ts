/** FatOptions and their validation (one `resolveOptions`, errors name the field). */
import { ErrorCodes, ImgkitError, deterministicId, resolveEpoch, type WarningHandler } from '@imgkit/core';
import { SECTOR_BYTES, MAX_SECTORS, type FatBits } from './geometry.js';

export interface FatOptions {
  /**
   * Image size in bytes, a multiple of 512 (mkfs.fat takes KiB). Too small for the tree:
   * E_NO_SPACE saying how much it needs. @default the smallest size that holds the tree and `margin`
   */
  size?: number;
  /** FAT type (mkfs.fat -F). @default chosen from the size as mkfs.fat chooses it */
  fatBits?: FatBits;
  /**
   * Volume label (mkfs.fat -n): up to 11 characters of printable ASCII, not starting with a space,
   * none of * ? . , ; : / \ | + = < > [ ] ". Written to the boot sector and as the root
   * directory's label entry. @default none ("NO NAME" in the boot sector, no label entry)
   */
  label?: string;
  /** Volume serial number (mkfs.fat -i). @default derived from `epoch` and `label` */
  volumeId?: number;
  /**
   * Free space the automatic size leaves after the tree: bytes, or a string "N%" of the bytes the
   * tree takes. Ignored when `size` is given. @default 0
   */
  margin?: number | `${number}%`;
  /**
   * Symbolic links: 'refuse' (E_UNSUPPORTED_ENTRY: FAT has no links), or 'follow' to store what a
   * link points to, when that is inside the tree (a file as a copy, a directory as a copy of its
   * subtree). @default 'refuse'
   */
  symlinks?: 'refuse' | 'follow';
  /**
   * Names FAT cannot hold (" * / : < > ? \ | or controls, a trailing dot or space): 'error'
   * (E_NAME_UNENCODABLE naming the path), or 'replace': those characters become '_' and trailing
   * dots and spaces are dropped, each reported through `onWarning`. @default 'error'
   */
  invalidNames?: 'error' | 'replace';
  /** Seconds since 1970: clamps newer file times, dates the label, seeds the volume id. @default 0 */
  epoch?: number;
  /** Lossy conversions are reported here. @default ignored */
  onWarning?: WarningHandler;
  /** Turn warnings into errors. @default false */
  strict?: boolean;
}

export interface ResolvedFatOptions {
  size: number | undefined;
  fatBits: FatBits | undefined;
  label: string | undefined;
  volumeId: number;
  margin: { bytes: number } | { percent: number };
  followSymlinks: boolean;
  replaceInvalid: boolean;
  epoch: number;
  /** The caller gave an epoch (file times are clamped to it). */
  clampTimes: boolean;
  onWarning: WarningHandler | undefined;
  strict: boolean;
}

const FORMAT = 'fat';
/** mkfs.fat: "Labels with characters *?.,;:/\|+=<>[]" are not allowed", nor controls. */
const LABEL_FORBIDDEN = '*?.,;:/\\|+=<>[]"';

function bad(field: string, detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, { format: FORMAT, field, detail, ...(hint ? { hint } : {}) });
}

/** Check a volume label; returns it as written (mkfs.fat keeps the case given). */
export function checkLabel(label: string): string {
  if (label.length === 0) throw bad('label', 'the label is empty', 'leave it out for a volume without a label');
  if (label.length > 11) throw bad('label', `"${label}" is ${label.length} characters; a FAT label holds at most 11`);
  if (label.startsWith(' ')) throw bad('label', 'a label cannot start with a space');
  for (const ch of label) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c > 0x7e) throw bad('label', `"${label}" has ${JSON.stringify(ch)}: imgkit writes labels in printable ASCII`);
    if (LABEL_FORBIDDEN.includes(ch)) throw bad('label', `"${label}" has ${JSON.stringify(ch)}; a label cannot hold any of ${LABEL_FORBIDDEN.split('').join(' ')}`);
  }
  return label;
}

/** "10%" or a byte count. */
function parseMargin(m: FatOptions['margin']): ResolvedFatOptions['margin'] {
  if (m === undefined) return { bytes: 0 };
  if (typeof m === 'number') {
    if (!Number.isSafeInteger(m) || m < 0) throw bad('margin', `margin ${m} is not a whole number of bytes ≥ 0`);
    return { bytes: m };
  }
  const r = /^(\d+(?:\.\d+)?)%$/.exec(m);
  if (!r) throw bad('margin', `margin "${m}" is neither a byte count nor a percentage like "10%"`);
  return { percent: Number(r[1]) };
}

export function resolveOptions(o: FatOptions): ResolvedFatOptions {
  if (o.size !== undefined) {
    if (!Number.isSafeInteger(o.size) || o.size <= 0 || o.size % SECTOR_BYTES !== 0) {
      throw bad('size', `size ${o.size} is not a positive multiple of ${SECTOR_BYTES} bytes`, 'give the size in whole sectors, e.g. 64M');
    }
    if (o.size / SECTOR_BYTES > MAX_SECTORS) throw bad('size', `size ${o.size} exceeds the ${MAX_SECTORS} sectors a FAT volume can count`);
  }
  if (o.fatBits !== undefined && o.fatBits !== 12 && o.fatBits !== 16 && o.fatBits !== 32) {
    throw bad('fatBits', `FAT type ${String(o.fatBits)} is not 12, 16 or 32`);
  }
  const label = o.label !== undefined ? checkLabel(o.label) : undefined;
  const epoch = resolveEpoch(o.epoch, FORMAT);
  let volumeId: number;
  if (o.volumeId !== undefined) {
    if (!Number.isSafeInteger(o.volumeId) || o.volumeId < 0 || o.volumeId > 0xffffffff) throw bad('volumeId', `volume id ${o.volumeId} does not fit 32 bits`);
    volumeId = o.volumeId;
  } else {
    const id = deterministicId('fat-volume-id', epoch, 4, label ?? '');
    volumeId = (id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24)) >>> 0;
  }
  const symlinks = o.symlinks ?? 'refuse';
  if (symlinks !== 'refuse' && symlinks !== 'follow') throw bad('symlinks', `"${String(symlinks)}" is not 'refuse' or 'follow'`);
  const invalidNames = o.invalidNames ?? 'error';
  if (invalidNames !== 'error' && invalidNames !== 'replace') throw bad('invalidNames', `"${String(invalidNames)}" is not 'error' or 'replace'`);
  return {
    size: o.size,
    fatBits: o.fatBits,
    label,
    volumeId,
    margin: parseMargin(o.margin),
    followSymlinks: symlinks === 'follow',
    replaceInvalid: invalidNames === 'replace',
    epoch,
    clampTimes: o.epoch !== undefined,
    onWarning: o.onWarning,
    strict: o.strict ?? false,
  };
}
