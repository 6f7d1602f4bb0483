/**
 * The request log in SQLite (`request_logs` and `log_line_groups` in `<data-dir>/hangar.db`, WAL):
 * statements prepared once (query shapes cached by their SQL), schema versioned through
 * migrate(), indexes that match the queries of store.ts. Lines are their own rows keyed by
 * request id, so a line arriving before or after its record lands the same way.
 */
import { type Db, migrate } from '../shared/database.js';
import { LOG_LEVELS, type LogLevel } from '../shared/messages.js';
import { type PackedLine, packLines, unpackLines } from './packed-lines.js';
import { DEFAULT_LIMIT, type LogStore, MAX_LIMIT, type RetentionPolicy } from './store.js';
import type { LogEntry, LogPage, LogQuery, RecordWithLines, StoredLine } from './types.js';

const migrations = [
  `CREATE TABLE request_logs (
    request_id TEXT PRIMARY KEY,
    start_time INTEGER NOT NULL,
    app TEXT, service TEXT, version TEXT, instance_id TEXT,
    latency_ms REAL NOT NULL, pending_ms REAL NOT NULL,
    method TEXT NOT NULL, resource TEXT NOT NULL, http_version TEXT,
    status INTEGER NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
    user_agent TEXT, ip TEXT, host TEXT,
    loading INTEGER NOT NULL, secure INTEGER NOT NULL, error TEXT
  ) WITHOUT ROWID;
  CREATE INDEX request_logs_start ON request_logs (start_time);
  CREATE INDEX request_logs_service ON request_logs (service, version, request_id);
  CREATE INDEX request_logs_status ON request_logs (status, request_id);
  CREATE TABLE log_lines (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    level INTEGER NOT NULL,
    message TEXT NOT NULL
  );
  CREATE INDEX log_lines_request ON log_lines (request_id, level);
  CREATE INDEX log_lines_time ON log_lines (time);`,
  // One row per request per write batch instead of one per line: a request's lines nearly always
  // arrive together, and a row with its indexes costs about as much as ten lines of JSON (the
  // logging benchmark lost a quarter of its throughput to per-line inserts).
  `CREATE TABLE log_line_groups (
    id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    max_level INTEGER NOT NULL,
    lines TEXT NOT NULL
  );
  INSERT INTO log_line_groups (request_id, time, max_level, lines)
    SELECT request_id, min(time), max(level), json_group_array(json_array(time, level, message))
    FROM (SELECT * FROM log_lines ORDER BY id) GROUP BY request_id;
  DROP TABLE log_lines;
  CREATE INDEX log_line_groups_request ON log_line_groups (request_id, max_level);
  CREATE INDEX log_line_groups_time ON log_line_groups (time);`,
  // A record keeps the lines that came with it (nearly all of them): the same single insert
  // whether a request logged nothing or ten lines. Late lines still go to log_line_groups.
  `ALTER TABLE request_logs ADD COLUMN lines TEXT;
  ALTER TABLE request_logs ADD COLUMN max_level INTEGER NOT NULL DEFAULT -1;`,
  // Several apps share one serve and each reads only its own log (S11): `app = ?` (also with a
  // service, or a time range) walks the app's rows newest first in index order and stops at the
  // page's limit, no sort. With service and version, or a status, the planner takes that index
  // instead and checks the app on its rows (sqlite-store.test.ts checks the plans).
  'CREATE INDEX request_logs_app ON request_logs (app, request_id);',
  // The traffic split that picked the version (S11), in `hangar versions split`'s syntax; NULL
  // when none did, and for the rows written before it was kept.
  'ALTER TABLE request_logs ADD COLUMN split TEXT;',
  // A service or a version alone walks its own index newest first and stops at the page's limit,
  // as an app does. With (service, version, request_id) alone, at 10 million records (the
  // logstore benchmark) `service = ?` sorted all of the service's rows (4 to 12 s) and
  // `version = ?` walked the table newest first until it had a page (85 ms to 1 s, the older
  // the version the longer). Both together take the version's index and check the service on
  // its rows: a version is one deploy of one service. recordsQuery() says which index an app, a
  // service and a version leave to the others (sqlite-store.test.ts checks the plans). Building
  // the two indexes took 18 s for 11 million records on the benchmark machine (once, at start).
  `DROP INDEX IF EXISTS request_logs_service;
  CREATE INDEX request_logs_service ON request_logs (service, request_id);
  CREATE INDEX request_logs_version ON request_logs (version, request_id);`,
];

interface RecordRow {
  request_id: string;
  start_time: number;
  app: string | null;
  service: string | null;
  version: string | null;
  instance_id: string | null;
  latency_ms: number;
  pending_ms: number;
  method: string;
  resource: string;
  http_version: string | null;
  status: number;
  bytes_in: number;
  bytes_out: number;
  user_agent: string | null;
  ip: string | null;
  host: string | null;
  loading: number;
  secure: number;
  error: string | null;
  lines: string | null;
  max_level: number;
  split: string | null;
}

interface LineGroupRow {
  request_id: string;
  lines: string;
}

/** Most entries deleted per step when trimming to `maxBytes` (a tenth of them, so it stops near the size). */
const TRIM_STEP = 1000;

/** {@link LogStore} on the platform database. */
export class SqliteLogStore implements LogStore {
  readonly #db: Db;
  readonly #insertRecord;
  readonly #insertLine;
  readonly #linesOf;
  readonly #deleteOld;
  readonly #deleteOldLines;
  readonly #nthOldestId;
  readonly #deleteUpTo;
  readonly #deleteLinesUpTo;
  readonly #count;
  readonly #queries = new Map<string, ReturnType<Db['prepare']>>();

  /**
   * @example
   * const store = new SqliteLogStore(openDatabase(dataDir));
   */
  constructor(db: Db) {
    this.#db = db;
    migrate(db, 'logs', migrations);
    this.#insertRecord = db.prepare(
      // Positional (in the columns' order, migrations' added ones last): binding 23 named
      // parameters from an object costs more than the insert's B-tree work.
      'INSERT OR REPLACE INTO request_logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#insertLine = db.prepare(
      'INSERT INTO log_line_groups (request_id, time, max_level, lines) VALUES (?, ?, ?, ?)',
    );
    this.#linesOf = db.prepare(
      'SELECT request_id, lines FROM log_line_groups WHERE request_id IN (SELECT value FROM json_each(?)) ORDER BY id',
    );
    this.#deleteOld = db.prepare('DELETE FROM request_logs WHERE start_time < ?');
    this.#deleteOldLines = db.prepare('DELETE FROM log_line_groups WHERE time < ?');
    this.#nthOldestId = db
      .prepare('SELECT request_id FROM request_logs ORDER BY request_id LIMIT 1 OFFSET ?')
      .pluck();
    this.#count = db.prepare('SELECT COUNT(*) FROM request_logs').pluck();
    this.#deleteUpTo = db.prepare('DELETE FROM request_logs WHERE request_id <= ?');
    this.#deleteLinesUpTo = db.prepare('DELETE FROM log_line_groups WHERE request_id <= ?');
  }

  async append(records: readonly RecordWithLines[], lines: readonly StoredLine[]): Promise<void> {
    if (records.length === 0 && lines.length === 0) return;
    this.#db.transaction(() => {
      for (const r of records) {
        // Lines that came as the stored JSON are written as they came (packed-lines.ts).
        const stored = r.storedLines ?? (r.lines && r.lines.length > 0 ? packLines(r.lines) : undefined);
        this.#insertRecord.run(
          r.requestId,
          Date.parse(r.startTime),
          r.appId,
          r.service,
          r.version,
          r.instanceId,
          r.latencyMs,
          r.pendingMs,
          r.method,
          r.resource,
          r.httpVersion,
          r.status,
          r.bytesIn,
          r.bytesOut,
          r.userAgent,
          r.ip,
          r.host,
          r.loadingRequest ? 1 : 0,
          r.secure ? 1 : 0,
          r.error,
          stored ? stored.json : null,
          stored ? stored.maxLevel : -1,
          r.split,
        );
      }
      const groups = new Map<string, { time: number; maxLevel: number; lines: PackedLine[] }>();
      for (const l of lines) {
        const time = l.epochMs ?? Date.parse(l.time);
        const level = LOG_LEVELS.indexOf(l.level);
        const group = groups.get(l.requestId);
        if (group) {
          group.lines.push([time, level, l.message]);
          group.maxLevel = Math.max(group.maxLevel, level);
        } else {
          groups.set(l.requestId, { time, maxLevel: level, lines: [[time, level, l.message]] });
        }
      }
      for (const [requestId, g] of groups) {
        this.#insertLine.run(requestId, g.time, g.maxLevel, JSON.stringify(g.lines));
      }
    })();
  }

  async query(q: LogQuery): Promise<LogPage> {
    const { sql, params, limit } = recordsQuery(q);
    let statement = this.#queries.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#queries.set(sql, statement);
    }
    const rows = statement.all(params) as RecordRow[];
    const more = rows.length > limit;
    if (more) rows.pop();
    rows.reverse();
    const entries = rows.map(toEntry);
    const byId = new Map(entries.map((e) => [e.requestId, e]));
    if (entries.length > 0) {
      const groups = this.#linesOf.all(JSON.stringify(entries.map((e) => e.requestId))) as LineGroupRow[];
      for (const g of groups) {
        const entry = byId.get(g.request_id);
        if (!entry) continue;
        entry.lines.push(...unpackLines(g.lines));
      }
    }
    return { entries, next: more ? (entries[0]?.requestId ?? null) : null };
  }

  async prune(policy: RetentionPolicy, now = Date.now()): Promise<number> {
    const cutoff = now - policy.maxAgeMs;
    let deleted = this.#db.transaction(() => {
      const n = this.#deleteOld.run(cutoff).changes;
      this.#deleteOldLines.run(cutoff);
      return n;
    })();
    // Size: the database's live pages. Freed pages are reused by later writes, so this is what grows.
    if (this.#liveBytes() <= policy.maxBytes) return deleted;
    // Counted once: a count walks a whole index (10 ms at a million rows), which once per step
    // made trimming 100 MB take a second.
    let count = this.#count.get() as number;
    while (count > 0 && this.#liveBytes() > policy.maxBytes) {
      const last = this.#nthOldestId.get(Math.min(TRIM_STEP, Math.ceil(count / 10), count) - 1) as
        | string
        | undefined;
      if (last === undefined) break;
      const n = this.#db.transaction(() => {
        const n = this.#deleteUpTo.run(last).changes;
        this.#deleteLinesUpTo.run(last);
        return n;
      })();
      deleted += n;
      count -= n;
      // Between steps the thread's other work runs (the writer's batches, queries): trimming a
      // burst of writes is many short transactions, not one long stall.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return deleted;
  }

  #liveBytes(): number {
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const free = this.#db.pragma('freelist_count', { simple: true }) as number;
    const size = this.#db.pragma('page_size', { simple: true }) as number;
    return (pages - free) * size;
  }

  async close(): Promise<void> {
    // The database belongs to the platform (shared with metering); it closes it.
  }
}

/**
 * The SQL of {@link SqliteLogStore.query} for `q` (the records; their late lines are read after),
 * its parameters, and the page size (the SQL asks one more, to know whether there is a next page).
 * Exported for the plans: sqlite-store.test.ts and the logstore benchmark EXPLAIN it.
 */
export function recordsQuery(q: LogQuery): {
  sql: string;
  params: Record<string, string | number>;
  limit: number;
} {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  const add = (sql: string, name: string, value: string | number | undefined) => {
    if (value === undefined) return;
    where.push(sql);
    params[name] = value;
  };
  // The narrowest of app, service and version walks its index; the others are checked on its
  // rows (a unary + makes the same comparison, but not an index term). A version is narrower
  // than an app, and an app than a service (every app has its `default`).
  add(q.version === undefined ? 'r.app = @app' : '+r.app = @app', 'app', q.app);
  add(
    q.version === undefined && q.app === undefined ? 'r.service = @service' : '+r.service = @service',
    'service',
    q.service,
  );
  add('r.version = @version', 'version', q.version);
  add('r.request_id = @requestId', 'requestId', q.requestId);
  add('r.start_time >= @since', 'since', q.since);
  add('r.start_time < @until', 'until', q.until);
  add('r.status = @status', 'status', q.status);
  add('r.request_id < @cursor', 'cursor', q.cursor);
  add(
    '(r.max_level >= @minLevel OR EXISTS (SELECT 1 FROM log_line_groups g WHERE g.request_id = r.request_id AND g.max_level >= @minLevel))',
    'minLevel',
    q.minLevel === undefined ? undefined : LOG_LEVELS.indexOf(q.minLevel),
  );
  add(
    // Every message of every run (packed-lines.ts): a run's entries from the third on.
    '(instr(r.resource, @text) > 0 OR EXISTS (SELECT 1 FROM json_each(r.lines) j, json_each(j.value) m WHERE m.key >= 2 AND instr(m.value, @text) > 0) OR EXISTS (SELECT 1 FROM log_line_groups g, json_each(g.lines) j, json_each(j.value) m WHERE g.request_id = r.request_id AND m.key >= 2 AND instr(m.value, @text) > 0))',
    'text',
    q.text,
  );
  const limit = Math.min(Math.max(1, q.limit ?? DEFAULT_LIMIT), MAX_LIMIT);
  params.limit = limit + 1;
  const sql = `SELECT r.* FROM request_logs r ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.request_id DESC LIMIT @limit`;
  return { sql, params, limit };
}

function toEntry(r: RecordRow): LogEntry {
  return {
    requestId: r.request_id,
    appId: r.app,
    service: r.service,
    version: r.version,
    instanceId: r.instance_id,
    startTime: new Date(r.start_time).toISOString(),
    latencyMs: r.latency_ms,
    pendingMs: r.pending_ms,
    method: r.method,
    resource: r.resource,
    httpVersion: r.http_version,
    status: r.status,
    bytesIn: r.bytes_in,
    bytesOut: r.bytes_out,
    userAgent: r.user_agent,
    ip: r.ip,
    host: r.host,
    loadingRequest: r.loading === 1,
    secure: r.secure === 1,
    error: r.error,
    split: r.split,
    lines: r.lines ? unpackLines(r.lines) : [],
  };
}

/** The level names, for parsing `--min-level`. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}
