import { describe, expect, it } from 'vitest';
import { loadFailureSummary } from './app-loader.js';

describe('loadFailureSummary (the first line of a module that failed to load)', () => {
  it('says how to fix ESM syntax in a CommonJS package (npm init -y)', () => {
    expect(
      loadFailureSummary(new SyntaxError('Cannot use import statement outside a module'), 'server.js'),
    ).toMatch(
      /^server\.js uses import\/export but is loaded as CommonJS .* set "type": "module" in package\.json, or rename the file to \.mjs$/,
    );
  });

  it('says to run npm install for a package that is not there', () => {
    const err = Object.assign(new Error("Cannot find package 'hono' imported from /app/main.ts"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(loadFailureSummary(err, 'main.ts')).toBe(
      "the package 'hono' is not installed; run npm install (it must be in package.json's dependencies for a deploy)",
    );
  });

  it("otherwise gives the error's own first line, so a log line is never cut to nothing", () => {
    expect(loadFailureSummary(new Error('boom\n    at x'), 'main.ts')).toBe('boom');
    expect(loadFailureSummary('plain', 'main.ts')).toBe('plain');
  });
});
