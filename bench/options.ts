/**
 * The suite's settings, from the environment (a pure function of it). The defaults keep a full
 * `npm run bench` under 10 minutes on a 2-core machine, plus the logstore scenario's 2.5
 * (docs/benchmarks.md has the measured time).
 */

export interface BenchOptions {
  /** Scenario names to run; undefined = the default set. */
  scenarios: string[] | undefined;
  seconds: number;
  rounds: number;
  /** Back-to-back pairs of the paired measures (the logging and console scenarios). */
  pairs: number;
  connections: number;
  warmupSeconds: number;
  socketMib: number;
  connects: number;
  coldRuns: number;
  idleSeconds: number;
  /** Request records the logstore scenario fills its store with. */
  logstoreRecords: number;
  /** Append to bench/RESULTS.md and overwrite bench/results.json. */
  record: boolean;
}

/** Variable → [default, what it is], also the help text of a bad value. */
export const variables = {
  BENCH_SECONDS: [5, 'seconds per measured round'],
  BENCH_ROUNDS: [3, 'alternating rounds per target (and per sockets measure)'],
  BENCH_PAIRS: [
    6,
    'back-to-back pairs of the paired measures on one process (logging: /log and /; console: / without and with a console client)',
  ],
  BENCH_CONNECTIONS: [50, 'concurrent keep-alive connections of the load generator'],
  BENCH_SOCKET_MIB: [256, 'MiB sent each way per sockets transfer'],
  BENCH_CONNECTS: [300, 'sequential connects per sockets connect-latency round'],
  BENCH_COLD_RUNS: [5, 'starts per target in the cold-start scenario'],
  BENCH_IDLE_SECONDS: [5, 'idle time before the memory scenario reads RSS'],
  BENCH_LOGSTORE_RECORDS: [10_000_000, 'request records the logstore scenario fills its store with'],
} as const;

function positive(env: NodeJS.ProcessEnv, name: keyof typeof variables): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return variables[name][0];
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name}=${raw}: expected a positive number (${variables[name][1]})`);
  }
  return value;
}

/**
 * @example
 * benchOptions({ BENCH_SCENARIOS: 'hello', BENCH_SECONDS: '1', BENCH_ROUNDS: '1', BENCH_RECORD: '0' })
 */
export function benchOptions(env: NodeJS.ProcessEnv): BenchOptions {
  // Whole seconds: wrk's -d takes no fractions.
  const seconds = Math.max(1, Math.round(positive(env, 'BENCH_SECONDS')));
  const list = env.BENCH_SCENARIOS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    scenarios: list?.length ? list : undefined,
    seconds,
    rounds: Math.round(positive(env, 'BENCH_ROUNDS')),
    pairs: Math.round(positive(env, 'BENCH_PAIRS')),
    connections: Math.round(positive(env, 'BENCH_CONNECTIONS')),
    // Long enough for the JIT and for Hangar's autoscaler to settle its pool, not more than a round.
    warmupSeconds: Math.min(2, seconds),
    socketMib: Math.round(positive(env, 'BENCH_SOCKET_MIB')),
    connects: Math.round(positive(env, 'BENCH_CONNECTS')),
    coldRuns: Math.round(positive(env, 'BENCH_COLD_RUNS')),
    idleSeconds: positive(env, 'BENCH_IDLE_SECONDS'),
    logstoreRecords: Math.round(positive(env, 'BENCH_LOGSTORE_RECORDS')),
    record: env.BENCH_RECORD !== '0',
  };
}
