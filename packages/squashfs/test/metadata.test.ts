import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync, deflateSync } from 'node:zlib';
import { MetadataWriter, encodeMetadataBlock, readMetadataBlocks, metadataRef, encodeIndexedTable, METADATA_SIZE } from '../src/metadata.js';

const zlib = (b: Uint8Array) => new Uint8Array(deflateSync(b));
const unzlib = (b: Uint8Array) => new Uint8Array(inflateSync(b));

describe('metadata blocks', () => {
  it('store compressed data with its length and raw data with bit 15 set', () => {
    const text = new Uint8Array(1000).fill(0x61);
    const c = encodeMetadataBlock(text, zlib);
    assert.equal(c[0]! | (c[1]! << 8), c.byteLength - 2);
    const random = crypto.getRandomValues(new Uint8Array(100));
    const r = encodeMetadataBlock(random, zlib);
    assert.equal(r[0]! | (r[1]! << 8), 0x8000 | 100);
    assert.deepEqual(r.subarray(2), random);
  });
  it('cut a table every 8192 bytes and give positions as (block offset, offset)', () => {
    const w = new MetadataWriter(zlib);
    const data = new Uint8Array(20000).map((_, i) => i % 7);
    w.append(data.subarray(0, 8000));
    assert.deepEqual(w.position(), { block: 0, offset: 8000 });
    w.append(data.subarray(8000));
    const blocks = w.finish();
    assert.equal(blocks.length, 3);
    assert.equal(w.blockStarts[1], blocks[0]!.byteLength);
    const all = Buffer.concat(blocks);
    const back = readMetadataBlocks(all, unzlib);
    assert.deepEqual(back.data, data);
    assert.equal(metadataRef({ block: 0x1234, offset: 0x56 }), 0x12340056n);
    assert.equal(METADATA_SIZE, 8192);
  });
  it('indexed tables end with the u64 offsets of their blocks', () => {
    const entries = new Uint8Array(10000).fill(1);
    const t = encodeIndexedTable(entries, null, 1000);
    // two raw blocks: 2 + 8192 and 2 + 1808, then two u64s
    assert.equal(t.indexOffset, 1000 + 8194 + 1810);
    const view = new DataView(t.bytes.buffer);
    assert.equal(view.getBigUint64(8194 + 1810, true), 1000n);
    assert.equal(view.getBigUint64(8194 + 1810 + 8, true), 1000n + 8194n);
  });
});
