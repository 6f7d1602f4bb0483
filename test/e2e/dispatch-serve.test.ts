/**
 * dispatch.yaml under `hangar serve` (S11, issue 19): deployed with `hangar deploy
 * dispatch.yaml` beside the services in one command; `*\/api/*` goes to the api service on the
 * app's own host, the rest to default; a restart keeps the rules; a bad file is refused with
 * its line before anything is sent.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/dev-server.js';
import { removeDataDirs, type ServeProcess, startServe, stopAllServes } from '../helpers/serve.js';

const APP = 'disp';
let root = '';
let serve: ServeProcess;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hangar-dispatch-serve-'));
  cpSync(join(repoRoot, 'examples/hello'), join(root, 'default'), { recursive: true });
  cpSync(join(repoRoot, 'test/fixtures/api-service'), join(root, 'api'), { recursive: true });
  writeFileSync(join(root, 'dispatch.yaml'), 'dispatch:\n  - url: "*/api/*"\n    service: api\n');
  serve = await startServe();
}, 60_000);

afterAll(async () => {
  await stopAllServes();
  removeDataDirs();
  rmSync(root, { recursive: true, force: true });
});

describe('dispatch.yaml under hangar serve', () => {
  it('is deployed with the services and routes */api/* to api on the app host', async () => {
    const run = await serve.hangar([
      'deploy',
      join(root, 'default'),
      join(root, 'api'),
      join(root, 'dispatch.yaml'),
      '--application',
      APP,
      '--version',
      'v1',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/deployed .*dispatch\.yaml: 1 dispatch rules for disp/);
    expect((await serve.get(`${APP}.localhost`, '/api/items')).body).toBe('service api');
    expect((await serve.get(`${APP}.localhost`, '/')).body).toBe('Hello, World!');
    // A host naming a version of default is not moved.
    expect((await serve.get(`v1-dot-default-dot-${APP}.localhost`, '/api/items')).status).toBe(404);
  });

  it('keeps its rules over a restart', async () => {
    const dataDir = serve.dataDir;
    expect(await serve.stop()).toBe(0);
    serve = await startServe({ dataDir });
    expect((await serve.get(`${APP}.localhost`, '/api/items')).body).toBe('service api');
  });

  it('refuses a bad dispatch.yaml with its line, and one naming an unknown service', async () => {
    const badDir = mkdtempSync(join(tmpdir(), 'hangar-dispatch-bad-'));
    try {
      writeFileSync(join(badDir, 'dispatch.yaml'), 'dispatch:\n  - url: "*/a*b"\n    service: api\n');
      const bad = await serve.hangar(['deploy', join(badDir, 'dispatch.yaml'), '--application', APP]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/dispatch\.yaml:2:\d+ .*\* may only end the path/);
      writeFileSync(join(badDir, 'dispatch.yaml'), 'dispatch:\n  - url: "*/x/*"\n    service: nosuch\n');
      const unknown = await serve.hangar(['deploy', join(badDir, 'dispatch.yaml'), '--application', APP]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/service 'nosuch'.*does not have/);
      // The rules in place are untouched.
      expect((await serve.get(`${APP}.localhost`, '/api/items')).body).toBe('service api');
    } finally {
      rmSync(badDir, { recursive: true, force: true });
    }
  });
});
