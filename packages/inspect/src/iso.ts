/**
 * ISO 9660 (ECMA-119): the volume descriptor set from LBA 16 (§8: primary §8.4, supplementary
 * §8.5 — Joliet by its escape sequences —, El Torito boot record, terminator §8.3), Rock Ridge
 * (SUSP SP and ER in the root's "." record, SUSP 1.12 §5.3/§5.5), a walk of the primary directory
 * tree counting files and directories (ECMA-119 §9.1 records; contents are never read), and the El
 * Torito catalog (El Torito 1.0 §2.1–§2.4), decoded with @imgkit/iso9660's structures.
 *
 * Checks: a primary descriptor and a terminator exist; the volume space size fits the image; the
 * root directory and path tables lie inside the volume; the catalog's validation entry (header id,
 * checksum, key bytes); every boot image inside the image.
 */
import type { RandomAccessReader } from '@imgkit/core';
import {
  BootEntry,
  BootRecordDescriptor,
  DIR_RECORD_FIXED,
  DirectoryRecordHeader,
  FLAG_DIRECTORY,
  FLAG_MULTI_EXTENT,
  HEADER_FINAL,
  HEADER_MORE,
  ISO_SECTOR_SIZE,
  ISO_STANDARD_ID,
  PrimaryVolumeDescriptor,
  SectionHeader,
  VD_BOOT_RECORD,
  VD_PRIMARY,
  VD_SUPPLEMENTARY,
  VD_TERMINATOR,
  ValidationEntry,
} from '@imgkit/iso9660';
import { ascii, hex, trimText } from './io.js';
import { defect, node, warning, type InspectNode } from './report.js';

const PVD_OFFSET = 16 * ISO_SECTOR_SIZE;

/** "CD001" in the descriptor at LBA 16. */
export async function looksLikeIso(reader: RandomAccessReader): Promise<boolean> {
  if (reader.size < PVD_OFFSET + ISO_SECTOR_SIZE) return false;
  const b = await reader.read(PVD_OFFSET, 7);
  return ascii(b, 1, 5) === ISO_STANDARD_ID;
}

export interface IsoBootImage {
  index: number;
  platform: number;
  bootable: boolean;
  lba: number;
  loadSectors: number;
  /** The file at that LBA, when the walk found one. */
  path?: string;
  fileSize?: number;
  node: InspectNode;
}

export interface IsoInfo {
  node: InspectNode;
  /** Bytes of the ISO 9660 volume (volume space size × block size). */
  volumeBytes: number;
  boot: IsoBootImage[];
}

const PLATFORMS: Record<number, string> = { 0x00: 'BIOS', 0x01: 'PPC', 0x02: 'Mac', 0xef: 'UEFI' };
const MEDIA = ['none', '1.2M floppy', '1.44M floppy', '2.88M floppy', 'hard disk'];

function text(b: Uint8Array): string {
  return trimText(ascii(b, 0, b.byteLength));
}
function ucs2(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < b.byteLength; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return trimText(s);
}
/** ECMA-119 §8.4.26.1 dec-datetime as text, or null when "not specified" (all zeros). */
function decDate(b: Uint8Array): string | null {
  const d = ascii(b, 0, 16);
  if (!/^\d{16}$/.test(d) || /^0+$/.test(d)) return null;
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)} ${d.slice(8, 10)}:${d.slice(10, 12)}:${d.slice(12, 14)}.${d.slice(14, 16)}`;
}
/** The volume UUID blkid shows (libblkid iso9660.c: the modification date, else the creation date). */
function blkidUuid(modification: Uint8Array, creation: Uint8Array): string | null {
  for (const b of [modification, creation]) {
    const d = ascii(b, 0, 16);
    if (/^\d{16}$/.test(d) && !/^0+$/.test(d)) return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}-${d.slice(8, 10)}-${d.slice(10, 12)}-${d.slice(12, 14)}-${d.slice(14, 16)}`;
  }
  return null;
}

export async function inspectIso(reader: RandomAccessReader, offset: number, o: { countEntries: boolean }): Promise<IsoInfo> {
  const n = node('iso9660', offset, reader.size);
  const info: IsoInfo = { node: n, volumeBytes: 0, boot: [] };
  let pvd: ReturnType<typeof PrimaryVolumeDescriptor.decode> | undefined;
  let joliet: ReturnType<typeof PrimaryVolumeDescriptor.decode> | undefined;
  let catalogLba: number | undefined;
  let terminated = false;
  const descriptors: string[] = [];
  for (let lba = 16; lba < 16 + 64; lba++) {
    const b = await reader.read(lba * ISO_SECTOR_SIZE, ISO_SECTOR_SIZE);
    if (b.byteLength < ISO_SECTOR_SIZE || ascii(b, 1, 5) !== ISO_STANDARD_ID) break;
    const type = b[0]!;
    if (type === VD_TERMINATOR) {
      descriptors.push('terminator');
      terminated = true;
      break;
    }
    if (type === VD_PRIMARY && !pvd) {
      pvd = PrimaryVolumeDescriptor.decode(b);
      descriptors.push('primary');
    } else if (type === VD_SUPPLEMENTARY) {
      const d = PrimaryVolumeDescriptor.decode(b);
      const esc = ascii(d.escapeSequences, 0, 3);
      if (esc === '%/@' || esc === '%/C' || esc === '%/E') {
        joliet ??= d;
        descriptors.push(`joliet (level ${esc === '%/@' ? 1 : esc === '%/C' ? 2 : 3})`);
      } else descriptors.push('supplementary');
    } else if (type === VD_BOOT_RECORD) {
      const br = BootRecordDescriptor.decode(b);
      const id = text(br.bootSystemId);
      descriptors.push(`boot record (${id})`);
      if (id === 'EL TORITO SPECIFICATION') catalogLba = br.bootCatalogLba;
    } else descriptors.push(`type ${type}`);
  }
  n.fields.descriptors = descriptors;
  if (!pvd) {
    defect(n, 'iso9660.pvd', 'no primary volume descriptor in the descriptor set at LBA 16');
    return info;
  }
  if (!terminated) defect(n, 'iso9660.terminator', 'the volume descriptor set has no terminator (type 255)');
  const blockSize = pvd.logicalBlockSize;
  const volumeBytes = pvd.volumeSpaceSize * blockSize;
  info.volumeBytes = volumeBytes;
  Object.assign(n.fields, {
    volumeId: text(pvd.volumeId),
    systemId: text(pvd.systemId),
    uuid: blkidUuid(pvd.modificationDate, pvd.creationDate),
    volumeBlocks: pvd.volumeSpaceSize,
    blockSize,
    volumeBytes,
    publisher: text(pvd.publisherId),
    dataPreparer: text(pvd.dataPreparerId),
    application: text(pvd.applicationId),
    created: decDate(pvd.creationDate),
    modified: decDate(pvd.modificationDate),
    joliet: joliet ? ucs2(joliet.volumeId) : null,
  });
  if (blockSize !== ISO_SECTOR_SIZE) warning(n, 'iso9660.pvd.logicalBlockSize', `logical block size ${blockSize}; every reader expects 2048`);
  if (volumeBytes > reader.size) {
    defect(n, 'iso9660.pvd.volumeSpaceSize', `the volume space size (${pvd.volumeSpaceSize} blocks = ${volumeBytes} bytes) runs past the end of the ${reader.size}-byte image: it is truncated`);
  }
  const root = DirectoryRecordHeader.decode(pvd.rootDirectoryRecord);
  if ((root.extentLba + Math.ceil(root.dataLength / blockSize)) * blockSize > Math.max(volumeBytes, 0) || root.dataLength === 0) {
    defect(n, 'iso9660.pvd.rootDirectoryRecord', `the root directory (LBA ${root.extentLba}, ${root.dataLength} bytes) lies outside the volume`);
  }
  for (const [field, lba] of [['lPathTableLba', pvd.lPathTableLba], ['mPathTableLba', pvd.mPathTableLba]] as const) {
    if ((lba * blockSize) + pvd.pathTableSize > volumeBytes) defect(n, `iso9660.pvd.${field}`, `the path table at LBA ${lba} (${pvd.pathTableSize} bytes) lies outside the volume`);
  }
  // Rock Ridge: SP and ER in the root's "." record (and its continuation area).
  const rootBlock = await reader.read(root.extentLba * blockSize, Math.min(root.dataLength, blockSize));
  n.fields.rockRidge = await rockRidgeVersion(reader, rootBlock, blockSize);
  // El Torito catalog before the walk, so the walk can name the boot images.
  const wanted = new Map<number, IsoBootImage[]>();
  if (catalogLba !== undefined) {
    const et = await inspectElTorito(reader, catalogLba, offset, info);
    n.children.push(et);
    for (const img of info.boot) wanted.set(img.lba, [...(wanted.get(img.lba) ?? []), img]);
  }
  if (o.countEntries && root.dataLength > 0 && root.extentLba * blockSize < reader.size) {
    const counts = await walkTree(reader, root.extentLba, root.dataLength, blockSize, wanted);
    n.fields.directories = counts.dirs;
    n.fields.files = counts.files;
    if (counts.problems.length > 0) for (const p of counts.problems) defect(n, 'iso9660.directoryRecord', p);
  }
  for (const img of info.boot) {
    if (img.path !== undefined) img.node.fields.path = img.path;
    if (img.fileSize !== undefined) {
      img.node.fields.fileSize = img.fileSize;
      img.node.size = img.fileSize;
    }
  }
  return info;
}

/** SUSP "SP" then RRIP's "ER" identifier: RRIP_1991A (1.10), IEEE_P1282 / IEEE_1282 (1.12). */
async function rockRidgeVersion(reader: RandomAccessReader, rootBlock: Uint8Array, blockSize: number): Promise<string | null> {
  if (rootBlock.byteLength < DIR_RECORD_FIXED) return null;
  const len = rootBlock[0]!;
  const idLen = rootBlock[32]!;
  let su = rootBlock.subarray(DIR_RECORD_FIXED + idLen + (idLen % 2 === 0 ? 1 : 0), len);
  if (!(su[0] === 0x53 && su[1] === 0x50 && su[4] === 0xbe && su[5] === 0xef)) return null; // SUSP §5.3 "SP"
  for (let hops = 0; hops < 4; hops++) {
    let ce: { lba: number; off: number; len: number } | undefined;
    for (let p = 0; p + 4 <= su.byteLength; ) {
      const sig = ascii(su, p, 2);
      const l = su[p + 2]!;
      if (l < 4) break;
      if (sig === 'ER') {
        const idl = su[p + 4]!;
        const id = ascii(su, p + 8, idl);
        return id === 'RRIP_1991A' ? `1.10 (${id})` : id.includes('1282') ? `1.12 (${id})` : id;
      }
      if (sig === 'CE') {
        const v = new DataView(su.buffer, su.byteOffset + p);
        ce = { lba: v.getUint32(4, true), off: v.getUint32(12, true), len: v.getUint32(20, true) };
      }
      if (sig === 'ST') break;
      p += l;
    }
    if (!ce) break;
    su = await reader.read(ce.lba * blockSize + ce.off, Math.min(ce.len, 4096));
  }
  return 'SUSP without ER';
}

async function inspectElTorito(reader: RandomAccessReader, catalogLba: number, offset: number, info: IsoInfo): Promise<InspectNode> {
  const et = node('el-torito', offset + catalogLba * ISO_SECTOR_SIZE, ISO_SECTOR_SIZE, { catalogLba });
  const cat = await reader.read(catalogLba * ISO_SECTOR_SIZE, ISO_SECTOR_SIZE);
  if (cat.byteLength < ISO_SECTOR_SIZE) {
    defect(et, 'iso9660.bootRecord.bootCatalogLba', `the boot catalog at LBA ${catalogLba} lies past the end of the image`);
    return et;
  }
  const v = ValidationEntry.decode(cat, 0);
  let sum = 0;
  const view = new DataView(cat.buffer, cat.byteOffset, 32);
  for (let i = 0; i < 32; i += 2) sum = (sum + view.getUint16(i, true)) & 0xffff;
  if (v.headerId !== 1) defect(et, 'iso9660.elTorito.validation.headerId', `validation entry header id ${v.headerId}, not 1`);
  if (v.key55 !== 0x55 || v.keyAA !== 0xaa) defect(et, 'iso9660.elTorito.validation.key', `validation entry key bytes ${hex(v.key55, 2)} ${hex(v.keyAA, 2)}, not 0x55 0xaa`);
  if (sum !== 0) defect(et, 'iso9660.elTorito.validation.checksum', `validation entry words sum to ${hex(sum, 4)}, not 0`);
  const idString = text(v.idString);
  if (idString) et.fields.idString = idString;
  const add = (at: number, platform: number) => {
    const e = BootEntry.decode(cat, at);
    const index = info.boot.length + 1;
    const lba = e.loadRba;
    const img = node('boot-image', offset + lba * ISO_SECTOR_SIZE, Math.max(1, e.sectorCount) * 512, {
      platform: PLATFORMS[platform] ?? hex(platform, 2),
      bootable: e.bootIndicator === 0x88,
      emulation: MEDIA[e.mediaType & 0x0f] ?? hex(e.mediaType, 2),
      loadSegment: hex(e.loadSegment, 4),
      systemType: hex(e.systemType, 2),
      loadSectors: e.sectorCount,
      lba,
    }, `image ${index}`);
    et.children.push(img);
    const field = `iso9660.elTorito.entry[${index - 1}]`;
    if (e.bootIndicator !== 0x88 && e.bootIndicator !== 0) defect(img, `${field}.bootIndicator`, `boot indicator ${hex(e.bootIndicator, 2)} is neither 0x88 nor 0x00`);
    if (lba * ISO_SECTOR_SIZE >= reader.size) {
      defect(img, `${field}.loadRba`, `boot image ${index} at LBA ${lba} (byte ${lba * ISO_SECTOR_SIZE}) lies outside the ${reader.size}-byte image`);
    } else if (lba * ISO_SECTOR_SIZE + e.sectorCount * 512 > reader.size) {
      defect(img, `${field}.sectorCount`, `boot image ${index} at LBA ${lba} loads ${e.sectorCount} sectors, past the end of the image`);
    }
    info.boot.push({ index, platform, bootable: e.bootIndicator === 0x88, lba, loadSectors: e.sectorCount, node: img });
  };
  add(32, v.platformId);
  // §2.3 section headers (0x90 more follow, 0x91 last), each followed by its entries.
  for (let at = 64; at + 32 <= ISO_SECTOR_SIZE; ) {
    const h = SectionHeader.decode(cat, at);
    if (h.headerIndicator !== HEADER_MORE && h.headerIndicator !== HEADER_FINAL) break;
    at += 32;
    for (let k = 0; k < h.entryCount && at + 32 <= ISO_SECTOR_SIZE; k++, at += 32) {
      if (cat[at] === 0x44) {
        k--; // §2.5 section entry extension: not an entry of its own
        continue;
      }
      add(at, h.platformId);
    }
    if (h.headerIndicator === HEADER_FINAL) break;
  }
  et.fields.entries = info.boot.length;
  return et;
}

/** RRIP §4.1.4 "NM" entries of a System Use area (following one CE continuation), or undefined. */
async function rockRidgeName(reader: RandomAccessReader, su: Uint8Array, blockSize: number): Promise<string | undefined> {
  const parts: Uint8Array[] = [];
  let area = su;
  for (let hops = 0; hops < 3; hops++) {
    let ce: { lba: number; off: number; len: number } | undefined;
    for (let p = 0; p + 4 <= area.byteLength; ) {
      const l = area[p + 2]!;
      if (l < 4 || p + l > area.byteLength) break;
      const sig = ascii(area, p, 2);
      if (sig === 'NM') {
        if (area[p + 4]! & 0x06) return undefined; // CURRENT / PARENT
        parts.push(area.subarray(p + 5, p + l));
        if ((area[p + 4]! & 0x01) === 0) return new TextDecoder().decode(concat(parts));
      } else if (sig === 'CE') {
        const v = new DataView(area.buffer, area.byteOffset + p);
        ce = { lba: v.getUint32(4, true), off: v.getUint32(12, true), len: v.getUint32(20, true) };
      } else if (sig === 'ST') break;
      p += l;
    }
    if (!ce) break;
    area = await reader.read(ce.lba * blockSize + ce.off, Math.min(ce.len, 4096));
  }
  return parts.length > 0 ? new TextDecoder().decode(concat(parts)) : undefined;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

interface TreeCounts {
  dirs: number;
  files: number;
  problems: string[];
}

/** Walk the primary tree breadth first, reading directory extents only. */
async function walkTree(reader: RandomAccessReader, rootLba: number, rootLength: number, blockSize: number, wanted: Map<number, IsoBootImage[]>): Promise<TreeCounts> {
  const counts: TreeCounts = { dirs: 1, files: 0, problems: [] };
  const seen = new Set<number>([rootLba]);
  const queue: { lba: number; length: number; path: string }[] = [{ lba: rootLba, length: rootLength, path: '' }];
  const dec = new TextDecoder();
  let records = 0;
  while (queue.length > 0) {
    const d = queue.shift()!;
    const data = await reader.read(d.lba * blockSize, d.length);
    if (data.byteLength < d.length) {
      counts.problems.push(`directory ${d.path || '/'} at LBA ${d.lba} (${d.length} bytes) runs past the end of the image`);
      continue;
    }
    let continuing = false; // inside a multi-extent file's later sections
    for (let p = 0; p < data.byteLength; ) {
      const len = data[p]!;
      if (len === 0) {
        p = (Math.floor(p / blockSize) + 1) * blockSize; // §6.8.1.1: records do not cross sectors
        continue;
      }
      if (len < DIR_RECORD_FIXED || p + len > data.byteLength) {
        counts.problems.push(`directory ${d.path || '/'}: record at byte ${p} of LBA ${d.lba} has length ${len}`);
        break;
      }
      const r = DirectoryRecordHeader.decode(data, p);
      const id = data.subarray(p + DIR_RECORD_FIXED, p + DIR_RECORD_FIXED + r.identifierLength);
      p += len;
      if (r.identifierLength === 1 && (id[0] === 0 || id[0] === 1)) continue; // "." and ".."
      if (++records > 5_000_000) {
        counts.problems.push('more than 5 million directory records: the walk stopped');
        return counts;
      }
      let name = await rockRidgeName(reader, data.subarray(p - len + DIR_RECORD_FIXED + r.identifierLength + (r.identifierLength % 2 === 0 ? 1 : 0), p), blockSize);
      if (name === undefined) {
        name = dec.decode(id);
        const semi = name.lastIndexOf(';');
        if (semi >= 0) name = name.slice(0, semi);
        if (name.endsWith('.')) name = name.slice(0, -1);
      }
      const path = `${d.path}/${name}`;
      if (r.flags & FLAG_DIRECTORY) {
        counts.dirs++;
        if (seen.has(r.extentLba)) {
          counts.problems.push(`directory ${path} points back to LBA ${r.extentLba}, already walked (a loop)`);
          continue;
        }
        seen.add(r.extentLba);
        queue.push({ lba: r.extentLba, length: r.dataLength, path });
      } else {
        if (!continuing) counts.files++;
        const hits = wanted.get(r.extentLba);
        if (hits) for (const h of hits) if (h.path === undefined) {
          h.path = path;
          h.fileSize = r.dataLength;
        }
      }
      continuing = (r.flags & FLAG_MULTI_EXTENT) !== 0;
    }
  }
  return counts;
}
