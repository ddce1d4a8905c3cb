/**
 * VMDK descriptor ("Virtual Disk Format 5.0", "The Descriptor File"): a text file — embedded in a
 * monolithic sparse extent at `descriptorOffset` — with the header (version, CID, parentCID,
 * createType), the extent description and the disk database (ddb.*).
 */
import { badInput } from '../errors.js';

export type VmdkAdapterType = 'ide' | 'buslogic' | 'lsilogic' | 'legacyESX';

export interface DescriptorFields {
  /** Content ID, 32 bits. */
  cid: number;
  createType: 'streamOptimized' | 'monolithicSparse';
  capacitySectors: number;
  /** The extent file name (the .vmdk itself for a monolithic disk). */
  fileName: string;
  adapterType: VmdkAdapterType;
  /** ddb.virtualHWVersion. */
  hwVersion: number;
  /** ddb.uuid, "xx xx … xx-xx … xx" (16 bytes), optional. */
  uuid?: Uint8Array;
}

/** Descriptor text. Geometry as VMware and qemu write it: 63 sectors, 16 heads for IDE else 255. */
export function encodeDescriptor(d: DescriptorFields): string {
  const heads = d.adapterType === 'ide' ? 16 : 255;
  const cylinders = Math.min(Math.floor(d.capacitySectors / (heads * 63)), 16383);
  if (/["\n\r]/.test(d.fileName)) throw new RangeError(`VMDK extent file name ${JSON.stringify(d.fileName)} holds a quote or a line break`);
  const lines = [
    '# Disk DescriptorFile',
    'version=1',
    `CID=${(d.cid >>> 0).toString(16).padStart(8, '0')}`,
    'parentCID=ffffffff',
    `createType="${d.createType}"`,
    '',
    '# Extent description',
    `RW ${d.capacitySectors} SPARSE "${d.fileName}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    `ddb.virtualHWVersion = "${d.hwVersion}"`,
    `ddb.geometry.cylinders = "${cylinders}"`,
    `ddb.geometry.heads = "${heads}"`,
    'ddb.geometry.sectors = "63"',
    `ddb.adapterType = "${d.adapterType}"`,
  ];
  if (d.uuid) {
    const hex = [...d.uuid].map((b) => b.toString(16).padStart(2, '0'));
    lines.push(`ddb.uuid = "${hex.slice(0, 8).join(' ')}-${hex.slice(8).join(' ')}"`);
  }
  return `${lines.join('\n')}\n`;
}

export interface ParsedExtent {
  access: string;
  sectors: number;
  type: string;
  file: string;
  offset?: number;
}

export interface ParsedDescriptor {
  version: number;
  cid?: number;
  parentCid?: number;
  createType: string;
  extents: ParsedExtent[];
  ddb: Record<string, string>;
}

/** Parse a descriptor's text (NUL padding after it is ignored). */
export function parseDescriptor(text: string): ParsedDescriptor {
  const out: ParsedDescriptor = { version: 0, createType: '', extents: [], ddb: {} };
  const body = text.split('\0')[0]!;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ext = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?/.exec(line);
    if (ext) {
      const e: ParsedExtent = { access: ext[1]!, sectors: Number(ext[2]), type: ext[3]!, file: ext[4] ?? '' };
      if (ext[5] !== undefined) e.offset = Number(ext[5]);
      out.extents.push(e);
      continue;
    }
    const kv = /^([\w.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    if (key.startsWith('ddb.')) out.ddb[key] = value;
    else if (key === 'version') out.version = Number(value);
    else if (key === 'CID') out.cid = Number.parseInt(value, 16);
    else if (key === 'parentCID') out.parentCid = Number.parseInt(value, 16);
    else if (key === 'createType') out.createType = value;
  }
  if (out.createType === '') throw badInput('vmdk', 'the descriptor has no createType', { field: 'vmdk.descriptor.createType' });
  return out;
}
