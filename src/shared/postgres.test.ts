/** migratePostgres and the --database URL checks, on a real PostgreSQL (test/helpers/postgres.ts). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { checkDatabaseUrl, migratePostgres, openPostgres, type PgPool, redactUrl } from './postgres.js';

describe('the --database URL', () => {
  it('takes postgres:// and postgresql:// URLs naming a database', () => {
    expect(checkDatabaseUrl('postgres://u:p@127.0.0.1:5432/hangar')).toBe(
      'postgres://u:p@127.0.0.1:5432/hangar',
    );
    expect(checkDatabaseUrl('postgresql://127.0.0.1/hangar')).toBe('postgresql://127.0.0.1/hangar');
  });

  it('refuses other schemes, no database, and text that is no URL, never repeating the password', () => {
    expect(() => checkDatabaseUrl('mysql://u:secret@h/db')).toThrow(/must be a postgres:\/\/ URL/);
    expect(() => checkDatabaseUrl('postgres://u:secret@127.0.0.1:5432')).toThrow(/names no database/);
    expect(() => checkDatabaseUrl('postgres://u:secret@127.0.0.1:5432')).not.toThrow(/secret/);
    expect(() => checkDatabaseUrl('hangar.db')).toThrow(/must be a PostgreSQL URL/);
    expect(redactUrl('postgres://u:secret@h:1/db')).toBe('postgres://u:***@h:1/db');
  });

  it('names the database it cannot reach, without the password', async () => {
    // Port 1 on loopback: nothing listens there.
    const error = await openPostgres('postgres://u:secret@127.0.0.1:1/db').catch((err: Error) => err);
    expect(error).toMatchObject({ code: 'HANGAR_E_DATABASE' });
    expect((error as Error).message).toContain('postgres://u:***@127.0.0.1:1/db');
    expect((error as Error).message).not.toContain('secret');
  });
});

describe('migratePostgres', () => {
  let database: TestDatabase;
  const pools: PgPool[] = [];
  const pool = async () => {
    const opened = await openPostgres(database.url, { max: 2 });
    pools.push(opened);
    return opened;
  };
  beforeEach(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    await database.drop();
  });

  it('runs each step once, in order, and records the version per module', async () => {
    const db = await pool();
    const steps = ['CREATE TABLE t (a INT)', 'ALTER TABLE t ADD COLUMN b INT'];
    await migratePostgres(db, 'm', steps);
    await migratePostgres(db, 'm', steps);
    await migratePostgres(db, 'm', [...steps, 'INSERT INTO t (a, b) VALUES (1, 2)']);
    expect((await db.query('SELECT a, b FROM t')).rows).toEqual([{ a: 1, b: 2 }]);
    expect((await db.query('SELECT module, version FROM hangar_schema_versions')).rows).toEqual([
      { module: 'm', version: 3 },
    ]);
  });

  it('migrates once when two nodes start together', async () => {
    const [a, b] = [await pool(), await pool()];
    const steps = ['CREATE TABLE once (a INT)', 'INSERT INTO once VALUES (1)'];
    await Promise.all([migratePostgres(a, 'm', steps), migratePostgres(b, 'm', steps)]);
    expect((await a.query('SELECT count(*)::int AS n FROM once')).rows[0]).toEqual({ n: 1 });
  });

  it('refuses a database a newer Hangar migrated, saying what to do', async () => {
    const db = await pool();
    await migratePostgres(db, 'm', ['CREATE TABLE t (a INT)', 'SELECT 1', 'SELECT 2']);
    const error = await migratePostgres(db, 'm', ['CREATE TABLE t (a INT)']).catch((err: Error) => err);
    expect(error).toMatchObject({ code: 'HANGAR_E_DATABASE' });
    expect((error as Error).message).toMatch(
      /schema version 3, newer than this Hangar knows \(1\); upgrade Hangar/,
    );
  });

  it('rolls a failed step back whole and names it', async () => {
    const db = await pool();
    const error = await migratePostgres(db, 'm', ['CREATE TABLE t (a INT); CREATE TABLE t (a INT)']).catch(
      (err: Error) => err,
    );
    expect((error as Error).message).toMatch(/migrating the m tables to schema version 1 failed/);
    expect((await db.query("SELECT to_regclass('t') AS t")).rows[0]).toEqual({ t: null });
  });
});
