/**
 * Layout files: YAML 1.2 (through the `yaml` library, which keeps each node's source range) or
 * JSON (RFC 8259, parsed by `JSON.parse` so that JSON's own rules apply). Either way the result
 * is a plain value and a `locate()` that turns a path inside it (`['partitions', 1, 'size']`) into
 * the line it is on, so every error names the file, the line and the field — for JSON the field
 * is an RFC 6901 JSON pointer (`/partitions/1/size`), for YAML `partitions[1].size`.
 *
 * JSON is also read with the YAML parser (every JSON text is YAML 1.2 flow style) only to find
 * lines; its values come from `JSON.parse`.
 */
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Node } from 'yaml';

export type LayoutPath = readonly (string | number)[];
export type LayoutSyntax = 'yaml' | 'json';

export interface LayoutText {
  /** The parsed document: plain objects, arrays, strings, numbers, booleans, null. */
  value: unknown;
  /** File name used in messages (as given). */
  name: string | undefined;
  syntax: LayoutSyntax;
  /** Line (1-based) of the node at `path`, or of its nearest ancestor that exists. */
  lineOf(path: LayoutPath): number | undefined;
  /** How a path is written in messages: `partitions[1].size` (YAML) or `/partitions/1/size` (JSON). */
  fieldName(path: LayoutPath): string;
}

/** `partitions[1].content.fat` */
export function dottedField(path: LayoutPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s === '' ? '(document)' : s;
}

/** RFC 6901: `/partitions/1/size`, with `~` → `~0` and `/` → `~1`. */
export function jsonPointer(path: LayoutPath): string {
  return path.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('') || '';
}

/** The syntax of a layout file: by its extension (.json, .yaml, .yml), else JSON when it starts with `{`. */
export function detectSyntax(name: string | undefined, text: string): LayoutSyntax {
  if (name !== undefined) {
    if (/\.json$/i.test(name)) return 'json';
    if (/\.ya?ml$/i.test(name)) return 'yaml';
  }
  return /^\s*\{/.test(text) ? 'json' : 'yaml';
}

/**
 * Where JSON.parse gives up: the shortest prefix that fails with something other than "the input
 * ended" (every shorter prefix is an unfinished but valid start). Node's messages carry a position
 * only for some errors and in a wording that changed between versions; this works for all.
 */
export function jsonErrorOffset(text: string): number {
  const bad = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return false;
    } catch (err) {
      // A prefix that is only unfinished fails at its very end (or says so).
      const msg = err instanceof Error ? err.message : String(err);
      const at = /at position (\d+)/.exec(msg);
      return !(/end of JSON input|Unexpected end|Unterminated string/i.test(msg) || (at !== null && Number(at[1]) >= n));
    }
  };
  let lo = 0;
  let hi = text.length;
  if (!bad(hi)) return text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bad(mid)) hi = mid;
    else lo = mid + 1;
  }
  return Math.max(0, lo - 1);
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function syntaxError(name: string | undefined, line: number | undefined, detail: string, hint: string): ImgkitError {
  return new ImgkitError(ErrorCodes.LAYOUT_SYNTAX, {
    format: 'disk',
    ...(name !== undefined ? { path: name } : {}),
    ...(line !== undefined ? { line } : {}),
    detail,
    hint,
  });
}

/** Parse a layout file's text. Syntax errors are E_LAYOUT_SYNTAX with the line. */
export function parseLayoutText(text: string, name?: string, syntax: LayoutSyntax = detectSyntax(name, text)): LayoutText {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  let value: unknown;
  if (syntax === 'json') {
    try {
      value = JSON.parse(text);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const line = lineAt(text, jsonErrorOffset(text));
      throw syntaxError(name, line, `JSON syntax error: ${msg}`, 'fix the JSON (a YAML file must end in .yaml or .yml)');
    }
  } else {
    const first = doc.errors[0];
    if (first) {
      const line = lineCounter.linePos(first.pos[0]).line;
      const msg = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw syntaxError(name, line, `YAML syntax error (${first.code}): ${msg}`, 'fix the YAML; indentation counts, and a flow mapping { … } must be closed on its line or indented below');
    }
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      throw syntaxError(name, undefined, `YAML cannot be read: ${err instanceof Error ? err.message : String(err)}`, 'fix the YAML');
    }
  }
  const jsonDocOk = syntax === 'yaml' || doc.errors.length === 0;
  return {
    value,
    name,
    syntax,
    fieldName: syntax === 'json' ? (p) => jsonPointer(p) || '/' : dottedField,
    lineOf(path) {
      if (!jsonDocOk) return undefined;
      let node: unknown = doc.contents;
      let line: number | undefined = rangeLine(node, lineCounter);
      for (const key of path) {
        let next: unknown;
        let keyLine: number | undefined;
        if (typeof key === 'number' && isSeq(node)) next = node.items[key];
        else if (isMap(node)) {
          const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(key));
          if (pair) {
            next = pair.value;
            keyLine = rangeLine(pair.key, lineCounter);
          }
        }
        if (next === undefined) return line;
        node = next;
        line = rangeLine(next, lineCounter) ?? keyLine ?? line;
        // An empty value (`content:` with nothing after it) has a range at the next token: use the key's line.
        if (keyLine !== undefined && isScalar(next) && next.value === null && next.source === '') line = keyLine;
      }
      return line;
    },
  };
}

function rangeLine(node: unknown, lc: LineCounter): number | undefined {
  const r = (node as Node | null | undefined)?.range;
  return r ? lc.linePos(r[0]).line : undefined;
}
