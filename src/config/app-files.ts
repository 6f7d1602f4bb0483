/**
 * The filesystem side of app.yaml validation: paths must stay inside the app directory,
 * and `script:` is resolved to the kind of handler it names (SPEC S4).
 */
import { stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { FieldProblem } from './schema-kit.js';

/** Tried in this order for `script: path/main.app` (S4.1). */
export const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs', '.cjs'] as const;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** What a `script:` value names. */
export type ScriptTarget =
  | { kind: 'entrypoint' }
  | { kind: 'cgi' }
  | { kind: 'module'; module: string; exportName: string };

/**
 * Normalises a path written in app.yaml (POSIX, relative to the app dir); throws a
 * FieldProblem when it is absolute or climbs out of the app dir with `..`.
 * @example insideApp('./static/', 'static_dir') // 'static/'
 */
export function insideApp(written: string, field: string): string {
  const normal = posix.normalize(written);
  if (posix.isAbsolute(normal) || /^[A-Za-z]:/.test(normal) || normal === '..' || normal.startsWith('../')) {
    throw new FieldProblem(
      `'${written}' is outside the app directory`,
      `write ${field} as a path relative to the app directory, without leading '/' or '..'`,
    );
  }
  return normal;
}

/** 'file', 'dir', or undefined when nothing (readable) is there. */
export async function pathKind(path: string): Promise<'file' | 'dir' | 'other' | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? 'file' : info.isDirectory() ? 'dir' : 'other';
  } catch {
    return undefined;
  }
}

/**
 * Decides what `script:` names, in this order: `auto` is the entrypoint; an existing file
 * at the literal path is a CGI script; otherwise `path/main.app` is module `path/main`
 * (extension resolved in MODULE_EXTENSIONS order) with export `app`, split at the last dot.
 * Throws a FieldProblem naming every candidate tried.
 */
export async function resolveScript(appDir: string, script: string): Promise<ScriptTarget> {
  if (script === 'auto') return { kind: 'entrypoint' };
  const written = insideApp(script, 'script');
  if ((await pathKind(join(appDir, written))) === 'file') return { kind: 'cgi' };

  const dot = written.lastIndexOf('.');
  // The module's own name must be non-empty: 'path/.app' and 'main.' name no module.
  if (dot <= written.lastIndexOf('/') + 1 || dot === written.length - 1) {
    throw new FieldProblem(
      `'${script}' is neither a file in the app directory nor a module reference like path/main.app`,
      'create the file, or write script: <module path without extension>.<export>, e.g. script: main.app',
    );
  }
  const modulePath = written.slice(0, dot);
  const exportName = written.slice(dot + 1);
  if (!IDENTIFIER.test(exportName)) {
    throw new FieldProblem(
      `export name '${exportName}' in '${script}' is not a JavaScript identifier`,
      'name the module and its export as path/main.app; the part after the last dot is the export',
    );
  }
  const candidates = MODULE_EXTENSIONS.map((ext) => `${modulePath}${ext}`);
  for (const candidate of candidates) {
    if ((await pathKind(join(appDir, candidate))) === 'file') {
      return { kind: 'module', module: candidate, exportName };
    }
  }
  throw new FieldProblem(
    `no module file for '${script}': tried ${candidates.join(', ')}`,
    `create ${modulePath}.ts (or .mts, .js, .mjs, .cjs) exporting '${exportName}', or correct the path`,
  );
}
