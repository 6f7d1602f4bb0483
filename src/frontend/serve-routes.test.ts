import { describe, expect, it } from 'vitest';
import type { AppConfig } from '../config/types.js';
import type { InstancePool } from '../scheduler/instance.js';
import { HangarError } from '../shared/errors.js';
import type { RouteRequest, ServiceRoute } from './route.js';
import {
  addressedInstance,
  InstanceRoute,
  parseServeHost,
  ServeRouteTable,
  type ServeRouteTableOptions,
} from './serve-routes.js';

const pool: InstancePool = {
  acquire: () => Promise.reject(new Error('not used by routing')),
};

function version(app: string, service: string, name: string): ServiceRoute {
  return {
    app,
    service,
    version: name,
    config: { service } as unknown as AppConfig,
    pool,
    handlerIndex: new Map(),
    deadlineMs: undefined,
    deadlineGraceMs: 1000,
  };
}

/** A request as the pipeline's Exchange would give it, plus the Authorization header serve's isAdmin reads. */
type TestRequest = RouteRequest & { authorization?: string };

const request = (host: string, authorization?: string): TestRequest => ({
  host,
  path: '/',
  cookie: undefined,
  ip: '127.0.0.1',
  ...(authorization === undefined ? {} : { authorization }),
});

const ADMIN = 'Bearer secret';

/** Instances per version, as serve would read them from each version's pool. */
const running = new Map<ServiceRoute, string[]>();

function table(options: Partial<ServeRouteTableOptions> = {}): ServeRouteTable {
  return new ServeRouteTable({
    isAdmin: (r) => (r as TestRequest).authorization === ADMIN,
    instanceIds: (route) => running.get(route) ?? [],
    ...options,
  });
}

/** What route() names, as `app/service/version` (plus `@instance`), or the error it throws. */
function resolve(routes: ServeRouteTable, host: string, authorization?: string): string {
  try {
    const route = routes.route(request(host, authorization));
    const instance = addressedInstance(route);
    return `${route.app}/${route.service}/${route.version}${instance === undefined ? '' : `@${instance}`}`;
  } catch (err) {
    if (!(err instanceof HangarError)) throw err;
    return `${err.status} ${err.code}: ${err.message}`;
  }
}

describe('parseServeHost', () => {
  it.each([
    ['shop.localhost', ['shop']],
    ['shop.localhost:8080', ['shop']],
    ['SHOP.LocalHost:8080', ['shop']],
    ['shop.localhost.', ['shop']],
    ['shop.localhost.:8080', ['shop']],
    ['api-dot-shop.localhost', ['api', 'shop']],
    ['api.shop.localhost', ['api', 'shop']],
    ['v1-dot-default-dot-myapp.localhost', ['v1', 'default', 'myapp']],
    ['v1.default.myapp.localhost', ['v1', 'default', 'myapp']],
    ['v1-dot-default.myapp.localhost:80', ['v1', 'default', 'myapp']],
    ['v1.default-dot-myapp.localhost', ['v1', 'default', 'myapp']],
    ['V1-DOT-Default-Dot-MyApp.LOCALHOST', ['v1', 'default', 'myapp']],
    ['ab12-dot-v1-dot-default-dot-myapp.localhost:8080', ['ab12', 'v1', 'default', 'myapp']],
    ['ab12.v1.default.myapp.localhost', ['ab12', 'v1', 'default', 'myapp']],
    // Hyphens that are not `-dot-` stay in the name.
    ['my-app.localhost', ['my-app']],
    ['a-dotb-dot-my-shop.localhost', ['a-dotb', 'my-shop']],
    ['dot-x-dot-shop.localhost', ['dot-x', 'shop']],
    ['a-dot-dot-b.localhost', ['a', 'dot-b']],
    ['a.b.c.d.e.localhost', ['a', 'b', 'c', 'd', 'e']],
  ])('%s → %j', (host, labels) => {
    expect(parseServeHost(host, 'localhost')).toEqual(labels);
  });

  it.each([
    ['localhost'],
    ['localhost:8080'],
    ['LOCALHOST'],
    ['.localhost'],
    ['127.0.0.1'],
    ['127.0.0.1:8080'],
    ['[::1]'],
    ['[::1]:8080'],
    ['[2001:db8::1]:443'],
    ['::1'],
    ['shop.example.com'],
    ['shoplocalhost'],
    ['shop.localhost.example'],
  ])('%s names no app', (host) => {
    expect(parseServeHost(host, 'localhost')).toBeUndefined();
  });

  it('reads hosts under another --domain, in any case and with dots around it', () => {
    for (const domain of ['apps.example.com', 'Apps.Example.COM', '.apps.example.com.']) {
      expect(parseServeHost('v2-dot-api.Shop.apps.example.com:443', domain)).toEqual(['v2', 'api', 'shop']);
      expect(parseServeHost('shop.localhost', domain)).toBeUndefined();
      expect(parseServeHost('apps.example.com', domain)).toBeUndefined();
      expect(parseServeHost('example.com', domain)).toBeUndefined();
    }
  });

  it('a -dot- inside the domain is no separator', () => {
    expect(parseServeHost('api.shop.my-dot-domain.com', 'my-dot-domain.com')).toEqual(['api', 'shop']);
    expect(parseServeHost('shop-dot-x.com', 'x.com')).toBeUndefined();
  });

  it('empty names are kept, so they fail as unknown names rather than fall back', () => {
    expect(parseServeHost('-dot-shop.localhost', 'localhost')).toEqual(['', 'shop']);
    expect(parseServeHost('a..shop.localhost', 'localhost')).toEqual(['a', '', 'shop']);
  });

  it('an IP address under a numeric --domain still names no app', () => {
    expect(parseServeHost('10.0.0.5', '0.5')).toBeUndefined();
    expect(parseServeHost('shop.10.0.0.5', '10.0.0.5')).toEqual(['shop']);
  });

  it('refuses an empty domain', () => {
    expect(() => parseServeHost('shop.localhost', '.')).toThrow(/--domain must name a domain/);
  });
});

describe('ServeRouteTable: one app (S11 hostnames)', () => {
  const routes = table();
  for (const [service, v] of [
    ['default', 'v1'],
    ['default', 'v2'],
    ['api', 'v1'],
    ['api', 'v3'],
    // A service that is also the name of a version of default (precedence test).
    ['beta', 'b1'],
    ['default', 'beta'],
  ] as const)
    routes.set(version('shop', service, v));
  routes.promote('shop', 'default', 'v2');
  routes.promote('shop', 'api', 'v3');
  routes.promote('shop', 'beta', 'b1');

  it.each([
    // APP → default's promoted version.
    ['shop.localhost', 'shop/default/v2'],
    ['shop.localhost:8080', 'shop/default/v2'],
    ['SHOP.LOCALHOST', 'shop/default/v2'],
    // SERVICE-dot-APP → that service's promoted version.
    ['api-dot-shop.localhost', 'shop/api/v3'],
    ['api.shop.localhost:8080', 'shop/api/v3'],
    ['API-DOT-SHOP.localhost', 'shop/api/v3'],
    ['default-dot-shop.localhost', 'shop/default/v2'],
    // VERSION-dot-APP → a version of default when no service has the name.
    ['v1-dot-shop.localhost', 'shop/default/v1'],
    ['v1.shop.localhost', 'shop/default/v1'],
    // A service and a version of default at once: the service.
    ['beta-dot-shop.localhost', 'shop/beta/b1'],
    ['beta.shop.localhost', 'shop/beta/b1'],
    // ...while the version stays reachable by its full name.
    ['beta-dot-default-dot-shop.localhost', 'shop/default/beta'],
    // VERSION-dot-SERVICE-dot-APP, both spellings and mixed.
    ['v1-dot-api-dot-shop.localhost', 'shop/api/v1'],
    ['v1.api.shop.localhost', 'shop/api/v1'],
    ['v1-dot-api.shop.localhost', 'shop/api/v1'],
    ['v1.api-dot-shop.localhost:8080', 'shop/api/v1'],
    ['V1-Dot-Default-DOT-Shop.LocalHost', 'shop/default/v1'],
    // A host that names no app: the only app's default.
    ['127.0.0.1:8080', 'shop/default/v2'],
    ['127.0.0.1', 'shop/default/v2'],
    ['[::1]:8080', 'shop/default/v2'],
    ['localhost', 'shop/default/v2'],
    ['localhost:8080', 'shop/default/v2'],
    ['shop.example.com', 'shop/default/v2'],
  ])('%s → %s', (host, expected) => {
    expect(resolve(routes, host)).toBe(expected);
  });

  it.each([
    ['blog.localhost', "no app 'blog'; apps: shop"],
    ['v1-dot-blog.localhost', "no app 'blog'; apps: shop"],
    ['web-dot-v1-dot-shop.localhost', "no service 'v1' in app 'shop'; services: api, beta, default"],
    [
      'v9-dot-default-dot-shop.localhost',
      "no version 'v9' of service 'default' in app 'shop'; versions: beta, v1, v2",
    ],
    ['v9.api.shop.localhost', "no version 'v9' of service 'api' in app 'shop'; versions: v1, v3"],
    [
      'nope-dot-shop.localhost',
      "no service or version 'nope' in app 'shop'; services: api, beta, default; versions of default: beta, v1, v2",
    ],
    [
      'a.b.c.d.e.localhost',
      "host 'a.b.c.d.e.localhost' has 5 names before .localhost; at most 4: INSTANCE-dot-VERSION-dot-SERVICE-dot-APP",
    ],
  ])('%s: 404 %s', (host, message) => {
    expect(resolve(routes, host)).toBe(`404 HANGAR_E_SERVICE_NOT_FOUND: ${message}`);
  });

  it('the error is a HangarError carrying 404, as the pipeline answers it', () => {
    let thrown: unknown;
    try {
      routes.route(request('v9.api.shop.localhost'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HangarError);
    expect(thrown).toMatchObject({ status: 404, code: 'HANGAR_E_SERVICE_NOT_FOUND' });
  });

  it('returns the very route object that was set (no copy for version hosts)', () => {
    const v1 = routes.list().find((e) => e.service === 'api' && e.version === 'v1')!.route;
    expect(routes.route(request('v1.api.shop.localhost'))).toBe(v1);
    expect(addressedInstance(v1)).toBeUndefined();
  });
});

describe('ServeRouteTable: instances (admin only)', () => {
  const routes = table();
  const v1 = version('shop', 'default', 'v1');
  routes.set(v1);
  routes.promote('shop', 'default', 'v1');
  running.set(v1, ['ab12', 'cd34']);

  it.each([
    ['ab12-dot-v1-dot-default-dot-shop.localhost', 'shop/default/v1@ab12'],
    ['ab12.v1.default.shop.localhost', 'shop/default/v1@ab12'],
    ['CD34-dot-v1.default-DOT-shop.localhost:8080', 'shop/default/v1@cd34'],
  ])('%s with the admin token → %s', (host, expected) => {
    expect(resolve(routes, host, ADMIN)).toBe(expected);
  });

  it('without the admin token: 403 saying what is needed, before the instance is looked up', () => {
    const message =
      "403 HANGAR_E_INSTANCE_FORBIDDEN: addressing an instance ('ab12.v1.default.shop.localhost') needs the admin token as `Authorization: Bearer <token>`";
    expect(resolve(routes, 'ab12.v1.default.shop.localhost')).toBe(message);
    expect(resolve(routes, 'ab12.v1.default.shop.localhost', 'Bearer wrong')).toBe(message);
    // A non-admin cannot tell an existing instance from a missing one.
    expect(resolve(routes, 'ffff.v1.default.shop.localhost')).toMatch(/^403 /);
  });

  it('an unknown instance: 404 naming it and the running ones', () => {
    expect(resolve(routes, 'ffff.v1.default.shop.localhost', ADMIN)).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no instance 'ffff' of version 'v1' of service 'default' in app 'shop'; instances: ab12, cd34",
    );
  });

  it('an unknown version under an instance host: 404 for the version, also without the token', () => {
    expect(resolve(routes, 'ab12.v9.default.shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no version 'v9' of service 'default' in app 'shop'; versions: v1",
    );
  });

  it('a version with no instance running: 404 saying none', () => {
    const routes2 = table();
    routes2.set(version('shop', 'default', 'v1'));
    expect(resolve(routes2, 'ab12.v1.default.shop.localhost', ADMIN)).toMatch(/; instances: \(none\)$/);
  });

  it('the InstanceRoute reads through to routes whose fields are getters over private state', () => {
    class PrivateRoute implements ServiceRoute {
      readonly #deadline = 60_000;
      readonly config = { service: 'default' } as unknown as AppConfig;
      readonly pool = pool;
      readonly handlerIndex = new Map([[0, 3]]);
      get app(): string {
        return 'shop';
      }
      get service(): string {
        return 'default';
      }
      get version(): string {
        return 'v7';
      }
      get deadlineMs(): number {
        return this.#deadline;
      }
      get deadlineGraceMs(): number {
        return this.#deadline / 60;
      }
    }
    const routes3 = table();
    const base = new PrivateRoute();
    routes3.set(base);
    running.set(base, ['ab12']);
    const route = routes3.route(request('ab12.v7.default.shop.localhost', ADMIN));
    expect(route).toBeInstanceOf(InstanceRoute);
    expect((route as InstanceRoute).base).toBe(base);
    expect(addressedInstance(route)).toBe('ab12');
    expect({
      app: route.app,
      service: route.service,
      version: route.version,
      deadlineMs: route.deadlineMs,
      deadlineGraceMs: route.deadlineGraceMs,
      handlerIndex: route.handlerIndex.get(0),
    }).toEqual({
      app: 'shop',
      service: 'default',
      version: 'v7',
      deadlineMs: 60_000,
      deadlineGraceMs: 1000,
      handlerIndex: 3,
    });
    expect(route.pool).toBe(pool);
    expect(route.config).toBe(base.config);
  });
});

describe('ServeRouteTable: several apps', () => {
  const routes = table();
  routes.set(version('shop', 'default', 'v1'));
  routes.set(version('blog', 'default', 'b1'));
  routes.set(version('blog', 'admin', 'a1'));
  routes.promote('shop', 'default', 'v1');
  routes.promote('blog', 'default', 'b1');
  routes.promote('blog', 'admin', 'a1');

  it.each([
    ['shop.localhost', 'shop/default/v1'],
    ['blog.localhost:8080', 'blog/default/b1'],
    ['admin-dot-blog.localhost', 'blog/admin/a1'],
    ['b1.blog.localhost', 'blog/default/b1'],
    ['a1-dot-admin-dot-blog.localhost', 'blog/admin/a1'],
  ])('%s → %s', (host, expected) => {
    expect(resolve(routes, host)).toBe(expected);
  });

  it.each([['127.0.0.1:8080'], ['localhost'], ['[::1]:8080'], ['shop.example.com']])(
    '%s names no app: 404 listing the apps',
    (host) => {
      expect(resolve(routes, host)).toBe(
        `404 HANGAR_E_SERVICE_NOT_FOUND: host '${host}' names no app, and the platform has 2 (blog, shop): use APP.localhost or SERVICE-dot-APP.localhost`,
      );
    },
  );

  it('an unknown app: 404 listing the apps', () => {
    expect(resolve(routes, 'wiki.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no app 'wiki'; apps: blog, shop",
    );
  });

  it("an app's services are its own", () => {
    expect(resolve(routes, 'admin-dot-shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no service or version 'admin' in app 'shop'; services: default; versions of default: v1",
    );
  });

  it('removing the last version of an app makes the other the only app again', () => {
    const two = table();
    two.set(version('shop', 'default', 'v1'));
    two.set(version('blog', 'default', 'b1'));
    two.promote('shop', 'default', 'v1');
    two.promote('blog', 'default', 'b1');
    expect(resolve(two, '127.0.0.1')).toMatch(/^404 .*names no app/);
    expect(two.remove('blog', 'default', 'b1')).toBe(true);
    expect(resolve(two, '127.0.0.1')).toBe('shop/default/v1');
    expect(resolve(two, 'blog.localhost')).toBe("404 HANGAR_E_SERVICE_NOT_FOUND: no app 'blog'; apps: shop");
  });
});

describe('ServeRouteTable: no app deployed', () => {
  const routes = table();

  it.each([['127.0.0.1:8080'], ['localhost'], ['[::1]']])('%s: 404 saying no app is deployed', (host) => {
    expect(resolve(routes, host)).toBe(
      '404 HANGAR_E_SERVICE_NOT_FOUND: no app is deployed on this platform (hangar deploy)',
    );
  });

  it('a named app: 404 naming it and saying none is deployed', () => {
    expect(resolve(routes, 'shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no app 'shop': no app is deployed (hangar deploy)",
    );
  });
});

describe('ServeRouteTable: promote, replace, remove', () => {
  it('promote switches what the service hosts reach; other versions stay addressable', () => {
    const routes = table();
    routes.set(version('shop', 'default', 'v1'));
    routes.set(version('shop', 'default', 'v2'));
    expect(routes.promote('shop', 'default', 'v1')).toBeUndefined();
    expect(resolve(routes, 'shop.localhost')).toBe('shop/default/v1');
    expect(routes.promote('shop', 'default', 'v2')).toBe('v1');
    expect(resolve(routes, 'shop.localhost')).toBe('shop/default/v2');
    expect(resolve(routes, '127.0.0.1')).toBe('shop/default/v2');
    expect(resolve(routes, 'v1.shop.localhost')).toBe('shop/default/v1');
    expect(routes.list().map((e) => `${e.version}:${e.promoted}`)).toEqual(['v1:false', 'v2:true']);
  });

  it('a deployed but never promoted version: the service hosts say there is no promoted version', () => {
    const routes = table();
    routes.set(version('shop', 'default', 'v1'));
    routes.set(version('shop', 'api', 'v1'));
    expect(resolve(routes, 'shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: service 'default' in app 'shop' has no promoted version; versions: v1",
    );
    expect(resolve(routes, 'api.shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: service 'api' in app 'shop' has no promoted version; versions: v1",
    );
    expect(resolve(routes, 'v1.api.shop.localhost')).toBe('shop/api/v1');
  });

  it('an app without a default service: APP hosts say so', () => {
    const routes = table();
    routes.set(version('shop', 'api', 'v1'));
    routes.promote('shop', 'api', 'v1');
    expect(resolve(routes, 'shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no service 'default' in app 'shop'; services: api",
    );
    expect(resolve(routes, 'x.shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no service or version 'x' in app 'shop'; services: api; no default service",
    );
  });

  it('promote of something not in the table throws the routing 404', () => {
    const routes = table();
    routes.set(version('shop', 'default', 'v1'));
    expect(() => routes.promote('shop', 'default', 'v9')).toThrow(
      "no version 'v9' of service 'default' in app 'shop'; versions: v1",
    );
    expect(() => routes.promote('shop', 'api', 'v1')).toThrow("no service 'api' in app 'shop'");
    expect(() => routes.promote('blog', 'default', 'v1')).toThrow("no app 'blog'; apps: shop");
  });

  it('set again replaces the route (a new MINOR) and keeps it promoted', () => {
    const routes = table();
    const first = version('shop', 'default', 'v1');
    const second = version('shop', 'default', 'v1');
    routes.set(first);
    routes.promote('shop', 'default', 'v1');
    routes.set(second);
    expect(routes.route(request('shop.localhost'))).toBe(second);
    expect(routes.list()).toHaveLength(1);
  });

  it('remove: the version goes; removing the promoted one leaves the service without one', () => {
    const routes = table();
    for (const v of ['v1', 'v2', 'v3']) routes.set(version('shop', 'default', v));
    routes.promote('shop', 'default', 'v2');
    expect(routes.remove('shop', 'default', 'v1')).toBe(true);
    expect(routes.remove('shop', 'default', 'v1')).toBe(false);
    expect(routes.remove('shop', 'nope', 'v1')).toBe(false);
    expect(routes.remove('nope', 'default', 'v1')).toBe(false);
    expect(resolve(routes, 'v1.shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: no service or version 'v1' in app 'shop'; services: default; versions of default: v2, v3",
    );
    expect(resolve(routes, 'shop.localhost')).toBe('shop/default/v2');
    expect(routes.remove('shop', 'default', 'v2')).toBe(true);
    expect(resolve(routes, 'shop.localhost')).toBe(
      "404 HANGAR_E_SERVICE_NOT_FOUND: service 'default' in app 'shop' has no promoted version; versions: v3",
    );
    // Deploying v2 again does not bring its promotion back: that is promote()'s to say.
    routes.set(version('shop', 'default', 'v2'));
    expect(resolve(routes, 'shop.localhost')).toMatch(/has no promoted version; versions: v2, v3$/);
  });

  it('removing the last version of the last app empties the table', () => {
    const routes = table();
    routes.set(version('shop', 'default', 'v1'));
    routes.promote('shop', 'default', 'v1');
    expect(routes.remove('shop', 'default', 'v1')).toBe(true);
    expect(routes.list()).toEqual([]);
    expect(resolve(routes, '127.0.0.1')).toBe(
      '404 HANGAR_E_SERVICE_NOT_FOUND: no app is deployed on this platform (hangar deploy)',
    );
  });

  it('a custom --domain: hosts under it route, localhost names no app', () => {
    const routes = table({ domain: 'Apps.Example.com' });
    routes.set(version('shop', 'default', 'v1'));
    routes.set(version('blog', 'default', 'b1'));
    routes.promote('shop', 'default', 'v1');
    routes.promote('blog', 'default', 'b1');
    expect(routes.domain).toBe('apps.example.com');
    expect(resolve(routes, 'blog.apps.example.com')).toBe('blog/default/b1');
    expect(resolve(routes, 'b1-dot-blog.APPS.example.com:8443')).toBe('blog/default/b1');
    expect(resolve(routes, 'blog.localhost')).toMatch(/names no app.*use APP\.apps\.example\.com/);
  });
});

describe('ServeRouteTable: traffic splits', () => {
  function splitShop(by: 'cookie' | 'ip' | 'random'): ServeRouteTable {
    const routes = table();
    routes.set(version('shop', 'default', 'v1'));
    routes.set(version('shop', 'default', 'v2'));
    routes.promote('shop', 'default', 'v1');
    routes.split('shop', 'default', { v1: 0.7, v2: 0.3 }, by);
    return routes;
  }

  it('by cookie: the bucket in GOOGAPPUID picks the version; a client without one is given one', () => {
    const routes = splitShop('cookie');
    const at = (cookie: string | undefined) => routes.route({ ...request('shop.localhost'), cookie }).version;
    expect(at('GOOGAPPUID=0')).toBe('v1');
    expect(at('GOOGAPPUID=699')).toBe('v1');
    expect(at('GOOGAPPUID=700')).toBe('v2');
    const given: number[] = [];
    const route = routes.route({ ...request('shop.localhost'), assignSplitBucket: (b) => given.push(b) });
    expect(given).toHaveLength(1);
    expect(route.version).toBe(given[0]! < 700 ? 'v1' : 'v2');
    // A client with its cookie is given none again.
    routes.route({
      ...request('shop.localhost'),
      cookie: 'GOOGAPPUID=5',
      assignSplitBucket: (b) => given.push(b),
    });
    expect(given).toHaveLength(1);
  });

  it('by ip: one address, one version; the service host and its versions stay addressable', () => {
    const routes = splitShop('ip');
    const at = (ip: string) => routes.route({ ...request('shop.localhost'), ip }).version;
    for (const ip of ['127.0.0.2', '10.1.2.3', '::1']) expect(new Set([at(ip), at(ip), at(ip)]).size).toBe(1);
    expect(resolve(routes, 'v2-dot-default-dot-shop.localhost')).toBe('shop/default/v2');
  });

  it('tells the request the split in force, for every `by`; a promoted version is not a split', () => {
    for (const by of ['cookie', 'ip', 'random'] as const) {
      const routes = splitShop(by);
      const noted: string[] = [];
      routes.route({ ...request('shop.localhost'), noteSplit: (label) => noted.push(label) });
      routes.route({ ...request('default-dot-shop.localhost'), noteSplit: (label) => noted.push(label) });
      expect(noted).toEqual([`${by}:v1=0.7,v2=0.3`, `${by}:v1=0.7,v2=0.3`]);
      // A version named in the host is not picked by the split.
      const named: string[] = [];
      routes.route({
        ...request('v2-dot-default-dot-shop.localhost'),
        noteSplit: (label) => named.push(label),
      });
      expect(named).toEqual([]);
    }
    const routes = splitShop('cookie');
    routes.promote('shop', 'default', 'v2');
    const noted: string[] = [];
    const route = routes.route({ ...request('shop.localhost'), noteSplit: (label) => noted.push(label) });
    expect(route.version).toBe('v2');
    expect(noted).toEqual([]);
  });

  it('a promote ends the split; a split naming an unknown version is refused and changes nothing', () => {
    const routes = splitShop('random');
    expect(() => routes.split('shop', 'default', { v1: 0.5, v9: 0.5 }, 'ip')).toThrow(/no version 'v9'/);
    routes.promote('shop', 'default', 'v2');
    for (let i = 0; i < 20; i++) expect(resolve(routes, 'shop.localhost')).toBe('shop/default/v2');
  });
});
