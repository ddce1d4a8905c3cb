/**
 * The reference images of fixtures/ext4 (see fixtures/README.md "ext4/"): empty filesystems made by
 * mke2fs 1.47.0 with a fixed time, UUID and hash seed. Unit tests read their structures as golden
 * bytes.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export const REF_UUID = '5f6a1c1e-6a0f-4c3b-9d55-1f0d5e0b7a21';
export const REF_HASH_SEED = '0b3a2c4d-5e6f-4718-8293-a4b5c6d7e8f9';
export const REF_TIME = 1_700_000_000;

const cache = new Map<string, Uint8Array>();

/** `empty-4k`: Debian's ext4 defaults, 8 MiB; `empty-1k-nocsum`: 1 KiB blocks, ^metadata_csum,^64bit, 2 MiB. */
export function refImage(name: 'empty-4k' | 'empty-1k-nocsum'): Uint8Array {
  let img = cache.get(name);
  if (!img) {
    const url = new URL(`../../../fixtures/ext4/${name}.img.gz`, import.meta.url);
    img = new Uint8Array(gunzipSync(readFileSync(url)));
    cache.set(name, img);
  }
  return img;
}

/** Block `n` (or `count` blocks from it) of an image. */
export function block(img: Uint8Array, blockSize: number, n: number, count = 1): Uint8Array {
  return img.subarray(n * blockSize, (n + count) * blockSize);
}

/** Inode `ino` of a single-group image whose inode table starts at `table`. */
export function inodeBytes(img: Uint8Array, blockSize: number, table: number, ino: number, inodeSize = 256): Uint8Array {
  const at = table * blockSize + (ino - 1) * inodeSize;
  return img.subarray(at, at + inodeSize);
}

export const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
