/**
 * The report after a build: sizes, the per-format summary, the partition layout drawn to scale
 * (MBR and GPT entries as the image holds them, and the ISO volume) and the El Torito entries.
 * The layout and boot entries are decoded from the bytes the sink saw (track.ts), not from the
 * options, so they show what was written.
 */
import { decodeGptHeader, decodeGptName, decodeMbr, formatGuid, GptEntry, GPT_TYPES, MBR_TYPES } from '@imgkit/partition';
import { BootEntry, SectionHeader, ValidationEntry } from '@imgkit/iso9660';
import type { JobResult } from './jobs.js';
import type { Captured } from './track.js';

export interface Extent {
  /** Row: 'ISO 9660', 'MBR', 'GPT'. */
  table: string;
  label: string;
  offset: number;
  sizeBytes: number;
  detail: string;
}

export interface BootImage {
  platform: string;
  bootable: boolean;
  media: string;
  loadSectors: number;
  lba: number;
}

export interface Decoded {
  extents: Extent[];
  boot: BootImage[];
}

const SECTOR = 512;
const ISO_BLOCK = 2048;
const GPT_NAMES = new Map<string, string>(Object.entries(GPT_TYPES).map(([k, v]) => [v, k]));
const MBR_NAMES = new Map<number, string>([...Object.entries(MBR_TYPES).map(([k, v]) => [v, k] as [number, string]), [0xee, 'GPT protective']]);
const PLATFORMS: Record<number, string> = { 0: 'BIOS (x86)', 1: 'PowerPC', 2: 'Mac', 0xef: 'UEFI' };
const MEDIA: Record<number, string> = { 0: 'no emulation', 1: '1.2M floppy', 2: '1.44M floppy', 3: '2.88M floppy', 4: 'hard disk' };

/** Decode MBR, GPT, the ISO volume descriptor and the El Torito catalog from the captured bytes. */
export function decodeCaptured(c: Captured, result: JobResult): Decoded {
  const extents: Extent[] = [];
  const head = c.head;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);

  // ECMA-119 §8.4: the primary volume descriptor at block 16, volume space size (both-endian) at 80.
  const pvd = head.subarray(16 * ISO_BLOCK, 17 * ISO_BLOCK);
  if (pvd[0] === 1 && text(pvd.subarray(1, 6)) === 'CD001') {
    const blocks = new DataView(pvd.buffer, pvd.byteOffset).getUint32(80, true);
    extents.push({ table: 'ISO 9660', label: text(pvd.subarray(40, 72)).trim() || 'volume', offset: 0, sizeBytes: blocks * ISO_BLOCK, detail: `${blocks} blocks` });
  }
  // UEFI §5.2.1 legacy MBR: signature 0xAA55 at 510, four records at 446.
  if (head[510] === 0x55 && head[511] === 0xaa) {
    try {
      for (const r of decodeMbr(head.subarray(0, SECTOR)).records) {
        extents.push({
          table: 'MBR',
          label: `${r.slot}`,
          offset: r.startLba * SECTOR,
          sizeBytes: r.sectorCount * SECTOR,
          detail: [`type 0x${r.type.toString(16).padStart(2, '0')}`, MBR_NAMES.get(r.type), r.bootIndicator === 0x80 ? 'bootable' : undefined].filter(Boolean).join(', '),
        });
      }
    } catch {
      /* not an MBR after all (a FAT boot sector also ends in 0xAA55 and has no records that decode) */
    }
  }
  // UEFI §5.3.2 GPT header at LBA 1; the entry array where it says (inside the captured head).
  if (text(head.subarray(SECTOR, SECTOR + 8)) === 'EFI PART') {
    const h = decodeGptHeader(head.subarray(SECTOR, 2 * SECTOR));
    const at = Number(h.partitionEntryLba) * SECTOR;
    for (let i = 0; i < h.numberOfPartitionEntries; i++) {
      const o = at + i * h.sizeOfPartitionEntry;
      if (o + h.sizeOfPartitionEntry > head.byteLength) break;
      const e = GptEntry.decode(head, o);
      if (e.partitionTypeGuid.every((b) => b === 0)) continue;
      const type = formatGuid(e.partitionTypeGuid);
      const start = Number(e.startingLba);
      const end = Number(e.endingLba);
      extents.push({
        table: 'GPT',
        label: `${i + 1}${decodeGptName(e.partitionName) ? ` ${decodeGptName(e.partitionName)}` : ''}`,
        offset: start * SECTOR,
        sizeBytes: (end - start + 1) * SECTOR,
        detail: `${GPT_NAMES.get(type) ?? type}`,
      });
    }
  }

  // El Torito §2.1–2.4: validation entry, initial/default entry, then sections.
  const boot: BootImage[] = [];
  const cat = c.catalog;
  if (cat && ValidationEntry.decode(cat, 0).headerId === 1) {
    const v = ValidationEntry.decode(cat, 0);
    const entry = (o: number, platform: number) => {
      const e = BootEntry.decode(cat, o);
      boot.push({ platform: PLATFORMS[platform] ?? `0x${platform.toString(16)}`, bootable: e.bootIndicator === 0x88, media: MEDIA[e.mediaType & 0x0f] ?? String(e.mediaType), loadSectors: e.sectorCount, lba: e.loadRba });
    };
    entry(32, v.platformId);
    for (let o = 64; o + 32 <= cat.byteLength; ) {
      const s = SectionHeader.decode(cat, o);
      if (s.headerIndicator !== 0x90 && s.headerIndicator !== 0x91) break;
      for (let i = 0; i < s.entryCount; i++) entry(o + 32 * (i + 1), s.platformId);
      o += 32 * (s.entryCount + 1);
      if (s.headerIndicator === 0x91) break;
    }
  }
  if (extents.length === 0 && result.layout) {
    for (const p of result.layout.partitions) extents.push({ table: result.layout.table.toUpperCase(), label: `${p.number} ${p.name}`, offset: p.offset, sizeBytes: p.sizeBytes, detail: p.typeGuid ?? `0x${(p.mbrType ?? 0).toString(16)}` });
  }
  return { extents, boot };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Rows of the drawing: one per table, and more where its entries overlap (an isohybrid MBR's
 * partition 1 spans the whole ISO, the ESP inside it gets a row of its own).
 */
function lanes(extents: Extent[]): { table: string; items: Extent[] }[] {
  const rows: { table: string; items: Extent[] }[] = [];
  for (const table of [...new Set(extents.map((e) => e.table))]) {
    const mine: { table: string; items: Extent[] }[] = [];
    for (const e of extents.filter((x) => x.table === table).sort((a, b) => a.offset - b.offset)) {
      let lane = mine.find((r) => r.items.every((o) => o.offset + o.sizeBytes <= e.offset || e.offset + e.sizeBytes <= o.offset));
      if (!lane) mine.push((lane = { table, items: [] }));
      lane.items.push(e);
    }
    rows.push(...mine);
  }
  return rows;
}

/** The layout to scale: the whole image is the width; one row per table (more where entries overlap). */
export function layoutSvg(extents: Extent[], imageBytes: number): SVGElement {
  const rows = lanes(extents);
  const width = 760;
  const left = 80;
  const rowH = 30;
  const root = svg('svg', { viewBox: `0 0 ${width} ${rows.length * rowH + 22}`, width: '100%', role: 'img', 'aria-label': 'partition layout to scale', class: 'layout' });
  const scale = (width - left - 4) / Math.max(imageBytes, 1);
  rows.forEach((row, i) => {
    const y = i * rowH + 4;
    if (i === 0 || rows[i - 1]!.table !== row.table) root.append(svg('text', { x: 0, y: y + 17, class: 'row-label' }, row.table));
    root.append(svg('rect', { x: left, y, width: width - left - 4, height: rowH - 6, class: 'disk' }));
    for (const e of row.items) {
      const x = left + e.offset * scale;
      const w = Math.max(e.sizeBytes * scale, 2);
      const g = svg('g', { class: 'extent' });
      g.append(svg('title', {}, `${row.table} ${e.label}: ${e.detail}; bytes ${e.offset}…${e.offset + e.sizeBytes} (${formatBytes(e.sizeBytes)})`));
      g.append(svg('rect', { x, y, width: w, height: rowH - 6, class: `part t-${row.table.replace(/\W/g, '')}` }));
      if (w > 28) g.append(svg('text', { x: x + 3, y: y + 16, class: 'part-label' }, `${e.label} · ${formatBytes(e.sizeBytes)}`));
      root.append(g);
    }
  });
  const axisY = rows.length * rowH + 16;
  root.append(svg('text', { x: left, y: axisY, class: 'axis' }, '0'));
  root.append(svg('text', { x: width - 4, y: axisY, class: 'axis', 'text-anchor': 'end' }, formatBytes(imageBytes)));
  return root;
}

/** The whole report as a section element. */
export function renderReport(result: JobResult, decoded: Decoded, savedAs: string, seconds: number, warnings: string[]): HTMLElement {
  const box = el('section', { id: 'report-body' });
  box.append(el('h3', {}, `${savedAs}: ${formatBytes(result.outputBytes)} (${result.outputBytes} bytes) in ${seconds.toFixed(1)} s`));
  const t = el('table', { class: 'summary' });
  for (const [k, v] of result.summary) t.append(el('tr', {}, el('th', {}, k), el('td', {}, v)));
  box.append(t);
  if (decoded.extents.length > 0) {
    box.append(el('h4', {}, 'Layout (to scale)'));
    box.append(layoutSvg(decoded.extents, result.outputBytes));
    const lt = el('table', { class: 'extents' }, el('tr', {}, el('th', {}, 'table'), el('th', {}, 'entry'), el('th', {}, 'start'), el('th', {}, 'size'), el('th', {}, 'type')));
    for (const e of decoded.extents) lt.append(el('tr', {}, el('td', {}, e.table), el('td', {}, e.label), el('td', {}, String(e.offset)), el('td', {}, `${e.sizeBytes} (${formatBytes(e.sizeBytes)})`), el('td', {}, e.detail)));
    box.append(lt);
  }
  if (decoded.boot.length > 0) {
    box.append(el('h4', {}, 'El Torito boot entries'));
    const bt = el('table', { class: 'eltorito' }, el('tr', {}, el('th', {}, 'platform'), el('th', {}, 'bootable'), el('th', {}, 'emulation'), el('th', {}, 'load sectors'), el('th', {}, 'LBA')));
    for (const b of decoded.boot) bt.append(el('tr', {}, el('td', {}, b.platform), el('td', {}, b.bootable ? 'yes' : 'no'), el('td', {}, b.media), el('td', {}, String(b.loadSectors)), el('td', {}, String(b.lba))));
    box.append(bt);
  }
  if (warnings.length > 0) {
    box.append(el('h4', {}, 'Warnings'));
    box.append(el('pre', { class: 'warnings' }, warnings.join('\n')));
  }
  return box;
}
