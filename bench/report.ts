/**
 * One run as a dated markdown section for bench/RESULTS.md: the conditions, one table per
 * scenario, and the issue's targets met or not.
 */
import type { ColdStartResult } from './cold-start.js';
import { CONSOLE_TAIL_PER_SECOND, type ConsoleResult, tailedShare, withoutSpread } from './console.js';
import { cell, int, mib, ms, ratio } from './format.js';
import type { GrowthResult } from './growth.js';
import type { HttpResult, PairedResult } from './http-runner.js';
import type { LogstoreResult } from './logstore.js';
import type { MemoryResult } from './memory.js';
import type { RunRecord, ScenarioResult } from './results.js';
import { type SocketsResult, vias } from './sockets.js';
import { medianOrNull } from './stats.js';

const table = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

function http(result: HttpResult): string {
  // The runtimes scenario's rows say which Node answered.
  const versions = result.rows.some((r) => r.nodeVersion);
  const rows = result.rows.map((r) => [
    r.problem ? `${r.name} (${r.problem})` : r.name,
    ...(versions ? [r.nodeVersion ?? '—'] : []),
    cell(r.reqPerSec, int),
    cell(r.p50Ms, ms),
    cell(r.p99Ms, ms),
    r.problem ? '—' : String(r.errors),
    cell(r.ratio, ratio),
  ]);
  const head = [
    'target',
    ...(versions ? ['process.version'] : []),
    'req/s',
    'p50 ms',
    'p99 ms',
    'errors + non-2xx',
    `× ${result.baseline ?? 'bare node'}`,
  ];
  return [
    `### ${result.name}: ${result.description}`,
    table(head, rows),
    ...(result.rows.some((r) => r.cpuUsPerRequest) ? [cpuTable(result)] : []),
    ...(result.paired ? [paired(result.paired)] : []),
    ...(result.alsoPaired ?? []).map(paired),
    ...result.notes,
  ].join('\n\n');
}

/** Hangar's parts in the order of a request's path; other labels after them, as read. */
const cpuOrder = [
  'front end (platform main thread)',
  'log thread',
  'other platform threads',
  'instance process(es)',
  'socket service',
  'PostgreSQL backends',
];
const byCpuOrder = ([a]: [string, number], [b]: [string, number]) => {
  const rank = (label: string) => (cpuOrder.includes(label) ? cpuOrder.indexOf(label) : cpuOrder.length);
  return rank(a) - rank(b);
};

/** CPU µs per request by process (utime + stime from /proc, median over the rounds). */
function cpuTable(result: HttpResult): string {
  const us = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));
  const rows = result.rows.map((r) => {
    const by = r.cpuUsPerRequest ? Object.entries(r.cpuUsPerRequest).sort(byCpuOrder) : null;
    return [
      r.name,
      cell(by, (b) => us(b.reduce((sum, [, n]) => sum + n, 0))),
      cell(by, (b) => b.map(([label, n]) => `${label} ${us(n)}`).join(', ')),
    ];
  });
  return [
    'CPU per request, µs (utime + stime from /proc before and after each round ÷ its requests; median of the rounds):',
    table(['target', 'all processes', 'process → µs'], rows),
  ].join('\n\n');
}

function paired(p: PairedResult): string {
  const each = p.pairs
    .map((pair) => `${int(pair.scenario.reqPerSec)} / ${int(pair.reference.reqPerSec)}`)
    .join(', ');
  return (
    `Paired on one ${p.target} (back to back, A B then B A): req/s with / ${p.label} = ${each}; ` +
    `median ratio ${p.ratio.toFixed(3)}, a cost of ${((1 - p.ratio) * 100).toFixed(1)}%.`
  );
}

function consoleTailing(result: ConsoleResult, seconds: number): string {
  // The suite process's CPU in a round as a share of one core.
  const core = (cpuMs: number) => `${Math.round(cpuMs / (seconds * 10))}%`;
  const heading = `### console: ${result.description} (${result.pairs.length} pairs)`;
  if (result.ratio === null)
    return [heading, `${result.target}: ${result.problem ?? 'no pairs measured'}`].join('\n\n');
  const rows = result.pairs.map((p, i) => [
    String(i + 1),
    p.first === 'without' ? 'A B' : 'B A',
    int(p.without.reqPerSec),
    int(p.with.reqPerSec),
    (p.with.reqPerSec / p.without.reqPerSec).toFixed(3),
    `${ms(p.without.p99Ms)} / ${ms(p.with.p99Ms)}`,
    `${p.without.errors + p.without.non2xx} / ${p.with.errors + p.with.non2xx}`,
    `${int(p.client.entries)} + ${int(p.client.skipped)} skipped / ${int(p.with.requests)}`,
    `${core(p.suiteCpuMs.without)} / ${core(p.suiteCpuMs.with)}`,
    `${p.client.polls.timeseries} + ${p.client.polls.instances}` +
      (p.client.pollErrors ? ` (${p.client.pollErrors} failed)` : '') +
      (p.client.streamError ? `; stream ended: ${p.client.streamError}` : ''),
  ]);
  const ratios = result.pairs.map((p) => p.with.reqPerSec / p.without.reqPerSec);
  const spread = withoutSpread(result);
  const tail = tailedShare(result);
  const first = result.pairs.find((p) => p.client.first)?.client.first;
  return [
    heading,
    table(
      [
        'pair',
        'order',
        'req/s, no console (A)',
        'req/s, console tailing (B)',
        'B ÷ A',
        'p99 ms A / B',
        'errors + non-2xx A / B',
        'log entries the tail read + skipped / requests (B)',
        "suite process's CPU A / B, of a core",
        'polls timeseries + instances (B)',
      ],
      rows,
    ),
    `Paired on one ${result.target} (back to back, A B then B A): median ratio ${result.ratio.toFixed(3)} ` +
      `(pairs ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}), ` +
      `**cost of the console tailing: ${((1 - result.ratio) * 100).toFixed(1)}%**. ` +
      `Round-to-round spread of the no-console rounds: ${int(spread.min)}–${int(spread.max)} req/s, ` +
      `${(spread.spread * 100).toFixed(1)}% of their median (${int(spread.median)}): a cost within that is noise. ` +
      `The tail (max_per_second=${CONSOLE_TAIL_PER_SECOND}, as the console asks) read ${int(tail.entries)} log entries ` +
      `and was told of ${int(tail.skipped)} more it skipped, for ${int(tail.requests)} requests counted by the load ` +
      `generator (${(tail.share * 100).toFixed(1)}%; requests still in flight when a round ends are logged but ` +
      `not counted)${first ? `, the first ${first.method} ${first.resource} ${first.status}` : ''}. The client ` +
      "runs in the suite's process, on the same cores as the platform and wrk: its reading of the tail (the " +
      "suite's CPU in B beyond A) is part of the cost measured, as a browser's would be on this machine.",
  ].join('\n\n');
}

function sockets(result: SocketsResult): string {
  const { mib: size, rounds, connects } = result.settings;
  const names: Record<(typeof vias)[number], string> = {
    direct: 'direct loopback TCP',
    shim: 'shim + socket service',
    relay: 'bare pipe() relay process',
  };
  const rows = [
    ...result.throughput.map((t) => [
      `${size} MiB ${t.direction}, MiB/s`,
      ...vias.map((via) => int(t[via])),
      ratio(t.shim / t.direct),
    ]),
    [
      `connect p50 / p99, ms (${connects} × ${rounds})`,
      ...vias.map(
        (via) => `${result.connect[via].p50Ms.toFixed(3)} / ${result.connect[via].p99Ms.toFixed(3)}`,
      ),
      `+${(result.connect.shim.p50Ms - result.connect.direct.p50Ms).toFixed(3)} ms`,
    ],
  ];
  return [
    `### sockets: ${size} MiB each way and connect latency through the instance shim and the socket service vs direct loopback TCP (median of ${rounds} alternating rounds)`,
    table(['measure', ...vias.map((via) => names[via]), 'shim vs direct'], rows),
    'The relay is the cheapest spliced design Node allows (a process that only `pipe()`s the Unix ' +
      'connection to TCP); its connect latency is the Unix connect alone (it dials TCP after accepting).',
  ].join('\n\n');
}

function coldStart(result: ColdStartResult): string {
  const spread = (values: number[]) =>
    values.length
      ? `${ms(medianOrNull(values)!)} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`
      : '—';
  const rows = result.rows.map((r) => [
    r.problem ? `${r.name} (${r.problem})` : r.name,
    r.from,
    spread(r.toFirst200Ms),
    r.instanceReadyMs ? spread(r.instanceReadyMs) : '—',
    r.instanceFirstResponseMs ? spread(r.instanceFirstResponseMs) : '—',
  ]);
  return [
    `### cold-start: spawn → first correct 200 on GET /, median (min–max) of ${result.runs} alternating starts, ms`,
    table(
      ['target', 'from', 'to the first 200', 'instance spawn → ready', 'instance spawn → first response'],
      rows,
    ),
    "Hangar's instance columns come from `GET /api/instances` (`readyMs`, `started`). `hangar dev` starts " +
      "its first instance as it starts, so its first 200 includes the platform's start and the instance's. " +
      "`hangar serve`'s row starts at the first request to a version `hangar deploy` has just deployed " +
      "(the platform running, TypeScript compiled at deploy, the deploy's own instance stopped), so its " +
      "first 200 is that request's: one instance start. Its `no warm spare` row runs with " +
      '`scheduler.warm_spares: 0` (a fresh instance process per start); the `warm spare` row with the ' +
      'default (one spare started ahead), and its instance columns count from taking the spare.',
  ].join('\n\n');
}

function memory(result: MemoryResult): string {
  const rows = result.rows.map((r) => [
    r.problem ? `${r.name} (${r.problem})` : r.name,
    cell(r.instanceBytes, mib),
    cell(r.processes, (ps) => mib(ps.reduce((sum, p) => sum + p.bytes, 0))),
    cell(r.processes, (ps) => ps.map((p) => `${p.label} ${mib(p.bytes)}`).join(', ')),
  ]);
  return [
    `### memory: RSS after one request and ${result.idleSeconds} s idle, MiB`,
    table(['target', 'per idle instance', 'all its processes', 'by process'], rows),
    "workerd's figure is its whole process with one worker; it can run many workers in one process.",
  ].join('\n\n');
}

function growth(result: GrowthResult): string {
  const rows = result.rows.map((r) => [
    String(r.versions),
    `${mib(r.platformBytes)} (${ratio(r.platformRatio)})`,
    `${mib(r.allBytes)} (${r.processes} processes, ${r.instances} instances)`,
    `${mib(r.afterLoad.platformBytes)} / ${mib(r.afterLoad.allBytes)}`,
    int(r.promoted.reqPerSec),
    ms(r.promoted.p99Ms),
    ratio(r.ratio),
    `${int(r.newest.reqPerSec)} / ${ms(r.newest.p99Ms)}`,
    `${r.promoted.errors} / ${r.newest.errors}`,
  ]);
  return [
    `### growth: ${result.description}`,
    table(
      [
        'versions deployed',
        'platform RSS MiB (× 1 version)',
        'all processes RSS MiB',
        'after the hello rounds: platform / all MiB',
        'hello req/s, promoted (default host)',
        'p99 ms',
        '× 1 version',
        "hello req/s / p99 ms, newest version's `-dot-` host",
        'errors + non-2xx',
      ],
      rows,
    ),
    'RSS read (`ps`) once no version but the promoted v1 has an instance (`max_idle_instances: 0`, ' +
      '`scheduler.idle_period: 2s`: v1 too scales to zero once idle; the instances column is what was listed) ' +
      'and 3 s more: before the load (the 1-version row after only the first request) and again after it. Versions after v1 are the identical ' +
      `app deployed with \`hangar deploy --no-promote\`${result.deploySeconds === null ? '' : ` (median ${result.deploySeconds.toFixed(1)} s each)`}; ` +
      "the newest version's host is measured after a warm-up request started its instance.",
    ...result.notes,
  ].join('\n\n');
}

function logstore(result: LogstoreResult): string {
  const queries = result.queries.map((q) => [
    q.name,
    `\`${q.query}\``,
    int(q.queries),
    ms(q.p50Ms),
    ms(q.p99Ms),
    ms(q.maxMs),
    q.plan,
  ]);
  const { insert } = result;
  const rounds = (values: number[]) => values.map(int).join(', ');
  return [
    `### logstore: ${result.description}`,
    `Filled with ${int(result.records)} records${result.records < result.requested ? ` of ${int(result.requested)} asked` : ''} ` +
      `in ${result.fillSeconds.toFixed(1)} s (${int(result.records / result.fillSeconds)} records/s): ${result.fillMethod}. ` +
      `Database and WAL after the fill: ${(result.storeBytes / 2 ** 30).toFixed(2)} GiB.`,
    table(
      ['query (`store.query`)', 'LogQuery', 'queries', 'p50 ms', 'p99 ms', 'max ms', 'EXPLAIN QUERY PLAN'],
      queries,
    ),
    table(
      [
        'insert through LogWriter',
        'records/s (median)',
        'CPU µs per record (median)',
        'records/s of each round',
      ],
      [
        [
          'fresh empty store',
          int(insert.emptyPerSec),
          insert.emptyCpuUs.toFixed(1),
          rounds(insert.emptyRounds),
        ],
        [
          `the store with ${int(result.records)} records`,
          int(insert.fullPerSec),
          insert.fullCpuUs.toFixed(1),
          rounds(insert.fullRounds),
        ],
        ['full ÷ empty', ratio(insert.ratio), ratio(insert.emptyCpuUs / insert.fullCpuUs), ''],
      ],
    ),
    `Each round writes ${int(insert.records)} records in batches of ${int(insert.batch)} (\`LogWriter\`: record, then flush, ` +
      'what the log worker does every 100 ms), 4 in 10 with lines in the stored form, into a fresh empty store and into the ' +
      `full one, batch by batch in turn; ${insert.emptyRounds.length} rounds. CPU is the suite process's (user + system) per ` +
      'record; its ratio is empty ÷ full, so both ratios read "1× = unchanged".',
    ...result.notes,
  ].join('\n\n');
}

function scenario(result: ScenarioResult, options: RunRecord['options']): string {
  switch (result.kind) {
    case 'http':
      return http(result);
    case 'console':
      return consoleTailing(result, options.seconds);
    case 'sockets':
      return sockets(result);
    case 'cold-start':
      return coldStart(result);
    case 'memory':
      return memory(result);
    case 'growth':
      return growth(result);
    case 'logstore':
      return logstore(result);
  }
}

/** The section appended to bench/RESULTS.md. */
export function markdown(record: RunRecord): string {
  const { machine, options } = record;
  const minutes = `${Math.floor(record.wallSeconds / 60)} min ${Math.round(record.wallSeconds % 60)} s`;
  const header = [
    `## ${record.date.slice(0, 16).replace('T', ' ')} UTC — \`npm run bench\``,
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${machine.os}; ` +
      `Node ${record.node}; commit ${record.commit}. ` +
      `Load: ${record.generator}, ${options.connections} connections, ${options.rounds} rounds × ` +
      `${options.seconds} s per target, alternating, median reported, after a ${options.warmupSeconds} s warm-up; all on loopback. ` +
      `Peers: ${Object.entries(record.peers)
        .map(([name, version]) => `${name} ${version}`)
        .join(', ')}. ` +
      'Production path: `hangar serve` (fresh data dir, bench/app deployed with `hangar deploy`; the rows named `hangar serve`). ' +
      `Wall time ${minutes}.`,
  ];
  const verdicts = table(
    ['target', 'result', 'figures'],
    record.targets.map((v) => [v.target, v.status === 'met' ? '**met**' : v.status, v.figures]),
  );
  return `\n${[...header, ...record.scenarios.map((result) => scenario(result, options)), '### Targets (issues 7, 15, 20, 21, 22)', verdicts].join('\n\n')}\n`;
}
