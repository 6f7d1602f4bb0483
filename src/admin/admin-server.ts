import { createServer, type Server } from 'node:http';
import { authorized } from './admin-token.js';

/** One instance as the admin API lists it. */
export interface InstanceView {
  id: string;
  app: string;
  service: string;
  version: string;
  state: string;
  pid: number | undefined;
  busySlots: number;
  requestsServed: number;
  started: string;
}

export interface AdminSource {
  instances(): InstanceView[];
}

/**
 * The admin API (SPEC S14), bearer-token protected. This first cut answers
 * `GET /api/instances`; logs, quotas, versions and sockets join as their issues land.
 */
export function createAdminServer(token: string, source: AdminSource): Server {
  return createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      const json = `${JSON.stringify(body)}\n`;
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(json),
      });
      res.end(json);
    };
    if (!authorized(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer');
      send(401, { error: 'missing or wrong bearer token; find it in <data-dir>/admin-token' });
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/api/instances') {
      send(200, { instances: source.instances() });
      return;
    }
    send(404, { error: `no admin endpoint ${req.method} ${path}` });
  });
}
