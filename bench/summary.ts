/**
 * The targets, judged on one run's results. Hangar's production path stands in for
 * Hangar (`hangar serve` with bench/app deployed by `hangar deploy`, role `production`); a
 * target whose scenario did not run, or whose rows have no figures, is "not measured", never met.
 */
import type { ColdStartResult } from './cold-start.js';
import { type ConsoleResult, tailedShare, withoutSpread } from './console.js';
import { int, mib, ms, ratio } from './format.js';
import type { GrowthResult } from './growth.js';
import type { HttpResult, HttpRow, PairedResult } from './http-runner.js';
import type { LogstoreResult } from './logstore.js';
import type { MemoryResult } from './memory.js';
import type { ScenarioResult, Verdict } from './results.js';
import type { SocketsResult } from './sockets.js';
import { medianOrNull } from './stats.js';
import type { Role } from './targets.js';

const notMeasured = (target: string, why = 'scenario not run'): Verdict => ({
  target,
  status: 'not measured',
  figures: why,
});
const judged = (target: string, met: boolean, figures: string): Verdict => ({
  target,
  status: met ? 'met' : 'not met',
  figures,
});

function measured(result: HttpResult | undefined, role: Role): HttpRow | undefined {
  return result?.rows.find((r) => r.role === role && r.reqPerSec !== null);
}

/** Hangar against one peer on every scenario both ran: more req/s, quicker start, less memory per idle instance. */
function ahead(results: ScenarioResult[], peer: 'workerd' | 'functions-framework'): Verdict {
  const target = `ahead of ${peer} on every scenario it can run`;
  const comparisons: Array<{ won: boolean; text: string }> = [];
  for (const result of results) {
    if (result.kind === 'http') {
      const ours = measured(result, 'production');
      const theirs = measured(result, peer);
      if (ours && theirs)
        comparisons.push({
          won: ours.reqPerSec! > theirs.reqPerSec!,
          text: `${result.name} ${int(ours.reqPerSec!)} vs ${int(theirs.reqPerSec!)} req/s`,
        });
    }
  }
  const cold = results.find((r): r is ColdStartResult => r.kind === 'cold-start');
  // A new instance is what starts cold under load: Hangar's instance (its platform runs already,
  // TypeScript compiled) against the peer's whole process.
  const ourStart = medianOrNull(cold?.rows.find((r) => r.role === 'dev')?.instanceFirstResponseMs);
  const theirStart = medianOrNull(cold?.rows.find((r) => r.role === peer)?.toFirst200Ms);
  if (ourStart !== null && theirStart !== null)
    comparisons.push({
      won: ourStart < theirStart,
      text: `cold start (instance spawn vs process spawn → first 200) ${ms(ourStart)} vs ${ms(theirStart)} ms`,
    });
  const memory = results.find((r): r is MemoryResult => r.kind === 'memory');
  const ourMemory = memory?.rows.find((r) => r.role === 'production')?.instanceBytes;
  const theirMemory = memory?.rows.find((r) => r.role === peer)?.instanceBytes;
  if (ourMemory && theirMemory)
    comparisons.push({
      won: ourMemory < theirMemory,
      text: `memory per idle instance ${mib(ourMemory)} vs ${mib(theirMemory)} MiB`,
    });
  if (!comparisons.length) return notMeasured(target, `no scenario measured both Hangar and ${peer}`);
  return judged(
    target,
    comparisons.every((c) => c.won),
    comparisons.map((c) => `${c.text} ${c.won ? '✓' : '✗'}`).join('; '),
  );
}

function hello(results: ScenarioResult[], connections: number): Verdict[] {
  const ratioTarget = 'hello ≥ 0.40× bare node:http (stretch 0.50×)';
  const p99Target = `hello p99 ≤ 5 ms at 50 connections (this run: ${connections})`;
  const result = results.find((r): r is HttpResult => r.kind === 'http' && r.name === 'hello');
  const prod = measured(result, 'production');
  if (!prod) return [notMeasured(ratioTarget), notMeasured(p99Target)];
  const dev = measured(result, 'dev');
  const devRatio = dev ? `; ${dev.name} ${ratio(dev.ratio!)}` : '';
  const devP99 = dev ? `; ${dev.name} ${ms(dev.p99Ms!)} ms` : '';
  return [
    judged(
      ratioTarget,
      prod.ratio! >= 0.4,
      `${prod.name} ${ratio(prod.ratio!)}${prod.ratio! >= 0.5 ? ' (stretch met)' : ''}${devRatio}`,
    ),
    judged(p99Target, prod.p99Ms! <= 5, `${prod.name} ${ms(prod.p99Ms!)} ms${devP99}`),
  ];
}

function logging(results: ScenarioResult[]): Verdict {
  const target = 'logging 10 lines/request costs ≤ 10% of throughput';
  const result = results.find((r): r is HttpResult => r.kind === 'http' && r.name === 'logging');
  const withLines = measured(result, 'production');
  const without = measured(result, 'production-no-logging');
  const separateCost = withLines && without ? 1 - withLines.reqPerSec! / without.reqPerSec! : undefined;
  const separate =
    separateCost === undefined
      ? undefined
      : `separate processes: ${int(withLines!.reqPerSec!)} vs ${int(without!.reqPerSec!)} req/s, ` +
        `${(separateCost * 100).toFixed(0)}%`;
  // Judged on the paired measure when there is one: one process, both paths back to back (http-runner.ts).
  const paired = result?.paired;
  if (!paired) {
    return separateCost === undefined ? notMeasured(target) : judged(target, separateCost <= 0.1, separate!);
  }
  const cost = 1 - paired.ratio;
  return judged(
    target,
    cost <= 0.1,
    `paired on one ${paired.target}: costs ${(cost * 100).toFixed(1)}% (median of ${paired.pairs.length} pairs)` +
      (separate ? `; ${separate}` : ''),
  );
}

/** Issue 20: a console tab tailing the log costs hello no more than noise; ≤ 5 % is taken as noise. */
function consoleTailing(results: ScenarioResult[]): Verdict {
  const target = 'console tailing costs hello ≤ noise (paired)';
  const result = results.find((r): r is ConsoleResult => r.kind === 'console');
  if (!result) return notMeasured(target);
  if (result.ratio === null) return notMeasured(target, result.problem ?? 'no pairs measured');
  const cost = 1 - result.ratio;
  const spread = withoutSpread(result);
  const tail = tailedShare(result);
  const figures =
    `paired on one ${result.target}: costs ${(cost * 100).toFixed(1)}% (median of ${result.pairs.length} pairs; ` +
    `≤ 5% taken as noise); no-console rounds spread ${(spread.spread * 100).toFixed(1)}% ` +
    `(${int(spread.min)}–${int(spread.max)} req/s); the tail read ${int(tail.entries)} entries and was told of ` +
    `${int(tail.skipped)} skipped, for ${int(tail.requests)} requests (${(tail.share * 100).toFixed(1)}%)`;
  // A client that read far fewer entries than there were requests did not measure a tailing console.
  if (tail.share < 0.9)
    return notMeasured(target, `the tail did not keep up, so not a tailing console: ${figures}`);
  return judged(target, cost <= 0.05, figures);
}

function sockets(results: ScenarioResult[]): Verdict[] {
  const throughputTarget = 'sockets ≥ 0.8× direct loopback throughput';
  const connectTarget = 'sockets connect overhead ≤ 1 ms';
  const result = results.find((r): r is SocketsResult => r.kind === 'sockets');
  if (!result) return [notMeasured(throughputTarget), notMeasured(connectTarget)];
  const ratios = result.throughput.map((t) => ({ direction: t.direction, ratio: t.shim / t.direct }));
  const overhead = result.connect.shim.p50Ms - result.connect.direct.p50Ms;
  return [
    judged(
      throughputTarget,
      ratios.every((r) => r.ratio >= 0.8),
      ratios.map((r) => `${r.direction} ${ratio(r.ratio)}`).join('; '),
    ),
    judged(
      connectTarget,
      overhead <= 1,
      `p50 ${result.connect.shim.p50Ms.toFixed(3)} vs ${result.connect.direct.p50Ms.toFixed(3)} ms direct: +${overhead.toFixed(3)} ms`,
    ),
  ];
}

function coldStart(results: ScenarioResult[]): Verdict {
  const target = 'instance cold start to first response ≤ 200 ms (hello, TypeScript included)';
  const result = results.find((r): r is ColdStartResult => r.kind === 'cold-start');
  const fresh = result?.rows.find((r) => r.role === 'dev');
  const firstResponse = medianOrNull(fresh?.instanceFirstResponseMs);
  if (firstResponse === null) return notMeasured(target);
  // `hangar serve` compiles at deploy, so its instance start is not "TypeScript included": shown, not judged.
  const serve = result?.rows.find((r) => r.role === 'production');
  const serveFirst = medianOrNull(serve?.instanceFirstResponseMs);
  return judged(
    target,
    firstResponse <= 200,
    `${fresh!.name}: instance spawn → first response ${ms(firstResponse)} ms (spawn → ready ${ms(medianOrNull(fresh?.instanceReadyMs)!)} ms), median of ${fresh!.instanceFirstResponseMs!.length}` +
      (serveFirst === null
        ? ''
        : `; ${serve!.name}: ${ms(serveFirst)} ms (spawn → ready ${ms(medianOrNull(serve?.instanceReadyMs)!)} ms)`),
  );
}

/** Issue 21: the request log store stays quick with 10 million records in it. */
function logstore(results: ScenarioResult[]): Verdict[] {
  const latencyTarget = 'log store with 10 M records: lookup by request id and newest-100 page p99 ≤ 10 ms';
  const insertTarget = 'log store insert throughput at 10 M unchanged (≥ 0.9× empty)';
  const result = results.find((r): r is LogstoreResult => r.kind === 'logstore');
  if (!result) return [notMeasured(latencyTarget), notMeasured(insertTarget)];
  const records = `${int(result.records)} records`;
  const latencies = result.queries
    .map((q) => `${q.name}: p99 ${ms(q.p99Ms)} ms (p50 ${ms(q.p50Ms)})`)
    .join('; ');
  const insert =
    `${int(result.insert.fullPerSec)} vs ${int(result.insert.emptyPerSec)} records/s empty: ` +
    `${ratio(result.insert.ratio)} (CPU per record ${result.insert.fullCpuUs.toFixed(1)} vs ` +
    `${result.insert.emptyCpuUs.toFixed(1)} µs: ${ratio(result.insert.emptyCpuUs / result.insert.fullCpuUs)})`;
  // Fewer records than the target names (BENCH_LOGSTORE_RECORDS, or the fill's budget) judge nothing.
  if (result.records < 10_000_000)
    return [
      notMeasured(latencyTarget, `only ${records} in the store: ${latencies}`),
      notMeasured(insertTarget, `only ${records} in the store: ${insert}`),
    ];
  return [
    judged(
      latencyTarget,
      result.queries.every((q) => q.p99Ms <= 10),
      `${records}; ${latencies}`,
    ),
    judged(insertTarget, result.insert.ratio >= 0.9, `${records}; ${insert}`),
  ];
}

/** Issue 21, Deliver 3: a 1 MiB POST at ≥ 0.5× bare node, and 50 KiB gzip ahead of workerd. */
function bodies(results: ScenarioResult[]): Verdict[] {
  const postTarget = 'post-1mib ≥ 0.5× bare node:http';
  const gzipTarget = 'json-gzip (50 KiB) ahead of workerd';
  const post = results.find((r): r is HttpResult => r.kind === 'http' && r.name === 'post-1mib');
  const gzip = results.find((r): r is HttpResult => r.kind === 'http' && r.name === 'json-gzip');
  const postRow = measured(post, 'production');
  const gzipRow = measured(gzip, 'production');
  const workerd = measured(gzip, 'workerd');
  return [
    postRow
      ? judged(
          postTarget,
          postRow.ratio! >= 0.5,
          `${postRow.name} ${ratio(postRow.ratio!)} (${int(postRow.reqPerSec!)} req/s, p99 ${ms(postRow.p99Ms!)} ms)`,
        )
      : notMeasured(postTarget),
    gzipRow && workerd
      ? judged(
          gzipTarget,
          gzipRow.reqPerSec! > workerd.reqPerSec!,
          `${gzipRow.name} ${int(gzipRow.reqPerSec!)} (${ratio(gzipRow.ratio!)}) vs ${workerd.name} ${int(workerd.reqPerSec!)} req/s (${ratio(workerd.ratio!)})`,
        )
      : notMeasured(gzipTarget),
  ];
}

/** Issue 21, Deliver 4: a deployed TypeScript hello's instance answers within 100 ms of its spawn, a warm spare serves a loading request within 30 ms, an idle instance holds ≤ 50 MiB. */
function instanceStart(results: ScenarioResult[]): Verdict[] {
  const startTarget = 'deployed instance spawn → first response ≤ 100 ms (TypeScript hello, hangar serve)';
  const memoryTarget = 'idle instance ≤ 50 MiB RSS (hangar serve)';
  const cold = results.find((r): r is ColdStartResult => r.kind === 'cold-start');
  const serve = cold?.rows.find((r) => r.role === 'production');
  const first = medianOrNull(serve?.instanceFirstResponseMs);
  const memory = results.find((r): r is MemoryResult => r.kind === 'memory');
  const idle = memory?.rows.find((r) => r.role === 'production')?.instanceBytes;
  const spareTarget =
    "a loading request's wait with a warm spare ≤ 30 ms (first request → 200, hangar serve)";
  const spare = cold?.rows.find((r) => r.warmSpare);
  const spareWait = medianOrNull(spare?.toFirst200Ms);
  return [
    first === null
      ? notMeasured(startTarget)
      : judged(
          startTarget,
          first <= 100,
          `${serve!.name}: ${ms(first)} ms (spawn → ready ${ms(medianOrNull(serve?.instanceReadyMs)!)} ms), median of ${serve!.instanceFirstResponseMs!.length}`,
        ),
    spareWait === null
      ? notMeasured(spareTarget)
      : judged(
          spareTarget,
          spareWait <= 30,
          `${ms(spareWait)} ms, median of ${spare!.toFirst200Ms.length} (instance from taking the spare → first response ${ms(medianOrNull(spare!.instanceFirstResponseMs)!)} ms)`,
        ),
    idle
      ? judged(memoryTarget, idle <= 50 * 1024 * 1024, `${mib(idle)} MiB per idle instance`)
      : notMeasured(memoryTarget),
  ];
}

/** Issue 21, Deliver 7: 100 idle versions leave platform memory and routing cost where 1 left them. */
function growth(results: ScenarioResult[]): Verdict {
  const target =
    'growth: 100 idle versions keep platform RSS (≤ 1.2× of 1 version, after load) and hello (≥ 0.85×) flat';
  const result = results.find((r): r is GrowthResult => r.kind === 'growth');
  const one = result?.rows.find((r) => r.versions === 1);
  const hundred = result?.rows.find((r) => r.versions === 100);
  if (!one || !hundred) return notMeasured(target);
  const rss = hundred.afterLoad.platformBytes / one.afterLoad.platformBytes;
  const hello = hundred.promoted.reqPerSec / one.promoted.reqPerSec;
  return judged(
    target,
    rss <= 1.2 && hello >= 0.85,
    `platform RSS after load ${mib(one.afterLoad.platformBytes)} → ${mib(hundred.afterLoad.platformBytes)} MiB (${ratio(rss)}); ` +
      `hello ${int(one.promoted.reqPerSec)} → ${int(hundred.promoted.reqPerSec)} req/s (${ratio(hello)})`,
  );
}

/**
 * Issue 22: issue 5's logging criterion with the request log in PostgreSQL (`serve --database`),
 * judged on its paired measure; the figures add SQLite's paired cost in the same run and the
 * PostgreSQL ÷ SQLite req/s of hello and logging (the postgres scenario).
 */
function postgres(results: ScenarioResult[]): Verdict {
  const target =
    'logging 10 lines/request costs ≤ 10% of throughput with the log store in PostgreSQL (`serve --database`)';
  const find = (name: string) => results.find((r): r is HttpResult => r.kind === 'http' && r.name === name);
  const logging = find('postgres-logging');
  const pairs = logging ? [logging.paired, ...(logging.alsoPaired ?? [])] : [];
  const onPostgres = pairs.find((p) => p?.role === 'postgres');
  if (!onPostgres) return notMeasured(target, logging ? 'no paired measure on PostgreSQL' : undefined);
  const onSqlite = pairs.find((p) => p?.role === 'production');
  const cost = (p: PairedResult) => `${((1 - p.ratio) * 100).toFixed(1)}%`;
  const ratios = [find('postgres-hello'), logging].flatMap((result) => {
    const row = measured(result, 'postgres');
    return row ? [`${result!.name.replace('postgres-', '')} ${ratio(row.ratio!)}`] : [];
  });
  return judged(
    target,
    1 - onPostgres.ratio <= 0.1,
    `paired on one ${onPostgres.target}: costs ${cost(onPostgres)} (median of ${onPostgres.pairs.length} pairs)` +
      (onSqlite ? `; on ${onSqlite.target} in the same run ${cost(onSqlite)}` : '') +
      (ratios.length ? `; req/s PostgreSQL ÷ SQLite: ${ratios.join(', ')}` : ''),
  );
}

/** Every target of issue 7, in the order, with issue 5's logging and issue 20's console criteria. */
export function verdicts(results: ScenarioResult[], connections: number): Verdict[] {
  return [
    ...hello(results, connections),
    ahead(results, 'workerd'),
    ahead(results, 'functions-framework'),
    logging(results),
    consoleTailing(results),
    ...sockets(results),
    coldStart(results),
    ...bodies(results),
    ...instanceStart(results),
    growth(results),
    ...logstore(results),
    postgres(results),
  ];
}
