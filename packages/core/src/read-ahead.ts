/**
 * Read-ahead for writers that copy many small files in plan order. Each file read costs several
 * round trips (open, read, read to EOF, close) whose latency dominates for small files, so reading
 * them one after another leaves the CPU idle. ReadAhead keeps the next small files' reads in
 * flight while the writer works on the current one, bounded in files and bytes, and hands out
 * their content in order. Large files are read directly, as they come, and so are entries whose
 * reads block anyway (`syncRead`: nodeSource's default), where reading ahead only adds overhead.
 */
import type { SourceEntry } from './source.js';

export interface ReadAheadOptions {
  /** Files read ahead at once. @default 16 */
  files?: number;
  /** Only files up to this size are read ahead (larger ones stream when reached). @default 1 MiB */
  fileBytes?: number;
  /** Bytes held by read-ahead at most. @default 16 MiB */
  bytes?: number;
}

export class ReadAhead {
  private readonly pending = new Map<number, { size: number; data: Promise<Uint8Array[]> }>();
  private next = 0;
  private heldBytes = 0;
  private readonly files: number;
  private readonly fileBytes: number;
  private readonly bytes: number;

  /** `entries[i]` is the entry the writer will read i-th in order (undefined: nothing to read). */
  constructor(
    private readonly entries: readonly (SourceEntry | undefined)[],
    options: ReadAheadOptions = {},
  ) {
    this.files = options.files ?? 16;
    this.fileBytes = options.fileBytes ?? 1 << 20;
    this.bytes = options.bytes ?? 16 << 20;
  }

  /** Content of `entries[i]`. Call with increasing `i`; earlier read-ahead is dropped. */
  read(i: number): AsyncIterable<Uint8Array> {
    for (const [k, p] of this.pending) {
      if (k < i) {
        this.pending.delete(k);
        this.heldBytes -= p.size;
      }
    }
    if (this.next <= i) this.next = i + 1;
    const own = this.pending.get(i);
    if (own) {
      this.pending.delete(i);
      this.heldBytes -= own.size;
    }
    this.fill();
    const entry = this.entries[i];
    if (own) {
      const self = this;
      return (async function* () {
        const chunks = await own.data;
        self.fill();
        yield* chunks;
      })();
    }
    return entry ? entry.read() : (async function* () {})();
  }


  private fill(): void {
    while (this.next < this.entries.length && this.pending.size < this.files) {
      const e = this.entries[this.next];
      if (e === undefined || e.kind !== 'file' || e.size === 0 || e.syncRead === true) {
        this.next++;
        continue;
      }
      // A large file stops the window: reading past it would hold bytes the writer can't use yet.
      if (e.size > this.fileBytes) return;
      if (this.heldBytes + e.size > this.bytes && this.pending.size > 0) return;
      const data = collect(e.read());
      data.catch(() => {}); // surfaced when the writer reaches this entry
      this.pending.set(this.next, { size: e.size, data });
      this.heldBytes += e.size;
      this.next++;
    }
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}
