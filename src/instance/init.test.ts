import { describe, expect, it } from 'vitest';
import { InstanceInit, PlatformMessage } from '../shared/messages.js';
import { readInstanceInit, readPlatformMessage } from './init.js';

const valid = {
  instanceId: 'a'.repeat(32),
  appDir: '/app',
  socketPath: '/run/x.sock',
  cacheDir: '/cache',
  handlers: [{ kind: 'module', module: 'main.ts', exportName: 'app' }],
  env: { GAE_ENV: 'localdev' },
  heartbeatIntervalMs: 1000,
  limits: { maxRequestBytes: 10, maxResponseBytes: 10 },
  sockets: { path: '/run/s.sock', app: 'a', token: 't' },
};

describe('readInstanceInit (the instance side of InstanceInit, without zod)', () => {
  it('accepts what the zod schema accepts', () => {
    expect(readInstanceInit(JSON.stringify(valid))).toEqual(InstanceInit.parse(valid));
    const { sockets: _, ...withoutSockets } = valid;
    expect(readInstanceInit(JSON.stringify(withoutSockets))).toEqual(InstanceInit.parse(withoutSockets));
  });

  it('reads an entrypoint handler with its command, as zod does', () => {
    const withEntrypoint = {
      ...valid,
      handlers: [{ kind: 'entrypoint' }],
      entrypoint: { command: 'npm start', startTimeoutMs: 30_000 },
    };
    expect(readInstanceInit(JSON.stringify(withEntrypoint))).toEqual(InstanceInit.parse(withEntrypoint));
  });

  it.each<[string, object]>([
    ['instanceId', { instanceId: 'nothex' }],
    ['appDir', { appDir: 3 }],
    ['handlers', { handlers: [{ kind: 'module', module: 'm' }] }],
    ['entrypoint', { handlers: [{ kind: 'entrypoint' }] }],
    ['entrypoint', { handlers: [{ kind: 'entrypoint' }], entrypoint: { command: 'npm start' } }],
    ['env', { env: { A: 1 } }],
    ['heartbeatIntervalMs', { heartbeatIntervalMs: 0 }],
    ['limits', { limits: { maxRequestBytes: 1 } }],
    ['sockets', { sockets: { path: '/p' } }],
  ])('names %s when it is wrong, as zod refuses it too', (field, change) => {
    const bad = { ...valid, ...change };
    expect(InstanceInit.safeParse(bad).success).toBe(false);
    expect(() => readInstanceInit(JSON.stringify(bad))).toThrow(`HANGAR_INSTANCE_INIT.${field} must be`);
  });

  it('reads the platform messages it knows and ignores others', () => {
    for (const message of [{ type: 'stop' }, { type: 'ping', id: 7 }] as const) {
      expect(readPlatformMessage(message)).toEqual(PlatformMessage.parse(message));
    }
    expect(readPlatformMessage({ type: 'ping' })).toBeUndefined();
    expect(readPlatformMessage({ type: 'reboot' })).toBeUndefined();
    expect(readPlatformMessage(null)).toBeUndefined();
  });
});
