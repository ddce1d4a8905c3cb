/**
 * All-zero detection for blocks of a virtual disk: the hot loop of every sparse writer (a raw
 * image is read whole, holes included, because JavaScript runtimes expose no SEEK_DATA).
 *
 * The portable check ORs eight 32-bit words per step (1.4–1.9 GiB/s on this project's machine); a
 * runtime with a native comparison installs it with `setZeroDetector` — the CLI uses Node's
 * `Buffer.equals` against a zero buffer (memcmp, 15 GiB/s measured). Both give the same answers,
 * so the output never depends on which one ran.
 */
export type ZeroDetector = (b: Uint8Array) => boolean;

/** The portable detector. */
export function isZeroBlockPortable(b: Uint8Array): boolean {
  const n = b.byteLength;
  let i = 0;
  if ((b.byteOffset & 3) === 0 && n >= 32) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    const m = words.length;
    if (words[0] !== 0) return false;
    let w = 0;
    for (; w + 8 <= m; w += 8) {
      if ((words[w]! | words[w + 1]! | words[w + 2]! | words[w + 3]! | words[w + 4]! | words[w + 5]! | words[w + 6]! | words[w + 7]!) !== 0) return false;
    }
    for (; w < m; w++) if (words[w] !== 0) return false;
    i = m << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}

let detector: ZeroDetector = isZeroBlockPortable;

/** Use a faster all-zero test in this realm (it must agree with `isZeroBlockPortable`). */
export function setZeroDetector(d: ZeroDetector | undefined): void {
  detector = d ?? isZeroBlockPortable;
}

export function isZeroBlock(b: Uint8Array): boolean {
  return detector(b);
}
