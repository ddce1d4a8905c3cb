/**
 * Read an `xxd -a` dump (the fixtures' format: 16 bytes a line, `*` for repeated all-zero lines)
 * back into bytes. The last line is always printed by xxd, so it gives the length.
 */
import { readFileSync } from 'node:fs';

export function parseXxd(text: string): Uint8Array {
  const lines = text.split('\n').filter((l) => l.length > 0);
  let size = 0;
  const rows: { offset: number; bytes: number[] }[] = [];
  for (const line of lines) {
    if (line === '*') continue;
    const m = /^([0-9a-f]{8}): ((?:[0-9a-f]{4} ?){1,8})/.exec(line);
    if (!m) throw new Error(`not an xxd line: ${line}`);
    const hex = m[2]!.replace(/ /g, '');
    const bytes: number[] = [];
    for (let i = 0; i < hex.length; i += 2) bytes.push(Number.parseInt(hex.slice(i, i + 2), 16));
    const offset = Number.parseInt(m[1]!, 16);
    rows.push({ offset, bytes });
    size = Math.max(size, offset + bytes.length);
  }
  // Lines collapsed under '*' repeat the line before them; xxd -a only collapses all-zero lines.
  const out = new Uint8Array(size);
  for (const r of rows) out.set(r.bytes, r.offset);
  return out;
}

export function readXxdFixture(name: string): Uint8Array {
  return parseXxd(readFileSync(new URL(`../../../fixtures/partition/${name}`, import.meta.url), 'utf8'));
}
