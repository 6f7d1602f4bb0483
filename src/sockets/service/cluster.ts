/**
 * The socket service's part of a platform of several nodes on one PostgreSQL database (SPEC S16,
 * docs/sockets.md "Several nodes"): the socket registry (one row per open socket of every node,
 * for `GET /api/sockets` on any node), the nodes' peer addresses (where `attach` of a node's
 * socket is forwarded) and the peer secret nodes prove to each other.
 *
 * Writes are off the data path: a socket's row is written by a background flush that starts
 * when the socket opens or ends (coalescing whatever else happened meanwhile), and bytes and
 * activity of open sockets every `syncIntervalMs`, only for the sockets whose numbers changed.
 * A flush that fails is retried at the next interval; the sockets themselves never wait for it.
 */
import { randomBytes } from 'node:crypto';
import {
  inTransaction,
  migratePostgres,
  openPostgres,
  type PgMigration,
  type PgPool,
} from '../../shared/postgres.js';
import type { SocketView } from '../ipc.js';
import type { PeerAddress } from './peer.js';
import type { Registry, RegistryObserver, Session } from './registry.js';

/** The `sockets` module's tables (migratePostgres: append-only). */
export const SOCKETS_MIGRATIONS: readonly PgMigration[] = [
  `CREATE TABLE hangar_socket_nodes (
     node TEXT PRIMARY KEY,
     peer_host TEXT NOT NULL,
     peer_port INTEGER NOT NULL,
     started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
   );
   CREATE TABLE hangar_socket_peer_secret (
     only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
     secret TEXT NOT NULL
   );
   CREATE TABLE hangar_sockets (
     node TEXT NOT NULL,
     id TEXT NOT NULL,
     app TEXT NOT NULL,
     service TEXT,
     version TEXT,
     protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
     destination TEXT,
     remote TEXT,
     instance TEXT,
     request TEXT,
     state TEXT NOT NULL,
     bytes_sent BIGINT NOT NULL,
     bytes_received BIGINT NOT NULL,
     opened_at TIMESTAMPTZ NOT NULL,
     last_active_at TIMESTAMPTZ NOT NULL,
     reclaim_at TIMESTAMPTZ NOT NULL,
     updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
     PRIMARY KEY (node, id)
   )`,
];

export interface ClusterOptions {
  url: string;
  node: string;
  syncIntervalMs: number;
  /** A line for the platform's log (a failing database, a refused peer). */
  onNotice(message: string): void;
}

/** Rows of a node not heard from for this long are left out of the list (it died without cleaning up). */
function staleAfterMs(syncIntervalMs: number): number {
  return Math.max(30_000, 10 * syncIntervalMs);
}

interface SocketRow {
  node: string;
  id: string;
  app: string;
  service: string | null;
  version: string | null;
  protocol: 'tcp' | 'udp';
  destination: string | null;
  remote: string | null;
  instance: string | null;
  request: string | null;
  state: 'open' | 'detached';
  bytes_sent: string;
  bytes_received: string;
  opened_at: Date;
  last_active_at: Date;
  reclaim_at: Date;
}

/** What changes in a socket's row while it is open; a row is rewritten only when this does. */
function signature(view: SocketView, now: number): string {
  return `${view.bytesSent}|${view.bytesReceived}|${view.state}|${view.instance}|${now - view.idleMs}`;
}

export class SocketCluster implements RegistryObserver {
  readonly node: string;
  readonly #pool: PgPool;
  readonly #options: ClusterOptions;
  readonly #registry: Registry;
  #secret = '';
  #peer: PeerAddress | undefined;
  /** Sockets whose row is to be written, deleted; the signature each row was last written with. */
  readonly #dirty = new Set<string>();
  readonly #deleted = new Set<string>();
  readonly #written = new Map<string, string>();
  #heartbeat = false;
  #flushing: Promise<void> | undefined;
  #again = false;
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(pool: PgPool, options: ClusterOptions, registry: Registry) {
    this.#pool = pool;
    this.#options = options;
    this.#registry = registry;
    this.node = options.node;
  }

  /** Connects to the platform database and brings the `sockets` tables up to date. */
  static async open(options: ClusterOptions, registry: Registry): Promise<SocketCluster> {
    const pool = await openPostgres(options.url, {
      max: 4,
      applicationName: `hangar sockets (node ${options.node})`,
    });
    try {
      await migratePostgres(pool, 'sockets', SOCKETS_MIGRATIONS);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new SocketCluster(pool, options, registry);
  }

  /** The platform's peer secret (known after `join`). */
  get secret(): string {
    return this.#secret;
  }

  /**
   * Joins the platform: forgets this node's sockets of an earlier run (they died with it),
   * learns the peer secret (made by the first node ever), records `peer` as where this node's
   * sockets are attached from other nodes, and starts writing the registry.
   */
  async join(peer: PeerAddress): Promise<void> {
    this.#peer = peer;
    this.#secret = await inTransaction(this.#pool, async (client) => {
      await client.query('DELETE FROM hangar_sockets WHERE node = $1', [this.node]);
      await client.query(
        'INSERT INTO hangar_socket_peer_secret (secret) VALUES ($1) ON CONFLICT DO NOTHING',
        [randomBytes(32).toString('hex')],
      );
      const secret = await client.query<{ secret: string }>('SELECT secret FROM hangar_socket_peer_secret');
      await client.query(
        `INSERT INTO hangar_socket_nodes (node, peer_host, peer_port) VALUES ($1, $2, $3)
         ON CONFLICT (node) DO UPDATE SET peer_host = excluded.peer_host, peer_port = excluded.peer_port,
           started_at = now(), seen_at = now()`,
        [this.node, peer.host, peer.port],
      );
      return secret.rows[0]!.secret;
    });
    this.#registry.observe(this);
    this.#timer = setInterval(() => this.#tick(), this.#options.syncIntervalMs);
    this.#timer.unref();
  }

  opened(session: Session): void {
    this.#dirty.add(session.id);
    this.#kick();
  }

  closed(session: Session): void {
    this.#dirty.delete(session.id);
    this.#deleted.add(session.id);
    this.#kick();
  }

  /** Where `node`'s socket service takes peer connections, or undefined when no such node ever joined. */
  async peerAddress(node: string): Promise<PeerAddress | undefined> {
    const found = await this.#pool.query<{ peer_host: string; peer_port: number }>(
      'SELECT peer_host, peer_port FROM hangar_socket_nodes WHERE node = $1',
      [node],
    );
    const row = found.rows[0];
    return row ? { host: row.peer_host, port: row.peer_port } : undefined;
  }

  /**
   * The open sockets of the other nodes, as their last flush wrote them, each with its node;
   * nodes silent for longer than the staleness limit are left out.
   */
  async othersViews(now = Date.now()): Promise<SocketView[]> {
    const found = await this.#pool.query<SocketRow>(
      `SELECT s.* FROM hangar_sockets s JOIN hangar_socket_nodes n ON n.node = s.node
       WHERE s.node <> $1 AND n.seen_at > now() - make_interval(secs => $2)
       ORDER BY s.opened_at, s.node, s.id`,
      [this.node, staleAfterMs(this.#options.syncIntervalMs) / 1000],
    );
    return found.rows.map((row) => ({
      node: row.node,
      id: row.id,
      app: row.app,
      service: row.service,
      version: row.version,
      protocol: row.protocol,
      destination: row.destination,
      remote: row.remote,
      instance: row.instance,
      request: row.request,
      state: row.state,
      bytesSent: Number(row.bytes_sent),
      bytesReceived: Number(row.bytes_received),
      openedAt: row.opened_at.toISOString(),
      ageMs: Math.max(0, now - row.opened_at.getTime()),
      idleMs: Math.max(0, now - row.last_active_at.getTime()),
      reclaimInMs: Math.max(0, row.reclaim_at.getTime() - now),
    }));
  }

  /**
   * Writes now what the next interval would (rows of new, changed and ended sockets) and
   * resolves when the database has it, or the write failed (and waits for the next interval).
   */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#markChanged();
    this.#kick();
    while (this.#flushing) await this.#flushing;
  }

  /**
   * Leaves the platform: stops writing, removes this node's rows (its sockets are closing with
   * the service) and its peer address, and closes the pool.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    clearInterval(this.#timer);
    this.#registry.observe(undefined);
    while (this.#flushing) await this.#flushing;
    try {
      await this.#pool.query('DELETE FROM hangar_sockets WHERE node = $1', [this.node]);
      if (this.#peer) {
        await this.#pool.query(
          'DELETE FROM hangar_socket_nodes WHERE node = $1 AND peer_host = $2 AND peer_port = $3',
          [this.node, this.#peer.host, this.#peer.port],
        );
      }
    } catch (err) {
      this.#options.onNotice(
        `could not remove node ${this.node}'s sockets from the platform database: ${(err as Error).message}; they are removed when the node starts again`,
      );
    }
    await this.#pool.end().catch(() => undefined);
  }

  /** Every interval: rows of sockets whose bytes or activity changed, and this node's heartbeat. */
  #tick(): void {
    this.#markChanged();
    this.#heartbeat = true;
    this.#kick();
  }

  #markChanged(): void {
    const now = Date.now();
    for (const session of this.#registry.sessions()) {
      if (this.#written.get(session.id) !== signature(session.view(now), now)) this.#dirty.add(session.id);
    }
  }

  #kick(): void {
    if (this.#closing) return;
    if (this.#flushing) {
      this.#again = true;
      return;
    }
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      }
    });
  }

  async #flush(): Promise<void> {
    const now = Date.now();
    const deletes = [...this.#deleted];
    this.#deleted.clear();
    const views: SocketView[] = [];
    for (const id of this.#dirty) {
      const session = this.#registry.get(id);
      if (session) views.push(session.view(now));
    }
    this.#dirty.clear();
    const heartbeat = this.#heartbeat;
    this.#heartbeat = false;
    if (views.length === 0 && deletes.length === 0 && !heartbeat) return;
    try {
      await inTransaction(this.#pool, async (client) => {
        if (views.length > 0) await client.query(UPSERT, upsertParams(this.node, views, now));
        if (deletes.length > 0) {
          await client.query('DELETE FROM hangar_sockets WHERE node = $1 AND id = ANY($2::text[])', [
            this.node,
            deletes,
          ]);
        }
        if (heartbeat)
          await client.query('UPDATE hangar_socket_nodes SET seen_at = now() WHERE node = $1', [this.node]);
      });
    } catch (err) {
      // Again at the next interval: rows of sockets still open, and every delete.
      for (const view of views)
        if (this.#registry.get(view.id) && !this.#deleted.has(view.id)) this.#dirty.add(view.id);
      for (const id of deletes) this.#deleted.add(id);
      if (!this.#failing) {
        this.#failing = true;
        this.#options.onNotice(
          `the socket registry in the platform database could not be written (${(err as Error).message}); other nodes list this node's sockets as they were, and it is retried every ${this.#options.syncIntervalMs / 1000} s`,
        );
      }
      return;
    }
    for (const view of views) this.#written.set(view.id, signature(view, now));
    for (const id of deletes) this.#written.delete(id);
    if (this.#failing) {
      this.#failing = false;
      this.#options.onNotice('the socket registry in the platform database is written again');
    }
  }
}

const UPSERT = `
  INSERT INTO hangar_sockets (node, id, app, service, version, protocol, destination, remote, instance,
    request, state, bytes_sent, bytes_received, opened_at, last_active_at, reclaim_at)
  SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::timestamptz[],
    $15::timestamptz[], $16::timestamptz[])
  ON CONFLICT (node, id) DO UPDATE SET instance = excluded.instance, state = excluded.state,
    bytes_sent = excluded.bytes_sent, bytes_received = excluded.bytes_received,
    last_active_at = excluded.last_active_at, reclaim_at = excluded.reclaim_at, updated_at = now()`;

function upsertParams(node: string, views: readonly SocketView[], now: number): unknown[] {
  const column = <T>(pick: (view: SocketView) => T) => views.map(pick);
  return [
    node,
    column((v) => v.id),
    column((v) => v.app),
    column((v) => v.service),
    column((v) => v.version),
    column((v) => v.protocol),
    column((v) => v.destination),
    column((v) => v.remote),
    column((v) => v.instance),
    column((v) => v.request),
    column((v) => v.state),
    column((v) => v.bytesSent),
    column((v) => v.bytesReceived),
    column((v) => v.openedAt),
    column((v) => new Date(now - v.idleMs).toISOString()),
    column((v) => new Date(now + v.reclaimInMs).toISOString()),
  ];
}
