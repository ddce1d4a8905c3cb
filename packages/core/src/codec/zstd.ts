/**
 * zstd through @bokuweb/zstd-wasm (zstd 1.5.x compiled to wasm).
 *
 * Why not zstd-codec: its level-19 compression of 1 MiB blocks runs out of memory, its streaming API
 * writes frames without Frame_Content_Size (the kernel's squashfs sizes its window from it), and it
 * does not bundle for browsers (Node `fs`/`path` in its glue, 6 MB).
 *
 * `ZSTD_compress` writes one-shot frames that carry the content size (RFC 8878 §3.1.1.1.1
 * Frame_Header_Descriptor: FCS flag / Single_Segment), which squashfs and qcow2 want.
 * The package's `init()` must run exactly once per realm (a second one silently corrupts later
 * frames), so every caller goes through one shared promise.
 */
import { ErrorCodes, ImgkitError } from '../errors.js';
import { codecFailure, codecOptionError, getWasmLoader } from './registry.js';
import type { Codec, CodecSpec } from './types.js';

type ZstdModule = typeof import('@bokuweb/zstd-wasm');
let ready: Promise<ZstdModule> | undefined;

/** Load and initialise the zstd wasm once per realm. */
export function zstdReady(): Promise<ZstdModule> {
  ready ??= (async () => {
    const mod = await import('@bokuweb/zstd-wasm');
    const loader = getWasmLoader('zstd');
    // Node: the package's own entry reads dist/common/zstd.wasm from disk and ignores the argument.
    // Browsers: pass the URL of zstd.wasm shipped beside the bundle (default: next to the module).
    const where = loader ? await loader() : undefined;
    const url = where instanceof URL ? where.href : typeof where === 'string' ? where : undefined;
    // The package's init() never settles when its fetch of the wasm fails (it aborts inside a
    // promise), so check a URL first and bound the wait: a missing zstd.wasm is an error, not a hang.
    if (url !== undefined && !url.startsWith('file:') && typeof fetch === 'function') {
      const res = await fetch(url).catch((err: unknown) => {
        throw zstdLoadError(url, String(err));
      });
      if (!res.ok) throw zstdLoadError(url, `HTTP ${res.status}`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(zstdLoadError(url ?? 'zstd.wasm beside the module', 'not initialised after 60 s')), 60_000);
    });
    try {
      await Promise.race([(mod.init as (p?: unknown) => Promise<void>)(url ?? where), timeout]);
    } finally {
      clearTimeout(timer);
    }
    return mod;
  })();
  ready.catch(() => {
    ready = undefined; // let a later call retry, e.g. after setWasmLoader
  });
  return ready;
}

function zstdLoadError(where: string, why: string): ImgkitError {
  return new ImgkitError(ErrorCodes.CODEC, {
    format: 'core',
    field: 'codec.zstd',
    path: where,
    detail: `cannot load zstd.wasm: ${why}`,
    hint: 'ship zstd.wasm beside the bundle or point setWasmLoader("zstd", …) at it',
  });
}

export async function zstdCodec(spec: Readonly<CodecSpec>): Promise<Codec> {
  const level = spec.level ?? 3;
  if (!Number.isInteger(level) || level < 1 || level > 22) {
    throw codecOptionError(spec, 'level', `level ${level} is outside 1…22`);
  }
  const z = await zstdReady();
  return {
    spec,
    compress(block) {
      try {
        return z.compress(block, level);
      } catch (err) {
        throw codecFailure(spec, 'compress', err);
      }
    },
    decompress(data, expectedSize) {
      try {
        // The binding sizes its output from the frame's content size, else from this hint.
        return z.decompress(data, { defaultHeapSize: expectedSize ?? 1 << 20 });
      } catch (err) {
        throw codecFailure(spec, 'decompress', err);
      }
    },
  };
}
