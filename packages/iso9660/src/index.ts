export { planIso, writeIso, isoRequirements, type IsoPlan, type IsoResult } from './writer.js';
export {
  resolveOptions,
  planContent,
  parseGuid,
  mbrTypeOfGuid,
  checkDateText,
  HYBRID_PRESETS,
  GUID_EFI_SYSTEM_TEXT,
  GUID_BASIC_DATA_TEXT,
  type IsoOptions,
  type IsoContent,
  type EfiDirOptions,
  type HybridPreset,
  type ResolvedIsoOptions,
  type BootImageOptions,
  type BootPlatform,
  type SystemAreaOptions,
  type AppendedPartitionOptions,
  type VolumeDates,
} from './options.js';
export {
  ISO_SECTOR_SIZE,
  ISO_STANDARD_ID,
  VD_BOOT_RECORD,
  VD_PRIMARY,
  VD_SUPPLEMENTARY,
  VD_TERMINATOR,
  PrimaryVolumeDescriptor,
  BootRecordDescriptor,
  encodeVolumeDescriptor,
  decDateTime,
  decDateText,
} from './volume-descriptor.js';
export { DirectoryRecordHeader, encodeDirectoryRecord, recordingTime, FLAG_DIRECTORY, FLAG_MULTI_EXTENT, DIR_RECORD_FIXED } from './directory-record.js';
export { encodePathTable, pathTableSize, type PathTableDir } from './path-table.js';
export {
  encodeBootCatalog,
  patchBootInfoTable,
  patchGrub2BootInfo,
  fullLoadSectors,
  GRUB2_BOOT_INFO_OFFSET,
  ValidationEntry,
  BootEntry,
  SectionHeader,
  PLATFORM_EFI,
  PLATFORM_X86,
  BOOTABLE,
  HEADER_MORE,
  HEADER_FINAL,
} from './el-torito.js';
export { writeApm, ApmEntry, DriverDescriptor, APM_BLOCK_SIZE, type ApmPartition } from './apm.js';
export {
  planPartitionTables,
  alignment,
  encodeSystemArea,
  isohybridChs,
  gptGuidBase,
  gptPartitionGuid,
  CHS_NONE,
  SYSTEM_AREA_BYTES,
  type SystemAreaLayout,
  type SaBootImage,
} from './system-area.js';
export { mangleDirectory, compareIsoIdentifiers, isoCandidate, type IsoLevel } from './names.js';
export { jolietName, truncatedJolietName, uniqueJolietNames, JOLIET_MAX_UNITS, JOLIET_LONG_MAX_UNITS } from './joliet.js';
export { pxEntry, nmEntries, slEntries, tfEntry, erEntry, spEntry, ceEntry, splitSystemUse } from './rock-ridge.js';
export { RR_NAME_MAX_BYTES } from './plan.js';
