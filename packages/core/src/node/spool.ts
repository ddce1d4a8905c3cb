/**
 * The Node side of spooling (core/src/spool.ts): a temporary file as the store a spool goes on in
 * past its memory bound.
 *
 * The file is created in `dir` (default `os.tmpdir()`, i.e. $TMPDIR) under a random name with
 * O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, and unlinked at once: nothing is left behind whatever
 * happens next (an error, a signal, a kill), and the space is returned when it is closed. A full
 * disk is E_NO_SPACE naming the directory, with the way out (TMPDIR, or a bigger memory bound).
 */
import { randomBytes } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { ErrorCodes, ImgkitError, NoSpaceError, spoolSink, type Spool, type SpoolOptions, type SpoolStore } from '@imgkit/core';

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

export interface TempFileStoreOptions {
  /** Directory of the temporary file. @default os.tmpdir() ($TMPDIR, else /tmp) */
  dir?: string;
}

/** Open an unlinked temporary file in `dir` as a spool store (see the top of this file). */
export async function openTempFileStore(options: TempFileStoreOptions = {}): Promise<SpoolStore> {
  const dir = options.dir ?? os.tmpdir();
  let fh: fsp.FileHandle | undefined;
  let name = '';
  for (let attempt = 0; fh === undefined; attempt++) {
    name = nodePath.join(dir, `.imgkit-spool-${randomBytes(8).toString('hex')}.tmp`);
    try {
      fh = await fsp.open(name, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    } catch (err) {
      if (errCode(err) === 'EEXIST' && attempt < 8) continue;
      throw new ImgkitError(NO_SPACE.has(errCode(err) ?? '') ? ErrorCodes.NO_SPACE : ErrorCodes.OUTPUT_UNWRITABLE, {
        format: 'core',
        path: dir,
        detail: `cannot create a temporary file for spooling: ${errCode(err) ?? String(err)}`,
        hint: 'set TMPDIR to a writable directory with room for the image',
        cause: err,
      });
    }
  }
  try {
    await fsp.unlink(name);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fsp.rm(name, { force: true }).catch(() => undefined);
    throw new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path: name, detail: `cannot unlink the temporary spool file: ${errCode(err) ?? String(err)}`, cause: err });
  }
  const handle = fh;
  let open = true;
  const failed = (err: unknown, what: string): ImgkitError => {
    const code = errCode(err);
    if (code !== undefined && NO_SPACE.has(code)) {
      return new NoSpaceError({
        format: 'core',
        path: dir,
        detail: `no space left for the temporary spool file while ${what} (${code})`,
        hint: 'set TMPDIR to a directory with room for the image, or raise the spool memory bound',
        cause: err,
      });
    }
    return new ImgkitError(ErrorCodes.OUTPUT_UNWRITABLE, { format: 'core', path: dir, detail: `the temporary spool file failed while ${what}: ${code ?? String(err)}`, cause: err });
  };
  return {
    description: `an unlinked temporary file in ${dir}`,
    async writeAt(offset, chunk) {
      let done = 0;
      try {
        while (done < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, offset + done);
          done += bytesWritten;
        }
      } catch (err) {
        throw failed(err, `writing at offset ${offset + done}`);
      }
    },
    async read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      try {
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) break; // past the end of the file: a trailing hole, zeros
          done += bytesRead;
        }
      } catch (err) {
        throw failed(err, `reading at offset ${offset + done}`);
      }
      return out;
    },
    async close() {
      if (!open) return;
      open = false;
      await handle.close();
    },
  };
}

/** A spool store factory for `SpoolOptions.overflow`: a temporary file in `dir`. */
export function tempFileStore(options: TempFileStoreOptions = {}): () => Promise<SpoolStore> {
  return () => openTempFileStore(options);
}

export interface NodeSpoolOptions extends SpoolOptions, TempFileStoreOptions {}

/**
 * A spool that holds up to `memoryBytes` (default 64 MiB) in memory and goes on in an unlinked
 * temporary file in `dir` (default $TMPDIR). `where` tells afterwards which happened.
 */
export function nodeSpoolSink(options: NodeSpoolOptions = {}): Spool {
  const { dir, ...rest } = options;
  return spoolSink({ overflow: tempFileStore(dir !== undefined ? { dir } : {}), ...rest });
}
