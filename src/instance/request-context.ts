import { AsyncLocalStorage } from 'node:async_hooks';

/** What one request carries through the app's code (SPEC S4.1 `ctx`, S8 env). */
export interface RequestContext {
  requestId: string;
  /** This request's environment: the instance's plus the S8 request variables. */
  env: Record<string, string>;
  signal: AbortSignal;
}

export const requestStorage = new AsyncLocalStorage<RequestContext>();

/** The context of the request the caller runs under, if any. */
export function currentRequest(): RequestContext | undefined {
  return requestStorage.getStore();
}

/**
 * Makes `process.env` per request (S8): inside a request it reads and writes that request's
 * env, outside it the process's own. Concurrent requests on one instance (threadsafe apps)
 * each see their own `REQUEST_LOG_ID`, `QUERY_STRING`, ... even across awaits, because the
 * lookup goes through AsyncLocalStorage rather than a global that the last request wrote.
 */
export function installPerRequestEnv(): void {
  const base = process.env;
  const target = (): Record<string, string | undefined> => requestStorage.getStore()?.env ?? base;
  process.env = new Proxy(base, {
    get: (_, key) => (typeof key === 'string' ? target()[key] : undefined),
    set: (_, key, value) => {
      if (typeof key !== 'string') return false;
      // process.env coerces every value to a string; keep that for app code that relies on it.
      target()[key] = String(value);
      return true;
    },
    deleteProperty: (_, key) => (typeof key === 'string' ? delete target()[key] : true),
    has: (_, key) => typeof key === 'string' && key in target(),
    ownKeys: () => Reflect.ownKeys(target()),
    getOwnPropertyDescriptor: (_, key) => {
      if (typeof key !== 'string') return undefined;
      const env = target();
      if (!(key in env)) return undefined;
      return { value: env[key], writable: true, enumerable: true, configurable: true };
    },
  });
}
