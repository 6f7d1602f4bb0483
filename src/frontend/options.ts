/**
 * What a front end is built with. Its own module so that the steps (steps.ts) and the
 * listener that runs them (frontend.ts) both read it without importing each other.
 */
import type { PlatformConfig } from '../config/types.js';
import type { TrafficMeter } from '../metering/types.js';
import type { RequestRecord } from '../shared/request-record.js';
import type { RouteTable } from './route.js';
import type { ListenPorts } from './secure-redirect.js';

export interface FrontendOptions {
  /** Host (and path, cookie, client address) → service version (S11); see route.ts. */
  routes: RouteTable;
  /** Step 8: the finished request, for the request log and the dev terminal. */
  onRequest?(record: RequestRecord): void;
  /** Show the cause of 5xx errors in the response body (the dev server does, like dev_appserver). */
  exposeErrors: boolean;
  /** This listener serves HTTPS. */
  https?: boolean;
  /** The S15 limits (sizes in bytes). */
  limits: PlatformConfig['limits'];
  /** `Server` header of every response: the platform's SERVER_SOFTWARE. */
  serverSoftware: string;
  meter?: TrafficMeter;
  /** The platform's HTTP and HTTPS ports, for `secure:` redirects. */
  ports?(): ListenPorts;
  /** Platform warnings (e.g. `secure: always` with no HTTPS listener), each printed once. */
  warn?(message: string): void;
}
