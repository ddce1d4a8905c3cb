import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toHex, encodeUtf8 } from '@imgkit/core';
import { writeDirectory, type DirectoryEntryInfo } from '../src/directory.js';
import { MetadataWriter } from '../src/metadata.js';

const raw = (w: MetadataWriter) => Buffer.concat(w.finish()).subarray(2); // one raw block

describe('directory listings', () => {
  it('match mksquashfs for a small directory (one header, deltas, basic types)', () => {
    // mksquashfs 4.5.1's listing of dev/ {fifo, null, sda, sock} with inodes 4…7 in block 0.
    const w = new MetadataWriter(null);
    const e = (name: string, offset: number, n: number, type: number): DirectoryEntryInfo => ({ name: encodeUtf8(name), inodeBlock: 0, inodeOffset: offset, inodeNumber: n, type });
    const d = writeDirectory(w, [e('fifo', 0x58, 4, 6), e('null', 0x6c, 5, 5), e('sda', 0x84, 6, 4), e('sock', 0x9c, 7, 7)]);
    assert.equal(
      toHex(raw(w)),
      '030000000000000004000000' + '58000000060003006669666f' + '6c000100050003006e756c6c' + '840002000400020073646' + '1' + '9c00030007000300736f636b',
    );
    assert.equal(d.fileSize, 12 + 4 * 8 + 15 + 3);
    assert.deepEqual(d.index, []);
  });
  it('starts a new header after 256 entries, on another inode block, or when the delta leaves ±32767', () => {
    const entries: DirectoryEntryInfo[] = [];
    for (let i = 0; i < 300; i++) entries.push({ name: encodeUtf8(`n${String(i).padStart(3, '0')}`), inodeBlock: i < 280 ? 0 : 9000, inodeOffset: i, inodeNumber: i === 299 ? 100000 : i + 1, type: 2 });
    const w = new MetadataWriter(null);
    writeDirectory(w, entries);
    const data = raw(w);
    const v = new DataView(data.buffer, data.byteOffset);
    const headers: number[][] = [];
    for (let p = 0; p < data.byteLength; ) {
      const count = v.getUint32(p, true) + 1;
      headers.push([count, v.getUint32(p + 4, true), v.getUint32(p + 8, true)]);
      p += 12 + count * (8 + 4);
    }
    assert.deepEqual(headers, [[256, 0, 1], [24, 0, 257], [19, 9000, 281], [1, 9000, 100000]]);
  });
  it('indexes a listing longer than a metadata block', () => {
    const entries: DirectoryEntryInfo[] = [];
    for (let i = 0; i < 3000; i++) entries.push({ name: encodeUtf8(`file-${String(i).padStart(5, '0')}`), inodeBlock: 0, inodeOffset: 0, inodeNumber: i + 1, type: 2 });
    const w = new MetadataWriter(null);
    w.append(new Uint8Array(100)); // the listing starts inside a block
    const d = writeDirectory(w, entries);
    assert.ok(d.index.length >= 5, `${d.index.length} index entries`);
    let previous = 0;
    for (const i of d.index) {
      assert.ok(i.index - previous <= 8192 + 12 + 8 + 10);
      previous = i.index;
      // the block holding listing byte i.index is the one named
      const abs = 100 + i.index;
      assert.equal(i.startBlock, Math.floor(abs / 8192) * (8192 + 2));
    }
  });
});
