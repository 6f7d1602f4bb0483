/**
 * The request log in PostgreSQL (SPEC S16: `serve --database postgres://...`), the same store as
 * sqlite-store.ts on the database every node of the platform shares: `request_logs` (a record
 * with the lines that came with it, as their stored JSON text, packed-lines.ts) and
 * `log_line_groups` (lines that came on their own, one row per request per write batch), with
 * their schema versioned per module (`logs`) through migratePostgres().
 *
 * Size: PostgreSQL has no cheap "live bytes" of a table (a table's files keep their size after a
 * delete until VACUUM FULL), so each row stores an estimate of what it costs, `bytes` (its text
 * in UTF-8 bytes, counted by the database, plus a fixed allowance for its header, fixed columns
 * and index entries), and `request_log_size` keeps the sums: records and bytes, spread over 16
 * rows so that nodes appending at once seldom wait on one row. Every write updates them in the
 * same statement, so the total is exact to the estimate and costs 16 rows to read. The estimate
 * counts text before TOAST compression: the store on disk is at most about that size.
 */
import type pg from 'pg';
import { HangarError } from '../shared/errors.js';
import { LOG_LEVELS } from '../shared/messages.js';
import { migratePostgres, type PgMigration, type PgPool } from '../shared/postgres.js';
import { type PackedLine, packLines, unpackLines } from './packed-lines.js';
import { DEFAULT_LIMIT, type LogStore, MAX_LIMIT, type RetentionPolicy } from './store.js';
import type { LogEntry, LogPage, LogQuery, RecordWithLines, StoredLine } from './types.js';

/** Rows of `request_log_size`: appends pick one at random. */
const SIZE_SHARDS = 16;

/**
 * Bytes a record row costs besides its text: tuple header and line pointer (~28), the fixed
 * columns (~50), and its entries in the six indexes (~120: each entry's header and pointer,
 * start_time, status). Its id is counted once more per index that holds it (5), app, service and
 * version once more for theirs.
 */
const RECORD_OVERHEAD = 200;
/** The same for a line group: header, fixed columns, its three index entries. */
const GROUP_OVERHEAD = 80;

const migrations: PgMigration[] = [
  // Request ids sort as bytes (COLLATE "C", as SQLite's BINARY): newer ids are greater, and
  // `ORDER BY request_id DESC` walks an index. Times are epoch ms. The indexes are SQLite's after
  // its 6 steps: each filter of a newest-first page (app, service, version, status) walks its own
  // index newest first and stops at the page's limit; the planner picks the narrowest from the
  // statistics (pg-store.test.ts checks the plans).
  `CREATE TABLE request_logs (
    request_id TEXT COLLATE "C" PRIMARY KEY,
    start_time BIGINT NOT NULL,
    app TEXT, service TEXT, version TEXT, instance_id TEXT,
    latency_ms DOUBLE PRECISION NOT NULL, pending_ms DOUBLE PRECISION NOT NULL,
    method TEXT NOT NULL, resource TEXT NOT NULL, http_version TEXT,
    status INTEGER NOT NULL, bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL,
    user_agent TEXT, ip TEXT, host TEXT,
    loading BOOLEAN NOT NULL, secure BOOLEAN NOT NULL, error TEXT,
    split TEXT,
    lines TEXT,
    max_level SMALLINT NOT NULL DEFAULT -1,
    bytes INTEGER NOT NULL
  );
  CREATE INDEX request_logs_start ON request_logs (start_time);
  CREATE INDEX request_logs_app ON request_logs (app, request_id);
  CREATE INDEX request_logs_service ON request_logs (service, request_id);
  CREATE INDEX request_logs_version ON request_logs (version, request_id);
  CREATE INDEX request_logs_status ON request_logs (status, request_id);
  CREATE TABLE log_line_groups (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id TEXT COLLATE "C" NOT NULL,
    time BIGINT NOT NULL,
    max_level SMALLINT NOT NULL,
    lines TEXT NOT NULL,
    bytes INTEGER NOT NULL
  );
  CREATE INDEX log_line_groups_request ON log_line_groups (request_id, max_level);
  CREATE INDEX log_line_groups_time ON log_line_groups (time);
  CREATE TABLE request_log_size (
    shard SMALLINT PRIMARY KEY,
    records BIGINT NOT NULL,
    bytes BIGINT NOT NULL
  );
  INSERT INTO request_log_size SELECT s, 0, 0 FROM generate_series(0, ${SIZE_SHARDS - 1}) s;`,
];

/** The columns of request_logs an append writes, in the order of its arrays, with their types there. */
const RECORD_COLUMNS = [
  ['request_id', 'text'],
  ['start_time', 'bigint'],
  ['app', 'text'],
  ['service', 'text'],
  ['version', 'text'],
  ['instance_id', 'text'],
  ['latency_ms', 'float8'],
  ['pending_ms', 'float8'],
  ['method', 'text'],
  ['resource', 'text'],
  ['http_version', 'text'],
  ['status', 'int4'],
  ['bytes_in', 'bigint'],
  ['bytes_out', 'bigint'],
  ['user_agent', 'text'],
  ['ip', 'text'],
  ['host', 'text'],
  ['loading', 'bool'],
  ['secure', 'bool'],
  ['error', 'text'],
  ['split', 'text'],
  ['lines', 'text'],
  ['max_level', 'int2'],
] as const;

const octets = (column: string) => `coalesce(octet_length(${column}), 0)`;

/** A record row's `bytes` (RECORD_OVERHEAD): every text column, plus the copies in indexes. */
const RECORD_BYTES = [
  String(RECORD_OVERHEAD),
  `6 * octet_length(u.request_id)`,
  ...['app', 'service', 'version'].map((c) => `2 * ${octets(`u.${c}`)}`),
  ...RECORD_COLUMNS.filter(
    ([c, type]) => type === 'text' && !['request_id', 'app', 'service', 'version'].includes(c),
  ).map(([c]) => octets(`u.${c}`)),
].join(' + ');

/**
 * One statement per batch (a single statement is atomic, and one round trip): the records as
 * arrays (unnest), replacing a record of the same id as SQLite's INSERT OR REPLACE does (journal
 * recovery), the separate lines, and the size totals (the replaced rows' bytes taken off).
 */
const APPEND = `WITH old AS (
    SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM request_logs WHERE request_id = ANY($1::text[])
  ), rec AS (
    INSERT INTO request_logs (${RECORD_COLUMNS.map(([c]) => c).join(', ')}, bytes)
    SELECT u.*, ${RECORD_BYTES}
    FROM unnest(${RECORD_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})
      AS u(${RECORD_COLUMNS.map(([c]) => c).join(', ')})
    ON CONFLICT (request_id) DO UPDATE SET ${RECORD_COLUMNS.slice(1)
      .map(([c]) => `${c} = excluded.${c}`)
      .join(', ')}, bytes = excluded.bytes
    RETURNING bytes
  ), grp AS (
    INSERT INTO log_line_groups (request_id, time, max_level, lines, bytes)
    SELECT g.request_id, g.time, g.max_level, g.lines,
      ${GROUP_OVERHEAD} + 2 * octet_length(g.request_id) + octet_length(g.lines)
    FROM unnest($24::text[], $25::bigint[], $26::int2[], $27::text[]) WITH ORDINALITY
      AS g(request_id, time, max_level, lines, n)
    ORDER BY g.n
    RETURNING bytes
  )
  UPDATE request_log_size SET
    records = records + (SELECT count(*) FROM rec) - (SELECT n FROM old),
    bytes = bytes + (SELECT coalesce(sum(bytes), 0) FROM rec) + (SELECT coalesce(sum(bytes), 0) FROM grp)
      - (SELECT b FROM old)
  WHERE shard = $28`;

/**
 * Deletes the rows of `table` that `select` selects (their ctids, with `$1`) and takes them off
 * the size totals' shard `$2`, in one statement; selects `n`, the rows deleted.
 */
const deleteAndCount = (table: 'request_logs' | 'log_line_groups', select: string) => `WITH d AS (
    DELETE FROM ${table} WHERE ctid = ANY(ARRAY(${select})) RETURNING bytes
  ), s AS (SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM d),
  u AS (
    UPDATE request_log_size SET records = records - ${table === 'request_logs' ? 's.n' : '0'}, bytes = bytes - s.b
    FROM s WHERE shard = $2
  )
  SELECT n::int AS n FROM s`;

/** Most rows deleted per statement: retention of a large backlog is many short transactions. */
const DELETE_STEP = 10_000;
const DELETE_OLD_RECORDS = deleteAndCount(
  'request_logs',
  `SELECT ctid FROM request_logs WHERE start_time < $1 LIMIT ${DELETE_STEP}`,
);
const DELETE_OLD_GROUPS = deleteAndCount(
  'log_line_groups',
  `SELECT ctid FROM log_line_groups WHERE time < $1 LIMIT ${DELETE_STEP}`,
);
const DELETE_RECORDS_UP_TO = deleteAndCount(
  'request_logs',
  'SELECT ctid FROM request_logs WHERE request_id <= $1',
);
const DELETE_GROUPS_UP_TO = deleteAndCount(
  'log_line_groups',
  'SELECT ctid FROM log_line_groups WHERE request_id <= $1',
);

/** Most records deleted per step when trimming to `maxBytes`. */
const TRIM_STEP = 1000;

/** The advisory lock one node holds while it prunes: the others skip that round. */
const PRUNE_LOCK = 0x484c4f47; // 'HLOG'

interface RecordRow {
  request_id: string;
  start_time: string;
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
  bytes_in: string;
  bytes_out: string;
  user_agent: string | null;
  ip: string | null;
  host: string | null;
  loading: boolean;
  secure: boolean;
  error: string | null;
  lines: string | null;
  split: string | null;
}

/** The columns a query reads (not `bytes`, nor `max_level`). */
const SELECTED = RECORD_COLUMNS.filter(([c]) => c !== 'max_level')
  .map(([c]) => `r.${c}`)
  .join(', ');

/**
 * {@link LogStore} on the platform's PostgreSQL database. It uses the pool it is given and does
 * not end it (open-store.ts opens and ends the pool).
 *
 * @example
 * const store = await PgLogStore.open(await openPostgres(url));
 */
export class PgLogStore implements LogStore {
  readonly #pool: PgPool;

  /** Creates or migrates the tables (HangarError DATABASE when they are newer than this Hangar). */
  static async open(pool: PgPool): Promise<PgLogStore> {
    await migratePostgres(pool, 'logs', migrations);
    return new PgLogStore(pool);
  }

  private constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async append(records: readonly RecordWithLines[], lines: readonly StoredLine[]): Promise<void> {
    if (records.length === 0 && lines.length === 0) return;
    // One statement cannot update a row twice: of two records with one id the last wins, as
    // with SQLite's INSERT OR REPLACE in order.
    const byId = new Map<string, RecordWithLines>();
    for (const r of records) byId.set(r.requestId, r);
    const columns: unknown[][] = RECORD_COLUMNS.map(() => []);
    for (const r of byId.values()) {
      const stored = r.storedLines ?? (r.lines && r.lines.length > 0 ? packLines(r.lines) : undefined);
      const values = [
        text(r.requestId),
        Date.parse(r.startTime),
        text(r.appId),
        text(r.service),
        text(r.version),
        text(r.instanceId),
        r.latencyMs,
        r.pendingMs,
        text(r.method),
        text(r.resource),
        text(r.httpVersion),
        r.status,
        r.bytesIn,
        r.bytesOut,
        text(r.userAgent),
        text(r.ip),
        text(r.host),
        r.loadingRequest,
        r.secure,
        text(r.error),
        text(r.split),
        stored ? jsonText(stored.json) : null,
        stored ? stored.maxLevel : -1,
      ];
      for (let i = 0; i < values.length; i++) columns[i]!.push(values[i]);
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
    const groupIds: string[] = [];
    const groupTimes: number[] = [];
    const groupLevels: number[] = [];
    const groupLines: string[] = [];
    for (const [requestId, g] of groups) {
      groupIds.push(text(requestId));
      groupTimes.push(g.time);
      groupLevels.push(g.maxLevel);
      groupLines.push(jsonText(JSON.stringify(g.lines)));
    }
    try {
      await this.#pool.query(APPEND, [...columns, groupIds, groupTimes, groupLevels, groupLines, shard()]);
    } catch (err) {
      throw failed('write the request log to', err);
    }
  }

  async query(q: LogQuery): Promise<LogPage> {
    const { sql, params, limit } = pgRecordsQuery(q);
    try {
      const rows = (await this.#pool.query<RecordRow>(sql, params)).rows;
      const more = rows.length > limit;
      if (more) rows.pop();
      rows.reverse();
      const entries = rows.map(toEntry);
      if (entries.length > 0) {
        const byId = new Map(entries.map((e) => [e.requestId, e]));
        const groups = await this.#pool.query<{ request_id: string; lines: string }>(
          'SELECT request_id, lines FROM log_line_groups WHERE request_id = ANY($1::text[]) ORDER BY id',
          [entries.map((e) => e.requestId)],
        );
        for (const g of groups.rows) byId.get(g.request_id)?.lines.push(...unpackLines(g.lines));
      }
      return { entries, next: more ? (entries[0]?.requestId ?? null) : null };
    } catch (err) {
      throw failed('read the request log from', err);
    }
  }

  async prune(policy: RetentionPolicy, now = Date.now()): Promise<number> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw failed('prune the request log in', err);
    }
    try {
      // One node prunes at a time; the others find the lock taken and leave it to that one.
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [PRUNE_LOCK]);
      if (!lock.rows[0]?.ok) return 0;
      try {
        return await this.#prune(client, policy, now);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [PRUNE_LOCK]);
      }
    } catch (err) {
      throw failed('prune the request log in', err);
    } finally {
      client.release();
    }
  }

  async #prune(client: pg.PoolClient, policy: RetentionPolicy, now: number): Promise<number> {
    const cutoff = now - policy.maxAgeMs;
    const step = async (sql: string, param: string | number) =>
      (await client.query<{ n: number }>(sql, [param, shard()])).rows[0]?.n ?? 0;
    let deleted = 0;
    for (let n = DELETE_STEP; n === DELETE_STEP; deleted += n) n = await step(DELETE_OLD_RECORDS, cutoff);
    for (let n = DELETE_STEP; n === DELETE_STEP; ) n = await step(DELETE_OLD_GROUPS, cutoff);
    // Size: the stored estimate (see the top of this file), oldest records first with their
    // lines, each step as many as take the total under maxBytes, at most TRIM_STEP.
    for (;;) {
      const total = await client.query<{ records: string; bytes: string }>(
        'SELECT sum(records) AS records, sum(bytes) AS bytes FROM request_log_size',
      );
      const records = Number(total.rows[0]?.records ?? 0);
      const excess = Number(total.rows[0]?.bytes ?? 0) - policy.maxBytes;
      if (excess <= 0 || records <= 0) break;
      const oldest = await client.query<{ request_id: string; bytes: string }>(
        `SELECT r.request_id, r.bytes + coalesce((SELECT sum(g.bytes) FROM log_line_groups g WHERE g.request_id = r.request_id), 0) AS bytes
         FROM request_logs r ORDER BY r.request_id LIMIT ${TRIM_STEP}`,
      );
      let last: string | undefined;
      let freed = 0;
      for (const row of oldest.rows) {
        last = row.request_id;
        freed += Number(row.bytes);
        if (freed >= excess) break;
      }
      if (last === undefined) break;
      const n = await step(DELETE_RECORDS_UP_TO, last);
      await step(DELETE_GROUPS_UP_TO, last);
      deleted += n;
      if (n === 0) break;
    }
    return deleted;
  }

  /** Of `ids`, those the store has a record of (open-store.ts, for the journal's recovery). */
  async storedIds(ids: readonly string[]): Promise<Set<string>> {
    try {
      const found = await this.#pool.query<{ request_id: string }>(
        'SELECT request_id FROM request_logs WHERE request_id = ANY($1::text[])',
        [ids],
      );
      return new Set(found.rows.map((r) => r.request_id));
    } catch (err) {
      throw failed('read the request log from', err);
    }
  }

  async close(): Promise<void> {
    // The pool belongs to whoever opened it (open-store.ts); it ends it.
  }
}

/**
 * The SQL of {@link PgLogStore.query} for `q` (the records; their separate lines are read
 * after), its parameters, and the page size (the SQL asks one more, to know whether there is a
 * next page). Exported for the plans: pg-store.test.ts EXPLAINs it.
 */
export function pgRecordsQuery(q: LogQuery): { sql: string; params: Array<string | number>; limit: number } {
  const where: string[] = [];
  const params: Array<string | number> = [];
  const add = (sql: (p: string) => string, value: string | number | undefined) => {
    if (value === undefined) return;
    // As the values were written: a NUL (no PostgreSQL text holds one) is U+FFFD there too.
    params.push(typeof value === 'string' ? text(value) : value);
    where.push(sql(`$${params.length}`));
  };
  add((p) => `r.app = ${p}`, q.app);
  add((p) => `r.service = ${p}`, q.service);
  add((p) => `r.version = ${p}`, q.version);
  add((p) => `r.request_id = ${p}`, q.requestId);
  add((p) => `r.start_time >= ${p}`, q.since);
  add((p) => `r.start_time < ${p}`, q.until);
  add((p) => `r.status = ${p}`, q.status);
  add((p) => `r.request_id < ${p}`, q.cursor);
  add(
    (p) =>
      `(r.max_level >= ${p} OR EXISTS (SELECT 1 FROM log_line_groups g WHERE g.request_id = r.request_id AND g.max_level >= ${p}))`,
    q.minLevel === undefined ? undefined : LOG_LEVELS.indexOf(q.minLevel),
  );
  // Every message of every run (packed-lines.ts): a run's elements from the third on.
  const messages = (json: string, p: string) =>
    `SELECT 1 FROM json_array_elements(${json}::json) j, json_array_elements_text(j) WITH ORDINALITY m(v, k) WHERE m.k > 2 AND strpos(m.v, ${p}) > 0`;
  add(
    (p) =>
      `(strpos(r.resource, ${p}) > 0 OR EXISTS (${messages('r.lines', p)}) OR EXISTS (SELECT 1 FROM log_line_groups g WHERE g.request_id = r.request_id AND EXISTS (${messages('g.lines', p)})))`,
    q.text,
  );
  const limit = Math.min(Math.max(1, q.limit ?? DEFAULT_LIMIT), MAX_LIMIT);
  params.push(limit + 1);
  const sql = `SELECT ${SELECTED} FROM request_logs r ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY r.request_id DESC LIMIT $${params.length}`;
  return { sql, params, limit };
}

function toEntry(r: RecordRow): LogEntry {
  return {
    requestId: r.request_id,
    appId: r.app,
    service: r.service,
    version: r.version,
    instanceId: r.instance_id,
    startTime: new Date(Number(r.start_time)).toISOString(),
    latencyMs: r.latency_ms,
    pendingMs: r.pending_ms,
    method: r.method,
    resource: r.resource,
    httpVersion: r.http_version,
    status: r.status,
    bytesIn: Number(r.bytes_in),
    bytesOut: Number(r.bytes_out),
    userAgent: r.user_agent,
    ip: r.ip,
    host: r.host,
    loadingRequest: r.loading,
    secure: r.secure,
    error: r.error,
    split: r.split,
    lines: r.lines ? unpackLines(r.lines) : [],
  };
}

/** The size totals' row this statement updates. */
function shard(): number {
  return Math.floor(Math.random() * SIZE_SHARDS);
}

/**
 * `value` as PostgreSQL text can hold it: text cannot hold NUL, which becomes U+FFFD (SQLite
 * keeps it; no Hangar value has one but an app's message, which is stored as JSON).
 */
function text<T extends string | null>(value: T): T {
  return (value?.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value) as T;
}

/**
 * JSON text as PostgreSQL's json functions can read it (the text filter unescapes every
 * message): `\u0000` and an escaped lone surrogate (JSON.stringify writes one for a string cut
 * in the middle of a pair) fail there, so they become `\ufffd`, what the UTF-8 of either would
 * show. Anything else is left as it came; nearly all text has no `\u` and is returned as it is.
 */
export function jsonText(json: string): string {
  if (json.indexOf('\\u') === -1) return json;
  let out = '';
  let from = 0;
  for (let i = json.indexOf('\\'); i !== -1 && i < json.length; i = json.indexOf('\\', i)) {
    if (json[i + 1] !== 'u') {
      i += 2; // `\\`, `\"`, `\n`...: the escaped character is not the start of another escape
      continue;
    }
    const code = Number.parseInt(json.slice(i + 2, i + 6), 16);
    const high = code >= 0xd800 && code <= 0xdbff;
    const low = code >= 0xdc00 && code <= 0xdfff;
    if (high) {
      const next =
        json[i + 6] === '\\' && json[i + 7] === 'u' ? Number.parseInt(json.slice(i + 8, i + 12), 16) : -1;
      if (next >= 0xdc00 && next <= 0xdfff) {
        i += 12;
        continue;
      }
    }
    if (code === 0 || high || low) {
      out += `${json.slice(from, i)}\\ufffd`;
      from = i + 6;
    }
    i += 6;
  }
  return from === 0 ? json : out + json.slice(from);
}

/** A database error as HangarError DATABASE, saying what the store was doing. */
function failed(action: string, err: unknown): Error {
  if (err instanceof HangarError) return err;
  return new HangarError(
    'DATABASE',
    `cannot ${action} the platform database (PostgreSQL): ${(err as Error).message}`,
    { cause: err },
  );
}
