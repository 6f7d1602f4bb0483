/**
 * SPEC S5 step 3's first half, the routing of S11: which service version answers a request.
 * The pipeline asks a `RouteTable`; `hangar dev` fills one with its services
 * (`DevRouteTable`), `hangar serve` will fill one with deployed versions, traffic splits and
 * dispatch.yaml rules behind the same interface.
 */
import { type DispatchRule, dispatchService } from '../config/dispatch-config.js';
import type { AppConfig } from '../config/types.js';
import type { InstancePool } from '../scheduler/instance.js';

/** One service version as the front end sees it: its config and the pool of its instances. */
export interface ServiceRoute {
  app: string;
  service: string;
  version: string;
  config: AppConfig;
  /** Where a request of this version gets a slot on an instance (scheduler/instance.ts). */
  pool: InstancePool;
  /** Index of a handler among the instance's handlers (module and entrypoint ones), by its position in `handlers:`. */
  handlerIndex: ReadonlyMap<number, number>;
  /** Request deadline from arrival (S6); undefined: none (basic/manual scaling by default). */
  readonly deadlineMs: number | undefined;
  /** Time the handler has after the deadline to return its own response. */
  readonly deadlineGraceMs: number;
  /**
   * Set on the dev server while the service's latest code or app.yaml fails to load and the
   * previous one serves on: the error, which answers then carry (reload-notice.ts).
   */
  readonly reloadFailure?: string | undefined;
}

/**
 * What a route lookup may read of a request, and why each is there (S11):
 *
 * - `host`: the hostnames (`VERSION-dot-SERVICE-dot-APP`, `SERVICE.APP.domain`, a bare IP for
 *   the only app) and the host part of dispatch.yaml's `url: "host/path*"` rules;
 * - `path`: the path part of those rules (the URL's path, without the query);
 * - `cookie`: the Cookie header, for splits `--by cookie` (GOOGAPPUID);
 * - `ip`: the client's address as the socket saw it, for splits `--by ip`;
 * - `authorization`: the Authorization header, for the admin check of instance-addressed hosts
 *   (`INSTANCE-dot-...` needs the admin token; serve-routes.ts).
 *
 * Nothing else: login, handlers and quotas come after routing. The pipeline passes its own
 * per-request object, which has `host` and `path` as fields and the others as getters,
 * so a lookup allocates nothing and a table that never reads the cookie (or the Authorization
 * header) costs nothing for it.
 * Do not keep the object past the call.
 */
export interface RouteRequest {
  /** The Host header as sent (checked by step 2: one, `host[:port]`); any letter case. */
  readonly host: string;
  readonly path: string;
  readonly cookie: string | undefined;
  readonly ip: string;
  /** The Authorization header as sent; optional, so a table's own test requests may leave it out. */
  readonly authorization?: string | undefined;
  /**
   * A cookie split put a client without its cookie into `bucket`: the answer sets the cookie
   * (traffic-split.ts), so the client stays there. Optional for a table's own test requests.
   */
  assignSplitBucket?(bucket: number): void;
  /**
   * A traffic split picked the version (any `--by`): `label` names the split in force
   * (`cookie:v1=0.7,v2=0.3`, traffic-split.ts), for the request log (S9). The label is
   * the table's own string, so noting it allocates nothing. Optional, like the above.
   */
  noteSplit?(label: string): void;
}

/**
 * Where the front end looks a request's service version up (S5 step 3, S11).
 *
 * `route()` runs on every request, synchronously: a table keeps what it needs in memory and
 * is updated beside the traffic (deploy, promote, split, reload), never awaited per request.
 * Undefined means no service answers (404 SERVICE_NOT_FOUND naming the host); a table that
 * can say more (an unknown version, a busy instance that was addressed) throws a HangarError,
 * which the pipeline answers with its status and message like any rejection.
 *
 * @example
 * const route = table.route({ host: 'api.localhost:8080', path: '/', cookie: undefined, ip: '127.0.0.1' });
 */
export interface RouteTable {
  route(request: RouteRequest): ServiceRoute | undefined;
}

/**
 * The first label of a Host header, lower-cased, and of that the part before `-dot-`: the
 * name `hangar dev` routes by. `api.localhost:8080` → `api`, `api-dot-app.example` → `api`,
 * `[::1]:8080` → `[` (no service can be called that, so it goes to `default`).
 *
 * @example
 * serviceLabel('API.localhost:8080') // 'api'
 */
export function serviceLabel(host: string): string {
  let end = host.length;
  const colon = host.indexOf(':');
  if (colon !== -1) end = colon;
  const dot = host.indexOf('.');
  if (dot !== -1 && dot < end) end = dot;
  // Host names are not case-sensitive (`API-DOT-...` too); service names are lower case.
  const label = host.slice(0, end).toLowerCase();
  const dash = label.indexOf('-dot-');
  return dash === -1 ? label : label.slice(0, dash);
}

/**
 * `hangar dev`'s table: every service of the app, each with its one version.
 * `<service>.localhost` and `<service>-dot-...` pick a service by the host's first label
 * (serviceLabel()); any other host, an IP address included, goes to `default`, as
 * dev_appserver does. A service's route is replaced by setting it again (reload).
 *
 * @example
 * const routes = new DevRouteTable();
 * routes.set(runtime); // a ServiceRoute, e.g. a ServiceRuntime
 * routes.route({ host: 'api.localhost:8080', path: '/', cookie: undefined, ip: '::1' }); // api's, else default's
 */
export class DevRouteTable implements RouteTable {
  readonly #services = new Map<string, ServiceRoute>();
  #dispatch: readonly DispatchRule[] = [];

  /**
   * dispatch.yaml's rules (S11), for requests whose host names no service: the first rule
   * matching host and path picks the service. A host that names a service goes there.
   */
  setDispatch(rules: readonly DispatchRule[]): void {
    this.#dispatch = rules;
  }

  /** Adds `route` under its service name, replacing the one there. */
  set(route: ServiceRoute): void {
    this.#services.set(route.service, route);
  }

  /** Removes a service; true when it was there. */
  delete(service: string): boolean {
    return this.#services.delete(service);
  }

  route(request: RouteRequest): ServiceRoute | undefined {
    const named = this.#services.get(serviceLabel(request.host));
    if (named) return named;
    if (this.#dispatch.length > 0) {
      const service = dispatchService(this.#dispatch, request.host, request.path);
      if (service !== undefined) return this.#services.get(service);
    }
    return this.#services.get('default');
  }
}
