/**
 * ECMA-119 §9.1 directory record: a 33-byte fixed part, the file identifier, a pad byte when the
 * identifier length is even (§9.1.12), then the System Use area (SUSP/Rock Ridge entries), padded
 * with a zero byte to an even record length (§9.1.13). A record is at most 254 bytes (the largest
 * even length) and never crosses a logical sector (§6.8.1.1).
 */
import { bytes, FieldRangeError, struct, u16both, u32both, u8, utcFields } from '@imgkit/core';

export const DIR_RECORD_FIXED = 33;
export const DIR_RECORD_MAX = 254;

// ECMA-119 §9.1.6 file flags.
export const FLAG_HIDDEN = 0x01;
export const FLAG_DIRECTORY = 0x02;
export const FLAG_MULTI_EXTENT = 0x80;

// ECMA-119 §9.1, Table 8.
export const DirectoryRecordHeader = struct('iso9660.directoryRecord', DIR_RECORD_FIXED, {
  length: u8(0),
  extAttrLength: u8(1),
  extentLba: u32both(2),
  dataLength: u32both(10),
  recordingTime: bytes(18, 7),
  flags: u8(25),
  fileUnitSize: u8(26),
  interleaveGap: u8(27),
  volumeSequenceNumber: u16both(28),
  identifierLength: u8(32),
});

/** ECMA-119 §9.1.5 recording date: years since 1900, month, day, h, m, s, GMT offset (15 min). */
export function recordingTime(seconds: number): Uint8Array {
  const t = utcFields(seconds);
  const year = Math.min(Math.max(t.year - 1900, 0), 255);
  return new Uint8Array([year, t.month, t.day, t.hour, t.minute, t.second, 0]);
}

/** Length of a record with this identifier and System Use size (even, §9.1.13). */
export function recordLength(identifierLength: number, systemUseLength: number): number {
  const len = DIR_RECORD_FIXED + identifierLength + (identifierLength % 2 === 0 ? 1 : 0) + systemUseLength;
  return len + (len % 2);
}

export interface DirectoryRecordInit {
  extentLba: number;
  dataLength: number;
  mtime: number;
  flags: number;
  identifier: Uint8Array;
  systemUse?: Uint8Array;
}

export function encodeDirectoryRecord(r: DirectoryRecordInit): Uint8Array {
  const su = r.systemUse ?? new Uint8Array(0);
  const len = recordLength(r.identifier.byteLength, su.byteLength);
  if (len > DIR_RECORD_MAX) {
    throw new FieldRangeError({ format: 'iso9660', field: 'iso9660.directoryRecord.length', detail: `record is ${len} bytes; the limit is ${DIR_RECORD_MAX}` });
  }
  const out = new Uint8Array(len);
  DirectoryRecordHeader.encode(
    {
      length: len,
      extAttrLength: 0,
      extentLba: r.extentLba,
      dataLength: r.dataLength,
      recordingTime: recordingTime(r.mtime),
      flags: r.flags,
      fileUnitSize: 0,
      interleaveGap: 0,
      volumeSequenceNumber: 1,
      identifierLength: r.identifier.byteLength,
    },
    out,
  );
  out.set(r.identifier, DIR_RECORD_FIXED);
  out.set(su, DIR_RECORD_FIXED + r.identifier.byteLength + (r.identifier.byteLength % 2 === 0 ? 1 : 0));
  return out;
}

/** The identifiers of the "." and ".." records (§6.8.2.2): one byte 0x00 and 0x01. */
export const ID_SELF = new Uint8Array([0]);
export const ID_PARENT = new Uint8Array([1]);
