/**
 * Reading the instance's start configuration and the platform's messages without zod. The
 * platform validates what comes from instances with the schemas in shared/messages.ts; in the
 * other direction the sender is the platform itself, and loading zod would add about 50 ms to
 * every instance's cold start on Node 20 (docs/decisions.md), so the instance checks shapes by
 * hand against the same types.
 */
import type { InstanceInit, PlatformMessage } from '../shared/messages.js';

/**
 * Reads `HANGAR_INSTANCE_INIT` (JSON text) or a warm spare's `init` message (the object); throws
 * naming the first field that is not what it must be.
 */
export function readInstanceInit(source: string | object | undefined): InstanceInit {
  const value: unknown = typeof source === 'object' ? source : JSON.parse(source ?? 'null');
  const init = value as Record<string, unknown> | null;
  const fail = (field: string, want: string): never => {
    throw new Error(
      `HANGAR_INSTANCE_INIT.${field} must be ${want}; this instance was not started by its platform`,
    );
  };
  if (typeof init !== 'object' || init === null) return fail('(root)', 'an object');
  const text = (field: string) => typeof init[field] === 'string' || fail(field, 'a string');
  if (typeof init.instanceId !== 'string' || !/^[0-9a-f]{32}$/.test(init.instanceId)) {
    fail('instanceId', '32 hex digits');
  }
  text('appDir');
  text('socketPath');
  text('cacheDir');
  const handlers = init.handlers;
  if (
    !Array.isArray(handlers) ||
    !handlers.every(
      (h: { kind?: unknown; module?: unknown; exportName?: unknown }) =>
        (h?.kind === 'module' && typeof h.module === 'string' && typeof h.exportName === 'string') ||
        h?.kind === 'entrypoint' ||
        (h?.kind === 'cgi' && typeof (h as { script?: unknown }).script === 'string'),
    )
  ) {
    fail(
      'handlers',
      "a list of { kind: 'module', module, exportName }, { kind: 'entrypoint' } or { kind: 'cgi', script }",
    );
  }
  const entrypoint = init.entrypoint as Record<string, unknown> | undefined;
  if (
    entrypoint !== undefined &&
    (typeof entrypoint !== 'object' ||
      entrypoint === null ||
      typeof entrypoint.command !== 'string' ||
      !(Number.isInteger(entrypoint.startTimeoutMs) && (entrypoint.startTimeoutMs as number) > 0))
  ) {
    fail('entrypoint', '{ command, startTimeoutMs }');
  }
  if (
    (handlers as Array<{ kind: string }>).some((h) => h.kind === 'entrypoint') &&
    entrypoint === undefined
  ) {
    fail('entrypoint', 'set when a handler is an entrypoint one');
  }
  const env = init.env as Record<string, unknown> | null;
  if (typeof env !== 'object' || env === null || !Object.values(env).every((v) => typeof v === 'string')) {
    fail('env', 'an object of strings');
  }
  const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  if (!positive(init.heartbeatIntervalMs)) fail('heartbeatIntervalMs', 'a positive integer');
  const limits = init.limits as Record<string, unknown> | null;
  if (
    typeof limits !== 'object' ||
    limits === null ||
    !positive(limits.maxRequestBytes) ||
    !positive(limits.maxResponseBytes)
  ) {
    fail('limits', '{ maxRequestBytes, maxResponseBytes } as positive integers');
  }
  const sockets = init.sockets as Record<string, unknown> | undefined;
  if (
    sockets !== undefined &&
    (typeof sockets !== 'object' ||
      sockets === null ||
      typeof sockets.path !== 'string' ||
      typeof sockets.app !== 'string' ||
      typeof sockets.token !== 'string')
  ) {
    fail('sockets', '{ path, app, token } as strings');
  }
  if (init.precompiled !== undefined && typeof init.precompiled !== 'boolean')
    fail('precompiled', 'a boolean');
  if (init.hooksBecause !== undefined && typeof init.hooksBecause !== 'string')
    fail('hooksBecause', 'a string');
  return init as unknown as InstanceInit;
}

/** A message from the platform, or undefined for one this instance does not know. */
export function readPlatformMessage(raw: unknown): PlatformMessage | undefined {
  const message = raw as { type?: unknown; id?: unknown } | null;
  if (message?.type === 'stop') return { type: 'stop' };
  if (message?.type === 'ping' && typeof message.id === 'number') return { type: 'ping', id: message.id };
  return undefined;
}
