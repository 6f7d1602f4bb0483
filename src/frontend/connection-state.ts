/**
 * What the front end needs to know about a client connection between its events: whether a
 * request on it is being answered, and whether that request's body is being read (so that a
 * parse error in the body becomes that request's 400, see early-rejections.ts).
 */
import type { Socket } from 'node:net';
import type { HangarError } from '../shared/errors.js';
import type { BodyRead } from './request-body.js';

const busy = new WeakMap<Socket, number>();
const bodyReads = new WeakMap<Socket, BodyRead>();

/** A request on `socket` started (true) or finished (false). */
export function markBusy(socket: Socket, busyNow: boolean): void {
  const n = (busy.get(socket) ?? 0) + (busyNow ? 1 : -1);
  if (n > 0) busy.set(socket, n);
  else busy.delete(socket);
}

/** True while a response on `socket` is still to be written. */
export function isBusy(socket: Socket): boolean {
  return busy.has(socket);
}

/** Registers the body read in progress on `socket`; the returned function unregisters it. */
export function trackBodyRead(socket: Socket, read: BodyRead): () => void {
  bodyReads.set(socket, read);
  return () => {
    if (bodyReads.get(socket) === read) bodyReads.delete(socket);
  };
}

/** Ends the body read on `socket` with `error`; false when none is in progress. */
export function abortBodyRead(socket: Socket, error: HangarError): boolean {
  const read = bodyReads.get(socket);
  if (!read) return false;
  bodyReads.delete(socket);
  read.abort(error);
  return true;
}
