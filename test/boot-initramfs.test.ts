/**
 * Boot: an initramfs written by imgkit's cpio writer (busybox-static + /init) with each compressor
 * the Debian kernel accepts, booted with `qemu-system-x86_64 -kernel -initrd` under software
 * emulation. /init mounts proc and devtmpfs, reopens stdio on /dev/console, and prints a marker
 * built from a file inside the archive (so the marker proves the kernel unpacked the content);
 * the test passes only when that marker reaches the serial console. Four boots, one at a time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildInitramfs } from './lib/initramfs.js';
import { boot, consoleTail, defaultKernel } from './lib/qemu.js';

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
# content, a symlink, and a hard link (data stored on the last name only) as the kernel unpacked them
echo "IMGKIT-BOOT-OK-$(cat /etc/imgkit-payload)-$(readlink /etc/imgkit-link)-$(cat /etc/imgkit-hard)-$(stat -c %h /etc/imgkit-payload)"
poweroff -f
`;

describe('initramfs written by imgkit boots the Debian kernel', () => {
  for (const compression of ['gzip', 'zstd', 'lz4', 'xz'] as const) {
    test(`${compression}: the kernel unpacks it and /init prints the marker`, async () => {
      const { kernel } = await defaultKernel();
      const initrd = await buildInitramfs({
        initScript: INIT,
        compression,
        files: [{ path: 'etc/imgkit-payload', content: compression }],
        symlinks: [{ path: 'etc/imgkit-link', target: 'linked' }],
        hardLinks: [{ path: 'etc/imgkit-hard', target: 'etc/imgkit-payload' }],
      });
      const marker = `IMGKIT-BOOT-OK-${compression}-linked-${compression}-2`;
      const r = await boot({ kernel, initrd, marker });
      assert.ok(r.passed, `no marker (${r.reason}); console tail:\n${consoleTail(r.console)}`);
    });
  }
});
