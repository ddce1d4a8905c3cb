/** Field types core's struct() lacks that squashfs needs. */
import { FieldRangeError, type Field } from '@imgkit/core';

/** Signed 16-bit little-endian (directory entry inode number deltas). */
export const i16le = (offset: number): Field<number> => ({
  offset,
  size: 2,
  write: (v, _b, at, x, n) => {
    if (!Number.isSafeInteger(x) || x < -32768 || x > 32767) {
      throw new FieldRangeError({ field: n, detail: `value ${x} does not fit; the range is -32768…32767` });
    }
    v.setInt16(at, x, true);
  },
  read: (v, _b, at) => v.getInt16(at, true),
});
