/**
 * Name limits every Linux reader has, and how errors quote names that may be very long.
 *
 * include/uapi/linux/limits.h: NAME_MAX 255 (bytes of one path component) and PATH_MAX 4096 (bytes
 * of a path given to a system call, with its NUL). ext4, tmpfs, xfs, btrfs and vfat refuse a longer
 * component with ENAMETOOLONG, so an archive entry whose name has a component over 255 bytes cannot
 * be extracted by cpio, unsquashfs, tar or the kernel's initramfs unpacker onto any of them.
 */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

const encoder = new TextEncoder();

/** UTF-8 length of `s` in bytes. */
export function utf8Length(s: string): number {
  return encoder.encode(s).byteLength;
}

/** The first component of a '/'-separated path longer than `max` bytes, or undefined. */
export function longComponent(path: string, max = NAME_MAX): { name: string; bytes: number } | undefined {
  for (const name of path.split('/')) {
    // A component can only be over `max` bytes if it has over max / 4 UTF-16 units.
    if (name.length * 3 <= max) continue;
    const bytes = utf8Length(name);
    if (bytes > max) return { name, bytes };
  }
  return undefined;
}

/**
 * A path for an error's `path`: itself when a Linux path can be that long (≤ PATH_MAX − 1 bytes),
 * else its first 200 bytes, "…" and its length (a tar or manifest can hold a 2 MB name).
 */
export function messagePath(path: string): string {
  return path.length < PATH_MAX / 3 || utf8Length(path) < PATH_MAX ? path : abbreviate(path, 200);
}

/** `s` when at most `max` bytes, else its first `max` bytes (whole characters), "…" and its length. */
export function abbreviate(s: string, max = 64): string {
  const cut = cutAt(s, max);
  return cut === undefined ? s : `${cut.head}… (${cut.bytes} bytes)`;
}

/**
 * A name for a message: in quotes when short, else its first `max` bytes in quotes, "…" and its
 * length, so a 2 MB name never ends up in a message whole.
 */
export function quoteName(s: string, max = 64): string {
  const cut = cutAt(s, max);
  return cut === undefined ? `"${s}"` : `"${cut.head}…" (${cut.bytes} bytes)`;
}

function cutAt(s: string, max: number): { head: string; bytes: number } | undefined {
  if (s.length * 3 <= max) return undefined;
  const bytes = utf8Length(s);
  if (bytes <= max) return undefined;
  let head = '';
  let used = 0;
  for (const ch of s) {
    const n = utf8Length(ch);
    if (used + n > max) break;
    head += ch;
    used += n;
  }
  return { head, bytes };
}
