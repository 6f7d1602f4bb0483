/**
 * S10 + S12: socket traffic is metered as outgoing bandwidth, both directions. On a fresh
 * `hangar dev`, an app sends N bytes to an echo peer on 127.0.0.1 and reads N back; /api/quotas
 * must show exactly 2N socket bytes, and outgoing bandwidth exactly the HTTP responses' wire
 * bytes plus those 2N.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { rawRequest } from '../helpers/raw-http.js';
import { type Peers, startPeers } from './sockets-peers.js';

interface Report {
  apps: Array<{ app: string; usage: Record<string, number> }>;
  versions: Array<{ app: string; service: string; version: string; usage: Record<string, number> }>;
}

describe('socket bytes in /api/quotas', () => {
  let dev: DevServer;
  let peers: Peers;
  beforeAll(async () => {
    peers = await startPeers();
    dev = await startDev([join(repoRoot, 'test/fixtures/sockets-app')], ['--no-watch']);
  });
  afterAll(async () => {
    await dev?.stop();
    await peers?.close();
  });

  it('appear exactly, as socket bytes and as outgoing bandwidth', async () => {
    const sizes = [12_345, 654_321];
    let responseBytes = 0;
    for (const n of sizes) {
      const res = await rawRequest(
        dev.url,
        `GET /bytes?port=${peers.echo}&n=${n} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        { untilClose: true },
      );
      expect(JSON.parse(res.body.toString())).toEqual({ sent: n, received: n });
      responseBytes += res.raw.length;
    }
    const socketBytes = sizes.reduce((sum, n) => sum + 2 * n, 0);

    // The service reports to the meter about once a second: poll, bounded.
    const deadline = Date.now() + 10_000;
    let report = await adminGet<Report>(dev, '/api/quotas');
    while ((report.apps[0]?.usage.socket_bytes ?? 0) < socketBytes && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      report = await adminGet<Report>(dev, '/api/quotas');
    }
    const usage = report.apps.find((a) => a.app === 'sockets-test')!.usage;
    expect(usage.socket_bytes).toBe(socketBytes);
    expect(usage.outgoing_bytes).toBe(responseBytes + socketBytes);
    expect(report.versions).toEqual([
      expect.objectContaining({ app: 'sockets-test', service: 'default', version: 'dev' }),
    ]);
  });
});
