/**
 * A version's Knative pod on the platform's PostgreSQL database (SPEC S16; docs/kubernetes.md
 * "The pod and the platform database"): the built pod entry with HANGAR_DATABASE_URL set to a
 * fresh test database writes each request's entry, app lines included, into the shared request
 * log (read back through the PostgreSQL LogStore, as `hangar logs` on a serve node reads it),
 * counts requests, bytes and instance-hours into the shared metering table, and enforces
 * `quotas.daily` on the platform-wide totals. A database behind a proxy the test turns off and
 * on: requests never fail, entries wait and are written when it is back, and whatever is still
 * waiting when the pod stops goes to stdout. Loopback only.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLogStore } from '../../src/logs/open-store.js';
import type { LogEntry } from '../../src/logs/types.js';
import { zeroCounters } from '../../src/metering/counters.js';
import { PgMeteringStore } from '../../src/metering/pg-store.js';
import { openPostgres, type PgPool } from '../../src/shared/postgres.js';
import { appToken } from '../../src/sockets/protocol.js';
import { podMain, type Started, startPod, startSocketService, stopAllPods } from '../helpers/knative-pod.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { fixture, httpGet, startServe, stopAllServes, until } from '../helpers/serve.js';

const APP = 'k8sdb';
const key = randomBytes(32).toString('hex');
let db: TestDatabase;
let dir: string;
let logs: Awaited<ReturnType<typeof openLogStore>>;
let pool: PgPool;
let metering: PgMeteringStore;

const today = () => new Date().toISOString().slice(0, 10);

/** `USER:PASSWORD@` of a URL, which no output may contain. */
function credentials(url: string): string {
  const { username, password } = new URL(url);
  return `${username}:${password}@`;
}

/** The pod's environment for the fixture app, as the exported Knative Service gives it. */
function podEnv(app: string, config: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    HANGAR_APP_DIR: fixture('k8s-export'),
    HANGAR_APPLICATION: app,
    HANGAR_VERSION: 'v1',
    HANGAR_MINOR: '7',
    HANGAR_CONFIG: config,
    HANGAR_CACHE_DIR: join(dir, 'cache'),
    HANGAR_SOCKETS: 'none',
    ...extra,
  };
}

/** The stored entries of `app` (newest last), as `hangar logs --app` reads them. */
async function stored(app: string): Promise<LogEntry[]> {
  return (await logs.store.query({ app, limit: 1000 })).entries;
}

/** The app's counts today, summed over its versions. */
async function counted(app: string) {
  const sum = zeroCounters();
  for (const row of await metering.day(today()))
    if (row.app === app)
      for (const [name, n] of Object.entries(row.counters)) sum[name as keyof typeof sum] += n;
  return sum;
}

beforeAll(async () => {
  expect(existsSync(podMain), 'npm run build first').toBe(true);
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'hangar-pod-db-'));
  logs = await openLogStore({ kind: 'postgres', url: db.url });
  pool = await openPostgres(db.url, { max: 2, applicationName: 'hangar test' });
  metering = await PgMeteringStore.open(pool);
}, 60_000);

afterAll(async () => {
  await stopAllPods();
  await stopAllServes();
  await logs?.close();
  await pool?.end();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a Knative pod on the platform database', () => {
  let sockets: Started;
  let pod: Started;

  it('starts with the sockets shim installed and still reaches PostgreSQL directly', async () => {
    const config = join(dir, 'plain.yaml');
    writeFileSync(config, '# no quotas\n');
    sockets = await startSocketService(key, { HANGAR_CONFIG: config });
    pod = await startPod(
      podEnv(APP, config, {
        // The socket service refuses loopback (S12): were the pod's own connections to the
        // database routed through the shim, 127.0.0.1:5432 would be refused.
        HANGAR_SOCKETS: `127.0.0.1:${sockets.port}`,
        HANGAR_SOCKETS_TOKEN: appToken(key, APP),
        HANGAR_DATABASE_URL: db.url,
      }),
    );
    const said = await pod.waitFor(/request log and metering: ([^"]+)"/, 10_000);
    expect(said[1]).toContain(db.name);
    // The password is never printed.
    expect(said[1]).toContain(':***@');
    expect(pod.output()).not.toContain(credentials(db.url));
  });

  it('writes each request with its app lines to the shared request log, not to stdout', async () => {
    const hello = await httpGet(`${pod.url}/hello?x=1`, undefined);
    expect(hello.status).toBe(200);
    const helloId = (JSON.parse(hello.body) as { requestLogId: string }).requestLogId;
    // The pod read the URL; the app does not find it in its environment.
    expect(JSON.parse(hello.body)).toMatchObject({ databaseUrlSet: false });
    const node = await httpGet(`${pod.url}/node`, undefined);
    expect(node.status).toBe(200);
    const nodeId = /request ([0-9a-f]{32})/.exec(node.body)![1]!;
    const entries = await until('both entries in PostgreSQL', 10_000, async () => {
      const found = await stored(APP);
      return found.length >= 2 ? found : undefined;
    });
    const byId = new Map(entries.map((e) => [e.requestId, e]));
    expect(byId.get(helloId)).toMatchObject({
      appId: APP,
      service: 'default',
      version: 'v1',
      resource: '/hello?x=1',
      status: 200,
      split: null,
      loadingRequest: true,
      lines: [expect.objectContaining({ level: 'info', message: 'main.app GET /hello' })],
    });
    expect(byId.get(helloId)!.bytesOut).toBeGreaterThan(0);
    expect(byId.get(nodeId)).toMatchObject({
      resource: '/node',
      lines: [expect.objectContaining({ level: 'warning', message: 'node.app answered' })],
    });
    // A level filter reaches the lines too, as `hangar logs --level warning` does.
    const warnings = await logs.store.query({ app: APP, minLevel: 'warning' });
    expect(warnings.entries.map((e) => e.requestId)).toEqual([nodeId]);
    expect(pod.lines().filter((l) => typeof l.requestId === 'string')).toEqual([]);
  });

  it('counts requests, bytes and instance-hours into the shared metering table', async () => {
    const usage = await until('the counts in PostgreSQL', 10_000, async () => {
      const sum = await counted(APP);
      return sum.requests >= 2 ? sum : undefined;
    });
    expect(usage.requests).toBe(2);
    expect(usage.incoming_bytes).toBeGreaterThan(0);
    expect(usage.outgoing_bytes).toBeGreaterThan(0);
    expect(usage.instance_hours).toBeGreaterThan(0);
    const [row] = (await metering.day(today())).filter((r) => r.app === APP);
    expect(row).toMatchObject({ service: 'default', version: 'v1' });
  });

  it('a serve node on the database, started as the exported front end starts, shows them: hangar logs, hangar quotas', async () => {
    // frontend.yaml's way: the URL in HANGAR_DATABASE_URL (not in the arguments), the node named
    // after its pod, the socket service's peer address its pod IP.
    const serve = await startServe({
      env: { HANGAR_DATABASE_URL: db.url },
      args: ['--node', 'hangar-frontend-7d9c8b6f5d-x2k4q', '--peer-host', '127.0.0.1'],
    });
    const health = await httpGet(`${serve.url}/_ah/hangar/health`, undefined);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', node: 'hangar-frontend-7d9c8b6f5d-x2k4q' });
    const run = await serve.hangar(['logs', '--app', APP, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const printed = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as LogEntry);
    expect(printed.map((e) => e.resource)).toEqual(['/hello?x=1', '/node']);
    expect(printed[0]!.lines.map((l) => l.message)).toEqual(['main.app GET /hello']);
    const quotas = await serve.hangar(['quotas', '--app', APP, '--json']);
    expect(quotas.code, quotas.stderr).toBe(0);
    expect(JSON.parse(quotas.stdout)).toMatchObject({ apps: [{ app: APP, usage: { requests: 2 } }] });
  });

  it('writes the last entries and counts before it stops on SIGTERM (exit code 0)', async () => {
    const last = await httpGet(`${pod.url}/last`, undefined);
    expect(last.status).toBe(200);
    expect(await pod.stop()).toBe(0);
    expect((await stored(APP)).map((e) => e.resource)).toContain('/last');
    expect((await counted(APP)).requests).toBe(3);
    expect(await sockets.stop()).toBe(0);
  });
});

describe("quotas.daily in a pod: the platform's totals", () => {
  it("refuses the app with 503 once the day's total, other nodes' counts included, reaches the quota", async () => {
    const app = 'k8squota';
    const config = join(dir, 'quota.yaml');
    writeFileSync(config, 'quotas:\n  daily:\n    requests: 5\n');
    // Another node (or pod) counted 4 requests of the app today.
    await metering.add([
      { day: today(), app, service: 'default', version: 'v0', counters: { ...zeroCounters(), requests: 4 } },
    ]);
    const pod = await startPod(podEnv(app, config, { HANGAR_DATABASE_URL: db.url }));
    await pod.waitFor(/request log and metering/, 10_000);
    // The meter's first read of the day's totals follows the connection.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await httpGet(`${pod.url}/one`, undefined)).status).toBe(200);
    const refused = await until('the over-quota answer', 5_000, async () => {
      const res = await httpGet(`${pod.url}/more`, undefined);
      return res.status === 503 ? res : undefined;
    });
    expect(refused.body).toContain('503');
    const entries = await until('the refusal in the log', 10_000, async () => {
      const found = await stored(app);
      return found.some((e) => e.status === 503) ? found : undefined;
    });
    const refusal = entries.find((e) => e.status === 503)!;
    expect(refusal.error).toMatch(/^HANGAR_E_OVER_QUOTA: app k8squota has used up its daily requests quota/);
    expect(await pod.stop()).toBe(0);
    // A refusal is not counted: the 4 of the other node and the pod's 200s.
    const served = entries.filter((e) => e.status === 200).length;
    expect((await counted(app)).requests).toBe(4 + served);
  });
});

describe('the database away: requests are served, entries wait, then go to the database or stdout', () => {
  let proxy: Server;
  let up = false;
  const open = new Set<Socket>();

  beforeAll(async () => {
    const target = new URL(db.url);
    proxy = createServer((client) => {
      if (!up) {
        client.destroy();
        return;
      }
      const server = connect(Number(target.port || 5432), target.hostname);
      for (const socket of [client, server]) {
        open.add(socket);
        socket.on('close', () => open.delete(socket));
        socket.on('error', () => {
          client.destroy();
          server.destroy();
        });
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => {
    for (const socket of open) socket.destroy();
    proxy?.close();
  });

  it('serves while the database is down, and stores what waited once it answers', async () => {
    const app = 'k8sdown';
    const config = join(dir, 'down.yaml');
    writeFileSync(config, '# no quotas\n');
    const url = new URL(db.url);
    url.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const pod = await startPod(podEnv(app, config, { HANGAR_DATABASE_URL: url.toString() }));
    const first = await httpGet(`${pod.url}/while-down-1`, undefined);
    const second = await httpGet(`${pod.url}/while-down-2`, undefined);
    expect([first.status, second.status]).toEqual([200, 200]);
    await pod.waitFor(/"severity":"WARNING".*platform database/, 10_000);
    expect(pod.output()).toContain(':***@127.0.0.1');
    expect(pod.output()).not.toContain(credentials(url.toString()));
    expect(await stored(app)).toEqual([]);

    up = true;
    const entries = await until('the waiting entries in PostgreSQL', 20_000, async () => {
      const found = await stored(app);
      return found.length === 2 ? found : undefined;
    });
    expect(entries.map((e) => e.resource)).toEqual(['/while-down-1', '/while-down-2']);
    await until('the counts', 10_000, async () => ((await counted(app)).requests === 2 ? true : undefined));

    // Down again: the entry of a request served now is still waiting when the pod stops, so it
    // goes to stdout as the JSON line a pod without a database writes.
    up = false;
    for (const socket of open) socket.destroy();
    const third = await httpGet(`${pod.url}/while-down-3`, undefined);
    expect(third.status).toBe(200);
    expect(await pod.stop()).toBe(0);
    const spilled = pod.lines().filter((l) => l.resource === '/while-down-3');
    expect(spilled).toEqual([expect.objectContaining({ severity: 'INFO', appId: app, status: 200 })]);
    expect(pod.output()).toContain('could not be stored in the platform database before the pod stopped');
    expect((await stored(app)).map((e) => e.resource)).not.toContain('/while-down-3');
  }, 60_000);
});
