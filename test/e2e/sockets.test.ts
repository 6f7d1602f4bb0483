/**
 * The Sockets API (S12) through the real path: `hangar dev` with its socket-service process,
 * an instance running test/fixtures/sockets-app with the shim, and real peers on 127.0.0.1.
 * The test policy blocks 127.0.0.2 and allows 127.0.0.1:25 (to show port 25 stays refused);
 * nothing here connects anywhere but loopback.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, cli, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';
import { type Peers, startPeers } from './sockets-peers.js';

const run = promisify(execFile);
const app = join(repoRoot, 'test/fixtures/sockets-app');

interface Failure {
  code: string;
  message: string;
  address?: string;
}

describe('sockets through the shim (dev server, test policy)', () => {
  let dev: DevServer;
  let peers: Peers;
  let configDir: string;
  const get = async <T = Record<string, unknown>>(path: string): Promise<T> => {
    const res = await fetch(dev.url + path);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as T;
  };

  beforeAll(async () => {
    peers = await startPeers();
    configDir = mkdtempSync(join(tmpdir(), 'hangar-sockets-config-'));
    const config = join(configDir, 'hangar.config.yaml');
    writeFileSync(config, "sockets:\n  blocked: ['127.0.0.2/32']\n  allow: ['127.0.0.1:25']\n");
    dev = await startDev([app], ['--no-watch', '--config', config]);
  });
  afterAll(async () => {
    await dev?.stop();
    await peers?.close();
    rmSync(configDir, { recursive: true, force: true });
  });

  it('TCP echo on loopback works through net.connect, and the socket looks like the remote one', async () => {
    const body = await get(`/tcp?port=${peers.echo}&msg=hello%20sockets`);
    expect(body).toEqual({
      reply: 'hello sockets',
      remoteAddress: '127.0.0.1',
      remotePort: peers.echo,
      remoteFamily: 'IPv4',
      // The service's token line is not counted as the app's bytes.
      bytesWritten: 13,
      bytesRead: 13,
      isSocket: true,
    });
  });

  it('writes and end() before the connection is up go out in order', async () => {
    expect(await get(`/tcp?port=${peers.echo}&msg=early-bytes&early=1`)).toMatchObject({
      reply: 'early-bytes',
    });
  });

  it('new net.Socket().connect() and the ESM named import connect() work, also to "localhost"', async () => {
    expect(await get(`/forms?port=${peers.echo}`)).toEqual({ one: 'one', two: 'two' });
  });

  it('the dev server lets loopback through with a warning that production would refuse it', async () => {
    await dev.waitFor(
      /warning: \[sockets-test\] socket to 127\.0\.0\.1:\d+ allowed on the dev server.*production refuses it/,
    );
  });

  it('TLS is done in the instance over the proxied stream, with certificate checks', async () => {
    const ca = encodeURIComponent(peers.certFile);
    expect(await get(`/tls?port=${peers.tls}&ca=${ca}`)).toEqual({
      reply: 'secret',
      authorized: true,
      protocol: 'TLSv1.3',
    });
    expect(await get(`/tls?port=${peers.tls}&ca=${ca}&host=127.0.0.1`)).toMatchObject({ authorized: true });
  });

  it('UDP echo works, unconnected (every send vetted) and connected', async () => {
    const body = await get<{ reply: string; from: { address: string; port: number }; boundPort: number }>(
      `/udp?port=${peers.udp}&msg=datagram`,
    );
    expect(body.reply).toBe('datagram');
    expect(body.from).toMatchObject({ address: '127.0.0.1', port: peers.udp });
    expect(body.boundPort).toBeGreaterThan(0);
    expect(await get(`/udpConnected?port=${peers.udp}`)).toEqual({
      reply: 'connected-datagram',
      remote: { address: '127.0.0.1', family: 'IPv4', port: peers.udp },
    });
  });

  it('a loopback address the policy blocks is refused with EACCES naming it and the rule', async () => {
    const { error } = await get<{ error: Failure }>(`/connectError?host=127.0.0.2&port=${peers.echo}`);
    expect(error.code).toBe('EACCES');
    expect(error.address).toBe('127.0.0.2');
    expect(error.message).toContain(`127.0.0.2:${peers.echo}`);
    expect(error.message).toContain('sockets.blocked 127.0.0.2/32');
    const udp = await get<{ error: Failure }>(`/udpError?host=127.0.0.2&port=${peers.udp}`);
    expect(udp.error).toMatchObject({ code: 'EACCES', address: '127.0.0.2' });
    expect(udp.error.message).toContain('sockets.blocked');
  });

  it('port 25 is refused even though the test policy allows 127.0.0.1:25, in every spelling', async () => {
    for (const port of ['25', encodeURIComponent(' 25 '), '0x19', '2.5e1', encodeURIComponent('+25')]) {
      const { error } = await get<{ error: Failure }>(`/connectError?port=${port}`);
      expect(error.code).toBe('EACCES');
      expect(error.message).toContain('127.0.0.1:25');
      expect(error.message).toContain('[rule: port 25]');
    }
  });

  it('listen, bind, Unix paths, fds, local address/port, broadcast and multicast are refused; reverse DNS is not implemented', async () => {
    const body = await get<Record<string, Failure | string>>('/refusals');
    for (const key of [
      'listen',
      'httpListen',
      'path',
      'localPort',
      'localAddress',
      'fd',
      'connectFd',
      'bindPort',
      'bindAddress',
      'broadcast',
      'multicast',
    ]) {
      expect(body[key], key).toMatchObject({ code: 'EACCES' });
    }
    expect(body.bindEphemeral).toBe('number');
    for (const key of ['reverse', 'lookupService', 'reversePromise']) {
      expect(body[key], key).toMatchObject({
        code: 'ENOTIMP',
        message: expect.stringContaining('not implemented'),
      });
    }
  });

  it('an unmodified npm client (undici, plain and TLS) and node:http work over the shim', async () => {
    expect(
      await get(`/undici?url=${encodeURIComponent(`http://127.0.0.1:${peers.http}/u`)}&body=hi`),
    ).toEqual({
      status: 200,
      body: 'got POST /u hi',
    });
    const ca = encodeURIComponent(peers.certFile);
    const https = encodeURIComponent(`https://localhost:${peers.https}/s`);
    expect(await get(`/undiciTls?url=${https}&ca=${ca}`)).toEqual({ status: 200, body: 'got GET /s ' });
    expect(await get(`/http?url=${encodeURIComponent(`http://localhost:${peers.http}/h`)}`)).toEqual({
      body: 'got GET /h ',
    });
  });

  it('dns.lookup goes through the service', async () => {
    const body = await get<{ cb: Array<{ address: string }>; promised: { address: string; family: number } }>(
      '/dns?host=localhost',
    );
    expect(body.cb.map((a) => a.address)).toContain('127.0.0.1');
    expect(body.promised).toEqual({ address: '127.0.0.1', family: 4 });
  });

  it('getsockopt returns the simulated values; setsockopt ignores them; other options are EACCES', async () => {
    expect(await get(`/sockopt?port=${peers.echo}`)).toEqual({
      values: {
        SO_KEEPALIVE: 0,
        SO_DEBUG: 128,
        TCP_NODELAY: 0,
        SO_LINGER: { onoff: 0, linger: 0 },
        SO_OOBINLINE: 0,
        SO_SNDBUF: 2097152,
        SO_RCVBUF: 2097152,
        SO_REUSEADDR: 1,
      },
      set: 'no error!',
      other: expect.objectContaining({ code: 'EACCES' }),
      otherSet: expect.objectContaining({ code: 'EACCES' }),
    });
  });

  it('GET /api/sockets and hangar sockets list show open sockets with bytes, age and idle countdown', async () => {
    const { descriptor } = await get<{ descriptor: string }>(`/open?port=${peers.id}`);
    const id = descriptor.split('.')[1]!;
    const { sockets } = await adminGet<{ sockets: Array<Record<string, unknown>> }>(dev, '/api/sockets');
    const mine = sockets.find((s) => s.id === id);
    expect(mine).toMatchObject({
      app: 'sockets-test',
      service: 'default',
      version: 'dev',
      protocol: 'tcp',
      destination: `127.0.0.1:${peers.id}`,
      remote: `127.0.0.1:${peers.id}`,
      state: 'open',
      bytesSent: 0,
      bytesReceived: 'hello 1\n'.length,
    });
    expect(mine?.reclaimInMs).toBeGreaterThan(9 * 60_000);
    expect(mine?.reclaimInMs).toBeLessThanOrEqual(10 * 60_000);
    expect(mine?.ageMs).toBeGreaterThanOrEqual(0);
    // The descriptor's secret is not shown.
    expect(JSON.stringify(sockets)).not.toContain(descriptor.split('.')[2]!);

    const { stdout } = await run(process.execPath, [
      cli,
      'sockets',
      'list',
      '--server',
      dev.adminUrl,
      '--token',
      dev.token,
    ]);
    const line = stdout.split('\n').find((l) => l.startsWith(id));
    expect(stdout.split('\n')[0]).toMatch(
      /^SOCKET\s+APP\s+PROTO\s+DESTINATION\s+SENT\s+RECEIVED\s+AGE\s+RECLAIM IN\s+INSTANCE$/,
    );
    expect(line).toMatch(
      new RegExp(
        `^${id}\\s+sockets-test \\(default/dev\\)\\s+tcp\\s+127\\.0\\.0\\.1:${peers.id}\\s+0 B\\s+8 B\\s+\\S+\\s+(9m|10m) `,
      ),
    );
    const json = await run(process.execPath, [cli, 'sockets', 'list', '--json', '--server', dev.adminUrl], {
      env: { ...process.env, HANGAR_TOKEN: dev.token },
    });
    expect((JSON.parse(json.stdout) as { sockets: unknown[] }).sockets).toContainEqual(
      expect.objectContaining({ id }),
    );
  });
});
