/**
 * A cheaper `Response` for instances. On Node 20, `new Response('Hello')` builds a body stream,
 * a Headers list and internal state that together cost about as much as everything else an
 * instance does for a request; the instance then only wants the status, the headers and the
 * bytes back. The instance replaces the global `Response` with this class before app code
 * loads: for a body that is a string, bytes or nothing, with an ordinary init, it keeps the
 * arguments and answers `status`, `ok`, `headers` and the body readers itself; anything else
 * (streams, FormData, Blob, unusual inits, `body`, `clone()`, ...) makes the real Response
 * once and answers from it. `instanceof Response` holds for both kinds, and the static
 * `Response.json/error/redirect` are the real ones. Its `headers`, for a plain init, is a light
 * Headers (light-headers.ts), so such a response loads nothing of Node's fetch implementation.
 * See docs/decisions.md.
 */

import { delegatingPrototype, readBody } from './delegating-prototype.js';
import { lightHeaders, plainHeaderPairs } from './light-headers.js';
import { realClass, webClassesLoaded } from './web-globals.js';

/**
 * Node's own Response, loaded on first need (web-globals.ts): a light response with a plain
 * body and plain headers never needs it.
 */
const realResponse = () => realClass<typeof Response>('Response');

type Body = string | Uint8Array | null;

const state = Symbol('hangar.lightResponse');

interface LightState {
  body: Body;
  init: ResponseInit | undefined;
  headers: Headers | undefined;
  real: Response | undefined;
  used: boolean;
}

interface Light {
  [state]: LightState;
}

/** Statuses a body is not allowed with (Fetch: null body status). */
const nullBodyStatus = new Set([101, 103, 204, 205, 304]);

function simple(body: unknown, init: ResponseInit | undefined): body is Body | undefined {
  if (!(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array))
    return false;
  if (init === undefined) return true;
  if (typeof init !== 'object' || init === null || init.statusText !== undefined) return false;
  const status = init.status;
  if (status === undefined) return true;
  if (!Number.isInteger(status) || status < 200 || status > 599) return false;
  return !(nullBodyStatus.has(status) && body !== undefined && body !== null);
}

function real(self: Light): Response {
  const s = self[state];
  if (!s.real) {
    const body = s.used ? null : s.body;
    s.real = new (realResponse())(body, { ...s.init, headers: headersOf(self) });
  }
  return s.real;
}

function headersOf(self: Light): Headers {
  const s = self[state];
  if (s.real) return s.real.headers;
  if (!s.headers) {
    // A string body's default type, as the real Response adds it.
    const textDefault = (has: (name: string) => boolean) =>
      typeof s.body === 'string' && !has('content-type');
    const pairs = plainHeaderPairs(s.init?.headers);
    const light =
      pairs &&
      lightHeaders(
        textDefault((name) => pairs.some(([n]) => n.toLowerCase() === name))
          ? [...pairs, ['content-type', 'text/plain;charset=UTF-8']]
          : pairs,
      );
    if (light) s.headers = light;
    else {
      const headers = new (realClass<typeof Headers>('Headers'))(s.init?.headers);
      if (textDefault((name) => headers.has(name))) headers.set('content-type', 'text/plain;charset=UTF-8');
      s.headers = headers;
    }
  }
  return s.headers;
}

function take(self: Light): Body {
  const s = self[state];
  // No body is never "used": reading it again gives nothing again, as with the real Response.
  if (s.body === null) return null;
  if (s.used) throw new TypeError('Body is unusable: Body has already been read');
  s.used = true;
  return s.body;
}

function bytes(body: Body): Uint8Array {
  if (body === null) return new Uint8Array(0);
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

/**
 * The body bytes of a light response not read yet; undefined for anything else. `real` is the
 * Response to read instead: the real one behind a light response that made it, else the argument.
 */
export function lightResponseBytes(response: Response): { bytes: Buffer | undefined; real: Response } {
  const s = (response as unknown as Partial<Light>)[state];
  if (!s) return { bytes: undefined, real: response };
  if (s.real) return { bytes: undefined, real: s.real };
  if (s.used) return { bytes: undefined, real: response };
  s.used = true;
  const body = s.body;
  const bytes =
    body === null
      ? Buffer.alloc(0)
      : typeof body === 'string'
        ? Buffer.from(body, 'utf8')
        : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { bytes, real: response };
}

/**
 * @example
 * globalThis.Response = LightResponse; // done by installLightResponse() in the instance
 */
export const LightResponse = function Response(
  this: Light,
  body?: ConstructorParameters<typeof globalThis.Response>[0],
  init?: ResponseInit,
) {
  if (!new.target) throw new TypeError("Class constructor Response cannot be invoked without 'new'");
  if (simple(body, init)) {
    this[state] = { body: body ?? null, init, headers: undefined, real: undefined, used: false };
  } else {
    const response = new (realResponse())(body, init);
    this[state] = { body: null, init: undefined, headers: undefined, real: response, used: false };
  }
} as unknown as typeof globalThis.Response;

const prototype = delegatingPrototype('Response', real);

/** A body reader: from the real Response once there is one, else from the kept body, once. */
const fast = <T>(self: Light, own: (body: Body) => T, viaReal: (r: Response) => Promise<T>): Promise<T> => {
  const made = self[state].real;
  return readBody(() => own(take(self)), made && (() => viaReal(made)));
};

Object.defineProperties(prototype, {
  constructor: { value: LightResponse, writable: true, configurable: true },
  status: {
    get(this: Light) {
      const s = this[state];
      return s.real ? s.real.status : (s.init?.status ?? 200);
    },
  },
  ok: {
    get(this: Light) {
      const s = this[state];
      const status = s.real ? s.real.status : (s.init?.status ?? 200);
      return status >= 200 && status <= 299;
    },
  },
  statusText: {
    get(this: Light) {
      const s = this[state];
      return s.real ? s.real.statusText : '';
    },
  },
  headers: {
    get(this: Light) {
      return headersOf(this);
    },
  },
  bodyUsed: {
    get(this: Light) {
      const s = this[state];
      return s.real ? s.real.bodyUsed : s.used;
    },
  },
  text: {
    value(this: Light) {
      return fast(
        this,
        (b) => (typeof b === 'string' ? b : Buffer.from(bytes(b)).toString('utf8')),
        (r) => r.text(),
      );
    },
  },
  json: {
    value(this: Light) {
      return fast(
        this,
        (b) => JSON.parse(typeof b === 'string' ? b : Buffer.from(bytes(b)).toString('utf8')) as unknown,
        (r) => r.json() as Promise<unknown>,
      );
    },
  },
  arrayBuffer: {
    value(this: Light) {
      return fast(
        this,
        (b) => {
          const view = bytes(b);
          return view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer;
        },
        (r) => r.arrayBuffer(),
      );
    },
  },
  [Symbol.toStringTag]: { value: 'Response', configurable: true },
});

Object.defineProperty(LightResponse, 'prototype', { value: prototype });
// Light responses inherit from the real prototype once it is loaded, so this holds for both kinds
// (and subclasses); before that, no real response exists.
Object.defineProperty(LightResponse, Symbol.hasInstance, {
  value: (value: unknown) =>
    (typeof value === 'object' && value !== null && state in value) ||
    (webClassesLoaded() && value instanceof realResponse()),
});
for (const name of ['json', 'error', 'redirect'] as const) {
  Object.defineProperty(LightResponse, name, {
    value: function (this: unknown, ...args: unknown[]) {
      const RealResponse = realResponse();
      return (RealResponse[name] as (...a: unknown[]) => Response).apply(RealResponse, args);
    },
    writable: true,
    configurable: true,
  });
}

/** Makes `Response` in this process the light one (instances only, before app code loads). */
export function installLightResponse(): void {
  globalThis.Response = LightResponse;
}
