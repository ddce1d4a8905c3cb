/**
 * VMDK reader for single-file sparse extents: monolithicSparse, streamOptimized (the footer's
 * header when gdOffset is GD_AT_END, compressed grains behind grain markers) and zeroed-grain
 * entries (version 2). A descriptor file that points to other extent files (monolithicFlat,
 * twoGbMaxExtent*, vmfs) is E_BAD_INPUT: one file is one disk here.
 */
import { loadCodec, viewOf, type Codec, type RandomAccessReader } from '@imgkit/core';
import { badInput } from '../errors.js';
import { readExact } from '../io.js';
import type { ByteRange, RangeSource } from '../range-source.js';
import { parseDescriptor, type ParsedDescriptor } from './descriptor.js';
import {
  FLAG_COMPRESSED,
  FLAG_MARKERS,
  FLAG_ZEROED_GRAIN_GTE,
  GD_AT_END,
  MARKER_EOS,
  MARKER_FOOTER,
  MetadataMarker,
  SECTOR,
  SPARSE_MAGICNUMBER,
  SparseExtentHeader,
  type SparseHeaderValues,
} from './sparse-header.js';

const FORMAT = 'vmdk';

export interface VmdkLayout {
  header: SparseHeaderValues;
  /** The footer's copy when the header says GD_AT_END (stream-optimized). */
  footer?: SparseHeaderValues;
  descriptor: ParsedDescriptor;
  capacity: number;
  grainBytes: number;
  gdOffset: number;
  numGts: number;
  gtEntries: number;
  compressed: boolean;
  markers: boolean;
  zeroGrains: boolean;
}

/** Header, footer (stream-optimized) and descriptor of a VMDK, validated. */
export async function readVmdkLayout(reader: RandomAccessReader): Promise<VmdkLayout> {
  const first = await readExact(reader, 0, Math.min(reader.size, SECTOR), FORMAT, 'header');
  if (first.byteLength < 4) throw badInput(FORMAT, 'the file is too small to be a VMDK');
  if (viewOf(first).getUint32(0, true) !== SPARSE_MAGICNUMBER) {
    const text = new TextDecoder().decode(await reader.read(0, Math.min(reader.size, 64 << 10)));
    if (text.startsWith('# Disk DescriptorFile')) {
      const d = parseDescriptor(text);
      throw badInput(FORMAT, `this is a ${d.createType} descriptor file whose data lives in ${d.extents.map((e) => `"${e.file}"`).join(', ') || 'other files'}`, {
        hint: 'convert the extent file(s) instead, or use a monolithic VMDK',
      });
    }
    throw badInput(FORMAT, 'no sparse extent magic "KDMV" at byte 0', { field: 'vmdk.sparseExtentHeader.magicNumber' });
  }
  if (first.byteLength < SECTOR) throw badInput(FORMAT, 'the header sector is truncated');
  const header = SparseExtentHeader.decode(first);
  let h = header;
  let footer: SparseHeaderValues | undefined;
  if (header.gdOffset === GD_AT_END) {
    // "Stream-Optimized Compressed Sparse Extents": footer marker, footer, end-of-stream marker end the file.
    if (reader.size < 4 * SECTOR || reader.size % SECTOR !== 0) throw badInput(FORMAT, 'a stream-optimized VMDK whose size is not whole sectors: the image is truncated');
    const tail = await readExact(reader, reader.size - 3 * SECTOR, 3 * SECTOR, FORMAT, 'footer');
    const fm = MetadataMarker.decode(tail, 0);
    const eos = MetadataMarker.decode(tail, 2 * SECTOR);
    if (fm.type !== MARKER_FOOTER || fm.size !== 0 || eos.type !== MARKER_EOS || eos.numSectors !== 0n || eos.size !== 0) {
      throw badInput(FORMAT, 'the footer marker and end-of-stream marker are not in the last three sectors: the image is truncated or incomplete');
    }
    footer = SparseExtentHeader.decode(tail, SECTOR);
    if (footer.magicNumber !== SPARSE_MAGICNUMBER) throw badInput(FORMAT, 'the footer has no "KDMV" magic');
    h = footer;
  }
  if (h.version < 1 || h.version > 3) throw badInput(FORMAT, `sparse extent version ${h.version} is not 1, 2 or 3`, { field: 'vmdk.sparseExtentHeader.version' });
  const grainSectors = Number(h.grainSize);
  if (grainSectors < 8 || (grainSectors & (grainSectors - 1)) !== 0 || grainSectors > 0x200000) {
    throw badInput(FORMAT, `grain size ${grainSectors} sectors is not a power of two of at least 8`, { field: 'vmdk.sparseExtentHeader.grainSize' });
  }
  if (h.numGTEsPerGT === 0 || h.numGTEsPerGT > 512) throw badInput(FORMAT, `${h.numGTEsPerGT} grain table entries per table (1…512)`, { field: 'vmdk.sparseExtentHeader.numGTEsPerGT' });
  const descBytes = await readExact(reader, Number(h.descriptorOffset) * SECTOR, Number(h.descriptorSize) * SECTOR, FORMAT, 'descriptor');
  const descriptor = parseDescriptor(new TextDecoder().decode(descBytes));
  const sparseExtents = descriptor.extents.filter((e) => e.type === 'SPARSE');
  if (descriptor.extents.length !== 1 || sparseExtents.length !== 1) {
    throw badInput(FORMAT, `the descriptor lists ${descriptor.extents.length} extents; imgkit reads single-extent sparse VMDKs`);
  }
  const capacity = Number(h.capacity) * SECTOR;
  const perGt = h.numGTEsPerGT * grainSectors * SECTOR;
  const compressed = (h.flags & FLAG_COMPRESSED) !== 0;
  const markers = (h.flags & FLAG_MARKERS) !== 0;
  if (compressed && h.compressAlgorithm !== 1) throw badInput(FORMAT, `compression algorithm ${h.compressAlgorithm} is not deflate (1)`);
  if (compressed && !markers) throw badInput(FORMAT, 'compressed grains without grain markers are not supported');
  return {
    header,
    ...(footer ? { footer } : {}),
    descriptor,
    capacity,
    grainBytes: grainSectors * SECTOR,
    gdOffset: Number(h.gdOffset) * SECTOR,
    numGts: Math.ceil(capacity / perGt),
    gtEntries: h.numGTEsPerGT,
    compressed,
    markers,
    zeroGrains: (h.flags & FLAG_ZEROED_GRAIN_GTE) !== 0,
  };
}

export interface VmdkSource extends RangeSource {
  readonly layout: VmdkLayout;
}

/** Open a single-file sparse VMDK for reading. */
export async function openVmdk(reader: RandomAccessReader): Promise<VmdkSource> {
  const L = await readVmdkLayout(reader);
  const gd = viewOf(await readExact(reader, L.gdOffset, L.numGts * 4, FORMAT, 'grain directory'));
  const gb = L.grainBytes;
  const grains = Math.ceil(L.capacity / gb);
  let cachedGt = -1;
  let cached: DataView | undefined;
  const gt = async (i: number): Promise<DataView | undefined> => {
    if (i === cachedGt) return cached;
    cachedGt = i;
    const sector = gd.getUint32(i * 4, true);
    cached = sector === 0 ? undefined : viewOf(await readExact(reader, sector * SECTOR, L.gtEntries * 4, FORMAT, `grain table ${i}`));
    return cached;
  };
  /** Sector of grain `g`'s data (or marker), 0 unallocated, 1 zeroed. */
  const grainSector = async (g: number): Promise<number> => {
    const t = await gt(Math.floor(g / L.gtEntries));
    if (!t) return 0;
    const s = t.getUint32((g % L.gtEntries) * 4, true);
    return s === 1 && L.zeroGrains ? 1 : s;
  };
  let codec: Codec | undefined;
  const grain = async (g: number, sector: number): Promise<Uint8Array> => {
    if (!L.compressed) return readExact(reader, sector * SECTOR, Math.min(gb, reader.size - sector * SECTOR), FORMAT, `grain ${g}`);
    const head = await readExact(reader, sector * SECTOR, 12, FORMAT, `grain marker of grain ${g}`);
    const v = viewOf(head);
    const lba = Number(v.getBigUint64(0, true));
    const size = v.getUint32(8, true);
    if (lba !== g * (gb / SECTOR)) throw badInput(FORMAT, `grain marker at sector ${sector} says LBA ${lba}; the grain table puts grain ${g} (LBA ${g * (gb / SECTOR)}) there`);
    const data = await readExact(reader, sector * SECTOR + 12, size, FORMAT, `compressed grain ${g}`);
    codec ??= await loadCodec({ name: 'zlib' });
    let out: Uint8Array;
    try {
      out = codec.decompress(data, gb);
    } catch (err) {
      throw badInput(FORMAT, `grain ${g} at sector ${sector} does not decompress: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (out.byteLength < gb) {
      const full = new Uint8Array(gb);
      full.set(out);
      out = full;
    }
    return out;
  };
  return {
    virtualSize: L.capacity,
    format: FORMAT,
    layout: L,
    async *ranges(): AsyncIterable<ByteRange> {
      let runStart = -1;
      for (let g = 0; g < grains; g++) {
        const s = await grainSector(g);
        const data = s > 1;
        if (data && runStart < 0) runStart = g;
        else if (!data && runStart >= 0) {
          yield { offset: runStart * gb, length: g * gb - runStart * gb };
          runStart = -1;
        }
      }
      if (runStart >= 0) yield { offset: runStart * gb, length: L.capacity - runStart * gb };
    },
    async *read(offset: number, length: number): AsyncIterable<Uint8Array> {
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const g = Math.floor(pos / gb);
        const inGrain = pos - g * gb;
        const n = Math.min(gb - inGrain, end - pos);
        const s = await grainSector(g);
        if (s <= 1) yield new Uint8Array(n);
        else {
          const b = await grain(g, s);
          yield b.subarray(inGrain, inGrain + n);
        }
        pos += n;
      }
    },
    close: async () => {
      await reader.close?.();
    },
  };
}
