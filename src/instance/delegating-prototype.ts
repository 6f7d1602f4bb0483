/**
 * A prototype for stand-ins of a WHATWG class (the instance's lazy Request and light Response):
 * it inherits from the real class's prototype, so `instanceof` holds, and every getter and
 * method of that prototype answers from the real object that `real(this)` makes on first need.
 * The stand-in then overrides the few members it can answer without one.
 *
 * @example
 * const prototype = delegatingPrototype(Request.prototype, (self) => materialize(self));
 */
export function delegatingPrototype<Self, Real extends object>(
  realPrototype: Real,
  real: (self: Self) => Real,
): Record<PropertyKey, unknown> {
  const prototype = Object.create(realPrototype) as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(realPrototype)) {
    if (key === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(realPrototype, key)!;
    if (descriptor.get) {
      const get = descriptor.get;
      Object.defineProperty(prototype, key, {
        get(this: Self) {
          return get.call(real(this));
        },
        configurable: true,
        enumerable: descriptor.enumerable ?? false,
      });
    } else if (typeof descriptor.value === 'function') {
      const method = descriptor.value as (...args: unknown[]) => unknown;
      Object.defineProperty(prototype, key, {
        value(this: Self, ...args: unknown[]) {
          return method.apply(real(this), args);
        },
        configurable: true,
        writable: true,
      });
    }
  }
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
