/**
 * `imgkit disk` refusing bad input, each case through the CLI: the exit status (2 for a layout that
 * asks for something impossible, 1 for a failure while writing), the error code, the layout file
 * with the line (or JSON pointer) and field, and nothing valid-looking left behind — no output file,
 * no temporary file beside it, and an existing output keeps its old bytes.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { pseudoRandomBytes } from './lib/fixture.ts';
import { runImgkit, tempDir } from './lib/tools.ts';

interface Case {
  layout: string;
  /** File name of the layout. @default 'layout.yaml' */
  name?: string;
  prepare?: (dir: string) => Promise<void>;
  code: string;
  /** The line the message must name. */
  line?: number;
  /** The field (YAML notation or JSON pointer) the message must name. */
  field?: string;
  status: 1 | 2;
  more?: RegExp[];
}

async function refuse(c: Case): Promise<void> {
  const dir = await tempDir('disk-bad');
  await c.prepare?.(dir);
  const name = c.name ?? 'layout.yaml';
  await writeFile(join(dir, name), c.layout);
  const out = join(dir, 'out.img');
  const r = await runImgkit(['disk', join(dir, name), out], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(r.code, c.status, r.stderr);
  assert.match(r.stderr, new RegExp(`\\[${c.code}\\]`), r.stderr);
  if (c.line !== undefined) assert.match(r.stderr, new RegExp(`${name.replace('.', '\\.')}:${c.line}: `), r.stderr);
  if (c.field !== undefined) assert.ok(r.stderr.includes(`: ${c.field}: `), `field ${c.field} in: ${r.stderr}`);
  for (const re of c.more ?? []) assert.match(r.stderr, re);
  const left = (await readdir(dir)).filter((f) => f.startsWith('out.img') || f.includes('.imgkit-'));
  assert.deepEqual(left, [], 'nothing is left behind');
}

test('overlapping partitions: both named with their sectors, at the line of the second', () =>
  refuse({
    layout: 'table: gpt\nsize: 64M\npartitions:\n  - { label: a, offset: 1M, size: 10M }\n  - { label: b, offset: 5M, size: 10M }\n',
    code: 'E_BAD_OPTION',
    status: 2,
    line: 5,
    field: 'partitions[1].offset',
    more: [/"b" \(partitions\[1\]\) \(sectors 10240–30719\) overlaps "a" \(partitions\[0\]\) \(sectors 2048–22527\)/],
  }));

test('a partition past the end of the disk: E_NO_SPACE with the sectors and the disk size', () =>
  refuse({
    layout: 'table: gpt\nsize: 16M\npartitions:\n  - label: big\n    size: 20M\n',
    code: 'E_NO_SPACE',
    status: 1,
    line: 5,
    field: 'partitions[0].size',
    more: [/ends past the last usable sector/],
  }));

test('a GPT name of 37 UTF-16 units: E_NAME_TOO_LONG, never cut', () =>
  refuse({
    layout: `table: gpt\npartitions:\n  - { label: ${'n'.repeat(37)}, size: 1M }\n`,
    code: 'E_NAME_TOO_LONG',
    status: 1,
    line: 3,
    field: 'partitions[0].label',
    more: [/37 UTF-16 units/],
  }));

test('a FAT tree that does not fit the partition: E_NO_SPACE naming the bytes needed', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - label: esp\n    type: esp\n    size: 1M\n    content: { fat: tree/ }\n',
    prepare: async (d) => {
      await mkdir(join(d, 'tree'));
      await writeFile(join(d, 'tree/big.bin'), Buffer.alloc(3 << 20, 1));
    },
    code: 'E_NO_SPACE',
    status: 1,
    line: 6,
    field: 'partitions[0].content.fat',
    more: [/the tree needs a FAT volume of \d+ bytes/],
  }));

test('a file over 4 GiB in a FAT partition (sparse): E_FIELD_RANGE naming the file', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - { label: esp, type: esp, size: 8G, content: { fat: tree/ } }\n',
    prepare: async (d) => {
      await mkdir(join(d, 'tree'));
      await writeFile(join(d, 'tree/huge.img'), '');
      await truncate(join(d, 'tree/huge.img'), 2 ** 32 + 4096);
    },
    code: 'E_FIELD_RANGE',
    status: 1,
    line: 3,
    more: [/huge\.img/],
  }));

test('a name FAT cannot hold: E_NAME_UNENCODABLE naming the path', () =>
  refuse({
    layout: 'table: mbr\npartitions:\n  - { type: fat32, size: 64M, content: { fat: tree/ } }\n',
    prepare: async (d) => {
      await mkdir(join(d, 'tree/sub'), { recursive: true });
      await writeFile(join(d, 'tree/sub/what?.txt'), 'x');
    },
    code: 'E_NAME_UNENCODABLE',
    status: 1,
    line: 3,
    more: [/sub\/what\?\.txt/],
  }));

test('a symlink in a FAT tree: E_UNSUPPORTED_ENTRY naming it (dereference: true is the way out)', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - { label: esp, type: esp, size: 32M, content: { fat: tree/ } }\n',
    prepare: async (d) => {
      await mkdir(join(d, 'tree'));
      await writeFile(join(d, 'tree/a.txt'), 'a');
      await symlink('a.txt', join(d, 'tree/link'));
    },
    code: 'E_UNSUPPORTED_ENTRY',
    status: 1,
    line: 3,
    more: [/link/],
  }));

test('five primary partitions in an MBR: all named, with the way out', () =>
  refuse({
    layout: `table: mbr\npartitions:\n${[1, 2, 3, 4, 5].map((i) => `  - { label: p${i}, size: 1M }\n`).join('')}`,
    code: 'E_BAD_OPTION',
    status: 2,
    line: 3,
    field: 'partitions',
    more: [/an MBR holds 4 primary entries; 5 primary partitions/, /"p5" \(partitions\[4\]\)/, /logical: true/],
  }));

test('an unknown type name: the error lists the known ones', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - label: a\n    type: lnux\n    size: 1M\n',
    code: 'E_BAD_OPTION',
    status: 2,
    line: 4,
    field: 'partitions[0].type',
    more: [/unknown GPT partition type "lnux"/, /esp, xbootldr, linux, swap/],
  }));

test('a YAML syntax error names its line', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - { label: a, size: 1M\n  - { label: b, size: 1M }\n',
    code: 'E_LAYOUT_SYNTAX',
    status: 1,
    more: [/layout\.yaml:[34]: YAML syntax error/],
  }));

test('a JSON syntax error names its line', () =>
  refuse({
    name: 'layout.json',
    layout: '{\n  "table": "gpt",\n  "partitions": [\n    { "label": "a", "size": "1M", }\n  ]\n}\n',
    code: 'E_LAYOUT_SYNTAX',
    status: 1,
    line: 4,
    more: [/JSON syntax error/],
  }));

test('a bad value in a JSON layout: the JSON pointer and the line', () =>
  refuse({
    name: 'layout.json',
    layout: '{\n  "table": "gpt",\n  "partitions": [\n    { "label": "a", "size": "1M" },\n    { "label": "b", "size": "12 parsecs" }\n  ]\n}\n',
    code: 'E_BAD_OPTION',
    status: 2,
    line: 5,
    field: '/partitions/1/size',
    more: [/"12 parsecs" is not a size/],
  }));

test('an unknown key: refused with the known keys (a typo never becomes a default)', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - label: a\n    szie: 1M\n',
    code: 'E_BAD_OPTION',
    status: 2,
    line: 4,
    field: 'partitions[0].szie',
    more: [/known keys: label, type, size, offset/],
  }));

test('a squashfs bigger than its partition: E_NO_SPACE with the bytes it needs, after writing; the old output is kept', async () => {
  const dir = await tempDir('disk-bad-sqfs');
  await mkdir(join(dir, 'tree'));
  // incompressible content: 3 MiB of pseudo-random bytes
  const b = pseudoRandomBytes(3 << 20, 77);
  await writeFile(join(dir, 'tree/random.bin'), b);
  await writeFile(join(dir, 'layout.yaml'), 'table: gpt\npartitions:\n  - label: root\n    size: 2M\n    content: { squashfs: tree/ }\n');
  const out = join(dir, 'out.img');
  await writeFile(out, 'old content\n');
  const r = await runImgkit(['disk', join(dir, 'layout.yaml'), out], {});
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /layout\.yaml:4: partitions\[0\]\.size: partition 1 \("root"\) is 2097152 bytes; its squashfs content needs (\d+) bytes.*\[E_NO_SPACE\]/);
  const needed = Number(/needs (\d+) bytes/.exec(r.stderr)![1]);
  // exactly the size of the same squashfs written alone
  const alone = join(await tempDir('disk-bad-sqfs-alone'), 'alone.sqfs');
  assert.equal((await runImgkit(['squashfs', join(dir, 'tree'), alone])).code, 0);
  assert.equal(needed, (await stat(alone)).size);
  assert.ok(needed > 2 << 20);
  assert.equal(await readFile(out, 'utf8'), 'old content\n');
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes('.imgkit-')), []);
});

test('a raw image over the GPT entry array: refused with the way out (gptLocation)', () =>
  refuse({
    layout: 'table: gpt\npartitions:\n  - { label: a, size: 1M }\nraw:\n  - { offset: 8K, image: u-boot.bin }\n',
    prepare: (d) => writeFile(join(d, 'u-boot.bin'), Buffer.alloc(1000, 1)),
    code: 'E_BAD_OPTION',
    status: 2,
    line: 5,
    field: 'raw[0].offset',
    more: [/overlaps the primary GPT header and entries/, /gptLocation/],
  }));

test('a squashfs without a size after the fill partition: refused (its place would depend on its size)', () =>
  refuse({
    layout: 'table: gpt\nsize: 64M\npartitions:\n  - { label: data, size: fill }\n  - { label: root, content: { squashfs: tree/ } }\n',
    prepare: (d) => mkdir(join(d, 'tree')),
    code: 'E_BAD_OPTION',
    status: 2,
    line: 5,
    field: 'partitions[1].size',
  }));

test('standard output takes a raw disk in order (the same bytes as a file); a compressed qcow2 is refused with the reason', async () => {
  const dir = await tempDir('disk-stdout');
  await writeFile(join(dir, 'l.yaml'), 'table: gpt\npartitions:\n  - { size: 1M }\n');
  const piped = await runImgkit(['disk', join(dir, 'l.yaml'), '-'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(piped.code, 0, piped.stderr);
  const file = join(dir, 'l.img');
  assert.equal((await runImgkit(['disk', join(dir, 'l.yaml'), file], { env: { SOURCE_DATE_EPOCH: '1700000000' } })).code, 0);
  assert.ok(piped.stdout.equals(await readFile(file)), 'standard output = the file');
  const r = await runImgkit(['disk', join(dir, 'l.yaml'), '-', '--format', 'qcow2', '-c']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /a compressed qcow2 image cannot be written to standard output/);
});
