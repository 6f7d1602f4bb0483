/**
 * The socket service as a process of its own, for Kubernetes (SPEC S16, docs/kubernetes.md
 * "Sockets"): the same service the platform starts (main.ts, with the same policy, descriptors,
 * idle reclaim and URL Fetch), configured from its environment instead of by a parent, and
 * reachable over TCP as well as its Unix socket, so that every pod of every version shares one
 * service: a descriptor made in one pod attaches in another, as on one machine.
 *
 * The TCP listener only passes bytes on to the Unix socket; every connection still starts with
 * the service's hello, checked against the app's token, as an instance's does. Keep the port
 * inside the cluster (the NetworkPolicy `hangar export kubernetes` writes admits only the
 * version pods).
 *
 * Environment: `HANGAR_SOCKETS_KEY` (the key of the apps' tokens, from a Secret; at least 32
 * characters), `HANGAR_CONFIG` (the platform config file, optional), `HANGAR_SOCKETS_PORT`
 * (default 7000), `HANGAR_SOCKETS_HOST` (default 0.0.0.0).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPlatformConfig } from '../../config/platform-config.js';
import type { ServiceInit } from '../ipc.js';

const log = (severity: 'INFO' | 'ERROR', message: string) =>
  process.stdout.write(`${JSON.stringify({ severity, message, time: new Date().toISOString() })}\n`);

const key = process.env.HANGAR_SOCKETS_KEY ?? '';
delete process.env.HANGAR_SOCKETS_KEY;
if (key.length < 32) {
  log('ERROR', 'HANGAR_SOCKETS_KEY must hold the key of the apps’ socket tokens (32 characters or more)');
  process.exit(1);
}
const port = Number(process.env.HANGAR_SOCKETS_PORT ?? 7000);
const host = process.env.HANGAR_SOCKETS_HOST ?? '0.0.0.0';
const config = await loadPlatformConfig(process.env.HANGAR_CONFIG || undefined, { givenBy: 'HANGAR_CONFIG' });
const path = join(tmpdir(), `hangar-sockets-${process.pid}`, 'sockets.sock');
mkdirSync(dirname(path), { recursive: true, mode: 0o700 });

const init: ServiceInit = {
  path,
  key,
  mode: 'serve',
  idleTimeoutMs: config.sockets.idleTimeoutMs,
  maxOpenPerApp: config.sockets.maxOpenPerApp,
  allow: [...config.sockets.allow],
  blocked: [...config.sockets.blocked],
  strict: config.sockets.strict,
  urlfetch: {
    maxRequestBytes: config.urlfetch.maxRequestBytes,
    maxResponseBytes: config.urlfetch.maxResponseBytes,
    maxDeadlineMs: config.urlfetch.maxDeadlineMs,
  },
};
process.env.HANGAR_SOCKETS_INIT = JSON.stringify(init);
// The service itself, listening on `path` once this import resolves (main.ts awaits its listen).
await import('./main.js');

const gateway = createServer({ allowHalfOpen: true }, (remote) => {
  const local = connect({ path, allowHalfOpen: true });
  const fail = () => {
    remote.destroy();
    local.destroy();
  };
  remote.on('error', fail);
  local.on('error', fail);
  remote.on('close', () => local.destroy());
  local.on('close', () => remote.destroy());
  remote.setNoDelay(true);
  remote.pipe(local);
  local.pipe(remote);
});
gateway.listen(port, host, () => {
  const { port: bound } = gateway.address() as AddressInfo;
  log('INFO', `socket service listening on ${host}:${bound} (and ${path})`);
});
process.once('SIGTERM', () => {
  gateway.close();
  rmSync(dirname(path), { recursive: true, force: true });
  process.exit(0);
});
