/**
 * `npm run bench`: bare node:http vs `hangar dev examples/hello`, side by side in one run on
 * loopback, alternating targets (A B A B) so drift on a noisy machine hits both alike.
 * Bounded: BENCH_SECONDS per round (default 5), BENCH_ROUNDS rounds per target (default 3).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { bareNode, hangarDev, type Target } from './targets.js';

interface Round {
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = 50;
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

async function main(): Promise<void> {
  const targets: Target[] = [];
  try {
    targets.push(await bareNode(), await hangarDev());
    // Warm up: JIT, the instance's first (loading) request, keep-alive pools.
    for (const target of targets) await load(target.url, 1);
    const results = new Map<string, Round[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const target of targets) {
        const r = await load(target.url, seconds);
        results.get(target.name)!.push(r);
        console.log(
          `round ${round + 1} ${target.name}: ${Math.round(r.requests)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms`,
        );
      }
    }
    report(results);
  } finally {
    await Promise.all(targets.map((t) => t.stop()));
  }
}

function report(results: Map<string, Round[]>): void {
  const bare = median(results.get('bare node:http')!.map((r) => r.requests));
  const rows = [...results].map(([name, rs]) => {
    const reqs = median(rs.map((r) => r.requests));
    return {
      name,
      reqs: Math.round(reqs),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      errors: rs.reduce((n, r) => n + r.errors + r.non2xx, 0),
      ratio: reqs / bare,
    };
  });
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const cpu = cpus();
  const header =
    `\n## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — hello world, ${connections} connections, ` +
    `${rounds}×${seconds}s alternating (autocannon)\n\n` +
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}, commit ${commit}\n\n` +
    '| target | req/s (median) | p50 ms | p99 ms | errors + non-2xx | ratio to bare |\n|---|---|---|---|---|---|\n';
  const table = rows
    .map((r) => `| ${r.name} | ${r.reqs} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.ratio.toFixed(2)}× |`)
    .join('\n');
  console.log(header + table);
  const file = join(root, 'bench/RESULTS.md');
  if (!existsSync(file))
    writeFileSync(file, '# Benchmark results\n\nAppended by `npm run bench`; newest last.\n');
  appendFileSync(file, `${header}${table}\n`);
  writeFileSync(
    join(root, 'bench/results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), commit, node: process.version, rows }, null, 2)}\n`,
  );
}

await main();
