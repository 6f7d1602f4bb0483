/**
 * The sockets scenario (issue 6): a transfer each way and connect latency through the instance
 * shim and the socket service, against plain loopback TCP from the same kind of process, and
 * against the cheapest relay Node can be (a separate process that only `pipe()`s a Unix
 * connection to TCP: the ceiling for any spliced design). Runs alternate (direct, shim, relay,
 * direct, ...) so machine drift hits all alike; the median round is reported. The socket
 * service runs as `hangar serve` runs it (mode `serve`, the targets listed in sockets.allow).
 */
import { execFile } from 'node:child_process';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultPlatformConfig } from '../src/config/platform-config.js';
import type { Logger } from '../src/shared/logger.js';
import { startChild, stopChild, track } from './children.js';
import { median, quantile } from './stats.js';
import { root } from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

const run = promisify(execFile);

export const vias = ['direct', 'shim', 'relay'] as const;
export type Via = (typeof vias)[number];

export interface SocketsSettings {
  /** MiB sent each way per transfer. */
  mib: number;
  rounds: number;
  /** Sequential connects per connect-latency round. */
  connects: number;
}

export interface SocketsResult {
  kind: 'sockets';
  name: 'sockets';
  settings: SocketsSettings;
  /** Median MiB/s per way of sending. */
  throughput: Array<{ direction: 'app → remote' | 'remote → app' } & Record<Via, number>>;
  /** Connect latency over all rounds' samples, ms. */
  connect: Record<Via, { p50Ms: number; p99Ms: number }>;
}

const quiet: Logger = { info() {}, warn() {}, error() {}, raw() {}, flush() {}, color: false, fd: undefined };

/** Receives `bytes` per connection and acks with one byte. */
function sink(bytes: number): Server {
  return createServer((socket) => {
    let n = 0;
    socket.on('data', (chunk: Buffer) => {
      n += chunk.length;
      if (n >= bytes) socket.write('k');
    });
    socket.on('error', () => {});
  });
}

/** Sends `bytes` to each connection, with back-pressure. */
function source(bytes: number): Server {
  const chunk = Buffer.alloc(1 << 20, 0x62);
  return createServer(async (socket) => {
    socket.on('error', () => {});
    for (let sent = 0; sent < bytes && !socket.destroyed; sent += chunk.length) {
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
    }
  });
}

/** Accepts and does nothing: connect latency. */
function idle(): Server {
  return createServer((socket) => socket.on('error', () => {}));
}

const listen = (server: Server) =>
  new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));

/** A process that relays each connection on a Unix socket to 127.0.0.1:port with pipe(), nothing else. */
async function relay(dir: string, port: number) {
  const path = join(dir, `relay-${port}.sock`);
  const code = `
    const net = require('node:net');
    net.createServer({ allowHalfOpen: true, highWaterMark: 1 << 20 }, (c) => {
      const r = net.connect({ port: ${port}, host: '127.0.0.1', highWaterMark: 1 << 20 });
      c.on('error', () => {}); r.on('error', () => {});
      c.pipe(r); r.pipe(c);
    }).listen(${JSON.stringify(path)}, () => process.stdout.write('ready'));`;
  const { child } = await startChild(process.execPath, ['-e', code], /ready/);
  return { path, child };
}

export async function runSockets(
  settings: SocketsSettings,
  log: (line: string) => void,
): Promise<SocketsResult> {
  const bytes = settings.mib * 2 ** 20;
  const { startSocketService } = (await import(
    join(root, 'dist/sockets/supervisor.js')
  )) as typeof import('../src/sockets/supervisor.js');
  const dir = makeTempDir('sockets');
  const servers = { upload: sink(bytes), download: source(bytes), connect: idle() };
  const relays: Array<Awaited<ReturnType<typeof relay>>> = [];
  let service: Awaited<ReturnType<typeof startSocketService>> | undefined;
  try {
    const ports = {
      upload: await listen(servers.upload),
      download: await listen(servers.download),
      connect: await listen(servers.connect),
    };
    // As `hangar serve` runs it: loopback is refused there unless the platform config allows it,
    // as an operator would list a service of theirs in sockets.allow.
    service = await startSocketService({
      dataDir: dir,
      config: {
        ...defaultPlatformConfig.sockets,
        idleTimeoutMs: 600_000,
        maxOpenPerApp: 10_000,
        allow: Object.values(ports).map((port) => `127.0.0.1:${port}`),
      },
      mode: 'serve',
      logger: quiet,
    });
    const shim = JSON.stringify({
      ...service.instanceInit('bench'),
      instance: 'bench',
      service: 'default',
      version: 'bench',
    });
    const relayPaths = {
      upload: await relay(dir, ports.upload),
      download: await relay(dir, ports.download),
      connect: await relay(dir, ports.connect),
    };
    relays.push(...Object.values(relayPaths));

    const client = async (mode: keyof typeof ports, via: Via) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        MODE: mode,
        PORT: via === 'relay' ? relayPaths[mode].path : String(ports[mode]),
        BYTES: String(bytes),
        COUNT: String(settings.connects),
        HANGAR_BENCH_SHIM: via === 'shim' ? shim : '',
      };
      const running = run(process.execPath, [join(root, 'bench/sockets-client.mjs')], {
        env,
        timeout: 120_000,
      });
      track(running.child);
      return JSON.parse((await running).stdout) as { ms?: number; samples?: number[] };
    };

    const throughput: SocketsResult['throughput'] = [];
    for (const mode of ['upload', 'download'] as const) {
      const times: Record<Via, number[]> = { direct: [], shim: [], relay: [] };
      for (let i = 0; i < settings.rounds; i++)
        for (const via of vias) times[via].push((await client(mode, via)).ms!);
      const rate = (via: Via) => settings.mib / (median(times[via]) / 1000);
      const direction = mode === 'upload' ? 'app → remote' : 'remote → app';
      throughput.push({ direction, direct: rate('direct'), shim: rate('shim'), relay: rate('relay') });
      log(
        `sockets ${direction}: direct ${rate('direct').toFixed(0)} MiB/s, shim ${rate('shim').toFixed(0)} MiB/s, relay ${rate('relay').toFixed(0)} MiB/s`,
      );
    }
    const samples: Record<Via, number[]> = { direct: [], shim: [], relay: [] };
    for (let i = 0; i < settings.rounds; i++)
      for (const via of vias) samples[via].push(...(await client('connect', via)).samples!);
    const latency = (via: Via) => ({
      p50Ms: quantile(samples[via], 0.5),
      p99Ms: quantile(samples[via], 0.99),
    });
    const connect = { direct: latency('direct'), shim: latency('shim'), relay: latency('relay') };
    log(
      `sockets connect p50: direct ${connect.direct.p50Ms.toFixed(3)} ms, shim ${connect.shim.p50Ms.toFixed(3)} ms`,
    );
    return { kind: 'sockets', name: 'sockets', settings, throughput, connect };
  } finally {
    await Promise.all(relays.map(({ child }) => stopChild(child)));
    await service?.close();
    for (const server of Object.values(servers)) server.close();
    removeTempDir(dir);
  }
}
