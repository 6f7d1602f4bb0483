/**
 * Data that refreshes itself: `usePolling` loads now, then every `intervalMs` while the page is
 * visible (a hidden tab asks nothing of the platform), and at once when it becomes visible again.
 * One load at a time: a slow answer is not overtaken by the next tick.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  /** The last load's error text; cleared by the next success. */
  error: string | undefined;
  /** When `data` arrived (performance.now()), for countdowns computed on the client. */
  loadedAt: number;
  /** Loads now (after a write, so the page shows its effect without waiting for the tick). */
  reload: () => void;
}

/**
 * @example
 * const { data, error } = usePolling(() => api<InstancesDoc>('GET', '/api/instances'), 2000, []);
 */
export function usePolling<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[]): Polled<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined; loadedAt: number }>({
    data: undefined,
    error: undefined,
    loadedAt: 0,
  });
  const busy = useRef(false);
  const again = useRef(false);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const run = useCallback(() => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    const mine = generation.current;
    loadRef
      .current()
      .then(
        (data) => {
          if (mine === generation.current) setState({ data, error: undefined, loadedAt: performance.now() });
        },
        (err: Error) => {
          if (mine === generation.current) setState((s) => ({ ...s, error: err.message }));
        },
      )
      .finally(() => {
        busy.current = false;
        if (again.current) {
          again.current = false;
          run();
        }
      });
  }, []);

  useEffect(() => {
    generation.current++;
    busy.current = false;
    again.current = false;
    run();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') run();
    }, intervalMs);
    const visible = () => {
      if (document.visibilityState === 'visible') run();
    };
    document.addEventListener('visibilitychange', visible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', visible);
    };
  }, [intervalMs, run, ...deps]);

  return { ...state, reload: run };
}

/** Re-renders every `ms` (for countdowns and "N s ago"). */
export function useTick(ms: number): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return tick;
}
