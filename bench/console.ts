/**
 * The console scenario (issue 20: "the console adds no measurable cost to the request path").
 * hello (GET /) on ONE `hangar serve` with bench/app deployed, measured in back-to-back pairs:
 * no console client, then a console client attached (B A in every other pair, as the logging
 * scenario's pairs in http-runner.ts), `BENCH_PAIRS` pairs; the cost is 1 − the median of the
 * pairs' req/s ratios. The console client lives in the suite's own process and does what an
 * open console tab does: reads the live tail (`GET /api/logs/stream`, one SSE event per finished
 * request) and polls `GET /api/timeseries?range=900` and `GET /api/instances` every 2 s, with
 * the admin token as a bearer token (standing for the console's session cookie). It counts the
 * events it reads, so the report can show it received about one per request: it really tailed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import type { LoadGenerator, Round } from './load.js';
import { median } from './stats.js';
import {
  helloRequest,
  type ServeProcess,
  serveName,
  startProblem,
  startServe,
  stopHangar,
} from './targets.js';

/** What one attachment of the console client did. */
export interface ConsoleClientStats {
  /** Entries read from `/api/logs/stream` (at most CONSOLE_TAIL_PER_SECOND a second). */
  entries: number;
  /** Entries the stream counted as skipped beyond that rate (its `event: skipped`). */
  skipped: number;
  streamBytes: number;
  /** The first entry read, as a check that the events are hello's log entries. */
  first: { method: string; resource: string; status: number } | null;
  /** Answered polls (2xx), per endpoint. */
  polls: { timeseries: number; instances: number };
  /** Polls that failed or did not answer 2xx. */
  pollErrors: number;
  /** Why the stream ended before the client detached, if it did. */
  streamError?: string;
}

export interface ConsolePair {
  /** Which side ran first: `without` (A B) or `with` (B A). */
  first: 'without' | 'with';
  without: Round;
  with: Round;
  /** The console client during the `with` round (attached just before it, detached once the tail went quiet). */
  client: ConsoleClientStats;
  /**
   * CPU time of the suite's own process during each round (user + system, ms): in the `with`
   * round mostly the console client reading the tail, which competes with the platform and wrk
   * for the same cores (a browser on this machine would too).
   */
  suiteCpuMs: { without: number; with: number };
}

export interface ConsoleResult {
  kind: 'console';
  name: 'console';
  description: string;
  target: string;
  pairs: ConsolePair[];
  /** Median over the pairs of req/s with the console ÷ req/s without; null when nothing was measured. */
  ratio: number | null;
  /** Why there are no figures (Hangar did not start, the client could not attach): fails the run. */
  problem?: string;
}

export interface ConsoleSettings {
  seconds: number;
  pairs: number;
  connections: number;
  warmupSeconds: number;
}

/** How often the console's pages poll (src/console: usePolling(…, 2000, …)). */
const pollMs = 2000;
/** The console's live tail asks for this many entries a second at most (src/console/pages/logs.tsx). */
export const CONSOLE_TAIL_PER_SECOND = 20;

const polled = { timeseries: '/api/timeseries?range=900', instances: '/api/instances' } as const;

export const consoleDescription =
  'GET / → "Hello, World!" on one `hangar serve`, without and with a console client tailing ' +
  '(`GET /api/logs/stream` open and read, `GET /api/timeseries?range=900` and `GET /api/instances` ' +
  'every 2 s, bearer token), back to back in pairs';

export interface ConsoleClient {
  readonly stats: ConsoleClientStats;
  /** Stops polling, closes the stream and its connections; resolves with what it did. */
  detach(): Promise<ConsoleClientStats>;
}

/**
 * Opens the live tail (resolves once the stream answered 200) and starts the two polls, each at
 * once and then every 2 s, one at a time (a tick is skipped while the last poll is unanswered,
 * as the console does). Its own connection pool, closed on detach: nothing of it stays open.
 */
export async function attachConsole(adminUrl: string, token: string): Promise<ConsoleClient> {
  const dispatcher = new Agent();
  const headers = { authorization: `Bearer ${token}` };
  const stats: ConsoleClientStats = {
    entries: 0,
    skipped: 0,
    streamBytes: 0,
    first: null,
    polls: { timeseries: 0, instances: 0 },
    pollErrors: 0,
  };
  const aborted = new AbortController();
  let res: Awaited<ReturnType<typeof fetch>>;
  try {
    res = await fetch(`${adminUrl}/api/logs/stream?max_per_second=${CONSOLE_TAIL_PER_SECOND}`, {
      headers,
      dispatcher,
      signal: aborted.signal,
    });
    if (res.status !== 200 || !res.body)
      throw new Error(`GET /api/logs/stream answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  } catch (err) {
    await dispatcher.destroy();
    throw err;
  }
  const body = res.body;
  const reading = (async () => {
    // Events are `data: <entry JSON>` or `event: skipped` + `data: {"skipped":N}` (beyond the
    // console's max_per_second), each ending in a blank line; a chunk may end mid-event.
    let pending = '';
    for await (const chunk of body) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      stats.streamBytes += bytes.length;
      pending += bytes.toString('utf8');
      const end = pending.lastIndexOf('\n\n');
      if (end === -1) continue;
      const complete = pending.slice(0, end);
      pending = pending.slice(end + 2);
      for (const event of complete.split('\n\n')) {
        if (event.startsWith('event: skipped\n')) {
          stats.skipped += (
            JSON.parse(event.slice(event.indexOf('data: ') + 6)) as { skipped: number }
          ).skipped;
        } else if (event.startsWith('data: ')) {
          stats.entries++;
          if (stats.first === null) {
            const entry = JSON.parse(event.slice(6)) as { method: string; resource: string; status: number };
            stats.first = { method: entry.method, resource: entry.resource, status: entry.status };
          }
        }
      }
    }
  })().catch((err: Error) => {
    if (!aborted.signal.aborted) stats.streamError = err.message;
  });

  const busy = new Map<keyof typeof polled, Promise<void>>();
  const poll = (which: keyof typeof polled) => {
    if (busy.has(which)) return;
    const once = fetch(`${adminUrl}${polled[which]}`, { headers, dispatcher })
      .then(async (answer) => {
        await answer.arrayBuffer();
        if (answer.ok) stats.polls[which]++;
        else stats.pollErrors++;
      })
      .catch(() => {
        stats.pollErrors++;
      })
      .finally(() => busy.delete(which));
    busy.set(which, once);
  };
  const timers = (Object.keys(polled) as Array<keyof typeof polled>).map((which) => {
    poll(which);
    return setInterval(() => poll(which), pollMs);
  });

  return {
    stats,
    async detach() {
      for (const timer of timers) clearInterval(timer);
      await Promise.all(busy.values());
      aborted.abort();
      await reading;
      await dispatcher.destroy();
      return stats;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the tail has read nothing new for 300 ms (the requests in flight at the round's end, the log's 50 ms hold); at most 5 s. */
async function quiet(client: ConsoleClient): Promise<void> {
  const deadline = Date.now() + 5000;
  let seen = -1;
  while (client.stats.entries + client.stats.skipped !== seen && Date.now() < deadline) {
    seen = client.stats.entries + client.stats.skipped;
    await sleep(300);
  }
}

export async function runConsole(
  load: LoadGenerator,
  settings: ConsoleSettings,
  log: (line: string) => void,
): Promise<ConsoleResult> {
  const result: ConsoleResult = {
    kind: 'console',
    name: 'console',
    description: consoleDescription,
    target: serveName,
    pairs: [],
    ratio: null,
  };
  let hangar: ServeProcess;
  try {
    // startServe returns once GET / answered right (probe.ts's check, byte for byte).
    hangar = await startServe();
  } catch (err) {
    result.problem = startProblem('production', err);
    log(`console: ${serveName}: ${result.problem}`);
    return result;
  }
  try {
    const token = readFileSync(join(hangar.dataDir, 'admin-token'), 'utf8').trim();
    let cpuMs = 0;
    const round = async () => {
      const cpu = process.cpuUsage();
      const measured = await load.round(hangar.url, helloRequest, settings.seconds, settings.connections);
      const used = process.cpuUsage(cpu);
      cpuMs = (used.user + used.system) / 1000;
      return measured;
    };
    const withConsole = async (measure: () => Promise<Round>) => {
      const client = await attachConsole(hangar.adminUrl, token);
      try {
        const measured = await measure();
        await quiet(client);
        return { round: measured, client: await client.detach() };
      } catch (err) {
        await client.detach();
        throw err;
      }
    };
    // Warm-up of both sides: the JIT of the request path and of the tail's (entries to JSON, SSE writes).
    const warmup = () => load.round(hangar.url, helloRequest, settings.warmupSeconds, settings.connections);
    await warmup();
    try {
      await withConsole(warmup);
    } catch (err) {
      result.problem = `CONSOLE CLIENT FAILED: ${(err as Error).message}`;
      log(`console: ${result.problem}`);
      return result;
    }
    for (let pair = 1; pair <= settings.pairs; pair++) {
      // A B, then B A: a steady drift over the pairs weighs on both sides alike.
      const first = pair % 2 === 1 ? 'without' : 'with';
      let without: Round | undefined;
      let tailed: { round: Round; client: ConsoleClientStats } | undefined;
      const suiteCpuMs = { without: 0, with: 0 };
      for (const side of first === 'without' ? ['without', 'with'] : ['with', 'without']) {
        if (side === 'without') without = await round();
        else tailed = await withConsole(round);
        suiteCpuMs[side as 'without' | 'with'] = cpuMs;
      }
      const { round: measured, client } = tailed!;
      result.pairs.push({ first, without: without!, with: measured, client, suiteCpuMs });
      log(
        `console pair ${pair} on ${serveName}: without ${Math.round(without!.reqPerSec)} req/s, ` +
          `with the console tailing ${Math.round(measured.reqPerSec)} req/s ` +
          `(${(measured.reqPerSec / without!.reqPerSec).toFixed(3)}); the tail read ${client.entries} entries (${client.skipped} more skipped) ` +
          `for ${measured.requests} requests, polls ${client.polls.timeseries} + ${client.polls.instances}, ` +
          `suite CPU ${Math.round(suiteCpuMs.without)} / ${Math.round(suiteCpuMs.with)} ms` +
          (client.pollErrors ? `, ${client.pollErrors} failed` : '') +
          (client.streamError ? `; stream ended: ${client.streamError}` : ''),
      );
    }
  } finally {
    await stopHangar(hangar);
  }
  if (result.pairs.length)
    result.ratio = median(result.pairs.map((p) => p.with.reqPerSec / p.without.reqPerSec));
  return result;
}

/**
 * Entries the tail accounted for (read, or counted as skipped beyond the console's rate) ÷
 * requests the load generator counted, over every `with` round: near 1 when it really tailed.
 */
export function tailedShare(result: ConsoleResult): {
  entries: number;
  skipped: number;
  requests: number;
  share: number;
} {
  const entries = result.pairs.reduce((sum, p) => sum + p.client.entries, 0);
  const skipped = result.pairs.reduce((sum, p) => sum + p.client.skipped, 0);
  const requests = result.pairs.reduce((sum, p) => sum + p.with.requests, 0);
  return { entries, skipped, requests, share: requests ? (entries + skipped) / requests : 0 };
}

/** The no-console rounds' req/s: median, min, max and (max − min) ÷ median, the round-to-round noise. */
export function withoutSpread(result: ConsoleResult): {
  median: number;
  min: number;
  max: number;
  spread: number;
} {
  const values = result.pairs.map((p) => p.without.reqPerSec);
  const mid = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { median: mid, min, max, spread: (max - min) / mid };
}
