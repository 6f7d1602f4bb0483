/**
 * Issue 14: apps cannot open a network connection except through the socket service (S12),
 * whatever they call. The test opens a TCP server on 127.0.0.1 and counts its connections;
 * the app (test/fixtures/isolation-app) tries to reach it from a child process, a worker
 * thread and Node's raw `tcp_wrap` binding, each of which must fail with the error the app
 * reports and leave the count at 0; then a plain `net.connect` through the shim, which the dev
 * server lets through to loopback, must arrive. Run in netns mode where the machine allows it
 * (root on Linux: CI) and, forced by HANGAR_ISOLATION, in permission mode.
 */
import { readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideIsolation, probeIsolationFacts } from '../../src/scheduler/isolation.js';
import { adminGet, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';

interface Outcome {
  connected?: true;
  error?: { code?: string; message?: string };
  pid?: number;
}

/** A loopback server that greets and counts each connection. */
async function countingServer(): Promise<{ server: Server; port: number; count(): number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.end('hello\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, count: () => connections };
}

/** Starts the fixture app with HANGAR_ISOLATION as given (unset: auto). */
async function startWith(isolation: string | undefined): Promise<DevServer> {
  const before = process.env.HANGAR_ISOLATION;
  if (isolation === undefined) delete process.env.HANGAR_ISOLATION;
  else process.env.HANGAR_ISOLATION = isolation;
  try {
    return await startDev([`${repoRoot}/test/fixtures/isolation-app`], ['--no-watch']);
  } finally {
    if (before === undefined) delete process.env.HANGAR_ISOLATION;
    else process.env.HANGAR_ISOLATION = before;
  }
}

function suite(mode: 'netns' | 'permission', refusal: string, isolation: string | undefined) {
  let dev: DevServer;
  let peer: Awaited<ReturnType<typeof countingServer>>;
  beforeAll(async () => {
    peer = await countingServer();
    dev = await startWith(isolation);
  });
  afterAll(async () => {
    await dev?.stop();
    await new Promise((resolve) => peer?.server.close(resolve));
  });

  const attempt = async (route: string): Promise<Outcome> =>
    (await (await fetch(`${dev.url}/${route}?port=${peer.port}`)).json()) as Outcome;

  it(`says at start that instances are isolated by ${mode}`, () => {
    expect(dev.output()).toContain(`instance isolation: ${mode}`);
  });

  it('the instance is the process the platform started (the wrapper exec’d Node)', async () => {
    const { pid } = await attempt('pid');
    const { instances } = await adminGet<{ instances: Array<{ pid: number }> }>(dev, '/api/instances');
    expect(instances.map((instance) => instance.pid)).toContain(pid);
    if (mode === 'netns') {
      // The kernel's word for it: another network namespace than the test's (and the platform's).
      expect(readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
    }
  });

  for (const [route, what] of [
    ['child', 'a child process (node -e net.connect)'],
    ['worker', 'a worker thread (net.connect, no shim there)'],
    ['binding', "process.binding('tcp_wrap') connecting directly"],
  ] as const) {
    it(`${what} cannot reach the server: ${refusal}`, async () => {
      const outcome = await attempt(route);
      expect(outcome.connected).toBeUndefined();
      expect(outcome.error?.code).toBe(refusal);
      expect(peer.count()).toBe(0);
    });
  }

  it('net.connect through the shim still works (the socket service connects; dev lets loopback through)', async () => {
    const before = peer.count();
    expect(await attempt('shim')).toEqual({ connected: true });
    expect(peer.count()).toBe(before + 1);
    expect(dev.output()).toContain(`socket to 127.0.0.1:${peer.port} allowed on the dev server`);
  });

  return { attempt: (route: string) => attempt(route), count: () => peer.count() };
}

const netnsHere = decideIsolation('auto', probeIsolationFacts()).mode === 'netns';

describe.skipIf(!netnsHere)('isolation: netns (the default as root on Linux)', () => {
  const { attempt, count } = suite('netns', 'ENETUNREACH', undefined);

  it("even Node's own connect inside the instance process, which the shim keeps, gets nowhere", async () => {
    const before = count();
    expect((await attempt('inprocess')).error?.code).toBe('ENETUNREACH');
    expect(count()).toBe(before);
  });
});

describe('isolation: permission (HANGAR_ISOLATION=permission)', () => {
  // Child processes and process.binding are refused by Node, workers by the instance's guard;
  // the app is TypeScript, compiled before the instance starts (it may not start esbuild).
  suite('permission', 'ERR_ACCESS_DENIED', 'permission');
});
