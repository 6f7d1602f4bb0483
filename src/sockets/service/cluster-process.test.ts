/**
 * Two socket-service processes started by their real supervisor with `database` (SPEC S16,
 * docs/sockets.md "Several nodes"), nodes `a` and `b` on one PostgreSQL test database: a socket
 * opened through a attaches through b, and `list()` on b (the admin API's source, over the IPC
 * channel) shows it with node `a`. The far end is a server the test starts on 127.0.0.1, which
 * the services' policy allows by exception.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/postgres.js';
import { defaultPlatformConfig } from '../../config/platform-config.js';
import type { Logger } from '../../shared/logger.js';
import { attach, descriptor } from '../api.js';
import { ServiceLink, setLink } from '../client/link.js';
import { proxiedConnect } from '../client/tcp.js';
import type { SocketServiceHandle } from '../supervisor.js';

// The supervisor spawns dist/sockets/service/main.js, so take it from the build `npm test` makes.
const { startSocketService } = (await import(
  new URL('../../../dist/sockets/supervisor.js', import.meta.url).href
)) as typeof import('../supervisor.js');

const quiet: Logger = { info() {}, warn() {}, error() {}, raw() {}, flush() {}, color: false, fd: undefined };

describe('socket-service processes as two nodes of one platform', () => {
  let db: TestDatabase;
  let far: Server;
  let farPort: number;
  const farSockets: Socket[] = [];
  const dirs: string[] = [];
  const nodes: SocketServiceHandle[] = [];

  async function startNode(node: string): Promise<SocketServiceHandle> {
    const dataDir = mkdtempSync(join(tmpdir(), `hangar-node-${node}-`));
    dirs.push(dataDir);
    const service = await startSocketService({
      dataDir,
      config: { ...defaultPlatformConfig.sockets, allow: [`127.0.0.1:${farPort}`], strict: true },
      mode: 'serve',
      logger: quiet,
      database: { url: db.url, node },
      registrySyncMs: 100,
    });
    nodes.push(service);
    return service;
  }

  function linkFor(service: SocketServiceHandle, app: string): ServiceLink {
    return new ServiceLink({
      ...service.instanceInit(app),
      instance: randomBytes(16).toString('hex'),
      service: 'default',
      version: 'v1',
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    // Echoes every byte.
    far = createServer((socket) => {
      farSockets.push(socket);
      socket.on('error', () => {});
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => far.listen(0, '127.0.0.1', resolve));
    farPort = (far.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const service of nodes) await service.close();
    for (const socket of farSockets) socket.destroy();
    far?.close();
    await db?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a node name that is not one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hangar-node-bad-'));
    dirs.push(dataDir);
    await expect(
      startSocketService({
        dataDir,
        config: defaultPlatformConfig.sockets,
        mode: 'serve',
        logger: quiet,
        database: { url: db.url, node: 'Node_A' },
      }),
    ).rejects.toMatchObject({ code: 'HANGAR_E_USAGE', message: expect.stringContaining('Node_A') });
  });

  it('attaches through b a socket opened through a, and lists it on b with node a', async () => {
    const a = await startNode('a');
    const b = await startNode('b');

    const socket = new Socket();
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
      proxiedConnect(socket, { op: 'connect', host: '127.0.0.1', port: farPort }, linkFor(a, 'guestbook'));
    });
    const d = descriptor(socket);
    expect(d).toMatch(/^hsk2\.a\.[0-9a-f]{16}\.[0-9a-f]{32}$/);
    const id = d.split('.')[2];

    setLink(linkFor(b, 'guestbook'));
    const again = await attach(d);
    const echoed = new Promise<string>((resolve) => {
      let text = '';
      again.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.length >= 5) resolve(text);
      });
    });
    again.write('hello');
    expect(await echoed).toBe('hello');

    setLink(linkFor(b, 'intruder'));
    await expect(attach(d)).rejects.toMatchObject({ code: 'EACCES' });

    // The row was written when the socket opened; its bytes follow within the sync interval.
    let listed = await b.list();
    const deadline = Date.now() + 10_000;
    while (listed.find((view) => view.id === id)?.bytesSent !== 5 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      listed = await b.list();
    }
    listed = listed.filter((view) => view.id === id);
    expect(listed).toEqual([
      expect.objectContaining({
        node: 'a',
        id,
        app: 'guestbook',
        protocol: 'tcp',
        bytesSent: 5,
        bytesReceived: 5,
      }),
    ]);
    expect((await a.list()).find((view) => view.id === id)).toMatchObject({ node: 'a', bytesSent: 5 });
    again.destroy();
  });
});
