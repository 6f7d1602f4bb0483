/**
 * `hangar deploy` and `hangar versions` as a user runs them (the built CLI, a real process)
 * against the fake admin API: the flags reach the protocol, and the exit codes hold.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from '../helpers/dev-server.js';
import { FAKE_TOKEN, type FakeAdmin, startFakeAdmin } from '../helpers/fake-deploy-admin.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function hangar(args: string[], cwd: string): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

let root: string;
let app: string;
let fake: FakeAdmin;
const admin = () => ['--server', fake.url, '--token', FAKE_TOKEN];

beforeAll(async () => {
  // `npm test` builds dist/ first (pretest); a rebuild here would race other e2e files using it.
  expect(existsSync(join(cli, '../deploy.js'))).toBe(true);
  root = await mkdtemp(join(tmpdir(), 'hangar-deploy-cli-'));
  app = join(root, 'app');
  await mkdir(app);
  await writeFile(join(app, 'main.ts'), 'export const app = () => new Response("hi");\n');
  await writeFile(join(app, 'app.yaml'), 'runtime: nodejs22\nhandlers:\n- url: /.*\n  script: main.app\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  fake = await startFakeAdmin();
});
afterEach(async () => {
  await fake.close();
});

describe('hangar deploy (the built CLI)', () => {
  it('deploys with --version, --no-promote and --application, exit 0', async () => {
    const run = await hangar(
      ['deploy', '.', '--version', 'v7', '--no-promote', '--application', 'shop', ...admin()],
      app,
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(fake.deploys[0]?.body).toMatchObject({
      app: 'shop',
      service: 'default',
      version: 'v7',
      promote: false,
    });
    expect(run.stdout).toContain('deployed shop/default/v7 (minor 45671), not promoted');
  });

  it('exits 1 with the reason when the build fails, without a stack', async () => {
    fake.build = (_deploy, emit) => emit({ result: 'failed', reason: 'npm ci failed: ERESOLVE' });
    const run = await hangar(['deploy', '--application', 'shop', ...admin()], app);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('hangar: deploy of shop/default failed: npm ci failed: ERESOLVE\n');
  });
});

describe('hangar versions (the built CLI)', () => {
  it('exits 1 with the API message when a delete is refused', async () => {
    fake.remove = () => ({
      status: 409,
      body: { error: 'v1 receives traffic; promote another version first' },
    });
    const run = await hangar(['versions', 'delete', 'v1', '--app', 'shop', ...admin()], root);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('hangar: v1 receives traffic; promote another version first\n');
  });

  it('lists versions as JSON', async () => {
    fake.versions = [
      {
        app: 'shop',
        service: 'default',
        version: 'v1',
        minor: '1',
        created: '2025-01-01T00:00:00Z',
        runtime: 'nodejs22',
        traffic: 1,
        instances: 1,
      },
    ];
    const run = await hangar(['versions', 'list', '--json', ...admin()], root);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ versions: fake.versions });
  });
});
