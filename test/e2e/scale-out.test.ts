/**
 * Issue 22's acceptance, as an operator sets it up (docs/scale-out.md): nginx → two `hangar
 * serve` nodes → one PostgreSQL. Deploy through node a, served by both; a promote through node
 * b under load with no failed request; `kill -9` of node a under load fails at most the requests
 * it had in flight while nginx sends the rest to b; `hangar logs` on b shows a's requests.
 * Every process is real and on loopback: the built CLI, Debian's nginx, PostgreSQL from .ci/run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import {
  deploy,
  fixture,
  httpGet,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stopAllServes,
  until,
} from '../helpers/serve.js';

const NGINX = process.env.HANGAR_NGINX ?? '/usr/sbin/nginx';
const app = 'scaleout';
const host = `${app}.localhost`;
/** Every instance id node a listed while it lived: its requests are these in the shared log. */
const seenOnA = new Set<string>();
/** Requests answered 200 through nginx before node a was killed (both nodes' counts were written then). */
let answeredBeforeKill = 0;

interface Answer {
  instance: string;
  version: string;
  databaseUrlSet: boolean;
}

/** A free loopback port for nginx (it cannot report one it chose itself). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** nginx in the foreground, in its own prefix dir, in front of `upstreams`; stopped by its pid. */
async function startNginx(
  upstreams: number[],
): Promise<{ url: string; stop(): Promise<void>; log(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-nginx-'));
  const port = await freePort();
  // The set-up docs/scale-out.md documents, with loopback ports and paths of the test's own.
  const conf = `
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
${process.getuid?.() === 0 ? 'user root root;' : ''}
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream hangar {
${upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=10s;`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://hangar;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout http_503;
      proxy_connect_timeout 2s;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await until('nginx listens', 10_000, async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    return (await httpGet(`${url}/_ah/hangar/health`, 'x').catch(() => undefined))?.status === 200
      ? true
      : undefined;
  });
  return {
    url,
    log: () => (existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Instance ids of `server`'s instances (every one it ever listed, as they come and go). */
async function instanceIds(server: ServeProcess): Promise<Set<string>> {
  const { json } = await server.admin('GET', '/api/instances');
  const ids = new Set(((json as { instances: Array<{ id: string }> }).instances ?? []).map((i) => i.id));
  if (server === nodeA) for (const id of ids) seenOnA.add(id);
  return ids;
}
let nodeA: ServeProcess | undefined;

interface LoadResult {
  ok: Answer[];
  failed: string[];
}

/**
 * `workers` clients, each one request at a time through `url` with keep-alive, until `stop()`
 * or `limit` requests in all; bounded in count, so it ends even if nothing stops it.
 */
function load(url: string, workers: number, limit: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: workers });
  const result: LoadResult = { ok: [], failed: [] };
  let sent = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && sent < limit) {
      sent++;
      try {
        const answer = await httpGet(`${url}/`, host, { agent });
        if (answer.status === 200) result.ok.push(JSON.parse(answer.body) as Answer);
        else result.failed.push(`${answer.status} ${answer.body.slice(0, 120)}`);
      } catch (err) {
        result.failed.push((err as Error).message);
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker)).then(() => {
    agent.destroy();
    return result;
  });
  return {
    result,
    stop: () => {
      stopped = true;
      return done;
    },
    done,
  };
}

/**
 * A loopback TCP server that greets each connection with its number and answers `whoami` with
 * it: an attach that reaches the same remote connection hears the same number.
 */
function startIdServer(): Promise<{ port: number; close(): void }> {
  let next = 0;
  const server = createServer((socket) => {
    const n = ++next;
    socket.write(`hello ${n}\n`);
    socket.on('data', (chunk) => {
      if (chunk.toString().includes('whoami')) socket.write(`conn ${n}\n`);
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ port: (server.address() as { port: number }).port, close: () => server.close() }),
    ),
  );
}

describe('two serve nodes on one PostgreSQL behind nginx', () => {
  let database: TestDatabase;
  let idServer: Awaited<ReturnType<typeof startIdServer>>;
  let configDir: string;
  let a: ServeProcess;
  let b: ServeProcess;
  let nginx: Awaited<ReturnType<typeof startNginx>>;
  const nodeArgs = (node: string) => [
    '--database',
    database.url,
    '--node',
    node,
    '--config',
    join(configDir, 'hangar.config.yaml'),
  ];

  beforeAll(async () => {
    database = await createTestDatabase();
    // serve refuses loopback destinations; the test's own id server is the one exception.
    idServer = await startIdServer();
    configDir = mkdtempSync(join(tmpdir(), 'hangar-scale-out-'));
    writeFileSync(
      join(configDir, 'hangar.config.yaml'),
      `sockets:\n  allow: ["127.0.0.1:${idServer.port}"]\n`,
    );
    a = await startServe({ args: nodeArgs('a') });
    nodeA = a;
    // Node b takes the URL from HANGAR_DATABASE_URL, as docs/scale-out.md suggests.
    b = await startServe({
      args: nodeArgs('b').filter((arg) => arg !== '--database' && arg !== database.url),
      env: { HANGAR_DATABASE_URL: database.url },
    });
    nginx = await startNginx([a.port, b.port]);
  }, 60_000);

  afterAll(async () => {
    await nginx?.stop();
    await stopAllServes();
    removeDataDirs();
    idServer?.close();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
    await database?.drop();
  }, 60_000);

  it('shares one admin token, lists both nodes alive, and says each node is healthy', async () => {
    expect(b.token).toBe(a.token);
    const nodes = await b.hangar(['nodes', '--json']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(
      (JSON.parse(nodes.stdout) as { nodes: Array<{ node: string; alive: boolean; url: string }> }).nodes.map(
        (n) => [n.node, n.alive, n.url],
      ),
    ).toEqual([
      ['a', true, a.url],
      ['b', true, b.url],
    ]);
    for (const [server, node] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      const health = await httpGet(`${server.url}/_ah/hangar/health`, 'anything.example');
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', node });
    }
  });

  it('deploys v1 through node a; 1,000 requests through nginx are all 200 and served by both nodes', async () => {
    const v1 = await deploy(a, fixture('scale-out'), ['--application', app, '--version', 'v1']);
    expect(v1.code, v1.stderr).toBe(0);
    // Node b runs what node a built: its files come from the built tree, with no build of its own.
    await until('node b serves v1', 15_000, async () => {
      const answer = await b.get(host);
      return answer.status === 200 && (JSON.parse(answer.body) as Answer).version.startsWith('v1.')
        ? true
        : undefined;
    });
    expect(b.output()).toMatch(/version scaleout\/default\/v1: \d+ files made from its built tree/);
    expect(b.output()).not.toMatch(/npm ci/);
    expect((await b.get(host)).body).toContain('"twoDays":172800000');

    const run = load(nginx.url, 20, 1_000);
    const { ok, failed } = await run.done;
    answeredBeforeKill += ok.length;
    expect(failed).toEqual([]);
    expect(ok).toHaveLength(1_000);
    const [onA, onB] = [await instanceIds(a), await instanceIds(b)];
    const served = new Set(ok.map((answer) => answer.instance));
    expect([...served].filter((id) => onA.has(id)).length).toBeGreaterThan(0);
    expect([...served].filter((id) => onB.has(id)).length).toBeGreaterThan(0);
    expect([...served].every((id) => onA.has(id) || onB.has(id))).toBe(true);
    // Neither node's instances see the platform database's URL (b was given it in its environment).
    expect(ok.every((answer) => answer.databaseUrlSet === false)).toBe(true);
  }, 90_000);

  it('promotes v2 through node b under load with no failed request, and both nodes then serve v2', async () => {
    const v2 = await deploy(a, fixture('scale-out'), [
      '--application',
      app,
      '--version',
      'v2',
      '--no-promote',
    ]);
    expect(v2.code, v2.stderr).toBe(0);
    await until('node b runs v2', 15_000, async () => {
      const answer = await b.get(`v2-dot-default-dot-${host}`);
      return answer.status === 200 ? true : undefined;
    });
    const run = load(nginx.url, 10, 20_000);
    await until('load is flowing', 10_000, () => (run.result.ok.length >= 100 ? true : undefined));
    const promoted = await b.hangar(['versions', 'promote', 'v2', '--app', app]);
    expect(promoted.code, promoted.stderr).toBe(0);
    const [onA, onB] = [await instanceIds(a), await instanceIds(b)];
    // Both nodes answer v2 once node a has seen the promote (it polls the database).
    await until('both nodes serve v2', 15_000, async () => {
      const v2From = new Set(
        run.result.ok
          .filter((r) => r.version.startsWith('v2.'))
          .map((r) => (onA.has(r.instance) ? 'a' : 'b')),
      );
      for (const id of await instanceIds(a)) onA.add(id);
      for (const id of await instanceIds(b)) onB.add(id);
      return v2From.has('a') && v2From.has('b') ? true : undefined;
    });
    const { ok, failed } = await run.stop();
    answeredBeforeKill += ok.length;
    expect(failed).toEqual([]);
    expect(ok.length).toBeGreaterThan(100);
    expect((await a.get(host)).body).toContain('"version":"v2.');
  }, 90_000);

  it('a split and a delete through node b apply on node a: routed, drained, files removed', async () => {
    const split = await b.hangar([
      'versions',
      'split',
      '--app',
      app,
      '--splits',
      'v1=0.5,v2=0.5',
      '--by',
      'random',
    ]);
    expect(split.code, split.stderr).toBe(0);
    await until('node a splits between v1 and v2', 15_000, async () => {
      const versions = new Set<string>();
      for (let i = 0; i < 40; i++)
        versions.add((JSON.parse((await a.get(host)).body) as Answer).version.split('.')[0]!);
      return versions.has('v1') && versions.has('v2') ? true : undefined;
    });
    const promoted = await b.hangar(['versions', 'promote', 'v2', '--app', app]);
    expect(promoted.code, promoted.stderr).toBe(0);
    const v1Dir = join(a.dataDir, 'versions', app, 'default');
    expect(readdirSync(v1Dir).some((name) => name.startsWith('v1.'))).toBe(true);
    const deleted = await b.hangar(['versions', 'delete', 'v1', '--app', app]);
    expect(deleted.code, deleted.stderr).toBe(0);
    await until('node a drained v1 and removed its files', 15_000, async () => {
      const gone = (await a.get(`v1-dot-default-dot-${host}`)).status === 404;
      return gone && !readdirSync(v1Dir).some((name) => name.startsWith('v1.')) ? true : undefined;
    });
    expect((JSON.parse((await a.get(host)).body) as Answer).version).toMatch(/^v2\./);
  }, 60_000);

  it('a socket opened on node a has a descriptor naming a; attach on node b reaches the same connection', async () => {
    const sockets = await deploy(a, fixture('scale-out-sockets'), ['--version', 's1']);
    expect(sockets.code, sockets.stderr).toBe(0);
    const socketsHost = 'sockets-test.localhost';
    // The app's own 404, not the platform's "no such app": node b runs it.
    await until('node b serves the sockets app', 15_000, async () =>
      (await b.get(socketsHost, '/nothing')).body === 'not found' ? true : undefined,
    );
    const opened = JSON.parse((await a.get(socketsHost, `/open?port=${idServer.port}`)).body) as {
      descriptor: string;
      greeting: string;
    };
    expect(opened.descriptor).toMatch(/^hsk2\.a\./);
    const n = opened.greeting.split(' ')[1];
    const attached = JSON.parse(
      (await b.get(socketsHost, `/attach?d=${encodeURIComponent(opened.descriptor)}&say=whoami`)).body,
    ) as { reply?: string; error?: unknown };
    expect(attached).toMatchObject({ reply: `conn ${n}` });
    // Any node lists every node's sockets, naming the node that holds each.
    const listed = await b.hangar(['sockets', 'list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^NODE\s+SOCKET/m);
    expect(listed.stdout).toMatch(/^a\s+\S+\s+sockets-test/m);
  }, 60_000);

  it('kill -9 of node a under load fails at most its in-flight requests; nginx sends the rest to b', async () => {
    const aInstances = await instanceIds(a);
    const workers = 10;
    const run = load(nginx.url, workers, 20_000);
    await until('load reaches node a', 10_000, () =>
      run.result.ok.some((r) => aInstances.has(r.instance)) && run.result.ok.length >= 200 ? true : undefined,
    );
    await a.kill();
    const atKill = run.result.ok.length + run.result.failed.length;
    await until('300 more requests after the kill', 30_000, () =>
      run.result.ok.length + run.result.failed.length >= atKill + 300 ? true : undefined,
    );
    const { ok, failed } = await run.stop();
    // Each worker has one request in flight: at most `workers` were on node a when it died.
    expect(failed.length).toBeLessThanOrEqual(workers);
    const after = ok.slice(-200);
    expect(after.every((r) => !aInstances.has(r.instance))).toBe(true);
  }, 90_000);

  it('hangar logs on node b shows the requests node a served', async () => {
    const logs = await b.hangar(['logs', '--app', app, '--limit', '1000', '--json']);
    expect(logs.code, logs.stderr).toBe(0);
    const entries = logs.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { instanceId: string | null; status: number });
    expect(entries).toHaveLength(1_000);
    const fromA = entries.filter((e) => e.instanceId !== null && seenOnA.has(e.instanceId));
    const bInstances = await instanceIds(b);
    const fromB = entries.filter((e) => e.instanceId !== null && bInstances.has(e.instanceId));
    expect(seenOnA.size).toBeGreaterThan(0);
    expect(fromA.length).toBeGreaterThan(0);
    expect(fromB.length).toBeGreaterThan(0);
    // And the day's counts are the platform's: node b's quotas count what node a served too
    // (each node counted about half of these).
    const quotas = await b.hangar(['quotas', '--json']);
    expect(quotas.code, quotas.stderr).toBe(0);
    const report = JSON.parse(quotas.stdout) as { apps: Array<{ app: string; usage: { requests: number } }> };
    expect(answeredBeforeKill).toBeGreaterThan(1_100);
    expect(report.apps.find((a) => a.app === app)?.usage.requests ?? 0).toBeGreaterThanOrEqual(
      answeredBeforeKill,
    );
  }, 60_000);
});
