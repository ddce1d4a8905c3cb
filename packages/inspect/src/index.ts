/**
 * @imgkit/inspect: what is inside an image — a VM container (qcow2, VMDK, VHD, VHDX, OVA), the
 * disk it holds, its partition tables (MBR with EBRs, GPT, hybrid), each partition's filesystem
 * (ISO 9660 with Rock Ridge, Joliet and El Torito, FAT12/16/32, squashfs, ext2/3/4 superblock) or
 * archive (cpio and initramfs, compressed or not, tar) — and whether its structures agree with
 * each other and with the image size. Browser-safe: it reads through a RandomAccessReader
 * (`nodeFileReader` in Node, `blobReader` in a browser).
 *
 *     const report = await inspectImage(await nodeFileReader('live.iso'), { name: 'live.iso' });
 *     report.root;      // the tree: type, offset, size, fields, children, findings
 *     report.exitCode;  // 0 clean, 1 not completed, 2 a defect, 3 container leaks only
 *     formatInspectTree(report);
 */
import type { RandomAccessReader } from '@imgkit/core';
import { detectFormat } from '@imgkit/vdisk';
import { inspectArchive, looksLikeArchive, looksLikeTar, inspectTar } from './archive.js';
import { inspectContainer, inspectOva, looksLikeOva } from './container.js';
import { inspectExt4, looksLikeExt4 } from './ext4.js';
import { inspectFat, looksLikeFat } from './fat.js';
import { errorText, isAllZero, windowReader } from './io.js';
import { inspectIso, looksLikeIso, type IsoInfo } from './iso.js';
import { ESP_GUID, inspectPartitionTables, looksLikeMbr, type FoundPartition } from './partition.js';
import { collectFindings, defect, exitCodeOf, incomplete, node, type InspectNode, type InspectReport } from './report.js';
import { inspectSquashfs, looksLikeSquashfs } from './squashfs.js';

export * from './report.js';
export { windowReader, sourceReader } from './io.js';
export { Ext4Superblock, EXT4_SUPER_MAGIC } from './ext4.js';

export interface InspectOptions {
  /** The image's name for the report (a path). @default 'image' */
  name?: string;
  /** Walk directories (ISO, FAT, squashfs) and archives to count entries. @default true */
  countEntries?: boolean;
  /** How deep images nest (container → disk → partition → …). @default 8 */
  maxDepth?: number;
}

interface Ctx {
  countEntries: boolean;
  maxDepth: number;
}

/** Inspect an image of any kind imgkit writes (and the same formats written by other tools). */
export async function inspectImage(reader: RandomAccessReader, o: InspectOptions = {}): Promise<InspectReport> {
  const ctx: Ctx = { countEntries: o.countEntries ?? true, maxDepth: o.maxDepth ?? 8 };
  const root = await inspectContent(reader, 0, ctx, 0, true);
  root.name = o.name ?? 'image';
  const findings = collectFindings(root);
  return { image: o.name ?? 'image', root, findings, exitCode: exitCodeOf(findings) };
}

/** What lies at the start of `reader` (a file, a virtual disk, a partition, a member). */
async function inspectContent(reader: RandomAccessReader, offset: number, ctx: Ctx, depth: number, top = false): Promise<InspectNode> {
  if (depth > ctx.maxDepth) {
    const n = node('unknown', offset, reader.size);
    incomplete(n, 'inspect.depth', `images nest deeper than ${ctx.maxDepth} levels; not inspected`);
    return n;
  }
  try {
    return await dispatch(reader, offset, ctx, depth, top);
  } catch (err) {
    const n = node('unknown', offset, reader.size);
    incomplete(n, 'inspect', `could not be read: ${errorText(err)}`);
    return n;
  }
}

async function dispatch(reader: RandomAccessReader, offset: number, ctx: Ctx, depth: number, top: boolean): Promise<InspectNode> {
  if (reader.size === 0) return node('empty', offset, 0);
  const head = await reader.read(0, 4096);
  if (top || depth <= 1) {
    const format = await detectFormat(reader);
    if (format !== 'raw') return inspectContainer(reader, offset, format, (disk) => inspectContent(disk, 0, ctx, depth + 1));
    if (await looksLikeOva(reader, head)) return inspectOva(reader, offset, (r, at) => inspectContent(r, at, ctx, depth + 1, true));
  }
  if (await looksLikeIso(reader)) return inspectIsoImage(reader, offset, ctx, depth);
  if (looksLikeSquashfs(head)) return inspectSquashfs(reader, offset, ctx);
  if (looksLikeFat(head)) return inspectFat(reader, offset, ctx);
  if (isGpt(head) || looksLikeMbr(head, reader.size)) {
    const signed = head[510] === 0x55 && head[511] === 0xaa;
    if (signed || isGpt(head)) return inspectDisk(reader, offset, ctx, depth);
  }
  if (await looksLikeExt4(reader)) return inspectExt4(reader, offset);
  if (looksLikeArchive(head)) return looksLikeTar(head) && !top ? inspectTar(reader, 0, offset) : inspectArchive(reader, offset);
  if (isAllZero(head.subarray(0, Math.min(head.byteLength, 4096)))) return node('empty', offset, reader.size, { note: 'the first 4 KiB are zeros' });
  return node('unknown', offset, reader.size);
}

function isGpt(head: Uint8Array): boolean {
  const sig = 'EFI PART';
  const at = (o: number) => head.byteLength >= o + 8 && [...sig].every((c, i) => head[o + i] === c.charCodeAt(0));
  return at(512) || at(4096);
}

/** A partitioned disk: its tables, and each partition's content (once, when tables repeat it). */
async function inspectDisk(reader: RandomAccessReader, offset: number, ctx: Ctx, depth: number): Promise<InspectNode> {
  const t = await inspectPartitionTables(reader, false);
  const table = t.hasGpt ? (t.partitions.some((p) => p.table === 'mbr') ? 'hybrid' : 'gpt') : 'mbr';
  const n = node('disk', offset, reader.size, { table, sectorSize: t.sectorSize, partitions: new Set(t.partitions.map((p) => `${p.offset}+${p.size}`)).size });
  n.children = t.nodes;
  await inspectPartitions(reader, t.partitions, ctx, depth, () => true);
  return n;
}

async function inspectPartitions(reader: RandomAccessReader, parts: FoundPartition[], ctx: Ctx, depth: number, wanted: (p: FoundPartition) => boolean): Promise<void> {
  const done = new Map<string, FoundPartition>();
  for (const p of [...parts].sort((a, b) => (a.table === b.table ? 0 : a.table === 'gpt' ? -1 : 1))) {
    if (p.size <= 0 || p.offset >= reader.size || typeof p.type === 'number' && [0x05, 0x0f, 0x85].includes(p.type)) continue;
    if (!wanted(p)) continue;
    const key = `${p.offset}+${p.size}`;
    const same = done.get(key);
    if (same) {
      p.node.fields.content = `same as ${same.table.toUpperCase()} partition ${same.number}`;
      continue;
    }
    done.set(key, p);
    p.node.children.push(await inspectContent(windowReader(reader, p.offset, p.size), p.offset, ctx, depth + 1));
  }
}

/**
 * An ISO 9660 image: the volume, El Torito, and the system area's tables. Partitions that hold the
 * ISO itself are not opened again; those that are El Torito images or lie after the ISO volume
 * (appended partitions) are.
 */
async function inspectIsoImage(reader: RandomAccessReader, offset: number, ctx: Ctx, depth: number): Promise<InspectNode> {
  const iso = await inspectIso(reader, offset, ctx);
  const n = iso.node;
  const sector0 = await reader.read(0, 512);
  const hasTables = (sector0[510] === 0x55 && sector0[511] === 0xaa) || isGpt(await reader.read(0, 4608));
  if (!hasTables) return n;
  const t = await inspectPartitionTables(reader, true);
  n.children.push(...t.nodes);
  const bootStarts = new Set(iso.boot.map((b) => b.lba * 2048));
  const pvd = 16 * 2048;
  await inspectPartitions(reader, t.partitions, ctx, depth, (p) => !(p.offset <= pvd && pvd < p.offset + p.size) && (bootStarts.has(p.offset) || p.offset >= iso.volumeBytes));
  crossCheckElTorito(iso, t.partitions);
  const mbr = t.nodes.find((x) => x.type === 'mbr');
  if (mbr) checkBootPointer(sector0, iso, mbr);
  return n;
}

/**
 * The MBR code of a hybrid ISO finds its boot image through a number at byte 432: isohybrid's
 * (isohdpfx, code starting 33 ED) holds the first El Torito image's LBA × 4, GRUB's boot_hybrid.img
 * (EB 63) that plus 4 as a u64 (libisofs: "isohybrid" and "grub2_mbr"); behind an Apple Partition
 * Map's driver descriptor ("ER") the isohybrid code starts at byte 32. A number that points
 * elsewhere boots other bytes from USB than from CD.
 */
function checkBootPointer(sector0: Uint8Array, iso: IsoInfo, mbr: InspectNode): void {
  const first = iso.boot[0];
  if (!first) return;
  const v = new DataView(sector0.buffer, sector0.byteOffset, 512);
  // With an Apple Partition Map, block 0 starts with its driver descriptor ("ER") and the code at 32.
  const apm = sector0[0] === 0x45 && sector0[1] === 0x52;
  const code = apm ? 32 : 0;
  if (sector0[code] === 0x33 && sector0[code + 1] === 0xed) {
    const at = v.getUint32(432, true);
    mbr.fields.bootCode = 'isohybrid';
    mbr.fields.bootImageLba = at / 4;
    if (at !== first.lba * 4) defect(mbr, 'mbr.bootCode[432]', `the isohybrid MBR code loads 512-byte sector ${at} (block ${at / 4}); El Torito's first boot image is at block ${first.lba} (sector ${first.lba * 4})`);
  } else if (sector0[0] === 0xeb && sector0[1] === 0x63) {
    const at = Number(v.getBigUint64(432, true));
    if (at === 0) return; // GRUB's boot.img without the hybrid patch
    mbr.fields.bootCode = 'grub2';
    mbr.fields.bootImageLba = (at - 4) / 4;
    if (at !== first.lba * 4 + 4) defect(mbr, 'mbr.bootCode[432]', `GRUB's hybrid MBR code loads 512-byte sector ${at}; El Torito's first boot image is at block ${first.lba} (its sector 4 is ${first.lba * 4 + 4})`);
  }
}

const isEspType = (p: FoundPartition) => p.type === 0xef || p.type === ESP_GUID;

/**
 * El Torito against the partition tables: each boot image is named with the partitions that
 * start where it starts; an EFI System Partition that overlaps an EFI boot image without being
 * exactly that image, or is shorter than it, is a defect (firmware booting the disk and firmware
 * booting the CD would load different bytes).
 */
function crossCheckElTorito(iso: IsoInfo, parts: FoundPartition[]): void {
  for (const img of iso.boot) {
    const start = img.lba * 2048;
    const size = img.fileSize ?? Math.max(1, img.loadSectors) * 512;
    const field = `iso9660.elTorito.entry[${img.index - 1}]`;
    const matches = parts.filter((p) => p.offset === start);
    if (matches.length > 0) img.node.fields.partitions = matches.map((p) => `${p.table.toUpperCase()} ${p.number}`);
    if (img.platform !== 0xef) continue;
    for (const p of parts) {
      if (!isEspType(p)) continue;
      const overlap = p.offset < start + size && start < p.offset + p.size;
      if (!overlap) continue;
      if (p.offset !== start) {
        defect(img.node, `${field}.loadRba`, `the EFI boot image (bytes ${start}…${start + size - 1}) and ${p.table.toUpperCase()} ESP partition ${p.number} (bytes ${p.offset}…${p.offset + p.size - 1}) overlap but start at different places`);
      } else if (p.size < size) {
        defect(img.node, `${field}.sectorCount`, `${p.table.toUpperCase()} ESP partition ${p.number} (${p.size} bytes) is shorter than the EFI boot image (${size} bytes)`);
      }
    }
  }
}
