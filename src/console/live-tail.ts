/**
 * The live tail: `GET /api/logs/stream` (Server-Sent Events, the same filters as `/api/logs`)
 * through an EventSource, which sends the session cookie on its own (same origin) and
 * reconnects after a dropped connection. It asks for at most `TAIL_PER_SECOND` entries a second:
 * no one reads more, and at 15,000 requests a second a browser would drown (docs/decisions.md,
 * "The console"); the platform says how many it left out (`event: skipped`).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { LogEntry } from './types.js';

/** Entries a second the tail shows at most (bench/console.ts measures the console with it). */
export const TAIL_PER_SECOND = 20;

/**
 * While `on`, calls `onEntry` for each request that finishes and matches `query` (`?app=…`).
 * Resolves the state to show: connecting, live, or the reason it stopped.
 */
export function useLiveTail(
  on: boolean,
  query: string,
  onEntry: (entry: LogEntry) => void,
): {
  state: 'off' | 'connecting' | 'live' | 'retrying' | 'failed';
  error: string | undefined;
  /** Requests the platform left out of the tail (beyond TAIL_PER_SECOND) since it was turned on. */
  skipped: number;
} {
  const [state, setState] = useState<'off' | 'connecting' | 'live' | 'retrying' | 'failed'>('off');
  const [error, setError] = useState<string>();
  const [skipped, setSkipped] = useState(0);
  const listener = useRef(onEntry);
  listener.current = onEntry;

  useEffect(() => {
    if (!on) {
      setState('off');
      setError(undefined);
      return;
    }
    setState('connecting');
    setError(undefined);
    setSkipped(0);
    const join = query === '' ? '?' : '&';
    const source = new EventSource(`/api/logs/stream${query}${join}max_per_second=${TAIL_PER_SECOND}`);
    source.addEventListener('skipped', (event) => {
      const data = (event as MessageEvent<string>).data;
      const count = Number((JSON.parse(data) as { skipped?: unknown }).skipped);
      if (Number.isFinite(count)) setSkipped((n) => n + count);
    });
    source.onopen = () => {
      setState('live');
      setError(undefined);
    };
    source.onmessage = (event: MessageEvent<string>) => {
      try {
        listener.current(JSON.parse(event.data) as LogEntry);
      } catch (err) {
        setError(`an event of the live tail is not a log entry: ${(err as Error).message}`);
      }
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a 4xx: signed out, a bad filter) rather than dropped: EventSource gives up.
        setState('failed');
        setError('the live tail was refused; check the filters, or sign in again');
      } else {
        setState('retrying');
        setError('the live tail lost its connection; reconnecting');
      }
    };
    return () => source.close();
  }, [on, query]);

  return { state, error, skipped };
}
