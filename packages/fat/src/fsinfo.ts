/**
 * The FAT32 FSInfo sector, fatgen103 "FAT32 FSInfo Sector Structure and Backup Boot Sector": one
 * sector (BPB_FSInfo, sector 1; its copy follows the backup boot sector) with two hints a driver
 * may trust: how many clusters are free and where to start looking for one. fsck.fat checks both,
 * so they are exact here.
 */
import { bytes, struct, u32le, type StructValues } from '@imgkit/core';

export const FSINFO_LEAD_SIGNATURE = 0x41615252; //   "RRaA"
export const FSINFO_STRUCT_SIGNATURE = 0x61417272; // "rrAa"
export const FSINFO_TRAIL_SIGNATURE = 0xaa550000; //  00 00 55 AA
/** FSI_Free_Count / FSI_Nxt_Free value meaning "unknown". */
export const FSINFO_UNKNOWN = 0xffffffff;

// fatgen103 "FAT32 FSInfo Sector Structure": 512 bytes, little-endian.
export const FsInfo = struct('fat.fsinfo', 512, {
  leadSignature: u32le(0), //      0x41615252
  reserved1: bytes(4, 480), //     zero
  structSignature: u32le(484), //  0x61417272
  freeCount: u32le(488), //        free clusters, or 0xFFFFFFFF
  nextFree: u32le(492), //         where to look for a free cluster (the last one allocated), or 0xFFFFFFFF
  reserved2: bytes(496, 12), //    zero
  trailSignature: u32le(508), //   0xAA550000
});
export type FsInfoValues = StructValues<typeof FsInfo.fields>;

export function encodeFsInfo(freeCount: number, nextFree: number): Uint8Array {
  return FsInfo.encode({
    leadSignature: FSINFO_LEAD_SIGNATURE,
    reserved1: new Uint8Array(0),
    structSignature: FSINFO_STRUCT_SIGNATURE,
    freeCount,
    nextFree,
    reserved2: new Uint8Array(0),
    trailSignature: FSINFO_TRAIL_SIGNATURE,
  });
}
