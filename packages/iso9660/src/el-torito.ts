/**
 * El Torito Bootable CD-ROM Format Specification 1.0: the boot catalog (one sector of 32-byte
 * entries: validation entry §2.1, initial/default entry §2.2, section headers §2.3 and section
 * entries §2.4) and the boot-info-table that isolinux and GRUB's eltorito.img expect at offset 8 of
 * their image (mkisofs convention).
 */
import { bytes, struct, u16le, u32le, u8 } from '@imgkit/core';

export const PLATFORM_X86 = 0x00;
export const PLATFORM_EFI = 0xef;
export const BOOTABLE = 0x88;
export const MEDIA_NO_EMULATION = 0x00;
export const HEADER_MORE = 0x90;
export const HEADER_FINAL = 0x91;

// El Torito §2.1 validation entry.
export const ValidationEntry = struct('iso9660.elTorito.validation', 32, {
  headerId: u8(0), // 1
  platformId: u8(1),
  idString: bytes(4, 24), // manufacturer id, zero-filled
  checksum: u16le(28),
  key55: u8(30),
  keyAA: u8(31),
});
// El Torito §2.2 initial/default entry and §2.4 section entry (same first 12 bytes).
export const BootEntry = struct('iso9660.elTorito.entry', 32, {
  bootIndicator: u8(0),
  mediaType: u8(1),
  loadSegment: u16le(2),
  systemType: u8(4),
  sectorCount: u16le(6),
  loadRba: u32le(8),
});
// El Torito §2.3 section header.
export const SectionHeader = struct('iso9660.elTorito.sectionHeader', 32, {
  headerIndicator: u8(0),
  platformId: u8(1),
  entryCount: u16le(2),
  idString: bytes(4, 28),
});

export interface BootImageEntry {
  platform: number;
  /** Sectors of 512 bytes the BIOS/firmware loads (El Torito "sector count"). */
  loadSectors: number;
  lba: number;
}

/** Encode the catalog sector: the first image is the default entry, the others get sections. */
export function encodeBootCatalog(images: readonly BootImageEntry[]): Uint8Array {
  const out = new Uint8Array(2048);
  const first = images[0]!;
  ValidationEntry.encode({ headerId: 1, platformId: first.platform, idString: new Uint8Array(0), checksum: 0, key55: 0x55, keyAA: 0xaa }, out, 0);
  // §2.1: the 16-bit words of the validation entry sum to zero.
  const view = new DataView(out.buffer);
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + view.getUint16(i, true)) & 0xffff;
  view.setUint16(28, (0x10000 - sum) & 0xffff, true);
  const bootEntry = (img: BootImageEntry, at: number) =>
    BootEntry.encode({ bootIndicator: BOOTABLE, mediaType: MEDIA_NO_EMULATION, loadSegment: 0, systemType: 0, sectorCount: img.loadSectors, loadRba: img.lba }, out, at);
  bootEntry(first, 32);
  let at = 64;
  for (let i = 1; i < images.length; i++) {
    const img = images[i]!;
    SectionHeader.encode({ headerIndicator: i === images.length - 1 ? HEADER_FINAL : HEADER_MORE, platformId: img.platform, entryCount: 1, idString: new Uint8Array(0) }, out, at);
    bootEntry(img, at + 32);
    at += 64;
  }
  return out;
}

/**
 * Boot info table (mkisofs -boot-info-table): 56 bytes at offset 8 of the boot image: LBA of the
 * PVD, LBA of the boot file, its length, and the 32-bit sum of its little-endian words from byte 64
 * on; the rest zero. Patches `image` in place.
 */
export function patchBootInfoTable(image: Uint8Array, pvdLba: number, fileLba: number): void {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  let sum = 0;
  for (let i = 64; i < image.byteLength; i += 4) {
    let w = 0;
    for (let k = 0; k < 4 && i + k < image.byteLength; k++) w |= image[i + k]! << (8 * k);
    sum = (sum + (w >>> 0)) >>> 0;
  }
  view.setUint32(8, pvdLba, true);
  view.setUint32(12, fileLba, true);
  view.setUint32(16, image.byteLength, true);
  view.setUint32(20, sum, true);
  image.fill(0, 24, 64);
}
