/**
 * Messages between the platform and its instance processes. Each has a zod schema; a message
 * that does not parse is ignored (a newer peer may send kinds this one does not know).
 */
import { z } from 'zod';
import { LOG_LEVELS } from './log-levels.js';

/**
 * What an instance needs to start: in its environment as `HANGAR_INSTANCE_INIT` (JSON), or, for
 * a warm spare started ahead of need (src/scheduler/warm-spares.ts), in an `init` message.
 */
export const InstanceInit = z
  .object({
    instanceId: z.string().regex(/^[0-9a-f]{32}$/),
    appDir: z.string(),
    socketPath: z.string(),
    /** Where compiled TypeScript is cached between instance starts. */
    cacheDir: z.string(),
    /**
     * The handlers the instance runs, in app.yaml order; requests name theirs by index. `module`:
     * a module handler (S4.1); `entrypoint`: `script: auto`, proxied to the entrypoint process;
     * `cgi`: a script run per request (S4.2).
     */
    handlers: z.array(
      z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('module'), module: z.string(), exportName: z.string() }),
        z.object({ kind: z.literal('entrypoint') }),
        /** A CGI script (S4.2), relative to the app dir: run once per request. */
        z.object({ kind: z.literal('cgi'), script: z.string() }),
      ]),
    ),
    /**
     * The app's own server (S4.3), when a handler is `script: auto`: the command the instance runs
     * with PORT set, and how long it may take to accept connections there.
     */
    entrypoint: z.object({ command: z.string(), startTimeoutMs: z.number().int().positive() }).optional(),
    /** The S8 variables that are the same for every request of this instance, plus env_variables. */
    env: z.record(z.string(), z.string()),
    /** How often the instance reports liveness and memory (`heartbeat`). */
    heartbeatIntervalMs: z.number().int().positive(),
    /** S15 body limits, for the request channel: bodies the front end sends, and the most a response may hold. */
    limits: z.object({
      maxRequestBytes: z.number().int().positive(),
      maxResponseBytes: z.number().int().positive(),
    }),
    /** The socket service (S12): its Unix socket, the app, and the app's token for it. */
    sockets: z.object({ path: z.string(), app: z.string(), token: z.string() }).optional(),
    /**
     * Whether a failed request's 500 page shows the error (the dev server does, with the app's
     * own frames or all of them); absent: the generic page only (`serve`).
     */
    errorDetail: z.enum(['none', 'trimmed', 'full']).optional(),
    /** `hangar dev --inspect`: the inspector is open; relay it to the instance's `.in.sock` (inspector-relay.ts). */
    inspect: z.boolean().optional(),
    /**
     * The version's TypeScript was compiled at deploy (src/versions/precompile.ts): the instance
     * loads it and `hangar` without loader hooks. Absent: the hooks compile as modules load.
     */
    precompiled: z.boolean().optional(),
    /** Why a deployed version uses the loader hooks after all; the instance says so in its log. */
    hooksBecause: z.string().optional(),
  })
  .refine((init) => init.entrypoint !== undefined || !init.handlers.some((h) => h.kind === 'entrypoint'), {
    path: ['entrypoint'],
    message: 'must be set when a handler is an entrypoint one',
  });
export type InstanceInit = z.infer<typeof InstanceInit>;

const SerializedError = z.object({ code: z.string(), message: z.string() });

export { LOG_LEVELS };
export const LogLevel = z.enum(LOG_LEVELS);
export type LogLevel = z.infer<typeof LogLevel>;

/** One app log line as an instance ships it (S9); no requestId: an instance line. */
export const AppLogLine = z.object({
  requestId: z.string().optional(),
  /** Epoch ms. */
  time: z.number(),
  level: LogLevel,
  message: z.string(),
});
export type AppLogLine = z.infer<typeof AppLogLine>;

export const InstanceMessage = z.discriminatedUnion('type', [
  /** Listening on both sockets; `nodeHandlers`: indexes of modules that are Node (req, res) handlers (served over HTTP). */
  z.object({ type: z.literal('ready'), nodeHandlers: z.array(z.number().int()).default([]) }),
  /** A warm spare has loaded Hangar's own modules and waits for its `init` (no app code yet). */
  z.object({ type: z.literal('spare') }),
  z.object({ type: z.literal('failed'), error: SerializedError }),
  /** Periodic: the instance's event loop turns, and its resident memory. */
  z.object({ type: z.literal('heartbeat'), rss: z.number() }),
  z.object({ type: z.literal('pong'), id: z.number(), rss: z.number() }),
  /**
   * The app's own server was started (S4.3): `pid` leads a process group of its own, which the
   * platform ends with the instance even when the instance itself was killed.
   */
  z.object({ type: z.literal('entrypoint'), pid: z.number().int().positive() }),
  /** App log lines in the order they were written, batched off the request path (S9). */
  z.object({ type: z.literal('logs'), lines: z.array(AppLogLine) }),
]);
export type InstanceMessage = z.infer<typeof InstanceMessage>;

export const PlatformMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stop') }),
  /** To a warm spare: the instance it becomes (sent once; a spare serves one app version for life). */
  z.object({ type: z.literal('init'), init: InstanceInit }),
  /** Answered with `pong` by a responsive instance; silence means a blocked event loop. */
  z.object({ type: z.literal('ping'), id: z.number() }),
]);
export type PlatformMessage = z.infer<typeof PlatformMessage>;
