/**
 * `hangar logs` (SPEC S2, S9): request log entries with their app lines, from the admin API.
 * A table by default (one line per request, its lines indented, levels coloured on a TTY),
 * `--json` one S9 object per line, newest last; `--tail` keeps following over SSE.
 */

import { formatAppLine } from '../logs/request-line.js';
import type { LogEntry, LogPage } from '../logs/types.js';
import { HangarError } from '../shared/errors.js';
import { paint } from '../shared/logger.js';
import { type AdminClientOptions, adminGetJson, adminTarget } from './admin-client.js';

export interface LogsOptions extends AdminClientOptions {
  app?: string;
  service?: string;
  version?: string;
  requestId?: string;
  minLevel?: string;
  since?: string;
  until?: string;
  status?: string;
  grep?: string;
  limit?: string;
  json?: boolean;
  tail?: boolean;
  /** Stack traces with every frame, not only the app's own (stack-trim.ts); --json always has them all. */
  fullTraces?: boolean;
}

/** How to see the frames the table hides. */
const trimHint = 'hangar logs --full-traces shows them';

/** The API's page size limit; `--limit` above it is fetched in pages. */
const PAGE = 1000;

/** The filter flags as `GET /api/logs` parameters. */
export function logsParams(opts: LogsOptions): URLSearchParams {
  const params = new URLSearchParams();
  const pairs: Array<[string, string | undefined]> = [
    ['app', opts.app],
    ['service', opts.service],
    ['version', opts.version],
    ['requestId', opts.requestId],
    ['minLevel', opts.minLevel],
    ['since', opts.since],
    ['until', opts.until],
    ['status', opts.status],
    ['text', opts.grep],
  ];
  for (const [name, value] of pairs) if (value !== undefined) params.set(name, value);
  return params;
}

/** Runs `hangar logs`; with `--tail` it returns only when the stream ends. */
export async function runLogs(opts: LogsOptions): Promise<void> {
  const limit = Number(opts.limit ?? (opts.tail ? 10 : 100));
  if (!Number.isInteger(limit) || limit < 1) {
    throw new HangarError(
      'USAGE',
      `--limit must be a whole number of requests, at least 1, not '${opts.limit}'`,
    );
  }
  const color = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const params = logsParams(opts);
  // Follow first, then read the history: nothing that finishes in between is missed.
  const stream = opts.tail ? await openStream(opts, params) : undefined;
  const entries = await fetchNewest(opts, params, limit);
  const apps = new AppColumn(Boolean(opts.app), entries);
  const print = (entry: LogEntry) =>
    process.stdout.write(
      `${opts.json ? JSON.stringify(entry) : formatEntry(entry, color, apps.shown, opts.fullTraces ? undefined : trimHint)}\n`,
    );
  if (!opts.json && !opts.tail && entries.length === 0) process.stderr.write('(no matching requests)\n');
  for (const entry of entries) print(entry);
  if (!stream) return;
  let last = entries.at(-1)?.requestId ?? '';
  for await (const entry of stream) {
    // Ids sort by start time; an entry already printed from the history is skipped.
    if (entries.length > 0 && entry.requestId <= last && entries.some((e) => e.requestId === entry.requestId))
      continue;
    if (entry.requestId > last) last = entry.requestId;
    const note = apps.see(entry);
    if (note && !opts.json) process.stderr.write(`${note}\n`);
    print(entry);
  }
}

/**
 * Whether the table names each entry's app (`alpha/default/v1` instead of `default/v1`): only
 * once entries of more than one app are shown. On `dev` and on a `serve` with one app (the usual
 * case), or with `--app`, every entry is of the same app, and repeating its name on every line
 * would only push the request id and error further right; where apps mix, a line without it
 * could be any app's. The history decides up front; under `--tail`, the first entry of a second
 * app turns it on from there, with a note saying whose the unlabelled entries above were.
 */
export class AppColumn {
  readonly #filtered: boolean;
  #shown: boolean;
  #first: string | null | undefined;

  /** `filtered`: the query named one app (`--app`); `history`: the entries printed first. */
  constructor(filtered: boolean, history: readonly LogEntry[]) {
    this.#filtered = filtered;
    this.#first = history[0]?.appId;
    this.#shown = !filtered && history.some((e) => e.appId !== this.#first);
  }

  get shown(): boolean {
    return this.#shown;
  }

  /** Notes a streamed entry; returns the note to print when it turns the app column on. */
  see(entry: LogEntry): string | undefined {
    if (this.#shown || this.#filtered) return undefined;
    if (this.#first === undefined) {
      this.#first = entry.appId;
      return undefined;
    }
    if (entry.appId === this.#first) return undefined;
    this.#shown = true;
    return `(entries of more than one app from here on, each with its app; the ones above are all ${this.#first === null ? 'without an app' : `of app ${this.#first}`})`;
  }
}

/** The newest `limit` entries, newest last, paging back through the API as needed. */
async function fetchNewest(opts: LogsOptions, params: URLSearchParams, limit: number): Promise<LogEntry[]> {
  const pages: LogEntry[][] = [];
  let got = 0;
  let cursor: string | null = null;
  do {
    const p = new URLSearchParams(params);
    p.set('limit', String(Math.min(PAGE, limit - got)));
    if (cursor) p.set('cursor', cursor);
    const page: LogPage = await adminGetJson<LogPage>(opts, `/api/logs?${p}`);
    pages.unshift(page.entries);
    got += page.entries.length;
    cursor = page.next;
  } while (cursor && got < limit);
  return pages.flat();
}

/** Entries from `GET /api/logs/stream` as they come. */
async function openStream(
  opts: AdminClientOptions,
  params: URLSearchParams,
): Promise<AsyncIterable<LogEntry>> {
  const { server, token } = adminTarget(opts);
  let res: Response;
  try {
    res = await fetch(`${server}/api/logs/stream?${params}`, {
      headers: { authorization: `Bearer ${token}` },
    });
  } catch (err) {
    throw new HangarError(
      'ADMIN_API',
      `cannot reach the admin API at ${server} (${(err as Error).cause ?? (err as Error).message}); is hangar running, and is --server right?`,
    );
  }
  if (!res.ok || !res.body) {
    throw new HangarError('ADMIN_API', `/api/logs/stream answered ${res.status}: ${await res.text()}`);
  }
  const body = res.body;
  return {
    async *[Symbol.asyncIterator]() {
      const decoder = new TextDecoder();
      let buffered = '';
      for await (const chunk of body) {
        buffered += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffered.indexOf('\n\n');
        while (end >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          end = buffered.indexOf('\n\n');
          const data = event
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data) yield JSON.parse(data) as LogEntry;
        }
      }
    },
  };
}

/**
 * One request as the table shows it, its app lines indented under it; `showApp` puts the app in
 * front of service/version ({@link AppColumn}). A version picked by a traffic split is followed
 * by the split (`split=cookie:v1=0.7,v2=0.3`).
 */
export function formatEntry(e: LogEntry, color: boolean, showApp = false, trim?: string): string {
  const statusColor =
    e.status >= 500 ? 'red' : e.status >= 400 ? 'yellow' : e.status >= 300 ? 'cyan' : 'green';
  const head = [
    paint(color, 'gray', e.startTime.replace('T', ' ').slice(0, 23)),
    paint(color, statusColor, String(e.status)),
    paint(color, 'bold', e.method),
    e.resource,
    `${e.latencyMs < 10 ? e.latencyMs.toFixed(1) : Math.round(e.latencyMs)} ms`,
    [showApp ? e.appId : null, e.service ? `${e.service}/${e.version ?? '?'}` : null]
      .filter(Boolean)
      .join('/'),
    e.split ? `split=${e.split}` : '',
    paint(color, 'gray', e.requestId),
    e.error ? paint(color, 'red', e.error) : '',
  ]
    .filter(Boolean)
    .join('  ');
  return [head, ...e.lines.map((line) => formatAppLine(line, color, '    ', trim))].join('\n');
}
