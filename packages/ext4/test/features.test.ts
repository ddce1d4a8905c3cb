import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FEATURES, RO_COMPAT_METADATA_CSUM, INCOMPAT_64BIT, editFeatures, featureNames, resolveOptions } from '@imgkit/ext4';

test('editFeatures: mke2fs -O syntax (^ clears, none clears all, commas or spaces), aliases', () => {
  const w = editFeatures(DEFAULT_FEATURES, '^metadata_csum,^64bit');
  assert.equal(w.ro_compat & RO_COMPAT_METADATA_CSUM, 0);
  assert.equal(w.incompat & INCOMPAT_64BIT, 0);
  assert.deepEqual(featureNames(editFeatures(DEFAULT_FEATURES, 'none,extents,filetype sparse_super')), ['filetype', 'extent', 'sparse_super']);
  assert.deepEqual(featureNames(editFeatures(DEFAULT_FEATURES, '^has_journal -resize_inode')).includes('has_journal'), false);
  assert.ok(featureNames(editFeatures(DEFAULT_FEATURES, '^metadata_csum,uninit_bg')).includes('uninit_bg'));
});

test('editFeatures: unknown names and features imgkit does not write are E_BAD_OPTION naming "features"', () => {
  const bad = (list: string, re: RegExp) =>
    assert.throws(() => editFeatures(DEFAULT_FEATURES, list), (e: { code?: string; field?: string; message?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'features' && re.test(e.message ?? ''));
  bad('no_such_feature', /not an ext4 feature/);
  bad('inline_data', /does not write the inline_data/);
  bad('bigalloc', /bigalloc/);
  bad('encrypt', /encrypt/);
});

test('feature combinations mke2fs refuses are refused: ^extent, resize_inode without sparse_super, csum seed without metadata_csum', () => {
  const bad = (features: string) => assert.throws(() => resolveOptions({ features }), (e: { code?: string; field?: string }) => e.code === 'E_BAD_OPTION' && e.field === 'features', features);
  bad('^extent');
  bad('^sparse_super');
  bad('^metadata_csum,metadata_csum_seed');
  assert.equal(resolveOptions({ features: '^sparse_super,^resize_inode' }).features.ro_compat & 1, 0);
  // metadata_csum supersedes uninit_bg (mke2fs clears it)
  assert.equal(resolveOptions({ features: 'uninit_bg' }).features.ro_compat & 0x10, 0);
});
