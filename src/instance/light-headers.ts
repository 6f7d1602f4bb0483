/**
 * A `Headers` stand-in for the instance's lazy Request and light Response: for a header list of
 * plain names and values (HTTP tokens, printable ASCII), reading it — `get`, `has`,
 * `getSetCookie`, iteration in Fetch's sorted and combined order, `forEach` — answers from the
 * list; anything else (a change, an unusual name) makes the real Headers once and answers from
 * it. Node 20 loads its whole fetch implementation for the first real Headers (web-globals.ts),
 * which a handler that only reads headers and answers `new Response(text, { headers })` then
 * never pays. `instanceof Headers` holds (delegating-prototype.ts).
 */
import { delegatingPrototype } from './delegating-prototype.js';
import { realClass } from './web-globals.js';

const entries = Symbol('entries');
const real = Symbol('real');

interface LightHeaders {
  /** Lower-case name and value, in the order they were added. */
  [entries]: Array<[string, string]>;
  [real]: Headers | undefined;
}

/** An HTTP token (RFC 9110 §5.6.2): what the real Headers takes as a name without a second look. */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A value the real Headers keeps as it is once its outer blanks are gone. */
const plainValue = /^[\t\x20-\x7e]*$/;

function materialize(self: LightHeaders): Headers {
  if (!self[real]) {
    const headers = new (realClass<typeof Headers>('Headers'))();
    for (const [name, value] of self[entries]) headers.append(name, value);
    self[real] = headers;
  }
  return self[real];
}

/** Fetch's "sort and combine": by name, values of a name joined by `, `, each set-cookie on its own. */
function sortedAndCombined(self: LightHeaders): Array<[string, string]> {
  const list = self[entries];
  const names = [...new Set(list.map(([name]) => name))].sort();
  const out: Array<[string, string]> = [];
  for (const name of names) {
    if (name === 'set-cookie') {
      for (const [n, value] of list) if (n === name) out.push([name, value]);
    } else {
      let combined: string | undefined;
      for (const [n, value] of list)
        if (n === name) combined = combined === undefined ? value : `${combined}, ${value}`;
      out.push([name, combined!]);
    }
  }
  return out;
}

function* iterate<T>(self: LightHeaders, pick: (pair: [string, string]) => T): Generator<T, undefined> {
  for (const pair of sortedAndCombined(self)) yield pick(pair);
  return undefined;
}

/** The name as the list keeps it, or undefined when only the real Headers can judge it. */
function listName(name: unknown): string | undefined {
  return typeof name === 'string' && token.test(name) ? name.toLowerCase() : undefined;
}

const prototype = delegatingPrototype('Headers', materialize);

Object.defineProperties(prototype, {
  get: {
    value(this: LightHeaders, name: unknown) {
      const key = this[real] ? undefined : listName(name);
      if (key === undefined) return materialize(this).get(name as string);
      let combined: string | null = null;
      for (const [n, value] of this[entries])
        if (n === key) combined = combined === null ? value : `${combined}, ${value}`;
      return combined;
    },
    writable: true,
    configurable: true,
  },
  has: {
    value(this: LightHeaders, name: unknown) {
      const key = this[real] ? undefined : listName(name);
      if (key === undefined) return materialize(this).has(name as string);
      return this[entries].some(([n]) => n === key);
    },
    writable: true,
    configurable: true,
  },
  getSetCookie: {
    value(this: LightHeaders) {
      if (this[real]) return this[real].getSetCookie();
      return this[entries].filter(([n]) => n === 'set-cookie').map(([, value]) => value);
    },
    writable: true,
    configurable: true,
  },
  forEach: {
    value(this: LightHeaders, callback: unknown, thisArg?: unknown) {
      if (typeof callback !== 'function') return materialize(this).forEach(callback as () => void, thisArg);
      const pairs = this[real] ? [...this[real]] : sortedAndCombined(this);
      // The callback's third argument is this object, as it is for the real one.
      for (const [name, value] of pairs) callback.call(thisArg, value, name, this);
      return undefined;
    },
    writable: true,
    configurable: true,
  },
  entries: {
    value(this: LightHeaders) {
      return this[real] ? this[real].entries() : iterate(this, (pair) => pair);
    },
    writable: true,
    configurable: true,
  },
  keys: {
    value(this: LightHeaders) {
      return this[real] ? this[real].keys() : iterate(this, ([name]) => name);
    },
    writable: true,
    configurable: true,
  },
  values: {
    value(this: LightHeaders) {
      return this[real] ? this[real].values() : iterate(this, ([, value]) => value);
    },
    writable: true,
    configurable: true,
  },
  [Symbol.iterator]: {
    value(this: LightHeaders) {
      return this[real] ? this[real][Symbol.iterator]() : iterate(this, (pair) => pair);
    },
    writable: true,
    configurable: true,
  },
  [Symbol.toStringTag]: { value: 'Headers', configurable: true },
});

/**
 * A Headers over `list` (name, value pairs in order), or undefined when a name or value is one
 * only the real Headers can judge (it then makes the real one, and throws what it throws).
 *
 * @example
 * lightHeaders([['Content-Type', 'text/plain']])?.get('content-type') // 'text/plain'
 */
export function lightHeaders(list: Iterable<readonly [string, string]>): Headers | undefined {
  const kept: Array<[string, string]> = [];
  for (const [name, value] of list) {
    if (!token.test(name) || !plainValue.test(value)) return undefined;
    kept.push([name.toLowerCase(), value.replace(/^[\t ]+|[\t ]+$/g, '')]);
  }
  const self = Object.create(prototype) as LightHeaders;
  self[entries] = kept;
  self[real] = undefined;
  return self as unknown as Headers;
}

/**
 * The pairs of a `HeadersInit` that is a plain record (own enumerable string keys with string
 * values) or a list of `[name, value]` pairs of strings; undefined for anything else (a Headers,
 * an iterable, getters, symbols), which the real Headers converts itself.
 *
 * @example
 * plainHeaderPairs({ 'content-type': 'text/plain' }) // [['content-type', 'text/plain']]
 */
export function plainHeaderPairs(init: unknown): Array<[string, string]> | undefined {
  if (init === undefined) return [];
  if (typeof init !== 'object' || init === null) return undefined;
  if (Array.isArray(init)) {
    const pairs: Array<[string, string]> = [];
    for (const pair of init as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) return undefined;
      const [name, value] = pair as unknown[];
      if (typeof name !== 'string' || typeof value !== 'string') return undefined;
      pairs.push([name, value]);
    }
    return pairs;
  }
  const proto = Object.getPrototypeOf(init) as unknown;
  if (proto !== Object.prototype && proto !== null) return undefined;
  const pairs: Array<[string, string]> = [];
  for (const key of Reflect.ownKeys(init)) {
    const descriptor = Object.getOwnPropertyDescriptor(init, key)!;
    if (typeof key !== 'string' || !('value' in descriptor) || typeof descriptor.value !== 'string')
      return undefined;
    if (descriptor.enumerable) pairs.push([key, descriptor.value]);
  }
  return pairs;
}
