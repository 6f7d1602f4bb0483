/**
 * The PostgreSQL server the postgres scenario runs `hangar serve --database` on: a fresh
 * database per `hangar serve` (as a fresh data dir is for SQLite), made with CREATE DATABASE by
 * the role of BENCH_POSTGRES_URL (default: the role `.ci/run` makes, as the tests use:
 * test/helpers/postgres.ts) and dropped when that `hangar serve` stops, or by
 * dropAllBenchDatabases() when the suite is interrupted. Loopback only, like the rest of the suite.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import pg from 'pg';
import { redactUrl } from '../src/shared/postgres.js';
import type { CpuProcess } from './cpu.js';

const DEFAULT_URL = 'postgres://hangar:hangar@127.0.0.1:5432/postgres';

/** BENCH_POSTGRES_URL (a role that may create databases), checked to be on loopback. */
export function postgresServerUrl(): string {
  const url = process.env.BENCH_POSTGRES_URL || DEFAULT_URL;
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    throw new Error(`BENCH_POSTGRES_URL ${redactUrl(url)}: not a URL like ${DEFAULT_URL}`);
  }
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback)
    throw new Error(`BENCH_POSTGRES_URL ${redactUrl(url)}: the suite runs on loopback only (127.0.0.1, ::1)`);
  return url;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = postgresServerUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `no PostgreSQL at BENCH_POSTGRES_URL ${redactUrl(url)} (${(err as Error).message}): start one ` +
        "(pg_ctlcluster 15 main start; CREATE ROLE hangar LOGIN PASSWORD 'hangar' CREATEDB) or set " +
        'BENCH_POSTGRES_URL to a role that may create databases',
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface BenchDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  name: string;
  /** Drops it (closing what still connects to it). */
  drop(): Promise<void>;
}

/** Databases made and not yet dropped. */
const made = new Set<string>();

async function dropDatabase(name: string): Promise<void> {
  await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  made.delete(name);
}

/** An empty database `hangar_bench_<hex>` on the BENCH_POSTGRES_URL server. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `hangar_bench_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  made.add(name);
  const url = new URL(postgresServerUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => dropDatabase(name) };
}

/** Drops every database the suite made and still has (the suite is interrupted or failed). */
export async function dropAllBenchDatabases(): Promise<void> {
  for (const name of [...made]) await dropDatabase(name).catch(() => undefined);
}

let version: Promise<string> | undefined;

/** The server's version, e.g. `15.10`. */
export function postgresVersion(): Promise<string> {
  version ??= admin((client) => client.query<{ server_version: string }>('SHOW server_version')).then(
    (r) => r.rows[0]?.server_version.split(' ')[0] ?? 'unknown version',
  );
  return version;
}

/** The server's processes serving `database` (its backends: one per connection of the platform's pools). */
export async function backendProcesses(database: string): Promise<CpuProcess[]> {
  const { rows } = await admin((client) =>
    client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]),
  );
  return rows.map((r) => ({ pid: r.pid, label: 'PostgreSQL backends' }));
}

/** Where the PostgreSQL logging check counts: the request log's tables in `url` (src/logs/pg-store.ts). */
export async function countLogLines(url: string): Promise<{ records: number; lines: number }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    // As the SQLite count (logging.ts): every message of every run, a run's entries from the
    // third on (ordinality 3: time and level first), of the /log requests, under its own request.
    const lines = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (
         SELECT r.request_id AS id, m.value AS message
           FROM request_logs r, jsonb_array_elements(r.lines::jsonb) j(value),
             jsonb_array_elements_text(j.value) WITH ORDINALITY m(value, i)
           WHERE r.resource = '/log' AND m.i >= 3
         UNION ALL
         SELECT g.request_id, m.value
           FROM log_line_groups g JOIN request_logs r ON g.request_id = r.request_id,
             jsonb_array_elements(g.lines::jsonb) j(value),
             jsonb_array_elements_text(j.value) WITH ORDINALITY m(value, i)
           WHERE r.resource = '/log' AND m.i >= 3
       ) s WHERE message LIKE 'bench line %' AND message LIKE '% of ' || id`,
    );
    const records = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM request_logs WHERE resource = '/log'",
    );
    return { records: records.rows[0]!.n, lines: lines.rows[0]!.n };
  } finally {
    await client.end().catch(() => undefined);
  }
}
