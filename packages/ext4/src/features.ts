/**
 * Feature flags (kernel Documentation/filesystems/ext4/super.rst, s_feature_compat 0x5C,
 * s_feature_incompat 0x60, s_feature_ro_compat 0x64) with the names e2fsprogs gives them
 * (lib/e2p/feature.c), and the `-O` switch as mke2fs parses it: a comma- or space-separated list,
 * `name` turns a feature on, `^name` (or `-name`) off, `none` clears all.
 */
import { ErrorCodes, ImgkitError } from '@imgkit/core';

export type FeatureSet = 'compat' | 'incompat' | 'ro_compat';

export interface Feature {
  name: string;
  set: FeatureSet;
  bit: number;
}

// super.rst "s_feature_compat"
export const COMPAT_DIR_PREALLOC = 0x1;
export const COMPAT_IMAGIC_INODES = 0x2;
export const COMPAT_HAS_JOURNAL = 0x4;
export const COMPAT_EXT_ATTR = 0x8;
export const COMPAT_RESIZE_INODE = 0x10;
export const COMPAT_DIR_INDEX = 0x20;
export const COMPAT_SPARSE_SUPER2 = 0x200;
export const COMPAT_FAST_COMMIT = 0x400;
export const COMPAT_STABLE_INODES = 0x800;
export const COMPAT_ORPHAN_FILE = 0x1000;
// super.rst "s_feature_incompat"
export const INCOMPAT_COMPRESSION = 0x1;
export const INCOMPAT_FILETYPE = 0x2;
export const INCOMPAT_RECOVER = 0x4;
export const INCOMPAT_JOURNAL_DEV = 0x8;
export const INCOMPAT_META_BG = 0x10;
export const INCOMPAT_EXTENTS = 0x40;
export const INCOMPAT_64BIT = 0x80;
export const INCOMPAT_MMP = 0x100;
export const INCOMPAT_FLEX_BG = 0x200;
export const INCOMPAT_EA_INODE = 0x400;
export const INCOMPAT_DIRDATA = 0x1000;
export const INCOMPAT_CSUM_SEED = 0x2000;
export const INCOMPAT_LARGEDIR = 0x4000;
export const INCOMPAT_INLINE_DATA = 0x8000;
export const INCOMPAT_ENCRYPT = 0x10000;
export const INCOMPAT_CASEFOLD = 0x20000;
// super.rst "s_feature_ro_compat"
export const RO_COMPAT_SPARSE_SUPER = 0x1;
export const RO_COMPAT_LARGE_FILE = 0x2;
export const RO_COMPAT_HUGE_FILE = 0x8;
export const RO_COMPAT_GDT_CSUM = 0x10;
export const RO_COMPAT_DIR_NLINK = 0x20;
export const RO_COMPAT_EXTRA_ISIZE = 0x40;
export const RO_COMPAT_QUOTA = 0x100;
export const RO_COMPAT_BIGALLOC = 0x200;
export const RO_COMPAT_METADATA_CSUM = 0x400;
export const RO_COMPAT_READONLY = 0x1000;
export const RO_COMPAT_PROJECT = 0x2000;
export const RO_COMPAT_VERITY = 0x8000;
export const RO_COMPAT_ORPHAN_PRESENT = 0x10000;

/** Every feature e2fsprogs 1.47 names (lib/e2p/feature.c), aliases included. */
export const FEATURES: readonly Feature[] = [
  { name: 'dir_prealloc', set: 'compat', bit: COMPAT_DIR_PREALLOC },
  { name: 'imagic_inodes', set: 'compat', bit: COMPAT_IMAGIC_INODES },
  { name: 'has_journal', set: 'compat', bit: COMPAT_HAS_JOURNAL },
  { name: 'ext_attr', set: 'compat', bit: COMPAT_EXT_ATTR },
  { name: 'resize_inode', set: 'compat', bit: COMPAT_RESIZE_INODE },
  { name: 'dir_index', set: 'compat', bit: COMPAT_DIR_INDEX },
  { name: 'sparse_super2', set: 'compat', bit: COMPAT_SPARSE_SUPER2 },
  { name: 'fast_commit', set: 'compat', bit: COMPAT_FAST_COMMIT },
  { name: 'stable_inodes', set: 'compat', bit: COMPAT_STABLE_INODES },
  { name: 'orphan_file', set: 'compat', bit: COMPAT_ORPHAN_FILE },
  { name: 'compression', set: 'incompat', bit: INCOMPAT_COMPRESSION },
  { name: 'filetype', set: 'incompat', bit: INCOMPAT_FILETYPE },
  { name: 'needs_recovery', set: 'incompat', bit: INCOMPAT_RECOVER },
  { name: 'journal_dev', set: 'incompat', bit: INCOMPAT_JOURNAL_DEV },
  { name: 'meta_bg', set: 'incompat', bit: INCOMPAT_META_BG },
  { name: 'extent', set: 'incompat', bit: INCOMPAT_EXTENTS },
  { name: 'extents', set: 'incompat', bit: INCOMPAT_EXTENTS },
  { name: '64bit', set: 'incompat', bit: INCOMPAT_64BIT },
  { name: 'mmp', set: 'incompat', bit: INCOMPAT_MMP },
  { name: 'flex_bg', set: 'incompat', bit: INCOMPAT_FLEX_BG },
  { name: 'ea_inode', set: 'incompat', bit: INCOMPAT_EA_INODE },
  { name: 'dirdata', set: 'incompat', bit: INCOMPAT_DIRDATA },
  { name: 'metadata_csum_seed', set: 'incompat', bit: INCOMPAT_CSUM_SEED },
  { name: 'large_dir', set: 'incompat', bit: INCOMPAT_LARGEDIR },
  { name: 'inline_data', set: 'incompat', bit: INCOMPAT_INLINE_DATA },
  { name: 'encrypt', set: 'incompat', bit: INCOMPAT_ENCRYPT },
  { name: 'casefold', set: 'incompat', bit: INCOMPAT_CASEFOLD },
  { name: 'fname_encoding', set: 'incompat', bit: INCOMPAT_CASEFOLD },
  { name: 'sparse_super', set: 'ro_compat', bit: RO_COMPAT_SPARSE_SUPER },
  { name: 'large_file', set: 'ro_compat', bit: RO_COMPAT_LARGE_FILE },
  { name: 'huge_file', set: 'ro_compat', bit: RO_COMPAT_HUGE_FILE },
  { name: 'uninit_bg', set: 'ro_compat', bit: RO_COMPAT_GDT_CSUM },
  { name: 'uninit_groups', set: 'ro_compat', bit: RO_COMPAT_GDT_CSUM },
  { name: 'dir_nlink', set: 'ro_compat', bit: RO_COMPAT_DIR_NLINK },
  { name: 'extra_isize', set: 'ro_compat', bit: RO_COMPAT_EXTRA_ISIZE },
  { name: 'quota', set: 'ro_compat', bit: RO_COMPAT_QUOTA },
  { name: 'bigalloc', set: 'ro_compat', bit: RO_COMPAT_BIGALLOC },
  { name: 'metadata_csum', set: 'ro_compat', bit: RO_COMPAT_METADATA_CSUM },
  { name: 'read-only', set: 'ro_compat', bit: RO_COMPAT_READONLY },
  { name: 'project', set: 'ro_compat', bit: RO_COMPAT_PROJECT },
  { name: 'verity', set: 'ro_compat', bit: RO_COMPAT_VERITY },
  { name: 'orphan_present', set: 'ro_compat', bit: RO_COMPAT_ORPHAN_PRESENT },
];

/** The three feature words of a superblock. */
export interface FeatureWords {
  compat: number;
  incompat: number;
  ro_compat: number;
}

/**
 * What Debian 12's /etc/mke2fs.conf gives `mke2fs -t ext4`: base_features "sparse_super,large_file,
 * filetype,resize_inode,dir_index,ext_attr" plus the ext4 stanza "has_journal,extent,huge_file,
 * flex_bg,metadata_csum,64bit,dir_nlink,extra_isize".
 */
export const DEFAULT_FEATURES: FeatureWords = {
  compat: COMPAT_HAS_JOURNAL | COMPAT_EXT_ATTR | COMPAT_RESIZE_INODE | COMPAT_DIR_INDEX,
  incompat: INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG,
  ro_compat:
    RO_COMPAT_SPARSE_SUPER |
    RO_COMPAT_LARGE_FILE |
    RO_COMPAT_HUGE_FILE |
    RO_COMPAT_DIR_NLINK |
    RO_COMPAT_EXTRA_ISIZE |
    RO_COMPAT_METADATA_CSUM,
};

/** Features imgkit writes (and so may be turned on); the rest of FEATURES is refused when asked for. */
export const WRITABLE_FEATURES: FeatureWords = {
  compat: DEFAULT_FEATURES.compat,
  incompat: DEFAULT_FEATURES.incompat | INCOMPAT_CSUM_SEED,
  ro_compat: DEFAULT_FEATURES.ro_compat | RO_COMPAT_GDT_CSUM,
};

export function hasFeature(w: FeatureWords, set: FeatureSet, bit: number): boolean {
  return (w[set] & bit) !== 0;
}

/** Names of the features set in `w`, in dumpe2fs's order (compat, incompat, ro_compat; by bit). */
export function featureNames(w: FeatureWords): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const set of ['compat', 'incompat', 'ro_compat'] as const) {
    for (let i = 0; i < 32; i++) {
      const bit = 2 ** i;
      if (((w[set] >>> i) & 1) === 0) continue;
      const f = FEATURES.find((x) => x.set === set && x.bit === bit);
      const name = f?.name ?? `FEATURE_${set}_${bit.toString(16)}`;
      if (!seen.has(name)) out.push(name);
      seen.add(name);
    }
  }
  return out;
}

function bad(detail: string, hint?: string): ImgkitError {
  return new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'ext4', field: 'features', detail, ...(hint ? { hint } : {}) });
}

/**
 * Apply an `-O` list (mke2fs(8) -O: "feature[,...]", a leading ^ clears, "none" clears all) to
 * `base`. Unknown names are refused, and so are features imgkit does not write.
 */
export function editFeatures(base: FeatureWords, list: string): FeatureWords {
  const w: FeatureWords = { ...base };
  for (const raw of list.split(/[\s,]+/)) {
    if (raw === '') continue;
    if (raw.toLowerCase() === 'none' || raw.toLowerCase() === 'clear') {
      w.compat = 0;
      w.incompat = 0;
      w.ro_compat = 0;
      continue;
    }
    const off = raw.startsWith('^') || raw.startsWith('-');
    const name = (off || raw.startsWith('+') ? raw.slice(1) : raw).toLowerCase();
    const f = FEATURES.find((x) => x.name === name);
    if (!f) throw bad(`"${name}" is not an ext4 feature e2fsprogs knows`, 'see mke2fs(8) and ext4(5) for the names');
    if (off) w[f.set] &= ~f.bit;
    else {
      if ((WRITABLE_FEATURES[f.set] & f.bit) === 0) {
        throw bad(`imgkit does not write the ${f.name} feature`, `leave it out; imgkit writes ${featureNames(WRITABLE_FEATURES).join(', ')}`);
      }
      w[f.set] |= f.bit;
    }
    w[f.set] >>>= 0;
  }
  return w;
}
