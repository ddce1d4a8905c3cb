/**
 * Codec provider registry. `loadCodec(spec)` asks the provider registered for `spec.name` and caches
 * the codec per realm (main thread or worker) and per spec, so a worker builds each codec once.
 *
 * The universal providers (pako, @cloudpss/zstd's wasm, node-liblzma wasm, our LZ4) are registered lazily on
 * first use. `@imgkit/core/node` swaps in node:zlib for the deflate family and tells the wasm codecs
 * to read their `.wasm` from the package files (`setWasmLoader`), both in the main thread and in
 * every pool worker, so one realm kind always makes the same bytes.
 */
import { ImgkitError, ErrorCodes } from '../errors.js';
import { codecLevel } from './levels.js';
import type { Codec, CodecName, CodecSpec } from './types.js';

/** Builds a codec for one spec. Called once per realm and spec (results are cached). */
export type CodecFactory = (spec: Readonly<CodecSpec>) => Codec | Promise<Codec>;

const CODEC_NAMES: readonly CodecName[] = [
  'gzip',
  'zlib',
  'deflate-raw',
  'zstd',
  'lz4-block',
  'lz4-frame',
  'lz4-legacy',
  'xz',
  'none',
];

const providers = new Map<CodecName, CodecFactory>();
const cache = new Map<string, Promise<Codec>>();
let defaultsInstalled: Promise<void> | undefined;

/** Wasm binaries the codecs need; a bundle or Node entry may supply them. */
export type WasmSource = () => Promise<Uint8Array | ArrayBuffer | string | URL>;
const wasmLoaders = new Map<'xz', WasmSource>();

/**
 * Tell the xz codec where its `.wasm` comes from (bytes or a URL). Must be called before the first
 * `loadCodec` of xz in this realm. Node's entry points it at the package file. (zstd's wasm is inlined
 * in its module and needs no loader.)
 */
export function setWasmLoader(codec: 'xz', loader: WasmSource): void {
  wasmLoaders.set(codec, loader);
}
/** @internal */
export function getWasmLoader(codec: 'xz'): WasmSource | undefined {
  return wasmLoaders.get(codec);
}

/**
 * Register (or replace) the provider for some codec names. Clears cached codecs of those names, so
 * call it before compressing (the Node entry does so at import time).
 */
export function registerCodecProvider(names: CodecName | readonly CodecName[], factory: CodecFactory): void {
  for (const name of typeof names === 'string' ? [names] : names) {
    providers.set(name, factory);
    for (const key of [...cache.keys()]) if (key.startsWith(`${name}|`)) cache.delete(key);
  }
}

/** Stable cache key of a spec: name and every option that changes the bytes. */
export function codecKey(spec: Readonly<CodecSpec>): string {
  return `${spec.name}|${spec.level ?? ''}|${spec.windowBits ?? ''}|${spec.dictSize ?? ''}|${spec.check ?? ''}`;
}

export function isCodecName(name: unknown): name is CodecName {
  return typeof name === 'string' && (CODEC_NAMES as readonly string[]).includes(name);
}

async function installDefaults(): Promise<void> {
  const [deflate, zstd, lz4, xz] = await Promise.all([
    import('./deflate.js'),
    import('./zstd.js'),
    import('./lz4.js'),
    import('./xz.js'),
  ]);
  const set = (names: CodecName[], f: CodecFactory): void => {
    for (const n of names) if (!providers.has(n)) providers.set(n, f);
  };
  set(['gzip', 'zlib', 'deflate-raw'], deflate.deflateCodec);
  set(['zstd'], zstd.zstdCodec);
  set(['lz4-block', 'lz4-frame', 'lz4-legacy'], lz4.lz4Codec);
  set(['xz'], xz.xzCodec);
  set(['none'], noneCodec);
}

function noneCodec(spec: Readonly<CodecSpec>): Codec {
  codecLevel(spec); // 'none' takes no level
  return {
    spec,
    compress: (block) => block,
    decompress: (data) => data,
  };
}

/**
 * Load (once per realm and spec) the codec for `spec`. Rejects with `E_CODEC` for an unknown name,
 * and with `E_BAD_OPTION` for an option the codec cannot honour (a level outside CODEC_LEVELS, …).
 */
export function loadCodec(spec: CodecSpec): Promise<Codec> {
  if (!isCodecName(spec.name)) {
    return Promise.reject(
      new ImgkitError(ErrorCodes.CODEC, {
        format: 'core',
        field: 'codec.name',
        detail: `unknown codec "${String(spec.name)}"`,
        hint: `use one of ${CODEC_NAMES.join(', ')}`,
      }),
    );
  }
  const key = codecKey(spec);
  let p = cache.get(key);
  if (!p) {
    const frozen = Object.freeze({ ...spec });
    p = (async () => {
      defaultsInstalled ??= installDefaults();
      await defaultsInstalled;
      const factory = providers.get(frozen.name)!;
      return factory(frozen);
    })();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** `E_BAD_OPTION` about an option of `spec` (the caller asked for something the codec cannot do). */
export function codecOptionError(spec: Readonly<CodecSpec>, field: string, detail: string, hint?: string): ImgkitError {
  const info: ConstructorParameters<typeof ImgkitError>[1] = { format: 'core', field: `codec.${spec.name}.${field}`, detail };
  if (hint !== undefined) info.hint = hint;
  return new ImgkitError(ErrorCodes.BAD_OPTION, info);
}

/** Wrap a failure inside a codec library as `E_CODEC`. */
export function codecFailure(spec: Readonly<CodecSpec>, what: string, cause: unknown): ImgkitError {
  if (cause instanceof ImgkitError) return cause;
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new ImgkitError(ErrorCodes.CODEC, { format: 'core', field: `codec.${spec.name}`, detail: `${what} failed: ${msg}`, cause });
}
