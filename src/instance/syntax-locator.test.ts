import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { locateSyntaxError } from './syntax-locator.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function app(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-syntax-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('locateSyntaxError', () => {
  it("names the app's file that does not parse, its line and column", async () => {
    const dir = app({
      'main.js': "import { x } from './lib/app.js';\nexport const app = x;\n",
      'lib/app.js': 'export const x = 1;\nconst = 1;\n',
    });
    const place = await locateSyntaxError(dir);
    expect(place).toMatch(new RegExp(`^${dir}/lib/app\\.js:2:7: `));
    expect(place).toContain('    2 | const = 1;');
  });

  it('looks past node_modules, and finds nothing in an app that parses', async () => {
    const dir = app({ 'main.js': 'export const app = 1;\n', 'node_modules/bad/index.js': 'const = 1;\n' });
    expect(await locateSyntaxError(dir)).toBeUndefined();
  });
});
