/**
 * GUIDs as GPT stores them. UEFI 2.10 Appendix A (EFI_GUID): the text form
 * `aabbccdd-eeff-gghh-iijj-kkllmmnnoopp` is stored with its first three fields little-endian
 * (`ddccbbaa ffee hhgg`) and the last eight bytes in text order.
 *
 * Derived GUIDs (disk and partition GUIDs nobody gave) come from core's `deterministicId`
 * (sha256 of purpose, epoch, label and index), with the RFC 9562 §5.4 version-4 and variant bits set
 * so that tools which check them see an ordinary random-looking UUID, as systemd-repart does.
 */
import { ErrorCodes, ImgkitError, deterministicId } from '@imgkit/core';

const GUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isGuidText(text: string): boolean {
  return GUID_TEXT.test(text);
}

/** Text → the 16 bytes GPT stores (first three fields byte-swapped). */
export function parseGuid(text: string, field = 'guid'): Uint8Array {
  if (!isGuidText(text)) {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'partition',
      field,
      detail: `"${text}" is not a GUID (8-4-4-4-12 hexadecimal digits)`,
    });
  }
  return textOrderToDisk(hexBytes(text.replace(/-/g, '')));
}

/** The 16 stored bytes → upper-case text, as sgdisk and sfdisk print it. */
export function formatGuid(stored: Uint8Array): string {
  if (stored.byteLength !== 16) throw new RangeError(`a GUID has 16 bytes, not ${stored.byteLength}`);
  const t = textOrderToDisk(stored); // the swap is its own inverse
  let hex = '';
  for (const b of t) hex += b.toString(16).padStart(2, '0');
  hex = hex.toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A GUID derived from `epoch`, `label` and `index`: the same inputs give the same GUID, different
 * ones practically never collide. Returned in stored (on-disk) byte order.
 */
export function deterministicGuid(purpose: string, epoch: number, label: string, index: number): Uint8Array {
  const t = deterministicId(purpose, epoch, 16, label, index); // read as text order
  t[6] = (t[6]! & 0x0f) | 0x40; // RFC 9562 §4.2 version 4
  t[8] = (t[8]! & 0x3f) | 0x80; // RFC 9562 §4.1 variant 10xx
  return textOrderToDisk(t);
}

export function isZeroGuid(stored: Uint8Array): boolean {
  return stored.every((b) => b === 0);
}

function hexBytes(hex: string): Uint8Array {
  const b = new Uint8Array(hex.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function textOrderToDisk(t: Uint8Array): Uint8Array {
  const d = Uint8Array.from(t);
  d.subarray(0, 4).reverse();
  d.subarray(4, 6).reverse();
  d.subarray(6, 8).reverse();
  return d;
}
