/**
 * VHD reader: fixed and dynamic disks (differencing disks need their parent: E_BAD_INPUT). The
 * disk size is the footer's current size, except for images whose creator is 'vpc ' or 'qemu'
 * without the maximum geometry: Virtual PC and old qemu sized disks by their CHS geometry, and so
 * do readers of those images (qemu's vpc_ignore_current_size). Allocated blocks are read whole,
 * as qemu reads them; the sector bitmap only matters for differencing disks.
 */
import { viewOf, type RandomAccessReader } from '@imgkit/core';
import { badInput } from '../errors.js';
import { readExact } from '../io.js';
import type { ByteRange, RangeSource } from '../range-source.js';
import {
  DISK_TYPE_DIFFERENCING,
  DISK_TYPE_DYNAMIC,
  DISK_TYPE_FIXED,
  VHD_BAT_UNUSED,
  VHD_COOKIE,
  VHD_DYNAMIC_COOKIE,
  VHD_SECTOR,
  VhdDynamicHeader,
  VhdFooter,
  vhdBitmapBytes,
  vhdChecksum,
} from './footer.js';

const FORMAT = 'vhd';

export interface VhdLayout {
  footer: ReturnType<typeof VhdFooter.decode>;
  footerChecksumOk: boolean;
  virtualSize: number;
  diskType: number;
  dynamic?: {
    header: ReturnType<typeof VhdDynamicHeader.decode>;
    headerChecksumOk: boolean;
    bat: DataView;
    blockSize: number;
    bitmapBytes: number;
    entries: number;
    /** The copy at offset 0 is byte-identical to the footer. */
    footerCopyMatches: boolean;
  };
}

export async function readVhdLayout(reader: RandomAccessReader, strict = true): Promise<VhdLayout> {
  if (reader.size < VHD_SECTOR) throw badInput(FORMAT, 'the file is smaller than a VHD footer');
  const fb = await readExact(reader, reader.size - VHD_SECTOR, VHD_SECTOR, FORMAT, 'footer');
  const footer = VhdFooter.decode(fb);
  if (footer.cookie !== VHD_COOKIE) {
    // a dynamic disk whose end was cut off still has the copy at offset 0
    const copy = await readExact(reader, 0, VHD_SECTOR, FORMAT, 'footer copy');
    if (VhdFooter.decode(copy).cookie === VHD_COOKIE) {
      throw badInput(FORMAT, 'the footer is missing from the end of the file (the copy at offset 0 is there): the image is truncated');
    }
    throw badInput(FORMAT, 'no "conectix" footer in the last 512 bytes', { field: 'vhd.footer.cookie' });
  }
  const footerChecksumOk = vhdChecksum(fb, 64) === footer.checksum;
  if (strict && !footerChecksumOk) throw badInput(FORMAT, `footer checksum 0x${footer.checksum.toString(16)} is wrong (0x${vhdChecksum(fb, 64).toString(16)})`, { field: 'vhd.footer.checksum' });
  const app = String.fromCharCode(...footer.creatorApplication);
  const chs = footer.cylinders * footer.heads * footer.sectorsPerTrack * VHD_SECTOR;
  const maxChs = 65535 * 16 * 255 * VHD_SECTOR;
  const useChs = (app === 'vpc ' || app === 'qemu') && chs !== maxChs;
  const virtualSize = useChs ? chs : Number(footer.currentSize);
  const layout: VhdLayout = { footer, footerChecksumOk, virtualSize, diskType: footer.diskType };
  if (footer.diskType === DISK_TYPE_DIFFERENCING) {
    throw badInput(FORMAT, 'this is a differencing VHD, which needs its parent disk', { hint: 'merge it into its parent first' });
  }
  if (footer.diskType === DISK_TYPE_FIXED) {
    if (reader.size - VHD_SECTOR < virtualSize) throw badInput(FORMAT, `a fixed VHD of ${virtualSize} bytes needs ${virtualSize + VHD_SECTOR} bytes; the file has ${reader.size}: the image is truncated`);
    return layout;
  }
  if (footer.diskType !== DISK_TYPE_DYNAMIC) throw badInput(FORMAT, `disk type ${footer.diskType} is not fixed (2), dynamic (3) or differencing (4)`, { field: 'vhd.footer.diskType' });
  const copy = await readExact(reader, 0, VHD_SECTOR, FORMAT, 'footer copy');
  const footerCopyMatches = copy.every((b, i) => b === fb[i]);
  const hOff = Number(footer.dataOffset);
  const hb = await readExact(reader, hOff, 1024, FORMAT, 'dynamic disk header');
  const header = VhdDynamicHeader.decode(hb);
  if (header.cookie !== VHD_DYNAMIC_COOKIE) throw badInput(FORMAT, `no "cxsparse" dynamic disk header at ${hOff}`, { field: 'vhd.dynamicHeader.cookie' });
  const headerChecksumOk = vhdChecksum(hb, 36) === header.checksum;
  if (strict && !headerChecksumOk) throw badInput(FORMAT, 'dynamic disk header checksum is wrong', { field: 'vhd.dynamicHeader.checksum' });
  const bs = header.blockSize;
  if (bs < VHD_SECTOR || (bs & (bs - 1)) !== 0) throw badInput(FORMAT, `block size ${bs} is not a power of two of at least 512`, { field: 'vhd.dynamicHeader.blockSize' });
  if (header.maxTableEntries * bs < virtualSize) throw badInput(FORMAT, `${header.maxTableEntries} BAT entries of ${bs}-byte blocks cannot map ${virtualSize} bytes`);
  const bat = viewOf(await readExact(reader, Number(header.tableOffset), header.maxTableEntries * 4, FORMAT, 'block allocation table'));
  layout.dynamic = { header, headerChecksumOk, bat, blockSize: bs, bitmapBytes: vhdBitmapBytes(bs), entries: header.maxTableEntries, footerCopyMatches };
  return layout;
}

export interface VhdSource extends RangeSource {
  readonly layout: VhdLayout;
}

export async function openVhd(reader: RandomAccessReader): Promise<VhdSource> {
  const L = await readVhdLayout(reader);
  const size = L.virtualSize;
  if (!L.dynamic) {
    return {
      virtualSize: size,
      format: FORMAT,
      layout: L,
      async *ranges(): AsyncIterable<ByteRange> {
        if (size > 0) yield { offset: 0, length: size };
      },
      async *read(offset, length) {
        for (let at = 0; at < length; at += 4 << 20) yield await readExact(reader, offset + at, Math.min(4 << 20, length - at), FORMAT, 'data');
      },
      close: async () => {
        await reader.close?.();
      },
    };
  }
  const D = L.dynamic;
  const bs = D.blockSize;
  const blocks = Math.ceil(size / bs);
  const at = (b: number): number => {
    const e = D.bat.getUint32(b * 4, false);
    return e === VHD_BAT_UNUSED ? -1 : e * VHD_SECTOR + D.bitmapBytes;
  };
  return {
    virtualSize: size,
    format: FORMAT,
    layout: L,
    async *ranges(): AsyncIterable<ByteRange> {
      let runStart = -1;
      for (let b = 0; b < blocks; b++) {
        const data = at(b) >= 0;
        if (data && runStart < 0) runStart = b;
        else if (!data && runStart >= 0) {
          yield { offset: runStart * bs, length: b * bs - runStart * bs };
          runStart = -1;
        }
      }
      if (runStart >= 0) yield { offset: runStart * bs, length: size - runStart * bs };
    },
    async *read(offset, length) {
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const b = Math.floor(pos / bs);
        const inBlock = pos - b * bs;
        const n = Math.min(bs - inBlock, end - pos, 4 << 20);
        const host = at(b);
        yield host < 0 ? new Uint8Array(n) : await readExact(reader, host + inBlock, n, FORMAT, `block ${b}`);
        pos += n;
      }
    },
    close: async () => {
      await reader.close?.();
    },
  };
}
