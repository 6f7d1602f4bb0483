import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Db, migrate, openDatabase, PAGE_SIZE } from './database.js';

describe('openDatabase / migrate', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-db-'));
    db = openDatabase(join(dir, 'nested'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates <data-dir>/hangar.db in WAL mode with 32 KiB pages', () => {
    expect(existsSync(join(dir, 'nested', 'hangar.db'))).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('page_size', { simple: true })).toBe(PAGE_SIZE);
  });

  it('opens a database made with another page size as it is, data and all', () => {
    const older = join(dir, 'older');
    mkdirSync(older);
    const made = new Database(join(older, 'hangar.db'));
    made.pragma('page_size = 4096');
    made.pragma('journal_mode = WAL');
    made.exec("CREATE TABLE kept (x TEXT); INSERT INTO kept VALUES ('row')");
    made.close();
    const reopened = openDatabase(older);
    expect(reopened.pragma('page_size', { simple: true })).toBe(4096);
    expect(reopened.prepare('SELECT x FROM kept').all()).toEqual([{ x: 'row' }]);
    reopened.close();
  });

  it('runs each module’s new steps once and records its version', () => {
    const steps = ['CREATE TABLE t (x INTEGER)', (d: Db) => d.exec('INSERT INTO t VALUES (1)')];
    migrate(db, 'a', steps);
    migrate(db, 'a', steps);
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 1 });
    migrate(db, 'a', [...steps, 'INSERT INTO t VALUES (2)']);
    expect(db.prepare('SELECT COUNT(*) AS n FROM t').get()).toEqual({ n: 2 });
    migrate(db, 'b', ['CREATE TABLE u (y TEXT)']);
    expect(db.prepare('SELECT module, version FROM schema_versions ORDER BY module').all()).toEqual([
      { module: 'a', version: 3 },
      { module: 'b', version: 1 },
    ]);
  });

  it('rolls a failing step back together with its version', () => {
    expect(() => migrate(db, 'c', ['CREATE TABLE v (x)', 'INSERT INTO missing VALUES (1)'])).toThrow();
    expect(db.prepare("SELECT version FROM schema_versions WHERE module = 'c'").get()).toEqual({
      version: 1,
    });
  });

  it('refuses a database from a newer Hangar, saying what to do', () => {
    migrate(db, 'd', ['CREATE TABLE w (x)', 'CREATE TABLE w2 (x)']);
    expect(() => migrate(db, 'd', ['CREATE TABLE w (x)'])).toThrow(
      /schema version 2, newer than this Hangar knows \(1\); upgrade Hangar/,
    );
  });
});
