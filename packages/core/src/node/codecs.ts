/**
 * Node codec providers: node:zlib (sync) for the deflate family, and the wasm codecs reading their
 * `.wasm` from the package files (node-liblzma's default loader would `fetch()` a file: URL, which
 * Node 20 cannot). Installed by importing `@imgkit/core/node` and in every pool worker, so a Node
 * realm always compresses with the same engine.
 */
import zlib from 'node:zlib';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ErrorCodes, ImgkitError, registerCodecProvider, setDeflateEngine, setWasmLoader, deflateCodec, type DeflateEngine } from '@imgkit/core';

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/**
 * node:zlib engine (zlib 1.3 as bundled by Node; measured byte-identical to pako 3 at levels 1/6/9).
 * One-shot level 9 doesn't come here: core's codec routes it to its pure-JS ratio profile
 * (`deflateRatio`), because this zlib's 4-byte hash loses 1.6% on squashfs blocks; see deflate.ts.
 */
export const nodeZlibEngine: DeflateEngine & { crc32?: (d: Uint8Array) => number } = {
  name: 'node:zlib',
  deflate(format, data, level, windowBits) {
    const o = { level, windowBits };
    if (format === 'gzip') return u8(zlib.gzipSync(data, o));
    if (format === 'zlib') return u8(zlib.deflateSync(data, o));
    return u8(zlib.deflateRawSync(data, o));
  },
  inflate(format, data, windowBits) {
    if (format === 'gzip') return u8(zlib.gunzipSync(data));
    if (format === 'zlib') return u8(zlib.inflateSync(data, { windowBits }));
    return u8(zlib.inflateRawSync(data, { windowBits }));
  },
  deflateRawPiece(data, level, dictionary, last) {
    const o: zlib.ZlibOptions = {
      level,
      windowBits: 15,
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    };
    if (dictionary && dictionary.byteLength > 0) o.dictionary = dictionary;
    return u8(zlib.deflateRawSync(data, o));
  },
};
// zlib.crc32 exists from Node 20.15 / 22.2
const zlibCrc32 = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
if (zlibCrc32) nodeZlibEngine.crc32 = (d) => zlibCrc32(d) >>> 0;

/**
 * node-liblzma's wasm: from the package, or — in an app bundled without node_modules beside it —
 * from `liblzma.wasm` next to the bundle (the browser workers' convention too).
 */
function liblzmaWasm(): URL {
  let resolveError: unknown;
  try {
    return new URL(import.meta.resolve('node-liblzma/wasm/liblzma.wasm'));
  } catch (err) {
    resolveError = err;
  }
  const beside = new URL('./liblzma.wasm', import.meta.url);
  if (existsSync(beside)) return beside;
  throw new ImgkitError(ErrorCodes.CODEC, {
    format: 'core',
    field: 'codec.xz',
    detail: `cannot find liblzma.wasm: node-liblzma does not resolve from ${import.meta.url} (${resolveError instanceof Error ? resolveError.message : String(resolveError)}) and ${beside.pathname} does not exist`,
    hint: 'install node-liblzma beside the app, or copy node_modules/node-liblzma/wasm/liblzma.wasm next to the bundle',
  });
}

let installed = false;

/** Install the Node providers in this realm (idempotent; done on import of `@imgkit/core/node`). */
export function registerNodeCodecs(): void {
  if (installed) return;
  installed = true;
  setDeflateEngine(nodeZlibEngine);
  registerCodecProvider(['gzip', 'zlib', 'deflate-raw'], deflateCodec);
  setWasmLoader('xz', async () => u8(await readFile(liblzmaWasm())));
  // zstd (@cloudpss/zstd/wasm) carries its wasm inline: no loader needed.
}

registerNodeCodecs();
