/**
 * The HTTP server URL Fetch's tests call, on 127.0.0.1 (plain and, with a self-signed
 * certificate, HTTPS): `/echo` answers with what it got (method, body, User-Agent: the
 * User-Agent tells whether a call came through URL Fetch), `/redirect?hops=N` redirects N+1
 * times before `/echo`, `/huge` sends 33 MiB (over the 32 MiB response limit), and `/slow`
 * never answers, noting when its caller gave up.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const MiB = 2 ** 20;

export interface HttpPeer {
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** When each connection to /slow was closed by its caller (epoch ms). */
  slowClosed: number[];
}

export function httpPeer(): HttpPeer {
  const slowClosed: number[] = [];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (url.pathname === '/redirect') {
        const hops = Number(url.searchParams.get('hops'));
        res.writeHead(302, { location: hops > 0 ? `/redirect?hops=${hops - 1}` : '/echo' }).end();
      } else if (url.pathname === '/huge') {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': String(33 * MiB),
        });
        const chunk = Buffer.alloc(MiB, 'x');
        for (let i = 0; i < 33; i++) res.write(chunk);
        res.end();
      } else if (url.pathname === '/slow') {
        req.socket.once('close', () => slowClosed.push(Date.now()));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            method: req.method,
            body: Buffer.concat(chunks).toString(),
            userAgent: req.headers['user-agent'] ?? '',
          }),
        );
      }
    });
  };
  return { handle, slowClosed };
}
