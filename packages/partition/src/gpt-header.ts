/**
 * The GPT header (UEFI 2.10 §5.3.2 Table 5-5 "GPT Header") and the two copies of the table it
 * describes (§5.3.1 "GPT overview", Figure 5-1 / 5-2):
 *
 *   LBA 0              protective (or hybrid) MBR
 *   LBA 1              primary header: MyLBA 1, AlternateLBA = last LBA
 *   LBA 2 …            primary entry array (PartitionEntryLBA; genimage's gpt-location moves it)
 *   … last − n − 1 …   usable space: FirstUsableLBA … LastUsableLBA
 *   last − n … last−1  backup entry array (n = array size in blocks)
 *   last LBA           backup header: MyLBA = last, AlternateLBA 1
 *
 * HeaderCRC32 is the CRC32 of the HeaderSize (92) bytes with the CRC field zero;
 * PartitionEntryArrayCRC32 covers NumberOfPartitionEntries × SizeOfPartitionEntry bytes (§5.3.2).
 * The rest of each header block is zero ("Reserved; must be zero").
 */
import { ErrorCodes, ImgkitError, bytes, crc32, struct, u32le, u64le } from '@imgkit/core';
import { GPT_DEFAULT_ENTRY_COUNT, GPT_ENTRY_SIZE, GPT_MIN_ENTRY_ARRAY_BYTES, encodeGptEntryArray, type GptEntryFields } from './gpt-entry.js';

export const GPT_SIGNATURE = new TextEncoder().encode('EFI PART');
export const GPT_REVISION_1_0 = 0x00010000;
export const GPT_HEADER_SIZE = 92;

// UEFI 2.10 §5.3.2 Table 5-5 "GPT Header", little-endian.
export const GptHeader = struct('gpt.header', GPT_HEADER_SIZE, {
  signature: bytes(0, 8), // "EFI PART"
  revision: u32le(8), // 0x00010000 for every 2.x spec
  headerSize: u32le(12), // 92
  headerCrc32: u32le(16),
  reserved: u32le(20), // must be zero
  myLba: u64le(24),
  alternateLba: u64le(32),
  firstUsableLba: u64le(40),
  lastUsableLba: u64le(48),
  diskGuid: bytes(56, 16),
  partitionEntryLba: u64le(72),
  numberOfPartitionEntries: u32le(80),
  sizeOfPartitionEntry: u32le(84), // 128 × 2^n
  partitionEntryArrayCrc32: u32le(88),
});

/** Blocks the entry array occupies. */
export function entryArraySectors(entryCount: number, sectorSize: number): number {
  return Math.ceil((entryCount * GPT_ENTRY_SIZE) / sectorSize);
}

export interface GptContents {
  /** Logical block size: 512 or 4096. */
  sectorSize: number;
  /** Disk size in logical blocks. */
  diskSectors: number;
  /** Stored bytes of the disk GUID. */
  diskGuid: Uint8Array;
  /** Entry i is partition i + 1; `null` leaves a slot unused. */
  entries: readonly (GptEntryFields | null)[];
  /** NumberOfPartitionEntries. @default 128 (the minimum UEFI allows: 16 KiB) */
  entryCount?: number;
  /** PartitionEntryLBA of the primary array. @default 2 */
  entryArrayLba?: number;
  /** @default the first block after the primary array */
  firstUsableLba?: number;
  /** @default the block before the backup array */
  lastUsableLba?: number;
}

export interface EncodedGpt {
  /** One block for LBA 1. */
  primaryHeader: Uint8Array;
  /** The array padded to whole blocks: written at `primaryEntryLba` and again at `backupEntryLba`. */
  entryArray: Uint8Array;
  /** One block for the last LBA. */
  backupHeader: Uint8Array;
  primaryEntryLba: number;
  backupEntryLba: number;
  backupHeaderLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  entryArraySectors: number;
}

/** Encode both headers and the entry array. */
export function encodeGpt(g: GptContents): EncodedGpt {
  const entryCount = g.entryCount ?? GPT_DEFAULT_ENTRY_COUNT;
  if (entryCount * GPT_ENTRY_SIZE < GPT_MIN_ENTRY_ARRAY_BYTES) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'partition',
      field: 'gpt.numberOfPartitionEntries',
      detail: `${entryCount} entries make a ${entryCount * GPT_ENTRY_SIZE}-byte array; UEFI §5.3.2 requires at least ${GPT_MIN_ENTRY_ARRAY_BYTES} bytes (128 entries)`,
    });
  }
  const n = entryArraySectors(entryCount, g.sectorSize);
  const last = g.diskSectors - 1;
  const primaryEntryLba = g.entryArrayLba ?? 2;
  const backupEntryLba = last - n;
  const firstUsableLba = g.firstUsableLba ?? primaryEntryLba + n;
  const lastUsableLba = g.lastUsableLba ?? backupEntryLba - 1;
  if (primaryEntryLba < 2 || firstUsableLba < primaryEntryLba + n || lastUsableLba >= backupEntryLba || firstUsableLba > lastUsableLba + 1) {
    throw new ImgkitError(ErrorCodes.NO_SPACE, {
      format: 'partition',
      field: 'gpt.header',
      detail: `a disk of ${g.diskSectors} blocks of ${g.sectorSize} bytes cannot hold the GPT as asked (entry array at ${primaryEntryLba}, ${n} blocks; usable ${firstUsableLba}–${lastUsableLba}; backup array at ${backupEntryLba})`,
      hint: 'raise the disk size',
    });
  }
  const array = encodeGptEntryArray(g.entries, entryCount);
  const entriesCrc = crc32(array);
  const entryArray = new Uint8Array(n * g.sectorSize);
  entryArray.set(array);
  const header = (myLba: number, alternateLba: number, entryLba: number): Uint8Array => {
    const block = new Uint8Array(g.sectorSize);
    const fields = {
      signature: GPT_SIGNATURE,
      revision: GPT_REVISION_1_0,
      headerSize: GPT_HEADER_SIZE,
      headerCrc32: 0,
      reserved: 0,
      myLba: BigInt(myLba),
      alternateLba: BigInt(alternateLba),
      firstUsableLba: BigInt(firstUsableLba),
      lastUsableLba: BigInt(lastUsableLba),
      diskGuid: g.diskGuid,
      partitionEntryLba: BigInt(entryLba),
      numberOfPartitionEntries: entryCount,
      sizeOfPartitionEntry: GPT_ENTRY_SIZE,
      partitionEntryArrayCrc32: entriesCrc,
    };
    GptHeader.encode(fields, block);
    GptHeader.encode({ ...fields, headerCrc32: crc32(block.subarray(0, GPT_HEADER_SIZE)) }, block);
    return block;
  };
  return {
    primaryHeader: header(1, last, primaryEntryLba),
    entryArray,
    backupHeader: header(last, 1, backupEntryLba),
    primaryEntryLba,
    backupEntryLba,
    backupHeaderLba: last,
    firstUsableLba,
    lastUsableLba,
    entryArraySectors: n,
  };
}

export type DecodedGptHeader = ReturnType<typeof GptHeader.decode> & { headerCrcOk: boolean };

/** Decode a header block and check its signature and CRC (tests, round trips). */
export function decodeGptHeader(block: Uint8Array): DecodedGptHeader {
  const h = GptHeader.decode(block);
  if (!h.signature.every((b, i) => b === GPT_SIGNATURE[i])) {
    throw new ImgkitError(ErrorCodes.BAD_INPUT, { format: 'partition', field: 'gpt.header.signature', detail: 'no "EFI PART" signature' });
  }
  const copy = Uint8Array.from(block.subarray(0, h.headerSize));
  copy.fill(0, 16, 20);
  return { ...h, headerCrcOk: crc32(copy) === h.headerCrc32 };
}
