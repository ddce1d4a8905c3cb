/**
 * Volume layout: the FAT type, cluster size, reserved sectors, FAT length, root directory size,
 * media byte and CHS fields for a volume of a given size — chosen as dosfstools 4.2's mkfs.fat
 * chooses them for an image file (`mkfs.fat -C <file> <KiB>`, Debian 12), so an image made here has
 * the layout a user of mkfs.fat expects. The rules, read from mkfs.fat.c's establish_params() and
 * setup_tables() (no code taken):
 *
 * - Sizes: the volume holds floor(size / 512) sectors (more than 2^32 − 1 is refused), rounded
 *   down to a whole number of tracks; a size that is not a multiple of the track is left unused
 *   at the end of the image, as mkfs.fat leaves it.
 * - CHS fields (an image file has no geometry): up to 524288 sectors the SD Card Association's
 *   recommendation (heads 2/4/8/16 up to 32768/65536/262144/524288 sectors; 16 sectors per track
 *   up to 4096 sectors, else 32), above that LBA-assist translation (63 sectors per track, heads
 *   16/32/64/128/255 up to 1024 cylinders).
 * - Floppy sizes (360, 720, 1200, 1440, 2880 KiB exactly): the classic BPBs (media 0xFD/0xF9/0xF0,
 *   1 or 2 sectors per cluster, 112 or 224 root entries, 9/15/18/36 sectors per track, 2 heads).
 *   Every other size: media 0xF8, 512 root entries.
 * - FAT type: FAT32 from 512 MiB unless a type is asked for. Otherwise the cluster size starts at
 *   4 sectors (FAT12/16) and doubles until FAT12 (≤ 4084 clusters) or FAT16 (4087 … 65524) fits;
 *   with both possible FAT16 wins when it has more clusters. mkfs.fat avoids 4085 and 4086
 *   clusters because Windows and Linux disagree on the FAT type there (fatgen103 "FAT Type
 *   Determination" says 4085 is FAT16; fastfat.sys reads FAT12 below 4087).
 * - FAT32 cluster size (fatgen103's table for Microsoft's format): 512 bytes up to 260 MiB, 4 KiB
 *   up to 8 GiB, 8 KiB up to 16 GiB, 16 KiB up to 32 GiB, 32 KiB above; doubled while there are
 *   more clusters than 2^28 − 10. Without an explicit FAT32 request fewer than 65525 clusters is
 *   refused; with one, mkfs.fat only warns.
 * - Reserved sectors: 1 (FAT12/16) or 32 (FAT32). Above 8192 sectors the reserved area, each FAT
 *   and the root directory are rounded up to whole clusters, so clusters are aligned in the volume;
 *   the root directory then gets the entries that fill its rounded sectors.
 * - Two FATs; hidden sectors 0 (an image file starts at its own sector 0).
 */
export type FatBits = 12 | 16 | 32;

export const SECTOR_BYTES = 512;
export const FAT_COUNT = 2;
/** mkfs.fat's limits on cluster counts (see the top of this file). */
export const MAX_CLUSTERS_12 = 4084;
export const MIN_CLUSTERS_16 = 4087;
export const MAX_CLUSTERS_16 = 65524;
/** fatgen103 "FAT Type Determination": 65525 clusters or more is FAT32. */
export const MIN_CLUSTERS_32 = 65525;
/** The high 4 bits of a FAT32 entry are reserved: cluster numbers up to 0x0FFFFFF6 (fatgen103 "FAT32 FAT entry"). */
export const MAX_CLUSTERS_32 = 0x0ffffff6 - 1;
/** The BPB holds 32-bit sector counts. */
export const MAX_SECTORS = 0xffffffff;
/** fatgen103 "FAT Directory Structure": a directory holds at most 65536 32-byte entries. */
export const MAX_DIR_ENTRIES = 65536;

export interface FatGeometry {
  fatBits: FatBits;
  /** Bytes of the image (what the volume was sized for; ≥ totalSectors × 512). */
  imageBytes: number;
  /** Sectors of the volume (BPB_TotSec16 / BPB_TotSec32). */
  totalSectors: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  reservedSectors: number;
  /** Sectors of one FAT (BPB_FATSz16 / BPB_FATSz32). */
  fatSectors: number;
  /** Root directory entries (BPB_RootEntCnt; 0 on FAT32). */
  rootEntries: number;
  rootDirSectors: number;
  /** First sector of the data area (cluster 2). */
  dataStartSector: number;
  /** Data clusters: numbers 2 … clusterCount + 1. */
  clusterCount: number;
  media: number;
  sectorsPerTrack: number;
  heads: number;
  hiddenSectors: number;
  /** BS_DrvNum: 0x80 (hard disk) with media 0xF8, else 0x00 (floppy). */
  driveNumber: number;
  /** The size matched a classic floppy format. */
  floppy: boolean;
}

export interface GeometryRequest {
  /** Image size in bytes. */
  sizeBytes: number;
  /** A FAT type asked for (mkfs.fat -F); chosen from the size when absent. */
  fatBits?: FatBits;
  /**
   * At least this many root directory entries on FAT12/16 (mkfs.fat -r); the default (512, or the
   * floppy format's) is used when it is larger.
   */
  minRootEntries?: number;
}

const cdiv = (a: number, b: number) => Math.ceil(a / b);

interface FloppyFormat {
  sectorsPerTrack: number;
  heads: number;
  media: number;
  sectorsPerCluster: number;
  rootEntries: number;
}
/** mkfs.fat's floppy table, keyed by the image size in KiB (exact). */
const FLOPPIES: ReadonlyMap<number, FloppyFormat> = new Map([
  [360, { sectorsPerTrack: 9, heads: 2, media: 0xfd, sectorsPerCluster: 2, rootEntries: 112 }],
  [720, { sectorsPerTrack: 9, heads: 2, media: 0xf9, sectorsPerCluster: 2, rootEntries: 112 }],
  [1200, { sectorsPerTrack: 15, heads: 2, media: 0xf9, sectorsPerCluster: 1, rootEntries: 224 }],
  [1440, { sectorsPerTrack: 18, heads: 2, media: 0xf0, sectorsPerCluster: 1, rootEntries: 224 }],
  [2880, { sectorsPerTrack: 36, heads: 2, media: 0xf0, sectorsPerCluster: 2, rootEntries: 224 }],
]);
/** Image sizes (KiB) where the choice of cluster size can go down as the size goes up. */
export const FLOPPY_KIB: readonly number[] = [...FLOPPIES.keys()];
/** From this image size (bytes) FAT32 is chosen unless a type is asked for. */
export const FAT32_AUTO_BYTES = 512 * 1024 * 1024;

/** CHS fields mkfs.fat writes for an image file of `sectors` sectors (see the top of this file). */
function chsFor(sectors: number): { heads: number; sectorsPerTrack: number } {
  if (sectors <= 524288) {
    const heads = sectors <= 32768 ? 2 : sectors <= 65536 ? 4 : sectors <= 262144 ? 8 : 16;
    return { heads, sectorsPerTrack: sectors <= 4096 ? 16 : 32 };
  }
  const heads = sectors <= 16 * 63 * 1024 ? 16 : sectors <= 32 * 63 * 1024 ? 32 : sectors <= 64 * 63 * 1024 ? 64 : sectors <= 128 * 63 * 1024 ? 128 : 255;
  return { heads, sectorsPerTrack: 63 };
}

/** fatgen103's FAT32 cluster sizes by volume size (in sectors of the whole image). */
function fat32SectorsPerCluster(imageSectors: number): number {
  return imageSectors > 32 * 1024 * 1024 * 2 ? 64 : imageSectors > 16 * 1024 * 1024 * 2 ? 32 : imageSectors > 8 * 1024 * 1024 * 2 ? 16 : imageSectors > 260 * 1024 * 2 ? 8 : 1;
}

/**
 * The layout mkfs.fat gives an image of `sizeBytes`, or undefined where mkfs.fat refuses the size
 * ("too small or too large a filesystem", "too few blocks").
 */
export function mkfsGeometry(req: GeometryRequest): FatGeometry | undefined {
  const size = req.sizeBytes;
  if (!Number.isSafeInteger(size) || size < SECTOR_BYTES) return undefined;
  const imageSectors = Math.floor(size / SECTOR_BYTES);
  if (imageSectors > MAX_SECTORS) return undefined;

  // establish_params()
  let { heads, sectorsPerTrack } = chsFor(imageSectors);
  let media = 0xf8;
  let spc = 4;
  let defaultRoot = 512;
  // mkfs.fat matches the size in whole KiB, rounded down.
  const floppy = FLOPPIES.get(Math.floor(size / 1024));
  if (floppy) {
    ({ heads, sectorsPerTrack, media } = floppy);
    spc = floppy.sectorsPerCluster;
    defaultRoot = floppy.rootEntries;
  }
  const forced = req.fatBits;
  const bits: FatBits | 0 = forced ?? (size >= FAT32_AUTO_BYTES ? 32 : 0);
  if (bits === 32) spc = fat32SectorsPerCluster(imageSectors);
  let rootEntries = Math.max(defaultRoot, req.minRootEntries ?? 0);

  // setup_tables()
  if (bits === 32) rootEntries = 0;
  let reserved = bits === 32 ? 32 : 1;
  const totalSectors = Math.floor(imageSectors / sectorsPerTrack) * sectorsPerTrack;
  const rootSectors = cdiv(rootEntries * 32, SECTOR_BYTES);
  const aligned = totalSectors > 8192;
  const align = (n: number, to: number) => (aligned ? Math.ceil(n / to) * to : n);

  let clust12 = 0;
  let clust16 = 0;
  let clust32 = 0;
  let fat12 = 0;
  let fat16 = 0;
  let fat32 = 0;
  for (; spc <= 128; spc *= 2) {
    const data32 = totalSectors - align(reserved, spc);
    const data1216 = data32 - align(rootSectors, spc);
    // FAT12: 1.5 bytes per entry; the first estimate counts the two reserved entries per FAT.
    if (data1216 > 0) {
      clust12 = Math.floor((2 * (data1216 * SECTOR_BYTES + FAT_COUNT * 3)) / (2 * spc * SECTOR_BYTES + FAT_COUNT * 3));
      fat12 = align(cdiv(((clust12 + 2) * 3 + 1) >> 1, SECTOR_BYTES), spc);
      clust12 = Math.max(0, Math.floor((data1216 - FAT_COUNT * fat12) / spc));
      if (clust12 > Math.min(Math.floor((fat12 * 2 * SECTOR_BYTES) / 3), MAX_CLUSTERS_12)) clust12 = 0;
      clust16 = Math.floor((data1216 * SECTOR_BYTES + FAT_COUNT * 4) / (spc * SECTOR_BYTES + FAT_COUNT * 2));
      fat16 = align(cdiv((clust16 + 2) * 2, SECTOR_BYTES), spc);
      clust16 = Math.max(0, Math.floor((data1216 - FAT_COUNT * fat16) / spc));
      if (clust16 > Math.min((fat16 * SECTOR_BYTES) / 2, MAX_CLUSTERS_16)) clust16 = 0;
      if (clust16 !== 0 && clust16 < MIN_CLUSTERS_16) clust16 = 0;
    } else {
      clust12 = 0;
      clust16 = 0;
    }
    if (data32 > 0) {
      clust32 = Math.floor((data32 * SECTOR_BYTES + FAT_COUNT * 8) / (spc * SECTOR_BYTES + FAT_COUNT * 4));
      fat32 = align(cdiv((clust32 + 2) * 4, SECTOR_BYTES), spc);
      clust32 = Math.max(0, Math.floor((data32 - FAT_COUNT * fat32) / spc));
      if (clust32 > Math.min((fat32 * SECTOR_BYTES) / 4, MAX_CLUSTERS_32)) clust32 = 0;
      if (clust32 !== 0 && clust32 < MIN_CLUSTERS_32 && forced !== 32) clust32 = 0;
    } else clust32 = 0;
    if ((clust12 && (bits === 0 || bits === 12)) || (clust16 && (bits === 0 || bits === 16)) || (clust32 && bits === 32)) break;
  }
  if (spc > 128) return undefined;
  const fatBits: FatBits = bits === 0 ? (clust16 > clust12 ? 16 : 12) : bits;
  const clusterCount = fatBits === 12 ? clust12 : fatBits === 16 ? clust16 : clust32;
  const fatSectors = fatBits === 12 ? fat12 : fatBits === 16 ? fat16 : fat32;
  if (clusterCount === 0) return undefined;
  reserved = align(reserved, spc);
  if (aligned && fatBits !== 32) rootEntries = align(rootSectors, spc) * (SECTOR_BYTES / 32);
  const rootDirSectors = cdiv(rootEntries * 32, SECTOR_BYTES);
  const dataStartSector = reserved + FAT_COUNT * fatSectors + rootDirSectors;
  // mkfs.fat: "Too few blocks for viable filesystem" below the data area + 32 KiB.
  if (Math.floor(size / 1024) < Math.ceil(dataStartSector / 2) + 32) return undefined;
  return {
    fatBits,
    imageBytes: size,
    totalSectors,
    sectorsPerCluster: spc,
    clusterBytes: spc * SECTOR_BYTES,
    reservedSectors: reserved,
    fatSectors,
    rootEntries,
    rootDirSectors,
    dataStartSector,
    clusterCount,
    media,
    sectorsPerTrack,
    heads,
    hiddenSectors: 0,
    driveNumber: media === 0xf8 ? 0x80 : 0x00,
    floppy: floppy !== undefined,
  };
}

/** What a tree needs from a volume, for a given cluster size. */
export interface SpaceNeed {
  /** Data clusters the content needs (directories, files, FAT32's root, the margin) at `clusterBytes`. */
  clusters(clusterBytes: number, fatBits: FatBits): number;
  /** Root directory entries on FAT12/16 (label and long-name entries included). */
  rootEntries: number;
}

/** Whether `g` holds what `need` asks for. */
export function fits(g: FatGeometry, need: SpaceNeed): boolean {
  if (g.fatBits !== 32 && g.rootEntries < need.rootEntries) return false;
  return need.clusters(g.clusterBytes, g.fatBits) <= g.clusterCount;
}

/** The layout of an image of `sizeBytes` for `need`: mkfs.fat's, with the root directory raised to what the tree needs. */
export function geometryFor(sizeBytes: number, need: SpaceNeed, fatBits?: FatBits): FatGeometry | undefined {
  const req: GeometryRequest = { sizeBytes, minRootEntries: need.rootEntries };
  if (fatBits !== undefined) req.fatBits = fatBits;
  return mkfsGeometry(req);
}

/**
 * The smallest image size (a whole number of KiB, as `mkfs.fat -C` takes it) whose layout holds
 * `need`, or undefined when no FAT volume of 2^32 − 1 sectors does.
 *
 * Holding a tree is not monotone in the size: a bigger volume may get bigger clusters (more
 * slack per file), and at the floppy sizes and at 512 MiB (FAT32) the cluster size drops. Between
 * those points the cluster size never shrinks as the size grows, so from a size S that does not
 * fit, no size below S + J fits, where J is the shortfall in bytes less what a bigger volume could
 * win back: 2 sectors of data per KiB, the FATs (which can shrink when the clusters double), one
 * cluster of rounding and a track of alignment. The search walks up from a lower bound by such
 * jumps, stopping at every point where the cluster size may drop.
 */
export function smallestFit(need: SpaceNeed, fatBits?: FatBits): number | undefined {
  const maxKiB = Math.floor((MAX_SECTORS * SECTOR_BYTES) / 1024);
  // No volume is smaller than its data at the smallest cluster size plus one boot sector.
  const lowest = Math.min(...[12, 16, 32].map((b) => need.clusters(SECTOR_BYTES, b as FatBits))) * SECTOR_BYTES;
  let kib = Math.max(1, Math.floor((lowest + SECTOR_BYTES) / 1024));
  const specials = [...FLOPPY_KIB, FAT32_AUTO_BYTES / 1024].sort((a, b) => a - b);
  while (kib <= maxKiB) {
    const g = geometryFor(kib * 1024, need, fatBits);
    let jump = 1;
    if (g) {
      if (fits(g, need)) return kib * 1024;
      const shortBytes = (need.clusters(g.clusterBytes, g.fatBits) - g.clusterCount) * g.clusterBytes;
      const winBack = FAT_COUNT * g.fatSectors * SECTOR_BYTES + g.clusterBytes + 64 * SECTOR_BYTES + 1024;
      jump = Math.max(1, Math.floor((shortBytes - winBack) / 1024));
    }
    const next = specials.find((s) => s > kib);
    kib = next !== undefined ? Math.min(kib + jump, next) : kib + jump;
  }
  return undefined;
}
