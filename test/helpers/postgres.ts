/**
 * A fresh PostgreSQL database per test file, on the server `.ci/run` starts (Debian's
 * postgresql package): `HANGAR_TEST_POSTGRES_URL` names a role that may create databases.
 * Without it, the default is the role `.ci/run` creates on 127.0.0.1:5432. When no server
 * answers, the test fails and says how to start one: PostgreSQL tests are never skipped.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server and role tests create their databases with. */
export const TEST_POSTGRES_URL =
  process.env.HANGAR_TEST_POSTGRES_URL ?? 'postgres://hangar:hangar@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  name: string;
  /** Drops the database (closing what still connects to it). */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL tests need a server: ${TEST_POSTGRES_URL} refused (${(err as Error).message}). ` +
        'Run .ci/run, or start one (pg_ctlcluster 15 main start; CREATE ROLE hangar LOGIN PASSWORD ' +
        "'hangar' CREATEDB) or set HANGAR_TEST_POSTGRES_URL to a role that may create databases.",
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database named `hangar_test_<hex>`.
 *
 * @example
 * const db = await createTestDatabase();
 * afterAll(() => db.drop());
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `hangar_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () =>
      admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
