/**
 * El Torito Bootable CD-ROM Format Specification 1.0: the boot catalog (one sector of 32-byte
 * entries: validation entry §2.1, initial/default entry §2.2, section headers §2.3 and section
 * entries §2.4) and the boot-info-table that isolinux and GRUB's eltorito.img expect at offset 8 of
 * their image (mkisofs convention).
 */
import { bytes, ErrorCodes, ImgkitError, struct, u16le, u32le, u8 } from '@imgkit/core';

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
  /** Sectors of 512 bytes the BIOS/firmware loads (El Torito "sector count"; 0 = to the end, for EFI). */
  loadSectors: number;
  lba: number;
}

/**
 * Encode the catalog sector: the first image is the default entry (§2.2); the others follow in
 * sections (§2.3), consecutive images of the same platform sharing one section, as xorriso groups
 * them. The last section header is 0x91, the others 0x90.
 */
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
  for (let i = 1; i < images.length; ) {
    let j = i + 1;
    while (j < images.length && images[j]!.platform === images[i]!.platform) j++;
    if (at + 32 * (1 + j - i) > 2048) {
      throw new ImgkitError(ErrorCodes.FIELD_RANGE, { format: 'iso9660', field: 'iso9660.elTorito.catalog', detail: `${images.length} boot entries do not fit the one-sector catalog` });
    }
    SectionHeader.encode({ headerIndicator: j === images.length ? HEADER_FINAL : HEADER_MORE, platformId: images[i]!.platform, entryCount: j - i, idString: new Uint8Array(0) }, out, at);
    at += 32;
    for (; i < j; i++, at += 32) bootEntry(images[i]!, at);
  }
  return out;
}

/**
 * The sector count of a catalog entry for an image of `byteSize` bytes loaded whole, as xorriso
 * records it: the image's 2 KiB blocks × 4; beyond 65535 an EFI entry gets 0 ("to the end of the
 * medium") and others 65535.
 */
export function fullLoadSectors(byteSize: number, platform: number): number {
  const sectors = Math.ceil(byteSize / 2048) * 4;
  if (sectors > 0xffff) return platform === PLATFORM_EFI ? 0 : 0xffff;
  return Math.max(sectors, 1);
}

/**
 * GRUB2 boot info (xorriso --grub2-boot-info, libisofs "grub2_boot_info"): the image's own address
 * in 512-byte sectors plus 5, as a 64-bit little-endian number at byte 2548 (512 × 5 − 12), where
 * GRUB's i386-pc eltorito.img keeps the sector of its core image. Patches `image` in place.
 */
export const GRUB2_BOOT_INFO_OFFSET = 512 * 5 - 12;
export function patchGrub2BootInfo(image: Uint8Array, fileLba: number): void {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  view.setBigUint64(GRUB2_BOOT_INFO_OFFSET, BigInt(fileLba) * 4n + 5n, true);
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
