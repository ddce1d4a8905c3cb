/**
 * ustar member headers (POSIX.1-1988 "ustar Interchange Format", as IEEE Std 1003.1 pax describes
 * it): 512 bytes, numbers as NUL-terminated octal, the checksum the byte sum with the checksum
 * field counted as eight spaces. DSP0243 (OVF) §5.3: an OVA is a tar archive in this format.
 * Sizes of 8 GiB and more do not fit 11 octal digits; they use the GNU base-256 form (first byte
 * 0x80, then the size big-endian), which GNU tar, bsdtar, VirtualBox and ovftool read.
 */
import { asciiz, octal, struct, viewOf } from '@imgkit/core';

export const TAR_BLOCK = 512;
/** GNU tar's default record: 20 blocks. Archives are padded to a whole record. */
export const TAR_RECORD = 20 * TAR_BLOCK;

export const UstarHeader = struct('ova.ustarHeader', TAR_BLOCK, {
  name: asciiz(0, 100),
  mode: octal(100, 8),
  uid: octal(108, 8),
  gid: octal(116, 8),
  mtime: octal(136, 12),
  typeflag: asciiz(156, 1),
  magic: asciiz(257, 6),
  version: asciiz(263, 2),
  uname: asciiz(265, 32),
  gname: asciiz(297, 32),
});

const MAX_OCTAL_SIZE = 8 ** 11 - 1;

/** A regular-file member header: mode 0644, owner 0:0 ("root"), `mtime` seconds. */
export function encodeUstarHeader(name: string, size: number, mtime: number): Uint8Array {
  const h = UstarHeader.encode({
    name,
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime,
    typeflag: '0',
    magic: 'ustar',
    version: '00',
    uname: 'root',
    gname: 'root',
  });
  h[262] = 0; // magic "ustar\0"
  h[263] = 0x30; // version "00"
  h[264] = 0x30;
  setSize(h, size);
  sealChecksum(h);
  return h;
}

function setSize(h: Uint8Array, size: number): void {
  if (size <= MAX_OCTAL_SIZE) {
    const s = size.toString(8).padStart(11, '0');
    for (let i = 0; i < 11; i++) h[124 + i] = s.charCodeAt(i);
    h[135] = 0;
    return;
  }
  h.fill(0, 124, 136);
  h[124] = 0x80;
  const v = viewOf(h);
  v.setUint32(128, Math.floor(size / 2 ** 32), false);
  v.setUint32(132, size >>> 0, false);
}

function sealChecksum(h: Uint8Array): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  const s = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) h[148 + i] = s.charCodeAt(i);
  h[154] = 0;
  h[155] = 0x20;
}

/** Bytes of padding after `size` bytes of member data. */
export function tarPadding(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}
