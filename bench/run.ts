/**
 * `npm run bench` (issue 7): Hangar, bare node:http and the peers side by side, on loopback,
 * bounded in time. Prints one dated markdown section, appends it to bench/RESULTS.md and
 * writes bench/results.json (unless BENCH_RECORD=0). Settings: bench/options.ts and
 * docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { stopAllChildren } from './children.js';
import { runColdStart } from './cold-start.js';
import { runConsole } from './console.js';
import { runGrowth } from './growth.js';
import { runHttpScenario } from './http-runner.js';
import { httpScenarios, poolScenario } from './http-scenarios.js';
import { type LoadGenerator, loadGenerator } from './load.js';
import { runLogstore } from './logstore.js';
import { runMemory } from './memory.js';
import { type BenchOptions, benchOptions } from './options.js';
import { peerVersions } from './peers.js';
import { dropAllBenchDatabases } from './pg.js';
import { runPostgres } from './postgres.js';
import { markdown } from './report.js';
import type { RunRecord, ScenarioResult } from './results.js';
import { runtimesScenario } from './runtimes.js';
import { runSockets } from './sockets.js';
import { verdicts } from './summary.js';
import { failsRun, root } from './targets.js';
import { removeAllTempDirs } from './temp.js';

interface Step {
  name: string;
  /** In a run without BENCH_SCENARIOS. */
  byDefault: boolean;
  /** One result, or several (the postgres step: hello and logging). */
  run(options: BenchOptions, load: () => LoadGenerator): Promise<ScenarioResult | ScenarioResult[]>;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

const steps: Step[] = [
  ...httpScenarios.map((scenario) => ({
    name: scenario.name,
    byDefault: true,
    run: (options: BenchOptions, load: () => LoadGenerator) =>
      runHttpScenario(scenario, load(), options, log),
  })),
  {
    name: 'runtimes',
    byDefault: true,
    run: (options, load) => runHttpScenario(runtimesScenario(log), load(), options, log),
  },
  { name: 'console', byDefault: true, run: (options, load) => runConsole(load(), options, log) },
  {
    name: 'sockets',
    byDefault: true,
    run: (options) =>
      runSockets({ mib: options.socketMib, rounds: options.rounds, connects: options.connects }, log),
  },
  { name: 'cold-start', byDefault: true, run: (options) => runColdStart(options.coldRuns, log) },
  { name: 'memory', byDefault: true, run: (options) => runMemory(options.idleSeconds, log) },
  // About 2.5 minutes, most of it filling the store with 10 million records.
  { name: 'logstore', byDefault: true, run: (options) => runLogstore(options.logstoreRecords, log) },
  {
    name: poolScenario.name,
    byDefault: false,
    run: (options, load) => runHttpScenario(poolScenario, load(), options, log),
  },
  // About 3.5 minutes, most of it deploying 100 versions (issue 21 wants it in the full run).
  { name: 'growth', byDefault: true, run: (options, load) => runGrowth(load(), options, log) },
  // Issue 22: hello and logging on SQLite and on PostgreSQL (`serve --database`). About 3.5
  // minutes (two paired measures among them) and it needs a PostgreSQL server: opt-in.
  { name: 'postgres', byDefault: false, run: (options, load) => runPostgres(load(), options, log) },
];

function commit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? '+' : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function chosenSteps(options: BenchOptions): Step[] {
  if (!options.scenarios) return steps.filter((s) => s.byDefault);
  const unknown = options.scenarios.filter((name) => !steps.some((s) => s.name === name));
  if (unknown.length)
    throw new Error(
      `BENCH_SCENARIOS: no scenario ${unknown.join(', ')}; there are ${steps.map((s) => s.name).join(', ')}`,
    );
  return steps.filter((s) => options.scenarios!.includes(s.name));
}

async function main(options: BenchOptions, chosen: Step[]): Promise<void> {
  const started = performance.now();
  const date = new Date().toISOString();
  let generator: LoadGenerator | undefined;
  const load = () => (generator ??= loadGenerator());
  const scenarios: ScenarioResult[] = [];
  try {
    for (const step of chosen) {
      log(`— ${step.name}`);
      scenarios.push(...[await step.run(options, load)].flat());
    }
  } finally {
    generator?.close();
  }
  const cpu = cpus();
  const record: RunRecord = {
    date,
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model.trim() ?? 'unknown CPU',
      os: `${type()} ${release()}`,
      memoryBytes: totalmem(),
    },
    node: process.version,
    commit: commit(),
    generator: generator?.name ?? 'none (no HTTP scenario)',
    peers: peerVersions(),
    options,
    wallSeconds: (performance.now() - started) / 1000,
    scenarios,
    targets: verdicts(scenarios, options.connections),
  };
  const section = markdown(record);
  process.stdout.write(section);
  if (options.record) {
    const file = join(root, 'bench/RESULTS.md');
    if (!existsSync(file))
      writeFileSync(file, '# Benchmark results\n\nAppended by `npm run bench`; newest last.\n');
    appendFileSync(file, section);
    writeFileSync(join(root, 'bench/results.json'), `${JSON.stringify(record, null, 2)}\n`);
    log('appended to bench/RESULTS.md, wrote bench/results.json');
  } else {
    log('BENCH_RECORD=0: bench/RESULTS.md and bench/results.json left as they were');
  }
  // A wrong answer, Hangar not starting or the console client not attaching fails the run, even
  // though the rest was measured.
  const fails = (s: ScenarioResult) =>
    'rows' in s
      ? s.rows.some((r) => 'problem' in r && failsRun(r.problem))
      : s.kind === 'console' && failsRun(s.problem);
  if (scenarios.some(fails)) process.exitCode = 1;
}

// Ctrl-C or a kill: stop what the suite started (each by its pid), remove its temp dirs and drop
// the PostgreSQL databases it made.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping the suite's processes`);
    void stopAllChildren()
      .then(dropAllBenchDatabases)
      .finally(() => {
        removeAllTempDirs();
        process.exit(130);
      });
  });
}

let options: BenchOptions;
let chosen: Step[];
try {
  options = benchOptions(process.env);
  chosen = chosenSteps(options);
} catch (err) {
  log((err as Error).message);
  process.exit(2);
}
try {
  await main(options, chosen);
} catch (err) {
  log((err as Error).stack ?? String(err));
  await stopAllChildren();
  await dropAllBenchDatabases();
  removeAllTempDirs();
  process.exitCode = 1;
}
