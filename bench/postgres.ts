/**
 * The postgres scenario (issue 22, opt-in: BENCH_SCENARIOS=postgres): the hello and logging
 * scenarios' requests on `hangar serve` with its state in SQLite in the data dir (the default)
 * and on `hangar serve --database` with every store in PostgreSQL (a fresh database per start on
 * the BENCH_POSTGRES_URL server, bench/pg.ts), in the same run, alternating rounds, ratios
 * PostgreSQL ÷ SQLite. Logging also gets the paired cost of its 10 lines on each (one process,
 * /log and / back to back) and the no-line-lost check against PostgreSQL.
 */
import { hello } from './app/payload.mjs';
import { hangarProcesses } from './cpu.js';
import { type HttpResult, type HttpScenario, runHttpScenario, type TargetSpec } from './http-runner.js';
import type { LoadGenerator } from './load.js';
import { verifyNoLineLost } from './logging.js';
import type { BenchOptions } from './options.js';
import { backendProcesses, createBenchDatabase, postgresVersion } from './pg.js';
import { median } from './stats.js';
import { type ServeProcess, serve, serveName, startServe, stopHangar, type Target } from './targets.js';

/** `hangar serve` on a fresh database; its CPU is the platform's and the database's backends'. */
async function servePostgres(): Promise<Target> {
  const database = await createBenchDatabase();
  let started: ServeProcess;
  try {
    started = await startServe({ database: database.url });
  } catch (err) {
    await database.drop();
    throw err;
  }
  const pid = started.child.pid!;
  return {
    name: `${serveName} --database (PostgreSQL ${await postgresVersion()})`,
    url: started.url,
    pid,
    spawnedAt: started.spawnedAt,
    stop: async () => {
      await stopHangar(started);
      await database.drop();
    },
    cpu: async () => [...(await hangarProcesses(pid)), ...(await backendProcesses(database.name))],
  };
}

const targets = (): TargetSpec[] => [
  { role: 'production', start: () => serve({}, `${serveName} (SQLite)`) },
  { role: 'postgres', start: servePostgres },
];

const noLogging = { path: '/', label: 'GET / (no logging)' };

export const postgresScenarios: HttpScenario[] = [
  {
    name: 'postgres-hello',
    description:
      'GET / → "Hello, World!" (as hello) on `hangar serve` with its state in SQLite in the data dir and on ' +
      '`hangar serve --database` with every store in PostgreSQL (a fresh database); each request is logged ' +
      '(a record, no lines) in that store',
    request: { path: '/', method: 'GET', headers: {} },
    expected: { status: 200, body: hello, gzip: false },
    targets: targets(),
    baseline: { index: 0, name: 'SQLite' },
    cpu: true,
  },
  {
    name: 'postgres-logging',
    description:
      'GET /log → 10 lines logged, then "Hello, World!" (as logging), on `hangar serve` with SQLite and on ' +
      '`hangar serve --database` with PostgreSQL; the cost of the 10 lines on each is paired (one process, ' +
      '/log and / back to back)',
    request: { path: '/log', method: 'GET', headers: {} },
    expected: { status: 200, body: hello, gzip: false },
    targets: targets(),
    baseline: { index: 0, name: 'SQLite' },
    cpu: true,
    paired: [
      { role: 'production', ...noLogging },
      { role: 'postgres', ...noLogging },
    ],
    after: () => verifyNoLineLost(10_000, 'postgres'),
  },
];

/** PostgreSQL ÷ SQLite round by round: the rounds alternate, so each pair of rounds is back to back. */
function byRound(result: HttpResult): string | undefined {
  const sqlite = result.rows.find((r) => r.role === 'production');
  const postgres = result.rows.find((r) => r.role === 'postgres');
  if (!sqlite?.rounds.length || !postgres?.rounds.length) return undefined;
  const ratios = postgres.rounds.map((r, i) => r.reqPerSec / sqlite.rounds[i]!.reqPerSec);
  return (
    `PostgreSQL ÷ SQLite req/s round by round (alternating, each PostgreSQL round right after the SQLite one): ` +
    `${ratios.map((r) => r.toFixed(3)).join(', ')}; median ${median(ratios).toFixed(3)}.`
  );
}

/** Both scenarios, in turn; one result each. */
export async function runPostgres(
  load: LoadGenerator,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<HttpResult[]> {
  const results: HttpResult[] = [];
  for (const scenario of postgresScenarios) {
    const result = await runHttpScenario(scenario, load, options, log);
    const line = byRound(result);
    if (line) result.notes.unshift(line);
    results.push(result);
  }
  return results;
}
