/**
 * Preloaded (`--import`) into instances that run under Node's permission model
 * (src/scheduler/isolation.ts, mode `permission`). Node refuses child processes,
 * `process.binding` and native addons there, but worker threads have to stay allowed: the
 * instance's loader hooks (`module.register`) run on one. A worker of the app's would have no
 * sockets shim (its connections would never meet the socket service), so this refuses what
 * Node cannot:
 *
 * - `new Worker(...)` from `node:worker_threads`;
 * - `module.register(...)` after the instance's own call for its loader hooks: hooks of the
 *   app's would run on the loader thread, which has no shim either.
 *
 * The originals stay in this module's closure; nothing here hands them out.
 */
import module, { syncBuiltinESMExports } from 'node:module';
import workerThreads from 'node:worker_threads';

const loaderHooks = new URL('./loader-hooks.js', import.meta.url).href;

function refused(api: string, permission: string): Error {
  const error = new Error(
    `Access to this API has been restricted: ${api} is refused in Hangar instances under the permission model, ` +
      'because its sockets would not go through the socket service (SPEC S12); docs/sockets.md "Isolation"',
  );
  return Object.assign(error, { code: 'ERR_ACCESS_DENIED', permission, resource: api });
}

const register = module.register;
let ownHooksRegistered = false;

/** What `register(specifier, parentURL | { parentURL })` would load, as a URL; undefined if it cannot say. */
function target(specifier: unknown, parent: unknown): string | undefined {
  const base =
    typeof parent === 'string' || parent instanceof URL
      ? parent
      : (parent as { parentURL?: unknown } | undefined)?.parentURL;
  try {
    return new URL(String(specifier), base === undefined ? undefined : String(base)).href;
  } catch {
    return undefined;
  }
}

module.register = function guardedRegister(this: unknown, ...args: Parameters<typeof register>): void {
  if (!ownHooksRegistered && target(args[0], args[1]) === loaderHooks) {
    ownHooksRegistered = true;
    register.apply(this, args);
    return;
  }
  throw refused('module.register', 'WorkerThreads');
} as typeof register;

// A plain function with a prototype of its own: the original's prototype would lead back to
// the original class through `.constructor`.
workerThreads.Worker = function Worker(): never {
  throw refused('worker_threads.Worker', 'WorkerThreads');
} as unknown as typeof workerThreads.Worker;

// `import { Worker } from 'node:worker_threads'` and `import { register } from 'node:module'`
// see the guarded ones too.
syncBuiltinESMExports();
