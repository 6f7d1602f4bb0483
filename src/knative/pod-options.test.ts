import { describe, expect, it } from 'vitest';
import { podOptions } from './pod-options.js';

const base = { HANGAR_APPLICATION: 'shop', HANGAR_VERSION: 'v1', HANGAR_MINOR: '42', HANGAR_SOCKETS: 'none' };

describe('podOptions (a Knative pod reads only its environment)', () => {
  it('defaults: 0.0.0.0:8080 (Knative sets PORT), /app, app.yaml, no sockets with none', () => {
    const o = podOptions(base);
    expect(o).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      appDir: '/app',
      appConfig: 'app.yaml',
      sockets: undefined,
    });
    expect(o.config).toBeUndefined();
  });

  it('takes every variable', () => {
    const o = podOptions({
      ...base,
      PORT: '9090',
      HANGAR_HOST: '127.0.0.1',
      HANGAR_APP_DIR: '/srv/app',
      HANGAR_APP_CONFIG: 'api.yaml',
      HANGAR_CONFIG: '/etc/hangar/hangar.config.yaml',
      HANGAR_CACHE_DIR: '/tmp/c',
      HANGAR_SOCKETS: 'hangar-sockets:7000',
      HANGAR_SOCKETS_TOKEN: 'abc',
    });
    expect(o).toEqual({
      host: '127.0.0.1',
      port: 9090,
      appDir: '/srv/app',
      appConfig: 'api.yaml',
      config: '/etc/hangar/hangar.config.yaml',
      cacheDir: '/tmp/c',
      application: 'shop',
      version: 'v1',
      minor: '42',
      sockets: { host: 'hangar-sockets', port: 7000, token: 'abc' },
    });
  });

  it('takes the platform database from HANGAR_DATABASE_URL; without it, none', () => {
    expect(podOptions(base).databaseUrl).toBeUndefined();
    const url = 'postgres://hangar:s3cret@db.internal:5432/hangar';
    expect(podOptions({ ...base, HANGAR_DATABASE_URL: url }).databaseUrl).toBe(url);
    expect(podOptions({ ...base, HANGAR_DATABASE_URL: 'postgresql://db/hangar' }).databaseUrl).toBe(
      'postgresql://db/hangar',
    );
  });

  it.each([
    'mysql://hangar:s3cret@db/hangar',
    'postgres://hangar:s3cret@db.internal:5432',
    'hangar:s3cret@db.internal',
  ])('refuses HANGAR_DATABASE_URL=%s without repeating its password', (url) => {
    let message = '';
    try {
      podOptions({ ...base, HANGAR_DATABASE_URL: url });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/HANGAR_DATABASE_URL must be a PostgreSQL URL/);
    expect(message).not.toContain('s3cret');
  });

  it.each([
    [{ ...base, HANGAR_APPLICATION: '' }, /HANGAR_APPLICATION is not set/],
    [{ ...base, HANGAR_MINOR: undefined }, /HANGAR_MINOR is not set/],
    [{ ...base, PORT: 'eighty' }, /PORT must be a port number/],
    // Sockets must be routed or refused on purpose: no silent way out around the socket service.
    [{ ...base, HANGAR_SOCKETS: undefined }, /HANGAR_SOCKETS is not set/],
    [{ ...base, HANGAR_SOCKETS: 'hangar-sockets' }, /host:port/],
    [{ ...base, HANGAR_SOCKETS: 'hangar-sockets:7000' }, /HANGAR_SOCKETS_TOKEN is not set/],
  ])('refuses %o', (env, message) => {
    expect(() => podOptions(env)).toThrow(message);
  });
});
