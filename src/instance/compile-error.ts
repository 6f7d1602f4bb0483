/**
 * A TypeScript file that does not compile, told as a compiler would: `file:line:column: what`,
 * the line itself and a caret, once per error. esbuild's own error says "Transform failed with
 * 1 error" and carries ten frames of esbuild's internals, which say nothing about the app.
 */

/** The part of an esbuild message this needs (esbuild's `Message`). */
export interface CompileMessage {
  text: string;
  location?: { file: string; line: number; column: number; lineText: string } | null;
}

/** Errors shown in full; more are counted, as one is usually the cause of the next. */
const shownErrors = 5;

/**
 * The SyntaxError an import of `file` fails with, or undefined when `err` is not esbuild's
 * transform failure. Its stack is its message: no frame in it is the app's.
 *
 * @example
 * compileError({ errors: [{ text: 'Unexpected ";"', location: { file: '/app/main.ts', line: 3, column: 17, lineText: 'const x = (;' } }] }, '/app/main.ts')
 * // SyntaxError: /app/main.ts:3:18: Unexpected ";"
 * //     3 | const x = (;
 * //       |           ^
 */
export function compileError(err: unknown, file: string): SyntaxError | undefined {
  const errors = (err as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return undefined;
  const parts = (errors as CompileMessage[]).slice(0, shownErrors).map((m) => describe(m, file));
  if (errors.length > shownErrors) parts.push(`(and ${errors.length - shownErrors} more errors)`);
  const error = new SyntaxError(parts.join('\n'));
  error.stack = `SyntaxError: ${error.message}`;
  return error;
}

function describe(message: CompileMessage, file: string): string {
  const at = message.location;
  if (!at) return `${file}: ${message.text}`;
  // esbuild's columns count from 0; editors and Node's own traces count from 1.
  const head = `${at.file || file}:${at.line}:${at.column + 1}: ${message.text}`;
  const gutter = String(at.line);
  const pad = ' '.repeat(gutter.length);
  const caretPad = at.lineText.slice(0, at.column).replace(/[^\t]/g, ' ');
  return `${head}\n    ${gutter} | ${at.lineText}\n    ${pad} | ${caretPad}^`;
}
