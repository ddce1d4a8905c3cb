/**
 * The File Allocation Table, fatgen103 "FAT Data Structure": one entry per cluster number, 12, 16 or
 * 28 bits (in 32) wide, little-endian. FAT12 packs two entries into three bytes: entry n starts at
 * byte n × 1.5, an even n in the low 12 bits of that 16-bit word, an odd n in the high 12 bits.
 *
 * - FAT[0] holds the media byte in its low 8 bits, all other bits set; FAT[1] is all ones (an
 *   end-of-chain mark with the FAT16/32 "clean shutdown" and "no disk error" bits set).
 * - Every file and directory here is one contiguous run of clusters, allocated in order from
 *   cluster 2, so the table is described by where each run ends: inside a run an entry points to
 *   the next cluster, the run's last entry is the end-of-chain mark, entries after the last run
 *   are 0 (free).
 * - End-of-chain mark: 0xFF8 / 0xFFF8 / 0x0FFFFFF8, as mkfs.fat writes it (any value from these up
 *   ends a chain).
 *
 * The table is produced in pieces, never whole (a 32 GiB FAT32 volume has a 16 MiB FAT), and its
 * free tail is reported as a count of zero bytes, which a file sink turns into a hole.
 */
import { FAT_COUNT, SECTOR_BYTES, type FatBits, type FatGeometry } from './geometry.js';

export const END_OF_CHAIN: Record<FatBits, number> = { 12: 0xff8, 16: 0xfff8, 32: 0x0ffffff8 };
/** Mask of the bits an entry uses (FAT32's top 4 bits are reserved and kept 0). */
export const ENTRY_MASK: Record<FatBits, number> = { 12: 0xfff, 16: 0xffff, 32: 0x0fffffff };

/** Write entry `n` with `value` into `buf`, whose byte 0 is the table's byte `baseByte`. */
export function setFatEntry(bits: FatBits, buf: Uint8Array, baseByte: number, n: number, value: number): void {
  if (bits === 32) {
    const o = n * 4 - baseByte;
    buf[o] = value & 0xff;
    buf[o + 1] = (value >>> 8) & 0xff;
    buf[o + 2] = (value >>> 16) & 0xff;
    buf[o + 3] = (value >>> 24) & 0x0f;
  } else if (bits === 16) {
    const o = n * 2 - baseByte;
    buf[o] = value & 0xff;
    buf[o + 1] = (value >>> 8) & 0xff;
  } else {
    const o = Math.floor((n * 3) / 2) - baseByte;
    if (n % 2 === 0) {
      buf[o] = value & 0xff;
      buf[o + 1] = (buf[o + 1]! & 0xf0) | ((value >>> 8) & 0x0f);
    } else {
      buf[o] = (buf[o]! & 0x0f) | ((value & 0x0f) << 4);
      buf[o + 1] = (value >>> 4) & 0xff;
    }
  }
}

/** Read entry `n` (tests, decoders). */
export function getFatEntry(bits: FatBits, table: Uint8Array, n: number): number {
  if (bits === 32) return (table[n * 4]! | (table[n * 4 + 1]! << 8) | (table[n * 4 + 2]! << 16) | (table[n * 4 + 3]! << 24)) & 0x0fffffff;
  if (bits === 16) return table[n * 2]! | (table[n * 2 + 1]! << 8);
  const o = Math.floor((n * 3) / 2);
  const word = table[o]! | (table[o + 1]! << 8);
  return n % 2 === 0 ? word & 0xfff : word >>> 4;
}

/** Bytes of one FAT on disk. */
export function fatBytes(g: FatGeometry): number {
  return g.fatSectors * SECTOR_BYTES;
}

/**
 * One FAT as pieces: byte arrays of at most `pieceBytes`, then (when the table ends in free
 * entries) a number: that many zero bytes. `runEnds` lists the last cluster of each run in
 * ascending order; the runs cover clusters 2 … runEnds[last] without gaps.
 */
export function* fatPieces(g: FatGeometry, runEnds: ArrayLike<number>, pieceBytes = 64 * 1024): Generator<Uint8Array | number> {
  const bits = g.fatBits;
  const last = runEnds.length > 0 ? runEnds[runEnds.length - 1]! : 1;
  if (last > g.clusterCount + 1) throw new RangeError(`cluster ${last} lies beyond the volume's ${g.clusterCount} clusters`);
  const entries = last + 1; // entries 0 … last are written, the rest are free
  const usedBytes = bits === 12 ? Math.ceil((entries * 3) / 2) : (entries * bits) / 8;
  const total = fatBytes(g);
  // Entries per piece: for FAT12 an even number, so pieces start on a 3-byte boundary.
  const perPiece = Math.max(2, bits === 12 ? Math.floor((pieceBytes * 2) / 3) & ~1 : Math.floor(pieceBytes / (bits / 8)));
  let run = 0;
  for (let first = 0; first < entries; first += perPiece) {
    const end = Math.min(entries, first + perPiece);
    const baseByte = bits === 12 ? (first * 3) / 2 : (first * bits) / 8;
    const endByte = bits === 12 ? Math.ceil((end * 3) / 2) : (end * bits) / 8;
    const buf = new Uint8Array(endByte - baseByte);
    for (let n = first; n < end; n++) {
      let v: number;
      if (n === 0) v = (ENTRY_MASK[bits] & ~0xff) | g.media;
      else if (n === 1) v = ENTRY_MASK[bits];
      else {
        while (runEnds[run]! < n) run++;
        v = runEnds[run] === n ? END_OF_CHAIN[bits] : n + 1;
      }
      setFatEntry(bits, buf, baseByte, n, v);
    }
    yield buf;
  }
  if (total > usedBytes) yield total - usedBytes;
}

/** Bytes of both FATs. */
export function fatRegionBytes(g: FatGeometry): number {
  return FAT_COUNT * fatBytes(g);
}
