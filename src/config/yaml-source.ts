import { readFile } from 'node:fs/promises';
import type { ErrorCode, YAMLError } from 'yaml';
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { HangarError } from '../shared/errors.js';
import { type ConfigIssue, fieldPath } from './issues.js';

/** A parsed YAML file that can say where any of its values was written. */
export interface YamlSource {
  readonly file: string;
  /** The document as plain data; `undefined` when `errors` is not empty. */
  readonly value: unknown;
  /** Syntax errors (duplicate keys included), each with its line and column. */
  readonly errors: ConfigIssue[];
  /**
   * 1-based line and column of the value at `path`: the key for a mapping entry, the item
   * for a list entry. Falls back to the nearest parent that exists, then to 1:1.
   */
  locate(path: readonly PropertyKey[]): { line: number; column: number };
  /** A ConfigIssue for the value at `path`. */
  issue(path: readonly PropertyKey[], message: string, fix: string): ConfigIssue;
}

// Fixes for the syntax errors people actually make; the rest get a generic one.
const SYNTAX_FIXES: Partial<Record<ErrorCode, string>> = {
  TAB_AS_INDENT: 'indent with spaces; YAML does not allow tabs for indentation',
  BAD_INDENT: 'line the entry up with its siblings and close any open [ or {',
  MISSING_CHAR: 'add the missing closing character',
  BLOCK_AS_IMPLICIT_KEY: "put the nested mapping on its own indented lines, or quote a value containing ': '",
  MULTILINE_IMPLICIT_KEY: "keep each key on one line and end it with ': '",
  MULTIPLE_DOCS: "remove the second '---' and everything after it, or merge the documents",
};

/**
 * Parses YAML with positions kept, so that every later validation error can name its line.
 * @example
 * const src = parseYaml('runtime: nodejs22\nhandlers: []\n', 'app.yaml');
 * src.locate(['handlers']) // { line: 2, column: 1 }
 */
export function parseYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return line > 0 ? { line, column: col } : { line: 1, column: 1 };
  };

  const locate = (path: readonly PropertyKey[]) => {
    const contents = doc.contents as Node | null;
    let offset = contents?.range?.[0] ?? 0;
    let node: unknown = contents;
    for (const segment of path) {
      if (isAlias(node)) node = node.resolve(doc);
      if (isMap(node)) {
        const pair = node.items.find((p) => keyName(p.key) === String(segment));
        if (!pair) break;
        offset = isNode(pair.key) && pair.key.range ? pair.key.range[0] : offset;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment];
        if (!isNode(item) || !item.range) break;
        offset = item.range[0];
        node = item;
      } else {
        break;
      }
    }
    return position(offset);
  };

  const issue = (path: readonly PropertyKey[], message: string, fix: string): ConfigIssue => ({
    file,
    ...locate(path),
    field: fieldPath(path),
    message,
    fix,
  });

  // After the first real syntax error the parser's further complaints are mostly echoes of
  // it; duplicate keys are independent of each other, so all of those are kept.
  const firstSyntaxError = doc.errors.find((err) => err.code !== 'DUPLICATE_KEY');
  const errors = doc.errors
    .filter((err) => err.code === 'DUPLICATE_KEY' || err === firstSyntaxError)
    .map((err) => syntaxIssue(err, file, position(err.pos[0]), pathAt(doc.contents, err.pos[0])));
  if (errors.length > 0) return { file, value: undefined, errors, locate, issue };

  try {
    // A small alias budget stops "billion laughs" documents from exhausting memory.
    return { file, value: doc.toJS({ maxAliasCount: 100 }), errors, locate, issue };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    errors.push({
      file,
      line: 1,
      column: 1,
      field: '',
      message: `invalid YAML: ${lowerFirst(message)}`,
      fix: 'define every anchor (&name) before its alias (*name), and do not nest aliases deeply',
    });
    return { file, value: undefined, errors, locate, issue };
  }
}

/** Reads and parses a YAML file; I/O failures become a HangarError naming the file. */
export async function readYamlSource(file: string): Promise<YamlSource> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new HangarError(
      'CONFIG_NOT_FOUND',
      `cannot read ${file} (${reason}); check the path and its permissions`,
      {
        cause: err,
      },
    );
  }
  return parseYaml(text, file);
}

function syntaxIssue(
  err: YAMLError,
  file: string,
  at: { line: number; column: number },
  path: PropertyKey[],
): ConfigIssue {
  if (err.code === 'DUPLICATE_KEY') {
    const key = path.at(-1);
    return {
      file,
      ...at,
      field: fieldPath(path),
      message: key === undefined ? 'duplicate key' : `duplicate key '${String(key)}'`,
      fix: 'remove or rename one of the entries; YAML allows each key once per mapping',
    };
  }
  const message =
    err.code === 'MULTIPLE_DOCS' ? 'the file contains more than one YAML document' : lowerFirst(err.message);
  return {
    file,
    ...at,
    field: fieldPath(path),
    message: `invalid YAML: ${message}`,
    fix: SYNTAX_FIXES[err.code] ?? 'correct the YAML syntax here (check indentation, colons and quotes)',
  };
}

/**
 * The path of the innermost entry that contains `offset` (or, inside a mapping, the last
 * entry before it), to name the field of a syntax error.
 */
function pathAt(node: unknown, offset: number, path: PropertyKey[] = []): PropertyKey[] {
  if (isMap(node)) {
    let before: { name: string; value: unknown } | undefined;
    for (const pair of node.items) {
      const name = keyName(pair.key);
      if (name === undefined || !isNode(pair.key) || !pair.key.range) continue;
      if (contains(pair.key, offset)) return [...path, name];
      if (isNode(pair.value) && contains(pair.value, offset))
        return pathAt(pair.value, offset, [...path, name]);
      if (pair.key.range[0] < offset) before = { name, value: pair.value };
    }
    if (before)
      return isMap(before.value) || isSeq(before.value)
        ? pathAt(before.value, offset, [...path, before.name])
        : [...path, before.name];
  } else if (isSeq(node)) {
    for (const [index, item] of node.items.entries()) {
      if (isNode(item) && contains(item, offset)) return pathAt(item, offset, [...path, index]);
    }
  }
  return path;
}

function contains(node: Node, offset: number): boolean {
  return node.range !== undefined && node.range !== null && offset >= node.range[0] && offset < node.range[2];
}

function keyName(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  if (typeof key === 'string' || typeof key === 'number') return String(key);
  return undefined;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
