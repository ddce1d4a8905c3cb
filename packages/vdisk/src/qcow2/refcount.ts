/**
 * qcow2 host cluster management (qcow2.rst "Host cluster management"): a refcount table of
 * 64-bit offsets of refcount blocks, each block one cluster of refcount entries. imgkit writes
 * refcount_order 4 (16-bit big-endian entries, what version 2 implies and qemu's default).
 */

export const REFCOUNT_ORDER = 4;
export const REFCOUNT_BYTES = 2;
export const REFCOUNT_MAX = 0xffff;

/** Refcount entries per refcount block. */
export function refcountsPerBlock(clusterSize: number): number {
  return clusterSize / REFCOUNT_BYTES;
}

/**
 * How many refcount table and refcount block clusters cover `clusters` host clusters plus
 * themselves (they are refcounted too): the smallest fixed point, as qcow2.rst's formula
 * `refcount_table_index = (offset / cluster_size) / refcount_block_entries` requires of
 * every allocated cluster.
 */
export function refcountMetadataFor(clusters: number, clusterSize: number): { tableClusters: number; blockClusters: number } {
  const perBlock = refcountsPerBlock(clusterSize);
  const perTable = clusterSize / 8;
  let blocks = Math.max(1, Math.ceil(clusters / perBlock));
  let table = Math.ceil(blocks / perTable);
  for (;;) {
    const total = clusters + table + blocks;
    const needBlocks = Math.ceil(total / perBlock);
    const needTable = Math.ceil(needBlocks / perTable);
    if (needBlocks <= blocks && needTable <= table) return { tableClusters: table, blockClusters: blocks };
    blocks = Math.max(blocks, needBlocks);
    table = Math.max(table, needTable);
  }
}

/** Growable per-host-cluster refcounts (2 bytes per host cluster: the size of the refcount blocks themselves). */
export class RefcountArray {
  private counts = new Uint16Array(1024);
  private n = 0;

  get length(): number {
    return this.n;
  }
  private ensure(n: number): void {
    if (n <= this.counts.length) return;
    let cap = this.counts.length * 2;
    while (cap < n) cap *= 2;
    const next = new Uint16Array(cap);
    next.set(this.counts.subarray(0, this.n));
    this.counts = next;
  }
  /** Add one reference to each of clusters [first, first + count). */
  add(first: number, count = 1): void {
    this.ensure(first + count);
    for (let c = first; c < first + count; c++) {
      const v = this.counts[c]!;
      if (v === REFCOUNT_MAX) throw new RangeError(`host cluster ${c} would have more than ${REFCOUNT_MAX} references`);
      this.counts[c] = v + 1;
    }
    if (first + count > this.n) this.n = first + count;
  }
  get(c: number): number {
    return c < this.n ? this.counts[c]! : 0;
  }
}

/** One refcount block: entries for host clusters [first, first + perBlock). */
export function encodeRefcountBlock(clusterSize: number, first: number, refcount: (cluster: number) => number): Uint8Array {
  const out = new Uint8Array(clusterSize);
  const view = new DataView(out.buffer);
  const per = refcountsPerBlock(clusterSize);
  for (let i = 0; i < per; i++) {
    const r = refcount(first + i);
    if (r !== 0) view.setUint16(i * 2, r, false);
  }
  return out;
}
