/**
 * `npm run bench`: targets side by side in one run on loopback, alternating (A B A B) so drift
 * on a noisy machine hits them alike. Bounded: BENCH_SECONDS per round (default 5),
 * BENCH_ROUNDS rounds per target (default 3); BENCH_SCENARIOS picks scenarios by name
 * (comma-separated; default all); BENCH_CONNECTIONS sets the concurrency (default 50).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { hangarLogging, verifyNoLineLost } from './logging.js';
import { bareNode, hangarDev, hangarDevAt, hangarPool, type Target } from './targets.js';

interface Round {
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

interface Scenario {
  name: string;
  description: string;
  /** The first target is the baseline the ratios refer to. */
  targets: Array<() => Promise<Target>>;
  /** Runs after the rounds; its markdown follows the scenario's table. */
  after?: () => Promise<string>;
}

const scenarios: Scenario[] = [
  {
    name: 'hello',
    description: 'hello world through `hangar dev examples/hello` vs bare node:http',
    targets: [bareNode, () => hangarDev()],
  },
  {
    name: 'pipeline',
    description:
      'hello world, one instance (manual_scaling), built from git: the walking skeleton, the commit just before the S5 pipeline, the pipeline, and HEAD',
    targets: [
      () => hangarDevAt('bdbedbd', 'skeleton', true),
      () => hangarDevAt('fd62214', 'before the pipeline', true),
      () => hangarDevAt('b0adc62', 'with the pipeline', true),
      () => hangarDevAt('HEAD', 'HEAD', true),
    ],
  },
  {
    name: 'logging',
    description: 'an app logging 10 lines per request vs the same app logging none (one instance each)',
    targets: [() => hangarLogging(0), () => hangarLogging(10)],
    after: () => verifyNoLineLost(),
  },
  {
    name: 'pool',
    description: 'a CPU-light app (hello) with a pool of 2 instances vs 1 (manual_scaling)',
    targets: [() => hangarPool(1), () => hangarPool(2)],
  },
];

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const only = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim());
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const root = resolve(import.meta.dirname, '..');

async function load(url: string, duration: number): Promise<Round> {
  const result = await autocannon({ url, connections, duration, pipelining: 1 });
  return {
    requests: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

interface Row {
  name: string;
  reqs: number;
  p50: number;
  p99: number;
  errors: number;
  ratio: number;
}

async function runScenario(scenario: Scenario): Promise<Row[]> {
  const targets: Target[] = [];
  try {
    for (const start of scenario.targets) targets.push(await start());
    // Warm up: JIT, each instance's loading request, keep-alive pools.
    for (const target of targets) await load(target.url, 1);
    const results = new Map<string, Round[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const target of targets) {
        const r = await load(target.url, seconds);
        results.get(target.name)!.push(r);
        console.log(
          `${scenario.name} round ${round + 1} ${target.name}: ${Math.round(r.requests)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`,
        );
      }
    }
    const base = median(results.get(targets[0]!.name)!.map((r) => r.requests));
    return [...results].map(([name, rs]) => {
      const reqs = median(rs.map((r) => r.requests));
      return {
        name,
        reqs: Math.round(reqs),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        errors: rs.reduce((n, r) => n + r.errors + r.non2xx, 0),
        ratio: reqs / base,
      };
    });
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
  }
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const chosen = scenarios.filter((s) => !only || only.includes(s.name));
  const cpu = cpus();
  const date = new Date();
  let markdown =
    `\n## ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC — ${connections} connections, ` +
    `${rounds}×${seconds}s alternating (autocannon)\n\n` +
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, commit ${commit()}\n`;
  const json: Record<string, Row[]> = {};
  for (const scenario of chosen) {
    const rows = await runScenario(scenario);
    json[scenario.name] = rows;
    markdown +=
      `\n**${scenario.name}**: ${scenario.description} (ratio to the first row)\n\n` +
      '| target | req/s (median) | p50 ms | p99 ms | errors + non-2xx | ratio |\n|---|---|---|---|---|---|\n' +
      rows
        .map((r) => `| ${r.name} | ${r.reqs} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.ratio.toFixed(2)}× |`)
        .join('\n') +
      '\n' +
      (scenario.after ? await scenario.after() : '');
  }
  console.log(markdown);
  const file = join(root, 'bench/RESULTS.md');
  if (!existsSync(file))
    writeFileSync(file, '# Benchmark results\n\nAppended by `npm run bench`; newest last.\n');
  appendFileSync(file, markdown);
  writeFileSync(
    join(root, 'bench/results.json'),
    `${JSON.stringify({ date: date.toISOString(), commit: commit(), node: process.version, scenarios: json }, null, 2)}\n`,
  );
}

await main();
