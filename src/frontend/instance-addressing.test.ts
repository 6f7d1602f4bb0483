/**
 * `INSTANCE-dot-VERSION-dot-SERVICE-dot-APP` through the real front end (frontend-harness.ts)
 * with serve's route table and real VersionPools of fake instances (SPEC S11 "Hostnames",
 * docs/serve.md "Routing"): the admin reaches exactly the instance named, anyone else gets 403,
 * an instance that cannot take the request answers 503 at once, and the platform's admin token
 * never reaches the app while the app's own Authorization headers do.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answer, FakeFactory, type FakeInstance, ManualClock } from '../../test/helpers/fake-instances.js';
import {
  type FrontendHarness,
  headerMap,
  startFrontendHarness,
} from '../../test/helpers/frontend-harness.js';
import { rawRequest } from '../../test/helpers/raw-http.js';
import type { InstanceRequest } from '../scheduler/instance.js';
import { VersionPool } from '../scheduler/version-pool.js';
import { bearerAuthorized } from '../shared/bearer-token.js';
import type { ServiceRoute } from './route.js';
import { ServeRouteTable } from './serve-routes.js';

const token = 'c0ffee-admin-token';
const admin = `Bearer ${token}`;

const clock = new ManualClock();
/** The instances answer with their own id; `/hold` requests stay open until the test ends them. */
const held: Array<() => void> = [];
/** Every request any instance of the version received, in order. */
const sent: InstanceRequest[] = [];
const factory = new FakeFactory(clock);
factory.behaviour = (request, instance) => {
  sent.push(request);
  return request.url === '/hold'
    ? new Promise((resolve) => held.push(() => resolve(answer(`held by ${instance.id}`))))
    : Promise.resolve(answer(`from ${instance.id}`));
};

let pool: VersionPool;
let routes: ServeRouteTable;
let h: FrontendHarness;
let instances: FakeInstance[];

beforeAll(async () => {
  routes = new ServeRouteTable({
    isAdmin: (request) => bearerAuthorized(request.authorization, token),
    instanceIds: (route) => (route.pool as VersionPool).instances.map((i) => i.id),
  });
  h = await startFrontendHarness({ routes, adminToken: token });
  pool = new VersionPool(factory, {
    service: h.route.service,
    version: 'v1',
    scaling: { kind: 'manual', instances: 2 },
    // A request that queued would wait this long on a clock that stands still: it never ends.
    maxPendingLatencyMs: 60_000,
    drainTimeoutMs: 30_000,
    idlePeriodMs: 60_000,
    startBackoffMaxMs: 30_000,
    heartbeatTimeoutMs: 1_000,
    unresponsiveAfterMs: 60_000,
    warm: false,
    clock,
  });
  await clock.advance(0);
  instances = factory.live;
  expect(instances).toHaveLength(2);
  const v1: ServiceRoute = { ...h.route, app: 'shop', service: 'default', version: 'v1', pool };
  routes.set(v1);
  routes.promote('shop', 'default', 'v1');
});

afterEach(() => {
  for (const release of held.splice(0)) release();
});

afterAll(async () => {
  const closed = pool.close();
  pool.killAll();
  await closed;
  await h.stop();
});

/** A GET with `host` and extra header lines, and its request record. */
async function get(host: string, headers: string[] = [], path = '/') {
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, ...headers, '', ''].join('\r\n');
  const n = h.records.length;
  const started = Date.now();
  const response = await rawRequest(h.url, lines, { timeoutMs: 5_000 });
  const elapsedMs = Date.now() - started;
  const rec = await h.record((r) => h.records.indexOf(r) === n);
  return { status: response.status, body: response.body.toString(), record: rec, elapsedMs };
}

const hostOf = (instance: FakeInstance) => `${instance.id}-dot-v1-dot-default-dot-shop.localhost`;
const receivedCounts = () => instances.map((i) => i.received.length);

describe('a request addressed to one instance (S11)', () => {
  it('with the admin token reaches exactly that instance, every time; without a lease left behind', async () => {
    const [a, b] = instances as [FakeInstance, FakeInstance];
    const before = receivedCounts();
    for (const target of [b, b, a, b]) {
      const { status, body, record } = await get(hostOf(target), [`Authorization: ${admin}`]);
      expect(status).toBe(200);
      expect(body).toBe(`from ${target.id}`);
      expect(record.instanceId).toBe(target.id);
    }
    // The `.` spelling (any letter case) addresses it too.
    const dotted = await get(`${b.id.toUpperCase()}.v1.default.shop.localhost:8080`, [
      `Authorization: ${admin}`,
    ]);
    expect(dotted.body).toBe(`from ${b.id}`);
    expect(receivedCounts()).toEqual([before[0]! + 1, before[1]! + 4]);
    expect(pool.instances.map((i) => i.inflight)).toEqual([0, 0]);
  });

  it('without the admin token (none, another, a near miss): 403, and no instance gets anything', async () => {
    const before = receivedCounts();
    const target = instances[1]!;
    for (const headers of [
      [],
      ['Authorization: Bearer wrong'],
      [`Authorization: Bearer ${token}x`],
      [`Authorization: ${token}`],
    ]) {
      const { status, record } = await get(hostOf(target), headers);
      expect(status).toBe(403);
      expect(record.error).toMatch(/^HANGAR_E_INSTANCE_FORBIDDEN: /);
    }
    expect(receivedCounts()).toEqual(before);
  });

  it('a busy instance: 503 at once, not queued and not sent to the other, idle instance', async () => {
    const [a, b] = instances as [FakeInstance, FakeInstance];
    // b's one slot is taken by a request that stays open.
    const holding = rawRequest(
      h.url,
      `GET /hold HTTP/1.1\r\nHost: ${hostOf(b)}\r\nAuthorization: ${admin}\r\n\r\n`,
    );
    await waitFor(() => held.length === 1);
    const before = receivedCounts();
    const { status, record, elapsedMs } = await get(hostOf(b), [`Authorization: ${admin}`]);
    expect(status).toBe(503);
    expect(record.error).toBe(
      `HANGAR_E_INSTANCE_UNAVAILABLE: instance '${b.id}' of default/v1 cannot take the request now: it is busy (all 1 slot taken); a request addressed to an instance does not wait for a slot`,
    );
    // At once: nothing waited for max_pending_latency (which never passes here), nothing queued.
    expect(elapsedMs).toBeLessThan(2_000);
    expect(pool.pendingCount).toBe(0);
    expect(receivedCounts()).toEqual(before);
    // The version's host still gets the free instance.
    const other = await get('shop.localhost');
    expect(other.body).toBe(`from ${a.id}`);
    held.shift()!();
    expect((await holding).body.toString()).toBe(`held by ${b.id}`);
    // Its slot is free again: addressed requests reach it.
    expect((await get(hostOf(b), [`Authorization: ${admin}`])).body).toBe(`from ${b.id}`);
  });

  it("the admin token's Authorization never reaches the app; any other Authorization does", async () => {
    const target = instances[0]!;
    const lastHeaders = () => headerMap(target.received.at(-1)!);

    await get(hostOf(target), [`Authorization: ${admin}`, 'X-Kept: 1']);
    expect(lastHeaders().get('authorization')).toBeUndefined();
    expect(lastHeaders().get('x-kept')).toBe('1');

    // Not addressed to an instance, the token is still the platform's: stripped.
    await get('shop.localhost', [`Authorization: ${admin}`, 'X-Kept: 2']);
    expect(headerMap(sent.at(-1)!).get('x-kept')).toBe('2');
    expect(headerMap(sent.at(-1)!).get('authorization')).toBeUndefined();

    // The app's own credentials pass on untouched, addressed or not.
    await get('shop.localhost', ['Authorization: Bearer the-apps-own']);
    expect(headerMap(sent.at(-1)!).get('authorization')).toBe('Bearer the-apps-own');
    await get('shop.localhost', ['Authorization: Basic dXNlcjpwYXNz']);
    expect(headerMap(sent.at(-1)!).get('authorization')).toBe('Basic dXNlcjpwYXNz');
    await get(hostOf(target), [`Authorization: ${admin}`, 'Authorization: Bearer the-apps-own']);
    expect(lastHeaders().get('authorization')).toBe('Bearer the-apps-own');
  });
});

describe('without an admin token (hangar dev)', () => {
  it('passes every Authorization header on as it came', async () => {
    const dev = await startFrontendHarness();
    try {
      await rawRequest(dev.url, `GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${admin}\r\n\r\n`);
      expect(headerMap(dev.received.at(-1)!).get('authorization')).toBe(admin);
    } finally {
      await dev.stop();
    }
  });
});

async function waitFor(done: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
