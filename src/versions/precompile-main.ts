/**
 * The deploy build's TypeScript step (src/versions/build.ts), a process of its own on the Node
 * the version's instances run on, so esbuild compiles for that Node: compiles the app beside its
 * sources (precompile.ts) and writes the version dir's `precompiled.json`. It says in the build
 * log what its instances will load. `HANGAR_PRECOMPILE` holds `{ appDir, manifest }` (JSON).
 */
import { writeFileSync } from 'node:fs';
import { precompileApp } from './precompile.js';

const job = JSON.parse(process.env.HANGAR_PRECOMPILE ?? '{}') as { appDir?: unknown; manifest?: unknown };
if (typeof job.appDir !== 'string' || typeof job.manifest !== 'string') {
  process.stderr.write('hangar: HANGAR_PRECOMPILE must hold { appDir, manifest }\n');
  process.exit(2);
}
const manifest = await precompileApp(job.appDir);
writeFileSync(job.manifest, `${JSON.stringify(manifest)}\n`);
process.stdout.write(
  manifest.hooks === null
    ? `compiled ${manifest.files} TypeScript file${manifest.files === 1 ? '' : 's'} for Node ${manifest.nodeMajor}; instances load them without loader hooks\n`
    : `instances of this version will compile TypeScript with the loader hooks (slower to start): ${manifest.hooks}\n`,
);
