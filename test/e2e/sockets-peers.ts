/**
 * The far ends socket tests talk to, all on 127.0.0.1 port 0 (SPEC "Network safety"): a TCP
 * echo, a TCP "id" server that numbers its connections, an HTTP server, a TLS echo with a
 * self-signed certificate made by openssl for this run, and a UDP echo.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { makeSelfSignedCertificate } from '../../src/platform/tls.js';

export interface Peers {
  echo: number;
  /** Greets each connection with `hello N`; answers the line `whoami` with `conn N`, echoes other lines. */
  id: number;
  http: number;
  /** HTTPS with the same certificate as `tls`. */
  https: number;
  tls: number;
  udp: number;
  /** The TLS server's certificate (PEM file): the CA apps pass to trust it. */
  certFile: string;
  close(): Promise<void>;
}

export async function startPeers(): Promise<Peers> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-sockets-peers-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await makeSelfSignedCertificate(certFile, keyFile, 1);
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  };

  const echo = createServer((socket) => {
    track(socket);
    socket.pipe(socket);
  });
  let connections = 0;
  const id = createServer((socket) => {
    track(socket);
    const me = ++connections;
    socket.write(`hello ${me}\n`);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        socket.write(line === 'whoami' ? `conn ${me}\n` : `${line}\n`);
        newline = buffer.indexOf('\n');
      }
    });
  });
  const answer: RequestListener = (req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => res.end(`got ${req.method} ${req.url} ${body}`));
  };
  const http = createHttpServer(answer);
  const https = createHttpsServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, answer);
  https.on('connection', track);
  http.on('connection', track);
  const tls = createTlsServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, (socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  tls.on('connection', track);
  const udp = createSocket('udp4');
  udp.on('message', (msg, from) => udp.send(msg, from.port, from.address));

  const listen = (server: Server) =>
    new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    );
  const ports = {
    echo: await listen(echo),
    id: await listen(id),
    http: await listen(http),
    https: await listen(https),
    tls: await listen(tls),
    udp: await new Promise<number>((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port))),
  };
  return {
    ...ports,
    certFile,
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(
        [echo, id, http, https, tls].map(
          (server) => new Promise((resolve) => server.close(() => resolve(undefined))),
        ),
      );
      udp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
