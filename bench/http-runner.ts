/**
 * Runs one HTTP scenario: starts its targets (a peer that fails to start is skipped with the
 * reason), checks each answers correctly once, warms each up, then measures them in
 * alternating rounds (A B C A B C ...) so drift on a noisy machine hits all alike, and keeps
 * the median round. Every target is stopped at the end, whatever happened.
 */

import { type CpuProcess, cpuPerRequest, hangarProcesses, processTree, sampleCpu } from './cpu.js';
import { firstLine } from './format.js';
import type { LoadGenerator, LoadRequest, Round } from './load.js';
import type { Expected } from './probe.js';
import { probe } from './probe.js';
import { median, medianOrNull } from './stats.js';
import { type Role, startProblem, type Target } from './targets.js';

export interface TargetSpec {
  role: Role;
  start(): Promise<Target>;
  /** Another path than the scenario's (the logging scenario's no-logging reference). */
  path?: string;
  /** Appended to the target's name in the table. */
  label?: string;
  /** On top of the scenario's request headers (the Host of one version on a shared `hangar serve`). */
  headers?: Record<string, string>;
}

export interface HttpScenario {
  name: string;
  description: string;
  request: LoadRequest;
  expected: Expected;
  /** The first is the baseline the ratios refer to, unless `baseline` says otherwise. */
  targets: TargetSpec[];
  /** The target (index in `targets`) the ratios refer to, and its name in the ratio column. */
  baseline?: { index: number; name: string };
  /**
   * Also measure the target of `role` on the scenario's request against `path` on the same
   * process, back to back in pairs (A B, then B A, ...): the cost of what the scenario adds,
   * free of the differences between processes and of drift between distant rounds. Several:
   * one after the other, each on its own target (the postgres scenario: SQLite, then PostgreSQL).
   */
  paired?: PairedSpec | PairedSpec[];
  /** Also read each target's CPU per request, per process, in every measured round (issue 21). */
  cpu?: boolean;
  /** Runs after the rounds, with every target stopped; its lines follow the scenario's table. */
  after?: () => Promise<string[]>;
}

export interface PairedSpec {
  role: Role;
  path: string;
  label: string;
}

/** One process measured on two paths in back-to-back pairs; `ratio` is the median of the pairs' ratios. */
export interface PairedResult {
  /** The measured target's role (absent in results recorded before the postgres scenario). */
  role?: Role;
  target: string;
  label: string;
  pairs: Array<{ scenario: Round; reference: Round }>;
  /** Median over the pairs of scenario req/s ÷ reference req/s. */
  ratio: number;
}

export interface HttpRow {
  role: Role;
  name: string;
  /** Medians over the rounds; null when the target was skipped or answered wrongly. */
  reqPerSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Errors and non-2xx responses, summed over the rounds. */
  errors: number;
  /** reqPerSec ÷ the baseline's. */
  ratio: number | null;
  rounds: Round[];
  /** With the scenario's `cpu`: µs of CPU per request by process (median over the rounds). */
  cpuUsPerRequest?: Record<string, number>;
  /** Why there are no figures: a peer skipped, a failed start (startProblem) or a wrong answer. */
  problem?: string;
  /** `process.version` the target's instances report, when the target says (the runtimes scenario). */
  nodeVersion?: string;
}

export interface HttpResult {
  kind: 'http';
  name: string;
  description: string;
  rows: HttpRow[];
  /** The ratio column's baseline, when it is not bare node:http. */
  baseline?: string;
  /** The paired measure (the first, when the scenario has several). */
  paired?: PairedResult;
  /** The scenario's further paired measures, in its order. */
  alsoPaired?: PairedResult[];
  notes: string[];
}

export interface RoundSettings {
  seconds: number;
  rounds: number;
  /** Pairs of the paired measure, when the scenario has one. */
  pairs: number;
  connections: number;
  warmupSeconds: number;
}

interface Live {
  spec: TargetSpec;
  target: Target;
  request: LoadRequest;
  rounds: Round[];
  /** With the scenario's `cpu`: µs per request by process, one record per round. */
  cpu: Array<Record<string, number>>;
}

/** The processes whose CPU counts for a target: Hangar's split (platform threads, instances, socket service), else its own. */
function cpuProcesses(role: Role, target: Target): Promise<CpuProcess[]> {
  if (target.cpu) return target.cpu();
  if (role === 'dev' || role === 'production' || role === 'production-no-logging' || role === 'postgres')
    return hangarProcesses(target.pid);
  return processTree(target.pid);
}

export async function runHttpScenario(
  scenario: HttpScenario,
  load: LoadGenerator,
  settings: RoundSettings,
  log: (line: string) => void,
): Promise<HttpResult> {
  const rows = new Map<TargetSpec, HttpRow>();
  const live: Live[] = [];
  const paired: PairedResult[] = [];
  const row = (spec: TargetSpec, name: string, problem?: string): HttpRow => ({
    role: spec.role,
    name: spec.label ? `${name}, ${spec.label}` : name,
    reqPerSec: null,
    p50Ms: null,
    p99Ms: null,
    errors: 0,
    ratio: null,
    rounds: [],
    ...(problem ? { problem } : {}),
  });
  try {
    for (const spec of scenario.targets) {
      let target: Target;
      try {
        target = await spec.start();
      } catch (err) {
        rows.set(spec, row(spec, spec.role, startProblem(spec.role, err)));
        log(`${scenario.name}: ${spec.role}: ${startProblem(spec.role, err)}`);
        continue;
      }
      const request = {
        ...scenario.request,
        ...(spec.path ? { path: spec.path } : {}),
        ...(spec.headers ? { headers: { ...scenario.request.headers, ...spec.headers } } : {}),
      };
      const wrong = await probe(target.url, request, scenario.expected).catch(firstLine);
      rows.set(spec, {
        ...row(spec, target.name, wrong && `WRONG ANSWER: ${wrong}`),
        ...(target.nodeVersion ? { nodeVersion: target.nodeVersion } : {}),
      });
      if (wrong) {
        log(`${scenario.name}: ${target.name} answered wrongly: ${wrong}`);
        await target.stop();
        continue;
      }
      live.push({ spec, target, request, rounds: [], cpu: [] });
    }
    // JIT, each platform's first instances and keep-alive pools, before anything counts.
    for (const { target, request } of live)
      await load.round(target.url, request, settings.warmupSeconds, settings.connections);
    for (let round = 1; round <= settings.rounds; round++) {
      for (const entry of live) {
        const processes = scenario.cpu ? await cpuProcesses(entry.spec.role, entry.target) : [];
        const before = sampleCpu(processes);
        const r = await load.round(entry.target.url, entry.request, settings.seconds, settings.connections);
        entry.rounds.push(r);
        if (scenario.cpu) entry.cpu.push(cpuPerRequest(before, sampleCpu(processes), r.requests));
        log(
          `${scenario.name} round ${round} ${rows.get(entry.spec)!.name}: ${Math.round(r.reqPerSec)} req/s, ` +
            `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.errors + r.non2xx} errors`,
        );
      }
    }
    for (const spec of scenario.paired === undefined ? [] : [scenario.paired].flat()) {
      const on = live.find((entry) => entry.spec.role === spec.role);
      if (on) paired.push(await measurePairs(scenario, spec, on, load, settings, log));
    }
  } finally {
    await Promise.all(live.map(({ target }) => target.stop()));
  }
  for (const { spec, rounds, cpu } of live) {
    if (scenario.cpu) {
      const labels = [...new Set(cpu.flatMap((round) => Object.keys(round)))];
      rows.get(spec)!.cpuUsPerRequest = Object.fromEntries(
        labels.map((label) => [label, medianOrNull(cpu.map((round) => round[label] ?? 0)) ?? 0]),
      );
    }
    Object.assign(rows.get(spec)!, {
      reqPerSec: median(rounds.map((r) => r.reqPerSec)),
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
      errors: rounds.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
      rounds,
    });
  }
  const all = scenario.targets.map((spec) => rows.get(spec)!);
  const base = all[scenario.baseline?.index ?? 0]?.reqPerSec;
  for (const r of all) r.ratio = base && r.reqPerSec !== null ? r.reqPerSec / base : null;
  return {
    kind: 'http',
    name: scenario.name,
    description: scenario.description,
    rows: all,
    ...(scenario.baseline ? { baseline: scenario.baseline.name } : {}),
    ...(paired[0] ? { paired: paired[0] } : {}),
    ...(paired.length > 1 ? { alsoPaired: paired.slice(1) } : {}),
    notes: scenario.after ? await scenario.after() : [],
  };
}

async function measurePairs(
  scenario: HttpScenario,
  spec: PairedSpec,
  on: Live,
  load: LoadGenerator,
  settings: RoundSettings,
  log: (line: string) => void,
): Promise<PairedResult> {
  const reference = { ...scenario.request, path: spec.path };
  const url = on.target.url;
  const pairs: PairedResult['pairs'] = [];
  for (let pair = 1; pair <= settings.pairs; pair++) {
    // A B, then B A: a steady drift over the pairs weighs on both sides alike.
    const order = pair % 2 === 1 ? ['scenario', 'reference'] : ['reference', 'scenario'];
    const measured: Partial<Record<'scenario' | 'reference', Round>> = {};
    for (const side of order as Array<'scenario' | 'reference'>) {
      const request = side === 'scenario' ? scenario.request : reference;
      measured[side] = await load.round(url, request, settings.seconds, settings.connections);
    }
    const { scenario: a, reference: b } = measured as Record<'scenario' | 'reference', Round>;
    pairs.push({ scenario: a, reference: b });
    log(
      `${scenario.name} pair ${pair} on ${on.target.name}: ${request(scenario.request)} ${Math.round(a.reqPerSec)} req/s, ` +
        `${request(reference)} ${Math.round(b.reqPerSec)} req/s (${(a.reqPerSec / b.reqPerSec).toFixed(3)})`,
    );
  }
  return {
    role: spec.role,
    target: on.target.name,
    label: spec.label,
    pairs,
    ratio: median(pairs.map((p) => p.scenario.reqPerSec / p.reference.reqPerSec)),
  };
}

function request(r: LoadRequest): string {
  return `${r.method} ${r.path}`;
}
