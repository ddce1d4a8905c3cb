/**
 * Writes a planned FAT volume front to back, relative to `sink.position` at entry, so any sink
 * will do (a file, standard output, a partition's window of a disk):
 *
 *   reserved sectors   boot sector; on FAT32 FSInfo (1), the boot sector's copy (6) and FSInfo's (7)
 *   FAT 1, FAT 2       generated in pieces; the free tail as zeros (holes in a file sink)
 *   root directory     FAT12/16 only: its fixed region
 *   data clusters      FAT32's root directory, then every directory and file in walk order, each
 *                      one contiguous run padded to whole clusters
 *   free clusters      zeros up to the end of the image (holes)
 *
 * Every value in the reserved sectors, the FATs and the directories was decided by the plan, so
 * nothing is patched afterwards. Content is read in the same walk order; a file whose size changed
 * since the plan is E_SOURCE_CHANGED naming it. Memory: the plan, one 1 MiB output buffer and one
 * directory's entries (at most 2 MiB).
 */
import {
  ReadAhead,
  fileGrew,
  fileShrank,
  readChecked,
  syncReaderOf,
  BufferedOutput,
  type ByteSink,
  type SourceEntry,
} from '@imgkit/core';
import { BACKUP_BOOT_SECTOR, FSINFO_SECTOR, encodeBootSector } from './boot-sector.js';
import { ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_READ_ONLY, ATTR_VOLUME_ID, DIRENT_BYTES, DirEntry, fatTimestamp } from './dirent.js';
import { fatPieces } from './fat-table.js';
import { encodeFsInfo } from './fsinfo.js';
import { FAT_COUNT, SECTOR_BYTES } from './geometry.js';
import { encodeLfnEntries, shortNameChecksum } from './lfn.js';
import { nameBytes } from './short-name.js';
import type { FatNode, PlannedVolume } from './plan.js';

const FORMAT = 'fat';
const BUFFER_BYTES = 1 << 20;

export interface FatProgress {
  /** Files and directories written so far, and in all. */
  entries: number;
  totalEntries: number;
  /** Bytes of the image written so far. */
  bytes: number;
}

export interface FatResult {
  /** Bytes written to the sink (the image size). */
  bytes: number;
  files: number;
  directories: number;
}

/** The 32-byte entries of a directory: label or '.' and '..', then each child's long-name entries and short entry. */
export function encodeDirectory(dir: FatNode, parent: FatNode | undefined, v: PlannedVolume): Uint8Array {
  const out = new Uint8Array(dir.slots * DIRENT_BYTES);
  const fat32 = v.geometry.fatBits === 32;
  let at = 0;
  const entry = (name: Uint8Array, attr: number, ntRes: number, mtime: number, cluster: number, size: number, tenths = true) => {
    const t = fatTimestamp(mtime);
    DirEntry.encode(
      {
        name,
        attr,
        ntRes,
        crtTimeTenth: tenths ? t.tenths : 0,
        crtTime: t.time,
        crtDate: t.date,
        lstAccDate: t.date,
        fstClusHi: fat32 ? cluster >>> 16 : 0,
        wrtTime: t.time,
        wrtDate: t.date,
        fstClusLo: cluster & 0xffff,
        fileSize: size,
      },
      out,
      at,
    );
    at += DIRENT_BYTES;
  };
  if (parent === undefined) {
    // The root: the volume label entry first, dated by the epoch, as mkfs.fat writes it (fatgen103
    // ATTR_VOLUME_ID; mkfs.fat leaves the 10 ms field 0).
    if (v.options.label !== undefined) entry(nameBytes(v.options.label.slice(0, 8), v.options.label.slice(8)), ATTR_VOLUME_ID, 0, v.options.epoch, 0, 0, false);
  } else {
    // fatgen103 "FAT Directory Structure": '.' is the directory itself, '..' its parent (0 for the root).
    entry(nameBytes('.', ''), ATTR_DIRECTORY, 0, dir.mtime, dir.cluster, 0);
    entry(nameBytes('..', ''), ATTR_DIRECTORY, 0, dir.mtime, parent.path === '' ? 0 : parent.cluster, 0);
  }
  for (const k of dir.children!) {
    const short = k.short!;
    if (short.needsLfn) at += encodeLfnEntries(k.name, shortNameChecksum(short.bytes), out, at);
    if (k.kind === 'dir') entry(short.bytes, ATTR_DIRECTORY, short.ntCase, k.mtime, k.cluster, 0);
    else entry(short.bytes, ATTR_ARCHIVE | (k.readOnly ? ATTR_READ_ONLY : 0), short.ntCase, k.mtime, k.cluster, k.size);
  }
  if (at !== out.byteLength) throw new Error(`internal: directory ${dir.path || '/'} has ${at / DIRENT_BYTES} entries, planned ${dir.slots}`);
  return out;
}

/** Copy `size` bytes of a file into the output, reading straight into its buffer when the source allows. */
async function copyContent(out: BufferedOutput, entry: SourceEntry, path: string, size: number, chunks: () => AsyncIterable<Uint8Array>): Promise<void> {
  const open = syncReaderOf(entry);
  if (!open) {
    for await (const c of readChecked({ ...entry, read: chunks }, FORMAT, size)) await out.bytes(c);
    return;
  }
  const reader = open();
  try {
    let done = 0;
    let ended = false;
    while (done < size) {
      const dst = await out.space();
      const want = Math.min(dst.byteLength, size - done);
      // Where the buffer has room, ask for one byte more than planned: a regular file returns
      // fewer bytes than asked only at its end, so the end is seen without another read.
      const ask = want < dst.byteLength ? want + 1 : want;
      let got = 0;
      while (got < want) {
        const k = reader.read(dst, got, ask - got);
        if (k === 0) throw fileShrank(FORMAT, path, size, done + got);
        got += k;
        if (got < ask) ended = got >= want;
      }
      if (got > want) throw fileGrew(FORMAT, path, size);
      out.commit(got);
      done += got;
    }
    if (!ended && reader.read(new Uint8Array(1), 0, 1) > 0) throw fileGrew(FORMAT, path, size);
  } finally {
    reader.close();
  }
}

/** Write the volume `v` to `sink` (see the top of this file). Does not close the sink. */
export async function writePlanned(v: PlannedVolume, sink: ByteSink): Promise<FatResult> {
  const g = v.geometry;
  const out = new BufferedOutput(sink, BUFFER_BYTES);
  const boot = encodeBootSector({ geometry: g, volumeId: v.options.volumeId, label: v.options.label });

  // Reserved sectors.
  await out.bytes(boot);
  if (g.fatBits === 32) {
    const lastUsed = v.runEnds.length > 0 ? v.runEnds[v.runEnds.length - 1]! : 2;
    const fsinfo = encodeFsInfo(g.clusterCount - v.usedClusters, lastUsed);
    await out.bytes(fsinfo); // sector FSINFO_SECTOR (1)
    await out.zeros((BACKUP_BOOT_SECTOR - FSINFO_SECTOR - 1) * SECTOR_BYTES);
    await out.bytes(boot); // sector 6
    await out.bytes(fsinfo); // sector 7
    await out.zeros((g.reservedSectors - BACKUP_BOOT_SECTOR - 2) * SECTOR_BYTES);
  } else {
    await out.zeros((g.reservedSectors - 1) * SECTOR_BYTES);
  }

  // The FATs, identical.
  for (let copy = 0; copy < FAT_COUNT; copy++) {
    for (const piece of fatPieces(g, v.runEnds)) {
      if (typeof piece === 'number') await out.zeros(piece);
      else await out.bytes(piece);
    }
  }

  // FAT12/16: the fixed root directory region.
  if (g.fatBits !== 32) {
    const root = encodeDirectory(v.root, undefined, v);
    await out.bytes(root);
    await out.zeros(g.rootDirSectors * SECTOR_BYTES - root.byteLength);
  } else {
    const root = encodeDirectory(v.root, undefined, v);
    await out.bytes(root);
    await out.zeros(v.root.clusters * g.clusterBytes - root.byteLength);
  }

  // Data clusters, in the plan's order.
  const parents = new Map<FatNode, FatNode>();
  const noteParents = (d: FatNode) => {
    for (const k of d.children!) {
      parents.set(k, d);
      if (k.kind === 'dir') noteParents(k);
    }
  };
  noteParents(v.root);
  const ahead = new ReadAhead(v.order.map((n) => (n.kind === 'file' && n.size > 0 ? n.content : undefined)));
  let files = 0;
  let dirs = 0;
  for (const [i, n] of v.order.entries()) {
    if (n.kind === 'dir') {
      dirs++;
      const bytes = encodeDirectory(n, parents.get(n)!, v);
      await out.bytes(bytes);
      await out.zeros(n.clusters * g.clusterBytes - bytes.byteLength);
    } else {
      files++;
      if (n.size > 0) {
        await copyContent(out, n.content!, n.path, n.size, () => ahead.read(i));
        await out.zeros(n.clusters * g.clusterBytes - n.size);
      }
    }
    v.onProgress?.({ entries: i + 1, totalEntries: v.order.length, bytes: out.written });
  }

  // Free clusters and whatever of the image lies past the volume.
  await out.zeros(g.imageBytes - out.written);
  await out.flush();
  return { bytes: out.written, files, directories: dirs };
}
