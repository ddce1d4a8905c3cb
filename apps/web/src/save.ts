/**
 * Where an image goes, best first:
 *
 *   'file'      File System Access API: showSaveFilePicker() → a writable stream that seeks
 *               (squashfs patches its superblock, qcow2 its tables). Written to the browser's swap
 *               file and moved into place on close(); abort() discards it, and the file the picker
 *               created is removed where the browser can (FileSystemHandle.remove()).
 *   'opfs'      Origin Private File System: the same writable in the page's private storage, then
 *               offered as a download of that file (disk-backed: nothing held in memory). Removed
 *               on cancel or error, and when the next image replaces it.
 *   'memory'    A Blob built from parts: each 8 MiB of output becomes a Blob (the browser may keep
 *               it in memory or page it to disk), a patch of earlier bytes re-slices the parts.
 *               Limited to MEMORY_LIMIT_BYTES.
 *   'stream'    A streamed download through the service worker (no size limit, nothing held):
 *               written in order only, so writers that seek back (squashfs, qcow2 without a known
 *               allocation, OVA) refuse it and say so.
 * All are ByteSinks for withSink(): close() commits, abort() leaves nothing that looks valid.
 */
import { ErrorCodes, ImgkitError, NoSpaceError, type ByteSink } from '@imgkit/core';

export type SaveTarget = 'file' | 'opfs' | 'memory' | 'stream';

/** The in-memory download's limit: the browser's blob storage, not the tab's heap, holds it. */
export const MEMORY_LIMIT_BYTES = 2 * 1024 ** 3;

/** Once saved: what the page offers. */
export interface Saved {
  name: string;
  /** The saved bytes, when they can be read back (report, download link). */
  file?: Blob;
  /** True when the browser already put it in place (picker) or is downloading it (stream). */
  inPlace: boolean;
}

export interface SaveSink extends ByteSink {
  readonly target: SaveTarget;
  /** After close(): the result. */
  saved(): Promise<Saved>;
}

// Chromium's File System Access API, not in TypeScript's DOM library.
interface WritableFile {
  write(data: { type: 'write'; position: number; data: Uint8Array } | { type: 'truncate'; size: number }): Promise<void>;
  close(): Promise<void>;
  abort(reason?: unknown): Promise<void>;
}
interface FileHandle {
  readonly name: string;
  createWritable(o?: { keepExistingData?: boolean }): Promise<WritableFile>;
  getFile(): Promise<File>;
  remove?(): Promise<void>;
}
type SavePicker = (o: { suggestedName?: string }) => Promise<FileHandle>;

export function availableTargets(): SaveTarget[] {
  const g = globalThis as { showSaveFilePicker?: unknown; navigator?: { storage?: { getDirectory?: unknown }; serviceWorker?: { controller?: unknown } } };
  const out: SaveTarget[] = [];
  if (typeof g.showSaveFilePicker === 'function') out.push('file');
  if (typeof g.navigator?.storage?.getDirectory === 'function') out.push('opfs');
  out.push('memory');
  if (g.navigator?.serviceWorker?.controller) out.push('stream');
  return out;
}

/** A seekable sink over a File System Access writable (picker or OPFS). */
class WritableSink implements SaveSink {
  readonly seekable = true;
  private pos = 0;
  constructor(
    readonly target: 'file' | 'opfs',
    private readonly handle: FileHandle,
    private readonly writable: WritableFile,
    private readonly removeFile: () => Promise<void>,
  ) {}
  get position(): number {
    return this.pos;
  }
  async write(chunk: Uint8Array): Promise<void> {
    // The stream copies the bytes before write() resolves, so callers may reuse their buffers.
    await this.writable.write({ type: 'write', position: this.pos, data: chunk });
    this.pos += chunk.byteLength;
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    if (offset < 0 || offset + chunk.byteLength > this.pos) throw new RangeError(`writeAt ${offset}+${chunk.byteLength} is outside the ${this.pos} bytes written`);
    await this.writable.write({ type: 'write', position: offset, data: chunk });
  }
  async writeZeros(length: number): Promise<void> {
    // Extending the file with truncate leaves a hole where the file system allows it.
    this.pos += length;
    await this.writable.write({ type: 'truncate', size: this.pos });
  }
  async close(): Promise<void> {
    await this.writable.close();
  }
  async abort(reason?: unknown): Promise<void> {
    try {
      await this.writable.abort(reason);
    } finally {
      await this.removeFile().catch(() => {});
    }
  }
  async saved(): Promise<Saved> {
    return { name: this.handle.name, file: await this.handle.getFile(), inPlace: this.target === 'file' };
  }
}

/** Ask where to save (needs the click's user activation: call it first in the click handler). */
export async function pickFileSink(suggestedName: string): Promise<SaveSink> {
  const picker = (globalThis as { showSaveFilePicker?: SavePicker }).showSaveFilePicker;
  if (!picker) throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'web', detail: 'this browser has no File System Access API (showSaveFilePicker)', hint: 'choose another way to save' });
  const handle = await picker({ suggestedName });
  const writable = await handle.createWritable({ keepExistingData: false });
  return new WritableSink('file', handle, writable, async () => handle.remove?.());
}

/** The folder of the page's images in the origin's private file system. */
const OPFS_DIR = 'imgkit-images';

export async function opfsSink(name: string): Promise<SaveSink> {
  const root = await navigator.storage.getDirectory();
  const dir = await root.getDirectoryHandle(OPFS_DIR, { create: true });
  // One image at a time: the previous ones go, so the private storage does not fill up.
  for await (const key of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) await dir.removeEntry(key).catch(() => {});
  const handle = (await dir.getFileHandle(name, { create: true })) as unknown as FileHandle;
  const writable = await handle.createWritable({ keepExistingData: false });
  return new WritableSink('opfs', handle, writable, () => dir.removeEntry(name));
}

/** Remove every image the page left in its private storage. */
export async function clearOpfs(): Promise<void> {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(OPFS_DIR, { recursive: true }).catch(() => {});
}

/** The in-memory download: Blob parts, patched by re-slicing. */
export class BlobSink implements SaveSink {
  readonly target = 'memory';
  readonly seekable = true;
  private parts: { at: number; blob: Blob }[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private flushedBytes = 0;
  private result: Blob | undefined;
  constructor(
    private readonly name: string,
    private readonly limit = MEMORY_LIMIT_BYTES,
    private readonly partBytes = 8 << 20,
  ) {}
  get position(): number {
    return this.flushedBytes + this.pendingBytes;
  }
  private flush(): void {
    if (this.pendingBytes === 0) return;
    this.parts.push({ at: this.flushedBytes, blob: new Blob(this.pending as BlobPart[]) });
    this.flushedBytes += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
  }
  async write(chunk: Uint8Array): Promise<void> {
    if (this.position + chunk.byteLength > this.limit) {
      throw new NoSpaceError({
        format: 'web',
        detail: `the in-memory download is limited to ${this.limit} bytes (${(this.limit / 1024 ** 3).toFixed(0)} GiB) and the image is larger`,
        hint: "save with 'Save as…' or to the browser's storage (OPFS), or as a streamed download",
      });
    }
    this.pending.push(chunk.slice()); // callers reuse their buffers
    this.pendingBytes += chunk.byteLength;
    if (this.pendingBytes >= this.partBytes) this.flush();
  }
  async writeAt(offset: number, chunk: Uint8Array): Promise<void> {
    const end = offset + chunk.byteLength;
    if (offset < 0 || end > this.position) throw new RangeError(`writeAt ${offset}+${chunk.byteLength} is outside the ${this.position} bytes written`);
    this.flush();
    const next: { at: number; blob: Blob }[] = [];
    let placed = false;
    for (const p of this.parts) {
      const pEnd = p.at + p.blob.size;
      if (pEnd <= offset || p.at >= end) {
        next.push(p);
        continue;
      }
      if (p.at < offset) next.push({ at: p.at, blob: p.blob.slice(0, offset - p.at) });
      if (!placed) {
        next.push({ at: offset, blob: new Blob([chunk.slice() as BlobPart]) });
        placed = true;
      }
      if (pEnd > end) next.push({ at: end, blob: p.blob.slice(end - p.at) });
    }
    this.parts = next;
  }
  async close(): Promise<void> {
    this.flush();
    this.result = new Blob(this.parts.map((p) => p.blob), { type: 'application/octet-stream' });
    this.parts = [];
  }
  async abort(): Promise<void> {
    this.parts = [];
    this.pending = [];
    this.pendingBytes = 0;
    this.flushedBytes = 0;
  }
  async saved(): Promise<Saved> {
    if (!this.result) throw new Error('the image is not complete');
    return { name: this.name, file: this.result, inPlace: false };
  }
}

/**
 * A streamed download: the page hands chunks to the service worker (sw.ts) over a MessagePort;
 * a hidden iframe's navigation to /imgkit-download/<id> is answered by the worker with a
 * ReadableStream fed from that port, so the browser's download manager writes it to disk as it
 * comes. Sequential only. Each write waits until the worker has queued the chunk (backpressure).
 */
export class StreamDownloadSink implements SaveSink {
  readonly target = 'stream';
  readonly seekable = false;
  private pos = 0;
  private credit = 0;
  private waiting: (() => void) | undefined;
  private cancelledByUser = false;
  frame: HTMLIFrameElement | undefined;
  private readonly port: MessagePort;
  private constructor(port: MessagePort, private readonly name: string) {
    this.port = port;
    this.port.onmessage = (e: MessageEvent<{ pull?: number; cancelled?: boolean }>) => {
      if (e.data.pull) this.credit += e.data.pull;
      if (e.data.cancelled) this.cancelledByUser = true;
      this.waiting?.();
      this.waiting = undefined;
    };
  }
  static async open(name: string): Promise<StreamDownloadSink> {
    const sw = navigator.serviceWorker?.controller;
    if (!sw) throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'web', detail: 'the streamed download needs the page’s service worker, which does not control this page yet', hint: 'reload the page once, or choose another way to save' });
    const channel = new MessageChannel();
    const id = crypto.randomUUID();
    const ready = new Promise<void>((resolve) => {
      channel.port1.onmessage = (e: MessageEvent<{ ready?: boolean }>) => {
        if (e.data.ready) resolve();
      };
    });
    sw.postMessage({ type: 'imgkit-download', id, name }, [channel.port2]);
    await ready;
    const sink = new StreamDownloadSink(channel.port1, name);
    // An iframe's navigation goes through the service worker (an <a download> click does not in
    // Chromium: it is fetched from the network); the attachment answer turns into a download.
    const frame = document.createElement('iframe');
    frame.hidden = true;
    frame.src = `imgkit-download/${id}/${encodeURIComponent(name)}`;
    document.body.append(frame);
    sink.frame = frame;
    return sink;
  }
  get position(): number {
    return this.pos;
  }
  async write(chunk: Uint8Array): Promise<void> {
    while (this.credit <= 0 && !this.cancelledByUser) await new Promise<void>((r) => (this.waiting = r));
    if (this.cancelledByUser) throw new DOMException('the download was cancelled in the browser', 'AbortError');
    this.credit--;
    const copy = chunk.slice();
    this.port.postMessage({ chunk: copy }, [copy.buffer]);
    this.pos += chunk.byteLength;
  }
  async writeAt(): Promise<void> {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: 'web', detail: 'a streamed download cannot seek back', hint: "save with 'Save as…', to the browser's storage (OPFS) or in memory" });
  }
  async close(): Promise<void> {
    this.port.postMessage({ done: true });
    const frame = this.frame;
    setTimeout(() => frame?.remove(), 60_000); // removing it at once could cancel the download
  }
  async abort(): Promise<void> {
    this.port.postMessage({ error: 'cancelled' });
    this.frame?.remove();
  }
  async saved(): Promise<Saved> {
    return { name: this.name, inPlace: true };
  }
}
