/**
 * dispatchToInstance's handling of instances that are gone, over real Unix sockets and both
 * transports (the request channel, and HTTP for Node handlers): a stand-in pool hands out
 * leases on a socket path nothing listens on (refused: the request never ran), on real servers
 * that answer, and on servers that take the request and drop the connection.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/types.js';
import { createChannelServer } from '../instance/channel-server.js';
import { InstanceChannel } from '../scheduler/instance-channel.js';
import type { InstanceProcess } from '../scheduler/instance-process.js';
import type { Lease, VersionPool } from '../scheduler/version-pool.js';
import type { RequestRecord } from '../shared/request-record.js';
import { dispatchToInstance } from './dispatch.js';
import type { ServiceRoute } from './frontend.js';

const dir = mkdtempSync(join(tmpdir(), 'hangar-dispatch-'));
const servers: Array<{ close(): unknown }> = [];
const pools: Pool[] = [];
const channels: InstanceChannel[] = [];

function listen(name: string, server: Server | ReturnType<typeof createNetServer>): Promise<string> {
  const path = join(dir, `${name}.sock`);
  servers.push(server);
  return new Promise((resolve) => server.listen(path, () => resolve(path)));
}

type Transport = 'channel' | 'http';

/** A stand-in instance reached over `transport` at `socketPath`. */
function instance(transport: Transport, id: string, socketPath: string): InstanceProcess {
  const overChannel = transport === 'channel';
  const reach = overChannel
    ? { channel: new InstanceChannel(socketPath, 1024 * 1024) }
    : { dispatcher: new Pool('http://localhost', { socketPath }) };
  if (reach.channel) channels.push(reach.channel);
  if (reach.dispatcher) pools.push(reach.dispatcher);
  return {
    id,
    state: 'ready',
    ...reach,
    servesOverHttp: () => !overChannel,
    killedBecause: undefined,
  } as unknown as InstanceProcess;
}

/** A pool that leases the given instances in turn and records which ones were suspected. */
function route(...instances: InstanceProcess[]) {
  const suspected: string[] = [];
  let next = 0;
  const pool = {
    acquire: async (): Promise<Lease> => ({
      instance: instances[next++]!,
      pendingMs: 0,
      loading: false,
      release: () => {},
    }),
    suspect: (i: InstanceProcess) => suspected.push(i.id),
    checkResponsive: async () => true,
  } as unknown as VersionPool;
  const r = {
    app: 'app',
    service: 'default',
    version: 'v1',
    config: { errorHandlers: [] } as unknown as AppConfig,
    pool,
    moduleIndex: new Map([[0, 0]]),
    deadlineMs: undefined,
    deadlineGraceMs: 1000,
    heartbeatTimeoutMs: 1000,
  } satisfies ServiceRoute;
  return { route: r, suspected, leased: () => next };
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
afterAll(async () => {
  await Promise.all(pools.map((p) => p.destroy()));
  for (const c of channels) c.close();
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each<Transport>(['channel', 'http'])(
  'dispatchToInstance with instances that are gone (%s)',
  (transport) => {
    it('sends a request refused by a dead instance once more, to the next instance', async () => {
      const dead = instance(transport, 'dead', join(dir, 'nobody-listens.sock'));
      const { route: r, suspected, leased } = route(dead, instance(transport, 'live', live[transport]));
      const rec = record();
      const res = await dispatchToInstance(r, req, [], meta, rec);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe('live');
      expect(suspected).toEqual(['dead']);
      expect(leased()).toBe(2);
      expect(rec.instanceId).toBe('live');
    });

    it('answers 500 when the connection breaks after the request was sent (the app may have run it)', async () => {
      const {
        route: r,
        suspected,
        leased,
      } = route(
        instance(transport, 'dropping', dropping[transport]),
        instance(transport, 'live', live[transport]),
      );
      await expect(dispatchToInstance(r, req, [], meta, record())).rejects.toMatchObject({
        code: 'HANGAR_E_INSTANCE_EXITED',
      });
      expect(suspected).toEqual(['dropping']);
      expect(leased()).toBe(1);
    });

    it('tries only once more', async () => {
      const { route: r, leased } = route(
        instance(transport, 'dead-1', join(dir, 'gone-1.sock')),
        instance(transport, 'dead-2', join(dir, 'gone-2.sock')),
        instance(transport, 'live', live[transport]),
      );
      await expect(dispatchToInstance(r, req, [], meta, record())).rejects.toMatchObject({
        code: 'HANGAR_E_INSTANCE_EXITED',
      });
      expect(leased()).toBe(2);
    });
  },
);
