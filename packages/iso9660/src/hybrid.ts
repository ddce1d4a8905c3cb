/**
 * The system area (the first 16 sectors, ECMA-119 §6.2.1) of a hybrid ISO: an MBR (isohybrid style,
 * code from a user template such as isolinux's isohdpfx.bin) and/or a GPT (UEFI 2.x §5.3) so the
 * image also boots when written to a USB stick. Sectors here are 512 bytes.
 */
import { bytes, crc32, struct, u16le, u32le, u64le, u8 } from '@imgkit/core';

export const SECTOR = 512;

// MBR partition entry (UEFI §5.2.1, Table 5-2 "Legacy MBR Partition Record").
export const MbrPartition = struct('mbr.partition', 16, {
  status: u8(0),
  chsStart: bytes(1, 3),
  type: u8(4),
  chsEnd: bytes(5, 3),
  startLba: u32le(8),
  sectorCount: u32le(12),
});

export interface MbrEntry {
  bootable: boolean;
  type: number;
  startLba: number;
  sectorCount: number;
}

/** CHS address with isohybrid's geometry (64 heads, 32 sectors), clamped at cylinder 1023. */
export function chs(lba: number, heads = 64, sectors = 32): Uint8Array {
  const cyl = Math.floor(lba / (heads * sectors));
  if (cyl > 1023) return new Uint8Array([0xfe, 0xff, 0xff]);
  const head = Math.floor(lba / sectors) % heads;
  const sec = (lba % sectors) + 1;
  return new Uint8Array([head, sec | ((cyl >> 2) & 0xc0), cyl & 0xff]);
}

/**
 * Encode the 512-byte MBR: bytes 0–431 from the template (boot code), isohybrid's boot image
 * address at 432 (El Torito boot image LBA × 4, i.e. in 512-byte sectors, as syslinux's isohybrid
 * and xorriso write it), the disk signature at 440, four partition entries at 446, 0x55AA at 510.
 */
export function encodeMbr(template: Uint8Array | undefined, bootImageLba: number | undefined, diskId: number, entries: readonly MbrEntry[]): Uint8Array {
  const out = new Uint8Array(SECTOR);
  if (template) out.set(template.subarray(0, 432));
  const view = new DataView(out.buffer);
  if (bootImageLba !== undefined) view.setUint32(432, bootImageLba * 4, true);
  view.setUint32(440, diskId >>> 0, true);
  entries.forEach((e, i) => {
    const end = e.startLba + e.sectorCount - 1;
    MbrPartition.encode(
      { status: e.bootable ? 0x80 : 0, chsStart: chs(e.startLba), type: e.type, chsEnd: chs(end), startLba: e.startLba, sectorCount: e.sectorCount },
      out,
      446 + 16 * i,
    );
  });
  out[510] = 0x55;
  out[511] = 0xaa;
  return out;
}

// UEFI §5.3.2 GPT header (92 bytes, little-endian).
export const GptHeader = struct('gpt.header', 92, {
  signature: bytes(0, 8),
  revision: u32le(8),
  headerSize: u32le(12),
  headerCrc32: u32le(16),
  myLba: u64le(24),
  alternateLba: u64le(32),
  firstUsableLba: u64le(40),
  lastUsableLba: u64le(48),
  diskGuid: bytes(56, 16),
  partitionEntryLba: u64le(72),
  numberOfEntries: u32le(80),
  sizeOfEntry: u32le(84),
  entriesCrc32: u32le(88),
});
// UEFI §5.3.3 GPT partition entry (128 bytes).
export const GptEntry = struct('gpt.entry', 128, {
  typeGuid: bytes(0, 16),
  uniqueGuid: bytes(16, 16),
  startingLba: u64le(32),
  endingLba: u64le(40),
  attributes: u64le(48),
  name: bytes(56, 72),
});

export const GPT_ENTRY_COUNT = 128;
export const GPT_ENTRIES_SECTORS = (GPT_ENTRY_COUNT * 128) / SECTOR; // 32
export const GUID_EFI_SYSTEM = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
export const GUID_BASIC_DATA = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';

/** UEFI Appendix A GUID text → bytes (first three fields little-endian). */
export function guidBytes(text: string): Uint8Array {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`"${text}" is not a GUID`);
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  const swap = (a: number, n: number) => b.subarray(a, a + n).reverse();
  swap(0, 4);
  swap(4, 2);
  swap(6, 2);
  return b;
}

export interface GptPartition {
  typeGuid: Uint8Array;
  uniqueGuid: Uint8Array;
  startLba: number;
  endLba: number;
  attributes?: bigint;
  name: string;
}

export interface GptLayout {
  /** Total disk size in 512-byte sectors. */
  diskSectors: number;
  diskGuid: Uint8Array;
  partitions: readonly GptPartition[];
}

/** Encode the partition entry array (128 entries). */
export function encodeGptEntries(parts: readonly GptPartition[]): Uint8Array {
  const out = new Uint8Array(GPT_ENTRY_COUNT * 128);
  parts.forEach((p, i) => {
    const name = new Uint8Array(72);
    for (let k = 0; k < p.name.length && k < 36; k++) {
      name[2 * k] = p.name.charCodeAt(k) & 0xff;
      name[2 * k + 1] = p.name.charCodeAt(k) >> 8;
    }
    GptEntry.encode(
      { typeGuid: p.typeGuid, uniqueGuid: p.uniqueGuid, startingLba: BigInt(p.startLba), endingLba: BigInt(p.endLba), attributes: p.attributes ?? 0n, name },
      out,
      i * 128,
    );
  });
  return out;
}

/**
 * The primary GPT (header sector at LBA 1 followed by the entries at LBA 2–33) and the backup
 * (entries, then header in the last sector), per UEFI §5.3.1. CRC32s over the 92-byte header (with
 * its CRC field zero) and over the entry array.
 */
export function encodeGpt(g: GptLayout): { primary: Uint8Array; backup: Uint8Array } {
  const entries = encodeGptEntries(g.partitions);
  const entriesCrc = crc32(entries);
  const last = g.diskSectors - 1;
  const firstUsable = 2 + GPT_ENTRIES_SECTORS;
  const lastUsable = last - GPT_ENTRIES_SECTORS - 1;
  const header = (my: number, alt: number, entryLba: number) => {
    const sector = new Uint8Array(SECTOR);
    const fields = {
      signature: new TextEncoder().encode('EFI PART'),
      revision: 0x00010000,
      headerSize: 92,
      headerCrc32: 0,
      myLba: BigInt(my),
      alternateLba: BigInt(alt),
      firstUsableLba: BigInt(firstUsable),
      lastUsableLba: BigInt(lastUsable),
      diskGuid: g.diskGuid,
      partitionEntryLba: BigInt(entryLba),
      numberOfEntries: GPT_ENTRY_COUNT,
      sizeOfEntry: 128,
      entriesCrc32: entriesCrc,
    };
    GptHeader.encode(fields, sector);
    GptHeader.encode({ ...fields, headerCrc32: crc32(sector.subarray(0, 92)) }, sector);
    return sector;
  };
  const primary = new Uint8Array(SECTOR * (1 + GPT_ENTRIES_SECTORS));
  primary.set(header(1, last, 2));
  primary.set(entries, SECTOR);
  const backup = new Uint8Array(SECTOR * (1 + GPT_ENTRIES_SECTORS));
  backup.set(entries);
  backup.set(header(last, 1, last - GPT_ENTRIES_SECTORS), SECTOR * GPT_ENTRIES_SECTORS);
  return { primary, backup };
}

/** A protective MBR entry (UEFI §5.2.3): type 0xEE from LBA 1 over the whole disk (capped). */
export function protectiveEntry(diskSectors: number): MbrEntry {
  return { bootable: false, type: 0xee, startLba: 1, sectorCount: Math.min(diskSectors - 1, 0xffffffff) };
}
