/**
 * The metrics behind the console's charts (docs/console.md "The metrics behind the charts"):
 * per app, service and version, one slot per second for the last hour, in memory only. The
 * request log could answer the same questions, but a chart polled every few seconds must not
 * scan SQLite, and the figures need not outlive the process.
 *
 * A series is a ring of 3,600 one-second slots held in typed arrays allocated once, when the
 * version's first request (or socket byte) arrives, so counting a request allocates nothing:
 * a few additions and one histogram bucket increment. A slot remembers which epoch second it
 * holds; a slot still holding a second from an hour ago is cleared when that second comes
 * round again, so the ring needs no sweeping. A series is about 1.1 MB (the latency histogram
 * is 3,600 × 64 counters), so a version without traffic for an hour is dropped.
 *
 * Requests are counted in the second they finish, with the latency they took.
 */
import { HangarError } from '../shared/errors.js';
import type { RequestRecord } from '../shared/request-record.js';
import type { InstanceSample } from './meter.js';

/** One slot per second for the last hour. */
const SLOTS = 3_600;
/** Points per chart: `step` = range / POINTS. */
const POINTS = 300;
/** The ranges `query` answers, in seconds: their steps (1, 3, 12 s) divide the hour evenly. */
export const TIME_SERIES_RANGES: readonly number[] = [300, 900, 3_600];
/** The range `GET /api/timeseries` answers without `range=`. */
export const DEFAULT_RANGE_SECONDS = 900;

/**
 * The latency histogram: bucket i holds latencies up to 0.1 ms × 1.25^i (bucket 0 everything
 * up to 0.1 ms), 64 buckets up to 0.1 × 1.25^63 ≈ 127 s, so 2 minutes is covered; longer
 * latencies land in the last bucket. Fixed buckets make a step's percentiles a sum of its
 * seconds' histograms, which a list of samples or a sketch per second could not give as cheaply.
 */
const BUCKET_BASE_MS = 0.1;
const BUCKET_GROWTH = 1.25;
const MAX_LATENCY_MS = 120_000;
export const LATENCY_BUCKETS =
  Math.ceil(Math.log(MAX_LATENCY_MS / BUCKET_BASE_MS) / Math.log(BUCKET_GROWTH)) + 1;
const LAST_BUCKET = LATENCY_BUCKETS - 1;
const LOG_GROWTH = Math.log(BUCKET_GROWTH);
const UPPER_BOUNDS = Float64Array.from(
  { length: LATENCY_BUCKETS },
  (_, i) => BUCKET_BASE_MS * BUCKET_GROWTH ** i,
);

/** The histogram bucket of a latency in milliseconds. */
export function latencyBucket(ms: number): number {
  // Also NaN and negative values: bucket 0 rather than an index out of the array.
  if (!(ms > BUCKET_BASE_MS)) return 0;
  if (ms > UPPER_BOUNDS[LAST_BUCKET - 1]!) return LAST_BUCKET;
  let i = Math.ceil(Math.log(ms / BUCKET_BASE_MS) / LOG_GROWTH);
  // The logarithm can land a hair off at a bucket's exact bound; the bounds table decides.
  if (ms > UPPER_BOUNDS[i]!) i++;
  else if (ms <= UPPER_BOUNDS[i - 1]!) i--;
  return i;
}

/**
 * What a percentile in bucket i reports: the bucket's geometric midpoint (upper bound / √1.25),
 * within ±11.8 % of any latency in the bucket. The upper bound would always overstate, by up to
 * 25 %. (Bucket 0 reports 0.089 ms for anything up to 0.1 ms.)
 */
export function bucketMidpoint(i: number): number {
  return UPPER_BOUNDS[i]! / Math.sqrt(BUCKET_GROWTH);
}

/** One app version's points, as `GET /api/timeseries` answers them (docs/console.md). */
export interface SeriesPoints {
  app: string;
  service: string;
  version: string;
  /** The start of each step, epoch seconds, oldest first. */
  t: number[];
  /** Per second, averaged over the step. */
  requests: number[];
  /** Milliseconds over the step's requests; null when it had none. */
  p50: Array<number | null>;
  p95: Array<number | null>;
  p99: Array<number | null>;
  errors4xx: number[];
  errors5xx: number[];
  /** Requests whose record carries a `HANGAR_E_…` error. */
  errorsPlatform: number[];
  /** Instances not stopped: the mean of the step's once-a-second samples. */
  instances: number[];
  /** Loading requests (S9) per second. */
  loading: number[];
  bytesIn: number[];
  bytesOut: number[];
  socketBytes: number[];
}

export interface TimeSeriesReport {
  /** Epoch seconds. */
  now: number;
  /** Seconds per point: range / 300. */
  step: number;
  /** Ordered by app, service, version. */
  series: SeriesPoints[];
}

export interface TimeSeriesQuery {
  /** 300, 900 or 3600. */
  rangeSeconds: number;
  /** Only this app's versions. */
  app?: string | undefined;
  /** Epoch milliseconds; default the clock's. */
  now?: number | undefined;
}

export interface TimeSeriesOptions {
  /** Clock (epoch milliseconds), for tests. */
  now?: () => number;
}

/** The counters of one app version, a slot per second. */
class Series {
  /** The epoch second each slot holds; -1: none yet. A slot is only read when it matches. */
  readonly second = new Float64Array(SLOTS).fill(-1);
  readonly requests = new Uint32Array(SLOTS);
  readonly errors4xx = new Uint32Array(SLOTS);
  readonly errors5xx = new Uint32Array(SLOTS);
  readonly errorsPlatform = new Uint32Array(SLOTS);
  readonly loading = new Uint32Array(SLOTS);
  // Float64: a second's bytes can pass 2^32, and doubles count exactly far beyond that.
  readonly bytesIn = new Float64Array(SLOTS);
  readonly bytesOut = new Float64Array(SLOTS);
  readonly socketBytes = new Float64Array(SLOTS);
  /** The instance sample of the second; -1: not sampled (the sampler may skip a second). */
  readonly instances = new Int32Array(SLOTS).fill(-1);
  /** LATENCY_BUCKETS counters per slot. */
  readonly histogram = new Uint32Array(SLOTS * LATENCY_BUCKETS);
  /** The last second with a request or socket bytes. */
  lastActive = 0;
  /** Instances counted by the sample in progress. */
  sampled = 0;

  constructor(
    readonly app: string,
    readonly service: string,
    readonly version: string,
  ) {}

  /** The slot of epoch second `second`, cleared first if it still holds an older second. */
  slot(second: number): number {
    const i = second % SLOTS;
    if (this.second[i] !== second) {
      this.second[i] = second;
      this.requests[i] = 0;
      this.errors4xx[i] = 0;
      this.errors5xx[i] = 0;
      this.errorsPlatform[i] = 0;
      this.loading[i] = 0;
      this.bytesIn[i] = 0;
      this.bytesOut[i] = 0;
      this.socketBytes[i] = 0;
      this.instances[i] = -1;
      this.histogram.fill(0, i * LATENCY_BUCKETS, (i + 1) * LATENCY_BUCKETS);
    }
    return i;
  }
}

/** The per-second metrics of one platform process. */
export class TimeSeries {
  readonly #now: () => number;
  /** app → service → version → series: looked up without building a key string per request. */
  readonly #byApp = new Map<string, Map<string, Map<string, Series>>>();
  readonly #all = new Set<Series>();

  constructor(options: TimeSeriesOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Series held: versions with traffic in the last hour. */
  get size(): number {
    return this.#all.size;
  }

  /** Counts a finished request. Requests that reached no app version (rejected before routing) are not counted. */
  record(r: RequestRecord): void {
    if (r.app === undefined || r.service === undefined || r.version === undefined) return;
    const second = this.#second();
    const series = this.#series(r.app, r.service, r.version, true);
    series.lastActive = second;
    const i = series.slot(second);
    series.requests[i]!++;
    if (r.status >= 500 && r.status < 600) series.errors5xx[i]!++;
    else if (r.status >= 400 && r.status < 500) series.errors4xx[i]!++;
    if (r.error?.startsWith('HANGAR_E_')) series.errorsPlatform[i]!++;
    if (r.loadingRequest) series.loading[i]!++;
    series.bytesIn[i]! += r.bytesIn ?? 0;
    series.bytesOut[i]! += r.bytesOut;
    series.histogram[i * LATENCY_BUCKETS + latencyBucket(r.latencyMs)]!++;
  }

  /** Bytes an app version's sockets sent and received (the socket service reports them). */
  addSocketBytes(app: string, service: string, version: string, bytes: number): void {
    if (!(bytes > 0)) return;
    const second = this.#second();
    const series = this.#series(app, service, version, true);
    series.lastActive = second;
    series.socketBytes[series.slot(second)]! += bytes;
  }

  /**
   * Called once a second with the platform's instances: the not stopped ones are counted per
   * version into the current second. Only versions with a series are sampled: an idle instance
   * is no traffic, and must not keep its version's series alive. Also drops idle series.
   */
  sampleInstances(list: readonly InstanceSample[]): void {
    const second = this.#second();
    this.#prune(second);
    for (const series of this.#all) series.sampled = 0;
    for (const instance of list) {
      if (instance.state === 'stopped') continue;
      const series = this.#series(instance.app, instance.service, instance.version, false);
      if (series) series.sampled++;
    }
    for (const series of this.#all) series.instances[series.slot(second)] = series.sampled;
  }

  /**
   * The points of the last `rangeSeconds` (docs/console.md). Steps are aligned to multiples of
   * `step`, so a polled chart's older points keep their values; the newest is the step still
   * running, which holds the current second. Each step is averaged over its seconds that have
   * begun, so the running one is not diluted by seconds yet to come. The 300 steps then reach
   * back at most 3,599 seconds: the ring holds every one of them.
   */
  query(query: TimeSeriesQuery): TimeSeriesReport {
    const { rangeSeconds } = query;
    if (!TIME_SERIES_RANGES.includes(rangeSeconds)) throw badRange(String(rangeSeconds));
    // Idle series go by the clock, not by a `now` the caller asks about.
    this.#prune(this.#second());
    const now = Math.floor((query.now ?? this.#now()) / 1000);
    const step = rangeSeconds / POINTS;
    const first = now - (now % step) - (POINTS - 1) * step;
    const series = [...this.#all]
      .filter((s) => query.app === undefined || s.app === query.app)
      .sort(
        (a, b) =>
          a.app.localeCompare(b.app) ||
          a.service.localeCompare(b.service) ||
          a.version.localeCompare(b.version),
      )
      .map((s) => points(s, first, step, now));
    return { now, step, series };
  }

  #second(): number {
    return Math.floor(this.#now() / 1000);
  }

  #series(app: string, service: string, version: string, create: true): Series;
  #series(app: string, service: string, version: string, create: false): Series | undefined;
  #series(app: string, service: string, version: string, create: boolean): Series | undefined {
    let services = this.#byApp.get(app);
    let versions = services?.get(service);
    const found = versions?.get(version);
    if (found || !create) return found;
    if (!services) {
      services = new Map();
      this.#byApp.set(app, services);
    }
    if (!versions) {
      versions = new Map();
      services.set(service, versions);
    }
    const series = new Series(app, service, version);
    versions.set(version, series);
    this.#all.add(series);
    return series;
  }

  /** Drops the series whose last traffic is an hour old: nothing of it is left in any range. */
  #prune(now: number): void {
    for (const series of this.#all) {
      if (now - series.lastActive < SLOTS) continue;
      this.#all.delete(series);
      const services = this.#byApp.get(series.app);
      const versions = services?.get(series.service);
      versions?.delete(series.version);
      if (versions?.size === 0) services?.delete(series.service);
      if (services?.size === 0) this.#byApp.delete(series.app);
    }
  }
}

/** Reads `range` and `app` of `GET /api/timeseries`; a malformed range is a USAGE error (400). */
export function timeSeriesQuery(params: URLSearchParams): TimeSeriesQuery {
  const range = params.get('range');
  const app = params.get('app');
  if (range !== null && !/^\d+$/.test(range)) throw badRange(range);
  return {
    rangeSeconds: range === null ? DEFAULT_RANGE_SECONDS : Number(range),
    ...(app !== null && app !== '' ? { app } : {}),
  };
}

function badRange(given: string): HangarError {
  return new HangarError(
    'USAGE',
    `range must be ${TIME_SERIES_RANGES.slice(0, -1).join(', ')} or ${TIME_SERIES_RANGES.at(-1)} (seconds), not '${given}'`,
  );
}

/**
 * Percentiles and instance means to three decimals (a microsecond): the figures are no finer
 * than that, and the JSON stays short. Rates are left exact, so rate × step gives back a count.
 */
function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The POINTS steps of `series` from epoch second `first`; seconds after `now` have not begun. */
function points(series: Series, first: number, step: number, now: number): SeriesPoints {
  const out: SeriesPoints = {
    app: series.app,
    service: series.service,
    version: series.version,
    t: [],
    requests: [],
    p50: [],
    p95: [],
    p99: [],
    errors4xx: [],
    errors5xx: [],
    errorsPlatform: [],
    instances: [],
    loading: [],
    bytesIn: [],
    bytesOut: [],
    socketBytes: [],
  };
  const histogram = new Float64Array(LATENCY_BUCKETS);
  // A step without an instance sample (the sampler ran late, or not yet this second) shows the
  // last sample before it rather than a dip to 0.
  let lastInstances = 0;
  for (let k = 0; k < POINTS; k++) {
    const start = first + k * step;
    const end = Math.min(start + step, now + 1);
    let requests = 0;
    let errors4xx = 0;
    let errors5xx = 0;
    let errorsPlatform = 0;
    let loading = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let socketBytes = 0;
    let instances = 0;
    let samples = 0;
    histogram.fill(0);
    for (let second = start; second < end; second++) {
      const i = second % SLOTS;
      // A slot holding another second is an hour old (or was never written): nothing here.
      if (series.second[i] !== second) continue;
      requests += series.requests[i]!;
      errors4xx += series.errors4xx[i]!;
      errors5xx += series.errors5xx[i]!;
      errorsPlatform += series.errorsPlatform[i]!;
      loading += series.loading[i]!;
      bytesIn += series.bytesIn[i]!;
      bytesOut += series.bytesOut[i]!;
      socketBytes += series.socketBytes[i]!;
      const sample = series.instances[i]!;
      if (sample >= 0) {
        instances += sample;
        samples++;
        lastInstances = sample;
      }
      if (series.requests[i] === 0) continue;
      const base = i * LATENCY_BUCKETS;
      for (let b = 0; b < LATENCY_BUCKETS; b++) histogram[b]! += series.histogram[base + b]!;
    }
    const seconds = end - start;
    out.t.push(start);
    out.requests.push(requests / seconds);
    out.errors4xx.push(errors4xx / seconds);
    out.errors5xx.push(errors5xx / seconds);
    out.errorsPlatform.push(errorsPlatform / seconds);
    out.loading.push(loading / seconds);
    out.bytesIn.push(bytesIn / seconds);
    out.bytesOut.push(bytesOut / seconds);
    out.socketBytes.push(socketBytes / seconds);
    out.instances.push(samples > 0 ? round(instances / samples) : lastInstances);
    const [p50, p95, p99] = percentiles(histogram, requests);
    out.p50.push(p50);
    out.p95.push(p95);
    out.p99.push(p99);
  }
  return out;
}

/** p50, p95 and p99 (nearest rank) of `count` latencies in `histogram`; nulls for none. */
function percentiles(histogram: Float64Array, count: number): [number | null, number | null, number | null] {
  if (count === 0) return [null, null, null];
  const ranks = [Math.ceil(0.5 * count), Math.ceil(0.95 * count), Math.ceil(0.99 * count)];
  const found: [number | null, number | null, number | null] = [null, null, null];
  let seen = 0;
  let r = 0;
  for (let b = 0; b < LATENCY_BUCKETS && r < 3; b++) {
    seen += histogram[b]!;
    while (r < 3 && seen >= ranks[r]!) found[r++] = round(bucketMidpoint(b));
  }
  return found;
}
