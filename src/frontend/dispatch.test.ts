/**
 * dispatchToInstance with instances that are gone, through the real VersionPool (what a failed
 * send means is the scheduler's to say) and the real transports over real Unix sockets, both
 * the request channel and HTTP for Node handlers: instances whose socket nothing listens on
 * (refused: the request never ran), real servers that answer, and servers that take the
 * request and drop the connection.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answer, FakeInstance, ManualClock } from '../../test/helpers/fake-instances.js';
import type { AppConfig } from '../config/types.js';
import { createChannelServer } from '../instance/channel-server.js';
import type {
  InstanceFactory,
  InstancePool,
  InstanceRequest,
  InstanceResponse,
  Lease,
} from '../scheduler/instance.js';
import { InstanceChannel } from '../scheduler/instance-channel.js';
import { sendOverChannel, sendOverHttp } from '../scheduler/module-transport.js';
import { VersionPool } from '../scheduler/version-pool.js';
import { HangarError } from '../shared/errors.js';
import type { RequestRecord } from '../shared/request-record.js';
import { dispatchToInstance } from './dispatch.js';
import type { ServiceRoute } from './route.js';
import { InstanceRoute } from './serve-routes.js';

const dir = mkdtempSync(join(tmpdir(), 'hangar-dispatch-'));
const servers: Array<{ close(): unknown }> = [];
const pools: Pool[] = [];
const channels: InstanceChannel[] = [];
const versionPools: VersionPool[] = [];

function listen(name: string, server: Server | ReturnType<typeof createNetServer>): Promise<string> {
  const path = join(dir, `${name}.sock`);
  servers.push(server);
  return new Promise((resolve) => server.listen(path, () => resolve(path)));
}

type Transport = 'channel' | 'http';

/** An instance reached over `transport` at `socketPath`, as a module instance would be. */
class SocketInstance extends FakeInstance {
  readonly label: string;
  readonly #send: (request: InstanceRequest) => Promise<InstanceResponse>;

  constructor(clock: ManualClock, transport: Transport, label: string, socketPath: string, alive: boolean) {
    super(clock, async () => {
      throw new Error('unused');
    });
    this.label = label;
    this.responsive = alive;
    if (transport === 'channel') {
      const channel = new InstanceChannel(socketPath, 1024 * 1024);
      channels.push(channel);
      this.#send = (request) => sendOverChannel(channel, request, 1024 * 1024);
    } else {
      const pool = new Pool('http://localhost', { socketPath });
      pools.push(pool);
      this.#send = (request) => sendOverHttp(pool, request, 1024 * 1024);
    }
  }

  override send(request: InstanceRequest): Promise<InstanceResponse> {
    this.received.push(request);
    return this.#send(request);
  }
}

/** A pool of exactly the given instances, in this order (manual scaling), and who got what. */
async function route(clock: ManualClock, ...instances: SocketInstance[]) {
  let next = 0;
  const factory: InstanceFactory = {
    // Replacements of killed instances are plain stand-ins that answer.
    create: () => instances[next++] ?? new FakeInstance(clock, async () => answer('replacement')),
    slots: 1,
    memoryLimitBytes: 384 * 2 ** 20,
  };
  const pool = new VersionPool(factory, {
    service: 'default',
    version: 'v1',
    scaling: { kind: 'manual', instances: instances.length },
    maxPendingLatencyMs: 5_000,
    drainTimeoutMs: 1_000,
    idlePeriodMs: 60_000,
    startBackoffMaxMs: 30_000,
    heartbeatTimeoutMs: 1_000,
    unresponsiveAfterMs: 1_000,
    warm: false,
    clock,
  });
  versionPools.push(pool);
  await clock.advance(0);
  const r = {
    app: 'app',
    service: 'default',
    version: 'v1',
    config: { errorHandlers: [] } as unknown as AppConfig,
    pool,
    handlerIndex: new Map([[0, 0]]),
    deadlineMs: undefined,
    deadlineGraceMs: 1000,
  } satisfies ServiceRoute;
  const sentTo = () => instances.filter((i) => i.received.length > 0).map((i) => i.label);
  return { route: r, pool, sentTo };
}

const req = {
  method: 'GET',
  url: '/',
  headers: { host: 'h' },
  rawHeaders: ['host', 'h'],
} as unknown as IncomingMessage;
const record = (): RequestRecord => ({
  requestId: 'r1',
  method: 'GET',
  resource: '/',
  status: 0,
  latencyMs: 0,
  bytesOut: 0,
});
const meta = { requestId: 'r1', handlerPosition: 0, remoteAddr: '127.0.0.1', https: false };

const live: Record<Transport, string> = { channel: '', http: '' };
const dropping: Record<Transport, string> = { channel: '', http: '' };
beforeAll(async () => {
  live.http = await listen(
    'live-http',
    createServer((_, res) => res.end('live')),
  );
  live.channel = await listen(
    'live-channel',
    createChannelServer([{ kind: 'fetch', call: () => new Response('live') }], {
      maxRequestBytes: 1024,
      maxResponseBytes: 1024,
    }),
  );
  // Takes the request, then the process "dies": the connection breaks after the request was sent.
  dropping.http = await listen(
    'dropping-http',
    createServer((request) => request.socket.destroy()),
  );
  dropping.channel = await listen(
    'dropping-channel',
    createNetServer((socket) => socket.once('data', () => socket.destroy())),
  );
});
afterEach(async () => {
  for (const pool of versionPools.splice(0)) {
    const closed = pool.close();
    pool.killAll();
    await closed;
  }
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  for (const c of channels) c.close();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each<Transport>(['channel', 'http'])(
  'dispatchToInstance with instances that are gone (%s)',
  (transport) => {
    const clock = new ManualClock();
    const at = (label: string, path: string, alive = true) =>
      new SocketInstance(clock, transport, label, path, alive);

    it('sends a request refused by a dead instance once more, to the next instance', async () => {
      const dead = at('dead', join(dir, 'nobody-listens.sock'), false);
      const alive = at('live', live[transport]);
      const { route: r, pool, sentTo } = await route(clock, dead, alive);
      const rec = record();
      const res = await dispatchToInstance(r, req, [], meta, rec);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('live');
      expect(sentTo()).toEqual(['dead', 'live']);
      expect(rec.instanceId).toBe(alive.id);
      // The dead one was suspected, did not answer its ping, and was killed and replaced.
      await clock.advance(0);
      expect(pool.decisions.map((d) => d.action)).toEqual(['start', 'start', 'kill', 'start']);
      expect(dead.killedBecause).toBe('a request lost its connection and the instance does not answer pings');
    });

    it('answers 500 when the connection breaks after the request was sent (the app may have run it)', async () => {
      const { route: r, sentTo } = await route(
        clock,
        at('dropping', dropping[transport]),
        at('live', live[transport]),
      );
      await expect(dispatchToInstance(r, req, [], meta, record())).rejects.toMatchObject({
        code: 'HANGAR_E_INSTANCE_EXITED',
      });
      expect(sentTo()).toEqual(['dropping']);
    });

    it('tries only once more', async () => {
      const { route: r, sentTo } = await route(
        clock,
        at('dead-1', join(dir, 'gone-1.sock'), false),
        at('dead-2', join(dir, 'gone-2.sock'), false),
        at('live', live[transport]),
      );
      await expect(dispatchToInstance(r, req, [], meta, record())).rejects.toMatchObject({
        code: 'HANGAR_E_INSTANCE_EXITED',
      });
      expect(sentTo()).toEqual(['dead-1', 'dead-2']);
    });
  },
);

/**
 * A pool that records which way each slot was asked for; each lease's send runs `send` with the
 * instance it is on and how many sends came before.
 */
function recordingPool(
  send: (instanceId: string, attempt: number) => Promise<InstanceResponse>,
  addressable = true,
): { pool: InstancePool; asked: string[] } {
  const asked: string[] = [];
  let sends = 0;
  const lease = (instanceId: string): Lease => ({
    instanceId,
    pendingMs: 0,
    loading: false,
    send: () => send(instanceId, ++sends),
    release: () => undefined,
  });
  const pool: InstancePool = {
    acquire: async () => {
      asked.push('any');
      return lease('picked-by-pool');
    },
    ...(addressable
      ? {
          acquireInstance: async (id: string) => {
            asked.push(id);
            return lease(id);
          },
        }
      : {}),
  };
  return { pool, asked };
}

function addressed(pool: InstancePool, instanceId: string): InstanceRoute {
  const base: ServiceRoute = {
    app: 'app',
    service: 'default',
    version: 'v1',
    config: { errorHandlers: [] } as unknown as AppConfig,
    pool,
    handlerIndex: new Map([[0, 0]]),
    deadlineMs: undefined,
    deadlineGraceMs: 1000,
  };
  return new InstanceRoute(base, instanceId);
}

const neverReached = () =>
  Object.assign(new Error('refused'), { code: 'HANGAR_E_INSTANCE_EXITED', retryable: true });

describe('dispatchToInstance with a route that addresses one instance', () => {
  it('asks the pool for that instance only, and records it', async () => {
    const { pool, asked } = recordingPool(async (id) => answer(`from ${id}`));
    const rec = record();
    const res = await dispatchToInstance(addressed(pool, 'inst-b'), req, [], meta, rec);
    expect(res.body.toString()).toBe('from inst-b');
    expect(asked).toEqual(['inst-b']);
    expect(rec.instanceId).toBe('inst-b');
  });

  it('retries a request that never reached it on the same instance, never on another', async () => {
    const { pool, asked } = recordingPool(async (id, attempt) => {
      if (attempt === 1) throw neverReached();
      return answer(`from ${id}`);
    });
    const res = await dispatchToInstance(addressed(pool, 'inst-b'), req, [], meta, record());
    expect(res.body.toString()).toBe('from inst-b');
    expect(asked).toEqual(['inst-b', 'inst-b']);
  });

  it('fails when the instance cannot take the retry: the 503 of the pool, not another instance', async () => {
    const { pool, asked } = recordingPool(async () => {
      throw neverReached();
    });
    const unavailable = new HangarError(
      'INSTANCE_UNAVAILABLE',
      "instance 'inst-b' cannot take the request now: it is gone",
    );
    const acquireInstance = pool.acquireInstance!;
    let calls = 0;
    pool.acquireInstance = (id) => (++calls === 1 ? acquireInstance(id) : Promise.reject(unavailable));
    await expect(dispatchToInstance(addressed(pool, 'inst-b'), req, [], meta, record())).rejects.toBe(
      unavailable,
    );
    expect(asked).toEqual(['inst-b']);
    expect(calls).toBe(2);
  });

  it('a pool that cannot address instances: 503 at once, nothing sent', async () => {
    const sent: string[] = [];
    const { pool, asked } = recordingPool(async (id) => {
      sent.push(id);
      return answer('no');
    }, false);
    await expect(
      dispatchToInstance(addressed(pool, 'inst-b'), req, [], meta, record()),
    ).rejects.toMatchObject({
      code: 'HANGAR_E_INSTANCE_UNAVAILABLE',
      status: 503,
    });
    expect(asked).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('a route that addresses no instance still goes to the pool to pick, as before', async () => {
    const { pool, asked } = recordingPool(async (id) => answer(`from ${id}`));
    const res = await dispatchToInstance(addressed(pool, 'x').base, req, [], meta, record());
    expect(res.body.toString()).toBe('from picked-by-pool');
    expect(asked).toEqual(['any']);
  });
});
