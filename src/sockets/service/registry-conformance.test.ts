/**
 * The socket-registry conformance suite (issue 22: one suite per interface, run against every
 * backing): the same cases against the registry in memory (one socket service without a
 * database; the opener and the viewer are two instances of one app on it) and in PostgreSQL
 * (nodes a and b on a fresh test database; sockets open through a, and are listed and attached
 * through b). Driven by the real client code against a far end on 127.0.0.1
 * (test/helpers/socket-nodes.ts); what the viewer lists is waited for with the registry's
 * sync (the cluster's flush()), never with sleeps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/helpers/postgres.js';
import {
  attachThrough,
  type Far,
  farEnd,
  type InstanceOf,
  instanceId,
  openThrough,
  readBytes,
  type SocketNode,
  startSocketNode,
  until,
} from '../../../test/helpers/socket-nodes.js';
import { descriptor } from '../api.js';
import { shimState } from '../client/tcp.js';
import type { SocketView } from '../ipc.js';
import { parseDescriptor } from './registry.js';

interface RegistryHarness {
  /** Where sockets are opened (the opener's instance connects through it). */
  opener: SocketNode;
  /** Where they are listed and attached by another instance; `opener` itself in memory. */
  viewer: SocketNode;
  /** The node descriptors and views name: undefined on one node without a database. */
  ownerNode: string | undefined;
  far: Far;
  /** Resolves once the viewer's list has what the opener's registry holds now. */
  sync(): Promise<void>;
  cleanup(): Promise<void>;
}

interface HarnessOptions {
  /** sockets.idle_timeout of every service of the harness. */
  idleTimeoutMs: number;
}

type MakeHarness = (options: HarnessOptions) => Promise<RegistryHarness>;

const LONG_IDLE_MS = 600_000;

/** A view without the fields that move with the clock. */
function still(view: SocketView): Omit<SocketView, 'ageMs' | 'idleMs' | 'reclaimInMs'> {
  const { ageMs: _age, idleMs: _idle, reclaimInMs: _reclaim, ...rest } = view;
  return rest;
}

export function describeSocketRegistry(name: string, make: MakeHarness): void {
  describe(`socket registry conformance: ${name}`, () => {
    let h: RegistryHarness;

    beforeAll(async () => {
      h = await make({ idleTimeoutMs: LONG_IDLE_MS });
    });
    afterAll(() => h?.cleanup());

    /** The viewer's list, after the registry's sync. */
    async function listed(): Promise<SocketView[]> {
      await h.sync();
      return h.viewer.service.list();
    }

    async function viewOf(id: string): Promise<SocketView[]> {
      return (await listed()).filter((view) => view.id === id);
    }

    /** The id of `d`, after checking it names the owner node (hsk1 without one). */
    function idOf(d: string): string {
      const parts = parseDescriptor(d);
      expect(parts).toBeDefined();
      expect(parts!.node).toBe(h.ownerNode);
      return parts!.id;
    }

    it('lists an open TCP socket on the viewing side: app, service/version, protocol, destination, bytes', async () => {
      const opener: InstanceOf = { app: 'lister', instance: instanceId(), service: 'worker', version: 'v7' };
      const { socket, remote } = await openThrough(h.opener, opener, h.far);
      const id = idOf(descriptor(socket));

      const toRemote = 'twelve bytes';
      const toApp = 'from the far end';
      const heard = readBytes(remote, toRemote.length);
      socket.write(toRemote);
      expect(await heard).toBe(toRemote);
      const read = readBytes(socket, toApp.length);
      remote.write(toApp);
      expect(await read).toBe(toApp);

      const views = await viewOf(id);
      expect(views).toHaveLength(1);
      const view = views[0]!;
      expect(view).toMatchObject({
        id,
        app: 'lister',
        service: 'worker',
        version: 'v7',
        protocol: 'tcp',
        destination: h.far.address,
        remote: h.far.address,
        instance: opener.instance,
        state: 'open',
        bytesSent: toRemote.length,
        bytesReceived: toApp.length,
      });
      expect(view.node).toBe(h.ownerNode);
      expect(view.reclaimInMs).toBeGreaterThan(0);
      expect(view.reclaimInMs).toBeLessThanOrEqual(LONG_IDLE_MS);
      // The viewer shows what the owner holds (apart from the clocks).
      const own = (await h.opener.service.list()).filter((v) => v.id === id);
      expect(own.map(still)).toEqual([still(view)]);
      socket.destroy();
    });

    it('a new socket is listed open and held by its opener from its first appearance, with no sync asked for', async () => {
      const opener: InstanceOf = { app: 'fresh', instance: instanceId() };
      const { socket } = await openThrough(h.opener, opener, h.far);
      const id = idOf(descriptor(socket));
      // The registry writes a new socket on its own (no sync() here): what is first seen counts.
      let first: SocketView | undefined;
      await until('the viewer lists the new socket', async () => {
        first = (await h.viewer.service.list()).find((v) => v.id === id);
        return first !== undefined;
      });
      expect(first).toMatchObject({ state: 'open', instance: opener.instance });
      socket.destroy();
    });

    it('a descriptor attaches from another instance of the app on the viewing side: the same remote connection, both ways', async () => {
      const { socket, remote } = await openThrough(h.opener, 'holder', h.far);
      const d = descriptor(socket);
      const id = idOf(d);
      const warm = readBytes(remote, 'first'.length);
      socket.write('first');
      expect(await warm).toBe('first');
      const dialled = h.far.accepted;

      const other = instanceId();
      const again = await attachThrough(h.viewer, { app: 'holder', instance: other }, d);
      expect(again.remotePort).toBe(h.far.port);

      const toApp = 'to the new holder';
      const read = readBytes(again, toApp.length);
      remote.write(toApp);
      expect(await read).toBe(toApp);
      const toRemote = 'from the new holder';
      const heard = readBytes(remote, toRemote.length);
      again.write(toRemote);
      expect(await heard).toBe(toRemote);
      // The far end took no new connection: the attach carried the one it had.
      expect(h.far.accepted).toBe(dialled);

      // The previous holder was told the socket moved; its writes fail with EPIPE.
      await until('the previous holder to hear that the socket moved', async () => !!shimState(socket)?.gone);
      const late = await new Promise<Error | null | undefined>((resolve) => socket.write('late', resolve));
      expect(late).toMatchObject({
        code: 'EPIPE',
        message: expect.stringContaining('was attached by instance'),
      });

      // The list names the new holder, with the bytes of both holders.
      expect(await viewOf(id)).toEqual([
        expect.objectContaining({
          id,
          app: 'holder',
          instance: other,
          state: 'open',
          bytesSent: 'first'.length + toRemote.length,
          bytesReceived: toApp.length,
        }),
      ]);
      again.destroy();
    });

    it('another app attaching gets EACCES, and the list is unchanged', async () => {
      const { socket, remote } = await openThrough(h.opener, 'alpha', h.far);
      const d = descriptor(socket);
      const id = idOf(d);
      const before = (await listed()).map(still);
      expect(before.filter((view) => view.id === id)).toHaveLength(1);

      await expect(attachThrough(h.viewer, 'beta', d)).rejects.toMatchObject({
        code: 'EACCES',
        message: expect.stringContaining('belongs to another app'),
      });

      expect((await listed()).map(still)).toEqual(before);
      // The socket stayed with its holder.
      const read = readBytes(socket, 'still here'.length);
      remote.write('still here');
      expect(await read).toBe('still here');
      socket.destroy();
    });

    for (const closer of ['the app', 'the remote side'] as const) {
      it(`a socket closed by ${closer} leaves the list, and its descriptor gives EPIPE saying it is closed`, async () => {
        const { socket, remote } = await openThrough(h.opener, 'closer', h.far);
        const d = descriptor(socket);
        const id = idOf(d);
        expect(await viewOf(id)).toHaveLength(1);

        if (closer === 'the app') {
          // The far end allows half-open connections: the service's close of it is its 'end'.
          const ended = new Promise((resolve) => remote.once('end', resolve));
          remote.resume();
          socket.destroy();
          await ended;
          remote.destroy();
        } else {
          const closed = new Promise((resolve) => socket.once('close', resolve));
          socket.resume();
          remote.end();
          await closed;
        }

        await until('the closed socket to leave the list', async () => (await viewOf(id)).length === 0);
        await expect(attachThrough(h.viewer, 'closer', d)).rejects.toMatchObject({
          code: 'EPIPE',
          message: expect.stringContaining('is closed'),
        });
      });
    }

    it('a socket reclaimed by the idle timeout leaves the list, and its descriptor gives EPIPE "reclaimed"', async () => {
      const idleTimeoutMs = 2_000;
      const short = await make({ idleTimeoutMs });
      try {
        const opened = Date.now();
        const { socket } = await openThrough(short.opener, 'idler', short.far);
        const d = descriptor(socket);
        const id = parseDescriptor(d)!.id;
        await short.sync();
        expect((await short.viewer.service.list()).map((view) => view.id)).toEqual([id]);

        await until(
          'the idle socket to leave the list',
          async () => {
            await short.sync();
            return !(await short.viewer.service.list()).some((view) => view.id === id);
          },
          idleTimeoutMs + 10_000,
        );
        // Not before the timeout: the last activity (descriptor()) came after `opened`.
        expect(Date.now() - opened).toBeGreaterThanOrEqual(idleTimeoutMs - 20);
        await until(
          'the holder to hear that its socket was reclaimed',
          async () => !!shimState(socket)?.gone,
        );
        const late = await new Promise<Error | null | undefined>((resolve) => socket.write('late', resolve));
        expect(late).toMatchObject({ code: 'EPIPE', message: expect.stringContaining('reclaimed') });
        await expect(attachThrough(short.viewer, 'idler', d)).rejects.toMatchObject({
          code: 'EPIPE',
          message: expect.stringContaining('reclaimed'),
        });
      } finally {
        await short.cleanup();
      }
    });
  });
}

describeSocketRegistry('in memory (one node)', async ({ idleTimeoutMs }) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-registry-'));
  const far = await farEnd();
  const node = await startSocketNode({ dir, name: 'local', allow: [far.address], idleTimeoutMs });
  return {
    opener: node,
    viewer: node,
    ownerNode: undefined,
    far,
    sync: async () => {},
    cleanup: async () => {
      await node.service.close();
      far.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeSocketRegistry('PostgreSQL (two nodes)', async ({ idleTimeoutMs }) => {
  const db = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'hangar-registry-'));
  const far = await farEnd();
  const started: SocketNode[] = [];
  const start = async (name: string) => {
    const node = await startSocketNode({
      dir,
      name,
      allow: [far.address],
      idleTimeoutMs,
      database: { url: db.url, node: name },
    });
    started.push(node);
    return node;
  };
  const cleanup = async () => {
    for (const node of started) await node.service.close();
    far.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const a = await start('a');
    const b = await start('b');
    return { opener: a, viewer: b, ownerNode: 'a', far, sync: () => a.service.cluster!.flush(), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
});
