/**
 * qcow2 reader: an image as a RangeSource (the input of `imgkit convert`). Reads versions 2 and 3,
 * standard, zero-flagged and compressed clusters (deflate and zstd). Backing files, encryption,
 * external data files and extended L2 entries are E_BAD_INPUT naming the feature. Internal
 * snapshots are ignored (the active L1 table is what a guest sees).
 */
import { loadCodec, viewOf, type Codec, type RandomAccessReader } from '@imgkit/core';
import { badInput } from '../errors.js';
import { readExact, zstdFrameLength } from '../io.js';
import type { ByteRange, RangeSource } from '../range-source.js';
import {
  QCOW2_COMPRESSION_ZSTD,
  INCOMPAT_DATA_FILE,
  INCOMPAT_EXTL2,
  INCOMPAT_KNOWN,
  QCOW2_MAGIC,
  decodeHeader,
  type Qcow2HeaderInfo,
} from './header.js';
import { decodeL1Entry, decodeL2Entry, QCOW_MAX_L1_BYTES, type L2Entry } from './tables.js';

const FORMAT = 'qcow2';

/** Parse and validate the header of a qcow2 image (shared with the checker). */
export async function readQcow2Header(reader: RandomAccessReader): Promise<Qcow2HeaderInfo> {
  const head = await readExact(reader, 0, Math.min(reader.size, 512), FORMAT, 'header');
  if (head.byteLength < 72) throw badInput(FORMAT, `the file has ${head.byteLength} bytes; a qcow2 header needs 72: the image is truncated`);
  const h = decodeHeader(head);
  if (viewOf(head).getUint32(0, false) !== QCOW2_MAGIC) throw badInput(FORMAT, 'no qcow2 magic "QFI\\xfb" at byte 0', { field: 'qcow2.header.magic' });
  if (h.version !== 2 && h.version !== 3) throw badInput(FORMAT, `version ${h.version} is not 2 or 3`, { field: 'qcow2.header.version' });
  if (h.clusterBits < 9 || h.clusterBits > 21) throw badInput(FORMAT, `cluster_bits ${h.clusterBits} is outside 9…21`, { field: 'qcow2.header.clusterBits' });
  if (h.cryptMethod !== 0) throw badInput(FORMAT, 'the image is encrypted; imgkit does not decrypt qcow2', { field: 'qcow2.header.cryptMethod' });
  if (h.backingFileOffset !== 0) {
    throw badInput(FORMAT, 'the image has a backing file; imgkit reads standalone images only', {
      field: 'qcow2.header.backingFileOffset',
      hint: 'flatten it first (qemu-img convert -O qcow2 overlay.qcow2 flat.qcow2)',
    });
  }
  const unknown = h.incompatibleFeatures & ~INCOMPAT_KNOWN;
  if (unknown !== 0n) throw badInput(FORMAT, `unknown incompatible feature bits 0x${unknown.toString(16)}`, { field: 'qcow2.header.incompatibleFeatures' });
  if (h.incompatibleFeatures & INCOMPAT_DATA_FILE) throw badInput(FORMAT, 'the image keeps its data in an external data file, which imgkit does not read', { field: 'qcow2.header.incompatibleFeatures' });
  if (h.incompatibleFeatures & INCOMPAT_EXTL2) throw badInput(FORMAT, 'the image uses extended L2 entries (subclusters), which imgkit does not read', { field: 'qcow2.header.incompatibleFeatures' });
  if (h.compressionType > QCOW2_COMPRESSION_ZSTD) throw badInput(FORMAT, `unknown compression type ${h.compressionType}`, { field: 'qcow2.header.compressionType' });
  if (h.l1Size * 8 > QCOW_MAX_L1_BYTES) throw badInput(FORMAT, `L1 table of ${h.l1Size} entries is over qemu's 32 MiB limit`, { field: 'qcow2.header.l1Size' });
  const need = Math.ceil(Math.ceil(h.size / h.clusterSize) / (h.clusterSize / 8));
  if (h.l1Size < need) throw badInput(FORMAT, `L1 table of ${h.l1Size} entries cannot map a ${h.size}-byte disk (needs ${need})`, { field: 'qcow2.header.l1Size' });
  return h;
}

export interface Qcow2Source extends RangeSource {
  readonly header: Qcow2HeaderInfo;
}

/** Open a qcow2 image for reading. */
export async function openQcow2(reader: RandomAccessReader): Promise<Qcow2Source> {
  const h = await readQcow2Header(reader);
  const cs = h.clusterSize;
  const l2Entries = cs / 8;
  const l1Bytes = await readExact(reader, h.l1TableOffset, h.l1Size * 8, FORMAT, 'L1 table');
  const l1 = viewOf(l1Bytes);
  let codec: Codec | undefined;
  const getCodec = async (): Promise<Codec> =>
    (codec ??= await loadCodec(h.compressionType === QCOW2_COMPRESSION_ZSTD ? { name: 'zstd' } : { name: 'deflate-raw', windowBits: 15 }));
  // One L2 table is cached: ranges() and read() walk the disk in order.
  let cachedIndex = -1;
  let cached: DataView | undefined;
  const l2 = async (l1Index: number): Promise<DataView | undefined> => {
    if (l1Index === cachedIndex) return cached;
    const e = decodeL1Entry(l1, l1Index);
    cachedIndex = l1Index;
    cached = e.offset === 0 ? undefined : viewOf(await readExact(reader, e.offset, cs, FORMAT, `L2 table of L1 entry ${l1Index}`));
    return cached;
  };
  const entry = async (cluster: number): Promise<L2Entry> => {
    const t = await l2(Math.floor(cluster / l2Entries));
    return t ? decodeL2Entry(t, cluster % l2Entries, h.clusterBits, h.version) : { kind: 'unallocated' };
  };
  const clusters = Math.ceil(h.size / cs);

  const decompress = async (e: Extract<L2Entry, { kind: 'compressed' }>, cluster: number): Promise<Uint8Array> => {
    // qcow2.rst "Compressed Clusters Descriptor": the data starts at the offset and ends in the last of `sectors` sectors.
    const end = Math.min((Math.floor(e.offset / 512) + e.sectors) * 512, reader.size);
    if (e.offset >= reader.size) throw badInput(FORMAT, `compressed cluster ${cluster} at ${e.offset} lies past the end of the file: the image is truncated`);
    let data = await reader.read(e.offset, end - e.offset);
    const c = await getCodec();
    if (h.compressionType === QCOW2_COMPRESSION_ZSTD) {
      const n = zstdFrameLength(data);
      if (n < 0) throw badInput(FORMAT, `compressed cluster ${cluster} at ${e.offset} is not a whole zstd frame`);
      data = data.subarray(0, n);
    }
    let out: Uint8Array;
    try {
      out = c.decompress(data, cs);
    } catch (err) {
      throw badInput(FORMAT, `compressed cluster ${cluster} at ${e.offset} does not decompress: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (out.byteLength < cs) {
      const full = new Uint8Array(cs);
      full.set(out);
      out = full;
    }
    return out.byteLength > cs ? out.subarray(0, cs) : out;
  };

  return {
    virtualSize: h.size,
    format: FORMAT,
    header: h,
    async *ranges(): AsyncIterable<ByteRange> {
      let runStart = -1;
      for (let t = 0; t * l2Entries < clusters; t++) {
        const table = await l2(t);
        if (!table) {
          if (runStart >= 0) {
            yield { offset: runStart * cs, length: Math.min(t * l2Entries * cs, h.size) - runStart * cs };
            runStart = -1;
          }
          continue;
        }
        const last = Math.min(l2Entries, clusters - t * l2Entries);
        for (let i = 0; i < last; i++) {
          const e = decodeL2Entry(table, i, h.clusterBits, h.version);
          const c = t * l2Entries + i;
          const data = e.kind === 'standard' || e.kind === 'compressed';
          if (data && runStart < 0) runStart = c;
          else if (!data && runStart >= 0) {
            yield { offset: runStart * cs, length: c * cs - runStart * cs };
            runStart = -1;
          }
        }
      }
      if (runStart >= 0) yield { offset: runStart * cs, length: h.size - runStart * cs };
    },
    async *read(offset: number, length: number): AsyncIterable<Uint8Array> {
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const cluster = Math.floor(pos / cs);
        const inCluster = pos - cluster * cs;
        const e = await entry(cluster);
        if (e.kind === 'standard') {
          // merge host-contiguous standard clusters into one read of up to 4 MiB
          let host = e.offset + inCluster;
          let n = Math.min(cs - inCluster, end - pos);
          let next = cluster + 1;
          while (pos + n < end && n < 4 << 20) {
            const f = await entry(next);
            if (f.kind !== 'standard' || f.offset !== e.offset + (next - cluster) * cs) break;
            n += Math.min(cs, end - pos - n);
            next++;
          }
          const b = await readExact(reader, host, n, FORMAT, `data of cluster ${cluster}`);
          host += n;
          pos += n;
          yield b;
        } else {
          const n = Math.min(cs - inCluster, end - pos);
          if (e.kind === 'compressed') yield (await decompress(e, cluster)).subarray(inCluster, inCluster + n);
          else yield new Uint8Array(n);
          pos += n;
        }
      }
    },
    close: async () => {
      await reader.close?.();
    },
  };
}
