/**
 * A deployed version's TypeScript, compiled once at deploy so that its instances load plain
 * JavaScript and start no loader-hooks thread (docs/decisions.md, issue 21). Runs in the
 * deploy's build (src/versions/precompile-main.ts), on the Node the version's instances run on.
 *
 * Each `.ts`/`.mts`/`.tsx` of the app (outside `node_modules` and dot folders) is compiled by
 * esbuild exactly as the loader hook compiles it (src/instance/loader-hooks.ts), written beside
 * its source as `<name>.hangar.mjs` (same folder: `import.meta.url` stays the app's), with the
 * import specifiers that the hooks would have resolved differently rewritten:
 *
 * - `./x.js` (TypeScript's convention), `./x`, `./x.ts` → `./x.ts.hangar.mjs` when that is the
 *   file the hook would have found;
 * - `hangar` and `hangar/*` are left alone: the version dir's `node_modules/hangar` link
 *   (src/versions/precompiled.ts) resolves them to the platform's own modules.
 *
 * Source maps stay exact (columns shifted where a specifier changed length), so
 * `--enable-source-maps` names the `.ts` line as before. What the hooks do that a rewrite cannot
 * (a computed `import()`, `import.meta.resolve`, JavaScript importing TypeScript, TypeScript in a
 * package, a file that does not compile) is found here, and then nothing is written: the
 * manifest says why, and the version's instances use the hooks as before.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { appSourceFiles } from '../instance/app-source-files.js';
import { PRECOMPILED_SUFFIX, TYPESCRIPT_FILE, typeScriptCandidates } from '../shared/precompiled.js';

/** What `precompiled.json` in the version dir holds. */
export interface PrecompiledManifest {
  format: 1;
  /** The Node major esbuild compiled for; an older Node may not run the output. */
  nodeMajor: number;
  /** TypeScript files compiled beside their sources. */
  files: number;
  /** Why the version's instances need the loader hooks; null when they do not. */
  hooks: string | null;
}

/** Files looked at, at most (the deploy limit is 10,000 in all). */
const maxFiles = 10_000;
const declarations = /\.d\.m?ts$/;
const javaScript = /\.(?:m|c)?js$/;
/** A reason names at most this many places; the first is usually the one to fix. */
const shownPlaces = 3;

/**
 * Compiles the app's TypeScript beside it and returns the manifest for the version dir.
 * Writes nothing when a reason to keep the hooks was found.
 *
 * @example
 * const manifest = await precompileApp('/data/staging/1/app');
 * // { format: 1, nodeMajor: 20, files: 2, hooks: null }
 */
export async function precompileApp(appDir: string): Promise<PrecompiledManifest> {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  const reasons: string[] = [];
  const typeScript = appSourceFiles(
    appDir,
    (name) => TYPESCRIPT_FILE.test(name) && !declarations.test(name),
    maxFiles,
  );
  const scripts = appSourceFiles(
    appDir,
    (name) => javaScript.test(name) && !name.endsWith(PRECOMPILED_SUFFIX),
    maxFiles,
  );
  if (typeScript.length + scripts.length >= maxFiles)
    reasons.push(`the app has ${maxFiles} or more source files, more than a deploy checks`);
  if (existsSync(join(appDir, 'node_modules', 'hangar')))
    reasons.push(
      "the app has a package named hangar in node_modules, and its imports of 'hangar' must reach the platform's own",
    );
  const compiled = new Set(typeScript);
  const { init, parse } = await import('es-module-lexer');
  await init;
  const lex = (code: string) => parse(code)[0];
  const esbuild = await import('esbuild');
  const outputs: Array<[string, string]> = [];
  try {
    const target = `node${nodeMajor}`;
    const compiledFiles = await Promise.all(
      typeScript.map(async (file) => {
        const source = readFileSync(file, 'utf8');
        try {
          const result = await esbuild.transform(source, {
            loader: file.endsWith('x') ? 'tsx' : 'ts',
            format: 'esm',
            target,
            // Relative to the compiled file beside it: the map survives the version dir's rename.
            sourcefile: basename(file),
            sourcemap: 'external',
          });
          return { file, code: result.code, map: result.map };
        } catch (err) {
          const first = (err as { errors?: Array<{ text?: string }> }).errors?.[0]?.text;
          reasons.push(
            `${relative(appDir, file)} does not compile${first ? ` (${first})` : ''}; the loader hook reports it where it is imported`,
          );
          return undefined;
        }
      }),
    );
    for (const entry of compiledFiles) {
      if (!entry) continue;
      const out = entry.file + PRECOMPILED_SUFFIX;
      if (existsSync(out)) {
        reasons.push(`${relative(appDir, out)} is a file of the app's, where its compiled code would go`);
        continue;
      }
      const rewritten = rewriteImports(entry.code, entry.file, { appDir, compiled, lex });
      reasons.push(...rewritten.reasons);
      outputs.push([out, withInlineMap(rewritten.code, shiftMap(entry.map, rewritten.edits, entry.code))]);
    }
  } finally {
    await esbuild.stop();
  }
  for (const file of scripts) reasons.push(...scriptNeedsHooks(file, appDir, lex));
  if (reasons.length > 0) {
    const more = reasons.length > shownPlaces ? `; and ${reasons.length - shownPlaces} more` : '';
    return { format: 1, nodeMajor, files: 0, hooks: reasons.slice(0, shownPlaces).join('; ') + more };
  }
  for (const [file, code] of outputs) writeFileSync(file, code);
  return { format: 1, nodeMajor, files: outputs.length, hooks: null };
}

/** One import as es-module-lexer reports it (the fields this module reads). */
interface LexedImport {
  /** The specifier's value when it is a string literal. */
  n: string | undefined;
  /** Start and end of the specifier (static: inside the quotes; dynamic: the whole expression). */
  s: number;
  e: number;
  /** -1 static, -2 `import.meta`, ≥ 0 dynamic `import()`. */
  d: number;
}

interface RewriteContext {
  appDir: string;
  /** The TypeScript files being compiled (absolute). */
  compiled: ReadonlySet<string>;
  lex(code: string): readonly LexedImport[];
}

/** A change of the compiled code: `[start, end)` of the original replaced by `text`. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * The compiled code of `file` with its specifiers rewritten to the compiled files the hooks
 * would have loaded, the edits made, and the reasons it needs the hooks anyway.
 *
 * @example
 * rewriteImports('import { a } from "./a.js";', '/app/main.ts', ctx).code // 'import { a } from "./a.ts.hangar.mjs";'
 */
export function rewriteImports(
  code: string,
  file: string,
  ctx: RewriteContext,
): { code: string; edits: Edit[]; reasons: string[] } {
  const reasons: string[] = [];
  const edits: Edit[] = [];
  const name = relative(ctx.appDir, file);
  let imports: readonly LexedImport[];
  try {
    imports = ctx.lex(code);
  } catch (err) {
    return {
      code,
      edits,
      reasons: [`${name} could not be read for its imports (${(err as Error).message})`],
    };
  }
  for (const imp of imports) {
    if (imp.d === -2) {
      if (code.startsWith('.resolve', imp.e))
        reasons.push(`${name} uses import.meta.resolve, which resolves through the loader hooks`);
      continue;
    }
    if (imp.n === undefined) {
      if (imp.d >= 0)
        reasons.push(
          `${name} imports a computed specifier (import(${code.slice(imp.s, imp.e).slice(0, 60)})), which only the loader hooks resolve to TypeScript`,
        );
      continue;
    }
    const target = resolveLike(imp.n, file, true);
    if (target === undefined || !TYPESCRIPT_FILE.test(target.path)) continue;
    if (!ctx.compiled.has(target.path) || target.query) {
      reasons.push(
        `${name} imports ${imp.n}, TypeScript ${target.query ? 'with a query' : 'outside the app’s own files'}, which only the loader hooks compile`,
      );
      continue;
    }
    let spec = relative(dirname(file), target.path + PRECOMPILED_SUFFIX)
      .split(sep)
      .map((part) => (part === '..' ? part : encodeURIComponent(part)))
      .join('/');
    if (!spec.startsWith('../')) spec = `./${spec}`;
    // Static imports: the specifier inside its quotes; dynamic ones: the literal, quotes included.
    const quoted = imp.d >= 0 && /['"`]/.test(code[imp.s] ?? '');
    edits.push({ start: quoted ? imp.s + 1 : imp.s, end: quoted ? imp.e - 1 : imp.e, text: spec });
  }
  let out = '';
  let at = 0;
  for (const edit of edits) {
    out += code.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return { code: out + code.slice(at), edits, reasons };
}

/** Why a JavaScript file of the app needs the hooks: it imports TypeScript. */
function scriptNeedsHooks(file: string, appDir: string, lex: RewriteContext['lex']): string[] {
  let imports: readonly LexedImport[];
  let code: string;
  try {
    code = readFileSync(file, 'utf8');
    imports = lex(code);
  } catch {
    // Not readable as a module (CommonJS the lexer does not take, or broken): its own import
    // fails or works the same with or without hooks.
    return [];
  }
  const name = relative(appDir, file);
  const reasons: string[] = [];
  for (const imp of imports) {
    if (imp.d === -2) continue;
    if (imp.n === undefined) {
      const expression = code.slice(imp.s, imp.e);
      if (imp.d >= 0 && /\.m?tsx?\b/.test(expression))
        reasons.push(
          `${name} imports a computed TypeScript specifier (import(${expression.slice(0, 60)})), which only the loader hooks compile`,
        );
      continue;
    }
    const target = resolveLike(imp.n, file, false);
    if (target && TYPESCRIPT_FILE.test(target.path))
      reasons.push(
        `${name} imports TypeScript (${imp.n}), which only the loader hooks compile for JavaScript`,
      );
  }
  return reasons;
}

/**
 * The file `specifier` names from `importer`, as the instance's resolution would find it: Node's
 * own, and for a TypeScript importer the hooks' `./x.js` → `./x.ts` fallbacks
 * (loader-hooks.ts). Undefined when it names no file here (a builtin, a missing file, a
 * directory, a package Node cannot resolve): Node says so at run time either way.
 */
function resolveLike(
  specifier: string,
  importer: string,
  typeScriptImporter: boolean,
): { path: string; query: boolean } | undefined {
  if (specifier === 'hangar' || specifier.startsWith('hangar/')) return undefined;
  const parent = pathToFileURL(importer);
  const relativeOrAbsolute = /^\.{0,2}\//.test(specifier) || specifier.startsWith('file:');
  if (!relativeOrAbsolute) {
    if (/^[a-z][a-z\d+.-]*:/i.test(specifier)) return undefined;
    const found = resolvePackage(specifier, parent.href);
    return found ? { path: found, query: false } : undefined;
  }
  let url: URL;
  try {
    url = new URL(specifier, parent);
  } catch {
    return undefined;
  }
  const query = url.search !== '' || url.hash !== '';
  url.search = '';
  url.hash = '';
  const path = fileURLToPath(url);
  const kind = fileKind(path);
  if (kind === 'file') return { path, query };
  if (kind === 'dir' || !typeScriptImporter || !specifier.startsWith('.')) return undefined;
  for (const candidate of typeScriptCandidates(specifier.replace(/[?#].*$/, ''))) {
    const tried = fileURLToPath(new URL(candidate, parent));
    if (fileKind(tried) === 'file') return { path: tried, query };
  }
  return undefined;
}

function fileKind(path: string): 'file' | 'dir' | undefined {
  try {
    const info = statSync(path);
    return info.isFile() ? 'file' : info.isDirectory() ? 'dir' : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `import.meta.resolve` takes a parent here (without the flag Node ignores it). */
const resolvesFromParent = (() => {
  try {
    const probe: unknown = (import.meta.resolve as (s: string, p?: string) => unknown)(
      './x',
      'file:///probe/',
    );
    return probe === 'file:///probe/x';
  } catch {
    return false;
  }
})();

/**
 * A package's file by Node's own ESM resolution (conditions `node`, `import`), with the importer
 * as parent: `import.meta.resolve(specifier, parent)` under `--experimental-import-meta-resolve`,
 * which precompile-main.ts is started with. Undefined when it cannot be resolved (or this Node
 * cannot resolve from another parent).
 */
function resolvePackage(specifier: string, parent: string): string | undefined {
  if (!resolvesFromParent) return undefined;
  try {
    const resolved: unknown = (import.meta.resolve as (s: string, p?: string) => unknown)(specifier, parent);
    if (typeof resolved !== 'string' || !resolved.startsWith('file:')) return undefined;
    return fileURLToPath(resolved);
  } catch {
    return undefined;
  }
}

/** The compiled code with its source map inline, as the loader hook writes it. */
function withInlineMap(code: string, map: string): string {
  return `${code}//# sourceMappingURL=data:application/json;base64,${Buffer.from(map).toString('base64')}\n`;
}

const base64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const base64Value = new Map([...base64].map((c, i) => [c, i]));

/** One source-map segment's fields (VLQ-decoded). */
function decodeSegment(segment: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = base64Value.get(char) ?? 0;
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}

function encodeSegment(values: readonly number[]): string {
  let out = '';
  for (const v of values) {
    let value = v < 0 ? (-v << 1) | 1 : v << 1;
    do {
      let digit = value & 31;
      value >>>= 5;
      if (value > 0) digit |= 32;
      out += base64[digit];
    } while (value > 0);
  }
  return out;
}

/**
 * The source map of `code` after `edits`: on each edited line, the generated columns after an
 * edit move by the length it added. Specifiers hold no line breaks, so lines stay as they were.
 *
 * @example
 * shiftMap(map, [{ start: 19, end: 25, text: './a.ts.hangar.mjs' }], code)
 */
export function shiftMap(mapJson: string, edits: readonly Edit[], code: string): string {
  if (edits.length === 0) return mapJson;
  const map = JSON.parse(mapJson) as { mappings: string };
  // Per generated line: [column where an edit ends, columns it adds] in order.
  const shifts = new Map<number, Array<[number, number]>>();
  let line = 0;
  let lineStart = 0;
  let scanned = 0;
  for (const edit of edits) {
    for (; scanned < edit.start; scanned++) {
      if (code.charCodeAt(scanned) === 10) {
        line++;
        lineStart = scanned + 1;
      }
    }
    const list = shifts.get(line) ?? [];
    list.push([edit.end - lineStart, edit.text.length - (edit.end - edit.start)]);
    shifts.set(line, list);
  }
  const lines = map.mappings.split(';');
  for (const [index, list] of shifts) {
    const text = lines[index];
    if (!text) continue;
    let column = 0;
    let shifted = 0;
    lines[index] = text
      .split(',')
      .map((segment) => {
        const values = decodeSegment(segment);
        column += values[0] ?? 0;
        let moved = column;
        for (const [end, delta] of list) if (column >= end) moved += delta;
        const out = encodeSegment([moved - shifted, ...values.slice(1)]);
        shifted = moved;
        return out;
      })
      .join(',');
  }
  map.mappings = lines.join(';');
  return JSON.stringify(map);
}
