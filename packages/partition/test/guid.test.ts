/**
 * GUID byte order (UEFI 2.10 Appendix A) and derived GUIDs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError, toHex } from '@imgkit/core';
import { deterministicGuid, formatGuid, isGuidText, parseGuid } from '@imgkit/partition';

test('Appendix A byte order: first three fields little-endian, last eight as written', () => {
  // The EFI System Partition type as sgdisk stores it (fixtures/partition/sgdisk-gpt-512.xxd at 0x400).
  assert.equal(toHex(parseGuid('C12A7328-F81F-11D2-BA4B-00A0C93EC93B')), '28732ac11ff8d211ba4b00a0c93ec93b');
  assert.equal(toHex(parseGuid('11111111-2222-4333-8444-555555555555')), '111111112222334384445555555555' + '55');
  assert.equal(formatGuid(parseGuid('c12a7328-f81f-11d2-ba4b-00a0c93ec93b')), 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
});

test('round trip for a table of GUIDs', () => {
  for (const g of ['00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', '0123ABCD-4567-89EF-0123-456789ABCDEF']) {
    assert.equal(formatGuid(parseGuid(g)), g);
  }
});

test('text that is not a GUID is E_BAD_OPTION naming the field', () => {
  for (const t of ['', 'C12A7328F81F11D2BA4B00A0C93EC93B', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93', 'G12A7328-F81F-11D2-BA4B-00A0C93EC93B']) {
    assert.equal(isGuidText(t), false, t);
    assert.throws(() => parseGuid(t, 'partitions[0].guid'), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === 'partitions[0].guid');
  }
});

test('deterministic GUIDs: stable, input-sensitive, RFC 9562 version 4 and variant bits', () => {
  const a = deterministicGuid('partition.gpt.disk', 1_700_000_000, 'disk', 0);
  assert.deepEqual(deterministicGuid('partition.gpt.disk', 1_700_000_000, 'disk', 0), a);
  assert.notDeepEqual(deterministicGuid('partition.gpt.disk', 1_700_000_001, 'disk', 0), a);
  assert.notDeepEqual(deterministicGuid('partition.gpt.disk', 1_700_000_000, 'disk2', 0), a);
  assert.notDeepEqual(deterministicGuid('partition.gpt.disk', 1_700_000_000, 'disk', 1), a);
  const text = formatGuid(a);
  assert.match(text, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
});
