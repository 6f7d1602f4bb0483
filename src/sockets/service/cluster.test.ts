/**
 * Two socket services, nodes `a` and `b`, on one PostgreSQL test database (SPEC S16,
 * docs/sockets.md "Several nodes"), driven by the real client code (without patching this
 * process's `net`) against servers the test starts on 127.0.0.1, with a policy that allows
 * exactly those: descriptors naming their node, attach through the other node, the peer secret,
 * the socket registry in PostgreSQL, and the errors for owners that are gone.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../test/helpers/postgres.js';
import {
  attachThrough,
  type Far,
  farEnd,
  openThrough,
  readBytes,
  readToEnd,
  type SocketNode,
  startSocketNode,
  until,
} from '../../../test/helpers/socket-nodes.js';
import { descriptor } from '../api.js';
import { shimState } from '../client/tcp.js';
import { readFirstLine } from '../lines.js';
import { line } from '../protocol.js';
import { PEER_VERSION, PeerChallenge, peerProof } from './peer.js';
import type { SocketService } from './server.js';

describe('sockets on a platform of two nodes (S16)', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let dir: string;
  let far: Far;
  let a: SocketNode;
  let b: SocketNode;
  const extra: SocketService[] = [];
  const servers: Server[] = [];

  function startNode(name: string, farPort: number): Promise<SocketNode> {
    return startSocketNode({
      dir,
      name,
      allow: [`127.0.0.1:${farPort}`],
      database: { url: db.url, node: name },
    });
  }

  /** A socket of `app` through `node` to the far end; resolves once connected, with the far side. */
  function open(node: SocketNode, app: string): Promise<{ socket: Socket; remote: Socket }> {
    return openThrough(node, app, far);
  }

  const attachVia = attachThrough;

  async function rows(where = 'true'): Promise<Array<Record<string, unknown>>> {
    return (await sql.query(`SELECT * FROM hangar_sockets WHERE ${where} ORDER BY node, id`)).rows;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    dir = mkdtempSync(join(tmpdir(), 'hangar-cluster-'));
    far = await farEnd();
    a = await startNode('a', far.port);
    b = await startNode('b', far.port);
  });

  afterAll(async () => {
    await a?.service.close();
    await b?.service.close();
    for (const service of extra) await service.close();
    for (const server of servers) server.close();
    far?.close();
    await sql?.end();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records both nodes with their peer addresses and one shared peer secret', async () => {
    const nodes = (
      await sql.query('SELECT node, peer_host, peer_port FROM hangar_socket_nodes ORDER BY node')
    ).rows;
    expect(nodes).toEqual([
      { node: 'a', peer_host: '127.0.0.1', peer_port: a.service.peerAddress!.port },
      { node: 'b', peer_host: '127.0.0.1', peer_port: b.service.peerAddress!.port },
    ]);
    const secrets = (await sql.query('SELECT secret FROM hangar_socket_peer_secret')).rows;
    expect(secrets).toHaveLength(1);
    expect(secrets[0].secret).toMatch(/^[0-9a-f]{64}$/);
    expect(a.service.cluster!.secret).toBe(secrets[0].secret);
    expect(b.service.cluster!.secret).toBe(secrets[0].secret);
  });

  it('a socket opened on a attaches through b: bytes both ways, half-close, and the registry row', async () => {
    const { socket, remote } = await open(a, 'guestbook');
    const d = descriptor(socket);
    expect(d).toMatch(/^hsk2\.a\.[0-9a-f]{16}\.[0-9a-f]{32}$/);
    const id = d.split('.')[2]!;

    // The row was written when the socket opened, off the data path: flush() waits for it.
    await a.service.cluster!.flush();
    expect(await rows()).toMatchObject([
      { node: 'a', id, app: 'guestbook', service: 'default', version: 'v1', protocol: 'tcp', state: 'open' },
    ]);

    const again = await attachVia(b, 'guestbook', d);
    expect(again.remotePort).toBe(far.port);
    // The instance that held it on a loses it, as with a local attach: told on its control connection.
    await until(
      'the old holder to hear that the socket moved',
      async () => shimState(socket)?.gone !== undefined,
    );
    const moved = await new Promise<Error | null | undefined>((resolve) => socket.write('late', resolve));
    expect(moved).toMatchObject({
      code: 'EPIPE',
      message: expect.stringContaining('was attached by instance'),
    });

    remote.write('from the remote side');
    expect(await readBytes(again, 'from the remote side'.length)).toBe('from the remote side');
    const heard = readBytes(remote, 'from the app on b'.length);
    again.write('from the app on b');
    expect(await heard).toBe('from the app on b');

    // b lists a's socket with its node; bytes as a last wrote them (counted once, by a).
    await a.service.cluster!.flush();
    const listed = (await b.service.list()).filter((view) => view.id === id);
    expect(listed).toEqual([
      expect.objectContaining({
        node: 'a',
        id,
        app: 'guestbook',
        protocol: 'tcp',
        remote: `127.0.0.1:${far.port}`,
        state: 'open',
        bytesSent: 'from the app on b'.length,
        bytesReceived: 'from the remote side'.length,
      }),
    ]);
    // On a itself the same socket comes from its own registry, with its node too.
    expect((await a.service.list()).filter((view) => view.id === id)).toEqual([
      expect.objectContaining({ node: 'a', id, bytesSent: 'from the app on b'.length }),
    ]);

    // Half-close carries through b: the app ends its side, the remote answers and ends.
    const rest = readToEnd(remote);
    again.end('; the end');
    expect(await rest).toBe('; the end');
    const tail = readToEnd(again);
    remote.end('bye');
    expect(await tail).toBe('bye');

    // Both sides done: the socket is closed on a, and its row goes.
    await until('the row of the closed socket to go', async () => {
      await a.service.cluster!.flush();
      return (await rows(`id = '${id}'`)).length === 0;
    });
  });

  it('another app attaching through b gets EACCES from a; the right app through b after a close gets EPIPE', async () => {
    const { socket, remote } = await open(a, 'alpha');
    const d = descriptor(socket);
    await expect(attachVia(b, 'beta', d)).rejects.toMatchObject({
      code: 'EACCES',
      message: expect.stringContaining('belongs to another app'),
    });
    // The refusal left the socket where it was.
    remote.write('still here');
    expect(await readBytes(socket, 'still here'.length)).toBe('still here');

    const id = d.split('.')[2]!;
    await a.service.cluster!.flush();
    expect(await rows(`id = '${id}'`)).toHaveLength(1);
    // The far end allows half-open connections: a's close of the remote side is its 'end'.
    const closed = new Promise((resolve) => remote.once('end', resolve));
    remote.resume();
    socket.destroy();
    await closed;
    remote.destroy();
    // Closing on a removes the row.
    await until('the row of the closed socket to go', async () => {
      await a.service.cluster!.flush();
      return (await rows(`id = '${id}'`)).length === 0;
    });
    await expect(attachVia(b, 'alpha', d)).rejects.toMatchObject({
      code: 'EPIPE',
      message: expect.stringContaining('is closed'),
    });
    expect((await b.service.list()).some((view) => view.id === id)).toBe(false);
  });

  it('the peer port refuses a caller without the peer secret, and answers one with it', async () => {
    const unknown = `hsk2.a.${'1'.repeat(16)}.${'2'.repeat(32)}`;
    const request = JSON.stringify({ op: 'attach', app: 'alpha', instance: 'x', descriptor: unknown });
    const ask = async (secret: string) => {
      const conn = new Socket();
      conn.connect(a.service.peerAddress!.port, '127.0.0.1');
      const challenge = PeerChallenge.parse(JSON.parse(await readFirstLine(conn)));
      expect(challenge.node).toBe('a');
      conn.write(
        line({
          peer: PEER_VERSION,
          from: 'b',
          request,
          proof: peerProof(secret, challenge.challenge, 'b', 'a', request),
        }),
      );
      const answer = await readToEnd(conn);
      conn.destroy();
      return JSON.parse(answer) as { ok: boolean; error: { code: string; message: string } };
    };
    const refused = await ask(randomBytes(32).toString('hex'));
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'EACCES', message: expect.stringContaining('refused the connection as a peer') },
    });
    expect(a.notices.some((notice) => notice.includes('refused a peer connection from 127.0.0.1'))).toBe(
      true,
    );
    // The same request with the secret reaches the attach checks (this socket does not exist).
    expect(await ask(a.service.cluster!.secret)).toMatchObject({ ok: false, error: { code: 'EBADF' } });

    // Garbage instead of a hello: refused too.
    const conn = new Socket();
    conn.connect(a.service.peerAddress!.port, '127.0.0.1');
    await readFirstLine(conn);
    conn.write('{"op":"attach"}\n');
    expect(JSON.parse(await readToEnd(conn))).toMatchObject({ ok: false, error: { code: 'EACCES' } });
    conn.destroy();
  });

  it('an owner that is unknown, refuses connections or never answers is an error naming it, not a hang', async () => {
    const d = (node: string) => `hsk2.${node}.${'3'.repeat(16)}.${'4'.repeat(32)}`;
    await expect(attachVia(b, 'alpha', d('nowhere'))).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      message: expect.stringContaining('belongs to node nowhere, which is not running'),
    });

    // A port nobody listens on any more (loopback).
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const gonePort = (gone.address() as AddressInfo).port;
    await new Promise((resolve) => gone.close(resolve));
    await sql.query(
      `INSERT INTO hangar_socket_nodes (node, peer_host, peer_port) VALUES ('dead', '127.0.0.1', $1)`,
      [gonePort],
    );
    await expect(attachVia(b, 'alpha', d('dead'))).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      message: expect.stringContaining(
        `belongs to node dead, which cannot be reached at 127.0.0.1:${gonePort}`,
      ),
    });

    // A loopback listener that accepts and says nothing: ETIMEDOUT after the peer timeout (5 s).
    const mute = createServer((socket) => socket.on('error', () => {}));
    servers.push(mute);
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    await sql.query(
      `INSERT INTO hangar_socket_nodes (node, peer_host, peer_port) VALUES ('mute', '127.0.0.1', $1)`,
      [(mute.address() as AddressInfo).port],
    );
    const started = Date.now();
    await expect(attachVia(b, 'alpha', d('mute'))).rejects.toMatchObject({
      code: 'ETIMEDOUT',
      message: expect.stringContaining('belongs to node mute'),
    });
    expect(Date.now() - started).toBeLessThan(9_000);
  });

  it('a node that starts again forgets its old rows; one that stops removes its rows and address', async () => {
    const c1 = await startNode('c', far.port);
    extra.push(c1.service);
    const { socket } = await open(c1, 'gamma');
    const d = descriptor(socket);
    await c1.service.cluster!.flush();
    expect(await rows(`node = 'c'`)).toHaveLength(1);

    // Node c's service restarts (the old one died without cleaning up: its row stays until then).
    const c2 = await startNode('c', far.port);
    extra.push(c2.service);
    expect(await rows(`node = 'c'`)).toHaveLength(0);

    await c2.service.close();
    expect((await sql.query(`SELECT node FROM hangar_socket_nodes WHERE node = 'c'`)).rows).toEqual([]);
    await expect(attachVia(b, 'gamma', d)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
      message: expect.stringContaining('belongs to node c, which is not running'),
    });
    socket.destroy();
  });
});
