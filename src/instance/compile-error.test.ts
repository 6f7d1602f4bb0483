import { transform } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { compileError } from './compile-error.js';

async function failure(source: string): Promise<unknown> {
  return transform(source, { loader: 'ts', sourcefile: '/app/main.ts' }).then(
    () => expect.unreachable('the source compiled'),
    (err: unknown) => err,
  );
}

describe('compileError', () => {
  it("tells esbuild's failure as file:line:column, the line and a caret under the column", async () => {
    const error = compileError(await failure('const a = 1;\nexport const x = (;\n'), '/app/main.ts');
    expect(error).toBeInstanceOf(SyntaxError);
    expect(error?.message).toBe(
      '/app/main.ts:2:19: Unexpected ";"\n    2 | export const x = (;\n      |                   ^',
    );
    // Nothing of esbuild's own workings: the stack is the message.
    expect(error?.stack).toBe(`SyntaxError: ${error?.message}`);
    expect(error?.stack).not.toMatch(/node_modules|esbuild/);
  });

  it('shows five errors and counts the rest', () => {
    const errors = Array.from({ length: 7 }, (_, i) => ({
      text: `error ${i}`,
      location: { file: '/app/a.ts', line: i + 1, column: 0, lineText: 'x' },
    }));
    const message = compileError({ errors }, '/app/a.ts')?.message ?? '';
    expect(message.match(/^\/app\/a\.ts:\d+:1: error \d$/gm)).toHaveLength(5);
    expect(message).toMatch(/\(and 2 more errors\)$/);
  });

  it('leaves errors that are not compile failures alone', () => {
    expect(compileError(new Error('EACCES'), '/app/a.ts')).toBeUndefined();
    expect(compileError(null, '/app/a.ts')).toBeUndefined();
  });
});
