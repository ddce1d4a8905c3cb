/**
 * Compare two ISO images made from the same input by two tools (xorriso, the reference, and
 * imgkit) through what the reference tools report about them:
 *
 *   xorriso -indev X -report_el_torito plain -report_system_area plain
 *   fdisk -l X, sgdisk -p X, sgdisk -v X, isoinfo -d -i X, the ISO 9660 and Joliet name lists
 *   (isoinfo -f, isoinfo -J -f), the 512-byte MBR, and the trees bsdtar extracts.
 *
 * Two tools may lay files out in different orders, so an LBA, a partition start or a size in
 * sectors may differ between the images and still mean the same thing. A number that differs is
 * accepted only when both images explain it by the same relation to their own layout:
 *
 *   - the same anchor: `lba:/path` (the file's LBA, 2048-byte blocks, from
 *     `xorriso -find / -exec report_lba`), `lba4:/path` (in 512-byte sectors), `blk:/path`,
 *     `sec:/path` (its size in blocks / sectors), `cat` (the El Torito catalog), `vol` (volume
 *     blocks), `iso512` (ISO size in sectors), `img512` / `bytes` (whole image incl. appended
 *     partitions);
 *   - or the same small offset from a file anchor (|d| <= 8: e.g. --grub2-boot-info stores
 *     LBA*4+4 and LBA*4+5), or from a size anchor (|d| <= 4096: the backup GPT and "last usable
 *     sector" sit a fixed distance before the end).
 *
 * Everything else must be equal, including everything firmware reads: partition types, status
 * (bootable) bytes, which file or appended partition each partition and each El Torito entry
 * points at, load sizes, platform ids, the MBR boot code, GPT validity. The few normalisations are
 * listed where they are made, each with the reason it is legitimate.
 */
import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { requireTool, run } from './tools.ts';

export interface FileLba {
  lba: number;
  blocks: number;
  size: number;
}

export interface IsoFacts {
  image: string;
  sizeBytes: number;
  /** `-report_el_torito plain -report_system_area plain` (stdout lines). */
  report: string[];
  /** `-report_el_torito as_mkisofs`. */
  asMkisofs: string[];
  files: Map<string, FileLba>;
  fdisk: string[];
  sgdiskP: string[];
  sgdiskV: string[];
  isoinfo: string[];
  isoNames: string[];
  jolietNames: string[];
  mbr: Buffer;
}

const lines = (b: Buffer | string): string[] =>
  b
    .toString()
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .filter((l) => l !== '');

/** Everything the comparison needs from one image. */
export async function collectFacts(image: string): Promise<IsoFacts> {
  const xorriso = requireTool('xorriso', 'xorriso');
  const [rep, asm, find, fdisk, sgP, sgV, info, isoN, jolN, st] = await Promise.all([
    run(xorriso, ['-indev', image, '-report_el_torito', 'plain', '-report_system_area', 'plain']),
    run(xorriso, ['-indev', image, '-report_el_torito', 'as_mkisofs']),
    run(xorriso, ['-indev', image, '-find', '/', '-type', 'f', '-exec', 'report_lba']),
    run(requireTool('fdisk', 'fdisk'), ['-l', image], { allowFail: true }),
    run(requireTool('sgdisk', 'gdisk'), ['-p', image], { allowFail: true }),
    run(requireTool('sgdisk', 'gdisk'), ['-v', image], { allowFail: true }),
    run(requireTool('isoinfo', 'genisoimage'), ['-d', '-i', image]),
    run(requireTool('isoinfo', 'genisoimage'), ['-f', '-i', image]),
    run(requireTool('isoinfo', 'genisoimage'), ['-J', '-f', '-i', image], { allowFail: true }),
    stat(image),
  ]);
  const files = new Map<string, FileLba>();
  for (const l of lines(find.stdout)) {
    const m = /^File data lba:\s*\d+\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*'(.*)'$/.exec(l);
    if (m && !files.has(m[4]!)) files.set(m[4]!, { lba: Number(m[1]), blocks: Number(m[2]), size: Number(m[3]) });
  }
  const fh = await open(image, 'r');
  const mbr = Buffer.alloc(512);
  await fh.read(mbr, 0, 512, 0);
  await fh.close();
  return {
    image,
    sizeBytes: st.size,
    report: lines(rep.stdout),
    asMkisofs: lines(asm.stdout),
    files,
    fdisk: [...lines(fdisk.stdout), ...(fdisk.code !== 0 ? [`fdisk exit ${fdisk.code}`] : [])],
    sgdiskP: [...lines(sgP.stdout), `sgdisk -p exit ${sgP.code}`],
    sgdiskV: [...lines(sgV.stdout), `sgdisk -v exit ${sgV.code}`],
    isoinfo: lines(info.stdout),
    isoNames: lines(isoN.stdout).sort(),
    jolietNames: jolN.code === 0 ? lines(jolN.stdout).sort() : [`(isoinfo -J failed: ${jolN.stderr.trim().split('\n')[0]})`],
    mbr,
  };
}

/** Named numbers of one image's layout (see the top comment). */
export function anchorsOf(f: IsoFacts): Map<string, number> {
  const a = new Map<string, number>();
  const iso512 = f.report.map((l) => /^ISO image size\/512 :\s*(\d+)/.exec(l)).find(Boolean);
  const vol = f.isoinfo.map((l) => /^Volume size is:\s*(\d+)/.exec(l)).find(Boolean);
  if (vol) a.set('vol', Number(vol[1]));
  if (iso512) a.set('iso512', Number(iso512[1]));
  else if (vol) a.set('iso512', Number(vol[1]) * 4);
  a.set('img512', Math.ceil(f.sizeBytes / 512));
  a.set('bytes', f.sizeBytes);
  const cat = f.report.map((l) => /^El Torito catalog\s*:\s*(\d+)/.exec(l)).find(Boolean);
  if (cat) a.set('cat', Number(cat[1]));
  for (const [p, x] of f.files) {
    a.set(`lba:${p}`, x.lba);
    a.set(`lba4:${p}`, x.lba * 4);
    a.set(`blk:${p}`, x.blocks);
    a.set(`sec:${p}`, Math.ceil(x.size / 512));
  }
  return a;
}

const SIZE_ANCHORS = ['iso512', 'img512', 'vol', 'bytes'];

/** Why two numbers mean the same thing in their images, or undefined. */
export function relate(a: number, b: number, A: Map<string, number>, B: Map<string, number>): string | undefined {
  if (a === b) return '=';
  const named = (m: Map<string, number>, v: number) => [...m].filter(([, x]) => x === v).map(([k]) => k);
  const nb = new Set(named(B, b));
  const common = named(A, a).find((k) => nb.has(k));
  if (common) return common;
  for (const k of SIZE_ANCHORS) {
    const x = A.get(k);
    const y = B.get(k);
    if (x === undefined || y === undefined) continue;
    if (a - x === b - y && Math.abs(a - x) <= 4096) return `${k}${a - x >= 0 ? '+' : ''}${a - x}`;
  }
  for (const [k, x] of A) {
    if (!k.startsWith('lba')) continue;
    const y = B.get(k);
    if (y === undefined) continue;
    if (a - x === b - y && Math.abs(a - x) <= 8) return `${k}${a - x >= 0 ? '+' : ''}${a - x}`;
  }
  return undefined;
}

export interface CompareOptions {
  /** The command line sets the GPT disk GUID (NixOS gpt_disk_guid=): compare it exactly. */
  exactDiskGuid?: boolean;
  /** The command line sets the data preparer (-p/-preparer): compare it. */
  setsPreparer?: boolean;
  /** The command line sets the application id (-A/-appid): compare it. */
  setsAppId?: boolean;
}

const GUID_HEX = /^[0-9a-f]{32}$/;
const GUID_DASHED = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;
const isZeroGuid = (g: string) => /^[0-]+$/.test(g);

interface LineCtx {
  A: Map<string, number>;
  B: Map<string, number>;
  /** Tokens that are identities (GUIDs, disk signatures) may differ on this line. */
  identity: boolean;
}

/** Compare two report lines token by token; returns a problem or undefined. */
function compareLine(x: string, y: string, ctx: LineCtx): string | undefined {
  const tx = x.trim().split(/\s+/);
  const ty = y.trim().split(/\s+/);
  if (tx.length !== ty.length) return `xorriso: ${x}\n    imgkit:  ${y}`;
  const why: string[] = [];
  for (let i = 0; i < tx.length; i++) {
    const a = tx[i]!;
    const b = ty[i]!;
    if (a === b) continue;
    if (/^\d+,?$/.test(a) && /^\d+,?$/.test(b)) {
      const r = relate(parseInt(a, 10), parseInt(b, 10), ctx.A, ctx.B);
      if (r) continue;
      why.push(`${a} vs ${b} (no common relation)`);
      continue;
    }
    if (ctx.identity && ((GUID_HEX.test(a) && GUID_HEX.test(b)) || (GUID_DASHED.test(a) && GUID_DASHED.test(b)) || (/^0x[0-9a-f]{8}$/.test(a) && /^0x[0-9a-f]{8}$/.test(b)))) {
      if (isZeroGuid(b.replace(/^0x/, ''))) why.push(`${b} is all zero`);
      continue;
    }
    why.push(`${a} vs ${b}`);
  }
  return why.length ? `xorriso: ${x}\n    imgkit:  ${y}\n    (${why.join('; ')})` : undefined;
}

/** Key of a report line: its label (lines with the same label pair up in order). */
function lineKey(l: string): string {
  const m = /^([^:]+?)\s*:/.exec(l);
  return m ? m[1]! : l.replace(/\d+/g, '#');
}

/** Pair lines by key (in order) and compare each pair. */
function compareLineSets(what: string, xs: string[], ys: string[], ctx: (l: string) => LineCtx): string[] {
  const out: string[] = [];
  const used = new Set<number>();
  for (const x of xs) {
    const k = lineKey(x);
    const j = ys.findIndex((y, i) => !used.has(i) && lineKey(y) === k);
    if (j < 0) {
      out.push(`${what}: missing in imgkit's image: ${x}`);
      continue;
    }
    used.add(j);
    const p = compareLine(x, ys[j]!, ctx(x));
    if (p) out.push(`${what}: ${p}`);
  }
  ys.forEach((y, i) => {
    if (!used.has(i)) out.push(`${what}: only in imgkit's image: ${y}`);
  });
  return out;
}

/**
 * fdisk / sgdisk listings: the image path becomes IMAGE; derived columns are dropped: a
 * partition's End (= Start + Sectors - 1) and human-readable Size, the disk size in MiB, and
 * sgdisk's "Total free space" (the difference of numbers compared elsewhere). The numbers they are
 * derived from are still compared.
 */
function normalisePartitionListing(ls: string[], image: string): string[] {
  const base = basename(image);
  return ls.map((l0) => {
    // Column widths follow the length of the image's path: collapse runs of blanks.
    let l = l0.split(image).join('IMAGE').split(base).join('IMAGE').replace(/\s+/g, ' ').trim();
    l = l.replace(/^Disk IMAGE: [\d.]+ [KMGT]i?B, /, 'Disk IMAGE: ');
    l = l.replace(/^(Disk IMAGE: \d+ sectors), [\d.]+ [KMGT]i?B$/, '$1');
    l = l.replace(/^Total free space is .*$/, 'Total free space is (derived)');
    // fdisk rows: Device [Boot] Start End Sectors Size Id Type...
    let m = /^(IMAGE\d+) (\* )?(\d+) (\d+) (\d+) (\S+) (.*)$/.exec(l);
    if (m) return `${m[1]} ${m[2] ? '* ' : ''}${m[3]} ${m[5]} ${m[7]}`;
    // sgdisk -p rows: Number Start End Size(value unit) Code Name
    m = /^(\d+) (\d+) (\d+) [\d.]+ \S+ (\S+) ?(.*)$/.exec(l);
    if (m) return `${m[1]} ${m[2]} ${m[4]} ${m[5]}`.trim();
    return l;
  });
}

/**
 * isoinfo -d: the El Torito "Bootoff" prints the same LBA in hex and in decimal; the hex copy is
 * dropped. The data preparer and application ids are the creating tool's own name unless the
 * command line sets them (xorriso writes "XORRISO-1.5.4 …"): only then are they compared.
 */
function normaliseIsoinfo(ls: string[], o: CompareOptions): string[] {
  return ls.map((l) => {
    l = l.replace(/^(\s*Bootoff)\s+[0-9A-Fa-f]+\s+(\d+)$/, '$1 $2');
    if (!o.setsPreparer && /^Data preparer id:/.test(l)) return 'Data preparer id: (tool name)';
    if (!o.setsAppId && /^Application id:/.test(l)) return 'Application id: (tool name)';
    return l;
  });
}

/** Which report lines carry identities (GUIDs, disk signatures) rather than layout. */
function identityLine(l: string, o: CompareOptions): boolean {
  if (/GPT disk GUID|Disk identifier \(GUID\)|^Disk identifier: [0-9A-F-]{36}$/.test(l)) return !o.exactDiskGuid;
  // Partition GUIDs and the MBR disk signature: xorriso derives them from the volume date, imgkit
  // from its own hash; no firmware reads them, they only have to be unique.
  return /GPT partition GUID|Partition unique GUID|^Disk identifier: 0x/.test(l);
}

/** The MBR: boot code equal; differing fields explained by the layout; partition entries. */
function compareMbr(x: Buffer, y: Buffer, A: Map<string, number>, B: Map<string, number>): string[] {
  const out: string[] = [];
  // MBR boot code area (0..439): bytes equal, or a 32/64-bit field both images fill from their
  // layout (isohybrid: boot image LBA*4 at 432; GRUB boot_hybrid.img: core LBA*4+4 at 0x1b0).
  let i = 0;
  while (i < 440) {
    if (x[i] === y[i]) {
      i++;
      continue;
    }
    const start = i & ~3;
    let end = start + 4;
    while (end < 440 && end - start < 8 && x.subarray(end, end + 4).compare(y.subarray(end, end + 4)) !== 0) end += 4;
    const vx = end - start === 8 ? Number(x.readBigUInt64LE(start)) : x.readUInt32LE(start);
    const vy = end - start === 8 ? Number(y.readBigUInt64LE(start)) : y.readUInt32LE(start);
    const r = relate(vx, vy, A, B);
    if (!r) out.push(`MBR bytes ${start}..${end - 1}: xorriso ${x.subarray(start, end).toString('hex')} (${vx}), imgkit ${y.subarray(start, end).toString('hex')} (${vy}): no common relation`);
    i = end;
  }
  // 440..443 disk signature: an identity (see identityLine); 444..445 must be equal.
  if (x.readUInt16LE(444) !== y.readUInt16LE(444)) out.push(`MBR bytes 444..445: ${x.subarray(444, 446).toString('hex')} vs ${y.subarray(444, 446).toString('hex')}`);
  for (let n = 0; n < 4; n++) {
    const o = 446 + 16 * n;
    const px = x.subarray(o, o + 16);
    const py = y.subarray(o, o + 16);
    // CHS fields (bytes 1..3, 5..7) follow from the LBA fields and the geometry that the xorriso
    // report prints and compares ("MBR heads per cyl", "MBR secs per head").
    if (px[0] !== py[0]) out.push(`MBR partition ${n + 1} status: 0x${px[0]!.toString(16)} vs 0x${py[0]!.toString(16)}`);
    if (px[4] !== py[4]) out.push(`MBR partition ${n + 1} type: 0x${px[4]!.toString(16)} vs 0x${py[4]!.toString(16)}`);
    for (const [f, at] of [['start', 8], ['sectors', 12]] as const) {
      const a = px.readUInt32LE(at);
      const b = py.readUInt32LE(at);
      if (!relate(a, b, A, B)) out.push(`MBR partition ${n + 1} ${f}: ${a} vs ${b}: no common relation`);
    }
  }
  if (x.readUInt16LE(510) !== y.readUInt16LE(510)) out.push(`MBR signature: ${x.readUInt16LE(510).toString(16)} vs ${y.readUInt16LE(510).toString(16)}`);
  return out;
}

/** The 2048-byte sector holding the El Torito boot catalog (its LBA from the report). */
async function catalogSector(f: IsoFacts): Promise<Buffer | undefined> {
  const cat = anchorsOf(f).get('cat');
  if (cat === undefined) return undefined;
  const fh = await open(f.image, 'r');
  const b = Buffer.alloc(2048);
  await fh.read(b, 0, 2048, cat * 2048);
  await fh.close();
  return b;
}

/**
 * The boot catalogs, entry by entry (El Torito 1.0 §2): validation entry (header id, platform,
 * id string, checksum, 55 AA), the initial/default entry and every section header and entry
 * (boot indicator, platform, media type, load segment, system type, sector count, selection
 * criteria) byte for byte; only each entry's Load RBA (bytes 8..11) may differ, and only by the
 * same relation to the layout. Reading the catalog sector directly also covers hidden catalogs
 * (--boot-catalog-hide).
 */
export async function compareCatalogs(x: IsoFacts, y: IsoFacts): Promise<string[]> {
  const [cx, cy] = await Promise.all([catalogSector(x), catalogSector(y)]);
  if (!cx && !cy) return [];
  if (!cx || !cy) return [`boot catalog: ${cx ? 'missing' : 'present'} in imgkit's image, ${cx ? 'present' : 'missing'} in xorriso's`];
  const A = anchorsOf(x);
  const B = anchorsOf(y);
  const out: string[] = [];
  for (let o = 0; o < 2048; o += 32) {
    const ex = cx.subarray(o, o + 32);
    const ey = cy.subarray(o, o + 32);
    if (ex.every((b) => b === 0) && ey.every((b) => b === 0)) break;
    const isEntry = o > 0 && (ex[0] === 0x88 || ex[0] === 0x00) && !(ex[0] === 0 && ex.every((b) => b === 0));
    const head = (b: Buffer) => (isEntry ? Buffer.concat([b.subarray(0, 8), b.subarray(12)]) : b);
    if (!head(ex).equals(head(ey))) out.push(`boot catalog entry at byte ${o}: xorriso ${ex.toString('hex')}, imgkit ${ey.toString('hex')}`);
    if (isEntry && !relate(ex.readUInt32LE(8), ey.readUInt32LE(8), A, B)) out.push(`boot catalog entry at byte ${o}: load RBA ${ex.readUInt32LE(8)} vs ${ey.readUInt32LE(8)}: no common relation`);
  }
  return out;
}

/** All differences between xorriso's image facts `x` and imgkit's `y` (empty when equivalent). */
export function compareFacts(x: IsoFacts, y: IsoFacts, o: CompareOptions = {}): string[] {
  const A = anchorsOf(x);
  const B = anchorsOf(y);
  const ctx = (l: string): LineCtx => ({ A, B, identity: identityLine(l, o) });
  const out: string[] = [];
  out.push(...compareLineSets('xorriso report', x.report, y.report, ctx));
  out.push(...compareLineSets('fdisk -l', normalisePartitionListing(x.fdisk, x.image), normalisePartitionListing(y.fdisk, y.image), ctx));
  out.push(...compareLineSets('sgdisk -p', normalisePartitionListing(x.sgdiskP, x.image), normalisePartitionListing(y.sgdiskP, y.image), ctx));
  out.push(...compareLineSets('sgdisk -v', normalisePartitionListing(x.sgdiskV, x.image), normalisePartitionListing(y.sgdiskV, y.image), ctx));
  out.push(...compareLineSets('isoinfo -d', normaliseIsoinfo(x.isoinfo, o), normaliseIsoinfo(y.isoinfo, o), ctx));
  const names = (what: string, a: string[], b: string[]) => {
    const sb = new Set(b);
    const sa = new Set(a);
    for (const n of a) if (!sb.has(n)) out.push(`${what}: missing in imgkit's image: ${n}`);
    for (const n of b) if (!sa.has(n)) out.push(`${what}: only in imgkit's image: ${n}`);
  };
  names('ISO 9660 names (isoinfo -f)', x.isoNames, y.isoNames);
  names('Joliet names (isoinfo -J -f)', x.jolietNames, y.jolietNames);
  out.push(...compareMbr(x.mbr, y.mbr, A, B));
  return out;
}

// ---------------------------------------------------------------------------------------------
// El Torito entries, and the boot files patched with the image's own addresses

export interface EltoritoEntry {
  n: number;
  platform: string;
  loadSize: number;
  lba: number;
  path?: string;
  opts: string[];
}

/** The El Torito entries of a report. */
export function eltoritoEntries(report: string[]): EltoritoEntry[] {
  const out = new Map<number, EltoritoEntry>();
  for (const l of report) {
    let m = /^El Torito boot img :\s+(\d+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)\s+(\d+)/.exec(l);
    if (m) out.set(Number(m[1]), { n: Number(m[1]), platform: m[2]!, loadSize: Number(m[3]), lba: Number(m[4]), opts: [] });
    m = /^El Torito img path :\s+(\d+)\s+(.*)$/.exec(l);
    if (m && out.has(Number(m[1]))) out.get(Number(m[1]))!.path = m[2]!.trim();
    m = /^El Torito img opts :\s+(\d+)\s+(.*)$/.exec(l);
    if (m && out.has(Number(m[1]))) out.get(Number(m[1]))!.opts = m[2]!.trim().split(/\s+/);
  }
  return [...out.values()];
}

export interface PatchCheck {
  /** ISO path of the patched boot file. */
  path: string;
  /** Byte ranges the tool fills from its own layout (masked when content is compared). */
  ranges: [number, number][];
  /** Problems with the patched values in this image. */
  problems: string[];
}

/**
 * Verify in one image the bytes that -boot-info-table and --grub2-boot-info write into boot files
 * (mkisofs(8) "-boot-info-table": bytes 8..63 = PVD LBA, file LBA, file length, checksum of the
 * 32-bit words from byte 64 on; xorrisofs(1) "--grub2-boot-info": the 64-bit LBA*4+5 at byte
 * 2548), so a file comparison may then mask exactly those ranges.
 */
export async function checkPatchedBootFiles(f: IsoFacts, extracted: string): Promise<PatchCheck[]> {
  const out: PatchCheck[] = [];
  for (const e of eltoritoEntries(f.report)) {
    if (!e.path || !f.files.has(e.path)) continue;
    const lba = f.files.get(e.path)!.lba;
    const data = await readFile(`${extracted}${e.path}`);
    const c: PatchCheck = { path: e.path, ranges: [], problems: [] };
    if (e.opts.includes('boot-info-table')) {
      c.ranges.push([8, 64]);
      if (data.readUInt32LE(8) !== 16) c.problems.push(`boot-info-table PVD LBA ${data.readUInt32LE(8)}, expected 16`);
      if (data.readUInt32LE(12) !== lba) c.problems.push(`boot-info-table file LBA ${data.readUInt32LE(12)}, expected ${lba}`);
      if (data.readUInt32LE(16) !== data.length) c.problems.push(`boot-info-table length ${data.readUInt32LE(16)}, expected ${data.length}`);
      let sum = 0;
      const padded = Buffer.concat([data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
      for (let i = 64; i < padded.length; i += 4) sum = (sum + padded.readUInt32LE(i)) >>> 0;
      if (data.readUInt32LE(20) !== sum) c.problems.push(`boot-info-table checksum ${data.readUInt32LE(20)}, expected ${sum}`);
    }
    if (e.opts.includes('grub2-boot-info')) {
      c.ranges.push([2548, 2556]);
      const v = Number(data.readBigUInt64LE(2548));
      if (v !== lba * 4 + 5) c.problems.push(`grub2-boot-info value ${v} at 2548, expected LBA*4+5 = ${lba * 4 + 5}`);
    }
    if (c.ranges.length) out.push(c);
  }
  return out;
}

/** sha256 of a file with byte ranges zeroed. */
export async function maskedSha256(path: string, ranges: [number, number][]): Promise<string> {
  const data = Buffer.from(await readFile(path));
  for (const [a, b] of ranges) data.fill(0, Math.min(a, data.length), Math.min(b, data.length));
  return createHash('sha256').update(data).digest('hex');
}

/** A readable block of problems, or '' when there are none. */
export function formatProblems(title: string, problems: string[], max = 80): string {
  if (problems.length === 0) return '';
  return `${title} (${problems.length}):\n  ${problems.slice(0, max).join('\n  ')}${problems.length > max ? `\n  … ${problems.length - max} more` : ''}`;
}
