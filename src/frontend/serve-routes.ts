/**
 * `hangar serve`'s route table (SPEC S11 "Hostnames", docs/serve.md "Routing"): which deployed
 * version of which app answers a host. The platform fills it beside the traffic (deploy,
 * promote, delete, restart); the front end reads it synchronously on every request through
 * the `RouteTable` seam of route.ts, like `hangar dev`'s DevRouteTable.
 */
import { type DispatchRule, dispatchService } from '../config/dispatch-config.js';
import { HangarError } from '../shared/errors.js';
import type { RouteRequest, RouteTable, ServiceRoute } from './route.js';
import {
  bucketFromCookie,
  bucketFromIp,
  randomBucket,
  type SplitBy,
  type SplitTable,
  splitTable,
  versionForBucket,
} from './traffic-split.js';

/** The service `APP` and `VERSION-dot-APP` hosts mean (App Engine's name for it). */
const DEFAULT_SERVICE = 'default';
/** `INSTANCE-dot-VERSION-dot-SERVICE-dot-APP` is the longest host form S11 has. */
const MAX_LABELS = 4;
const SEPARATOR = '-dot-';

/**
 * `--domain` as hosts are compared with it: lower case, without leading or trailing dots
 * (`Example.COM.` is `example.com`), so the per-request check is one `endsWith`.
 */
function normaliseDomain(domain: string): string {
  let start = 0;
  let end = domain.length;
  while (start < end && domain.charCodeAt(start) === 0x2e) start++;
  while (end > start && domain.charCodeAt(end - 1) === 0x2e) end--;
  if (start === end) throw new HangarError('USAGE', `--domain must name a domain (got '${domain}')`);
  return domain.slice(start, end).toLowerCase();
}

/** Digits and dots only: an IPv4 address (no top-level domain is all digits). */
function isIpv4(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c !== 0x2e && (c < 0x30 || c > 0x39)) return false;
  }
  return true;
}

/**
 * parseServeHost() with the domain already turned into its `.domain` suffix: the table
 * computes that once, so a request costs one lower-casing, one slice and the split.
 */
function hostLabels(host: string, suffix: string): string[] | undefined {
  // `[::1]:8080`: an IPv6 literal names no app, and its colons are not a port.
  if (host.charCodeAt(0) === 0x5b) return undefined;
  let end = host.indexOf(':');
  if (end === -1) end = host.length;
  // A second colon: an IPv6 address without brackets; not a name either.
  else if (host.indexOf(':', end + 1) !== -1) return undefined;
  // `shop.localhost.` is the same name written fully qualified.
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  const name = host.slice(0, end).toLowerCase();
  if (isIpv4(name) || !name.endsWith(suffix)) return undefined;
  const rest = name.length - suffix.length;
  // `.localhost`: nothing before the domain, so no app either.
  if (rest === 0) return undefined;
  // Split on `.` and on `-dot-` alike, in one pass without a regex: each separator's next
  // position is searched again only once the split has passed it.
  const labels: string[] = [];
  let start = 0;
  let dot = name.indexOf('.');
  let sep = name.indexOf(SEPARATOR);
  for (;;) {
    if (dot !== -1 && dot < start) dot = name.indexOf('.', start);
    if (sep !== -1 && sep < start) sep = name.indexOf(SEPARATOR, start);
    const atDot = dot !== -1 && dot < rest && (sep === -1 || dot < sep);
    const atSep = !atDot && sep !== -1 && sep + SEPARATOR.length <= rest;
    if (!atDot && !atSep) {
      labels.push(name.slice(start, rest));
      return labels;
    }
    const at = atDot ? dot : sep;
    labels.push(name.slice(start, at));
    start = at + (atDot ? 1 : SEPARATOR.length);
  }
}

/**
 * The names a Host header gives under `--domain` (S11), most specific first, the app last:
 * lower-cased, the port dropped (`[::1]:8080` too), a trailing `.<domain>` dropped, then split
 * on `-dot-` and `.` alike (both spellings, also mixed). Undefined when the host names no app:
 * an IP address, the bare domain, or a host not under the domain.
 *
 * @example
 * parseServeHost('V1-dot-default.Shop.localhost:8080', 'localhost') // ['v1', 'default', 'shop']
 * parseServeHost('127.0.0.1:8080', 'localhost') // undefined
 */
export function parseServeHost(host: string, domain: string): string[] | undefined {
  return hostLabels(host, `.${normaliseDomain(domain)}`);
}

/**
 * A version's route reached through `INSTANCE-dot-VERSION-dot-SERVICE-dot-APP`: the version's
 * ServiceRoute plus the instance that was addressed. It delegates instead of copying because
 * routes may be class instances with getters over private fields (ServiceRuntime), which
 * neither a spread nor `Object.create` would carry over; and it is a ServiceRoute itself, so
 * the pipeline's route type stays as it is and only dispatch has to look at `instanceId`
 * (addressedInstance()).
 */
export class InstanceRoute implements ServiceRoute {
  constructor(
    readonly base: ServiceRoute,
    readonly instanceId: string,
  ) {}

  get app(): string {
    return this.base.app;
  }
  get service(): string {
    return this.base.service;
  }
  get version(): string {
    return this.base.version;
  }
  get config(): ServiceRoute['config'] {
    return this.base.config;
  }
  get pool(): ServiceRoute['pool'] {
    return this.base.pool;
  }
  get handlerIndex(): ServiceRoute['handlerIndex'] {
    return this.base.handlerIndex;
  }
  get deadlineMs(): number | undefined {
    return this.base.deadlineMs;
  }
  get deadlineGraceMs(): number {
    return this.base.deadlineGraceMs;
  }
}

/**
 * The instance a routed request addressed, or undefined when any instance of the version may
 * take it (every route but an InstanceRoute, so dev's routes never have one).
 *
 * @example
 * const id = addressedInstance(route);
 * const lease = id === undefined ? await route.pool.acquire() : await pool.acquireInstance(id);
 */
export function addressedInstance(route: ServiceRoute): string | undefined {
  return route instanceof InstanceRoute ? route.instanceId : undefined;
}

export interface ServeRouteTableOptions {
  /** `serve --domain`; hosts are read under it. Default `localhost`. */
  domain?: string;
  /**
   * Whether the request comes from the platform's admin, asked only for instance-addressed
   * requests (S11: "addressing an instance needs an admin"). A function, so the table knows
   * no token or header: serve passes `(r) => authorized(r.authorization, adminToken)`.
   */
  isAdmin(request: RouteRequest): boolean;
  /**
   * The ids of the instances a version runs now, asked only for instance-addressed requests
   * (admin, rare), to answer 404 for one that does not exist; serve reads its pool's instances.
   */
  instanceIds(route: ServiceRoute): Iterable<string>;
}

/** One version as list() shows it. */
export interface ServeRouteEntry {
  app: string;
  service: string;
  version: string;
  /** Whether it is its service's promoted version (what `SERVICE-dot-APP` reaches). */
  promoted: boolean;
  route: ServiceRoute;
}

interface ServiceEntry {
  readonly app: string;
  readonly name: string;
  readonly versions: Map<string, ServiceRoute>;
  /** The version the service's own hosts reach; undefined until one is promoted. */
  promoted: string | undefined;
  /** Set while the traffic is split between versions (then `promoted` is undefined). */
  split: SplitTable | undefined;
}

interface AppEntry {
  readonly name: string;
  readonly services: Map<string, ServiceEntry>;
  /** dispatch.yaml's rules (S11): for the app's own host, before its default service. */
  dispatch: readonly DispatchRule[];
}

/** The bucket a request of a split falls into; a cookie split gives a new client its cookie. */
function bucketOf(split: SplitTable, request: RouteRequest): number {
  if (split.by === 'ip') return bucketFromIp(request.ip);
  if (split.by === 'cookie') {
    const known = bucketFromCookie(request.cookie);
    if (known !== undefined) return known;
    const bucket = randomBucket();
    request.assignSplitBucket?.(bucket);
    return bucket;
  }
  return randomBucket();
}

/** Names for a message, sorted so that the same state always reads the same. */
function names(keys: Iterable<string>): string {
  const all = [...keys].sort();
  return all.length === 0 ? '(none)' : all.join(', ');
}

/**
 * `hangar serve`'s table: apps → services → versions, each version a ServiceRoute, and per
 * service the promoted version (its default). Hosts resolve per S11:
 *
 * | labels | route |
 * |---|---|
 * | (none: an IP, the bare domain, another domain) | with exactly one app: its default service's promoted version |
 * | `APP` | the default service's promoted version |
 * | `SERVICE-dot-APP` | that service's promoted version |
 * | `VERSION-dot-APP` | when no service has that name: that version of `default` |
 * | `VERSION-dot-SERVICE-dot-APP` | that version |
 * | `INSTANCE-dot-VERSION-dot-SERVICE-dot-APP` | that version as an InstanceRoute; admin only (403) |
 *
 * Anything unknown throws a 404 HangarError (SERVICE_NOT_FOUND) naming what was not found and
 * what there is, so route() never returns undefined. Lookups are Map gets; the only per-request
 * allocations are the lower-cased host and its labels.
 *
 * @example
 * const routes = new ServeRouteTable({ domain: 'example.com', isAdmin, instanceIds });
 * routes.set(v1); // a ServiceRoute of app shop, service default, version v1
 * routes.promote('shop', 'default', 'v1');
 * routes.route({ host: 'shop.example.com', path: '/', cookie: undefined, ip: '::1' }); // v1
 */
export class ServeRouteTable implements RouteTable {
  readonly #apps = new Map<string, AppEntry>();
  readonly #domain: string;
  /** `.<domain>`, computed once: a request's host is checked with one endsWith. */
  readonly #suffix: string;
  readonly #isAdmin: (request: RouteRequest) => boolean;
  readonly #instanceIds: (route: ServiceRoute) => Iterable<string>;
  /** The app when there is exactly one, kept on every change so a request needs no iterator. */
  #onlyApp: AppEntry | undefined;

  constructor(options: ServeRouteTableOptions) {
    this.#domain = normaliseDomain(options.domain ?? 'localhost');
    this.#suffix = `.${this.#domain}`;
    this.#isAdmin = options.isAdmin;
    this.#instanceIds = options.instanceIds;
  }

  /** The domain hosts are read under, as normalised (lower case, no outer dots). */
  get domain(): string {
    return this.#domain;
  }

  /**
   * Adds a version under its app, service and version names, replacing the route there (a new
   * MINOR of the same version). Promoting is separate (promote()), as `deploy --no-promote`
   * adds a version that takes no default traffic.
   */
  set(route: ServiceRoute): void {
    let app = this.#apps.get(route.app);
    if (!app) {
      app = { name: route.app, services: new Map(), dispatch: [] };
      this.#apps.set(route.app, app);
      this.#updateOnlyApp();
    }
    let service = app.services.get(route.service);
    if (!service) {
      service = {
        app: route.app,
        name: route.service,
        versions: new Map(),
        promoted: undefined,
        split: undefined,
      };
      app.services.set(route.service, service);
    }
    service.versions.set(route.version, route);
  }

  /**
   * Removes a version; true when it was there. Removing the promoted version leaves its service
   * without one (its hosts answer 404 saying so) rather than silently picking another: which
   * version takes the traffic is the admin's decision (the admin API refuses to delete a
   * version with traffic anyway). A service without versions, and an app without services, go
   * too, so "exactly one app" stays true to what is deployed.
   */
  remove(app: string, service: string, version: string): boolean {
    const appEntry = this.#apps.get(app);
    const serviceEntry = appEntry?.services.get(service);
    if (!appEntry || !serviceEntry?.versions.delete(version)) return false;
    if (serviceEntry.promoted === version) serviceEntry.promoted = undefined;
    if (serviceEntry.split?.versions.includes(version)) serviceEntry.split = undefined;
    if (serviceEntry.versions.size === 0) appEntry.services.delete(service);
    if (appEntry.services.size === 0) {
      this.#apps.delete(app);
      this.#updateOnlyApp();
    }
    return true;
  }

  /**
   * Makes `version` its service's default: what `SERVICE-dot-APP` (and `APP` for `default`)
   * reach from the next lookup on. Returns the previously promoted version. Throws the same
   * 404s as routing when the app, service or version is not in the table.
   */
  promote(app: string, service: string, version: string): string | undefined {
    const entry = this.#service(this.#app(app), service);
    this.#version(entry, version);
    const previous = entry.promoted;
    entry.promoted = version;
    entry.split = undefined;
    return previous;
  }

  /**
   * Splits the service's default traffic between versions by weight (traffic-split.ts), from the
   * next lookup on; requests in flight keep the version they were given. One version with all
   * the weight is a promote. Throws the routing 404s for a version that is not in the table.
   */
  split(app: string, service: string, allocations: Readonly<Record<string, number>>, by: SplitBy): void {
    const entry = this.#service(this.#app(app), service);
    const table = splitTable(allocations, by);
    for (const version of table.versions) this.#version(entry, version);
    if (table.versions.length === 1) {
      this.promote(app, service, table.versions[0]!);
      return;
    }
    entry.promoted = undefined;
    entry.split = table;
  }

  /**
   * The app's dispatch rules (S11): a request to the app's own host (`APP`, or any host when it
   * is the only app) whose host and path match a rule goes to that rule's service (its
   * promoted version or split); hosts naming a service or version are not moved.
   */
  setDispatch(app: string, rules: readonly DispatchRule[]): void {
    const entry = this.#app(app);
    for (const rule of rules) this.#service(entry, rule.service);
    entry.dispatch = rules;
  }

  /** Every version, by app, service and version in the order they were added. */
  list(): ServeRouteEntry[] {
    const out: ServeRouteEntry[] = [];
    for (const app of this.#apps.values())
      for (const service of app.services.values())
        for (const [version, route] of service.versions)
          out.push({
            app: app.name,
            service: service.name,
            version,
            promoted: service.promoted === version,
            route,
          });
    return out;
  }

  /**
   * The version a request's host names (table above). Never undefined: what cannot be routed
   * throws a HangarError with its status (404 unknown, 403 instance without admin), which the
   * pipeline answers like any rejection.
   */
  route(request: RouteRequest): ServiceRoute {
    const labels = hostLabels(request.host, this.#suffix);
    if (labels === undefined) {
      const only = this.#onlyApp;
      if (only) return this.#appDefault(only, request);
      throw this.#noAppNamed(request.host);
    }
    const count = labels.length;
    if (count > MAX_LABELS)
      throw new HangarError(
        'SERVICE_NOT_FOUND',
        `host '${request.host}' has ${count} names before .${this.#domain}; at most ${MAX_LABELS}: INSTANCE-dot-VERSION-dot-SERVICE-dot-APP`,
      );
    const app = this.#app(labels[count - 1]!);
    switch (count) {
      case 1:
        return this.#appDefault(app, request);
      case 2:
        return this.#serviceOrDefaultVersion(app, labels[0]!, request);
      case 3:
        return this.#version(this.#service(app, labels[1]!), labels[0]!);
      default:
        return this.#instance(request, this.#version(this.#service(app, labels[2]!), labels[1]!), labels[0]!);
    }
  }

  #updateOnlyApp(): void {
    this.#onlyApp = this.#apps.size === 1 ? this.#apps.values().next().value : undefined;
  }

  #app(name: string): AppEntry {
    const app = this.#apps.get(name);
    if (app) return app;
    if (this.#apps.size === 0)
      throw new HangarError('SERVICE_NOT_FOUND', `no app '${name}': no app is deployed (hangar deploy)`);
    throw new HangarError('SERVICE_NOT_FOUND', `no app '${name}'; apps: ${names(this.#apps.keys())}`);
  }

  #service(app: AppEntry, name: string): ServiceEntry {
    const service = app.services.get(name);
    if (service) return service;
    throw new HangarError(
      'SERVICE_NOT_FOUND',
      `no service '${name}' in app '${app.name}'; services: ${names(app.services.keys())}`,
    );
  }

  #version(service: ServiceEntry, name: string): ServiceRoute {
    const route = service.versions.get(name);
    if (route) return route;
    throw new HangarError(
      'SERVICE_NOT_FOUND',
      `no version '${name}' of service '${service.name}' in app '${service.app}'; versions: ${names(service.versions.keys())}`,
    );
  }

  /** The app's own host: the service a dispatch rule names, else the default service. */
  #appDefault(app: AppEntry, request: RouteRequest): ServiceRoute {
    if (app.dispatch.length > 0) {
      const service = dispatchService(app.dispatch, request.host, request.path);
      if (service !== undefined) return this.#promoted(this.#service(app, service), request);
    }
    return this.#promoted(this.#service(app, DEFAULT_SERVICE), request);
  }

  #promoted(service: ServiceEntry, request: RouteRequest): ServiceRoute {
    const split = service.split;
    if (split) {
      request.noteSplit?.(split.label);
      return service.versions.get(versionForBucket(split, bucketOf(split, request)))!;
    }
    const route = service.promoted === undefined ? undefined : service.versions.get(service.promoted);
    if (route) return route;
    throw new HangarError(
      'SERVICE_NOT_FOUND',
      `service '${service.name}' in app '${service.app}' has no promoted version; versions: ${names(service.versions.keys())}`,
    );
  }

  /**
   * `X-dot-APP`: the service X if there is one, else version X of `default`. The service wins
   * because that is App Engine's order, and because it loses nothing: a version of `default`
   * keeps a host of its own (`X-dot-default-dot-APP`), while a service has no other host that
   * reaches its promoted version.
   */
  #serviceOrDefaultVersion(app: AppEntry, name: string, request: RouteRequest): ServiceRoute {
    const service = app.services.get(name);
    if (service) return this.#promoted(service, request);
    const fallback = app.services.get(DEFAULT_SERVICE);
    const route = fallback?.versions.get(name);
    if (route) return route;
    const versions = fallback
      ? `versions of ${DEFAULT_SERVICE}: ${names(fallback.versions.keys())}`
      : `no ${DEFAULT_SERVICE} service`;
    throw new HangarError(
      'SERVICE_NOT_FOUND',
      `no service or version '${name}' in app '${app.name}'; services: ${names(app.services.keys())}; ${versions}`,
    );
  }

  /**
   * The admin check comes after the version is known (versions are addressable by anyone, so
   * their 404s tell nothing secret) and before the instance is looked up, so that without the
   * token nobody can probe which instance ids exist.
   */
  #instance(request: RouteRequest, route: ServiceRoute, id: string): InstanceRoute {
    if (!this.#isAdmin(request))
      throw new HangarError(
        'INSTANCE_FORBIDDEN',
        `addressing an instance ('${request.host}') needs the admin token as \`Authorization: Bearer <token>\``,
      );
    const ids = [...this.#instanceIds(route)];
    if (!ids.includes(id))
      throw new HangarError(
        'SERVICE_NOT_FOUND',
        `no instance '${id}' of version '${route.version}' of service '${route.service}' in app '${route.app}'; instances: ${names(ids)}`,
      );
    return new InstanceRoute(route, id);
  }

  #noAppNamed(host: string): HangarError {
    if (this.#apps.size === 0)
      return new HangarError('SERVICE_NOT_FOUND', 'no app is deployed on this platform (hangar deploy)');
    return new HangarError(
      'SERVICE_NOT_FOUND',
      `host '${host}' names no app, and the platform has ${this.#apps.size} (${names(this.#apps.keys())}): use APP.${this.#domain} or SERVICE-dot-APP.${this.#domain}`,
    );
  }
}
