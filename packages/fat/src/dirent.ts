/**
 * The 32-byte directory entry, fatgen103 "FAT Directory Structure", and the FAT date and time
 * encodings ("Date and Time Formats"). Byte 12 (DIR_NTRes, "reserved for Windows NT") carries the
 * flags Windows NT and later, mtools and Linux's vfat use for a short name whose base or extension
 * is all lower case, so such a name needs no long-name entries.
 */
import { bytes, struct, u8, u16le, u32le, type StructValues } from '@imgkit/core';

export const DIRENT_BYTES = 32;

// fatgen103 "FAT 32 Byte Directory Entry Structure".
export const DirEntry = struct('fat.dirent', DIRENT_BYTES, {
  name: bytes(0, 11), //        8.3 name, space-padded, no dot; 0x05 stands for a leading 0xE5
  attr: u8(11), //              ATTR_* bits
  ntRes: u8(12), //             NT_LOWER_BASE | NT_LOWER_EXT
  crtTimeTenth: u8(13), //      creation time, count of 10 ms (0 … 199: the odd second and below)
  crtTime: u16le(14),
  crtDate: u16le(16),
  lstAccDate: u16le(18), //     last access date
  fstClusHi: u16le(20), //      high 16 bits of the first cluster (FAT32; 0 on FAT12/16)
  wrtTime: u16le(22), //        last modification
  wrtDate: u16le(24),
  fstClusLo: u16le(26), //      low 16 bits of the first cluster; 0 for an empty file
  fileSize: u32le(28), //       bytes; 0 for directories
});
export type DirEntryValues = StructValues<typeof DirEntry.fields>;

export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
/** READ_ONLY | HIDDEN | SYSTEM | VOLUME_ID: a long-name entry (lfn.ts). */
export const ATTR_LONG_NAME = 0x0f;
/** DIR_NTRes: the base name is shown in lower case. */
export const NT_LOWER_BASE = 0x08;
/** DIR_NTRes: the extension is shown in lower case. */
export const NT_LOWER_EXT = 0x10;
/** DIR_Name[0] of a free entry, and its stand-in when a name really starts with 0xE5. */
export const DELETED_MARK = 0xe5;
export const KANJI_E5_STAND_IN = 0x05;

/** The range FAT dates hold: 1980-01-01 00:00:00 … 2107-12-31 23:59:58. */
export const FAT_TIME_MIN = 315532800;
export const FAT_TIME_MAX = 4354819198;

export interface FatTimestamp {
  /** Bits 15–9 year − 1980, 8–5 month, 4–0 day. */
  date: number;
  /** Bits 15–11 hours, 10–5 minutes, 4–0 seconds / 2. */
  time: number;
  /** 10 ms units past `time` for creation times: 100 for an odd second. */
  tenths: number;
  /** The time lay outside what FAT holds and was moved to the nearest end. */
  clamped: boolean;
}

/**
 * A Unix time (seconds) as FAT date and time fields. FAT times have no time zone; imgkit writes
 * UTC, so a volume made from the same tree is the same everywhere (Linux mounts with tz=UTC or a
 * kernel time zone of 0 show them unchanged; mtools with TZ=UTC).
 */
export function fatTimestamp(seconds: number): FatTimestamp {
  const s = Math.floor(seconds);
  const clamped = s < FAT_TIME_MIN || s > FAT_TIME_MAX;
  const t = Math.min(Math.max(s, FAT_TIME_MIN), FAT_TIME_MAX);
  // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted), so that
  // the thousands of entries of a volume cost no Date objects.
  const days = Math.floor(t / 86400);
  const secs = t - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(secs / 3600);
  const minute = Math.floor((secs % 3600) / 60);
  const second = secs % 60;
  return {
    date: ((year - 1980) << 9) | (month << 5) | day,
    time: (hour << 11) | (minute << 5) | (second >> 1),
    tenths: (second & 1) * 100,
    clamped,
  };
}

/** The Unix time of FAT date and time fields (UTC; tests and decoders). */
export function fromFatTimestamp(date: number, time: number, tenths = 0): number {
  const ms = Date.UTC(1980 + (date >> 9), ((date >> 5) & 0xf) - 1, date & 0x1f, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2);
  return ms / 1000 + Math.floor(tenths / 100);
}
