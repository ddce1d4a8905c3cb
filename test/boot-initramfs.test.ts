/**
 * Boot: an initramfs written by imgkit's cpio writer (busybox-static + /init) with each compressor
 * the Debian kernel accepts, booted with `qemu-system-x86_64 -kernel -initrd` under software
 * emulation. /init mounts proc and devtmpfs, reopens stdio on /dev/console, and prints a marker
 * built from a file inside the archive (so the marker proves the kernel unpacked the content);
 * the test passes only when that marker reaches the serial console. Four boots, one at a time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { pseudoRandomBytes } from './lib/fixture.js';
import { buildInitramfs } from './lib/initramfs.js';
import { boot, consoleTail, defaultKernel } from './lib/qemu.js';
import { requireTool, run } from './lib/tools.js';
import { zstdFrames } from './lib/zstd-frames.js';
import { readFile } from 'node:fs/promises';

// 6 MiB of content: the archive spans several compressed pieces (gzip pieces, lz4 chunks, xz
// blocks) and, for zstd, several frames cut between entries; its sha256 must survive.
const FILLER = pseudoRandomBytes(6 * 1024 * 1024, 42);
const FILLER_SHA = createHash('sha256').update(FILLER).digest('hex').slice(0, 16);
// zstd only: a 40 MiB file, more than a frame may hold (32 MiB), so it goes out in 4 MiB pieces
// spliced into one frame. Compressible (blocks of the filler, each with its own index), so the
// initrd stays small.
const BIG = (() => {
  const b = Buffer.alloc(40 * 1024 * 1024);
  for (let o = 0, i = 0; o < b.length; o += 65536, i++) {
    b.set(FILLER.subarray((i * 7919 * 64) % (FILLER.length - 65536), (i * 7919 * 64) % (FILLER.length - 65536) + 65536), o);
    b.writeUInt32LE(i, o);
  }
  return b;
})();
const BIG_SHA = createHash('sha256').update(BIG).digest('hex').slice(0, 16);

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
# content, a symlink, and a hard link (data stored on the last name only) as the kernel unpacked them
big=none
[ -e /big ] && big=$(sha256sum /big | cut -c1-16)
echo "IMGKIT-BOOT-OK-$(cat /etc/imgkit-payload)-$(readlink /etc/imgkit-link)-$(cat /etc/imgkit-hard)-$(stat -c %h /etc/imgkit-payload)-$(sha256sum /filler | cut -c1-16)-$big"
poweroff -f
`;

describe('initramfs written by imgkit boots the Debian kernel', () => {
  for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as const) {
    test(`${compression}: the kernel unpacks it and /init prints the marker`, async () => {
      const { kernel } = await defaultKernel();
      const initrd = await buildInitramfs({
        initScript: INIT,
        compression,
        files: [
          { path: 'etc/imgkit-payload', content: compression },
          { path: 'filler', content: FILLER },
          { path: 'z-after-filler', content: 'entries after the big file\n' },
          ...(compression === 'zstd' ? [{ path: 'big', content: BIG }] : []),
        ],
        symlinks: [{ path: 'etc/imgkit-link', target: 'linked' }],
        hardLinks: [{ path: 'etc/imgkit-hard', target: 'etc/imgkit-payload' }],
      });
      const marker = `IMGKIT-BOOT-OK-${compression}-linked-${compression}-2-${FILLER_SHA}-${compression === 'zstd' ? BIG_SHA : 'none'}`;
      if (compression === 'zstd') {
        // Several frames cut between entries, and one spliced frame (no content size, 4 MiB window)
        // holding the 40 MiB file: both paths are what boots.
        const list = await run(requireTool('zstd', 'zstd'), ['-lv', initrd]);
        const frames = Number(/# Zstandard Frames:\s*(\d+)/.exec(list.stdout.toString('utf8'))?.[1]);
        assert.ok(frames >= 2, `expected several zstd frames:\n${list.stdout.toString('utf8')}`);
        const info = zstdFrames(await readFile(initrd));
        assert.equal(info.length, frames);
        assert.ok(info.some((f) => f.contentSize === undefined && f.window === 4 << 20), `no spliced frame: ${JSON.stringify(info)}`);
        assert.ok(info.every((f) => f.window <= 8 << 20), 'every window within the kernel limit');
      }
      const r = await boot({ kernel, initrd, marker });
      assert.ok(r.passed, `no marker (${r.reason}); console tail:\n${consoleTail(r.console)}`);
    });
  }
});
