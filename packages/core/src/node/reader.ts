/** Random access to a host file (a tar archive used as a source, an input image). */
import * as fsp from 'node:fs/promises';
import { ErrorCodes, ImgkitError, type RandomAccessReader } from '@imgkit/core';

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as { code?: string }).code : undefined;
}

/** Open `path` for positioned reads. Call `close()` when done with the tree built on it. */
export async function nodeFileReader(path: string): Promise<RandomAccessReader & { close(): Promise<void> }> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (err) {
    const code = errCode(err);
    throw new ImgkitError(code === 'ENOENT' || code === 'ENOTDIR' ? ErrorCodes.SOURCE_MISSING : ErrorCodes.SOURCE_UNREADABLE, {
      format: 'core',
      path,
      detail: `cannot open: ${code ?? String(err)}`,
      cause: err,
    });
  }
  const st = await fh.stat();
  if (!st.isFile() && !st.isBlockDevice()) {
    await fh.close();
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'core', path, detail: 'not a regular file' });
  }
  return {
    size: st.size,
    async read(offset, length) {
      const end = Math.min(offset + length, st.size);
      const out = new Uint8Array(Math.max(0, end - offset));
      let done = 0;
      try {
        while (done < out.byteLength) {
          const { bytesRead } = await fh.read(out, done, out.byteLength - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
      } catch (err) {
        throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path, detail: `read at ${offset} failed: ${errCode(err) ?? String(err)}`, cause: err });
      }
      return done === out.byteLength ? out : out.subarray(0, done);
    },
    async close() {
      await fh.close();
    },
  };
}
