/**
 * Node's WHATWG fetch classes (`Request`, `Response`, `Headers`, `FormData`) live in its bundled
 * undici, which Node 18 and 20 load on the first read of any of those globals: ~30 ms and ~7 MiB
 * of an instance on Node 20 (docs/decisions.md, issue 21). The instance's stand-ins
 * (lazy-request.ts, light-response.ts, light-headers.ts) answer a plain handler without them, so
 * the classes are loaded only once something needs them. `whenLoaded` runs the stand-ins' setup
 * (their prototypes then inherit from the real ones, so `instanceof` holds) at that moment, before
 * whoever read the global gets the class. Where Node defines the globals eagerly (22 and later),
 * everything here happens at once.
 */

const watched = ['Request', 'Response', 'Headers', 'FormData'] as const;

/** A class of Node's fetch implementation, by its global's name. */
export type WebClassName = (typeof watched)[number];

/** Node's own lazy getter of each global not read yet. */
const lazyGetters = new Map<WebClassName, () => unknown>();
const classes = new Map<WebClassName, unknown>();
const waiting: Array<() => void> = [];
let loaded = false;

for (const name of watched) {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
  if (!descriptor) continue;
  if (!descriptor.get || !descriptor.configurable) {
    // Defined already (Node 22+), or read before this module: the real class is there.
    if ('value' in descriptor) classes.set(name, descriptor.value);
    loaded = true;
    continue;
  }
  lazyGetters.set(name, descriptor.get);
  const enumerable = descriptor.enumerable ?? false;
  Object.defineProperty(globalThis, name, {
    configurable: true,
    enumerable,
    get: () => realClass(name),
    // As Node's own setter: a value put there replaces the lazy global.
    set: (value: unknown) =>
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable }),
  });
}

/**
 * Runs `setup` once the real classes are loaded: now, if they are.
 *
 * @example
 * whenLoaded(() => Object.setPrototypeOf(prototype, realClass<typeof Request>('Request').prototype));
 */
export function whenLoaded(setup: () => void): void {
  if (loaded) setup();
  else waiting.push(setup);
}

/** Whether the real classes are loaded (an object of theirs can exist). */
export function webClassesLoaded(): boolean {
  return loaded;
}

/**
 * The real class `name`, loading Node's fetch implementation if it is not yet. A global the
 * instance set to its own class (the light `Response`) keeps it.
 *
 * @example
 * const RealResponse = realClass<typeof Response>('Response');
 */
export function realClass<T>(name: WebClassName): T {
  let value = classes.get(name);
  if (value === undefined) {
    const get = lazyGetters.get(name);
    if (get) {
      const before = Object.getOwnPropertyDescriptor(globalThis, name);
      // Node's getter loads undici and puts the class on the global.
      value = get.call(globalThis);
      if (before && 'value' in before) Object.defineProperty(globalThis, name, before);
    } else value = (globalThis as Record<string, unknown>)[name];
    classes.set(name, value);
  }
  if (!loaded) {
    loaded = true;
    for (const setup of waiting.splice(0)) setup();
  }
  return value as T;
}
