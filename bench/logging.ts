/**
 * The logging scenario's check (issue 5): 10,000 requests × 10 lines through `hangar serve`
 * (bench/app deployed), then the platform stops and its store is counted. Throughput means
 * nothing if lines are lost. It sends with autocannon, because wrk cannot send an exact number
 * of requests.
 */
import { join } from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { logLines } from './app/payload.mjs';
import { serveName, startServe, stopHangar } from './targets.js';

/** Sends `requests` to `/log`, stops the platform, and says whether every line is stored under its own request. */
export async function verifyNoLineLost(requests = 10_000): Promise<string[]> {
  const hangar = await startServe();
  try {
    const started = performance.now();
    const result = await autocannon({ url: `${hangar.url}log`, connections: 50, amount: requests });
    const seconds = (performance.now() - started) / 1000;
    // Stopping flushes the log writer. Told the data dir is the caller's, stopHangar leaves it
    // for the count; the `finally` below removes it.
    await stopHangar(hangar, { dataDir: hangar.dataDir });
    const db = new Database(join(hangar.dataDir, 'hangar.db'), { readonly: true });
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
    db.close();
    const sent = result.requests.total;
    const failed = result.non2xx + result.errors;
    const ok = sent - failed;
    const complete = stored.n === ok * logLines && records.n === ok;
    return [
      `Logging check (\`${serveName}\`, autocannon): ${sent} requests × ${logLines} lines in ` +
        `${seconds.toFixed(1)} s (${failed} errors/non-2xx); request records stored: ${records.n} of ${ok}; ` +
        `lines stored under their own request: ${stored.n} of ${ok * logLines}` +
        (complete ? ' — none lost.' : ' — LINES MISSING.'),
    ];
  } finally {
    await stopHangar(hangar);
  }
}
