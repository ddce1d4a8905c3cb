/**
 * GPT partition entries: UEFI 2.10 §5.3.3 Table 5-6 "GPT Partition Entry", 128 bytes each
 * (SizeOfPartitionEntry may be any 128 × 2^n; imgkit writes 128), little-endian, in an array of
 * NumberOfPartitionEntries entries that starts at PartitionEntryLBA. Unused entries are all zero
 * (§5.3.3: a zero PartitionTypeGUID marks an unused entry).
 */
import { ErrorCodes, ImgkitError, bytes, struct, u64le } from '@imgkit/core';

export const GPT_ENTRY_SIZE = 128;
/** UEFI §5.3.2: the array must reserve at least 16 384 bytes, i.e. 128 entries of 128 bytes. */
export const GPT_MIN_ENTRY_ARRAY_BYTES = 16384;
export const GPT_DEFAULT_ENTRY_COUNT = 128;
/** PartitionName is 72 bytes: 36 UTF-16LE code units, NUL-padded. */
export const GPT_NAME_UNITS = 36;

// UEFI 2.10 §5.3.3 Table 5-6 "GPT Partition Entry".
export const GptEntry = struct('gpt.entry', GPT_ENTRY_SIZE, {
  partitionTypeGuid: bytes(0, 16), // stored GUID bytes (Appendix A byte order)
  uniquePartitionGuid: bytes(16, 16),
  startingLba: u64le(32),
  endingLba: u64le(40), // inclusive
  attributes: u64le(48), // Table 5-8, see attributes.ts
  partitionName: bytes(56, 72), // UTF-16LE, NUL-padded
});

export interface GptEntryFields {
  typeGuid: Uint8Array;
  uniqueGuid: Uint8Array;
  startLba: number;
  /** Inclusive, as stored. */
  endLba: number;
  attributes?: bigint;
  name?: string;
}

/** A partition name as the 72 stored bytes. More than 36 UTF-16 units is an error, never a cut. */
export function encodeGptName(name: string, field = 'gpt.entry.partitionName'): Uint8Array {
  if (name.length > GPT_NAME_UNITS) {
    throw new ImgkitError(ErrorCodes.NAME_TOO_LONG, {
      format: 'partition',
      field,
      detail: `GPT partition name "${name}" is ${name.length} UTF-16 units; the limit is ${GPT_NAME_UNITS}`,
      hint: 'shorten the name',
    });
  }
  const out = new Uint8Array(72);
  const view = new DataView(out.buffer);
  for (let i = 0; i < name.length; i++) view.setUint16(2 * i, name.charCodeAt(i), true);
  return out;
}

/** The stored name up to its first NUL unit. */
export function decodeGptName(stored: Uint8Array): string {
  const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
  let s = '';
  for (let i = 0; i + 1 < stored.byteLength; i += 2) {
    const u = view.getUint16(i, true);
    if (u === 0) break;
    s += String.fromCharCode(u);
  }
  return s;
}

export function encodeGptEntry(e: GptEntryFields, into?: Uint8Array, at = 0, field = 'gpt.entry'): Uint8Array {
  if (e.endLba < e.startLba) {
    throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'partition', field, detail: `ending LBA ${e.endLba} is before starting LBA ${e.startLba}` });
  }
  return GptEntry.encode(
    {
      partitionTypeGuid: e.typeGuid,
      uniquePartitionGuid: e.uniqueGuid,
      startingLba: BigInt(e.startLba),
      endingLba: BigInt(e.endLba),
      attributes: e.attributes ?? 0n,
      partitionName: encodeGptName(e.name ?? '', `${field}.partitionName`),
    },
    into,
    at,
  );
}

/**
 * The entry array: `entryCount` slots of 128 bytes, entry i in slot i (partition number i + 1),
 * `null` for an unused slot in between. The array's byte length is entryCount × 128; callers round
 * the space they reserve up to whole sectors.
 */
export function encodeGptEntryArray(entries: readonly (GptEntryFields | null)[], entryCount = GPT_DEFAULT_ENTRY_COUNT): Uint8Array {
  if (entries.length > entryCount) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'partition',
      field: 'gpt.numberOfPartitionEntries',
      detail: `${entries.length} partitions do not fit a ${entryCount}-entry array`,
      hint: 'raise the GPT entry count',
    });
  }
  const out = new Uint8Array(entryCount * GPT_ENTRY_SIZE);
  entries.forEach((e, i) => {
    if (e) encodeGptEntry(e, out, i * GPT_ENTRY_SIZE, `gpt.entries[${i}]`);
  });
  return out;
}

export interface DecodedGptEntry {
  /** Partition number (slot + 1). */
  number: number;
  typeGuid: Uint8Array;
  uniqueGuid: Uint8Array;
  startLba: number;
  endLba: number;
  attributes: bigint;
  name: string;
}

/** The used entries of an array. */
export function decodeGptEntryArray(array: Uint8Array, entryCount: number, entrySize = GPT_ENTRY_SIZE): DecodedGptEntry[] {
  const out: DecodedGptEntry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const e = GptEntry.decode(array, i * entrySize);
    if (e.partitionTypeGuid.every((b) => b === 0)) continue;
    out.push({
      number: i + 1,
      typeGuid: e.partitionTypeGuid,
      uniqueGuid: e.uniquePartitionGuid,
      startLba: Number(e.startingLba),
      endLba: Number(e.endingLba),
      attributes: e.attributes,
      name: decodeGptName(e.partitionName),
    });
  }
  return out;
}
