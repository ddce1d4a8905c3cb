/**
 * GPT partition attribute bits, UEFI 2.10 §5.3.3 Table 5-8 ("Defined GPT Partition Entry —
 * Attributes"): bit 0 required partition, bit 1 no block I/O protocol, bit 2 legacy BIOS bootable,
 * bits 3–47 reserved (must be zero), bits 48–63 defined by the partition type. For the Linux types
 * the Discoverable Partitions Specification defines 59 grow-fs, 60 read-only and 63 no-auto (62 is
 * "hidden" for Microsoft basic data, which some tools also apply to Linux data).
 */
import { ErrorCodes, ImgkitError } from '@imgkit/core';

export const GPT_ATTRIBUTE_BITS = {
  required: 0,
  'no-block-io': 1,
  'legacy-bios-bootable': 2,
  'grow-fs': 59,
  'read-only': 60,
  hidden: 62,
  'no-auto': 63,
} as const;
export type GptAttributeName = keyof typeof GPT_ATTRIBUTE_BITS;

/** Bits a caller may set: 0–2 and the type-specific 48–63. */
export const GPT_ATTRIBUTES_ALLOWED = 0b111n | (0xffffn << 48n);

/**
 * Attributes as names, bit numbers (0–2, 48–63), or the whole 64-bit value. Reserved bits 3–47 are
 * an error: UEFI requires them to be zero.
 */
export function resolveAttributes(attrs: readonly (GptAttributeName | number)[] | bigint | undefined, field: string): bigint {
  if (attrs === undefined) return 0n;
  let value = 0n;
  if (typeof attrs === 'bigint') value = attrs;
  else {
    for (const a of attrs) {
      let bit: number;
      if (typeof a === 'number') bit = a;
      else {
        const b = (GPT_ATTRIBUTE_BITS as Record<string, number>)[a];
        if (b === undefined) {
          throw new ImgkitError(ErrorCodes.BAD_OPTION, {
            format: 'partition',
            field,
            detail: `unknown GPT attribute "${a}"`,
            hint: `use one of ${Object.keys(GPT_ATTRIBUTE_BITS).join(', ')}, or a bit number 0–2 or 48–63`,
          });
        }
        bit = b;
      }
      if (!Number.isInteger(bit) || bit < 0 || bit > 63) {
        throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'partition', field, detail: `GPT attribute bit ${bit} is not 0–63` });
      }
      value |= 1n << BigInt(bit);
    }
  }
  if (value < 0n || value >= 1n << 64n) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'partition', field, detail: `GPT attributes 0x${value.toString(16)} do not fit 64 bits` });
  }
  const reserved = value & ~GPT_ATTRIBUTES_ALLOWED;
  if (reserved !== 0n) {
    const bits: number[] = [];
    for (let i = 0; i < 64; i++) if (reserved & (1n << BigInt(i))) bits.push(i);
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'partition',
      field,
      detail: `GPT attribute bit${bits.length > 1 ? 's' : ''} ${bits.join(', ')} reserved by UEFI §5.3.3 (bits 3–47 must be zero)`,
      hint: 'use bits 0–2 or the type-specific 48–63',
    });
  }
  return value;
}

/** Names (or bit numbers for unnamed type-specific bits) of an attribute value, lowest bit first. */
export function describeAttributes(value: bigint): (GptAttributeName | number)[] {
  const out: (GptAttributeName | number)[] = [];
  const byBit = new Map<number, GptAttributeName>(Object.entries(GPT_ATTRIBUTE_BITS).map(([k, v]) => [v, k as GptAttributeName]));
  for (let i = 0; i < 64; i++) if (value & (1n << BigInt(i))) out.push(byBit.get(i) ?? i);
  return out;
}
