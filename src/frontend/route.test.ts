import { describe, expect, it } from 'vitest';
import { parseDispatch } from '../config/dispatch-config.js';
import type { AppConfig } from '../config/types.js';
import type { InstancePool } from '../scheduler/instance.js';
import { DevRouteTable, type RouteRequest, type ServiceRoute, serviceLabel } from './route.js';

const pool: InstancePool = {
  acquire: () => Promise.reject(new Error('not used by routing')),
};

function service(name: string): ServiceRoute {
  return {
    app: 'app',
    service: name,
    version: 'v1',
    config: { service: name } as unknown as AppConfig,
    pool,
    handlerIndex: new Map(),
    deadlineMs: undefined,
    deadlineGraceMs: 1000,
  };
}

const request = (host: string): RouteRequest => ({ host, path: '/', cookie: undefined, ip: '127.0.0.1' });

describe('DevRouteTable (S11 hosts under hangar dev)', () => {
  const table = new DevRouteTable();
  const api = service('api');
  const fallback = service('default');
  table.set(api);
  table.set(fallback);

  it.each([
    ['api.localhost:8080', 'api'],
    ['api.localhost', 'api'],
    ['api-dot-app.example', 'api'],
    ['api-dot-app.example:443', 'api'],
    ['API.LOCALHOST:8080', 'api'],
    ['Api-Dot-app.example', 'api'],
    ['other.localhost:8080', 'default'],
    ['localhost:8080', 'default'],
    ['127.0.0.1:8080', 'default'],
    ['[::1]:8080', 'default'],
    ['[::1]', 'default'],
    ['default.localhost', 'default'],
  ])('%s → %s', (host, expected) => {
    expect(table.route(request(host))?.service).toBe(expected);
  });

  it('a service set again replaces the one there (reload)', () => {
    const reloaded = new DevRouteTable();
    const first = service('api');
    const second = service('api');
    reloaded.set(first);
    reloaded.set(second);
    expect(reloaded.route(request('api.localhost'))).toBe(second);
  });

  it('without a default service, an unknown label finds nothing', () => {
    const only = new DevRouteTable();
    only.set(service('api'));
    expect(only.route(request('api.localhost'))?.service).toBe('api');
    expect(only.route(request('web.localhost'))).toBeUndefined();
    expect(only.delete('api')).toBe(true);
    expect(only.route(request('api.localhost'))).toBeUndefined();
  });

  it('an empty table routes nothing', () => {
    const empty = new DevRouteTable();
    for (const host of ['api.localhost:8080', 'localhost', '[::1]:8080']) {
      expect(empty.route(request(host))).toBeUndefined();
    }
  });
});

describe('serviceLabel', () => {
  it.each([
    ['api.localhost:8080', 'api'],
    ['v2-dot-api-dot-app.example', 'v2'],
    ['a-dotb.example', 'a-dotb'],
    ['UPPER', 'upper'],
    ['[::1]:8080', '['],
    ['', ''],
  ])('%s → %s', (host, label) => {
    expect(serviceLabel(host)).toBe(label);
  });
});

describe('DevRouteTable with dispatch.yaml', () => {
  it('a host naming a service goes there; other hosts follow the first matching rule, else default', () => {
    const table = new DevRouteTable();
    for (const name of ['default', 'api', 'admin']) table.set(service(name));
    table.setDispatch(
      parseDispatch(
        'dispatch:\n  - url: "*/api/*"\n    service: api\n  - url: "*/admin*"\n    service: admin\n',
        'dispatch.yaml',
      ),
    );
    const at = (host: string, path: string) => table.route({ ...request(host), path })?.service;
    expect(at('127.0.0.1:8080', '/api/x')).toBe('api');
    expect(at('127.0.0.1:8080', '/admin/users')).toBe('admin');
    expect(at('127.0.0.1:8080', '/')).toBe('default');
    // The host names a service: dispatch does not move it.
    expect(at('admin.localhost:8080', '/api/x')).toBe('admin');
  });
});
