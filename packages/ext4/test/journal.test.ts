import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JBD2_MAGIC, JournalSuperblock, defaultJournalBlocks, encodeJournalSuperblock, parseUuid } from '@imgkit/ext4';
import { REF_UUID, block, hex, refImage } from './reference.ts';

test("jbd2 superblock: big-endian fields of journal.rst; an empty journal equals mke2fs's (4 KiB and 1 KiB)", () => {
  assert.deepEqual([JournalSuperblock.fields.maxLen.offset, JournalSuperblock.fields.start.offset, JournalSuperblock.fields.uuid.offset, JournalSuperblock.fields.nrUsers.offset], [0x10, 0x1c, 0x30, 0x40]);
  const uuid = parseUuid(REF_UUID, 'uuid');
  // the journal's first block: 8 (4 KiB image), 24 (1 KiB image), see fixtures/README.md
  const four = block(refImage('empty-4k'), 4096, 8);
  assert.equal(hex(encodeJournalSuperblock(4096, 1024, uuid)), hex(four));
  const d = JournalSuperblock.decode(four);
  assert.equal(d.magic, JBD2_MAGIC);
  assert.deepEqual([d.sequence, d.start, d.first], [1, 0, 1], 'clean: nothing to replay');
  const one = block(refImage('empty-1k-nocsum'), 1024, 24);
  assert.equal(hex(encodeJournalSuperblock(1024, 1024, uuid)), hex(one));
});

test("journal size: mke2fs's table by filesystem blocks (ext2fs_default_journal_size)", () => {
  const cases: [number, number | undefined][] = [
    [2047, undefined], [2048, 1024], [32767, 1024], [32768, 4096], [262143, 4096], [262144, 8192], [524288, 16384],
    [4194304, 32768], [8388608, 65536], [16777216, 131072], [33554432, 262144], [2 ** 40, 262144],
  ];
  for (const [blocks, want] of cases) assert.equal(defaultJournalBlocks(blocks), want, String(blocks));
});
