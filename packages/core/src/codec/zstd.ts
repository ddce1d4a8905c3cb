/**
 * zstd through the WebAssembly build of @cloudpss/zstd (zstd 1.5.6, emscripten, the wasm inlined in
 * its JS: nothing to ship beside a bundle, nothing to fetch). Only its `./wasm` entry is imported;
 * the package's native addon is never loaded.
 *
 * Why this one (benchmarks/zstd-libs.ts: 150 MB of the cpio benchmark's archive, 4 MiB blocks,
 * level 3, one thread): @cloudpss/zstd 177 MB/s at the native ratio (0.3034, as `zstd -b3` 1.5.4 on
 * the same blocks, 239 MB/s); @bokuweb/zstd-wasm 0.0.27 (zstd 1.5.7) 104 MB/s, ratio 0.2948;
 * zstd-codec 158 MB/s, ratio 0.3090, runs out of memory at level 19 with 1 MiB blocks, writes
 * streaming frames without a content size and does not bundle for browsers (Node `fs`/`path`).
 *
 * `compress` is ZSTD_compressCCtx on one reused context: one-shot frames that carry the content size
 * (RFC 8878 §3.1.1.1.1 Frame_Header_Descriptor: Frame_Content_Size_Flag / Single_Segment_Flag),
 * which squashfs and qcow2 want. The bytes depend only on the input and the level.
 */
import { ErrorCodes, ImgkitError } from '../errors.js';
import { codecLevel } from './levels.js';
import { codecFailure } from './registry.js';
import type { Codec, CodecSpec } from './types.js';

type ZstdModule = typeof import('@cloudpss/zstd/wasm');
let ready: Promise<ZstdModule> | undefined;

/** Load and initialise the zstd wasm once per realm (the module compiles its inlined wasm on import). */
export function zstdReady(): Promise<ZstdModule> {
  ready ??= import('@cloudpss/zstd/wasm').catch((err: unknown) => {
    ready = undefined; // a later call may retry
    throw new ImgkitError(ErrorCodes.CODEC, {
      format: 'core',
      field: 'codec.zstd',
      detail: `cannot load the zstd WebAssembly module: ${err instanceof Error ? err.message : String(err)}`,
      hint: "the runtime must allow WebAssembly; under a Content-Security-Policy, add 'wasm-unsafe-eval'",
      cause: err,
    });
  });
  return ready;
}

export async function zstdCodec(spec: Readonly<CodecSpec>): Promise<Codec> {
  const level = codecLevel(spec)!;
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
    decompress(data) {
      try {
        // Sized from the frame's content size (or its decompression bound).
        return z.decompress(data);
      } catch (err) {
        throw codecFailure(spec, 'decompress', err);
      }
    },
  };
}
