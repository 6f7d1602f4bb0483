/**
 * S6 for sockets: a connect or DNS call still in flight when the request's deadline passes
 * rejects with the request's DeadlineExceededError; a socket that is already up outlives the
 * request. The "service" here is a Unix socket that accepts and never answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadlineExceededError } from '../../instance/deadline.js';
import { requestStorage } from '../../instance/request-context.js';
import { PROTOCOL_VERSION } from '../protocol.js';
import { ServiceLink } from './link.js';
import { proxiedConnect } from './tcp.js';

describe('requests that hit their deadline while a socket call is in flight', () => {
  let dir: string;
  let silent: Server;
  let link: ServiceLink;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-sockets-deadline-'));
    const path = join(dir, 'silent.sock');
    silent = createServer((conn) => conn.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(path, resolve));
    link = new ServiceLink({ path, app: 'a', token: 't', instance: 'i' });
  });
  afterAll(() => {
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const inRequest = <T>(signal: AbortSignal, fn: () => T): T =>
    requestStorage.run({ requestId: 'r', env: {}, signal, lines: undefined, heldLines: 0, heldChars: 0 }, fn);

  it('a connect in flight fails with DeadlineExceededError', async () => {
    const controller = new AbortController();
    const socket = new Socket();
    const failed = new Promise<Error>((resolve) => socket.once('error', resolve));
    inRequest(controller.signal, () =>
      proxiedConnect(socket, { op: 'connect', host: '127.0.0.1', port: 9 }, link),
    );
    controller.abort(new DeadlineExceededError(1000));
    const error = await failed;
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as DeadlineExceededError).code).toBe('HANGAR_E_DEADLINE_EXCEEDED');
    expect(socket.destroyed).toBe(true);
  });

  it('a DNS call in flight rejects with it too', async () => {
    const controller = new AbortController();
    const pending = inRequest(controller.signal, () =>
      link.call({
        ...link.identity(),
        v: PROTOCOL_VERSION,
        op: 'lookup',
        host: 'localhost',
        family: 0,
        all: true,
      }),
    );
    controller.abort(new DeadlineExceededError(1000));
    await expect(pending).rejects.toBeInstanceOf(DeadlineExceededError);
  });
});
