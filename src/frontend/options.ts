/**
 * What a front end is built with. Its own module so that the steps (steps.ts) and the
 * listener that runs them (frontend.ts) both read it without importing each other.
 */
import type { ServerResponse } from 'node:http';
import type { PlatformConfig } from '../config/types.js';
import type { TrafficMeter } from '../metering/types.js';
import type { RequestRecord } from '../shared/request-record.js';
import type { BodySpool } from './body-spool.js';
import type { BufferBudget } from './buffer-budget.js';
import type { RouteTable } from './route.js';
import type { ListenPorts } from './secure-redirect.js';
import type { SignIn } from './sign-in/sign-in.js';

/** Where a load balancer asks a node whether to send it requests (docs/scale-out.md). */
export const HEALTH_PATH = '/_ah/hangar/health';

/** A node's answer at HEALTH_PATH: 200 when it takes requests, 503 when it should get none. */
export interface NodeHealth {
  status: 200 | 503;
  body: Record<string, unknown>;
}

export interface FrontendOptions {
  /** Host (and path, cookie, client address) → service version (S11); see route.ts. */
  routes: RouteTable;
  /** Step 8: the finished request, for the request log and the dev terminal. */
  onRequest?(record: RequestRecord): void;
  /**
   * Where a request's log record is put before its answer's last bytes go out, so that a crash
   * of the platform cannot lose the record of a request whose client got an answer (the
   * platform's request journal, logs/request-journal.ts). None: responses end at once.
   */
  journal?: ResponseJournal;
  /**
   * The budget of body bytes held for clients, shared by the platform's HTTP and HTTPS
   * listeners; default: one of `limits.max_buffered_bytes` for this listener alone.
   */
  bufferBudget?: BufferBudget;
  /**
   * Where request bodies past its threshold are buffered (body-spool.ts): a file the instance
   * reads, not the platform's heap. None: every body is buffered in memory.
   */
  bodySpool?: BodySpool;
  /**
   * The node's health for a load balancer (docs/scale-out.md), answered at HEALTH_PATH on any
   * host before the pipeline: not logged, not metered, no app sees it. Undefined: no such path.
   */
  health?: () => NodeHealth;
  /** Show the cause of 5xx errors in the response body (the dev server does, like dev_appserver). */
  exposeErrors: boolean;
  /** This listener serves HTTPS. */
  https?: boolean;
  /** The S15 limits (sizes in bytes). */
  limits: PlatformConfig['limits'];
  /** `Server` header of every response: the platform's SERVER_SOFTWARE. */
  serverSoftware: string;
  meter?: TrafficMeter;
  /**
   * The platform's admin token (`hangar serve`; SPEC S14). A request whose Authorization is
   * `Bearer <adminToken>` (it may address one instance, S11) has that header removed before
   * its instance gets it (S5 step 5): the app never sees the platform's credential. Unset
   * (`hangar dev`): Authorization headers pass on as they came.
   */
  adminToken?: string | undefined;
  /**
   * Sign-in (S11 `login:`): dev's fake page, OpenID Connect, or none (sign-in/). Unset: `login:`
   * handlers answer 503 and `/_ah/login` is the app's like any path.
   */
  signIn?: SignIn;
  /** The platform's HTTP and HTTPS ports, for `secure:` redirects. */
  ports?(): ListenPorts;
  /** Platform warnings (e.g. `secure: always` with no HTTPS listener), each printed once. */
  warn?(message: string): void;
}

/** What the front end needs of the request journal (logs/request-journal.ts implements it). */
export interface ResponseJournal {
  /**
   * Ends `res` with `body` once `record` is in the journal: later in this turn, in one write with
   * the turn's other records. Call after `res.writeHead()`, with the record's status set.
   */
  end(record: RequestRecord, res: ServerResponse, body?: Uint8Array): void;
  /** Puts `record` in the journal now, for a caller that writes the last bytes itself (static files). */
  write(record: RequestRecord): void;
}
