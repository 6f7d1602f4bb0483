import { realClass, type WebClassName, whenLoaded } from './web-globals.js';

/**
 * Members of the WHATWG classes (Node 18 to 26) a stand-in answers before Node's fetch classes
 * are loaded (web-globals.ts): getters and methods that make the real object. Once the classes
 * load, the stand-in's members are made from the real prototype instead, so a member only some
 * Node has comes or goes with it.
 */
const knownMembers: Record<'Request' | 'Response' | 'Headers', { getters: string[]; methods: string[] }> = {
  Request: {
    getters: [
      'method',
      'url',
      'headers',
      'destination',
      'referrer',
      'referrerPolicy',
      'mode',
      'credentials',
      'cache',
      'redirect',
      'integrity',
      'keepalive',
      'isReloadNavigation',
      'isHistoryNavigation',
      'signal',
      'body',
      'bodyUsed',
      'duplex',
    ],
    methods: ['clone', 'blob', 'arrayBuffer', 'text', 'json', 'formData', 'bytes', 'textStream'],
  },
  Response: {
    getters: ['type', 'url', 'redirected', 'status', 'ok', 'statusText', 'headers', 'body', 'bodyUsed'],
    methods: ['clone', 'blob', 'arrayBuffer', 'text', 'json', 'formData', 'bytes', 'textStream'],
  },
  Headers: {
    getters: [],
    methods: [
      'append',
      'delete',
      'get',
      'has',
      'set',
      'getSetCookie',
      'keys',
      'values',
      'entries',
      'forEach',
    ],
  },
};

/** Symbol-named methods every one of them has: Node's inspection and, for Headers, iteration. */
const inspect = Symbol.for('nodejs.util.inspect.custom');

/**
 * A prototype for stand-ins of a WHATWG class (the instance's lazy Request, light Response and
 * light Headers): every getter and method of the real class answers from the real object that
 * `real(this)` makes on first need, and the chain leads to the real class's prototype, so
 * `instanceof` holds, as soon as Node's fetch classes are loaded (web-globals.ts; until then no
 * real object exists to compare with). The stand-in then defines on it the few members it can
 * answer without a real object.
 *
 * The delegating members sit one level up, on an object of their own: made from a list of the
 * known members until the classes load, then from the real prototype itself. The stand-in's own
 * prototype only changes its parent once.
 *
 * @example
 * const prototype = delegatingPrototype('Request', (self) => materialize(self));
 */
export function delegatingPrototype<Self, Real extends object>(
  className: 'Request' | 'Response' | 'Headers',
  real: (self: Self) => Real,
): Record<PropertyKey, unknown> {
  const delegating = (parent: object | null) => {
    const members = Object.create(parent) as Record<PropertyKey, unknown>;
    return {
      members,
      getter(key: PropertyKey, get: (this: Real) => unknown, enumerable: boolean) {
        Object.defineProperty(members, key, {
          get(this: Self) {
            return get.call(real(this));
          },
          configurable: true,
          enumerable,
        });
      },
      method(key: PropertyKey, method: (this: Real, ...args: unknown[]) => unknown) {
        Object.defineProperty(members, key, {
          value(this: Self, ...args: unknown[]) {
            return method.apply(real(this), args);
          },
          configurable: true,
          writable: true,
        });
      },
    };
  };
  // Before the classes load: the known members, each reading its namesake off the real object.
  const early = delegating(Object.prototype);
  const known = knownMembers[className];
  for (const key of known.getters)
    early.getter(
      key,
      function (this: Real) {
        return (this as Record<string, unknown>)[key];
      },
      true,
    );
  for (const key of [...known.methods, inspect, ...(className === 'Headers' ? [Symbol.iterator] : [])])
    early.method(key, function (this: Real, ...args: unknown[]) {
      return (this as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>)[key]!(...args);
    });
  // `constructor` is the real class, as it is once inherited from the real prototype.
  Object.defineProperty(early.members, 'constructor', {
    get: () => realClass(className as WebClassName),
    configurable: true,
  });
  const prototype = Object.create(early.members) as Record<PropertyKey, unknown>;
  whenLoaded(() => {
    const realPrototype = realClass<{ prototype: Real }>(className as WebClassName).prototype;
    const late = delegating(realPrototype);
    for (const key of Reflect.ownKeys(realPrototype)) {
      if (key === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(realPrototype, key)!;
      if (descriptor.get) late.getter(key, descriptor.get, descriptor.enumerable ?? false);
      else if (typeof descriptor.value === 'function')
        late.method(key, descriptor.value as (this: Real, ...args: unknown[]) => unknown);
    }
    Object.setPrototypeOf(prototype, late.members);
  });
  return prototype;
}

/**
 * A body reader of a stand-in: from the real object once there is one, else `own()` over the
 * body taken once (a second read rejects as the real one does).
 */
export function readBody<T>(own: () => T, viaReal: (() => Promise<T>) | undefined): Promise<T> {
  if (viaReal) return viaReal();
  try {
    return Promise.resolve(own());
  } catch (err) {
    return Promise.reject(err);
  }
}
