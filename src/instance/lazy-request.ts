/**
 * A `Request` for fetch handlers that costs almost nothing until it is used beyond the usual:
 * `method` and `url` are plain strings, `headers` is made on first access, and `text()`,
 * `json()`, `arrayBuffer()` and `bytes()` read the buffered body directly. Anything else
 * (`signal`, `body` as a stream, `clone()`, `formData()`, ...) makes the real WHATWG Request
 * once and answers from it. On Node 20 a real Request with its Headers, AbortSignal and body
 * stream costs more than the rest of an instance's per-request work (BASELINES.md).
 *
 * The object's prototype chain includes Request.prototype, so `request instanceof Request`
 * holds and frameworks (Hono, itty-router) treat it as the real thing. Its `headers` is a light
 * Headers (light-headers.ts) where the request's are plain: reading them loads nothing of Node's
 * fetch implementation (web-globals.ts).
 */

import { delegatingPrototype, readBody } from './delegating-prototype.js';
import { lightHeaders } from './light-headers.js';
import { realClass } from './web-globals.js';

export interface RequestParts {
  method: string;
  url: string;
  /** Name, value, name, value, ... */
  headers: readonly string[];
  /** The buffered body; empty for GET and HEAD. */
  body: Buffer;
}

const parts = Symbol('parts');
const real = Symbol('real');
const headers = Symbol('headers');
const used = Symbol('used');

interface LazyRequest {
  [parts]: RequestParts;
  [real]: Request | undefined;
  [headers]: Headers | undefined;
  [used]: boolean;
}

function materialize(self: LazyRequest): Request {
  if (self[real]) return self[real];
  const { method, url, body } = self[parts];
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const RealRequest = realClass<typeof Request>('Request');
  const request = new RealRequest(url, {
    method,
    headers: headersOf(self),
    body: hasBody && !self[used] ? body : undefined,
  });
  self[real] = request;
  return request;
}

function headersOf(self: LazyRequest): Headers {
  if (self[real]) return self[real].headers;
  if (!self[headers]) {
    const raw = self[parts].headers;
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
    let list = lightHeaders(pairs);
    if (!list) {
      list = new (realClass<typeof Headers>('Headers'))();
      for (const [name, value] of pairs) list.append(name, value);
    }
    self[headers] = list;
  }
  return self[headers];
}

/** Reads the body once, as the real Request would; a second read fails the same way. */
function takeBody(self: LazyRequest): Buffer {
  if (self[used]) throw new TypeError('Body is unusable: Body has already been read');
  self[used] = true;
  return self[parts].body;
}

// Every property of Request.prototype answers from the real Request...
const prototype = delegatingPrototype('Request', materialize);

// ...except what handlers use on nearly every request, which answers without it.
Object.defineProperties(prototype, {
  method: {
    get(this: LazyRequest) {
      return this[parts].method;
    },
  },
  url: {
    get(this: LazyRequest) {
      return this[parts].url;
    },
  },
  headers: {
    get(this: LazyRequest) {
      return headersOf(this);
    },
  },
  bodyUsed: {
    get(this: LazyRequest) {
      return this[real] ? this[real].bodyUsed : this[used];
    },
  },
  text: {
    value(this: LazyRequest) {
      const own = this[real];
      return readBody(() => takeBody(this).toString('utf8'), own && (() => own.text()));
    },
  },
  json: {
    value(this: LazyRequest) {
      const own = this[real];
      return readBody(
        () => JSON.parse(takeBody(this).toString('utf8')) as unknown,
        own && (() => own.json()),
      );
    },
  },
  arrayBuffer: {
    value(this: LazyRequest) {
      const own = this[real];
      return readBody(
        () => {
          const body = takeBody(this);
          return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
        },
        own && (() => own.arrayBuffer()),
      );
    },
  },
  bytes: {
    value(this: LazyRequest) {
      const own = this[real];
      return readBody(
        () => new Uint8Array(takeBody(this)),
        own && (() => own.arrayBuffer().then((b) => new Uint8Array(b))),
      );
    },
  },
  [Symbol.toStringTag]: { value: 'Request' },
});

/** A Request over the buffered request; see the module comment. */
export function lazyRequest(from: RequestParts): Request {
  const self = Object.create(prototype) as LazyRequest;
  self[parts] = from;
  self[real] = undefined;
  self[headers] = undefined;
  self[used] = false;
  return self as unknown as Request;
}
