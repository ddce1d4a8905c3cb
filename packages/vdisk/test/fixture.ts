/** Reference bytes from fixtures/vdisk/ (xxd -a dumps; recipes in fixtures/README.md). */
import { readFileSync } from 'node:fs';
import { parseXxd } from '../../partition/test/xxd.ts';

export function readVdiskFixture(name: string): Uint8Array {
  return parseXxd(readFileSync(new URL(`../../../fixtures/vdisk/${name}`, import.meta.url), 'utf8'));
}
