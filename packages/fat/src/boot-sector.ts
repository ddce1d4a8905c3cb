/**
 * The boot sector and its BIOS Parameter Block, fatgen103 "Boot Sector and BPB" (sector 0 of the
 * volume, little-endian). Bytes 0–35 are common; from byte 36 the FAT12/16 and FAT32 layouts part.
 * FAT32 keeps a copy in sector 6 (BPB_BkBootSec) with the FSInfo copy after it (see fsinfo.ts).
 *
 * The boot code is imgkit's own few instructions (written for this file, not mkfs.fat's): a BIOS
 * that boots the volume by mistake prints a message, waits for a key and tries the next device
 * (INT 19h), as every non-bootable DOS volume does.
 */
import { ascii, bytes, struct, u8, u16le, u32le, type StructValues } from '@imgkit/core';
import type { FatGeometry } from './geometry.js';

/** fatgen103: bytes 510–511 are 0x55 0xAA. */
export const BOOT_SIGNATURE = 0xaa55;
/** BS_BootSig: the three fields after it (volume id, label, type) are present. */
export const EXTENDED_BOOT_SIGNATURE = 0x29;
/** fatgen103 recommends "MSWIN4.1" as BS_OEMName: the value least likely to upset other drivers. */
export const OEM_NAME = 'MSWIN4.1';
/** BS_VolLab when the volume has no label. */
export const NO_NAME_LABEL = 'NO NAME';

// fatgen103 "Boot Sector and BPB Structure": fields common to FAT12, FAT16 and FAT32 (bytes 0–35).
const common = {
  jmpBoot: bytes(0, 3), //          EB xx 90: a short jump over the BPB to the boot code
  oemName: ascii(3, 8),
  bytesPerSector: u16le(11), //     512
  sectorsPerCluster: u8(13), //     power of two, 1 … 128
  reservedSectors: u16le(14), //    1 on FAT12/16, 32 on FAT32 (mkfs.fat; rounded to a cluster)
  numFats: u8(16), //               2
  rootEntries: u16le(17), //        FAT12/16 root directory entries; 0 on FAT32
  totalSectors16: u16le(19), //     0 when the count needs 32 bits
  media: u8(21), //                 0xF8 fixed media, 0xF0 … 0xFD floppies; also the low byte of FAT[0]
  fatSize16: u16le(22), //          sectors per FAT on FAT12/16; 0 on FAT32
  sectorsPerTrack: u16le(24),
  numHeads: u16le(26),
  hiddenSectors: u32le(28), //      sectors before the volume on its disk
  totalSectors32: u32le(32), //     0 when totalSectors16 holds the count
};

// fatgen103 "Fat12 and Fat16 Structure Starting at Offset 36".
export const BootSector16 = struct('fat.boot-sector', 512, {
  ...common,
  driveNumber: u8(36), //           0x80 hard disk, 0x00 floppy
  reserved1: u8(37), //             Linux keeps its "dirty" flag here: 0 when clean
  bootSignature: u8(38), //         0x29
  volumeId: u32le(39),
  volumeLabel: ascii(43, 11), //    space-padded; "NO NAME    " without a label
  fsType: ascii(54, 8), //          "FAT12   " / "FAT16   ": informational only
  bootCode: bytes(62, 448),
  signature: u16le(510),
});

// fatgen103 "FAT32 Structure Starting at Offset 36".
export const BootSector32 = struct('fat.boot-sector32', 512, {
  ...common,
  fatSize32: u32le(36), //          sectors per FAT
  extFlags: u16le(40), //           0: every FAT is mirrored at run time
  fsVersion: u16le(42), //          0.0
  rootCluster: u32le(44), //        first cluster of the root directory: 2
  fsInfoSector: u16le(48), //       1
  backupBootSector: u16le(50), //   6
  reserved: bytes(52, 12),
  driveNumber: u8(64),
  reserved1: u8(65),
  bootSignature: u8(66),
  volumeId: u32le(67),
  volumeLabel: ascii(71, 11),
  fsType: ascii(82, 8), //          "FAT32   "
  bootCode: bytes(90, 420),
  signature: u16le(510),
});
export type BootSector16Values = StructValues<typeof BootSector16.fields>;
export type BootSector32Values = StructValues<typeof BootSector32.fields>;

/** Offset of the boot code: after the FAT12/16 or the FAT32 fields. */
export function bootCodeOffset(fatBits: 12 | 16 | 32): number {
  return fatBits === 32 ? 90 : 62;
}

const MESSAGE = 'This is not a bootable disk (an imgkit FAT volume).\r\nPress a key to try the next boot device.\r\n';

/**
 * Real-mode code run if a BIOS boots the volume (loaded at 0000:7C00): print MESSAGE with INT 10h
 * teletype output, wait for a key (INT 16h), hand over to the next boot device (INT 19h).
 */
export function bootCode(codeOffset: number): Uint8Array {
  const messageAt = 0x7c00 + codeOffset + 33;
  const code = [
    0xfc, //                    0  cld
    0x31, 0xc0, //              1  xor ax, ax
    0x8e, 0xd8, //              3  mov ds, ax
    0xbe, messageAt & 0xff, messageAt >> 8, // 5  mov si, message
    0xac, //                    8  next: lodsb
    0x84, 0xc0, //              9  test al, al
    0x74, 0x0b, //             11  jz key            (→ 24)
    0x56, //                   13  push si
    0xb4, 0x0e, //             14  mov ah, 0Eh       teletype output
    0xbb, 0x07, 0x00, //       16  mov bx, 0007h     page 0, grey
    0xcd, 0x10, //             19  int 10h
    0x5e, //                   21  pop si
    0xeb, 0xf0, //             22  jmp next          (→ 8)
    0x31, 0xc0, //             24  key: xor ax, ax   AH=0: wait for a key
    0xcd, 0x16, //             26  int 16h
    0xcd, 0x19, //             28  int 19h           next boot device
    0xf4, //                   30  halt: hlt
    0xeb, 0xfd, //             31  jmp halt          (→ 30)
  ];
  const out = new Uint8Array(512 - 2 - codeOffset);
  out.set(code);
  for (let i = 0; i < MESSAGE.length; i++) out[code.length + i] = MESSAGE.charCodeAt(i);
  return out;
}

export interface BootSectorInput {
  geometry: FatGeometry;
  volumeId: number;
  /** Up to 11 characters (see options.ts for what a label may hold); undefined: no label. */
  label: string | undefined;
}

/** Sector 0 of the volume (and, on FAT32, its backup). */
export function encodeBootSector({ geometry: g, volumeId, label }: BootSectorInput): Uint8Array {
  const codeAt = bootCodeOffset(g.fatBits);
  const base = {
    jmpBoot: new Uint8Array([0xeb, codeAt - 2, 0x90]),
    oemName: OEM_NAME,
    bytesPerSector: 512,
    sectorsPerCluster: g.sectorsPerCluster,
    reservedSectors: g.reservedSectors,
    numFats: 2,
    rootEntries: g.rootEntries,
    totalSectors16: g.totalSectors < 0x10000 ? g.totalSectors : 0,
    media: g.media,
    fatSize16: g.fatBits === 32 ? 0 : g.fatSectors,
    sectorsPerTrack: g.sectorsPerTrack,
    numHeads: g.heads,
    hiddenSectors: g.hiddenSectors,
    totalSectors32: g.totalSectors < 0x10000 ? 0 : g.totalSectors,
    driveNumber: g.driveNumber,
    reserved1: 0,
    bootSignature: EXTENDED_BOOT_SIGNATURE,
    volumeId,
    volumeLabel: label ?? NO_NAME_LABEL,
    fsType: `FAT${g.fatBits}`,
    bootCode: bootCode(codeAt),
    signature: BOOT_SIGNATURE,
  };
  if (g.fatBits !== 32) return BootSector16.encode(base);
  return BootSector32.encode({
    ...base,
    fatSize32: g.fatSectors,
    extFlags: 0,
    fsVersion: 0,
    rootCluster: ROOT_CLUSTER,
    fsInfoSector: FSINFO_SECTOR,
    backupBootSector: BACKUP_BOOT_SECTOR,
    reserved: new Uint8Array(12),
  });
}

/** FAT32: the root directory starts at the first data cluster. */
export const ROOT_CLUSTER = 2;
/** FAT32: FSInfo in sector 1, the boot sector's copy in sector 6 and FSInfo's in 7 (fatgen103 BPB_BkBootSec: "6 is recommended"). */
export const FSINFO_SECTOR = 1;
export const BACKUP_BOOT_SECTOR = 6;
