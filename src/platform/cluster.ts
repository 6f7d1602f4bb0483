/**
 * A `serve` node's membership in a platform of several nodes on one PostgreSQL database (S16,
 * docs/scale-out.md): its name, the secrets every node must share (the admin token, so one
 * `hangar` login works on any node; the session secret, so a console or `login:` session
 * signed by one node is good on the next one the load balancer picks), and a heartbeat row
 * per node that says which nodes are alive.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HangarError } from '../shared/errors.js';
import { migratePostgres, type PgPool } from '../shared/postgres.js';

const migrations = [
  `CREATE TABLE platform_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE nodes (
    node TEXT PRIMARY KEY,
    incarnation TEXT NOT NULL,
    started TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    url TEXT NOT NULL
  );`,
];

/** A node name: what `--node` takes, and what descriptors and logs carry. */
const NODE_NAME = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

/** How often a node says it is alive, and after how long without that it counts as gone. */
export const HEARTBEAT_MS = 2_000;
export const NODE_GONE_AFTER_MS = 10_000;

/** Returns `name` when it can name a node, else throws USAGE saying what a name may be. */
export function checkNodeName(name: string): string {
  if (!NODE_NAME.test(name)) {
    throw new HangarError(
      'USAGE',
      `--node ${JSON.stringify(name)}: a node name is 1-40 lowercase letters, digits and hyphens, not starting or ending with a hyphen`,
    );
  }
  return name;
}

/**
 * This node's name: `--node` when given, else the one kept in `<data-dir>/node-name`, made
 * from the host name the first time (so a restart keeps its name).
 */
export function nodeName(dataDir: string, given: string | undefined): string {
  if (given !== undefined) return checkNodeName(given);
  const file = join(dataDir, 'node-name');
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (NODE_NAME.test(kept)) return kept;
  } catch {
    // first start
  }
  const host =
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 30) || 'node';
  const name = `${host}-${randomBytes(3).toString('hex')}`;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${name}\n`);
  return name;
}

export interface NodeView {
  node: string;
  started: string;
  lastSeen: string;
  /** The node's front end, as it said at start. */
  url: string;
  alive: boolean;
}

/** This node's row in `nodes`, kept fresh until `leave()`. */
export class ClusterMembership {
  readonly #pool: PgPool;
  readonly node: string;
  readonly #incarnation = randomBytes(8).toString('hex');
  #timer: NodeJS.Timeout | undefined;
  /** Whether the last heartbeat reached the database (the health endpoint says so). */
  databaseReachable = true;

  private constructor(pool: PgPool, node: string) {
    this.#pool = pool;
    this.node = node;
  }

  /**
   * Creates the tables when new, and refuses to join under a name a live node uses (its
   * heartbeat younger than NODE_GONE_AFTER_MS): two nodes with one name would take each
   * other's sockets and log lines for their own.
   */
  static async join(pool: PgPool, node: string): Promise<ClusterMembership> {
    await migratePostgres(pool, 'cluster', migrations);
    const membership = new ClusterMembership(pool, node);
    const { rows } = await pool.query<{ age_ms: number }>(
      `SELECT (EXTRACT(EPOCH FROM (now() - last_seen)) * 1000)::float8 AS age_ms FROM nodes WHERE node = $1`,
      [node],
    );
    const age = rows[0]?.age_ms;
    if (age !== undefined && age < NODE_GONE_AFTER_MS) {
      throw new HangarError(
        'USAGE',
        `node name '${node}' is in use by a running node (seen ${Math.round(age)} ms ago); give each node its own --node NAME`,
      );
    }
    return membership;
  }

  /** Says this node is up, at `url`, and keeps saying so every HEARTBEAT_MS. */
  async announce(url: string): Promise<void> {
    await this.#pool.query(
      `INSERT INTO nodes (node, incarnation, started, last_seen, url) VALUES ($1, $2, now(), now(), $3)
       ON CONFLICT (node) DO UPDATE SET incarnation = excluded.incarnation, started = now(), last_seen = now(), url = excluded.url`,
      [this.node, this.#incarnation, url],
    );
    const beat = async () => {
      try {
        await this.#pool.query('UPDATE nodes SET last_seen = now() WHERE node = $1 AND incarnation = $2', [
          this.node,
          this.#incarnation,
        ]);
        this.databaseReachable = true;
      } catch {
        this.databaseReachable = false;
      }
      if (this.#timer) this.#timer = setTimeout(beat, HEARTBEAT_MS).unref();
    };
    this.#timer = setTimeout(beat, HEARTBEAT_MS).unref();
  }

  /** Every node that ever joined, alive or not, by name. */
  async nodes(): Promise<NodeView[]> {
    const { rows } = await this.#pool.query<{
      node: string;
      started: Date;
      last_seen: Date;
      url: string;
      alive: boolean;
    }>(
      `SELECT node, started, last_seen, url, (now() - last_seen) < make_interval(secs => $1) AS alive
       FROM nodes ORDER BY node`,
      [NODE_GONE_AFTER_MS / 1000],
    );
    return rows.map((r) => ({
      node: r.node,
      started: r.started.toISOString(),
      lastSeen: r.last_seen.toISOString(),
      url: r.url,
      alive: r.alive,
    }));
  }

  /**
   * The platform-wide value of secret `name`: the one stored, or else `proposed` (this node's
   * own, or a new one), stored for the nodes after it. Whoever stores first wins.
   */
  async sharedSecret(name: string, proposed: string): Promise<string> {
    await this.#pool.query(
      'INSERT INTO platform_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
      [name, proposed],
    );
    const { rows } = await this.#pool.query<{ value: string }>(
      'SELECT value FROM platform_secrets WHERE name = $1',
      [name],
    );
    return rows[0]!.value;
  }

  /** Stops the heartbeat and marks the node gone at once (a clean stop). */
  async leave(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pool
      .query("UPDATE nodes SET last_seen = now() - interval '1 day' WHERE node = $1 AND incarnation = $2", [
        this.node,
        this.#incarnation,
      ])
      .catch(() => undefined);
  }
}

/**
 * Makes the data dir's `admin-token` and `session-secret` files hold the platform's shared
 * values (the first node's become everyone's), before the core reads them.
 */
export async function adoptSharedSecrets(membership: ClusterMembership, dataDir: string): Promise<void> {
  for (const [name, bytes] of [
    ['admin-token', 24],
    ['session-secret', 32],
  ] as const) {
    const file = join(dataDir, name);
    let own: string | undefined;
    try {
      own = readFileSync(file, 'utf8').trim() || undefined;
    } catch {
      // first start of this node
    }
    const shared = await membership.sharedSecret(name, own ?? randomBytes(bytes).toString('hex'));
    if (shared !== own) writeFileSync(file, `${shared}\n`, { mode: 0o600 });
  }
}
