/**
 * Volume descriptors (ECMA-119 §8): the primary (§8.4), the Joliet supplementary (§8.5), the El
 * Torito boot record (El Torito 1.0 §2.0) and the set terminator (§8.3). Each is one 2048-byte
 * logical sector from LBA 16 on.
 */
import { ascii, bytes, struct, u16both, u32be, u32both, u32le, u8, utcFields } from '@imgkit/core';
import { asciiBytes } from './names.js';

export const ISO_SECTOR_SIZE = 2048;
export const ISO_STANDARD_ID = 'CD001';
export const VD_BOOT_RECORD = 0;
export const VD_PRIMARY = 1;
export const VD_SUPPLEMENTARY = 2;
export const VD_TERMINATOR = 255;

// ECMA-119 §8.4 primary volume descriptor; §8.5 supplementary shares the layout (flags at 7,
// escape sequences at 88). Both-byte fields per §7.2.3 / §7.3.3.
export const PrimaryVolumeDescriptor = struct('iso9660.pvd', ISO_SECTOR_SIZE, {
  type: u8(0),
  standardId: ascii(1, 5),
  version: u8(6),
  volumeFlags: u8(7),
  systemId: bytes(8, 32),
  volumeId: bytes(40, 32),
  volumeSpaceSize: u32both(80),
  escapeSequences: bytes(88, 32),
  volumeSetSize: u16both(120),
  volumeSequenceNumber: u16both(124),
  logicalBlockSize: u16both(128),
  pathTableSize: u32both(132),
  lPathTableLba: u32le(140),
  optionalLPathTableLba: u32le(144),
  mPathTableLba: u32be(148),
  optionalMPathTableLba: u32be(152),
  rootDirectoryRecord: bytes(156, 34),
  volumeSetId: bytes(190, 128),
  publisherId: bytes(318, 128),
  dataPreparerId: bytes(446, 128),
  applicationId: bytes(574, 128),
  copyrightFileId: bytes(702, 37),
  abstractFileId: bytes(739, 37),
  bibliographicFileId: bytes(776, 37),
  creationDate: bytes(813, 17),
  modificationDate: bytes(830, 17),
  expirationDate: bytes(847, 17),
  effectiveDate: bytes(864, 17),
  fileStructureVersion: u8(881),
  applicationUse: bytes(883, 512), // §8.4.32: not specified; xorriso writes spaces in the PVD, zeros in the SVD
});

// El Torito 1.0 §2.0 "Boot Record Volume Descriptor".
export const BootRecordDescriptor = struct('iso9660.bootRecord', ISO_SECTOR_SIZE, {
  type: u8(0),
  standardId: ascii(1, 5),
  version: u8(6),
  bootSystemId: bytes(7, 32),
  bootCatalogLba: u32le(0x47),
});

/** ECMA-119 §8.4.26.1 dec-datetime: "YYYYMMDDHHMMSScc" digits + GMT offset in 15-minute units. */
export function decDateTime(seconds: number | undefined): Uint8Array {
  const out = new Uint8Array(17);
  if (seconds === undefined) {
    out.fill(0x30, 0, 16); // "not specified": all digits zero, offset 0
    return out;
  }
  const t = utcFields(seconds);
  const s =
    String(t.year).padStart(4, '0') +
    String(t.month).padStart(2, '0') +
    String(t.day).padStart(2, '0') +
    String(t.hour).padStart(2, '0') +
    String(t.minute).padStart(2, '0') +
    String(t.second).padStart(2, '0') +
    '00';
  out.set(asciiBytes(s), 0);
  return out;
}

/** A dec-datetime from its 16 digits (GMT offset 0), e.g. what --modification-date gives. */
export function decDateText(digits: string): Uint8Array {
  const out = new Uint8Array(17);
  out.set(asciiBytes(digits.padEnd(16, '0').slice(0, 16)), 0);
  return out;
}

/** A field padded with `pad` (0x20 for a-/d-character fields, ECMA-119 §7.4.3). */
export function padded(value: Uint8Array, size: number, pad = 0x20): Uint8Array {
  const out = new Uint8Array(size).fill(pad);
  out.set(value.subarray(0, size));
  return out;
}

/** Joliet identifier fields hold UCS-2 BE, padded with U+0020 (spec "Volume Descriptor"). */
export function paddedUcs2(value: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i + 1 < size; i += 2) out[i + 1] = 0x20;
  out.set(value.subarray(0, size & ~1));
  return out;
}

const APPLICATION_USE_SPACES = new Uint8Array(512).fill(0x20);

export interface VolumeDescriptorInit {
  type: typeof VD_PRIMARY | typeof VD_SUPPLEMENTARY;
  /** Identifier fields, already encoded (ASCII or UCS-2) and padded. */
  systemId: Uint8Array;
  volumeId: Uint8Array;
  volumeSetId: Uint8Array;
  publisherId: Uint8Array;
  dataPreparerId: Uint8Array;
  applicationId: Uint8Array;
  escape: Uint8Array;
  volumeSpaceSize: number;
  pathTableSize: number;
  lPathTableLba: number;
  mPathTableLba: number;
  rootRecord: Uint8Array;
  /** §8.4.26.1 dates (17 bytes each, see `decDateTime` / `decDateText`). */
  dates: { creation: Uint8Array; modification: Uint8Array; expiration: Uint8Array; effective: Uint8Array };
  /** Filler for the 37-byte file id fields (spaces for ASCII, U+0020 pairs for UCS-2). */
  fileIdFill: Uint8Array;
}

export function encodeVolumeDescriptor(v: VolumeDescriptorInit): Uint8Array {
  return PrimaryVolumeDescriptor.encode({
    type: v.type,
    standardId: ISO_STANDARD_ID,
    version: 1,
    volumeFlags: 0,
    systemId: v.systemId,
    volumeId: v.volumeId,
    volumeSpaceSize: v.volumeSpaceSize,
    escapeSequences: v.escape,
    volumeSetSize: 1,
    volumeSequenceNumber: 1,
    logicalBlockSize: ISO_SECTOR_SIZE,
    pathTableSize: v.pathTableSize,
    lPathTableLba: v.lPathTableLba,
    optionalLPathTableLba: 0,
    mPathTableLba: v.mPathTableLba,
    optionalMPathTableLba: 0,
    rootDirectoryRecord: v.rootRecord,
    volumeSetId: v.volumeSetId,
    publisherId: v.publisherId,
    dataPreparerId: v.dataPreparerId,
    applicationId: v.applicationId,
    copyrightFileId: v.fileIdFill,
    abstractFileId: v.fileIdFill,
    bibliographicFileId: v.fileIdFill,
    creationDate: v.dates.creation,
    modificationDate: v.dates.modification,
    expirationDate: v.dates.expiration,
    effectiveDate: v.dates.effective,
    fileStructureVersion: 1,
    applicationUse: v.type === VD_PRIMARY ? APPLICATION_USE_SPACES : new Uint8Array(512),
  });
}

export function encodeBootRecord(catalogLba: number): Uint8Array {
  return BootRecordDescriptor.encode({
    type: VD_BOOT_RECORD,
    standardId: ISO_STANDARD_ID,
    version: 1,
    bootSystemId: asciiBytes('EL TORITO SPECIFICATION'), // NUL-padded to 32 bytes
    bootCatalogLba: catalogLba,
  });
}

/** ECMA-119 §8.3 volume descriptor set terminator. */
export function encodeTerminator(): Uint8Array {
  const out = new Uint8Array(ISO_SECTOR_SIZE);
  out[0] = VD_TERMINATOR;
  out.set(asciiBytes(ISO_STANDARD_ID), 1);
  out[6] = 1;
  return out;
}
