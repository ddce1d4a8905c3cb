/**
 * The layout's schema: what a layout file may say, checked field by field. Every refusal is an
 * ImgkitError (E_BAD_OPTION unless said otherwise) whose `path` is the layout file, `line` the line
 * of the field (or of the nearest enclosing one that exists) and `field` the field in the file's
 * own notation (`partitions[1].size`, or `/partitions/1/size` for JSON). Unknown keys are refused
 * with the known ones listed, so a typo never silently becomes a default.
 *
 * Sizes and offsets: bytes (a number), or text with K/M/G/T (powers of 1024; KB/MB/GB/TB are powers
 * of 1000, as util-linux reads them); partition sizes also "25%" of the disk and "fill".
 */
import { ErrorCodes, ImgkitError, NoSpaceError, FieldRangeError, UnsupportedEntryError, SourceChangedError } from '@imgkit/core';
import { parseSize, type SizeSpec, type TableKind } from '@imgkit/partition';
import { dottedField, type LayoutPath, type LayoutText } from './text.js';

/** Options every directory source takes (as the CLI's --manifest, --all-root, --uid, --gid, --exclude). */
export interface SourceSpec {
  /** gen_init_cpio-style manifest (owners, modes, extra entries), relative to the layout file. */
  manifest?: string;
  /** Every entry owned by 0:0. @default false */
  allRoot?: boolean;
  uid?: number;
  gid?: number;
  /** Paths (relative to the source; `*` and `?` match within a name) left out with what is below them. */
  exclude?: string[];
}

export interface FatContentSpec extends SourceSpec {
  kind: 'fat';
  /** A directory, or an uncompressed tar archive (a regular file), relative to the layout file. */
  source: string;
  /** FAT type. @default as mkfs.fat picks it for the size */
  fatBits?: 12 | 16 | 32;
  /** Volume label (mkfs.fat -n). @default none */
  label?: string;
  /** Volume serial. @default derived from the epoch, the seed and the partition */
  volumeId?: number;
  /** Volume size when it is to be smaller than its partition. @default the partition's size */
  size?: number;
  /** Free space when the partition is sized from the tree: bytes or "N%". @default 0 */
  margin?: number | `${number}%`;
  /** Store what symlinks inside the tree point to instead of refusing them. @default false */
  dereference?: boolean;
  /** @default 'error' */
  invalidNames?: 'error' | 'replace';
}

export interface SquashfsContentSpec extends SourceSpec {
  kind: 'squashfs';
  source: string;
  /** @default 'gzip' */
  compression?: 'gzip' | 'zstd' | 'lz4' | 'xz';
  level?: number;
  /** @default 131072 */
  blockSize?: number;
  /** @default true */
  fragments?: boolean;
  /** @default true */
  duplicates?: boolean;
  /** @default true */
  exportTable?: boolean;
}

/** ext4 (as `imgkit ext4` / mke2fs names the options); the partition's size is the filesystem's. */
export interface Ext4ContentSpec extends SourceSpec {
  kind: 'ext4';
  /** A directory, or an uncompressed tar archive (a regular file), relative to the layout file. */
  source: string;
  /** Volume label (mke2fs -L), up to 16 bytes. @default none */
  label?: string;
  /** Filesystem UUID (mke2fs -U). @default derived from the epoch, the seed and the partition */
  uuid?: string;
  /** htree hash seed (mke2fs -E hash_seed=). @default derived from the epoch, the seed and the partition */
  hashSeed?: string;
  /** Feature switches as mke2fs -O takes them, e.g. "^metadata_csum,^64bit". @default Debian's ext4 set */
  features?: string;
  /** Block size (mke2fs -b). @default 4096 */
  blockSize?: 1024 | 2048 | 4096;
  /** Inode size (mke2fs -I). @default 256 */
  inodeSize?: number;
  /** Bytes per inode (mke2fs -i). @default 16384 */
  inodeRatio?: number;
  /** Inode count (mke2fs -N). @default from inodeRatio */
  inodes?: number;
  /** Blocks reserved for root, in percent (mke2fs -m). @default 5 */
  reservedPercent?: number;
  /** Free space when the partition is sized from the tree: bytes or "N%" of the tree. @default "10%" */
  margin?: number | `${number}%`;
  /** Free inodes when the partition is sized from the tree: a count or "N%" of the tree's. @default "10%" */
  inodeReserve?: number | `${number}%`;
}

export interface ImageContentSpec {
  kind: 'image';
  /** A file copied into the partition as it is (zero runs stay holes). */
  source: string;
}

export interface LayoutContentSpec {
  kind: 'layout';
  /** Another layout file, whose disk becomes this partition's content. */
  source: string;
}

export type ContentSpec = FatContentSpec | SquashfsContentSpec | Ext4ContentSpec | ImageContentSpec | LayoutContentSpec;

export interface LayoutPartitionSpec {
  /** GPT partition name (≤ 36 UTF-16 units); in an MBR only used in messages. */
  label?: string;
  /** A type name or the table's own code: MBR byte, GPT GUID. @default 'linux' */
  type?: string | number;
  /** @default the content's size, rounded up to the alignment (also what `auto` says) */
  size?: SizeSpec;
  /** Pin the start. @default after the previous partition, aligned */
  offset?: number | string;
  alignment?: number | string;
  bootable?: boolean;
  attributes?: (string | number)[];
  guid?: string;
  logical?: boolean;
  mbrType?: string | number;
  mbrOnly?: boolean;
  content?: ContentSpec;
}

export interface RawSpec {
  /** Bytes from the start of the disk. */
  offset: number | string;
  /** The file written there. */
  image: string;
}

export interface DiskLayoutSpec {
  table: TableKind;
  /** @default 512 */
  sectorSize?: 512 | 4096;
  /** Whole disk. @default the end of the last partition (plus the backup GPT), aligned */
  size?: number | string;
  /** @default 1M */
  alignment?: number | string;
  /** Seeds derived GUIDs, the MBR signature and FAT serials; give each disk of a build its own. @default '' */
  seed?: string;
  diskGuid?: string;
  diskSignature?: number;
  /** GPT entry array position in bytes (genimage's gpt-location), to make room for a boot loader at 8K. @default 1024 (LBA 2) */
  gptLocation?: number | string;
  /** MBR: slot n holds the extended partition and partitions n… are logical. */
  extendedPartition?: 1 | 2 | 3 | 4;
  /** Hybrid: where the 0xEE entry goes. @default 'after' */
  hybridProtective?: 'after' | 'first' | 'none';
  /** MBR boot code file (≤ 440 bytes, or a 512-byte sector whose table part is replaced). */
  bootCode?: string;
  partitions: LayoutPartitionSpec[];
  raw?: RawSpec[];
}

/** Where errors point: the file, and how a path inside it is named. */
export interface Locator {
  name: string | undefined;
  lineOf(path: LayoutPath): number | undefined;
  fieldName(path: LayoutPath): string;
}

export function locatorOf(text: LayoutText): Locator {
  return { name: text.name, lineOf: (p) => text.lineOf(p), fieldName: (p) => text.fieldName(p) };
}

/** For a layout given as an object (no file): fields only. */
export const NO_FILE: Locator = { name: undefined, lineOf: () => undefined, fieldName: dottedField };

/** An error located in the layout: `path` = the layout file, `line`, `field`; detail starts with the field. */
export function layoutError(loc: Locator, at: LayoutPath, code: ImgkitError['code'], detail: string, hint?: string, cause?: unknown): ImgkitError {
  const field = loc.fieldName(at);
  const line = loc.lineOf(at);
  const info = {
    format: 'disk',
    ...(loc.name !== undefined ? { path: loc.name } : {}),
    ...(line !== undefined ? { line } : {}),
    field,
    detail: `${field}: ${detail}`,
    ...(hint !== undefined ? { hint } : {}),
    ...(cause !== undefined ? { cause } : {}),
  };
  switch (code) {
    case ErrorCodes.NO_SPACE:
      return new NoSpaceError(info);
    case ErrorCodes.FIELD_RANGE:
      return new FieldRangeError(info);
    case ErrorCodes.UNSUPPORTED_ENTRY:
      return new UnsupportedEntryError(info);
    case ErrorCodes.SOURCE_CHANGED:
      return new SourceChangedError(info);
    default:
      return new ImgkitError(code, info);
  }
}

/** The same error, located at `at` in the layout (its code, class and hint kept; the original as `cause`). */
export function relocate(loc: Locator, at: LayoutPath, err: unknown, prefix = ''): unknown {
  if (!(err instanceof ImgkitError)) return err;
  const inner = err.path !== undefined && err.path !== '' ? `${err.path}: ` : '';
  return layoutError(loc, at, err.code, `${prefix}${inner}${err.detail}`, err.hint, err);
}

type Obj = Record<string, unknown>;

const TOP_KEYS = ['table', 'sectorSize', 'size', 'alignment', 'seed', 'diskGuid', 'diskSignature', 'gptLocation', 'extendedPartition', 'hybridProtective', 'bootCode', 'partitions', 'raw'] as const;
const PART_KEYS = ['label', 'type', 'size', 'offset', 'alignment', 'bootable', 'attributes', 'guid', 'logical', 'mbrType', 'mbrOnly', 'content'] as const;
const SOURCE_KEYS = ['manifest', 'allRoot', 'uid', 'gid', 'exclude'] as const;
const CONTENT_KEYS = {
  fat: ['fat', 'fatBits', 'label', 'volumeId', 'size', 'margin', 'dereference', 'invalidNames', ...SOURCE_KEYS],
  squashfs: ['squashfs', 'compression', 'level', 'blockSize', 'fragments', 'duplicates', 'exportTable', ...SOURCE_KEYS],
  ext4: ['ext4', 'label', 'uuid', 'hashSeed', 'features', 'blockSize', 'inodeSize', 'inodeRatio', 'inodes', 'reservedPercent', 'margin', 'inodeReserve', ...SOURCE_KEYS],
  image: ['image'],
  layout: ['layout'],
} as const;
const RAW_KEYS = ['offset', 'image'] as const;

/** Check a parsed layout document (or an object built in code) and return it typed. */
export function validateLayout(value: unknown, loc: Locator = NO_FILE): DiskLayoutSpec {
  const bad = (at: LayoutPath, detail: string, hint?: string) => layoutError(loc, at, ErrorCodes.BAD_OPTION, detail, hint);
  const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  const keysOf = (o: Obj, at: LayoutPath, known: readonly string[], what: string) => {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) throw bad([...at, k], `unknown key "${k}" in ${what}`, `known keys: ${known.join(', ')}`);
    }
  };
  const str = (o: Obj, k: string, at: LayoutPath): string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string' || v === '') throw bad([...at, k], `${JSON.stringify(v)} is not a non-empty string`);
    return v;
  };
  const bool = (o: Obj, k: string, at: LayoutPath): boolean | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') throw bad([...at, k], `${JSON.stringify(v)} is not true or false`);
    return v;
  };
  const int = (o: Obj, k: string, at: LayoutPath, min: number, max: number): number | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v.slice(2), 16) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) throw bad([...at, k], `${JSON.stringify(v)} is not a whole number from ${min} to ${max}`);
    return n;
  };
  const oneOf = <T extends string | number>(o: Obj, k: string, at: LayoutPath, choices: readonly T[]): T | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (!choices.includes(v as T)) throw bad([...at, k], `${JSON.stringify(v)} is not one of ${choices.join(', ')}`);
    return v as T;
  };
  /** A size or offset: checked now so the error points at the field. */
  const size = (o: Obj, k: string, at: LayoutPath, allow: { percent?: boolean; fill?: boolean } = {}): number | string | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' && typeof v !== 'string') throw bad([...at, k], `${JSON.stringify(v)} is not a size`);
    try {
      parseSize(v, dottedField([...at, k]), allow);
    } catch (err) {
      throw relocate(loc, [...at, k], err);
    }
    return v;
  };
  const bytes = (o: Obj, k: string, at: LayoutPath): number | undefined => {
    const v = size(o, k, at);
    if (v === undefined) return undefined;
    const p = parseSize(v, k);
    return p.kind === 'bytes' ? p.bytes : undefined;
  };
  /** Bytes (a size) or a percentage like "10%". */
  const bytesOrPercent = (o: Obj, k: string, at: LayoutPath): number | `${number}%` | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && /^\d+(\.\d+)?%$/.test(v)) return v as `${number}%`;
    const b = bytes(o, k, at);
    if (b === undefined) throw bad([...at, k], 'is neither bytes nor a percentage');
    return b;
  };
  const sourceOpts = (o: Obj, at: LayoutPath, into: SourceSpec) => {
    const manifest = str(o, 'manifest', at);
    if (manifest !== undefined) into.manifest = manifest;
    const allRoot = bool(o, 'allRoot', at);
    if (allRoot !== undefined) into.allRoot = allRoot;
    const uid = int(o, 'uid', at, 0, 0xffffffff);
    if (uid !== undefined) into.uid = uid;
    const gid = int(o, 'gid', at, 0, 0xffffffff);
    if (gid !== undefined) into.gid = gid;
    const ex = o.exclude;
    if (ex !== undefined && ex !== null) {
      const list = typeof ex === 'string' ? [ex] : ex;
      if (!Array.isArray(list) || list.some((x) => typeof x !== 'string' || x === '')) throw bad([...at, 'exclude'], 'is not a list of paths');
      into.exclude = list as string[];
    }
  };

  if (!isObj(value)) throw bad([], `a layout is a mapping with table and partitions, not ${value === null ? 'empty' : Array.isArray(value) ? 'a list' : typeof value}`, 'see the example in the @imgkit/disk README');
  keysOf(value, [], TOP_KEYS, 'the layout');
  const table = oneOf(value, 'table', [], ['gpt', 'mbr', 'hybrid'] as const);
  if (table === undefined) throw bad(['table'], 'the table kind is missing', 'give table: gpt, mbr or hybrid');
  const spec: DiskLayoutSpec = { table, partitions: [] };
  const ss = oneOf(value, 'sectorSize', [], [512, 4096] as const);
  if (ss !== undefined) spec.sectorSize = ss;
  const diskSize = size(value, 'size', []);
  if (diskSize !== undefined) spec.size = diskSize;
  const alignment = size(value, 'alignment', []);
  if (alignment !== undefined) spec.alignment = alignment;
  if (value.seed !== undefined && value.seed !== null) {
    if (typeof value.seed !== 'string' && typeof value.seed !== 'number') throw bad(['seed'], 'is not a string');
    spec.seed = String(value.seed);
  }
  const diskGuid = str(value, 'diskGuid', []);
  if (diskGuid !== undefined) spec.diskGuid = diskGuid;
  const sig = int(value, 'diskSignature', [], 0, 0xffffffff);
  if (sig !== undefined) spec.diskSignature = sig;
  const gptLocation = size(value, 'gptLocation', []);
  if (gptLocation !== undefined) spec.gptLocation = gptLocation;
  const ext = oneOf(value, 'extendedPartition', [], [1, 2, 3, 4] as const);
  if (ext !== undefined) spec.extendedPartition = ext;
  const hp = oneOf(value, 'hybridProtective', [], ['after', 'first', 'none'] as const);
  if (hp !== undefined) spec.hybridProtective = hp;
  const bootCode = str(value, 'bootCode', []);
  if (bootCode !== undefined) spec.bootCode = bootCode;

  const parts = value.partitions;
  if (!Array.isArray(parts) || parts.length === 0) throw bad(['partitions'], 'a layout needs a list of at least one partition', 'partitions: [ { label: root, type: linux, size: 1G } ]');
  parts.forEach((raw, i) => {
    const at: LayoutPath = ['partitions', i];
    if (!isObj(raw)) throw bad(at, 'a partition is a mapping (label, type, size, content, …)');
    keysOf(raw, at, PART_KEYS, 'a partition');
    const p: LayoutPartitionSpec = {};
    const label = raw.label;
    if (label !== undefined && label !== null) {
      if (typeof label !== 'string' && typeof label !== 'number') throw bad([...at, 'label'], 'is not a string');
      p.label = String(label);
    }
    const type = raw.type;
    if (type !== undefined && type !== null) {
      if (typeof type !== 'string' && typeof type !== 'number') throw bad([...at, 'type'], `${JSON.stringify(type)} is not a type name, MBR byte or GPT GUID`);
      p.type = type;
    }
    // `auto` says what leaving the size out says: the content's size.
    const sz = typeof raw.size === 'string' && raw.size.trim().toLowerCase() === 'auto' ? undefined : size(raw, 'size', at, { percent: true, fill: true });
    if (sz !== undefined) p.size = sz;
    const off = size(raw, 'offset', at);
    if (off !== undefined) p.offset = off;
    const al = size(raw, 'alignment', at);
    if (al !== undefined) p.alignment = al;
    for (const k of ['bootable', 'logical', 'mbrOnly'] as const) {
      const b = bool(raw, k, at);
      if (b !== undefined) p[k] = b;
    }
    if (raw.attributes !== undefined && raw.attributes !== null) {
      const list = Array.isArray(raw.attributes) ? raw.attributes : [raw.attributes];
      if (list.some((x) => typeof x !== 'string' && typeof x !== 'number')) throw bad([...at, 'attributes'], 'is not a list of attribute names or bit numbers');
      p.attributes = list as (string | number)[];
    }
    const guid = str(raw, 'guid', at);
    if (guid !== undefined) p.guid = guid;
    const mbrType = raw.mbrType;
    if (mbrType !== undefined && mbrType !== null) {
      if (typeof mbrType !== 'string' && typeof mbrType !== 'number') throw bad([...at, 'mbrType'], 'is not an MBR type name or byte');
      p.mbrType = mbrType;
    }
    const c = raw.content;
    if (c !== undefined && c !== null) {
      const cat: LayoutPath = [...at, 'content'];
      if (!isObj(c)) throw bad(cat, 'content is a mapping with one of fat, squashfs, ext4, image or layout');
      const kinds = (['fat', 'squashfs', 'ext4', 'image', 'layout'] as const).filter((k) => c[k] !== undefined);
      if (kinds.length !== 1) {
        throw bad(cat, kinds.length === 0 ? 'content names none of fat, squashfs, ext4, image, layout' : `content names ${kinds.join(' and ')}; give one`, 'e.g. content: { fat: boot/ } or content: { image: root.img }');
      }
      const kind = kinds[0]!;
      keysOf(c, cat, CONTENT_KEYS[kind], `${kind} content`);
      const source = str(c, kind, cat);
      if (source === undefined) throw bad([...cat, kind], 'the path is missing');
      if (kind === 'fat') {
        const f: FatContentSpec = { kind, source };
        const bits = oneOf(c, 'fatBits', cat, [12, 16, 32] as const);
        if (bits !== undefined) f.fatBits = bits;
        const l = c.label;
        if (l !== undefined && l !== null) {
          if (typeof l !== 'string' && typeof l !== 'number') throw bad([...cat, 'label'], 'is not a string');
          f.label = String(l);
        }
        const vid = int(c, 'volumeId', cat, 0, 0xffffffff);
        if (vid !== undefined) f.volumeId = vid;
        const fs = bytes(c, 'size', cat);
        if (fs !== undefined) f.size = fs;
        const m = bytesOrPercent(c, 'margin', cat);
        if (m !== undefined) f.margin = m;
        const d = bool(c, 'dereference', cat);
        if (d !== undefined) f.dereference = d;
        const inv = oneOf(c, 'invalidNames', cat, ['error', 'replace'] as const);
        if (inv !== undefined) f.invalidNames = inv;
        sourceOpts(c, cat, f);
        p.content = f;
      } else if (kind === 'squashfs') {
        const s: SquashfsContentSpec = { kind, source };
        const comp = oneOf(c, 'compression', cat, ['gzip', 'zstd', 'lz4', 'xz'] as const);
        if (comp !== undefined) s.compression = comp;
        const level = int(c, 'level', cat, 0, 22);
        if (level !== undefined) s.level = level;
        const bs = bytes(c, 'blockSize', cat);
        if (bs !== undefined) s.blockSize = bs;
        for (const k of ['fragments', 'duplicates', 'exportTable'] as const) {
          const b = bool(c, k, cat);
          if (b !== undefined) s[k] = b;
        }
        sourceOpts(c, cat, s);
        p.content = s;
      } else if (kind === 'ext4') {
        const e: Ext4ContentSpec = { kind, source };
        for (const k of ['label', 'uuid', 'hashSeed', 'features'] as const) {
          const v = c[k];
          if (v === undefined || v === null) continue;
          if (typeof v !== 'string' && typeof v !== 'number') throw bad([...cat, k], 'is not a string');
          e[k] = String(v);
        }
        const bs = oneOf(c, 'blockSize', cat, [1024, 2048, 4096] as const);
        if (bs !== undefined) e.blockSize = bs;
        for (const [k, min, max] of [['inodeSize', 128, 4096], ['inodeRatio', 1024, 67108864], ['inodes', 1, 0xffffffff]] as const) {
          const n = int(c, k, cat, min, max);
          if (n !== undefined) e[k] = n;
        }
        const rp = c.reservedPercent;
        if (rp !== undefined && rp !== null) {
          if (typeof rp !== 'number' || !(rp >= 0 && rp <= 50)) throw bad([...cat, 'reservedPercent'], `${JSON.stringify(rp)} is not a percentage from 0 to 50`);
          e.reservedPercent = rp;
        }
        const m = bytesOrPercent(c, 'margin', cat);
        if (m !== undefined) e.margin = m;
        const ir = c.inodeReserve;
        if (typeof ir === 'string' && /^\d+(\.\d+)?%$/.test(ir)) e.inodeReserve = ir as `${number}%`;
        else {
          const count = int(c, 'inodeReserve', cat, 0, 0xffffffff);
          if (count !== undefined) e.inodeReserve = count;
        }
        sourceOpts(c, cat, e);
        p.content = e;
      } else p.content = { kind, source };
    }
    spec.partitions.push(p);
  });

  const raw = value.raw;
  if (raw !== undefined && raw !== null) {
    if (!Array.isArray(raw)) throw bad(['raw'], 'raw is a list of { offset, image }');
    spec.raw = raw.map((r, j) => {
      const at: LayoutPath = ['raw', j];
      if (!isObj(r)) throw bad(at, 'a raw entry is a mapping { offset, image }');
      keysOf(r, at, RAW_KEYS, 'a raw entry');
      const offset = size(r, 'offset', at);
      if (offset === undefined) throw bad([...at, 'offset'], 'the offset is missing');
      const image = str(r, 'image', at);
      if (image === undefined) throw bad([...at, 'image'], 'the image file is missing');
      return { offset, image };
    });
  }
  return spec;
}
