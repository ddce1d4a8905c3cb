/**
 * GPT attribute bits: UEFI 2.10 Table 5-8 and the Discoverable Partitions Specification.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError } from '@imgkit/core';
import { describeAttributes, resolveAttributes } from '@imgkit/partition';

test('named bits land where UEFI and the DPS put them', () => {
  const cases: [string, bigint][] = [
    ['required', 1n],
    ['no-block-io', 2n],
    ['legacy-bios-bootable', 4n],
    ['grow-fs', 1n << 59n],
    ['read-only', 1n << 60n],
    ['hidden', 1n << 62n],
    ['no-auto', 1n << 63n],
  ];
  for (const [name, value] of cases) {
    assert.equal(resolveAttributes([name as never], 'a'), value, name);
    assert.deepEqual(describeAttributes(value), [name]);
  }
  assert.equal(resolveAttributes(['required', 'read-only', 'no-auto', 48], 'a'), 1n | (1n << 48n) | (1n << 60n) | (1n << 63n));
  assert.deepEqual(describeAttributes(1n | (1n << 48n) | (1n << 63n)), ['required', 48, 'no-auto']);
  assert.equal(resolveAttributes(0x9000000000000005n, 'a'), 0x9000000000000005n, 'a raw value passes');
  assert.equal(resolveAttributes(undefined, 'a'), 0n);
});

test('reserved bits 3–47, unknown names and out-of-range bits are E_BAD_OPTION naming the field', () => {
  const isBad = (field: string, re: RegExp) => (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.field === field && re.test(e.message);
  assert.throws(() => resolveAttributes([3], 'p.attributes'), isBad('p.attributes', /bit 3 reserved/));
  assert.throws(() => resolveAttributes(1n << 47n, 'p.attributes'), isBad('p.attributes', /bit 47 reserved/));
  assert.throws(() => resolveAttributes([64], 'p.attributes'), isBad('p.attributes', /not 0–63/));
  assert.throws(() => resolveAttributes(['readonly' as never], 'p.attributes'), isBad('p.attributes', /unknown GPT attribute "readonly".*read-only/));
  assert.throws(() => resolveAttributes(1n << 64n, 'p.attributes'), isBad('p.attributes', /64 bits/));
});
