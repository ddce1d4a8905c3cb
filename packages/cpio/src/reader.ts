/**
 * A small newc/crc reader for tests and round trips (uncompressed input held in memory): the
 * headers, names and data of one archive, up to and including its TRAILER!!!.
 */
import { ErrorCodes, ImgkitError, alignUp } from '@imgkit/core';
import { CPIO_HEADER_SIZE, CPIO_TRAILER_NAME, CRC_MAGIC, NEWC_MAGIC, NewcHeader, type NewcHeaderValues } from './newc-header.js';

export interface DecodedCpioEntry extends NewcHeaderValues {
  name: string;
  /** Offset of the header in the input. */
  offset: number;
  data: Uint8Array;
}

/** Decode the archive starting at `offset`; `end` is the offset after the trailer's padding. */
export function decodeCpio(bytes: Uint8Array, offset = 0): { entries: DecodedCpioEntry[]; end: number } {
  const entries: DecodedCpioEntry[] = [];
  let at = offset;
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (;;) {
    if (at + CPIO_HEADER_SIZE > bytes.byteLength) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'cpio', detail: `archive ends at ${bytes.byteLength} inside a header at ${at} (no ${CPIO_TRAILER_NAME})` });
    }
    const h = NewcHeader.decode(bytes, at);
    if (h.magic !== NEWC_MAGIC && h.magic !== CRC_MAGIC) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'cpio', field: 'cpio.newc.magic', detail: `bad magic "${h.magic}" at ${at}` });
    }
    for (const [k, v] of Object.entries(h)) {
      if (typeof v === 'number' && Number.isNaN(v)) throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'cpio', field: `cpio.newc.${k}`, detail: `not hex at ${at}` });
    }
    const nameStart = at + CPIO_HEADER_SIZE;
    const nameBytes = bytes.subarray(nameStart, nameStart + h.namesize - 1);
    if (bytes[nameStart + h.namesize - 1] !== 0) {
      throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'cpio', detail: `name at ${nameStart} is not NUL-terminated` });
    }
    const name = dec.decode(nameBytes);
    const dataStart = alignUp(nameStart + h.namesize - offset, 4) + offset;
    const data = bytes.subarray(dataStart, dataStart + h.filesize);
    if (data.byteLength !== h.filesize) throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'cpio', path: name, detail: 'data runs past the end' });
    entries.push({ ...h, name, offset: at, data });
    at = alignUp(dataStart + h.filesize - offset, 4) + offset;
    if (name === CPIO_TRAILER_NAME) return { entries, end: at };
  }
}
