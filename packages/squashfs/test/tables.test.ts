import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { toHex } from '@imgkit/core';
import { encodeFragmentTable, FragmentEntry, FragmentPacker } from '../src/fragment.js';
import { IdTable } from '../src/id-table.js';
import { encodeExportTable } from '../src/export-table.js';
import { XattrTable, encodeXattrPairs, splitXattrName } from '../src/xattr.js';
import { readMetadataBlocks } from '../src/metadata.js';

const none = (b: Uint8Array) => b;

describe('fragment table', () => {
  it('entries are 16 bytes: start, size word, unused', () => {
    const t = encodeFragmentTable([{ start: 96, sizeWord: 1234 }, { start: 2000, sizeWord: 100 | (1 << 24) }], null, 5000);
    const entries = readMetadataBlocks(t.bytes.subarray(0, t.indexOffset - 5000), none).data;
    assert.equal(toHex(entries), '6000000000000000d204000000000000' + 'd007000000000000' + '64000001' + '00000000');
    assert.equal(FragmentEntry.size, 16);
  });
  it('the packer closes a block when a tail does not fit', () => {
    const p = new FragmentPacker(100);
    assert.deepEqual({ ...p.add(new Uint8Array(60)), closed: null }, { fragment: 0, offset: 0, closed: null });
    const second = p.add(new Uint8Array(40));
    assert.equal(second.offset, 60);
    assert.equal(second.closed, null);
    const third = p.add(new Uint8Array(1));
    assert.equal(third.fragment, 1);
    assert.equal(third.closed?.byteLength, 100);
  });
});

describe('id table', () => {
  it('numbers ids by first use and stores u32s', () => {
    const t = new IdTable();
    assert.equal(t.get(1000, 'a'), 0);
    assert.equal(t.get(0, 'a'), 1);
    assert.equal(t.get(1000, 'b'), 0);
    const e = t.encode(null, 0);
    assert.equal(toHex(e.bytes.subarray(2, 10)), 'e803000000000000');
    assert.throws(() => t.get(2 ** 32, 'x'), { code: 'E_FIELD_RANGE' });
  });
});

describe('export table', () => {
  it('holds the inode reference of inode n at entry n-1', () => {
    const e = encodeExportTable([0x10n, 0x20005n], null, 0);
    assert.equal(toHex(e.bytes.subarray(2, 18)), '1000000000000000' + '0500020000000000');
  });
});

describe('xattr table', () => {
  it('splits names into namespace ids', () => {
    assert.equal(splitXattrName('user.x')?.type, 0);
    assert.equal(splitXattrName('trusted.x')?.type, 1);
    assert.equal(splitXattrName('security.capability')?.type, 2);
    assert.equal(splitXattrName('system.posix_acl_access'), null);
  });
  it('encodes key and value records', () => {
    const b = encodeXattrPairs([{ name: 'user.ab', value: new Uint8Array([7]) }], 'p');
    assert.equal(toHex(b), '00000200' + '6162' + '01000000' + '07');
  });
  it('stores identical sets once and writes the id table header', () => {
    const t = new XattrTable();
    const v = new Uint8Array([1]);
    assert.equal(t.add([{ name: 'user.a', value: v }], 'x'), 0);
    assert.equal(t.add([{ name: 'user.b', value: v }], 'y'), 1);
    assert.equal(t.add([{ name: 'user.a', value: v }], 'z'), 0);
    const e = t.encode(null, 1000);
    const view = new DataView(e.bytes.buffer);
    const h = e.headerOffset - 1000;
    assert.equal(view.getBigUint64(h, true), 1000n);
    assert.equal(view.getUint32(h + 8, true), 2);
  });
});
