/**
 * The logging scenario's check (issue 5): 10,000 requests × 10 lines through `hangar serve`
 * (bench/app deployed), then the platform stops and its store is counted: its SQLite
 * `hangar.db`, or with `on: 'postgres'` (the postgres scenario, issue 22) the request log's
 * tables in a fresh PostgreSQL database it ran on (`serve --database`, dropped afterwards).
 * Throughput means nothing if lines are lost. It sends with autocannon, because wrk cannot send
 * an exact number of requests.
 */
import { join } from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { logLines } from './app/payload.mjs';
import { type BenchDatabase, countLogLines, createBenchDatabase } from './pg.js';
import { type ServeProcess, serveName, startServe, stopHangar } from './targets.js';

/** Request records of /log and their lines stored under their own request, in `hangar.db`. */
function countSqlite(dataDir: string): { records: number; lines: number } {
  const db = new Database(join(dataDir, 'hangar.db'), { readonly: true });
  try {
    // Lines of the /log requests whose text names their own request: none lost, none misattributed.
    // Every message of every run (src/logs/packed-lines.ts): a run's entries from the third on.
    const stored = db
      .prepare(
        `SELECT count(*) AS n FROM (
           SELECT r.request_id AS id, m.value AS message FROM request_logs r, json_each(r.lines) j, json_each(j.value) m
             WHERE r.resource = '/log' AND m.key >= 2
           UNION ALL
           SELECT g.request_id, m.value FROM log_line_groups g JOIN request_logs r ON g.request_id = r.request_id,
             json_each(g.lines) j, json_each(j.value) m WHERE r.resource = '/log' AND m.key >= 2
         ) WHERE message LIKE 'bench line %' AND message LIKE '% of ' || id`,
      )
      .get() as { n: number };
    const records = db.prepare("SELECT count(*) AS n FROM request_logs WHERE resource = '/log'").get() as {
      n: number;
    };
    return { records: records.n, lines: stored.n };
  } finally {
    db.close();
  }
}

/** Sends `requests` to `/log`, stops the platform, and says whether every line is stored under its own request. */
export async function verifyNoLineLost(
  requests = 10_000,
  on: 'sqlite' | 'postgres' = 'sqlite',
): Promise<string[]> {
  const database: BenchDatabase | undefined = on === 'postgres' ? await createBenchDatabase() : undefined;
  let hangar: ServeProcess;
  try {
    hangar = await startServe(database ? { database: database.url } : {});
  } catch (err) {
    await database?.drop();
    throw err;
  }
  try {
    const started = performance.now();
    const result = await autocannon({ url: `${hangar.url}log`, connections: 50, amount: requests });
    const seconds = (performance.now() - started) / 1000;
    // Stopping flushes the log writer. Told the data dir is the caller's, stopHangar leaves it
    // for the count; the `finally` below removes it.
    await stopHangar(hangar, { dataDir: hangar.dataDir });
    const stored = database ? await countLogLines(database.url) : countSqlite(hangar.dataDir);
    const sent = result.requests.total;
    const failed = result.non2xx + result.errors;
    const ok = sent - failed;
    const complete = stored.lines === ok * logLines && stored.records === ok;
    const where = database ? `${serveName} --database, PostgreSQL` : serveName;
    return [
      `Logging check (\`${where}\`, autocannon): ${sent} requests × ${logLines} lines in ` +
        `${seconds.toFixed(1)} s (${failed} errors/non-2xx); request records stored: ${stored.records} of ${ok}; ` +
        `lines stored under their own request: ${stored.lines} of ${ok * logLines}` +
        (complete ? ' — none lost.' : ' — LINES MISSING.'),
    ];
  } finally {
    await stopHangar(hangar);
    await database?.drop();
  }
}
