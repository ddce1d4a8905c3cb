/**
 * FAT12/16/32 (fatgen103): the boot sector and BPB, the type from the cluster count ("FAT Type
 * Determination"), FSInfo and the backup boot sector (FAT32), both FATs, and a walk of the
 * directory tree (32-byte entries and long-name entries; file contents are never read), decoded
 * with @imgkit/fat's structures.
 *
 * Checks (what fsck.fat -n reports as errors): the BPB's values (sector size, cluster size,
 * reserved sectors, FAT count, FAT size large enough for the clusters), the volume inside its
 * container, FAT[0] holding the media byte, the FAT copies identical, FSInfo's signatures and its
 * free cluster count, the backup boot sector equal to sector 0, and directory chains that stay
 * inside the volume without loops.
 */
import type { RandomAccessReader } from '@imgkit/core';
import {
  ATTR_DIRECTORY,
  ATTR_LONG_NAME,
  ATTR_VOLUME_ID,
  BootSector16,
  BootSector32,
  DIRENT_BYTES,
  DirEntry,
  FsInfo,
  FSINFO_LEAD_SIGNATURE,
  FSINFO_STRUCT_SIGNATURE,
  FSINFO_TRAIL_SIGNATURE,
  FSINFO_UNKNOWN,
  MAX_CLUSTERS_12,
  MAX_CLUSTERS_16,
  getFatEntry,
} from '@imgkit/fat';
import { ascii, hex, trimText } from './io.js';
import { defect, node, warning, type InspectNode } from './report.js';

const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** Whether sector 0 is a FAT boot sector with a plausible BPB. */
export function looksLikeFat(b: Uint8Array): boolean {
  if (b.byteLength < 512 || b[510] !== 0x55 || b[511] !== 0xaa) return false;
  if (!(b[0] === 0xeb || b[0] === 0xe9)) return false;
  const bs = BootSector16.decode(b);
  return (
    [512, 1024, 2048, 4096].includes(bs.bytesPerSector) &&
    pow2(bs.sectorsPerCluster) &&
    bs.reservedSectors >= 1 &&
    bs.numFats >= 1 &&
    bs.numFats <= 4 &&
    (bs.totalSectors16 > 0 || bs.totalSectors32 > 0)
  );
}

export async function inspectFat(reader: RandomAccessReader, offset: number, o: { countEntries: boolean }): Promise<InspectNode> {
  const b0 = await reader.read(0, 512);
  const bs = BootSector16.decode(b0);
  const fat32Layout = bs.fatSize16 === 0;
  const b32 = fat32Layout ? BootSector32.decode(b0) : undefined;
  const bps = bs.bytesPerSector;
  const spc = bs.sectorsPerCluster;
  const fatSectors = b32 ? b32.fatSize32 : bs.fatSize16;
  const totalSectors = bs.totalSectors16 || bs.totalSectors32;
  const rootDirSectors = Math.ceil((bs.rootEntries * 32) / bps);
  const firstFat = bs.reservedSectors;
  const rootStart = firstFat + bs.numFats * fatSectors;
  const dataStart = rootStart + rootDirSectors;
  const clusters = Math.floor(Math.max(0, totalSectors - dataStart) / spc);
  // fatgen103 "FAT Type Determination": by the count of clusters alone.
  const bits = clusters <= MAX_CLUSTERS_12 ? 12 : clusters <= MAX_CLUSTERS_16 ? 16 : 32;
  const size = totalSectors * bps;
  const label = trimText(b32 ? b32.volumeLabel : bs.volumeLabel);
  const bootSig = b32 ? b32.bootSignature : bs.bootSignature;
  const volumeId = b32 ? b32.volumeId : bs.volumeId;
  const n = node('fat', offset, size, {
    fatBits: bits,
    label: bootSig === 0x29 ? label : null,
    uuid: bootSig === 0x29 ? `${hex(volumeId >>> 16, 4).slice(2)}-${hex(volumeId & 0xffff, 4).slice(2)}`.toUpperCase() : null,
    fsType: bootSig === 0x29 ? trimText(b32 ? b32.fsType : bs.fsType) : null,
    oemName: trimText(bs.oemName),
    bytesPerSector: bps,
    clusterBytes: bps * spc,
    reservedSectors: bs.reservedSectors,
    fats: bs.numFats,
    fatSectors,
    rootEntries: bs.rootEntries,
    totalSectors,
    hiddenSectors: bs.hiddenSectors,
    media: hex(bs.media, 2),
    dataClusters: clusters,
  });
  const F = 'fat.boot-sector';
  if (b0[510] !== 0x55 || b0[511] !== 0xaa) defect(n, `${F}.signature`, 'no 0x55AA signature at byte 510');
  if (![512, 1024, 2048, 4096].includes(bps)) return (defect(n, `${F}.bytesPerSector`, `${bps} bytes per sector; FAT allows 512, 1024, 2048 or 4096`), n);
  if (!pow2(spc) || spc > 128) return (defect(n, `${F}.sectorsPerCluster`, `${spc} sectors per cluster is not a power of two up to 128`), n);
  if (bs.numFats < 1) return (defect(n, `${F}.numFats`, 'the volume has no FAT'), n);
  if (size > reader.size) defect(n, `${F}.totalSectors`, `the volume's ${totalSectors} sectors (${size} bytes) run past the end of its ${reader.size}-byte container`);
  const entryBits = bits === 12 ? 1.5 : bits / 8;
  if (Math.ceil((clusters + 2) * entryBits) > fatSectors * bps) {
    defect(n, `${F}.fatSize`, `a FAT of ${fatSectors} sectors cannot hold ${clusters + 2} ${bits}-bit entries`);
  }
  if (bits === 32 && !b32) defect(n, `${F}.fatSize16`, `${clusters} clusters make a FAT32 volume, but the BPB has the FAT12/16 layout (BPB_FATSz16 = ${bs.fatSize16})`);
  if (bits !== 32 && b32) defect(n, `${F}.fatSize16`, `${clusters} clusters make a FAT${bits} volume, but the BPB has the FAT32 layout (BPB_FATSz16 = 0)`);
  if (b32 && bs.rootEntries !== 0) defect(n, `${F}.rootEntries`, `a FAT32 BPB must have 0 root entries, not ${bs.rootEntries}`);
  if (!b32 && (bs.rootEntries * 32) % bps !== 0) warning(n, `${F}.rootEntries`, `${bs.rootEntries} root entries do not fill whole sectors`);
  if (bs.media !== 0xf0 && bs.media < 0xf8) defect(n, `${F}.media`, `media byte ${hex(bs.media, 2)} is not 0xF0 or 0xF8…0xFF`);

  const fatBytes = fatSectors * bps;
  const usedBytes = Math.min(fatBytes, Math.ceil((clusters + 2) * entryBits));
  // Both FATs compared and the free clusters counted, in pieces (a 32 GiB FAT32 has a 16 MiB FAT).
  const piece = 3 << 18; // 768 KiB: whole FAT12 entry pairs and whole FAT16/32 entries
  let free = 0;
  const firstFatBytes = await reader.read(firstFat * bps, Math.min(piece, fatBytes));
  if (firstFatBytes.byteLength >= 4) {
    if (getFatEntry(bits as 12 | 16 | 32, firstFatBytes, 0) % 256 !== bs.media) defect(n, 'fat.fat[0]', `FAT[0] ${hex(getFatEntry(bits as 12 | 16 | 32, firstFatBytes, 0), 2)} does not hold the media byte ${hex(bs.media, 2)}`);
  }
  let copiesDiffer = false;
  for (let at = 0; at < fatBytes; at += piece) {
    const len = Math.min(piece, fatBytes - at);
    const one = at === 0 ? firstFatBytes : await reader.read(firstFat * bps + at, len);
    if (one.byteLength < len) break;
    if (at < usedBytes) {
      const firstEntry = Math.floor(at / entryBits);
      const last = Math.min(clusters + 1, Math.floor((at + len) / entryBits) - 1);
      for (let e = Math.max(2, firstEntry); e <= last; e++) if (getFatEntry(bits as 12 | 16 | 32, one, e - firstEntry) === 0) free++;
    }
    for (let k = 1; k < bs.numFats && !copiesDiffer; k++) {
      const other = await reader.read((firstFat + k * fatSectors) * bps + at, len);
      for (let i = 0; i < len; i++) {
        if (one[i] !== other[i]) {
          const entry = Math.floor((at + i) / entryBits);
          defect(n, `fat.fat[${k}]`, `FAT copy ${k + 1} differs from FAT 1 at byte ${at + i} (entry ${entry}): ${hex(one[i]!, 2)} vs ${hex(other[i] ?? 0, 2)}`);
          copiesDiffer = true;
          break;
        }
      }
    }
  }
  n.fields.freeClusters = free;
  if (b32) {
    n.fields.rootCluster = b32.rootCluster;
    if (b32.rootCluster < 2 || b32.rootCluster > clusters + 1) defect(n, 'fat.boot-sector32.rootCluster', `root cluster ${b32.rootCluster} lies outside clusters 2…${clusters + 1}`);
    if (b32.fsInfoSector > 0 && b32.fsInfoSector < bs.reservedSectors) {
      const fsi = FsInfo.decode(await reader.read(b32.fsInfoSector * bps, 512));
      const F2 = 'fat.fsinfo';
      if (fsi.leadSignature !== FSINFO_LEAD_SIGNATURE || fsi.structSignature !== FSINFO_STRUCT_SIGNATURE || fsi.trailSignature !== FSINFO_TRAIL_SIGNATURE) {
        defect(n, `${F2}.signature`, `FSInfo sector ${b32.fsInfoSector} has wrong signatures (${hex(fsi.leadSignature)} ${hex(fsi.structSignature)} ${hex(fsi.trailSignature)})`);
      } else {
        n.fields.fsinfoFree = fsi.freeCount === FSINFO_UNKNOWN ? null : fsi.freeCount;
        if (fsi.freeCount !== FSINFO_UNKNOWN && fsi.freeCount !== free) defect(n, `${F2}.freeCount`, `FSInfo says ${fsi.freeCount} free clusters; the FAT has ${free}`);
        if (fsi.nextFree !== FSINFO_UNKNOWN && (fsi.nextFree < 2 || fsi.nextFree > clusters + 1)) warning(n, `${F2}.nextFree`, `next-free hint ${fsi.nextFree} lies outside clusters 2…${clusters + 1}`);
      }
    }
    if (b32.backupBootSector > 0 && b32.backupBootSector < bs.reservedSectors) {
      const backup = await reader.read(b32.backupBootSector * bps, 512);
      if (!backup.every((x, i) => x === b0[i])) {
        const i = backup.findIndex((x, k) => x !== b0[k]);
        defect(n, 'fat.boot-sector32.backupBootSector', `the backup boot sector (sector ${b32.backupBootSector}) differs from sector 0 at byte ${i}`);
      }
    }
  }
  if (o.countEntries) {
    const geometry = { bps, spc, bits: bits as 12 | 16 | 32, firstFat, rootStart, rootDirSectors, dataStart, clusters };
    const counts = await walkFat(reader, geometry, b32?.rootCluster);
    n.fields.directories = counts.dirs;
    n.fields.files = counts.files;
    if (counts.rootLabel !== undefined) n.fields.rootLabel = counts.rootLabel;
    for (const p of counts.problems) defect(n, 'fat.dirent', p);
  }
  return n;
}

interface FatGeom {
  bps: number;
  spc: number;
  bits: 12 | 16 | 32;
  firstFat: number;
  rootStart: number;
  rootDirSectors: number;
  dataStart: number;
  clusters: number;
}

/** Directory walk: follows each directory's cluster chain through the first FAT (read by pages). */
async function walkFat(reader: RandomAccessReader, g: FatGeom, rootCluster: number | undefined): Promise<{ dirs: number; files: number; rootLabel?: string; problems: string[] }> {
  const out: { dirs: number; files: number; rootLabel?: string; problems: string[] } = { dirs: 1, files: 0, problems: [] };
  const PAGE = 3 << 14; // 48 KiB: whole entries for every width
  const pages = new Map<number, Uint8Array>();
  const entryBytes = g.bits === 12 ? 1.5 : g.bits / 8;
  const next = async (c: number): Promise<number> => {
    const byte = Math.floor(c * entryBytes);
    const p = Math.floor(byte / PAGE);
    let page = pages.get(p);
    if (!page) {
      page = await reader.read(g.firstFat * g.bps + p * PAGE, PAGE + 2);
      if (pages.size > 32) pages.delete(pages.keys().next().value!);
      pages.set(p, page);
    }
    const first = (p * PAGE) / entryBytes;
    return getFatEntry(g.bits, page, c - first);
  };
  const eoc = g.bits === 12 ? 0xff8 : g.bits === 16 ? 0xfff8 : 0x0ffffff8;
  const clusterBytes = g.bps * g.spc;
  const chain = async (start: number, what: string): Promise<number[] | undefined> => {
    const cs: number[] = [];
    const seen = new Set<number>();
    for (let c = start; c < eoc; c = await next(c)) {
      if (c < 2 || c > g.clusters + 1) {
        out.problems.push(`${what}: its cluster chain reaches cluster ${c}, outside 2…${g.clusters + 1}`);
        return undefined;
      }
      if (seen.has(c)) {
        out.problems.push(`${what}: its cluster chain loops at cluster ${c}`);
        return undefined;
      }
      seen.add(c);
      cs.push(c);
      if (cs.length > 1 << 21) break;
    }
    return cs;
  };
  const visited = new Set<number>();
  const queue: { clusters?: number[]; path: string }[] = [];
  // the root: a fixed region on FAT12/16, a chain on FAT32
  const rootChain = rootCluster !== undefined ? await chain(rootCluster, 'the root directory') : undefined;
  queue.push(rootCluster !== undefined ? { clusters: rootChain ?? [], path: '' } : { path: '' });
  let entries = 0;
  while (queue.length > 0) {
    const d = queue.shift()!;
    const parts: Uint8Array[] = [];
    if (d.clusters) {
      for (const c of d.clusters) parts.push(await reader.read((g.dataStart + (c - 2) * g.spc) * g.bps, clusterBytes));
    } else parts.push(await reader.read(g.rootStart * g.bps, g.rootDirSectors * g.bps));
    done: for (const data of parts) {
      for (let p = 0; p + DIRENT_BYTES <= data.byteLength; p += DIRENT_BYTES) {
        const first = data[p]!;
        if (first === 0x00) break done; // fatgen103: no entries follow
        if (first === 0xe5) continue;
        const attr = data[p + 11]!;
        if ((attr & ATTR_LONG_NAME) === ATTR_LONG_NAME) continue;
        const e = DirEntry.decode(data, p);
        const name = trimText(ascii(e.name, 0, 8)) + (trimText(ascii(e.name, 8, 3)) ? `.${trimText(ascii(e.name, 8, 3))}` : '');
        if (attr & ATTR_VOLUME_ID) {
          if (d.path === '') out.rootLabel = trimText(ascii(e.name, 0, 11));
          continue;
        }
        if (name === '.' || name === '..') continue;
        if (++entries > 5_000_000) {
          out.problems.push('more than 5 million directory entries: the walk stopped');
          return out;
        }
        const start = g.bits === 32 ? (e.fstClusHi << 16) | e.fstClusLo : e.fstClusLo;
        if (attr & ATTR_DIRECTORY) {
          out.dirs++;
          const path = `${d.path}/${name}`;
          if (visited.has(start)) {
            out.problems.push(`directory ${path} starts at cluster ${start}, which another directory uses`);
            continue;
          }
          visited.add(start);
          const cs = await chain(start, `directory ${path}`);
          if (cs) queue.push({ clusters: cs, path });
        } else out.files++;
      }
    }
  }
  return out;
}
