/** Error helpers shared by the formats (ImgkitError with format and field). */
import { ErrorCodes, ImgkitError } from '@imgkit/core';

export function badOption(format: string, field: string, detail: string, hint?: string): ImgkitError {
  const info: ConstructorParameters<typeof ImgkitError>[1] = { format, field, detail };
  if (hint !== undefined) info.hint = hint;
  return new ImgkitError(ErrorCodes.BAD_OPTION, info);
}

export function badInput(format: string, detail: string, extra: { field?: string; path?: string; hint?: string } = {}): ImgkitError {
  const info: ConstructorParameters<typeof ImgkitError>[1] = { format, detail };
  if (extra.field !== undefined) info.field = extra.field;
  if (extra.path !== undefined) info.path = extra.path;
  if (extra.hint !== undefined) info.hint = extra.hint;
  return new ImgkitError(ErrorCodes.BAD_INPUT, info);
}

export function needsSeekable(format: string, why: string): ImgkitError {
  return new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
    format,
    detail: `this ${format} image cannot be written to a stream: ${why}`,
    hint: 'write to a file',
  });
}

export function checkVirtualSize(format: string, virtualSize: number, max: number, hint?: string): void {
  if (!Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw badOption(format, 'virtualSize', `virtual size ${String(virtualSize)} is not a whole number of bytes`);
  }
  if (virtualSize > max) throw badOption(format, 'virtualSize', `virtual size ${virtualSize} is over the ${format} limit of ${max} bytes`, hint);
}
