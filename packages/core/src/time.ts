/**
 * Time handling. The library takes `epoch` (whole seconds since 1970-01-01T00:00:00Z); only the CLI
 * reads SOURCE_DATE_EPOCH. Image creation times use the epoch; file times newer than it are clamped.
 */
import { ErrorCodes, ImgkitError } from './errors.js';

/** Validate an epoch option: a non-negative whole number of seconds that fits 32 bits unsigned. */
export function resolveEpoch(epoch: number | undefined, format: string): number {
  const e = epoch ?? 0;
  if (!Number.isSafeInteger(e) || e < 0 || e > 0xffffffff) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format,
      field: 'epoch',
      detail: `epoch ${String(epoch)} is not a whole number of seconds in 0…4294967295`,
      hint: 'set SOURCE_DATE_EPOCH to seconds since 1970',
    });
  }
  return e;
}

/** Parse a SOURCE_DATE_EPOCH-style string; undefined when absent. */
export function parseEpoch(text: string | undefined, what = 'SOURCE_DATE_EPOCH'): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { field: what, detail: `"${text}" is not a whole number of seconds since 1970` });
  }
  return resolveEpoch(Number(text), 'core');
}

/** UTC calendar fields of a Unix time (for ISO 9660 and FAT dates). */
export function utcFields(seconds: number): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const d = new Date(seconds * 1000);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}
