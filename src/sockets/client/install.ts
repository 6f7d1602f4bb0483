/**
 * Installs the sockets shim in an instance, before any app code is imported (S12): from then
 * on `node:net`, `node:tls`, `node:dgram` and `node:dns` go through the socket service, for the
 * app's own code and for every npm client it uses.
 */
import { syncBuiltinESMExports } from 'node:module';
import type { InstanceInit } from '../../shared/messages.js';
import { channelSocketPath } from '../../shared/request-channel.js';
import { installHttpClients } from '../../urlfetch/client/http-clients.js';
import { patchDns } from './dns-patch.js';
import { type LinkConfig, ServiceLink, setLink } from './link.js';
import { patchNet } from './net-patch.js';
import { patchTls } from './tls-patch.js';
import { patchDgram } from './udp.js';

export interface ShimConfig extends LinkConfig {
  /** The instance's own sockets (HTTP server, request channel): the `listen`s that are allowed, once each. */
  ownListenPaths?: string[];
  /** An app's own server (S4.3): its PORT, on 127.0.0.1 only (net-patch.ts). */
  ownTcpPort?: number;
}

let installed = false;

/** Patches the four modules once; a second call is a no-op. */
export function installSocketShim(config: ShimConfig): void {
  if (installed) return;
  installed = true;
  // Node creates process.stdout/stderr lazily as `new net.Socket({ fd })` when they are pipes;
  // make them now, before the shim refuses sockets made from file descriptors.
  void process.stdout;
  void process.stderr;
  const link = new ServiceLink(config);
  setLink(link);
  patchNet(link, {
    ownListenPaths: config.ownListenPaths ?? [],
    ...(config.ownTcpPort === undefined ? {} : { ownTcpPort: config.ownTcpPort }),
  });
  patchTls();
  patchDgram(link);
  patchDns(link);
  // The HTTP clients through URL Fetch (S13), unless GAE_USE_SOCKETS_HTTPLIB keeps them on sockets.
  installHttpClients();
  // `import { connect } from 'node:net'` in app code must see the patched functions too.
  syncBuiltinESMExports();
}

/** The shim for an instance, from its start configuration (a no-op when it has no `sockets`). */
export function installFromInit(init: InstanceInit): void {
  if (!init.sockets) return;
  installSocketShim({
    ...init.sockets,
    instance: init.instanceId,
    service: init.env.CURRENT_MODULE_ID,
    // MAJOR of MAJOR.MINOR: metering counts per version name, like the front end does.
    version: init.env.CURRENT_VERSION_ID?.split('.')[0],
    ownListenPaths: [init.socketPath, channelSocketPath(init.socketPath)],
  });
}
