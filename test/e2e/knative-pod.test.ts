/**
 * A version's Knative pod (SPEC S16, src/knative/pod-main.ts) as Knative runs it: the built
 * entry started with the environment `hangar export kubernetes` gives it, answering HTTP on
 * PORT (here 127.0.0.1, port 0) for the fixture app: fetch and Node handlers, static files, S8
 * variables, the request deadline, a JSON request log line per request on stdout, and sockets
 * through the standalone socket service over TCP (which refuses loopback, S12). Loopback only.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appToken } from '../../src/sockets/protocol.js';
import { podMain, type Started, startPod, startSocketService, stopAllPods } from '../helpers/knative-pod.js';
import { rawRequest } from '../helpers/raw-http.js';
import { fixture, hangarVersion, httpGet, until } from '../helpers/serve.js';

const APP = 'k8sapp';
const key = randomBytes(32).toString('hex');
let dir: string;
let sockets: Started;
let pod: Started;
/** A loopback listener the app tries to reach: the socket service must refuse it, so it stays untouched. */
let target: Server;
let targetConnections = 0;

beforeAll(async () => {
  expect(existsSync(podMain), 'npm run build first').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'hangar-pod-'));
  // A short deadline, so the deadline test takes two seconds.
  writeFileSync(join(dir, 'hangar.config.yaml'), 'limits:\n  request_deadline: 1s\n  deadline_grace: 1s\n');
  target = createServer((socket) => {
    targetConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  sockets = await startSocketService(key, { HANGAR_CONFIG: join(dir, 'hangar.config.yaml') });
  pod = await startPod({
    HANGAR_APP_DIR: fixture('k8s-export'),
    HANGAR_APPLICATION: APP,
    HANGAR_VERSION: 'v1',
    HANGAR_MINOR: '42',
    HANGAR_CONFIG: join(dir, 'hangar.config.yaml'),
    HANGAR_CACHE_DIR: join(dir, 'cache'),
    HANGAR_SOCKETS: `127.0.0.1:${sockets.port}`,
    HANGAR_SOCKETS_TOKEN: appToken(key, APP),
    GREETING: 'hello from the manifest',
  });
}, 60_000);

afterAll(async () => {
  await stopAllPods();
  target?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The pod's log line of the request with this id, once it is written. */
function logged(requestId: string): Promise<Record<string, unknown>> {
  return until(`the log line of ${requestId}`, 5_000, () =>
    pod.lines().find((l) => l.requestId === requestId),
  );
}

describe('a Knative pod of the fixture app', () => {
  it('answers a fetch handler with 200 and the S8 environment; the manifest env wins over env_variables', async () => {
    const res = await httpGet(`${pod.url}/hello?x=1`, undefined);
    expect(res.status).toBe(200);
    expect(res.headers.server).toBe(`Hangar/${hangarVersion}`);
    const body = JSON.parse(res.body) as Record<string, string>;
    expect(body).toMatchObject({
      greeting: 'hello from the manifest',
      featureFlag: 'on',
      applicationId: `s~${APP}`,
      module: 'default',
      currentVersionId: 'v1.42',
      serverSoftware: `Hangar/${hangarVersion}`,
    });
    expect(body.instanceId).toMatch(/^[0-9a-f]{32}$/);
    const line = await logged(body.requestLogId!);
    expect(line).toMatchObject({
      severity: 'INFO',
      appId: APP,
      version: 'v1',
      status: 200,
      resource: '/hello?x=1',
    });
    expect(line.lines).toEqual([expect.objectContaining({ level: 'info', message: 'main.app GET /hello' })]);
  });

  it('answers a Node (req, res) handler, its console line under its request', async () => {
    const res = await httpGet(`${pod.url}/node`, undefined);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^node handler, version v1\.42, request [0-9a-f]{32}\n$/);
    const requestId = /request ([0-9a-f]{32})/.exec(res.body)![1]!;
    const line = await logged(requestId);
    expect(line.severity).toBe('WARNING');
    expect(line.lines).toEqual([expect.objectContaining({ level: 'warning', message: 'node.app answered' })]);
  });

  it('serves static files itself, with their caching headers', async () => {
    const res = await httpGet(`${pod.url}/static/hello.txt`, undefined);
    expect(res.status).toBe(200);
    expect(res.body).toBe('a static file, served by the pod itself\n');
    expect(res.headers.etag).toBeDefined();
    expect((await httpGet(`${pod.url}/static/missing.txt`, undefined)).status).toBe(404);
  });

  it('routes sockets through the socket service over TCP: loopback is refused there (S12)', async () => {
    const { port } = target.address() as { port: number };
    const res = await httpGet(`${pod.url}/?connect=${port}`, undefined);
    expect(res.status).toBe(200);
    const { connect } = JSON.parse(res.body) as { connect: { ok: boolean; code: string; message: string } };
    expect(connect).toMatchObject({ ok: false, code: 'EACCES' });
    expect(connect.message).toMatch(/127\.0\.0\.1/);
    expect(targetConnections).toBe(0);
  });

  it('ends a request at its deadline + grace (S6): a 500, the deadline in its log line', async () => {
    const started = Date.now();
    const res = await httpGet(`${pod.url}/?sleep=5000`, undefined);
    expect(res.status).toBe(500);
    expect(Date.now() - started).toBeLessThan(4_000);
    const line = await until('the deadline request in the log', 5_000, () =>
      pod.lines().find((l) => l.resource === '/?sleep=5000'),
    );
    expect(line.status).toBe(500);
    expect(JSON.stringify(line.lines)).toContain('HANGAR_E_DEADLINE_EXCEEDED');
  });

  it('redirects dot segments and refuses ambiguous framing, as the front end does (S5 step 2)', async () => {
    const dots = await rawRequest(pod.url, 'GET /a/../static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(dots.status).toBe(302);
    expect(dots.headers.location).toEqual(['/static/hello.txt']);
    const both = await rawRequest(
      pod.url,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(both.status).toBe(400);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    expect(await pod.stop()).toBe(0);
    expect(await sockets.stop()).toBe(0);
  });
});
