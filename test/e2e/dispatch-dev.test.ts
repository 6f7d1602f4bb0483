/**
 * dispatch.yaml under `hangar dev` (S11, issue 19): a folder with two services and a
 * dispatch.yaml beside them sends `*\/api/*` to the api service and the rest to default, on
 * the default host; a host that names a service still reaches it. A rule naming a service
 * that was not given stops the start with the file's name.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { hangar } from '../helpers/serve.js';

let root = '';
let dev: DevServer;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'hangar-dispatch-'));
  cpSync(join(repoRoot, 'examples/hello'), join(root, 'default'), { recursive: true });
  cpSync(join(repoRoot, 'test/fixtures/api-service'), join(root, 'api'), { recursive: true });
  writeFileSync(join(root, 'dispatch.yaml'), 'dispatch:\n  - url: "*/api/*"\n    service: api\n');
  dev = await startDev([join(root, 'default'), join(root, 'api')]);
});

afterAll(async () => {
  await dev?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('dispatch.yaml under hangar dev', () => {
  it('routes */api/* to the api service and the rest to default', async () => {
    expect(dev.output()).toMatch(/dispatch: 1 rules from .*dispatch\.yaml/);
    expect(await (await fetch(`${dev.url}/api/items`)).text()).toBe('service api');
    expect(await (await fetch(`${dev.url}/`)).text()).toBe('Hello, World!');
    // /api without the slash is not under /api/: default's (which has nothing there).
    expect(await (await fetch(`${dev.url}/api`)).text()).toMatch(/^Nothing at \/api/);
  });

  it('refuses a rule that names a service not given, naming the file', async () => {
    const other = mkdtempSync(join(tmpdir(), 'hangar-dispatch-bad-'));
    try {
      cpSync(join(repoRoot, 'examples/hello'), join(other, 'default'), { recursive: true });
      writeFileSync(join(other, 'dispatch.yaml'), 'dispatch:\n  - url: "*/api/*"\n    service: api\n');
      const run = await hangar([
        'dev',
        join(other, 'default'),
        '--port',
        '0',
        '--admin-port',
        '0',
        '--data-dir',
        join(other, 'data'),
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /dispatch\.yaml: url "\*\/api\/\*" names service 'api', which is not one of the services given/,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
