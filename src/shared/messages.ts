/**
 * Messages between the platform and its instance processes. Each has a zod schema; a message
 * that does not parse is ignored (a newer peer may send kinds this one does not know).
 */
import { z } from 'zod';

/** What an instance needs to start, passed in its environment as `HANGAR_INSTANCE_INIT` (JSON). */
export const InstanceInit = z.object({
  instanceId: z.string().regex(/^[0-9a-f]{32}$/),
  appDir: z.string(),
  socketPath: z.string(),
  /** Where compiled TypeScript is cached between instance starts. */
  cacheDir: z.string(),
  /** Module handlers in app.yaml order; requests name theirs by index. */
  modules: z.array(z.object({ module: z.string(), exportName: z.string() })),
  /** The S8 variables that are the same for every request of this instance, plus env_variables. */
  env: z.record(z.string(), z.string()),
});
export type InstanceInit = z.infer<typeof InstanceInit>;

const SerializedError = z.object({ code: z.string(), message: z.string() });

export const InstanceMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('failed'), error: SerializedError }),
]);
export type InstanceMessage = z.infer<typeof InstanceMessage>;

export const PlatformMessage = z.discriminatedUnion('type', [z.object({ type: z.literal('stop') })]);
export type PlatformMessage = z.infer<typeof PlatformMessage>;

/**
 * Headers the front end adds for the instance. Clients cannot forge them: the front end strips
 * every incoming `X-Hangar-*` header first (S5 step 5).
 */
export const InternalHeader = {
  requestId: 'x-hangar-request-id',
  handler: 'x-hangar-handler',
  remoteAddr: 'x-hangar-remote-addr',
  https: 'x-hangar-https',
} as const;
