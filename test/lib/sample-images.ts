/**
 * One deterministic tree written as every image kind and compressor imgkit ships, for comparing
 * the bytes across runtimes (test/runtimes.test.ts: Node 20 against the newest Node) and across
 * builds (test/bundle.test.ts: the same code bundled into a Node app). Each image is summarised by
 * its sha256; equal digests mean byte-identical images.
 *
 * The jobs cover what depends on the runtime's engines: node:zlib deflate (cpio gzip pieces with a
 * dictionary and sync flush, squashfs gzip one-shot blocks below level 9), pako's level 9, the
 * zstd wasm at the levels cpio and squashfs use (cpio frames cut at entry boundaries past 4 MiB,
 * the splice path for a file over 32 MiB, squashfs one-shot blocks with content size), xz (wasm,
 * CRC32, dictionary = block size), our lz4, and an ISO 9660 with Rock Ridge and Joliet.
 */
import { createHash } from 'node:crypto';
import { getDeflateEngine, memoryTree, MemorySink, withSink, type MemoryEntryInit, type SourceTree, type WorkerPool } from '@imgkit/core';
import { createNodePool } from '@imgkit/core/node';
import { writeCpio, type CpioCompression } from '@imgkit/cpio';
import { writeSquashfs, type SquashfsCompression } from '@imgkit/squashfs';
import { writeIso } from '@imgkit/iso9660';
import { xorshiftBytes } from './xorshift.ts';

export const SAMPLE_EPOCH = 1_700_000_000;

type Job =
  | { name: string; format: 'cpio'; compression: CpioCompression; level?: number; tree?: TreeSize }
  | { name: string; format: 'squashfs'; compression: SquashfsCompression; level?: number; blockSize?: number; tree?: TreeSize }
  | { name: string; format: 'iso' };
/** small: without the 5 MiB file (the slow codecs); big: plus a 40 MiB file. @default 'normal' */
type TreeSize = 'small' | 'normal' | 'big';

export const SAMPLE_JOBS: readonly Job[] = [
  { name: 'cpio-none', format: 'cpio', compression: 'none' },
  { name: 'cpio-gzip', format: 'cpio', compression: 'gzip' },
  { name: 'cpio-gzip-1', format: 'cpio', compression: 'gzip', level: 1 },
  { name: 'cpio-gzip-9', format: 'cpio', compression: 'gzip', level: 9, tree: 'small' },
  { name: 'cpio-zstd-1', format: 'cpio', compression: 'zstd', level: 1 },
  { name: 'cpio-zstd', format: 'cpio', compression: 'zstd' },
  { name: 'cpio-zstd-9', format: 'cpio', compression: 'zstd', level: 9 },
  { name: 'cpio-zstd-19', format: 'cpio', compression: 'zstd', level: 19, tree: 'small' },
  // a 40 MiB file: the frame goes out in 4 MiB pieces spliced into one frame (zstd-splice.ts)
  { name: 'cpio-zstd-splice', format: 'cpio', compression: 'zstd', tree: 'big' },
  { name: 'cpio-lz4', format: 'cpio', compression: 'lz4' },
  { name: 'cpio-xz', format: 'cpio', compression: 'xz', tree: 'small' },
  { name: 'squashfs-gzip', format: 'squashfs', compression: 'gzip', tree: 'small' },
  { name: 'squashfs-gzip-6', format: 'squashfs', compression: 'gzip', level: 6 },
  { name: 'squashfs-zstd', format: 'squashfs', compression: 'zstd' },
  { name: 'squashfs-zstd-3-1m', format: 'squashfs', compression: 'zstd', level: 3, blockSize: 1 << 20 },
  { name: 'squashfs-zstd-22', format: 'squashfs', compression: 'zstd', level: 22, tree: 'small' },
  { name: 'squashfs-lz4', format: 'squashfs', compression: 'lz4' },
  { name: 'squashfs-xz', format: 'squashfs', compression: 'xz', tree: 'small' },
  { name: 'iso', format: 'iso' },
];

/**
 * ~1.6 MiB of text-like and random files, many small ones (fragments), links; 'normal' adds one of
 * 5 MiB (a cpio zstd archive of two frames), 'big' one of 40 MiB more.
 */
function sampleEntries(size: TreeSize): MemoryEntryInit[] {
  const e: MemoryEntryInit[] = [
    { path: 'bin', kind: 'dir', mtime: SAMPLE_EPOCH - 50 },
    { path: 'etc', kind: 'dir', mode: 0o755, mtime: SAMPLE_EPOCH - 40 },
    { path: 'etc/hostname', kind: 'file', content: 'imgkit\n', mtime: SAMPLE_EPOCH - 30 },
    { path: 'etc/shadow', kind: 'file', mode: 0o600, content: 'root:*:19000:0:99999:7:::\n', uid: 0, gid: 42 },
    { path: 'bin/sh', kind: 'symlink', linkTarget: 'busybox' },
    { path: 'bin/busybox', kind: 'file', mode: 0o755, content: xorshiftBytes(256 << 10, 7, false), mtime: SAMPLE_EPOCH - 20 },
    { path: 'usr/lib/libsmall.so', kind: 'file', content: xorshiftBytes(200_000, 11, true) },
    { path: 'usr/lib/libsmall.so.1', kind: 'file', hardLinkTo: 'usr/lib/libsmall.so' },
    { path: 'usr/share/doc/readme', kind: 'file', content: xorshiftBytes(300_000, 13, true), uid: 1000, gid: 1000 },
    { path: 'usr/share/empty', kind: 'file', content: '' },
  ];
  for (let i = 0; i < 60; i++) {
    e.push({ path: `usr/share/small/f${String(i).padStart(2, '0')}`, kind: 'file', content: xorshiftBytes(100 + i * 137, 100 + i, i % 2 === 0) });
  }
  if (size !== 'small') e.push({ path: 'usr/lib/libbig.so', kind: 'file', content: xorshiftBytes(5 << 20, 19, true) });
  if (size === 'big') e.push({ path: 'var/big.img', kind: 'file', content: xorshiftBytes(40 << 20, 17, true) });
  return e;
}

/** Build every job's image (all of them, or the names given) and return sha256 hex by name. */
export async function buildSampleImages(pool: WorkerPool, only?: readonly string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const made = new Map<TreeSize, MemoryEntryInit[]>();
  const tree = (size: TreeSize = 'normal'): SourceTree => {
    if (!made.has(size)) made.set(size, sampleEntries(size));
    return memoryTree(made.get(size)!, { mtime: SAMPLE_EPOCH - 60 });
  };
  for (const job of SAMPLE_JOBS) {
    if (only && !only.includes(job.name)) continue;
    const sink = new MemorySink();
    if (job.format === 'cpio') {
      const o: Parameters<typeof writeCpio>[2] = { compression: job.compression, epoch: SAMPLE_EPOCH, pool };
      if (job.level !== undefined) o.level = job.level;
      await withSink(sink, (s) => writeCpio(tree(job.tree), s, o));
    } else if (job.format === 'squashfs') {
      const o: Parameters<typeof writeSquashfs>[2] = { compression: job.compression, epoch: SAMPLE_EPOCH, pool };
      if (job.level !== undefined) o.level = job.level;
      if (job.blockSize !== undefined) o.blockSize = job.blockSize;
      await withSink(sink, (s) => writeSquashfs(tree(job.tree), s, o));
    } else {
      await withSink(sink, (s) => writeIso(tree(), s, { epoch: SAMPLE_EPOCH, rockRidge: true, joliet: true }));
    }
    out[job.name] = createHash('sha256').update(sink.bytes()).digest('hex');
  }
  return out;
}

/** What a child process prints (sample-images-main.ts): the runtime, its deflate engine, the digests. */
export interface SampleReport {
  node: string;
  deflateEngine: string;
  workers: number;
  images: Record<string, string>;
}

export async function sampleReport(workers: number, only?: readonly string[]): Promise<SampleReport> {
  const pool = createNodePool({ workers });
  try {
    const images = await buildSampleImages(pool, only);
    return { node: process.version, deflateEngine: getDeflateEngine().name, workers, images };
  } finally {
    await pool.close();
  }
}
