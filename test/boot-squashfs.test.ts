/**
 * Boot Debian's kernel with an initramfs whose /init loads the squashfs module, mounts an imgkit
 * squashfs image from a virtio disk, checks the sha256 of a file inside, reads a file through a
 * directory large enough to carry a directory index (the kernel's lookup uses it), and prints a
 * marker. One boot per compressor. In Debian 6.1's kernel squashfs is a module, and its zlib, xz,
 * lz4 and zstd decompressors are built in (CONFIG_ZLIB_INFLATE/XZ_DEC/LZ4_DECOMPRESS/ZSTD_DECOMPRESS=y).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { memoryTree, type MemoryEntryInit } from '@imgkit/core';
import { fileSink } from '@imgkit/core/node';
import { writeSquashfs, type SquashfsCompression } from '@imgkit/squashfs';
import { buildInitramfs } from './lib/initramfs.js';
import { boot, consoleTail, defaultKernel } from './lib/qemu.js';
import { tempDir } from './lib/tools.js';
import { pseudoRandomBytes } from './lib/fixture.js';

const MARKER = 'IMGKIT-SQUASHFS-BOOT-OK';
// Two compressible blocks, two all-zero blocks (stored as holes), one incompressible block (stored
// raw), then a partial last block: every kind of data block the kernel must read.
const payload = new Uint8Array(5 * 131072 + 10_000);
payload.set(pseudoRandomBytes(2 * 131072, 77), 0);
payload.set(randomBytes(131072), 4 * 131072);
payload.set(pseudoRandomBytes(10_000, 78), 5 * 131072);
const payloadSha = createHash('sha256').update(payload).digest('hex');

const INIT = `#!/bin/sh
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
want=$(sed -n 's/.*imgkit.sha=\\([0-9a-f]*\\).*/\\1/p' /proc/cmdline)
comp=$(sed -n 's/.*imgkit.comp=\\([a-z0-9]*\\).*/\\1/p' /proc/cmdline)
mkdir -p /mnt/sq
if mount -t squashfs -o ro /dev/vda /mnt/sq; then
  got=$(sha256sum /mnt/sq/data/payload.bin | cut -d' ' -f1)
  big=$(cat /mnt/sq/big/f04321)
  link=$(cat /mnt/sq/links/to-payload-dir/small.txt)
  if [ "$got" = "$want" ] && [ "$big" = "entry 4321" ] && [ "$link" = "small" ]; then
    echo "IMGKIT-SQUASHFS-BOOT""-OK $comp"
  else
    echo "MISMATCH got=$got want=$want big=$big link=$link"
  fi
else
  echo "MOUNT FAILED"
  dmesg | tail -5
fi
poweroff -f
`;

let initrd: string;
let kernel: string;
before(async () => {
  kernel = (await defaultKernel()).kernel;
  initrd = await buildInitramfs({
    initScript: INIT,
    modules: ['virtio_pci', 'virtio_blk', 'squashfs'],
  });
});

describe('squashfs images mount in the Linux kernel', () => {
  for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as SquashfsCompression[]) {
    it(`${compression}: mounted from a virtio disk, sha256 and an indexed lookup match`, async () => {
      const inits: MemoryEntryInit[] = [
        { path: 'data/payload.bin', kind: 'file', content: payload },
        { path: 'data/small.txt', kind: 'file', content: 'small' },
        { path: 'links/to-payload-dir', kind: 'symlink', linkTarget: '../data' },
      ];
      for (let i = 0; i < 6000; i++) inits.push({ path: `big/f${String(i).padStart(5, '0')}`, kind: 'file', content: `entry ${i}` });
      const dir = await tempDir(`sqfs-boot-${compression}`);
      const image = join(dir, 'root.sqfs');
      const sink = await fileSink(image);
      await writeSquashfs(memoryTree(inits), sink, { compression, epoch: 1_700_000_000 });
      await sink.close();
      const r = await boot({
        kernel,
        initrd,
        append: `imgkit.sha=${payloadSha} imgkit.comp=${compression}`,
        drives: [{ file: image, format: 'raw', if: 'virtio' }],
        marker: `${MARKER} ${compression}`,
      });
      assert.ok(r.passed, `${r.reason}\n${consoleTail(r.console)}`);
    });
  }
});
