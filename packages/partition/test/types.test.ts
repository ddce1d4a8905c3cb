/**
 * Partition type names: GPT GUIDs (UEFI 2.10 Table 5-7, Discoverable Partitions Specification) and
 * MBR type bytes; unknown names are errors that list the known ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError } from '@imgkit/core';
import { GPT_TYPES, MBR_TYPES, formatGuid, resolveGptType, resolveMbrType } from '@imgkit/partition';

test('GPT names map to the GUIDs util-linux lists for them (sfdisk --label gpt -T)', () => {
  // Copied from `sfdisk --label gpt -T` (util-linux 2.38.1), the reference tool's own table.
  const want: Record<string, string> = {
    esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', // EFI System
    xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172', // Linux extended boot
    linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', // Linux filesystem
    swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
    home: '933AC7E1-2EB4-4F13-B844-0E14E2AEF915',
    srv: '3B8F8425-20E0-4F3B-907F-1A25A76F98E8', // Linux server data
    var: '4D21B016-B534-45C2-A9FB-5C16E091FD2D', // Linux variable data
    'root-x86-64': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
    'usr-x86-64': '8484680C-9521-48C6-9C11-B0720656F69E',
    'root-x86-64-verity': '2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5',
    'usr-x86-64-verity': '77FF5F63-E7B6-4633-ACF4-1565B864C0E6',
    'root-arm64': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
    'usr-arm64': 'B0E01050-EE5F-4390-949A-9101B17104E9',
    'root-arm64-verity': 'DF3300CE-D69F-4C92-978C-9BFB0F38D820',
    'usr-arm64-verity': '6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E',
  };
  for (const [name, guid] of Object.entries(want)) {
    assert.equal((GPT_TYPES as Record<string, string>)[name], guid, name);
    const r = resolveGptType(name, 'type');
    assert.equal(formatGuid(r.guid), guid);
  }
  assert.equal(resolveGptType('ESP', 'type').text, GPT_TYPES.esp, 'names are case-insensitive');
  assert.equal(resolveGptType('a19d880f-05fc-4d3b-a006-743f0f84911e', 'type').text, 'A19D880F-05FC-4D3B-A006-743F0F84911E', 'any GUID is accepted');
});

test('an unknown GPT type name is E_BAD_OPTION whose message lists every known name', () => {
  assert.throws(
    () => resolveGptType('rooot', 'partitions[2].type'),
    (e: unknown) => {
      assert.ok(e instanceof ImgkitError);
      assert.equal(e.code, 'E_BAD_OPTION');
      assert.equal(e.field, 'partitions[2].type');
      assert.match(e.message, /"rooot"/);
      for (const n of Object.keys(GPT_TYPES)) assert.ok(e.message.includes(n), `lists ${n}`);
      return true;
    },
  );
  assert.throws(() => resolveGptType(0x83, 't'), (e: unknown) => e instanceof ImgkitError && /MBR type byte/.test(e.message));
});

test('MBR types: names, bytes, "0x.." text; GPT-only names and bad bytes are errors listing the names', () => {
  assert.equal(resolveMbrType('linux', 't'), 0x83);
  assert.equal(resolveMbrType('esp', 't'), 0xef);
  assert.equal(resolveMbrType('swap', 't'), 0x82);
  assert.equal(resolveMbrType('fat32', 't'), 0x0c);
  assert.equal(resolveMbrType(0x17, 't'), 0x17);
  assert.equal(resolveMbrType('0xEF', 't'), 0xef);
  for (const bad of [0, 256, -1, 1.5]) assert.throws(() => resolveMbrType(bad, 't'), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION');
  assert.throws(
    () => resolveMbrType('root-x86-64', 'partitions[0].type'),
    (e: unknown) => e instanceof ImgkitError && /only in GPT/.test(e.message) && Object.keys(MBR_TYPES).every((n) => e.message.includes(n)),
  );
  assert.throws(() => resolveMbrType('nonsense', 't'), (e: unknown) => e instanceof ImgkitError && /unknown MBR partition type "nonsense"/.test(e.message));
});
