import { AsyncLocalStorage } from 'node:async_hooks';

/** What one request carries through the app's code (SPEC S4.1 `ctx`, S8 env). */
export interface RequestContext {
  requestId: string;
  /**
   * This request's environment: its own S8 variables as own properties, layered over the
   * instance's environment (the prototype), so nothing is copied per request. A variable deleted
   * inside the request is an own property holding `undefined`. Use {@link materializeEnv} for a
   * plain object.
   */
  env: Record<string, string | undefined>;
  signal: AbortSignal;
  /**
   * Lines the request writes while it is open, when it came over the request channel: they
   * leave with its response (S9), written into the request log's JSON form only then
   * (log-capture.ts `packHeldLines`). Three entries per line: time (epoch ms), level index,
   * message. Undefined: lines go to the platform over IPC.
   */
  lines: HeldLines | undefined;
  /** How many lines `lines` holds. */
  heldLines: number;
  /** Characters of the messages in `lines`. */
  heldChars: number;
}

/** A request's held lines, flat: `[time, level index, message, time, level index, message, ...]`. */
export type HeldLines = Array<number | string>;

export const requestStorage = new AsyncLocalStorage<RequestContext>();

/** The context of the request the caller runs under, if any. */
export function currentRequest(): RequestContext | undefined {
  return requestStorage.getStore();
}

/** Mirror of the instance's environment: the prototype of every request's env. */
let instanceEnv: Record<string, string> = {};

/** The instance's environment as requests inherit it. */
export function instanceEnvironment(): Readonly<Record<string, string>> {
  return instanceEnv;
}

/** A plain object of every variable a (layered) request env shows. */
export function materializeEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in env) {
    const value = env[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * Makes `process.env` per request (S8): inside a request it reads and writes that request's
 * env, outside it the process's own. Concurrent requests on one instance (threadsafe apps)
 * each see their own `REQUEST_LOG_ID`, `QUERY_STRING`, ... even across awaits, because the
 * lookup goes through AsyncLocalStorage rather than a global that the last request wrote.
 * Writes outside a request (module top level) reach later requests too.
 */
export function installPerRequestEnv(): void {
  const real = process.env;
  instanceEnv = { ...real } as Record<string, string>;
  const visible = (env: Record<string, string | undefined>, key: string) => env[key] !== undefined;
  process.env = new Proxy(real, {
    get: (_, key) => {
      if (typeof key !== 'string') return undefined;
      const store = requestStorage.getStore();
      return store ? store.env[key] : real[key];
    },
    set: (_, key, value) => {
      if (typeof key !== 'string') return false;
      // process.env coerces every value to a string; keep that for app code that relies on it.
      const text = String(value);
      const store = requestStorage.getStore();
      if (store) store.env[key] = text;
      else {
        real[key] = text;
        instanceEnv[key] = text;
      }
      return true;
    },
    deleteProperty: (_, key) => {
      if (typeof key !== 'string') return true;
      const store = requestStorage.getStore();
      if (store) store.env[key] = undefined;
      else {
        delete real[key];
        delete instanceEnv[key];
      }
      return true;
    },
    has: (_, key) => {
      if (typeof key !== 'string') return false;
      const store = requestStorage.getStore();
      return store ? visible(store.env, key) : key in real;
    },
    ownKeys: () => {
      const store = requestStorage.getStore();
      return store ? Object.keys(materializeEnv(store.env)) : Reflect.ownKeys(real);
    },
    getOwnPropertyDescriptor: (_, key) => {
      if (typeof key !== 'string') return undefined;
      const store = requestStorage.getStore();
      const value = store ? store.env[key] : real[key];
      if (value === undefined) return undefined;
      return { value, writable: true, enumerable: true, configurable: true };
    },
  });
}
