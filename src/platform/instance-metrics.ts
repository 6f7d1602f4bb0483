/**
 * What `/metrics` and `GET /api/instances` say about instance starts beyond the S10 counters
 * (docs/metering.md): the warm spares' use (src/scheduler/warm-spares.ts) and how long loading
 * requests waited for their instance (S6: the first request an instance serves).
 */
import type { WarmSparesView } from '../admin/api-views.js';
import type { WarmSpares } from '../scheduler/warm-spares.js';

/** Upper bounds of the loading-wait histogram's buckets, in seconds. */
const bucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/**
 * Loading requests' time in the pending queue: what a request that found no instance of its
 * version waited for one to start.
 *
 * @example
 * const waits = new LoadingWaits();
 * waits.observe(23); // ms
 */
export class LoadingWaits {
  readonly #counts = new Array<number>(bucketsSeconds.length).fill(0);
  #count = 0;
  #sumSeconds = 0;
  /** The last one's wait, ms; undefined before the first. */
  lastMs: number | undefined;

  observe(ms: number): void {
    const seconds = ms / 1000;
    this.#count++;
    this.#sumSeconds += seconds;
    this.lastMs = ms;
    for (let i = 0; i < bucketsSeconds.length; i++) if (seconds <= bucketsSeconds[i]!) this.#counts[i]!++;
  }

  /** Prometheus text of the histogram `hangar_loading_request_wait_seconds`. */
  text(): string {
    const name = 'hangar_loading_request_wait_seconds';
    const lines = [
      `# HELP ${name} Time loading requests (an instance's first) waited for their instance to start.`,
      `# TYPE ${name} histogram`,
      ...bucketsSeconds.map((le, i) => `${name}_bucket{le="${le}"} ${this.#counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.#count}`,
      `${name}_sum ${Number(this.#sumSeconds.toPrecision(12))}`,
      `${name}_count ${this.#count}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}

/**
 * The warm spares for `GET /api/instances`; their memory counts with the instances'.
 *
 * @example
 * sparesView(spares, waits) // { kept: 1, hits: 3, misses: 1, lastLoadingWaitMs: 21, spares: [...] }
 */
export function sparesView(spares: WarmSpares | undefined, waits: LoadingWaits): WarmSparesView {
  return {
    kept: spares?.count ?? 0,
    hits: spares?.counters.hits ?? 0,
    misses: spares?.counters.misses ?? 0,
    lastLoadingWaitMs: waits.lastMs ?? null,
    spares: (spares?.list() ?? []).map((spare) => ({
      pid: spare.pid,
      started: spare.startedAt.toISOString(),
      ready: spare.ready,
      memory: spare.rss,
    })),
  };
}

/**
 * Prometheus text of the spares and the loading waits, appended to the S10 counters' page.
 *
 * @example
 * body += instanceMetricsText(spares, waits);
 */
export function instanceMetricsText(spares: WarmSpares | undefined, waits: LoadingWaits): string {
  const view = sparesView(spares, waits);
  const memory = view.spares.reduce((sum, spare) => sum + spare.memory, 0);
  return [
    '# HELP hangar_warm_spare_hits_total Instance starts that took a warm spare.',
    '# TYPE hangar_warm_spare_hits_total counter',
    `hangar_warm_spare_hits_total ${view.hits}`,
    '# HELP hangar_warm_spare_misses_total Instance starts that spawned a process (no warm spare of their kind, or none usable).',
    '# TYPE hangar_warm_spare_misses_total counter',
    `hangar_warm_spare_misses_total ${view.misses}`,
    '# HELP hangar_warm_spares Warm spare processes waiting now.',
    '# TYPE hangar_warm_spares gauge',
    `hangar_warm_spares ${view.spares.length}`,
    '# HELP hangar_warm_spare_memory_bytes Resident memory of the waiting warm spares.',
    '# TYPE hangar_warm_spare_memory_bytes gauge',
    `hangar_warm_spare_memory_bytes ${memory}`,
    waits.text(),
  ].join('\n');
}
