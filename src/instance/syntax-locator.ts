/**
 * Where a JavaScript syntax error is. Node 20 gives a module that does not parse, when it is
 * imported (not run as the main script), as `SyntaxError: Unexpected token '='` with no file
 * and no line: the place is only in a private field Node prints for uncaught errors. So when
 * an app's import fails that way, its own JavaScript files are parsed with esbuild (which
 * Hangar has for TypeScript anyway) until one fails, and that one's place is told.
 */
import { readFileSync } from 'node:fs';
import { PRECOMPILED_SUFFIX } from '../shared/precompiled.js';
import { appSourceFiles } from './app-source-files.js';
import { compileError } from './compile-error.js';

/** Files looked at, at most: an app with more is told the message alone. */
const maxFiles = 2_000;
const javaScript = /\.(m|c)?js$/;

/**
 * The first of the app's JavaScript files (not node_modules) that does not parse, told as
 * `file:line:column: what` with the line and a caret; undefined when none fails or esbuild
 * cannot run here (Node's permission model refuses its helper process).
 *
 * @example
 * await locateSyntaxError('/app') // '/app/app.js:20:7: Expected identifier but found "="\n ...'
 */
export async function locateSyntaxError(appDir: string): Promise<string | undefined> {
  // Not the compiled TypeScript of a deployed version (src/versions/precompile.ts): it parsed at deploy.
  const files = appSourceFiles(
    appDir,
    (name) => javaScript.test(name) && !name.endsWith(PRECOMPILED_SUFFIX),
    maxFiles,
  );
  if (files.length === 0) return undefined;
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  try {
    for (const file of files) {
      let source: string;
      try {
        source = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const failure = await esbuild
        .transform(source, {
          loader: 'js',
          sourcefile: file,
          format: file.endsWith('.cjs') ? 'cjs' : undefined,
        })
        .then(
          () => undefined,
          (err: unknown) => compileError(err, file),
        );
      if (failure) return failure.message;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    void esbuild.stop().catch(() => {});
  }
}
