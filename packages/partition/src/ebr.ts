/**
 * Extended boot records: the chain of logical partitions inside an MBR extended partition.
 *
 * UEFI does not define the EBR; its layout is the DOS convention that the Linux kernel reads
 * (block/partitions/msdos.c, parse_extended()) and util-linux's libfdisk writes (libfdisk/src/dos.c):
 *
 *   - each logical partition is preceded by an EBR, a sector laid out as an MBR (Table 5-1) whose
 *     boot code area is zero and whose signature is 0xAA55;
 *   - record 1 describes the logical partition, its StartingLBA relative to the EBR's own sector;
 *   - record 2, when another logical follows, is a link of an extended type whose StartingLBA is
 *     relative to the start of the (outermost) extended partition and whose SizeInLBA runs from the
 *     next EBR to the end of the next logical partition;
 *   - records 3 and 4 are empty; CHS fields hold absolute addresses (what sfdisk writes).
 *
 * fdisk and sfdisk put each EBR one alignment unit (1 MiB) before its logical partition, and the
 * first EBR at the start of the extended partition; genimage does the same. The layout solver follows
 * that rule.
 */
import { DEFAULT_CHS_GEOMETRY, LegacyMbr, MBR_RECORDS_OFFSET, MBR_SIGNATURE, chs as chsAbs, encodeMbrRecord, type ChsGeometry } from './mbr.js';

export interface EbrContents {
  /** Absolute LBA of this EBR. */
  ebrLba: number;
  /** Absolute LBA where the extended partition starts (the first EBR). */
  extendedStartLba: number;
  /** The logical partition this EBR describes (absolute LBAs). */
  logical: { type: number; startLba: number; sectorCount: number; bootable?: boolean };
  /** The next EBR in the chain, if any: its LBA and the end (exclusive) of its logical partition. */
  next?: { ebrLba: number; endLba: number };
  /** Type byte of the link record. @default 0x05 (the link type fdisk and genimage write is 0x05 or 0x0F; Linux accepts 0x05, 0x0F, 0x85) */
  linkType?: number;
  /** @default DEFAULT_CHS_GEOMETRY */
  geometry?: ChsGeometry;
}

/** Encode one EBR as the 512-byte structure (the caller places it at the start of its sector). */
export function encodeEbr(e: EbrContents): Uint8Array {
  const geometry = e.geometry ?? DEFAULT_CHS_GEOMETRY;
  const records = new Uint8Array(64);
  const rel = e.logical.startLba - e.ebrLba;
  records.set(
    encodeMbrRecord(
      {
        bootable: e.logical.bootable ?? false,
        type: e.logical.type,
        startLba: rel,
        sectorCount: e.logical.sectorCount,
        startingChs: chsAbs(e.logical.startLba, geometry),
        endingChs: chsAbs(e.logical.startLba + e.logical.sectorCount - 1, geometry),
      },
      geometry,
      `ebr@${e.ebrLba}.logical`,
    ),
    0,
  );
  if (e.next) {
    const count = e.next.endLba - e.next.ebrLba;
    records.set(
      encodeMbrRecord(
        {
          type: e.linkType ?? 0x05,
          startLba: e.next.ebrLba - e.extendedStartLba,
          sectorCount: count,
          startingChs: chsAbs(e.next.ebrLba, geometry),
          endingChs: chsAbs(e.next.endLba - 1, geometry),
        },
        geometry,
        `ebr@${e.ebrLba}.link`,
      ),
      16,
    );
  }
  return LegacyMbr.encode({ bootCode: new Uint8Array(0), uniqueMbrDiskSignature: 0, unknown: 0, partitionRecords: records, signature: MBR_SIGNATURE });
}

/** Offset of the records inside an EBR sector (as in the MBR). */
export const EBR_RECORDS_OFFSET = MBR_RECORDS_OFFSET;
