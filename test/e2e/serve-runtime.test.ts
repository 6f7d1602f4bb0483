/**
 * `hangar serve` in production mode (issue 15): two versions on two Node majors on one
 * platform (`runtime: nodejs24` and `nodejs20`, acceptance), a handler error answered with the
 * generic page (no error text to clients) while the request log keeps the reason, and strict
 * socket rules (a loopback destination is refused, not warned about).
 *
 * The Node 24 is real, from the cache `npm test` fills before the tests
 * (scripts/fetch-test-runtimes.mjs), which the serve data dir links to as its `runtimes/`.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimesDir } from '../../src/versions/node-runtimes.js';
import {
  deploy,
  freshDataDir,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stopAllServes,
  until,
} from '../helpers/serve.js';
import { cachedNode, testRuntimesRoot } from '../helpers/test-runtimes.js';

const cacheRoot = testRuntimesRoot;
const APP = 'prod';

const handler = `import { createConnection } from 'node:net';
export async function app(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === '/throw') throw new Error('secret detail from the handler');
  if (path === '/connect') {
    // A loopback destination: under serve the socket policy refuses it (S12 strict).
    const port = Number(new URL(request.url).searchParams.get('port'));
    const outcome = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.on('connect', () => { socket.destroy(); resolve('connected'); });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    return new Response(outcome);
  }
  return Response.json({ version: process.version });
}
`;

let serve: ServeProcess;
let apps = '';

beforeAll(async () => {
  // From the cache `npm test` fills before the tests (scripts/fetch-test-runtimes.mjs).
  await cachedNode('nodejs24');
  apps = mkdtempSync(join(tmpdir(), 'hangar-serve-runtimes-'));
  for (const [dir, yaml] of [
    ['current', 'runtime: nodejs24\nhandlers:\n  - url: /.*\n    script: main.app\n'],
    ['older', 'service: older\nruntime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n'],
  ] as const) {
    mkdirSync(join(apps, dir));
    writeFileSync(join(apps, dir, 'app.yaml'), yaml);
    writeFileSync(join(apps, dir, 'main.ts'), handler);
  }
  const dataDir = freshDataDir();
  symlinkSync(runtimesDir(cacheRoot), runtimesDir(dataDir));
  serve = await startServe({ dataDir });
  for (const dir of ['current', 'older']) {
    const run = await deploy(serve, join(apps, dir), ['--application', APP, '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
  }
}, 300_000);

afterAll(async () => {
  await stopAllServes();
  removeDataDirs();
  if (apps) rmSync(apps, { recursive: true, force: true });
});

describe('hangar serve in production mode', () => {
  it('runs each version on the Node major of its runtime: nodejs24 → v24.x, nodejs20 → v20.x', async () => {
    const current = await serve.get(`${APP}.localhost`, '/');
    expect(current.status, current.body).toBe(200);
    expect((JSON.parse(current.body) as { version: string }).version).toMatch(/^v24\./);
    const older = await serve.get(`older-dot-${APP}.localhost`, '/');
    expect(older.status, older.body).toBe(200);
    expect((JSON.parse(older.body) as { version: string }).version).toMatch(/^v20\./);
  });

  it('answers a handler error with the generic page; the reason is in the request log only', async () => {
    const res = await serve.get(`${APP}.localhost`, '/throw');
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('secret detail');
    const entry = await until('the /throw entry in the request log', 10_000, async () => {
      const page = (await serve.admin('GET', `/api/logs?app=${APP}&limit=100`)).json as {
        entries: Array<{ resource: string; status: number; lines: Array<{ message: string }> }>;
      };
      return page.entries.find((e) => e.resource === '/throw');
    });
    expect(entry.status).toBe(500);
    expect(entry.lines.map((l) => l.message).join('\n')).toContain('secret detail from the handler');
  });

  it('refuses a loopback socket destination (strict rules, no dev warning path)', async () => {
    // The admin port is a real loopback listener: under dev it would connect with a warning.
    const port = new URL(serve.adminUrl).port;
    const res = await serve.get(`older-dot-${APP}.localhost`, `/connect?port=${port}`);
    expect(res.status, res.body).toBe(200);
    expect(res.body).not.toBe('connected');
    expect(res.body).toMatch(/^E[A-Z]+/);
  });
});
