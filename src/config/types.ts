/**
 * The validated, normalised shapes of app.yaml (SPEC S3) and the platform config (S15).
 * Everything downstream of `src/config` reads these, never raw YAML. Durations are in
 * milliseconds, sizes in bytes.
 */

/** `runtime:` of app.yaml (S3): a Node major, or `nodejs` for the newest at hand. */
export type NodeRuntimeName = 'nodejs' | 'nodejs18' | 'nodejs20' | 'nodejs22' | 'nodejs24' | 'nodejs26';
/** A runtime naming one Node major, the keys of the platform config's `runtimes:`. */
export type VersionedRuntimeName = Exclude<NodeRuntimeName, 'nodejs'>;

export type InstanceClass = 'F1' | 'F2' | 'F4' | 'F4_1G' | 'B1' | 'B2' | 'B4' | 'B4_1G' | 'B8';
export type Secure = 'optional' | 'always' | 'never';
export type Login = 'optional' | 'required' | 'admin';
export type AuthFailAction = 'redirect' | 'unauthorized';

interface HandlerBase {
  /** The `url:` as written in app.yaml. */
  url: string;
  /** `url:` compiled as an implicitly anchored full match (static_dir: a prefix match, see `static-dir`). */
  pattern: RegExp;
  secure: Secure;
  redirectHttpResponseCode: 301 | 302 | 303 | 307;
  login: Login;
  authFailAction: AuthFailAction;
}

/** `script: path/main.app`: module `path/main` (extension resolved), export `app` (S4.1). */
export interface ModuleHandler extends HandlerBase {
  kind: 'module';
  script: string;
  /** Module file relative to the app dir, extension resolved, e.g. `path/main.ts`. */
  module: string;
  exportName: string;
}

/** `script:` naming an existing file run under CGI/1.1 (S4.2). */
export interface CgiHandler extends HandlerBase {
  kind: 'cgi';
  script: string;
}

/** `script: auto`: proxied to the `entrypoint` command (S4.3). */
export interface EntrypointHandler extends HandlerBase {
  kind: 'entrypoint';
  script: 'auto';
}

interface StaticBase extends HandlerBase {
  mimeType?: string;
  /** From `expiration`, else `default_expiration`; undefined when neither is set. */
  expirationMs?: number;
  httpHeaders: Record<string, string>;
}

/** `static_dir: dir`: every file under `dir` at `url/<path>`. */
export interface StaticDirHandler extends StaticBase {
  kind: 'static-dir';
  staticDir: string;
}

/** `static_files: path/\1` with `upload: regex`. */
export interface StaticFilesHandler extends StaticBase {
  kind: 'static-files';
  staticFiles: string;
  upload: RegExp;
}

export type Handler = ModuleHandler | CgiHandler | EntrypointHandler | StaticDirHandler | StaticFilesHandler;

export interface AutomaticScaling {
  kind: 'automatic';
  minInstances: number;
  maxInstances: number;
  /** Whether app.yaml set max_instances; the platform caps an unset one (docs/scaling.md). */
  maxInstancesExplicit: boolean;
  minIdleInstances: number;
  maxIdleInstances: number;
  targetThroughputUtilization: number;
  maxConcurrentRequests: number;
  minPendingLatencyMs: number;
  /** Undefined: the platform's `limits.max_pending_latency` applies. Capped at 10 s. */
  maxPendingLatencyMs?: number;
}

export interface BasicScaling {
  kind: 'basic';
  maxInstances: number;
  idleTimeoutMs: number;
}

export interface ManualScaling {
  kind: 'manual';
  instances: number;
}

export type Scaling = AutomaticScaling | BasicScaling | ManualScaling;

export interface ErrorHandler {
  errorCode: 'default' | 'over_quota' | 'timeout';
  /** Path relative to the app dir. */
  file: string;
  mimeType?: string;
}

export interface AppConfig {
  /** Absolute path of the app.yaml this came from. */
  file: string;
  /** Absolute app directory (the folder holding app.yaml). */
  dir: string;
  /** `application:`; undefined when not set (the CLI then derives one). */
  application?: string;
  service: string;
  /** `version:`; undefined when not set. */
  version?: string;
  runtime: NodeRuntimeName;
  threadsafe: boolean;
  /**
   * `entrypoint:` as written: the command each instance runs for `script: auto` handlers (S4.3);
   * undefined: `npm start`, as App Engine starts a Node app (see `entrypointCommand`).
   */
  entrypoint?: string;
  instanceClass: InstanceClass;
  scaling: Scaling;
  envVariables: Record<string, string>;
  handlers: Handler[];
  errorHandlers: ErrorHandler[];
  defaultExpirationMs?: number;
  skipFiles: RegExp[];
  inboundServices: Array<'warmup'>;
  libraries: Array<{ name: string; version: string }>;
}

export interface PlatformConfig {
  limits: {
    requestDeadlineMs: number;
    /** Whether `request_deadline` was set: basic and manual scaling have no deadline unless it is (S6). */
    requestDeadlineExplicit: boolean;
    deadlineGraceMs: number;
    maxRequestBytes: number;
    maxResponseBytes: number;
    maxPendingLatencyMs: number;
    drainTimeoutMs: number;
    maxHeaderBytes: number;
    maxHeaderCount: number;
    /** On shutdown, after the drain: keep-alive connections still open this long are cut. */
    shutdownGraceMs: number;
    /** An instance whose event loop has not answered for this long takes no new requests (S6). */
    unresponsiveAfterMs: number;
    /** Time a client has to send a request's headers (slowloris), and a new connection its first bytes. */
    headerTimeoutMs: number;
    /** Longest pause while a request body is being received: past it, 408 and the connection closes. */
    bodyIdleTimeoutMs: number;
    /** Open client connections per front-end listener; past it new ones are closed at once. */
    maxConnections: number;
    /** Open connections per client address on one listener; past it new ones get 503 and are closed. */
    maxConnectionsPerClient: number;
    /** The front end's budget of buffered request and response bytes; past it, 503 with Retry-After. */
    maxBufferedBytes: number;
  };
  sockets: {
    idleTimeoutMs: number;
    allow: string[];
    blocked: string[];
    strict: boolean;
    maxOpenPerApp: number;
    /** The socket service must report ready within this, or the platform does not start. */
    startTimeoutMs: number;
    /** The socket service, asked to stop, is killed after this. */
    stopTimeoutMs: number;
    /** How long the platform waits for the service's answer to a list or byte-totals request. */
    requestTimeoutMs: number;
    /** A socket service that died is started again after this. */
    restartDelayMs: number;
  };
  urlfetch: {
    defaultDeadlineMs: number;
    maxDeadlineMs: number;
    maxRequestBytes: number;
    maxResponseBytes: number;
  };
  logs: { retentionMs: number; maxBytes: number };
  /** Scheduler timings SPEC leaves open (docs/configuration.md, `scheduler:`). */
  scheduler: {
    /** Automatic scaling: an instance above the idle limits stops after being idle this long. */
    idlePeriodMs: number;
    /** How often an instance reports its memory and liveness. */
    heartbeatIntervalMs: number;
    /** How long an instance may stay unresponsive before it is killed and replaced. */
    heartbeatTimeoutMs: number;
    /** Failed instance starts are retried with exponential back-off up to this. */
    startBackoffMaxMs: number;
    /** An instance must report ready within this, or its start failed. */
    startTimeoutMs: number;
    /** An instance asked to stop (after its drain) is killed after this. */
    stopTimeoutMs: number;
    /**
     * Warm spare instance processes kept started ahead of need (src/scheduler/warm-spares.ts);
     * unset: the mode's default (serve 1, dev 0).
     */
    warmSpares?: number;
  };
  authDomain: string;
  /** Sign-in under `hangar serve` (S11); `hangar dev` has its fake `/_ah/login` page instead. */
  auth: {
    /** The OpenID Connect provider; undefined: none, and `login:` handlers answer 401/503. */
    oidc: { issuer: string; clientId: string; clientSecret?: string } | undefined;
    /** Emails (lower-case) that are admins of every app. */
    admins: string[];
  };
  quotas: { daily: Record<string, number> };
  /**
   * Node executables for `runtime: nodejsNN` (docs/configuration.md, `runtimes:`), absolute
   * paths; a runtime not listed is the platform's own Node or one fetched from the npm registry.
   */
  runtimes: Partial<Record<VersionedRuntimeName, string>>;
}
