export {
  writeCpio,
  planCpio,
  cpioRequirements,
  CPIO_LEVELS,
  ZSTD_KERNEL_MAX_LEVEL,
  type CpioPlan,
  type CpioOptions,
  type CpioCompression,
  type CpioProgress,
  type CpioResult,
} from './writer.js';
export { planArchive, archiveSize, type PlannedEntry, type PlanOptions } from './plan.js';
export {
  NewcHeader,
  NEWC_MAGIC,
  CRC_MAGIC,
  CPIO_HEADER_SIZE,
  CPIO_TRAILER_NAME,
  CPIO_PATH_MAX,
  CPIO_FIELD_MAX,
  byteSum,
  encodeEntryHead,
  type NewcHeaderValues,
} from './newc-header.js';
export { decodeCpio, type DecodedCpioEntry } from './reader.js';
