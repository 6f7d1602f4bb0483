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
import type { InstanceFactory, InstanceRequest, InstanceResponse } from '../scheduler/instance.js';
import { InstanceChannel } from '../scheduler/instance-channel.js';
import { sendOverChannel, sendOverHttp } from '../scheduler/module-transport.js';
import { VersionPool } from '../scheduler/version-pool.js';
import type { RequestRecord } from '../shared/request-record.js';
import { dispatchToInstance } from './dispatch.js';
import type { ServiceRoute } from './route.js';

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
    moduleIndex: new Map([[0, 0]]),
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
