import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { precompileApp } from './precompile.js';

const run = promisify(execFile);
const dirs: string[] = [];

/** An app folder with `files` (path → text). */
function app(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-precompile-'));
  dirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const compiled = (dir: string, path: string) => readFileSync(join(dir, `${path}.hangar.mjs`), 'utf8');

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('precompileApp (a deploy’s TypeScript, compiled beside its sources)', () => {
  it('rewrites the imports the loader hooks would have resolved to TypeScript, and nothing else', async () => {
    const dir = app({
      'main.ts': [
        "import { a } from './lib/a.js';",
        "import { b } from './lib/b.ts';",
        "import { c } from './lib/c';",
        "import { d } from './lib/d/index.js';",
        "import { e } from './plain.js';",
        "import data from './data.json' with { type: 'json' };",
        "import { sleep } from 'hangar';",
        "import { connect } from 'hangar/sockets';",
        "import { readFileSync } from 'node:fs';",
        "export * from './lib/a.js';",
        "export const later = () => import('./lib/b.js');",
        'export const all = [a, b, c, d, e, data, sleep, connect, readFileSync];',
      ].join('\n'),
      'lib/a.ts': 'export const a: number = 1;',
      'lib/b.ts': 'export const b = 2;',
      'lib/c.mts': 'export const c = 3;',
      'lib/d/index.ts': 'export const d = 4;',
      'plain.js': 'export const e = 5;',
      'data.json': '{}',
      'types.d.ts': 'export type T = string;',
      'node_modules/pkg/index.ts': 'export const p = 1;',
    });
    const manifest = await precompileApp(dir);
    expect(manifest).toEqual({
      format: 1,
      nodeMajor: Number(process.versions.node.split('.')[0]),
      files: 5,
      hooks: null,
    });
    const main = compiled(dir, 'main.ts');
    expect(main).toContain('from "./lib/a.ts.hangar.mjs"');
    expect(main).toContain('from "./lib/b.ts.hangar.mjs"');
    expect(main).toContain('from "./lib/c.mts.hangar.mjs"');
    expect(main).toContain('from "./lib/d/index.ts.hangar.mjs"');
    expect(main).toContain('export * from "./lib/a.ts.hangar.mjs"');
    expect(main).toContain('import("./lib/b.ts.hangar.mjs")');
    for (const kept of ['"./plain.js"', '"./data.json"', '"hangar"', '"hangar/sockets"', '"node:fs"'])
      expect(main).toContain(kept);
    expect(compiled(dir, 'lib/a.ts')).toContain('const a = 1');
    expect(existsSync(join(dir, 'types.d.ts.hangar.mjs'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/pkg/index.ts.hangar.mjs'))).toBe(false);
  });

  it('keeps source maps exact where a specifier changed length, relative to the compiled file', async () => {
    const dir = app({
      // The throw is on the line of a rewritten import, after it: its column moves in the output.
      'main.ts': [
        'type N = number;',
        "export const f = (n: N) => import('./x.js').then(() => { throw new Error(String(n)); });",
      ].join('\n'),
      'x.ts': 'export {};',
    });
    await precompileApp(dir);
    const code = compiled(dir, 'main.ts');
    const map = JSON.parse(
      Buffer.from(
        /sourceMappingURL=data:application\/json;base64,(\S+)/.exec(code)![1]!,
        'base64',
      ).toString(),
    ) as { sources: string[] };
    expect(map.sources).toEqual(['main.ts']);
    const lines = code.split('\n');
    const line = lines.findIndex((l) => l.includes('throw new Error'));
    const column = lines[line]!.indexOf('throw new Error');
    const entry = new SourceMap(map as never).findEntry(line, column) as {
      originalLine: number;
      originalColumn: number;
    };
    expect([entry.originalLine, entry.originalColumn]).toEqual([
      1,
      "export const f = (n: N) => import('./x.js').then(() => { ".length,
    ]);
  });

  it.each<[string, Record<string, string>, RegExp]>([
    [
      'a computed import()',
      { 'main.ts': `export const load = (n: string) => import(\`./routes/\${n}.js\`);` },
      /main\.ts imports a computed specifier/,
    ],
    [
      'import.meta.resolve',
      { 'main.ts': "export const u = import.meta.resolve('./x.js');" },
      /import\.meta\.resolve/,
    ],
    [
      'JavaScript importing TypeScript',
      { 'main.js': "import { a } from './a.ts'; export { a };", 'a.ts': 'export const a = 1;' },
      /main\.js imports TypeScript \(\.\/a\.ts\)/,
    ],
    ['a file that does not compile', { 'main.ts': 'export const x = (;' }, /main\.ts does not compile/],
    [
      "a package of the app's named hangar",
      { 'main.ts': "export * from 'hangar';", 'node_modules/hangar/index.js': '' },
      /package named hangar/,
    ],
    [
      'where its compiled file would go, a file of the app',
      { 'main.ts': 'export {};', 'main.ts.hangar.mjs': '' },
      /main\.ts\.hangar\.mjs is a file of the app/,
    ],
  ])('keeps the loader hooks for %s, says why and writes nothing', async (_, files, why) => {
    const dir = app(files);
    const manifest = await precompileApp(dir);
    expect(manifest.hooks).toMatch(why);
    expect(manifest.files).toBe(0);
    if (!('main.ts.hangar.mjs' in files)) expect(existsSync(join(dir, 'main.ts.hangar.mjs'))).toBe(false);
  });

  it('finds TypeScript in a package with the flag the deploy passes (Node’s own resolution)', async () => {
    const dir = app({
      'main.ts': "import { p } from 'tspkg'; export { p };",
      'node_modules/tspkg/package.json': JSON.stringify({
        name: 'tspkg',
        type: 'module',
        exports: './index.ts',
      }),
      'node_modules/tspkg/index.ts': 'export const p: number = 1;',
    });
    const tsx = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).href;
    const script = `
      const { precompileApp } = await import(${JSON.stringify(new URL('./precompile.ts', import.meta.url).href)});
      process.stdout.write(JSON.stringify(await precompileApp(${JSON.stringify(dir)})));
    `;
    const { stdout } = await run(process.execPath, [
      '--experimental-import-meta-resolve',
      '--import',
      tsx,
      '--input-type=module',
      '-e',
      script,
    ]);
    expect((JSON.parse(stdout) as { hooks: string }).hooks).toMatch(
      /main\.ts imports tspkg, TypeScript outside the app’s own files/,
    );
  });
});
