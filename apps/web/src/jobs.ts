/**
 * One build: the picked input and a filled form in, one library call out, into a sink — the same
 * calls, in the same order, that the CLI's commands make (packages/cli/src/commands/*.ts), so the
 * page and `imgkit …` give the same bytes for the same tree, options and SOURCE_DATE_EPOCH.
 *
 * Source pipeline (the CLI's openSourceTree / applySourceFlags): forced owners, then the manifest
 * (its own entries dated SOURCE_DATE_EPOCH, or 0), then times newer than SOURCE_DATE_EPOCH clamped.
 */
import {
  applyManifest,
  applyOwnership,
  blobReader,
  ErrorCodes,
  ImgkitError,
  parseManifest,
  type ByteSink,
  type ImgkitWarning,
  type RandomAccessReader,
  type SourceTree,
  type WorkerPool,
} from '@imgkit/core';
import { writeCpio } from '@imgkit/cpio';
import { writeSquashfs } from '@imgkit/squashfs';
import { writeIso, type IsoResult } from '@imgkit/iso9660';
import { planFat } from '@imgkit/fat';
import { planDisk, type DiskLayout } from '@imgkit/partition';
import { imageNeedsSeekable, openImage, writeImage, type ImageFormat } from '@imgkit/vdisk';
import { featureNames, formatUuid, planExt4 } from '@imgkit/ext4';
import { excludeMatcher, layoutImageNeeds, planLayoutFile, writeLayoutImage } from '@imgkit/disk';
import { cpioOptions, epochOf, excludesOf, folder, ext4Options, fatOptions, imageOptions, isoOptions, outputDef, ownersOf, squashfsOptions, type OutputKind, type Values } from './options.js';
import { pickedLayoutFiles } from './layout-files.js';
import { fromFileList, pickedHostFiles, treeOf, type PickedInput } from './sources.js';
import { trackTree, type Counters } from './track.js';

export interface JobRequest {
  kind: OutputKind;
  /** The format's form and the source fields, by flag. */
  values: Values;
  /** Tree outputs: the picked folder or tar file. */
  input?: PickedInput;
  /** convert: the disk image file. */
  image?: File;
}

export interface JobEnv {
  pool: WorkerPool;
  signal: AbortSignal;
  counters: Counters;
  onWarning: (w: ImgkitWarning) => void;
}

export interface JobResult {
  kind: OutputKind;
  /** Bytes written to the sink. */
  outputBytes: number;
  /** The per-format summary, as label/value rows. */
  summary: [string, string][];
  /** A partition table the page wrote (FAT in a disk): drawn from the plan. */
  layout?: DiskLayout;
  iso?: IsoResult;
}

const COMPRESS_EXT: Record<string, string> = { gzip: '.gz', zstd: '.zst', lz4: '.lz4', xz: '.xz', none: '' };
const IMAGE_EXT: Record<string, string> = { qcow2: '.qcow2', vmdk: '.vmdk', vpc: '.vhd', vhdx: '.vhdx', ova: '.ova', raw: '.img' };

/** A file name for the output. */
export function outputName(req: JobRequest): string {
  const base = (req.image?.name ?? req.input?.name ?? 'image').replace(/\.(tar|img|raw|iso|qcow2|vmdk|vhdx?|ova)$/i, '') || 'image';
  const v = req.values;
  switch (req.kind) {
    case 'cpio':
      return `${base}.cpio${COMPRESS_EXT[String(v['--compress'] ?? 'gzip')] ?? ''}`;
    case 'squashfs':
      return `${base}.squashfs`;
    case 'iso':
      return `${base}.iso`;
    case 'fat':
      return `${base}.${v['table'] ? 'disk.img' : 'fat.img'}`;
    case 'convert':
      return `${base}${IMAGE_EXT[String(v['-O'] ?? 'qcow2')] ?? '.img'}`;
    case 'disk':
      return `${base}${IMAGE_EXT[String(v['--format'] ?? 'raw')] ?? '.img'}`;
    case 'ext4':
      return `${base}.ext4`;
    default:
      return `${base}.img`;
  }
}

/**
 * Why this output cannot go to a sink that only appends (a streamed download), or undefined when
 * it can. The writers refuse such a sink themselves; this lets the page say so before starting.
 */
export function seekableReason(req: JobRequest): string | undefined {
  if (req.kind === 'squashfs') return 'squashfs writes its superblock last, at the start of the image (it needs an output that can seek)';
  if (req.kind === 'convert') {
    const o = imageOptions(req.values);
    // The input file can be read twice, so table-first layouts stream (as the CLI's convert).
    if (imageNeedsSeekable(o, true)) return `${o.format === 'ova' ? 'OVA' : 'compressed qcow2'} patches earlier bytes (it needs an output that can seek)`;
  }
  if (req.kind === 'disk') {
    // The composer rehearses what patches (squashfs, the tables) and streams the rest in order.
    const o = imageOptions(req.values, '--format');
    if (layoutImageNeeds(o).seekableOutput) return `${o.format === 'ova' ? 'OVA' : 'compressed qcow2'} patches earlier bytes (it needs an output that can seek)`;
  }
  return undefined;
}

function needInput(req: JobRequest): PickedInput {
  if (!req.input) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'web', detail: 'pick a folder or a tar file first' });
  return req.input;
}

/** The source tree of a tree output, with the CLI's source flags applied (see the file comment). */
async function sourceTree(req: JobRequest, env: JobEnv, opts: { manifestMtime: number | undefined; clampTo: number | undefined }): Promise<SourceTree> {
  const input = needInput(req);
  let tree = applyOwnership(treeOf(input, excludeMatcher(excludesOf(req.values))), ownersOf(req.values));
  const manifestFile = req.values['--manifest'];
  if (manifestFile instanceof File) {
    const manifest = parseManifest(await manifestFile.text(), manifestFile.name, { onWarning: env.onWarning, strict: req.values['--strict'] === true });
    tree = applyManifest(tree, manifest, { hostFiles: pickedHostFiles(input), mtime: opts.manifestMtime ?? 0 });
  }
  if (opts.clampTo !== undefined) tree = applyOwnership(tree, { epoch: opts.clampTo });
  return trackTree(tree, env.counters, env.signal);
}

/** `-f` names (qemu-img's `vpc` is VHD). */
const INPUT_FORMATS: Record<string, ImageFormat> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vpc: 'vhd', vhdx: 'vhdx' };

const hex = (n: number, digits = 8) => n.toString(16).toUpperCase().padStart(digits, '0');

/** Run the job into `sink` (not closed: the caller's withSink does). */
export async function runJob(req: JobRequest, sink: ByteSink, env: JobEnv): Promise<JobResult> {
  const def = outputDef(req.kind);
  if (def.pending) throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'web', field: req.kind, detail: def.pending });
  const epoch = epochOf(req.values);
  const start = sink.position;
  const written = () => sink.position - start;

  switch (req.kind) {
    case 'cpio': {
      const o = cpioOptions(req.values);
      const tree = await sourceTree(req, env, { manifestMtime: epoch, clampTo: epoch });
      const earlyFiles = folder(req.values, '--early');
      if (earlyFiles) {
        // The CLI's openSourceTree(early, { allRoot: true }, epoch).
        const early = applyOwnership(treeOf(fromFileList(earlyFiles)), { allRoot: true });
        o.early = epoch !== undefined ? applyOwnership(early, { epoch }) : early;
      }
      const r = await writeCpio(tree, sink, { ...o, pool: env.pool, onWarning: env.onWarning, ...(epoch !== undefined ? { epoch } : {}) });
      return {
        kind: 'cpio',
        outputBytes: r.outputBytes,
        summary: [
          ['format', `cpio ${o.format} (${o.format === 'crc' ? '070702' : '070701'})${o.early ? ', after an uncompressed early archive' : ''}`],
          ['compression', `${o.compression}${o.level !== undefined ? ` level ${o.level}` : ''}`],
          ['entries', String(r.entries)],
          ['archive (uncompressed)', String(r.archiveBytes)],
          ['ratio', r.archiveBytes > 0 ? (r.outputBytes / r.archiveBytes).toFixed(3) : '—'],
        ],
      };
    }
    case 'squashfs': {
      const o = squashfsOptions(req.values);
      // The CLI: -mkfs-time (else SOURCE_DATE_EPOCH) dates the manifest's entries; the writer clamps.
      const tree = await sourceTree(req, env, { manifestMtime: o.mkfsTime ?? epoch, clampTo: undefined });
      const r = await writeSquashfs(tree, sink, { ...o, pool: env.pool, onWarning: env.onWarning, ...(epoch !== undefined ? { epoch } : {}) });
      return {
        kind: 'squashfs',
        outputBytes: written(),
        summary: [
          ['format', 'squashfs 4.0'],
          ['compression', `${o.compression}${o.level !== undefined ? ` level ${o.level}` : ''}`],
          ['block size', String(o.blockSize)],
          ['inodes', String(r.inodeCount)],
          ['fragments', String(r.fragmentCount)],
          ['duplicate files', String(r.duplicateFiles)],
          ['ids', String(r.idCount)],
          ['bytes used', String(r.bytesUsed)],
        ],
      };
    }
    case 'iso': {
      const o = await isoOptions(req.values);
      const tree = await sourceTree(req, env, { manifestMtime: epoch, clampTo: epoch });
      const r = await writeIso(tree, sink, { ...o, onWarning: env.onWarning, ...(epoch !== undefined ? { epoch } : {}) });
      const summary: [string, string][] = [
        ['format', `ISO 9660 level ${o.level ?? 3}${o.rockRidge === false ? '' : ', Rock Ridge'}${o.joliet ? `, Joliet${o.jolietLong ? ' (long)' : ''}` : ''}`],
        ['volume id', o.volumeId ?? 'ISOIMAGE'],
        ['volume', `${r.volumeBlocks} blocks of 2048 bytes`],
        ['hybrid', o.hybrid ?? 'none'],
      ];
      if (r.bootCatalogLba !== undefined) summary.push(['boot catalog', `LBA ${r.bootCatalogLba} (${o.catalogPath ?? 'boot.catalog'})`]);
      return { kind: 'iso', outputBytes: r.sizeBytes, summary, iso: r };
    }
    case 'fat': {
      const { options, table } = fatOptions(req.values);
      const tree = await sourceTree(req, env, { manifestMtime: epoch, clampTo: epoch });
      const plan = await planFat(tree, { ...options, onWarning: env.onWarning, ...(epoch !== undefined ? { epoch } : {}) });
      const summary: [string, string][] = [
        ['format', `FAT${plan.fatBits}`],
        ['clusters', `${plan.geometry.clusterCount} of ${plan.clusterBytes} bytes (${plan.usedClusters} used, ${plan.freeClusters} free)`],
        ['volume size', String(plan.sizeBytes)],
        ['volume id', hex(plan.volumeId)],
        ['label', plan.label ?? '(none)'],
        ['files / directories', `${plan.files} / ${plan.directories}`],
      ];
      if (!table) {
        await plan.write(sink);
        return { kind: 'fat', outputBytes: written(), summary };
      }
      // The FAT volume as the one partition of a GPT or MBR disk (what `imgkit disk` will generalise).
      const disk = planDisk({
        table,
        ...(epoch !== undefined ? { epoch } : {}),
        label: plan.label ?? 'imgkit',
        partitions: [{ name: plan.label ?? 'ESP', type: table === 'gpt' ? 'esp' : plan.fatBits === 32 ? 'fat32' : plan.fatBits === 16 ? 'fat16' : 'fat12', minSizeBytes: plan.sizeBytes, size: plan.sizeBytes }],
      });
      await disk.write(sink, { contents: [plan] });
      summary.unshift(['disk', `${table.toUpperCase()}, ${disk.sizeBytes} bytes`]);
      return { kind: 'fat', outputBytes: written(), summary, layout: disk.layout };
    }
    case 'convert': {
      const file = req.image;
      if (!file) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'web', detail: 'pick a disk image file first' });
      const o = imageOptions(req.values);
      if (epoch !== undefined) o.epoch = epoch;
      const reader = countingReader(blobReader(file), env);
      const given = req.values['-f'];
      const source = await openImage(reader, { path: file.name, ...(typeof given === 'string' && given !== '' ? { format: INPUT_FORMATS[given]! } : {}) });
      await writeImage(source, sink, { ...o, pool: env.pool });
      return {
        kind: 'convert',
        outputBytes: written(),
        summary: [
          ['input', `${source.format}, ${file.size} bytes`],
          ['output', `${o.format}${o.qcow2?.compress ? ' (compressed)' : ''}`],
          ['virtual size', String(source.virtualSize)],
        ],
      };
    }
    case 'ext4': {
      const o = ext4Options(req.values, epoch);
      // The CLI: the manifest's entries dated SOURCE_DATE_EPOCH (else 0); the writer clamps.
      const tree = await sourceTree(req, env, { manifestMtime: epoch, clampTo: undefined });
      const plan = await planExt4(tree, { ...o, onWarning: env.onWarning });
      await plan.write(sink);
      const g = plan.geometry;
      return {
        kind: 'ext4',
        outputBytes: written(),
        summary: [
          ['format', 'ext4'],
          ['blocks', `${plan.blocks} of ${plan.blockSize} bytes (${plan.freeBlocks} free, ${g.reservedBlocks} reserved)`],
          ['groups', String(g.groupCount)],
          ['inodes', `${plan.inodes} (${plan.freeInodes} free)`],
          ['journal', `${g.journalBlocks} blocks`],
          ['UUID', formatUuid(plan.uuid)],
          ['label', o.label ?? '(none)'],
          ['features', featureNames(plan.features).join(' ')],
        ],
      };
    }
    case 'disk': {
      const input = needInput(req);
      const { text, name } = await layoutText(req.values);
      const image = imageOptions(req.values, '--format');
      if (epoch !== undefined) image.epoch = epoch;
      const files = pickedLayoutFiles(input, { tree: (t) => trackTree(t, env.counters, env.signal), reader: (r) => countingReader(r, env) });
      const plan = await planLayoutFile(text, name, { files, pool: env.pool, onWarning: env.onWarning, strict: req.values['--strict'] === true, ...(epoch !== undefined ? { epoch } : {}) });
      let r;
      try {
        r = await writeLayoutImage(plan, sink, { ...image, pool: env.pool });
      } finally {
        await plan.close();
      }
      const l = r.layout;
      const summary: [string, string][] = [
        ['disk', `${l.table.toUpperCase()}, ${l.sizeBytes} bytes, ${l.sectorSize}-byte sectors${l.diskGuid ? `, GUID ${l.diskGuid}` : ''}`],
        ['image', `${r.format}${image.qcow2?.compress ? ' (compressed)' : ''}`],
      ];
      for (const p of r.partitions) summary.push([`partition ${p.number}${p.label ? ` ${p.label}` : ''}`, `${p.sizeBytes} bytes, ${p.content}${p.content !== 'none' ? ` (${p.contentBytes} bytes)` : ''}`]);
      if (r.rehearsed.length > 0) summary.push(['rehearsed', `partitions ${r.rehearsed.map((i) => i + 1).join(', ')} (the output takes the disk in order)`]);
      return { kind: 'disk', outputBytes: written(), summary, layout: l };
    }
    default:
      throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'web', field: req.kind, detail: `unknown output ${req.kind}` });
  }
}

/** The layout's text and name: a picked layout file, else the text area (JSON when it starts with "{"). */
async function layoutText(v: Values): Promise<{ text: string; name: string }> {
  const f = v['layout-file'];
  if (f instanceof File) return { text: await f.text(), name: f.name };
  const text = typeof v['layout'] === 'string' ? v['layout'] : '';
  if (text.trim() === '') throw new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'web', field: 'layout', detail: 'no layout given', hint: 'write a layout (YAML or JSON) in the text area or pick a layout file' });
  return { text, name: text.trimStart().startsWith('{') ? 'layout.json' : 'layout.yaml' };
}

/** Progress and cancel for a disk image read by offset. */
function countingReader(r: RandomAccessReader, env: JobEnv): RandomAccessReader {
  return {
    size: r.size,
    async read(offset, length) {
      if (env.signal.aborted) throw new DOMException('cancelled', 'AbortError');
      const b = await r.read(offset, length);
      env.counters.bytesRead += b.byteLength;
      return b;
    },
  };
}
