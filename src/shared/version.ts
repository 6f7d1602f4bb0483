import { readFileSync } from 'node:fs';

/** Hangar's own version, from package.json (dist/shared → ../../package.json). */
export const version: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** `SERVER_SOFTWARE` under `hangar dev` (S2, S8): `Development/X.Y`. */
export const devServerSoftware = `Development/${version.split('.').slice(0, 2).join('.')}`;

/** `SERVER_SOFTWARE` under `hangar serve`: `Hangar/X.Y.Z`. */
export const serveServerSoftware = `Hangar/${version}`;
