/**
 * Layout files: YAML and JSON parsing, the line of every field (flow and block style), JSON
 * pointers (RFC 6901), syntax detection, and syntax errors with their line.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImgkitError } from '@imgkit/core';
import { detectSyntax, dottedField, jsonPointer, parseLayoutText, validateLayout, locatorOf } from '@imgkit/disk';

const YAML = `# comment
table: gpt
size: 2G
partitions:
  - { label: esp, type: esp, size: 100M, content: { fat: boot/ } }
  - label: root
    type: 0x83
    size: fill
    content:
      squashfs: rootfs/
      compression: zstd
  - label: empty
    content:
`;

test('YAML: values as YAML 1.2 reads them (0x83 is a number) and the line of each field, flow or block', () => {
  const t = parseLayoutText(YAML, 'disk.yaml');
  assert.equal(t.syntax, 'yaml');
  const v = t.value as { partitions: { type?: unknown; size?: unknown }[] };
  assert.equal(v.partitions[1]!.type, 0x83);
  assert.equal(t.lineOf(['table']), 2);
  assert.equal(t.lineOf(['partitions', 0, 'content', 'fat']), 5);
  assert.equal(t.lineOf(['partitions', 1]), 6);
  assert.equal(t.lineOf(['partitions', 1, 'size']), 8);
  assert.equal(t.lineOf(['partitions', 1, 'content', 'compression']), 11);
  assert.equal(t.lineOf(['partitions', 2, 'content']), 13, 'an empty value: the line of its key');
  assert.equal(t.lineOf(['partitions', 1, 'nothere']), 6, 'a missing field: its parent');
  assert.equal(t.fieldName(['partitions', 1, 'size']), 'partitions[1].size');
});

test('JSON: values from JSON.parse, lines from the same text, fields as JSON pointers', () => {
  const text = '{\n  "table": "mbr",\n  "partitions": [\n    { "type": 12, "size": "1M" },\n    { "type": "linux", "size": "fill", "a/b": 1 }\n  ]\n}\n';
  const t = parseLayoutText(text, 'disk.json');
  assert.equal(t.syntax, 'json');
  assert.equal(t.lineOf(['partitions', 1, 'size']), 5);
  assert.equal(t.fieldName(['partitions', 1, 'a/b']), '/partitions/1/a~1b');
  assert.equal(jsonPointer(['x~y', 0]), '/x~0y/0');
  assert.equal(dottedField(['partitions', 3, 'content', 'fat']), 'partitions[3].content.fat');
});

test('syntax from the extension, else JSON when the text starts with {', () => {
  assert.equal(detectSyntax('a.JSON', 'table: gpt'), 'json');
  assert.equal(detectSyntax('a.yml', '{}'), 'yaml');
  assert.equal(detectSyntax(undefined, '  {"table": "gpt"}'), 'json');
  assert.equal(detectSyntax('layout', 'table: gpt'), 'yaml');
});

test('syntax errors: E_LAYOUT_SYNTAX with the line (YAML, duplicate keys, JSON)', () => {
  const cases: [string, string, number][] = [
    ['a.yaml', 'table: gpt\npartitions:\n  - { label: a\n  - b\n', 4], // where the parser finds the unclosed { … }
    ['a.yaml', 'table: gpt\ntable: mbr\n', 2],
    ['a.json', '{\n "table": "gpt",\n "partitions": [,]\n}', 3],
  ];
  for (const [name, text, line] of cases) {
    assert.throws(() => parseLayoutText(text, name), (e: unknown) => e instanceof ImgkitError && e.code === 'E_LAYOUT_SYNTAX' && e.line === line && e.path === name, `${name}: ${text}`);
  }
});

test('validation errors name the file, the line and the field; unknown keys list the known ones', () => {
  const t = parseLayoutText('table: gpt\npartitions:\n  - label: a\n    size: 3 furlongs\n', 'l.yaml');
  assert.throws(() => validateLayout(t.value, locatorOf(t)), (e: unknown) => e instanceof ImgkitError && e.code === 'E_BAD_OPTION' && e.line === 4 && e.field === 'partitions[0].size' && e.path === 'l.yaml');
  const u = parseLayoutText('table: gpt\npartitions:\n  - { label: a, size: 1M, content: { fat: x/, fatbits: 16 } }\n', 'l.yaml');
  assert.throws(
    () => validateLayout(u.value, locatorOf(u)),
    (e: unknown) => e instanceof ImgkitError && e.field === 'partitions[0].content.fatbits' && e.line === 3 && /known keys: fat, fatBits/.test(e.hint ?? ''),
  );
  const cases: [unknown, string][] = [
    [{ partitions: [{ size: '1M' }] }, 'table'],
    [{ table: 'apm', partitions: [{ size: '1M' }] }, 'table'],
    [{ table: 'gpt', partitions: [] }, 'partitions'],
    [{ table: 'gpt', partitions: [{ size: '1M', content: { fat: 'a/', squashfs: 'b/' } }] }, 'partitions[0].content'],
    [{ table: 'gpt', partitions: [{ size: '1M', content: { squashfs: 'b/', compression: 'bzip2' } }] }, 'partitions[0].content.compression'],
    [{ table: 'gpt', partitions: [{ size: '1M', bootable: 'yes' }] }, 'partitions[0].bootable'],
    [{ table: 'gpt', partitions: [{ size: '1M' }], raw: [{ image: 'x' }] }, 'raw[0].offset'],
    [{ table: 'gpt', sectorSize: 1024, partitions: [{ size: '1M' }] }, 'sectorSize'],
  ];
  for (const [value, field] of cases) {
    assert.throws(() => validateLayout(value), (e: unknown) => e instanceof ImgkitError && e.field === field, JSON.stringify(value));
  }
});
