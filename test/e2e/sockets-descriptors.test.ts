/**
 * Descriptors (S12) with real processes: a socket opened in one request is attached in a later
 * request on a different instance of the same app (another service's instance, and the
 * replacement of a killed instance) and still carries the same remote connection; after a
 * short test idle_timeout it is reclaimed and attaching gives EPIPE saying so. The far end is
 * an id server on 127.0.0.1 that tells its connections apart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { type Peers, startPeers } from './sockets-peers.js';

interface InstanceView {
  id: string;
  service: string;
  pid: number | undefined;
  state: string;
}
interface SocketView {
  id: string;
  instance: string | null;
  state: string;
}

/** GET `path` from `service` of the dev server (routed by host, S11), parsed as JSON. */
function call<T = Record<string, unknown>>(dev: DevServer, service: string, path: string): Promise<T> {
  const host = `${service === 'default' ? '' : `${service}.`}localhost:${new URL(dev.url).port}`;
  return new Promise((resolve, reject) => {
    const req = request(dev.url + path, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch {
          reject(new Error(`${service} ${path}: ${res.statusCode} ${body}`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls the admin API until `done` holds, at most `timeoutMs`. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

const socketsOf = (dev: DevServer) =>
  adminGet<{ sockets: SocketView[] }>(dev, '/api/sockets').then((d) => d.sockets);
const instancesOf = (dev: DevServer) =>
  adminGet<{ instances: InstanceView[] }>(dev, '/api/instances').then((d) => d.instances);

describe('descriptors across instances', () => {
  let dev: DevServer;
  let peers: Peers;
  beforeAll(async () => {
    peers = await startPeers();
    dev = await startDev(
      [join(repoRoot, 'test/fixtures/sockets-app'), join(repoRoot, 'test/fixtures/sockets-worker')],
      ['--no-watch'],
    );
  });
  afterAll(async () => {
    await dev?.stop();
    await peers?.close();
  });

  it('opened in one request, attached in a later request on another instance of the app: same remote connection', async () => {
    const opened = await call<{ descriptor: string; greeting: string }>(
      dev,
      'default',
      `/open?port=${peers.id}`,
    );
    expect(opened.greeting).toMatch(/^hello \d+$/);
    const n = opened.greeting.split(' ')[1];
    const d = encodeURIComponent(opened.descriptor);

    const attached = await call<{ reply: string }>(dev, 'worker', `/attach?d=${d}`);
    // The id server numbers connections: "conn N" is only the answer on the very same one.
    expect(attached.reply).toBe(`conn ${n}`);

    const instances = await instancesOf(dev);
    const worker = instances.find((i) => i.service === 'worker' && i.state !== 'stopped')!;
    const opener = instances.find((i) => i.service === 'default' && i.state !== 'stopped')!;
    expect(worker.id).not.toBe(opener.id);
    const id = opened.descriptor.split('.')[1];
    expect((await socketsOf(dev)).find((s) => s.id === id)).toMatchObject({
      instance: worker.id,
      state: 'open',
    });

    // The instance that held it before lost it: its writes fail with EPIPE saying why.
    const stale = await call<{ error: { code: string; message: string } }>(dev, 'default', `/write?d=${d}`);
    expect(stale.error.code).toBe('EPIPE');
    expect(stale.error.message).toContain(`attached by instance ${worker.id.slice(0, 8)}`);

    // And back again: attach moves it to whoever asks, still the same connection.
    expect(await call(dev, 'default', `/attach?d=${d}&say=whoami`)).toMatchObject({ reply: `conn ${n}` });
  });

  it('survives the instance that opened it being killed, and is attachable from its replacement', async () => {
    const opened = await call<{ descriptor: string; greeting: string }>(
      dev,
      'default',
      `/open?port=${peers.id}`,
    );
    const n = opened.greeting.split(' ')[1];
    const id = opened.descriptor.split('.')[1];
    const before = (await instancesOf(dev)).find((i) => i.service === 'default' && i.state === 'ready')!;
    expect(before.pid).toBeGreaterThan(0);
    process.kill(before.pid!, 'SIGKILL');

    // The service notices the instance is gone and keeps the socket, detached, for an attach.
    await until(
      () => socketsOf(dev),
      (sockets) => sockets.some((s) => s.id === id && s.state === 'detached'),
    );
    // And the platform has seen the exit: the next request goes to the replacement, not down a
    // pooled connection to the dead process (which S6 answers with a 500).
    await until(
      () => instancesOf(dev),
      (instances) => !instances.some((i) => i.id === before.id),
    );
    const attached = await call<{ reply: string }>(
      dev,
      'default',
      `/attach?d=${encodeURIComponent(opened.descriptor)}`,
    );
    expect(attached.reply).toBe(`conn ${n}`);
    const after = (await instancesOf(dev)).find((i) => i.service === 'default' && i.state === 'ready')!;
    expect(after.id).not.toBe(before.id);
    expect((await socketsOf(dev)).find((s) => s.id === id)).toMatchObject({
      instance: after.id,
      state: 'open',
    });
  });

  it('a socket nobody took a descriptor of closes with its instance', async () => {
    const before = (await instancesOf(dev)).find((i) => i.service === 'worker' && i.state === 'ready')!;
    const { remotePort } = await call<{ remotePort: number }>(
      dev,
      'worker',
      `/tcp?port=${peers.echo}&keep=1`,
    );
    expect(remotePort).toBe(peers.echo);
    process.kill(before.pid!, 'SIGKILL');
    await until(
      () => socketsOf(dev),
      (sockets) => !sockets.some((s) => s.instance === before.id),
    );
  });
});

describe('idle reclaim (short test sockets.idle_timeout)', () => {
  let dev: DevServer;
  let peers: Peers;
  let configDir: string;
  beforeAll(async () => {
    peers = await startPeers();
    configDir = mkdtempSync(join(tmpdir(), 'hangar-sockets-idle-'));
    const config = join(configDir, 'hangar.config.yaml');
    writeFileSync(config, 'sockets:\n  idle_timeout: 1500ms\n');
    dev = await startDev([join(repoRoot, 'test/fixtures/sockets-app')], ['--no-watch', '--config', config]);
  });
  afterAll(async () => {
    await dev?.stop();
    await peers?.close();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('reclaims an idle socket; attaching its descriptor then gives EPIPE saying it was reclaimed', async () => {
    const opened = await call<{ descriptor: string }>(dev, 'default', `/open?port=${peers.id}`);
    const id = opened.descriptor.split('.')[1];
    const listed = (await socketsOf(dev)).find((s) => s.id === id) as SocketView & { reclaimInMs: number };
    expect(listed.reclaimInMs).toBeLessThanOrEqual(1500);

    await until(
      () => socketsOf(dev),
      (sockets) => !sockets.some((s) => s.id === id),
    );
    const d = encodeURIComponent(opened.descriptor);
    const attached = await call<{ error: { code: string; message: string } }>(
      dev,
      'default',
      `/attach?d=${d}`,
    );
    expect(attached.error.code).toBe('EPIPE');
    expect(attached.error.message).toMatch(
      /reclaimed after 1500 ms without activity \(sockets\.idle_timeout\)/,
    );

    // The instance still holding it learns the same on its next write.
    const stale = await call<{ error: { code: string; message: string } }>(dev, 'default', `/write?d=${d}`);
    expect(stale.error).toMatchObject({ code: 'EPIPE', message: expect.stringContaining('reclaimed') });
  });

  it('every operation extends the countdown', async () => {
    const opened = await call<{ descriptor: string }>(dev, 'default', `/open?port=${peers.id}`);
    const id = opened.descriptor.split('.')[1];
    const d = encodeURIComponent(opened.descriptor);
    // Four operations 600 ms apart: 2.4 s in all, well past one idle_timeout, yet still open.
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await call(dev, 'default', `/write?d=${d}`)).toEqual({ ok: true });
    }
    expect((await socketsOf(dev)).some((s) => s.id === id)).toBe(true);
  });
});
