/**
 * One error type for the whole toolkit. Every error carries a stable `code`, the `format` that raised
 * it, and the `path` (of a source entry or output file) or `field` (a structure field such as
 * `squashfs.superblock.blockSize`) it is about. `toJSON()` / `fromJSON()` let errors cross worker
 * boundaries unchanged.
 */
export const ErrorCodes = {
  /** A value does not fit the on-disk field it is written to. */
  FIELD_RANGE: 'E_FIELD_RANGE',
  /** A name is longer than the format allows. */
  NAME_TOO_LONG: 'E_NAME_TOO_LONG',
  /** A name cannot be encoded in the format's character set. */
  NAME_UNENCODABLE: 'E_NAME_UNENCODABLE',
  /** A path is too deep or too long for the format. */
  PATH_TOO_LONG: 'E_PATH_TOO_LONG',
  /** Two entries map to the same name. */
  NAME_COLLISION: 'E_NAME_COLLISION',
  /** A file changed (size, kind) between planning and writing. */
  SOURCE_CHANGED: 'E_SOURCE_CHANGED',
  /** The source cannot be read (permission, I/O). */
  SOURCE_UNREADABLE: 'E_SOURCE_UNREADABLE',
  /** The source root does not exist or is not a directory. */
  SOURCE_MISSING: 'E_SOURCE_MISSING',
  /** The entry kind is not supported by the format. */
  UNSUPPORTED_ENTRY: 'E_UNSUPPORTED_ENTRY',
  /** The output path lies inside the source tree. */
  OUTPUT_IN_SOURCE: 'E_OUTPUT_IN_SOURCE',
  /** The output does not have room for the data. */
  NO_SPACE: 'E_NO_SPACE',
  /** A manifest line cannot be parsed or applied. */
  MANIFEST_SYNTAX: 'E_MANIFEST_SYNTAX',
  /** A layout file (imgkit disk) is not valid YAML or JSON. */
  LAYOUT_SYNTAX: 'E_LAYOUT_SYNTAX',
  /** A manifest line refers to something missing. */
  MANIFEST_REFERENCE: 'E_MANIFEST_REFERENCE',
  /** An option is invalid or options contradict each other. */
  BAD_OPTION: 'E_BAD_OPTION',
  /** A codec is not available or failed. */
  CODEC: 'E_CODEC',
  /** The output file cannot be created, written or renamed into place. */
  OUTPUT_UNWRITABLE: 'E_OUTPUT_UNWRITABLE',
  /** The sink cannot do what the writer needs (e.g. seek on stdout). */
  SINK_UNSUPPORTED: 'E_SINK_UNSUPPORTED',
  /** A tar archive used as a source is malformed. */
  TAR_FORMAT: 'E_TAR_FORMAT',
  /** A worker failed for a reason other than an ImgkitError. */
  WORKER: 'E_WORKER',
  /** An input image or structure is malformed (decoders). */
  BAD_INPUT: 'E_BAD_INPUT',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ImgkitErrorInfo {
  /** Format or component raising it: 'cpio', 'squashfs', 'iso9660', 'core', … */
  format?: string;
  /** Source entry path (POSIX, relative to the tree root) or file path. */
  path?: string;
  /** Structure field, e.g. `squashfs.superblock.blockSize`. */
  field?: string;
  /** What is wrong, with the limit. */
  detail: string;
  /** The way out, e.g. "pass --joliet-long". */
  hint?: string;
  /** 1-based line number (manifests). */
  line?: number;
  cause?: unknown;
}

export class ImgkitError extends Error {
  readonly code: ErrorCode;
  readonly format: string | undefined;
  readonly path: string | undefined;
  readonly field: string | undefined;
  readonly detail: string;
  readonly hint: string | undefined;
  readonly line: number | undefined;

  constructor(code: ErrorCode, info: ImgkitErrorInfo) {
    super(formatMessage(info), info.cause !== undefined ? { cause: info.cause } : undefined);
    this.name = 'ImgkitError';
    this.code = code;
    this.format = info.format;
    this.path = info.path;
    this.field = info.field;
    this.detail = info.detail;
    this.hint = info.hint;
    this.line = info.line;
  }

  toJSON(): SerializedError {
    return {
      __imgkitError: true,
      name: this.name,
      code: this.code,
      format: this.format,
      path: this.path,
      field: this.field,
      detail: this.detail,
      hint: this.hint,
      line: this.line,
    };
  }

  /** Rebuild an error sent through `toJSON()` (e.g. from a worker). */
  static fromJSON(json: SerializedError): ImgkitError {
    const info: ImgkitErrorInfo = { detail: json.detail };
    if (json.format !== undefined) info.format = json.format;
    if (json.path !== undefined) info.path = json.path;
    if (json.field !== undefined) info.field = json.field;
    if (json.hint !== undefined) info.hint = json.hint;
    if (json.line !== undefined) info.line = json.line;
    switch (json.name) {
      case 'FieldRangeError':
        return new FieldRangeError(info);
      case 'SourceChangedError':
        return new SourceChangedError(info);
      case 'UnsupportedEntryError':
        return new UnsupportedEntryError(info);
      case 'NoSpaceError':
        return new NoSpaceError(info);
      default:
        return new ImgkitError(json.code, info);
    }
  }
}

export interface SerializedError {
  __imgkitError: true;
  name: string;
  code: ErrorCode;
  format?: string | undefined;
  path?: string | undefined;
  field?: string | undefined;
  detail: string;
  hint?: string | undefined;
  line?: number | undefined;
}

export function isSerializedError(x: unknown): x is SerializedError {
  return typeof x === 'object' && x !== null && (x as { __imgkitError?: unknown }).__imgkitError === true;
}

function formatMessage(info: ImgkitErrorInfo): string {
  const where = info.path ?? info.field;
  let prefix = info.format ? `${info.format}: ` : '';
  if (where !== undefined) prefix += `${where}${info.line !== undefined ? `:${info.line}` : ''}: `;
  else if (info.line !== undefined) prefix += `line ${info.line}: `;
  return `${prefix}${info.detail}${info.hint ? ` (${info.hint})` : ''}`;
}

/** A value does not fit its on-disk field. */
export class FieldRangeError extends ImgkitError {
  constructor(info: ImgkitErrorInfo) {
    super(ErrorCodes.FIELD_RANGE, info);
    this.name = 'FieldRangeError';
  }
}

/** A source entry changed between the plan and the write. */
export class SourceChangedError extends ImgkitError {
  constructor(info: ImgkitErrorInfo) {
    super(ErrorCodes.SOURCE_CHANGED, info);
    this.name = 'SourceChangedError';
  }
}

/** The format cannot store this kind of entry. */
export class UnsupportedEntryError extends ImgkitError {
  constructor(info: ImgkitErrorInfo) {
    super(ErrorCodes.UNSUPPORTED_ENTRY, info);
    this.name = 'UnsupportedEntryError';
  }
}

/** The output (disk, partition, sub-sink) is full. */
export class NoSpaceError extends ImgkitError {
  constructor(info: ImgkitErrorInfo) {
    super(ErrorCodes.NO_SPACE, info);
    this.name = 'NoSpaceError';
  }
}

/** Warnings: lossy but opt-in conversions. `strict` turns them into errors. */
export interface ImgkitWarning {
  code: ErrorCode;
  format?: string;
  path?: string;
  /** 1-based line number (manifests). */
  line?: number;
  detail: string;
}
export type WarningHandler = (w: ImgkitWarning) => void;

/** Emit a warning, or throw it when `strict`. */
export function warnOrThrow(w: ImgkitWarning, onWarning: WarningHandler | undefined, strict: boolean | undefined): void {
  if (strict) {
    const info: ImgkitErrorInfo = { detail: w.detail };
    if (w.format !== undefined) info.format = w.format;
    if (w.path !== undefined) info.path = w.path;
    if (w.line !== undefined) info.line = w.line;
    throw new ImgkitError(w.code, info);
  }
  onWarning?.(w);
}
