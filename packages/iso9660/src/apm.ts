/**
 * Apple Partition Map (Inside Macintosh: Devices, "The Driver Descriptor Record" and "Partition Map
 * Entry"), as xorriso writes it into the system area of an ISO that Intel Macs boot from USB: block 0
 * starts with the driver descriptor signature "ER" and the block size, blocks 1… hold one entry each
 * (all numbers big-endian). With an isohybrid MBR the first 32 bytes are the APM-aware isohdpfx code
 * (which starts "3 3 ED 90 …"): they become "ER", block size 2048, harmless x86 jumps.
 */
import { bytes, ErrorCodes, ImgkitError, struct, u16be, u32be } from '@imgkit/core';

export const APM_BLOCK_SIZE = 2048;

// Inside Macintosh: Devices 3-17, "Driver Descriptor Record": sbSig, sbBlkSize, sbBlkCount …
export const DriverDescriptor = struct('apm.ddr', 8, {
  signature: bytes(0, 2), // "ER"
  blockSize: u16be(2),
  blockCount: u32be(4),
});

// Inside Macintosh: Devices 3-20, "Partition Map Entry".
export const ApmEntry = struct('apm.entry', 136, {
  signature: bytes(0, 2), // "PM"
  mapBlockCount: u32be(4), // entries in the map
  startBlock: u32be(8),
  blockCount: u32be(12),
  name: bytes(16, 32),
  type: bytes(48, 32),
  dataStart: u32be(80),
  dataCount: u32be(84),
  status: u32be(88),
});

// pmPartStatus bits: valid, allocated, readable, writable; bit 30 "automatic mount" (legacy Mac OS).
export const APM_STATUS_MAP = 0x03;
export const APM_STATUS_DATA = 0x13;
export const APM_STATUS_AUTOMOUNT = 0x40000000;

export interface ApmPartition {
  name: string;
  type: string;
  /** In APM blocks. */
  startBlock: number;
  blockCount: number;
}

/** x86 code of isohdpfx.bin's APM-aware variants, and what replaces it (ER, 2048, jmp) in the MBR. */
const ISOHYBRID_APM_CODE = new Uint8Array([0x33, 0xed, ...new Array<number>(30).fill(0x90)]);
const ISOHYBRID_APM_HEAD = new Uint8Array([0x45, 0x52, 0x08, 0x00, 0x00, 0x00, 0x90, 0x90, ...new Array<number>(24).fill(0)]);

function ascii32(s: string): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < s.length && i < 32; i++) out[i] = s.charCodeAt(i) & 0x7f;
  return out;
}

/**
 * Write the map into the system area `area` (entries at blocks 1…n). The first partition must be
 * the map itself. `isohybrid`: the MBR template's first 32 bytes must be the APM-aware isohdpfx code
 * (isohdpfx.bin's "apm" variants) and become the APM head; otherwise an 8-byte driver descriptor
 * is written over the start of whatever is there.
 */
export function writeApm(area: Uint8Array, parts: readonly ApmPartition[], isohybrid: boolean): void {
  if ((parts.length + 1) * APM_BLOCK_SIZE > area.byteLength) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'apm.entries', detail: `${parts.length} APM entries do not fit the 32 KiB system area` });
  }
  if (isohybrid) {
    const start = area.subarray(0, 32);
    const ok = start.every((b, i) => b === ISOHYBRID_APM_CODE[i]) || start.every((b, i) => b === ISOHYBRID_APM_HEAD[i]);
    if (!ok) {
      throw new ImgkitError(ErrorCodes.BAD_OPTION, {
        format: 'iso9660',
        field: 'systemArea.template',
        detail: 'the MBR template is not prepared for an Apple Partition Map (its code does not start with 33 ED 90 90 …)',
        hint: 'use an APM-aware isohdpfx (e.g. isohdpfx.bin from syslinux ≥ 4, or drop the APM mark)',
      });
    }
    area.set(ISOHYBRID_APM_HEAD, 0);
  } else {
    // A sparse block 0 that is also harmless x86 code: "ER", block size, then jmp +2 and 0xFFFF.
    DriverDescriptor.encode({ signature: new Uint8Array([0x45, 0x52]), blockSize: APM_BLOCK_SIZE, blockCount: 0 }, area, 0);
    area.set([0xeb, 0x02, 0xff, 0xff], 4);
  }
  parts.forEach((p, i) => {
    const at = (i + 1) * APM_BLOCK_SIZE;
    area.fill(0, at, at + APM_BLOCK_SIZE);
    let status = i === 0 ? APM_STATUS_MAP : APM_STATUS_DATA;
    if (i > 0 && p.type === 'Apple_HFS') status |= APM_STATUS_AUTOMOUNT;
    ApmEntry.encode(
      {
        signature: new Uint8Array([0x50, 0x4d]),
        mapBlockCount: parts.length,
        startBlock: p.startBlock,
        blockCount: p.blockCount,
        name: ascii32(p.name),
        type: ascii32(p.type),
        dataStart: 0,
        dataCount: p.blockCount,
        status,
      },
      area,
      at,
    );
  });
}
