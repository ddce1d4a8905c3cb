/**
 * ECMA-119 §9.4 path tables: one record per directory, ordered by level, then by parent directory
 * number, then by identifier (§9.4.? ordering, §6.9.1). The L table stores numbers little-endian
 * (§7.3.1), the M table big-endian (§7.3.2). Directory numbers start at 1 for the root, whose parent
 * is itself.
 */
export interface PathTableDir {
  /** Identifier bytes; the root's is a single 0x00. */
  identifier: Uint8Array;
  extentLba: number;
  parentNumber: number;
}

export function pathTableSize(dirs: readonly PathTableDir[]): number {
  let n = 0;
  for (const d of dirs) n += 8 + d.identifier.byteLength + (d.identifier.byteLength & 1);
  return n;
}

// ECMA-119 §9.4, Table 9: length of identifier, ext attr length, extent location, parent number, identifier, pad.
export function encodePathTable(dirs: readonly PathTableDir[], bigEndian: boolean): Uint8Array {
  const out = new Uint8Array(pathTableSize(dirs));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const d of dirs) {
    const len = d.identifier.byteLength;
    out[at] = len;
    out[at + 1] = 0;
    view.setUint32(at + 2, d.extentLba, !bigEndian);
    view.setUint16(at + 6, d.parentNumber, !bigEndian);
    out.set(d.identifier, at + 8);
    at += 8 + len + (len & 1);
  }
  return out;
}
