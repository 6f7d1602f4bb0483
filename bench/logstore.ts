/**
 * The log store scenario (issue 21): the request log's SQLite store, opened as the log worker
 * opens it (`openLogStore` on a data dir, here a temp one), holding `BENCH_LOGSTORE_RECORDS`
 * request records (10 million by default). The fill is one `INSERT ... SELECT` per chunk of a
 * recursive CTE on a second connection (`openDatabase`, the platform's opener): the store's own
 * tables and indexes, rows as the store writes them (their column types checked against rows the
 * store wrote itself, their lines against the stored form). Then, through the store's query API
 * (what `GET /api/logs` calls): lookups by request id and newest-100 pages, unfiltered and
 * filtered, p50/p99; and insert throughput through the log worker's path (the batched LogWriter)
 * into the full store and into a fresh empty one, batch by batch in turn.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { openLogStore } from '../src/logs/open-store.js';
import { readPackedLines } from '../src/logs/packed-lines.js';
import { recordsQuery } from '../src/logs/sqlite-store.js';
import type { LogStore } from '../src/logs/store.js';
import type { LogQuery, RecordWithLines } from '../src/logs/types.js';
import { LogWriter } from '../src/logs/writer.js';
import { DATABASE_FILE, type Db, openDatabase } from '../src/shared/database.js';
import { RequestIdGenerator } from '../src/shared/request-id.js';
import { int } from './format.js';
import { median, quantile } from './stats.js';
import { makeTempDir, removeTempDir } from './temp.js';

/** Records per fill transaction: big enough that a commit costs nothing, small enough to report progress. */
const CHUNK = 500_000;
/** The fill stops after this long; the section then says how many records it reached. */
const FILL_BUDGET_MS = 5 * 60_000;
/** The filled records' start times span this much, ending a minute ago: the default retention (S15 `logs.max_age`). */
const SPAN_MS = 7 * 86_400_000;
/** Versions deployed one after another over the span; each new one gets a fifth of the traffic (a split) for its first tenth. */
const VERSIONS = 24;
/** Platform processes over the span (a restart changes the random tail of the request ids). */
const NODES = 8;
/** Records per insert round, written in batches of BATCH through the writer. */
const INSERT_RECORDS = 50_000;
/** Rounds of INSERT_RECORDS into each store (about a second a round): two cores shared with others are noisy. */
const INSERT_ROUNDS = 7;
/**
 * Records per writer batch: the log worker writes what 100 ms brought (`flushMs`), a thousand
 * at 10,000 requests/s, about what one `hangar serve` on this machine takes.
 */
const BATCH = 1_000;
/** Queries per kind, and the most time one kind may take (a slow shape stops early, with fewer samples). */
const LOOKUPS = 1_000;
const PAGES = 200;
const KIND_BUDGET_MS = 15_000;
const WARMUP = 10;

export interface LogstoreQuery {
  name: string;
  /** The LogQuery, as JSON (a request id stands for the random ones). */
  query: string;
  /** EXPLAIN QUERY PLAN of the store's SQL for it. */
  plan: string;
  queries: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Entries of the last answer. */
  entries: number;
}

export interface LogstoreInsert {
  /** Records per round, and per writer batch. */
  records: number;
  batch: number;
  /** records/s of each round. */
  emptyRounds: number[];
  fullRounds: number[];
  /** Medians. */
  emptyPerSec: number;
  fullPerSec: number;
  /** fullPerSec ÷ emptyPerSec. */
  ratio: number;
  /** Medians of the suite process's CPU per record (user + system), µs: less disturbed by other load than wall time. */
  emptyCpuUs: number;
  fullCpuUs: number;
}

export interface LogstoreResult {
  kind: 'logstore';
  name: 'logstore';
  description: string;
  /** Records asked for, and records in the store when measured (the fill may stop at its budget). */
  requested: number;
  records: number;
  fillSeconds: number;
  fillMethod: string;
  /** Database file and WAL after the fill, bytes. */
  storeBytes: number;
  queries: LogstoreQuery[];
  insert: LogstoreInsert;
  notes: string[];
}

/** The columns of request_logs in the store's order (sqlite-store.ts's migrations). */
const COLUMNS = [
  'request_id',
  'start_time',
  'app',
  'service',
  'version',
  'instance_id',
  'latency_ms',
  'pending_ms',
  'method',
  'resource',
  'http_version',
  'status',
  'bytes_in',
  'bytes_out',
  'user_agent',
  'ip',
  'host',
  'loading',
  'secure',
  'error',
  'lines',
  'max_level',
  'split',
] as const;

/**
 * Record `i`'s request id, as RequestIdGenerator writes one: 12 hex digits of its start ms, the
 * sequence (0: the filled records are 60 ms apart), the process's random tail.
 */
const ID_SQL = "printf('%012x%06x%s', ms, 0, substr(@nodes, 1 + 14 * ((i * @nodeCount) / @total), 14))";

/**
 * Columns derived from `i` alone (multiplicative hashes, so every reference to them agrees however
 * SQLite flattens the CTE): start ms, four pseudo-random 20-bit numbers, the version.
 */
const BASE_SQL = `SELECT i,
    @t0 + (i * @span) / @total AS ms,
    ((i * 2654435761) % 4294967296) >> 12 AS a,
    ((i * 2246822519) % 4294967296) >> 12 AS b,
    ((i * 3266489917) % 4294967296) >> 12 AS c,
    ((i * 668265263) % 4294967296) >> 12 AS d,
    ((i * 374761393) % 4294967296) >> 12 AS e,
    1 + (i * @versions) / @total AS vnow,
    (i * @versions) % @total < @total / 10 AS rollout
  FROM n`;

/** A record's fields from the numbers above: mostly 200s, some 3xx/4xx, 0.4 % 500s (and bursts of them), lines on 4 in 10. */
const RECORD_SQL = `SELECT i, ms, a, b, c, d, e,
    CASE WHEN rollout AND vnow > 1 AND c % 100 < 20 THEN vnow - 1 ELSE vnow END AS v,
    CASE WHEN rollout AND vnow > 1 THEN 'cookie:v' || (vnow - 1) || '=0.2,v' || vnow || '=0.8' END AS split,
    CASE WHEN a % 1000 < 600 THEN 'shop' WHEN a % 1000 < 900 THEN 'blog' ELSE 'admin' END AS app,
    CASE WHEN i % 1000000 < 3000 AND b % 10 < 3 THEN 500
      WHEN b % 1000 < 4 THEN 500 WHEN b % 1000 < 5 THEN 503 WHEN b % 1000 < 35 THEN 404
      WHEN b % 1000 < 45 THEN 302 WHEN b % 1000 < 75 THEN 304 WHEN b % 1000 < 90 THEN 400
      WHEN b % 1000 < 120 THEN 201 ELSE 200 END AS status,
    CASE WHEN c % 1000 < 850 THEN 'GET' WHEN c % 1000 < 960 THEN 'POST' WHEN c % 1000 < 985 THEN 'PUT'
      ELSE 'DELETE' END AS method,
    CASE WHEN e % 100 < 20 THEN '/' WHEN e % 100 < 45 THEN '/api/items/' || (a % 100000)
      WHEN e % 100 < 60 THEN '/api/search?q=term' || (b % 5000) || '&page=' || (1 + d % 5)
      WHEN e % 100 < 75 THEN '/static/app.' || printf('%08x', (vnow * 2654435761) % 4294967296) || '.js'
      WHEN e % 100 < 85 THEN '/products/' || (a % 20000) || '/reviews'
      WHEN e % 100 < 92 THEN '/cart' WHEN e % 100 < 97 THEN '/api/orders/' || (d % 1000000)
      ELSE '/account/settings' END AS resource
  FROM (${BASE_SQL})`;

const LINES_SQL = `CASE
    WHEN status = 500 THEN '[[' || ms || ',1,"' || method || ' ' || resource || '"],[' || (ms + 3) ||
      ',3,"Error: connect ECONNREFUSED 10.0.0.7:5432\\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)"]]'
    WHEN d % 1000 < 300 THEN '[[' || ms || ',1,"' || method || ' ' || resource || '","loaded ' || (a % 50) || ' items from cache"]]'
    WHEN d % 1000 < 350 THEN '[[' || ms || ',1,"render step 1 of 10 done","render step 2 of 10 done","render step 3 of 10 done","render step 4 of 10 done","render step 5 of 10 done","render step 6 of 10 done","render step 7 of 10 done","render step 8 of 10 done","render step 9 of 10 done","render step 10 of 10 done"]]'
    WHEN d % 1000 < 380 THEN '[[' || ms || ',1,"' || method || ' ' || resource || '"],[' || (ms + 40) || ',2,"slow query: ' || (200 + a % 800) || ' ms"]]'
    WHEN d % 1000 < 385 THEN '[[' || ms || ',0,"cache miss for key item:' || (a % 100000) || '"]]'
  END`;

const MAX_LEVEL_SQL = `CASE WHEN status = 500 THEN 3 WHEN d % 1000 < 350 THEN 1 WHEN d % 1000 < 380 THEN 2
    WHEN d % 1000 < 385 THEN 0 ELSE -1 END`;

const FILL_SQL = `WITH RECURSIVE n(i) AS (SELECT @from UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @to)
  INSERT INTO request_logs (${COLUMNS.join(', ')})
  SELECT ${ID_SQL}, ms, app,
    CASE WHEN e % 1000 < 700 THEN 'default' WHEN e % 1000 < 950 THEN 'api' ELSE 'worker' END,
    'v' || v,
    printf('%016x%016x', (v * 1000003 + d % 3) * 2654435761, (v * 7 + d % 3 + 1) * 40503),
    CASE WHEN c % 100 < 3 THEN 100 + (a % 5000) / 10.0 ELSE 0.4 + (a % 3000) / 100.0 END,
    CASE WHEN c % 100 = 99 THEN (a % 2000) / 10.0 ELSE 0.0 END,
    method, resource,
    CASE WHEN e % 50 = 0 THEN '1.0' ELSE '1.1' END,
    status,
    CASE WHEN method = 'GET' THEN 0 ELSE 50 + b % 4096 END,
    CASE WHEN status = 304 THEN 0 ELSE 200 + (a * 7) % 60000 END,
    CASE d % 8 WHEN 0 THEN 'curl/8.5.0' WHEN 1 THEN 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
      WHEN 2 THEN 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'
      WHEN 3 THEN 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
      WHEN 4 THEN NULL
      ELSE 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36' END,
    CASE WHEN b % 4 = 0 THEN '2001:db8::' || printf('%x', a % 65536) WHEN b % 4 = 1 THEN '198.51.100.' || (1 + c % 254)
      ELSE '203.0.113.' || (1 + a % 254) END,
    CASE WHEN e % 20 = 0 THEN 'v' || v || '-dot-' || app || '.example.com' ELSE app || '.example.com' END,
    i % 4000 = 0,
    b % 20 <> 0,
    CASE WHEN status = 503 THEN 'no instance could take the request within the pending timeout' END,
    ${LINES_SQL},
    ${MAX_LEVEL_SQL},
    split
  FROM (${RECORD_SQL})`;

/** One request in a thousand gets a line after its record was written (a late line, its own row). */
const LATE_LINES_SQL = `WITH RECURSIVE n(i) AS (SELECT @first UNION ALL SELECT i + 1000 FROM n WHERE i + 1000 < @to)
  INSERT INTO log_line_groups (request_id, time, max_level, lines)
  SELECT ${ID_SQL}, ms + 1500, 1, '[[' || (ms + 1500) || ',1,"background task finished"]]' FROM (${BASE_SQL})`;

/** Record i's request id, the fill's own expression. */
const ONE_ID_SQL = `WITH n(i) AS (SELECT @i) SELECT ${ID_SQL} FROM (${BASE_SQL})`;

interface FillParams {
  total: number;
  t0: number;
  span: number;
  nodes: string;
  nodeCount: number;
  versions: number;
}

export async function runLogstore(requested: number, log: (line: string) => void): Promise<LogstoreResult> {
  const dataDir = makeTempDir('logstore');
  let db: Db | undefined;
  let opened: Awaited<ReturnType<typeof openLogStore>> | undefined;
  try {
    // The store's schema, made by the store (its migrations) on the connection the worker would have.
    opened = await openLogStore({ kind: 'sqlite', dataDir });
    db = openDatabase(dataDir);
    const fill = await fillStore(db, dataDir, requested, log);
    const store = opened.store;
    const ids = new RequestIdGenerator('0badcafe0badca');
    // From now on, 10 requests a millisecond (10,000 a second), and a new deploy takes the traffic.
    const now = Date.now();
    let written = 0;
    const version = `v${newestVersion(fill.records, fill.params) + 1}`;
    const batchOf = (n: number) => records(n, ids, () => now + Math.floor(written++ / 10), version);
    // Rows the store wrote itself, to hold the filled ones against.
    const own = batchOf(10);
    await store.append(own, []);
    checkRowsLikeStores(
      db,
      fill.params,
      own[0]!.requestId,
      oneId(db, fill.params, Math.floor(fill.records / 2)),
    );
    const queries = await measureQueries(db, store, fill.records, fill.params, log);
    const insert = await measureInserts(store, batchOf, log);
    return {
      kind: 'logstore',
      name: 'logstore',
      description: `the request log's SQLite store (\`openLogStore\`, as the log worker opens it) holding ${int(fill.records)} request records`,
      requested,
      records: fill.records,
      fillSeconds: fill.seconds,
      fillMethod:
        `one \`INSERT ... SELECT\` from a recursive CTE per ${int(CHUNK)} records (a transaction each) on a second ` +
        "connection (`openDatabase`, the platform's opener) into the store's own tables and indexes, made by the " +
        "store's migrations; the rows' column types checked against rows the store wrote; start times 60 ms apart " +
        `over ${SPAN_MS / 86_400_000} days, ${VERSIONS} versions one after another (each new one on a 20 % split for ` +
        'its first tenth), 3 apps, 3 services, 0.4 % 500s (and bursts), 4 in 10 with lines in the stored form ' +
        '(a 10-line request 1 in 20), one late line in a thousand as its own log_line_groups row',
      storeBytes: fill.bytes,
      queries,
      insert,
      notes: [
        'The query API has no "status ≥ 500": `status` is one exact status (query-params.ts), so the errors page is `status = 500`.',
        ...fill.notes,
      ],
    };
  } finally {
    await opened?.close();
    db?.close();
    removeTempDir(dataDir);
  }
}

interface Filled {
  records: number;
  params: FillParams;
  seconds: number;
  bytes: number;
  notes: string[];
}

async function fillStore(
  db: Db,
  dataDir: string,
  requested: number,
  log: (line: string) => void,
): Promise<Filled> {
  const notes: string[] = [];
  const params: FillParams = {
    total: requested,
    t0: Date.now() - 60_000 - SPAN_MS,
    span: SPAN_MS,
    nodes: Array.from({ length: NODES }, (_, n) =>
      ((n + 1) * 0x9e3779b97f4a).toString(16).padStart(14, '0').slice(-14),
    ).join(''),
    nodeCount: NODES,
    versions: VERSIONS,
  };
  const fill = db.prepare(FILL_SQL);
  const lateLines = db.prepare(LATE_LINES_SQL);
  const started = performance.now();
  let filled = 0;
  while (filled < requested) {
    const to = Math.min(requested, filled + CHUNK);
    const first = filled + ((500 - (filled % 1000) + 1000) % 1000);
    db.transaction(() => {
      fill.run(integers({ ...params, from: filled, to }));
      if (first < to) lateLines.run(integers({ ...params, first, to }));
    })();
    filled = to;
    const spent = performance.now() - started;
    if (filled % 2_000_000 === 0 || filled === requested)
      log(`logstore: ${int(filled)} records filled in ${(spent / 1000).toFixed(0)} s`);
    if (spent > FILL_BUDGET_MS && filled < requested) {
      notes.push(
        `The fill stopped at ${int(filled)} of ${int(requested)} records: its ${FILL_BUDGET_MS / 60_000}-minute budget was spent.`,
      );
      break;
    }
    // Between chunks a signal (Ctrl-C) can be handled.
    await new Promise((resolve) => setImmediate(resolve));
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  const seconds = (performance.now() - started) / 1000;
  // The checkpoint fsyncs the database file (synchronous = NORMAL): the fill is on disk, and no
  // writeback of it is left to land on the measured inserts.
  const file = join(dataDir, DATABASE_FILE);
  const bytes = fileBytes(file) + fileBytes(`${file}-wal`);
  log(`logstore: ${int(filled)} records in ${seconds.toFixed(0)} s, ${(bytes / 2 ** 30).toFixed(2)} GiB`);
  return { records: filled, params, seconds, bytes, notes };
}

async function measureQueries(
  db: Db,
  store: LogStore,
  filled: number,
  params: FillParams,
  log: (line: string) => void,
): Promise<LogstoreQuery[]> {
  const newest = newestVersion(filled, params);
  const queries: LogstoreQuery[] = [];
  queries.push(
    await measure(db, store, 'lookup by request id', LOOKUPS, () => ({
      requestId: oneId(db, params, Math.floor(Math.random() * filled)),
      // As the console's request page asks (`#/logs/<request id>`).
      limit: 1,
    })),
  );
  const page = async (name: string, q: LogQuery) =>
    queries.push(await measure(db, store, name, PAGES, () => ({ ...q, limit: 100 })));
  await page('newest 100, no filter', {});
  await page(`newest 100, version = v${newest} (the newest)`, { version: `v${newest}` });
  await page(`newest 100, version = v${newest - 1} (the one before)`, { version: `v${newest - 1}` });
  const middle = Math.max(1, Math.ceil(newest / 2));
  await page(`newest 100, version = v${middle} (half the span ago)`, { version: `v${middle}` });
  await page('newest 100, status = 500', { status: 500 });
  await page('newest 100, service = api', { service: 'api' });
  await page('newest 100, app = blog', { app: 'blog' });
  for (const q of queries)
    log(
      `logstore: ${q.name}: p50 ${q.p50Ms.toFixed(2)} ms, p99 ${q.p99Ms.toFixed(2)} ms (${q.queries} queries)`,
    );
  return queries;
}

/**
 * Insert throughput: the full store against a fresh empty one (a new one each round), batch by
 * batch in alternation (empty then full, then full then empty, ...), so that what else the machine
 * does falls on both alike; each store's time and CPU are summed over its batches.
 */
async function measureInserts(
  store: LogStore,
  batchOf: (n: number) => RecordWithLines[],
  log: (line: string) => void,
): Promise<LogstoreInsert> {
  const empty: InsertRound[] = [];
  const full: InsertRound[] = [];
  for (let round = 0; round < INSERT_ROUNDS; round++) {
    const emptyDir = makeTempDir('logstore-empty');
    try {
      const opened = await openLogStore({ kind: 'sqlite', dataDir: emptyDir });
      try {
        const [e, f] = await insertRound(
          [opened.store, store],
          [batchOf(INSERT_RECORDS), batchOf(INSERT_RECORDS)],
        );
        empty.push(e!);
        full.push(f!);
      } finally {
        await opened.close();
      }
    } finally {
      removeTempDir(emptyDir);
    }
    log(
      `logstore insert round ${round + 1}: empty ${int(empty.at(-1)!.perSec)} records/s ` +
        `(${empty.at(-1)!.cpuUs.toFixed(1)} µs CPU each), full ${int(full.at(-1)!.perSec)} records/s ` +
        `(${full.at(-1)!.cpuUs.toFixed(1)} µs CPU each)`,
    );
  }
  const emptyPerSec = median(empty.map((r) => r.perSec));
  const fullPerSec = median(full.map((r) => r.perSec));
  return {
    records: INSERT_RECORDS,
    batch: BATCH,
    emptyRounds: empty.map((r) => r.perSec),
    fullRounds: full.map((r) => r.perSec),
    emptyPerSec,
    fullPerSec,
    ratio: fullPerSec / emptyPerSec,
    emptyCpuUs: median(empty.map((r) => r.cpuUs)),
    fullCpuUs: median(full.map((r) => r.cpuUs)),
  };
}

/**
 * Parameters with their numbers as BigInt: better-sqlite3 binds a number as REAL, and the fill's
 * arithmetic must be integer (`/` divides, `%` truncates).
 */
function integers(params: Record<string, string | number>): Record<string, string | bigint> {
  return Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, typeof v === 'number' ? BigInt(v) : v]),
  );
}

function fileBytes(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function oneId(db: Db, params: FillParams, i: number): string {
  return db
    .prepare(ONE_ID_SQL)
    .pluck()
    .get(integers({ ...params, i })) as string;
}

/** The version serving the last filled record (the fill's `vnow`). */
function newestVersion(filled: number, params: FillParams): number {
  return 1 + Math.floor(((filled - 1) * params.versions) / params.total);
}

/**
 * A filled row and one the store wrote must agree in every column's type (a text where the store
 * writes an integer would be another record format and other index keys), and the filled lines
 * must be the stored form (packed-lines.ts) with the highest level the store would have kept.
 */
function checkRowsLikeStores(db: Db, params: FillParams, storeId: string, filledId: string): void {
  const types = db.prepare(
    `SELECT ${COLUMNS.map((c) => `typeof(${c}) AS ${c}`).join(', ')} FROM request_logs WHERE request_id = ?`,
  );
  const ours = types.get(storeId) as Record<string, string> | undefined;
  const filled = types.get(filledId) as Record<string, string> | undefined;
  if (!ours || !filled) throw new Error(`logstore: row ${ours ? filledId : storeId} not found`);
  const differ = COLUMNS.filter((c) => ours[c] !== filled[c] && ours[c] !== 'null' && filled[c] !== 'null');
  if (differ.length)
    throw new Error(
      `logstore: filled rows differ from the store's in ${differ.map((c) => `${c} (${filled[c]} vs ${ours[c]})`).join(', ')}`,
    );
  // The first records include a burst of 500s: every kind of lines the fill writes.
  const lines = db.prepare('SELECT lines, max_level FROM request_logs WHERE request_id = ?');
  for (let i = 0; i < Math.min(params.total, 3_000); i++) {
    const row = lines.get(oneId(db, params, i)) as { lines: string | null; max_level: number } | undefined;
    if (!row) throw new Error(`logstore: filled record ${i} not found`);
    const read = row.lines === null ? undefined : readPackedLines(row.lines);
    if (
      (row.lines === null && row.max_level !== -1) ||
      (row.lines !== null && read?.maxLevel !== row.max_level)
    )
      throw new Error(`logstore: filled record ${i} has lines the store would not write: ${row.lines}`);
  }
}

async function measure(
  db: Db,
  store: LogStore,
  name: string,
  count: number,
  next: () => LogQuery,
): Promise<LogstoreQuery> {
  // The log worker's code is warm (JIT); a few unmeasured queries first.
  for (let i = 0; i < WARMUP; i++) await store.query(next());
  const samples: number[] = [];
  const started = performance.now();
  let last: LogQuery = {};
  let entries = 0;
  while (samples.length < count && performance.now() - started < KIND_BUDGET_MS) {
    last = next();
    const t = performance.now();
    const page = await store.query(last);
    samples.push(performance.now() - t);
    entries = page.entries.length;
    if (entries === 0) throw new Error(`logstore: ${name}: ${JSON.stringify(last)} found nothing`);
  }
  return {
    name,
    query: JSON.stringify(last.requestId ? { ...last, requestId: '<random existing>' } : last),
    plan: plan(db, last),
    queries: samples.length,
    p50Ms: quantile(samples, 0.5),
    p99Ms: quantile(samples, 0.99),
    maxMs: Math.max(...samples),
    entries,
  };
}

/** EXPLAIN QUERY PLAN of the SQL SqliteLogStore.query runs for `q`. */
function plan(db: Db, q: LogQuery): string {
  const { sql, params } = recordsQuery(q);
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>)
    .map((r) => r.detail)
    .join('; ');
}

interface InsertRound {
  perSec: number;
  /** The suite process's CPU (user + system) per record, µs. */
  cpuUs: number;
}

/**
 * Each of `batches` into its store through a LogWriter of its own, BATCH records at a time
 * (record, then flush: the log worker's path), the stores taking turns batch by batch.
 */
async function insertRound(stores: LogStore[], batches: RecordWithLines[][]): Promise<InsertRound[]> {
  // Flushed by hand after each batch; their timers never fire.
  const writers = stores.map((store) => new LogWriter(store, { flushMs: 60_000 }));
  const ms = stores.map(() => 0);
  const cpuUs = stores.map(() => 0);
  const length = batches[0]!.length;
  for (let at = 0, turn = 0; at < length; at += BATCH, turn++) {
    const order = stores.map((_, s) => s);
    if (turn % 2) order.reverse();
    for (const s of order) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      for (let i = at; i < Math.min(length, at + BATCH); i++) writers[s]!.record(batches[s]![i]!);
      await writers[s]!.flush();
      ms[s]! += performance.now() - started;
      const used = process.cpuUsage(cpu);
      cpuUs[s]! += used.user + used.system;
    }
  }
  return stores.map((_, s) => ({ perSec: length / (ms[s]! / 1000), cpuUs: cpuUs[s]! / length }));
}

const paths = ['/', '/api/items/4711', '/api/search?q=term17&page=2', '/products/815/reviews', '/cart'];

/**
 * `n` records as the log worker hands them to the writer under `hangar serve`: ids from the
 * platform's generator, lines (4 in 10) in the stored form instances send, as they came.
 */
function records(n: number, ids: RequestIdGenerator, now: () => number, version: string): RecordWithLines[] {
  return Array.from({ length: n }, (_, k) => {
    const ms = now();
    const status = k % 250 === 0 ? 500 : k % 30 === 0 ? 404 : 200;
    const resource = paths[k % paths.length]!;
    const record: RecordWithLines = {
      requestId: ids.next(ms),
      appId: k % 10 < 6 ? 'shop' : 'blog',
      service: k % 4 === 0 ? 'api' : 'default',
      version,
      instanceId: '5f3c0d5e9a7b4c21a0e4b6f1d2c3e4f5',
      startTime: new Date(ms).toISOString(),
      latencyMs: 0.4 + (k % 3000) / 100,
      pendingMs: 0,
      method: 'GET',
      resource,
      httpVersion: '1.1',
      status,
      bytesIn: 0,
      bytesOut: 200 + ((k * 7) % 60000),
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      ip: `203.0.113.${1 + (k % 254)}`,
      host: 'shop.example.com',
      loadingRequest: false,
      secure: true,
      error: null,
      split: null,
    };
    if (status === 500)
      record.storedLines = {
        json: JSON.stringify([
          [ms, 1, `GET ${resource}`],
          [ms + 3, 3, 'Error: connect ECONNREFUSED 10.0.0.7:5432\n    at TCPConnectWrap.afterConnect'],
        ]),
        maxLevel: 3,
      };
    else if (k % 10 < 4)
      record.storedLines = {
        json: JSON.stringify([[ms, 1, `GET ${resource}`, `loaded ${k % 50} items from cache`]]),
        maxLevel: 1,
      };
    return record;
  });
}
