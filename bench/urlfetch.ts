/**
 * The URL Fetch scenario's upstream (issue 18): a node:http server on 127.0.0.1 in the suite's
 * own process that answers every request with the same short text. The app under test calls
 * it once per request (GET /fetch): bare Node with its own fetch, `hangar serve` through URL
 * Fetch (the global fetch's path in instances), allowed by `sockets.allow` as a loopback
 * destination must be under serve's strict rules.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { appDir, bareNode, serve, type Target } from './targets.js';
import { makeTempDir, removeTempDir } from './temp.js';

export const upstreamBody = 'hello from upstream';

let upstream: Promise<{ server: Server; url: string; port: number }> | undefined;

function startUpstream(): Promise<{ server: Server; url: string; port: number }> {
  upstream ??= new Promise((resolve) => {
    const server = createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'text/plain', 'content-length': upstreamBody.length })
        .end(upstreamBody);
    });
    server.keepAliveTimeout = 65_000;
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}/`, port });
    });
  });
  return upstream;
}

/** Stops the upstream once the scenario is done. */
export async function stopUpstream(): Promise<string[]> {
  const running = upstream;
  upstream = undefined;
  if (running) {
    const { server } = await running;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  return [];
}

export async function bareNodeFetching(): Promise<Target> {
  const { url } = await startUpstream();
  return bareNode({ UPSTREAM_URL: url });
}

/** bench/app with UPSTREAM_URL in its env_variables, deployed to a `hangar serve` that allows the upstream. */
export async function serveFetching(): Promise<Target> {
  const { url, port } = await startUpstream();
  const app = makeTempDir('urlfetch-app');
  cpSync(appDir, app, { recursive: true });
  const yaml = readFileSync(join(appDir, 'app.yaml'), 'utf8');
  writeFileSync(join(app, 'app.yaml'), `${yaml}env_variables:\n  UPSTREAM_URL: "${url}"\n`);
  try {
    const target = await serve({ app, config: `sockets:\n  allow: ["127.0.0.1:${port}"]\n` });
    return {
      ...target,
      stop: async () => {
        await target.stop();
        removeTempDir(app);
      },
    };
  } catch (err) {
    removeTempDir(app);
    throw err;
  }
}
