/**
 * `#/logs`: the request log (S9) with its filters (the names `GET /api/logs` takes, see
 * src/logs/query-params.ts), newest first, older pages on demand, and the live tail;
 * `#/logs/<request id>`: that one request, expanded.
 *
 * The live tail never moves what the reader is looking at: rows have a fixed height, and while
 * the list's top is scrolled out of view new requests wait behind an "N new" button (in a bar
 * whose space is always reserved) instead of pushing the rows down.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, queryString } from '../api.js';
import { ErrorBox } from '../components.js';
import { TAIL_PER_SECOND, useLiveTail } from '../live-tail.js';
import { href } from '../router.js';
import { LOG_LEVELS, type LogEntry, type LogPage } from '../types.js';
import { LogEntryRow } from './log-entry.js';

/** Most entries the list keeps; the oldest go when the live tail adds more. */
const CAP = 500;
const PAGE = 100;

/** The filters of `GET /api/logs` (query-params.ts), with their labels. */
const TEXT_FILTERS: Array<{ name: string; label: string; placeholder?: string; inputMode?: 'numeric' }> = [
  { name: 'app', label: 'App' },
  { name: 'service', label: 'Service' },
  { name: 'version', label: 'Version' },
  { name: 'status', label: 'Status', placeholder: '404', inputMode: 'numeric' },
  { name: 'text', label: 'Text', placeholder: 'in the path or a line' },
  { name: 'since', label: 'Since', placeholder: '15m or 2026-01-01T10:00Z' },
  { name: 'until', label: 'Until', placeholder: '5m or an ISO time' },
  { name: 'requestId', label: 'Request id' },
];

type Filters = Record<string, string>;

function LogFilters({ onApply, active }: { onApply: (filters: Filters) => void; active: number }) {
  // Open on a wide screen; on a phone the filters would fill the screen, so they start folded.
  const [open] = useState(() => !matchMedia('(max-width: 640px)').matches);
  return (
    <details class="filter-box" open={open}>
      <summary>Filters{active > 0 ? ` (${active} applied)` : ''}</summary>
      <form
        id="log-filters"
        class="filters"
        aria-label="Log filters"
        onSubmit={(e) => {
          e.preventDefault();
          const data = new FormData(e.currentTarget);
          const filters: Filters = {};
          for (const [name, value] of data)
            if (typeof value === 'string' && value.trim()) filters[name] = value.trim();
          onApply(filters);
        }}
      >
        {TEXT_FILTERS.map((f) => (
          <label key={f.name}>
            {f.label}
            <input
              id={`filter-${f.name}`}
              name={f.name}
              type="text"
              autoComplete="off"
              spellcheck={false}
              {...(f.placeholder ? { placeholder: f.placeholder } : {})}
              {...(f.inputMode ? { inputMode: f.inputMode } : {})}
            />
          </label>
        ))}
        <label>
          Minimum level
          <select id="filter-minLevel" name="minLevel">
            <option value="">any (or none)</option>
            {LOG_LEVELS.map((level) => (
              <option key={level} value={level}>
                {level}
              </option>
            ))}
          </select>
        </label>
        <div class="filter-actions">
          <button type="submit">Apply</button>
          <button type="reset" onClick={() => onApply({})}>
            Clear
          </button>
        </div>
      </form>
    </details>
  );
}

function LogList() {
  const [filters, setFilters] = useState<Filters>({});
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const [tail, setTail] = useState(false);
  /** Tail entries waiting behind the "N new" button (newest first), and their count for rendering. */
  const pending = useRef<LogEntry[]>([]);
  const [pendingCount, setPendingCount] = useState(0);
  const seen = useRef(new Set<string>());
  const listRef = useRef<HTMLUListElement>(null);
  const barRef = useRef<HTMLDivElement>(null);
  const query = queryString(filters);

  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(undefined);
    api<LogPage>('GET', `/api/logs${queryString({ limit: PAGE, ...filters })}`).then(
      (page) => {
        if (!current) return;
        const newest = [...page.entries].reverse();
        seen.current = new Set(newest.map((e) => e.requestId));
        setEntries(newest);
        pending.current = [];
        setPendingCount(0);
        setNext(page.next);
        setLoading(false);
      },
      (err: Error) => {
        if (!current) return;
        setError(err.message);
        setEntries([]);
        setNext(null);
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [filters]);

  /** Whether the list's top is in view (then new rows go straight in). */
  /** Whether the list's first row is in view (below the sticky tail bar): then new rows go straight in. */
  const atTop = () =>
    (listRef.current?.getBoundingClientRect().top ?? 0) >=
    (barRef.current?.getBoundingClientRect().bottom ?? 0) - 2;

  const flush = useCallback(() => {
    const waiting = pending.current;
    if (waiting.length === 0) return;
    pending.current = [];
    setPendingCount(0);
    setEntries((list) => [...waiting, ...list].slice(0, CAP));
  }, []);

  const live = useLiveTail(tail, query, (entry) => {
    if (seen.current.has(entry.requestId)) return;
    seen.current.add(entry.requestId);
    if (atTop() && pending.current.length === 0) {
      setEntries((list) => [entry, ...list].slice(0, CAP));
    } else {
      pending.current = [entry, ...pending.current].slice(0, CAP);
      setPendingCount(pending.current.length);
    }
  });

  // Scrolled back to the top: the waiting rows join the list.
  useEffect(() => {
    if (pendingCount === 0) return;
    const scrolled = () => {
      if (atTop()) flush();
    };
    window.addEventListener('scroll', scrolled, { passive: true });
    return () => window.removeEventListener('scroll', scrolled);
  }, [pendingCount, flush]);

  const older = () => {
    if (!next) return;
    setLoading(true);
    api<LogPage>('GET', `/api/logs${queryString({ limit: PAGE, ...filters, cursor: next })}`).then(
      (page) => {
        const add = [...page.entries].reverse().filter((e) => !seen.current.has(e.requestId));
        for (const e of add) seen.current.add(e.requestId);
        setEntries((list) => [...list, ...add]);
        setNext(page.next);
        setLoading(false);
      },
      (err: Error) => {
        setError(err.message);
        setLoading(false);
      },
    );
  };

  const showNew = () => {
    flush();
    // The list's top just below the sticky bar.
    const list = listRef.current;
    if (list)
      window.scrollTo({
        top: window.scrollY + list.getBoundingClientRect().top - (barRef.current?.offsetHeight ?? 0),
      });
  };

  return (
    <>
      <LogFilters onApply={setFilters} active={Object.keys(filters).length} />
      <ErrorBox error={error} prefix="The request log could not be read" />
      <div class="tail-bar" ref={barRef}>
        <label class="check">
          <input
            id="live-tail"
            type="checkbox"
            checked={tail}
            onChange={(e) => setTail(e.currentTarget.checked)}
          />
          Live tail
        </label>
        <span class="muted" aria-live="polite">
          {tail
            ? live.state === 'live'
              ? live.skipped > 0
                ? `following new requests (${TAIL_PER_SECOND} a second; ${live.skipped} more not shown)`
                : 'following new requests'
              : live.state === 'connecting'
                ? 'connecting…'
                : (live.error ?? '')
            : loading
              ? 'loading…'
              : `${entries.length} request${entries.length === 1 ? '' : 's'}`}
        </span>
        {pendingCount > 0 ? (
          <button type="button" class="new-entries" onClick={showNew}>
            {pendingCount} new
          </button>
        ) : null}
      </div>
      {live.state === 'failed' ? <ErrorBox error={live.error} /> : null}
      <ul id="log-entries" ref={listRef} aria-label="Requests, newest first">
        {entries.map((entry) => (
          <LogEntryRow key={entry.requestId} entry={entry} />
        ))}
      </ul>
      {!loading && entries.length === 0 && !error ? (
        <p class="muted">No request matches{Object.keys(filters).length > 0 ? ' these filters' : ' yet'}.</p>
      ) : null}
      {next ? (
        <button type="button" class="older" onClick={older} disabled={loading}>
          Older requests
        </button>
      ) : null}
    </>
  );
}

/** `#/logs/<id>`: one request, found with the API's `requestId` filter, shown expanded. */
function LogPermalink({ requestId }: { requestId: string }) {
  const [entry, setEntry] = useState<LogEntry | null>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    setEntry(undefined);
    setError(undefined);
    api<LogPage>('GET', `/api/logs${queryString({ requestId, limit: 1 })}`).then(
      (page) => setEntry(page.entries[0] ?? null),
      (err: Error) => setError(err.message),
    );
  }, [requestId]);
  return (
    <>
      <p>
        <a href={href('logs')}>← All requests</a>
      </p>
      <ErrorBox error={error} prefix="The request log could not be read" />
      {entry === null ? (
        <p role="status">No request {requestId} in the log (it may be older than the log's retention).</p>
      ) : null}
      {entry ? (
        <ul id="log-entries" aria-label={`Request ${requestId}`}>
          <LogEntryRow key={entry.requestId} entry={entry} initiallyOpen />
        </ul>
      ) : null}
    </>
  );
}

export function LogsPage({ requestId }: { requestId?: string | undefined }) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">{requestId ? 'Request' : 'Request log'}</h1>
      {requestId ? <LogPermalink requestId={requestId} /> : <LogList />}
    </section>
  );
}
