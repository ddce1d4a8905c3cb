/**
 * VM disk containers through @imgkit/vdisk: the header fields qemu-img info shows (qcow2 header,
 * VMDK sparse header and descriptor, VHD footer and dynamic header, VHDX metadata), the checker's
 * findings (`checkImage`: refcounts, tables, checksums, truncation), and the virtual disk as a
 * reader for the next level. An OVA (a ustar archive: .ovf, .vmdk, .mf) is opened member by member.
 */
import { parseTarNumber, TarHeader, type RandomAccessReader } from '@imgkit/core';
import {
  checkImage,
  openImage,
  readQcow2Header,
  readVhdLayout,
  readVhdxLayout,
  readVmdkLayout,
  type CheckReport,
  type ImageFormat,
} from '@imgkit/vdisk';
import { ascii, errorText, sourceReader, trimText, windowReader } from './io.js';
import { defect, incomplete, node, type FieldValue, type InspectNode } from './report.js';

const QCOW2_INCOMPAT = ['dirty', 'corrupt', 'external-data-file', 'compression-type', 'extended-l2'];
const QCOW2_COMPAT = ['lazy-refcounts'];

async function containerFields(reader: RandomAccessReader, format: ImageFormat): Promise<Record<string, FieldValue>> {
  switch (format) {
    case 'qcow2': {
      const h = await readQcow2Header(reader);
      const bits = (mask: bigint, names: string[]) => names.filter((_, i) => mask & (1n << BigInt(i)));
      return {
        version: h.version,
        compat: h.version === 2 ? '0.10' : '1.1',
        virtualSize: h.size,
        clusterSize: h.clusterSize,
        compressionType: h.compressionType === 1 ? 'zstd' : 'zlib',
        refcountBits: 2 ** h.refcountOrder,
        l1Entries: h.l1Size,
        snapshots: h.nbSnapshots,
        incompatibleFeatures: bits(h.incompatibleFeatures, QCOW2_INCOMPAT),
        compatibleFeatures: bits(h.compatibleFeatures, QCOW2_COMPAT),
      };
    }
    case 'vmdk': {
      const l = await readVmdkLayout(reader);
      return {
        createType: l.descriptor.createType,
        cid: l.descriptor.cid !== undefined ? l.descriptor.cid.toString(16).padStart(8, '0') : null,
        parentCid: l.descriptor.parentCid !== undefined ? l.descriptor.parentCid.toString(16).padStart(8, '0') : null,
        version: l.header.version,
        virtualSize: l.capacity,
        grainBytes: l.grainBytes,
        compressed: l.compressed,
        adapterType: l.descriptor.ddb['ddb.adapterType'] ?? null,
        hwVersion: l.descriptor.ddb['ddb.virtualHWVersion'] ?? null,
        extents: l.descriptor.extents.map((e) => `${e.access} ${e.sectors} ${e.type} "${e.file}"`),
      };
    }
    case 'vhd': {
      const l = await readVhdLayout(reader, false);
      const f = l.footer;
      return {
        subformat: l.diskType === 2 ? 'fixed' : l.diskType === 3 ? 'dynamic' : l.diskType === 4 ? 'differencing' : `type ${l.diskType}`,
        virtualSize: l.virtualSize,
        creatorApplication: trimText(ascii(f.creatorApplication, 0, 4)),
        geometry: `${f.cylinders}/${f.heads}/${f.sectorsPerTrack}`,
        blockSize: l.dynamic ? l.dynamic.blockSize : null,
        uuid: [...f.uniqueId].map((b) => b.toString(16).padStart(2, '0')).join('').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
      };
    }
    case 'vhdx': {
      const l = await readVhdxLayout(reader);
      return {
        virtualSize: l.virtualSize,
        blockSize: l.blockSize,
        logicalSectorSize: l.logicalSectorSize,
        physicalSectorSize: l.physicalSectorSize,
        subformat: l.leaveBlocksAllocated ? 'fixed' : 'dynamic',
        hasParent: l.hasParent,
      };
    }
    default:
      return {};
  }
}

function addCheck(n: InspectNode, format: string, r: CheckReport): void {
  for (const e of r.errors) defect(n, `vdisk.${format}`, e);
  for (const l of r.leaks) n.findings.push({ severity: 'leak', field: `vdisk.${format}`, message: l });
  if (r.incomplete !== undefined) incomplete(n, `vdisk.${format}`, r.incomplete);
}

/** A VM container and its virtual disk (inspected by `inner`). */
export async function inspectContainer(
  reader: RandomAccessReader,
  offset: number,
  format: ImageFormat,
  inner: (disk: RandomAccessReader) => Promise<InspectNode>,
): Promise<InspectNode> {
  const n = node(format, offset, reader.size, { format: format === 'vhd' ? 'vpc' : format });
  try {
    Object.assign(n.fields, await containerFields(reader, format));
  } catch (err) {
    defect(n, `vdisk.${format}.header`, errorText(err));
    return n;
  }
  try {
    addCheck(n, format, await checkImage(reader, format));
  } catch (err) {
    incomplete(n, `vdisk.${format}`, `the check could not run: ${errorText(err)}`);
  }
  let source;
  try {
    source = await openImage(reader, { format });
  } catch (err) {
    defect(n, `vdisk.${format}`, `the virtual disk cannot be read: ${errorText(err)}`);
    return n;
  }
  const child = await inner(sourceReader(source));
  child.name ??= 'virtual disk';
  n.children.push(child);
  return n;
}

/** ustar members: name, data offset and size (pax "ustar Interchange Format"). */
export async function tarMembers(reader: RandomAccessReader, limit = 64): Promise<{ name: string; offset: number; size: number }[]> {
  const out: { name: string; offset: number; size: number }[] = [];
  for (let at = 0; at + 512 <= reader.size && out.length < limit; ) {
    const b = await reader.read(at, 512);
    if (b.every((x) => x === 0)) break;
    const h = TarHeader.decode(b);
    const name = trimText(new TextDecoder().decode(h.name.subarray(0, h.name.indexOf(0) < 0 ? 100 : h.name.indexOf(0))));
    const size = parseTarNumber(h.size, 'size', at);
    out.push({ name, offset: at + 512, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Whether a tar archive's first member is an OVF descriptor (DSP0243 §5.3: the .ovf comes first). */
export async function looksLikeOva(reader: RandomAccessReader, head: Uint8Array): Promise<boolean> {
  if (head.byteLength < 512 || ascii(head, 257, 5) !== 'ustar') return false;
  const name = ascii(head, 0, 100).split('\0')[0]!;
  return name.toLowerCase().endsWith('.ovf') && reader.size > 1024;
}

const tag = (xml: string, re: RegExp): string | null => re.exec(xml)?.[1]?.trim() ?? null;

/** OVF 1.0 envelope (DSP0243): the few fields a summary needs, and each disk member inspected. */
export async function inspectOva(reader: RandomAccessReader, offset: number, inner: (r: RandomAccessReader, offset: number) => Promise<InspectNode>): Promise<InspectNode> {
  const n = node('ova', offset, reader.size);
  const members = await tarMembers(reader);
  n.fields.members = members.map((m) => m.name);
  const ovf = members.find((m) => m.name.toLowerCase().endsWith('.ovf'));
  if (ovf) {
    const xml = new TextDecoder().decode(await reader.read(ovf.offset, Math.min(ovf.size, 1 << 20)));
    // CIM RASD ResourceType 3 = processor, 4 = memory (DSP0243 / CIM_ResourceAllocationSettingData).
    const items = xml.split(/<Item>|<ovf:Item>/).slice(1);
    const quantity = (type: number) => {
      const it = items.find((i) => new RegExp(`ResourceType>\\s*${type}\\s*<`).test(i));
      return it ? tag(it, /VirtualQuantity>([^<]*)</) : null;
    };
    Object.assign(n.fields, {
      name: tag(xml, /<VirtualSystem[^>]*ovf:id="([^"]*)"/),
      osType: tag(xml, /vmw:osType="([^"]*)"/),
      cpus: quantity(3) !== null ? Number(quantity(3)) : null,
      memoryMiB: quantity(4) !== null ? Number(quantity(4)) : null,
      firmware: tag(xml, /vmw:key="firmware"\s+vmw:value="([^"]*)"/),
      diskCapacity: tag(xml, /ovf:capacity="([^"]*)"/) !== null ? Number(tag(xml, /ovf:capacity="([^"]*)"/)) : null,
    });
    const files = [...xml.matchAll(/<File[^>]*ovf:href="([^"]*)"[^>]*ovf:size="(\d+)"/g)];
    for (const [, href, size] of files) {
      const m = members.find((x) => x.name === href);
      if (!m) defect(n, 'ova.references', `the OVF references "${href}", which the archive does not hold`);
      else if (Number(size) !== m.size) defect(n, 'ova.references', `the OVF gives "${href}" ${size} bytes; the member has ${m.size}`);
    }
  } else defect(n, 'ova.ovf', 'no .ovf descriptor in the archive');
  for (const m of members) {
    if (!m.name.toLowerCase().endsWith('.vmdk')) continue;
    const child = await inner(windowReader(reader, m.offset, m.size), offset + m.offset);
    child.name = m.name;
    n.children.push(child);
  }
  return n;
}
