/** Host files named by manifest `file` lines (gen_init_cpio's <location>), read with fs.promises. */
import * as fsp from 'node:fs/promises';
import * as nodePath from 'node:path';
import { ErrorCodes, ImgkitError, type HostFileReader } from '@imgkit/core';

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

/**
 * Resolve relative locations against `baseDir` (the manifest's directory). Like gen_init_cpio,
 * a location that is a symlink is followed (it names content, not an entry).
 */
export function nodeHostFiles(baseDir: string, chunkSize = 1 << 20): HostFileReader {
  const resolve = (location: string) => nodePath.resolve(baseDir, location);
  return {
    async stat(location) {
      const abs = resolve(location);
      let st;
      try {
        st = await fsp.stat(abs);
      } catch (err) {
        const code = errCode(err);
        throw new ImgkitError(code === 'ENOENT' || code === 'ENOTDIR' ? ErrorCodes.MANIFEST_REFERENCE : ErrorCodes.SOURCE_UNREADABLE, {
          format: 'core',
          path: abs,
          detail: `cannot stat the file: ${code ?? String(err)}`,
          cause: err,
        });
      }
      if (!st.isFile()) throw new ImgkitError(ErrorCodes.MANIFEST_REFERENCE, { format: 'core', path: abs, detail: 'not a regular file' });
      return { size: st.size, mtime: Math.floor(st.mtimeMs / 1000) };
    },
    async *read(location) {
      const abs = resolve(location);
      let fh;
      try {
        fh = await fsp.open(abs, 'r');
      } catch (err) {
        throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path: abs, detail: `cannot open: ${errCode(err) ?? String(err)}`, cause: err });
      }
      try {
        for (;;) {
          const buf = new Uint8Array(chunkSize);
          const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
          if (bytesRead === 0) return;
          yield bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead);
        }
      } catch (err) {
        if (err instanceof ImgkitError) throw err;
        throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path: abs, detail: `read failed: ${errCode(err) ?? String(err)}`, cause: err });
      } finally {
        await fh.close();
      }
    },
  };
}
