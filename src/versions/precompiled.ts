/**
 * How the instances of a deployed version load the app's TypeScript and its `hangar` imports,
 * from what its build recorded (`precompiled.json`, src/versions/precompile.ts): compiled at
 * deploy and without loader hooks, or with the hooks, and why. For `hangar` and `hangar/*` the
 * version dir gets a `node_modules/hangar` link to the platform's own package, which Node's
 * resolution finds from every file of the app (the app's own `node_modules` comes first, so a
 * build with its own `hangar` package keeps the hooks). The link is checked each time a version
 * is started, since the platform may have moved since the deploy.
 */
import {
  mkdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRECOMPILED_MANIFEST } from '../shared/precompiled.js';
import type { PrecompiledManifest } from './precompile.js';

/**
 * `precompiled`: instances load the compiled files and register no hooks, if their Node is at
 * least `nodeMajor` (what esbuild compiled for); `hooks`: they register the loader hooks, and
 * say `because` in their log.
 */
export type VersionLoader = { kind: 'precompiled'; nodeMajor: number } | { kind: 'hooks'; because: string };

/** The platform's own package (its package.json names `hangar` and exports its subpaths). */
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The loader of the version in `versionDir`, making its `node_modules/hangar` link when it is
 * missing or points elsewhere.
 *
 * @example
 * versionLoader('/data/versions/app/default/v1.123'); // { kind: 'precompiled', nodeMajor: 20 }
 */
export function versionLoader(versionDir: string): VersionLoader {
  let manifest: Partial<PrecompiledManifest>;
  try {
    manifest = JSON.parse(
      readFileSync(join(versionDir, PRECOMPILED_MANIFEST), 'utf8'),
    ) as PrecompiledManifest;
  } catch (err) {
    return {
      kind: 'hooks',
      because:
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'the version was deployed before Hangar compiled TypeScript at deploy; deploy it again for faster starts'
          : `its ${PRECOMPILED_MANIFEST} cannot be read (${(err as Error).message})`,
    };
  }
  if (typeof manifest.hooks === 'string') return { kind: 'hooks', because: manifest.hooks };
  if (manifest.format !== 1 || typeof manifest.nodeMajor !== 'number')
    return { kind: 'hooks', because: `its ${PRECOMPILED_MANIFEST} is not one this Hangar knows` };
  const linkProblem = linkHangar(versionDir);
  if (linkProblem) return { kind: 'hooks', because: linkProblem };
  return { kind: 'precompiled', nodeMajor: manifest.nodeMajor };
}

/**
 * The loader for an instance on Node `nodeVersion` (e.g. `v22.3.0`): a version compiled for a
 * newer Node than the one its runtime now resolves to keeps the hooks, which compile for the
 * Node they run on.
 *
 * @example
 * loaderOnNode({ kind: 'precompiled', nodeMajor: 22 }, 'v20.11.0') // { kind: 'hooks', because: '...' }
 */
export function loaderOnNode(loader: VersionLoader, nodeVersion: string): VersionLoader {
  const major = Number(/^v?(\d+)/.exec(nodeVersion)?.[1] ?? 0);
  if (loader.kind !== 'precompiled' || major >= loader.nodeMajor) return loader;
  return {
    kind: 'hooks',
    because: `its TypeScript was compiled at deploy for Node ${loader.nodeMajor}, and its instances now run on Node ${nodeVersion}; deploy it again`,
  };
}

/** Makes `<versionDir>/node_modules/hangar` → the platform's package; a reason when it cannot. */
function linkHangar(versionDir: string): string | undefined {
  const link = join(versionDir, 'node_modules', 'hangar');
  let target: string;
  try {
    target = realpathSync(packageRoot);
  } catch (err) {
    return `the platform's own package cannot be found (${(err as Error).message})`;
  }
  try {
    if (readlinkSync(link) === target) return undefined;
  } catch {
    // No link yet (or not a link): made below.
  }
  try {
    mkdirSync(join(versionDir, 'node_modules'), { recursive: true });
    // Made beside it and renamed over it: an instance starting meanwhile never finds no link.
    const temp = `${link}.${process.pid}.tmp`;
    rmSync(temp, { force: true });
    symlinkSync(target, temp, 'dir');
    renameSync(temp, link);
    return undefined;
  } catch (err) {
    return `the link ${link} to the platform's own modules could not be made (${(err as Error).message})`;
  }
}
