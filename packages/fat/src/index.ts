import type { ByteSink, SourceTree } from '@imgkit/core';
import { planFat, type PlanFatOptions } from './plan.js';
import type { FatResult } from './writer.js';

export { planFat, FAT_MAX_FILE_BYTES, type FatPlan, type FatNode, type PlanFatOptions } from './plan.js';
export { resolveOptions, checkLabel, type FatOptions, type ResolvedFatOptions } from './options.js';
export { encodeDirectory, type FatProgress, type FatResult } from './writer.js';
export {
  mkfsGeometry,
  smallestFit,
  fits,
  SECTOR_BYTES,
  FAT_COUNT,
  MAX_CLUSTERS_12,
  MIN_CLUSTERS_16,
  MAX_CLUSTERS_16,
  MIN_CLUSTERS_32,
  MAX_CLUSTERS_32,
  MAX_DIR_ENTRIES,
  FAT32_AUTO_BYTES,
  type FatBits,
  type FatGeometry,
  type GeometryRequest,
  type SpaceNeed,
} from './geometry.js';
export {
  BootSector16,
  BootSector32,
  encodeBootSector,
  bootCode,
  bootCodeOffset,
  BOOT_SIGNATURE,
  EXTENDED_BOOT_SIGNATURE,
  OEM_NAME,
  NO_NAME_LABEL,
  ROOT_CLUSTER,
  FSINFO_SECTOR,
  BACKUP_BOOT_SECTOR,
  type BootSector16Values,
  type BootSector32Values,
} from './boot-sector.js';
export { FsInfo, encodeFsInfo, FSINFO_LEAD_SIGNATURE, FSINFO_STRUCT_SIGNATURE, FSINFO_TRAIL_SIGNATURE, FSINFO_UNKNOWN, type FsInfoValues } from './fsinfo.js';
export { fatPieces, setFatEntry, getFatEntry, fatBytes, END_OF_CHAIN, ENTRY_MASK } from './fat-table.js';
export {
  DirEntry,
  fatTimestamp,
  fromFatTimestamp,
  DIRENT_BYTES,
  ATTR_READ_ONLY,
  ATTR_HIDDEN,
  ATTR_SYSTEM,
  ATTR_VOLUME_ID,
  ATTR_DIRECTORY,
  ATTR_ARCHIVE,
  ATTR_LONG_NAME,
  NT_LOWER_BASE,
  NT_LOWER_EXT,
  FAT_TIME_MIN,
  FAT_TIME_MAX,
  type DirEntryValues,
  type FatTimestamp,
} from './dirent.js';
export { LfnEntry, shortNameChecksum, lfnEntryCount, encodeLfnEntries, decodeLfnEntries, LFN_UNITS_PER_ENTRY, LFN_MAX_UNITS, LAST_LONG_ENTRY, type LfnEntryValues } from './lfn.js';
export {
  assignShortNames,
  basisName,
  withTail,
  nameBytes,
  shortNameText,
  longNameProblem,
  replaceInvalid,
  foldName,
  LONG_NAME_FORBIDDEN,
  SHORT_NAME_FORBIDDEN,
  type ShortName,
  type Basis,
} from './short-name.js';

/**
 * Write `source` as a FAT volume to `sink`, starting at its current position (does not close the
 * sink: wrap in `withSink`). Equivalent to `planFat(source, options).then((p) => p.write(sink))`.
 */
export async function writeFat(source: SourceTree, sink: ByteSink, options: PlanFatOptions = {}): Promise<FatResult> {
  const plan = await planFat(source, options);
  return plan.write(sink);
}
