/**
 * Loop devices for tests that write to a block device (root only): a backing file filled with a
 * byte pattern, attached with `losetup -f --show`, always detached afterwards.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { requireTool, run, tempDir } from './tools.ts';

/** Run `fn` with a loop device of `sizeBytes` whose every byte is `fill` (so old content shows). */
export async function withLoopDevice<T>(sizeBytes: number, fill: number, fn: (device: string, backing: string) => Promise<T>): Promise<T> {
  const losetup = requireTool('losetup', 'util-linux');
  const backing = join(await tempDir('loop'), 'backing.img');
  await writeFile(backing, Buffer.alloc(sizeBytes, fill));
  const device = (await run(losetup, ['-f', '--show', backing])).stdout.toString().trim();
  try {
    return await fn(device, backing);
  } finally {
    await run(losetup, ['-d', device], { allowFail: true });
  }
}
