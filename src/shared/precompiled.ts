/**
 * Names shared by a deploy's TypeScript build (src/versions/precompile.ts) and the instances
 * that load its output without loader hooks (src/instance/app-modules.ts): each TypeScript file
 * of a deployed version is compiled to a file beside it, so that `import.meta.url` keeps its
 * folder and the app's relative reads (`new URL('./data.json', import.meta.url)`) still work.
 * Import-free, so an instance pays nothing for it.
 */

/** The TypeScript files Hangar compiles (the loader hooks' test, loader-hooks.ts). */
export const TYPESCRIPT_FILE = /\.m?tsx?$/;

/**
 * Spellings of a relative `specifier` to try when it names no file and a TypeScript module
 * imports it, in this order (TypeScript's own habits): `./x.js` → `./x.ts`, `./x.tsx`;
 * `./x.mjs` → `./x.mts`; `./x` → `./x.ts`, `.tsx`, `.mts`, `.js`, `./x/index.ts`. The loader
 * hooks try them at run time, a deploy's build before (src/versions/precompile.ts).
 *
 * @example
 * typeScriptCandidates('./db.js') // ['./db.ts', './db.tsx']
 */
export function typeScriptCandidates(specifier: string): string[] {
  if (specifier.endsWith('.js')) return [`${specifier.slice(0, -3)}.ts`, `${specifier.slice(0, -3)}.tsx`];
  if (specifier.endsWith('.mjs')) return [`${specifier.slice(0, -4)}.mts`];
  if (/\.[a-z]+$/i.test(specifier)) return [];
  return [
    `${specifier}.ts`,
    `${specifier}.tsx`,
    `${specifier}.mts`,
    `${specifier}.js`,
    `${specifier}/index.ts`,
  ];
}

/** What `main.ts` is compiled to, beside it: `main.ts.hangar.mjs` (ES module whatever package.json says). */
export const PRECOMPILED_SUFFIX = '.hangar.mjs';

/** The version dir's record of its build (src/versions/precompiled.ts reads it). */
export const PRECOMPILED_MANIFEST = 'precompiled.json';

/**
 * A message or stack with the compiled files' names put back to their sources' (Node names the
 * importing file in "Cannot find module ... imported from ...").
 *
 * @example
 * sourceNames('imported from /app/main.ts.hangar.mjs') // 'imported from /app/main.ts'
 */
export function sourceNames(text: string): string {
  return text.replace(/(\.m?tsx?)\.hangar\.mjs\b/g, '$1');
}
