/**
 * Issue 15: the platform's build of a deployed version (SPEC S11, docs/serve.md): an app with
 * an npm dependency and a lockfile (`npm ci`), and an app with a `gcp-build` script (dev
 * dependencies installed for it, pruned after). Real processes and the real npm; the dependency
 * is a package tarball in the fixture's own folder (test/fixtures/packages/fixture-ms), and the
 * platform's npm is pointed at a closed loopback port, so nothing leaves the machine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  deploy,
  entriesOf,
  fixture,
  type ServeProcess,
  serveForFile,
  versionDirs,
} from '../helpers/serve.js';

let serve: ServeProcess;
serveForFile((started) => {
  serve = started;
});

describe('the build of a deployed version', () => {
  it('installs the dependencies of package.json and its lockfile; the handler uses them', async () => {
    const run = await deploy(serve, fixture('serve-npm'), ['--application', 'deps', '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('build: npm ci');
    const minor = run.doc!.deployed[0]!.minor;
    const res = await serve.get('deps.localhost');
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ twoDays: 172_800_000, oneMinute: '1m' });
    // The dependency was installed on the platform, in the version's own directory.
    expect(
      existsSync(join(serve.dataDir, 'versions/deps/default', `v1.${minor}`, 'app/node_modules/fixture-ms')),
    ).toBe(true);
  }, 90_000);

  it('runs package.json gcp-build with the dev dependencies, then prunes them', async () => {
    const run = await deploy(serve, fixture('serve-gcp-build'), ['--application', 'gcpb', '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('build: npm run gcp-build');
    const res = await serve.get('v1-dot-default-dot-gcpb.localhost');
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      generated: { builtBy: 'gcp-build', oneHour: 3_600_000 },
      devDependencyKept: false,
    });
    expect(versionDirs(serve.dataDir)).toHaveLength(2);
    expect(entriesOf(join(serve.dataDir, 'staging'))).toEqual([]);
  }, 90_000);
});
