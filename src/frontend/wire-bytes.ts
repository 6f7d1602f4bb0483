/**
 * Bytes on the wire per request (S10: "headers + bodies as sent on the wire"), from the
 * socket's own counters. Each request takes what the connection read and wrote since the
 * previous request on it finished; over TLS these are the plaintext HTTP bytes (the TLS
 * handshake and record overhead are not part of the HTTP traffic). With pipelining, bytes
 * of a request already read ahead go to the earlier request; totals stay exact.
 */
import type { Socket } from 'node:net';

const marks = new WeakMap<Socket, { read: number; written: number }>();

/**
 * Bytes read and written on `socket` since the last call for it.
 *
 * @example
 * res.once('close', () => { const { bytesIn, bytesOut } = takeWireBytes(req.socket); });
 */
export function takeWireBytes(socket: Socket): { bytesIn: number; bytesOut: number } {
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  const mark = marks.get(socket);
  if (!mark) {
    marks.set(socket, { read, written });
    return { bytesIn: read, bytesOut: written };
  }
  const delta = { bytesIn: read - mark.read, bytesOut: written - mark.written };
  mark.read = read;
  mark.written = written;
  return delta;
}
