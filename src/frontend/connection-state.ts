/**
 * What the front end needs to know about a client connection between its events: whether a
 * request on it is being answered, whether that request's body is being read (so that a
 * parse error in the body becomes that request's 400, see early-rejections.ts), whether an
 * answer on it closes it (then nothing after that answer is taken as a request), and what to
 * do once the requests in progress are answered. Also the open connections per client address
 * (`limits.max_connections_per_client`).
 *
 * Why "closing" matters: after a refusal that closes the connection (S5 step 2), Node's
 * parser still parses whatever the client pipelined behind the refused request and emits it
 * as a request. Running it would hand an instance a request whose answer is never sent and
 * never logged: a smuggling primitive. listener.ts asks admit() before the pipeline runs.
 */
import type { Socket } from 'node:net';
import type { HangarError } from '../shared/errors.js';
import type { BodyRead } from './request-body.js';

/** One connection's state, made with its first request (or when a refusal marks it). */
interface Connection {
  /** Requests on it whose responses are still to be written. */
  busy: number;
  /** The body read in progress (steps.ts readRequestBody). */
  bodyRead: BodyRead | undefined;
  /** An answer on it closes it: no later request on it is run. */
  closing: boolean;
  /** Runs once `busy` drops to 0: an answer that must come after those in progress. */
  whenIdle: (() => void) | undefined;
}

const connections = new WeakMap<Socket, Connection>();

function connectionOf(socket: Socket): Connection {
  let connection = connections.get(socket);
  if (connection === undefined) {
    connection = { busy: 0, bodyRead: undefined, closing: false, whenIdle: undefined };
    connections.set(socket, connection);
  }
  return connection;
}

/** A request on `socket` started (true) or finished (false). */
export function markBusy(socket: Socket, busyNow: boolean): void {
  const connection = connectionOf(socket);
  if (busyNow) {
    connection.busy++;
    return;
  }
  if (--connection.busy > 0 || connection.whenIdle === undefined) return;
  const run = connection.whenIdle;
  connection.whenIdle = undefined;
  run();
}

/** True while a response on `socket` is still to be written. */
export function isBusy(socket: Socket): boolean {
  return (connections.get(socket)?.busy ?? 0) > 0;
}

/** True once a request was seen on `socket` (its first bytes are not the start of a request). */
export function hasHadRequests(socket: Socket): boolean {
  return connections.has(socket);
}

/**
 * Runs `answer` once every request in progress on `socket` has its response written (at once
 * when none is): a refusal of something pipelined behind them must not overtake their answers.
 * One per connection; a later call while one waits is ignored.
 */
export function whenIdle(socket: Socket, answer: () => void): void {
  const connection = connectionOf(socket);
  if (connection.busy === 0) answer();
  else connection.whenIdle ??= answer;
}

/**
 * The answer being written on `socket` closes it: no later request on it will run, and with
 * `stopReading` (nothing more of the answered request is to come) no more bytes are read. The
 * server destroys the socket once the answer is flushed (Node does for `Connection: close`).
 *
 * @example
 * closeAfterAnswer(req.socket, !hasBody(req)); res.writeHead(400, { connection: 'close' });
 */
export function closeAfterAnswer(socket: Socket, stopReading: boolean): void {
  connectionOf(socket).closing = true;
  if (stopReading) socket.pause();
}

/** True once an answer on `socket` closes it. */
export function isClosing(socket: Socket): boolean {
  return connections.get(socket)?.closing === true;
}

/**
 * Whether a request Node parsed on `socket` may run: `true`; `false` when an answer before it
 * closes the connection (it is dropped unread and the socket stops reading); or a promise to
 * wait on when an earlier request's body is still being taken in, since that body may yet be
 * refused (413, 408), and then this request must not run either. Ask again once it settles.
 */
export function admit(socket: Socket): boolean | Promise<unknown> {
  const connection = connections.get(socket);
  if (connection === undefined) return true;
  if (connection.closing) {
    socket.pause();
    return false;
  }
  return connection.bodyRead === undefined ? true : connection.bodyRead.body;
}

/** Registers the body read in progress on `socket`; the returned function unregisters it. */
export function trackBodyRead(socket: Socket, read: BodyRead): () => void {
  const connection = connectionOf(socket);
  connection.bodyRead = read;
  return () => {
    if (connection.bodyRead === read) connection.bodyRead = undefined;
  };
}

/**
 * Ends the body read on `socket` with `error`; false when none is in progress, or when the
 * parser already has that whole body (its last bytes not yet handed over): then the error is
 * about what was pipelined behind it.
 */
export function abortBodyRead(socket: Socket, error: HangarError): boolean {
  const connection = connections.get(socket);
  const read = connection?.bodyRead;
  if (!connection || !read || read.req.complete) return false;
  connection.bodyRead = undefined;
  read.abort(error);
  return true;
}

/**
 * Open connections per client address on one listener (`limits.max_connections_per_client`).
 *
 * @example
 * const clients = new ClientConnections(256);
 * if (!clients.add(socket.remoteAddress)) refuse(socket); else socket.on('close', ...remove);
 */
export class ClientConnections {
  readonly #open = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Counts a new connection from `address`; false (and not counted) when it is at the limit. */
  add(address: string): boolean {
    const open = this.#open.get(address) ?? 0;
    if (open >= this.limit) return false;
    this.#open.set(address, open + 1);
    return true;
  }

  /** A counted connection from `address` closed. */
  remove(address: string): void {
    const open = this.#open.get(address);
    if (open === undefined) return;
    if (open > 1) this.#open.set(address, open - 1);
    else this.#open.delete(address);
  }

  /** Open connections from `address`. */
  count(address: string): number {
    return this.#open.get(address) ?? 0;
  }
}
