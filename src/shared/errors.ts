/**
 * Every failure Hangar reports has a stable `code` (`HANGAR_E_...`). Match on `code`, never on
 * `instanceof`: errors cross process boundaries as plain objects. The table in
 * docs/errors.md says how to fix each one.
 */
export const ErrorCodes = {
  CONFIG_INVALID: { status: 500, summary: 'app.yaml or the platform config is invalid' },
  CONFIG_NOT_FOUND: { status: 500, summary: 'no app.yaml where one was expected' },
  FILE_LIMITS: { status: 500, summary: 'the app exceeds the deploy file limits' },
  MODULE_LOAD_FAILED: { status: 500, summary: 'a handler module threw while it was imported' },
  MODULE_EXPORT_MISSING: { status: 500, summary: 'a handler module lacks the export its script names' },
  MODULE_NOT_FOUND: { status: 500, summary: 'no file for the module a script names' },
  SOCKET_SERVICE_FAILED: { status: 500, summary: 'the socket service process failed to start' },
  INSTANCE_START_FAILED: { status: 500, summary: 'an instance process failed to start' },
  INSTANCE_EXITED: { status: 500, summary: 'the instance serving this request exited unexpectedly' },
  PENDING_TIMEOUT: { status: 503, summary: 'no instance could take the request within max_pending_latency' },
  DEADLINE_EXCEEDED: {
    status: 500,
    summary: 'the handler did not answer within the request deadline and grace period',
  },
  INSTANCE_KILLED: {
    status: 500,
    summary: 'the instance serving this request was killed (blocked event loop)',
  },
  HANDLER_NOT_FOUND: { status: 404, summary: 'no handler in app.yaml matches the path' },
  // Answered by the instance itself (src/instance/error-page.ts); the code leads the error line it logs.
  HANDLER_FAILED: {
    status: 500,
    summary: 'the handler threw, or returned something that is not a Response',
  },
  USAGE: { status: 400, summary: 'the command was called wrongly' },
  ADMIN_API: { status: 502, summary: 'the admin API could not be reached, refused the token, or failed' },
  ADDRESS_IN_USE: { status: 500, summary: 'a port the platform needs is taken' },
  DATA_DIR_IN_USE: { status: 500, summary: 'another running platform holds the data dir' },
  INIT_TARGET_TAKEN: { status: 409, summary: 'hangar init would overwrite files, or cannot write there' },
  EXPORT_TARGET_TAKEN: {
    status: 409,
    summary:
      'hangar export kubernetes was pointed at a folder that holds something other than an earlier export',
  },
  // The front-end pipeline (S5): each rejection names the rule or limit it hit.
  SERVICE_NOT_FOUND: { status: 404, summary: "no service answers for the request's host" },
  INSTANCE_FORBIDDEN: {
    status: 403,
    summary: 'addressing one instance by its hostname needs the admin token as Authorization: Bearer',
  },
  INSTANCE_UNAVAILABLE: {
    status: 503,
    summary:
      'the addressed instance cannot take the request now (busy, starting, draining, unresponsive or gone)',
  },
  REQUEST_MALFORMED: { status: 400, summary: 'the request breaks HTTP/1.1 framing or a front-end rule' },
  REQUEST_HEADERS_TOO_LARGE: {
    status: 431,
    summary: 'more request headers than max_header_count, or more bytes than max_header_bytes',
  },
  METHOD_NOT_ALLOWED: { status: 405, summary: 'TRACE, TRACK and CONNECT are not served' },
  EXPECTATION_FAILED: { status: 417, summary: 'an Expect header other than 100-continue' },
  REQUEST_TOO_LARGE: { status: 413, summary: 'the request body is larger than max_request_bytes' },
  REQUEST_TIMEOUT: { status: 408, summary: 'the client did not send the whole request in time' },
  TOO_MANY_CONNECTIONS: {
    status: 503,
    summary: 'the client (or all clients) already hold as many connections as the front end accepts',
  },
  CLIENT_CLOSED: { status: 499, summary: 'the client closed the connection before the request was complete' },
  PATH_NOT_NORMALISED: {
    status: 302,
    summary: 'the path had . or .. segments; redirected to the normalised path',
  },
  STATIC_NOT_FOUND: { status: 404, summary: 'no servable file under a static handler for the path' },
  STATIC_METHOD_NOT_ALLOWED: { status: 405, summary: 'static handlers serve GET and HEAD only' },
  STATIC_READ_FAILED: { status: 500, summary: 'a static file exists but could not be read' },
  BUFFERS_FULL: {
    status: 503,
    summary: 'the front end holds limits.max_buffered_bytes of request and response bodies already',
  },
  RESPONSE_TOO_LARGE: { status: 500, summary: 'the response body is larger than max_response_bytes' },
  UPSTREAM_INVALID: { status: 502, summary: 'the instance answered with invalid HTTP' },
  OVER_QUOTA: { status: 503, summary: 'the app used up a daily quota' },
  DATABASE: { status: 500, summary: 'the platform database could not be opened, read or migrated' },
  TLS_SETUP: { status: 500, summary: 'the HTTPS certificate or key could not be loaded or made' },
  RUNTIME_UNAVAILABLE: {
    status: 500,
    summary: "the Node that a version's runtime: names is not at hand and could not be fetched",
  },
  // Sign-in (S11 `login:`, docs/sign-in.md).
  LOGIN_REQUIRED: {
    status: 401,
    summary: 'the handler has login: required or admin and nobody is signed in',
  },
  ADMIN_REQUIRED: {
    status: 401,
    summary: 'the handler has login: admin and the signed-in user is not an admin',
  },
  SIGN_IN_UNAVAILABLE: {
    status: 503,
    summary: 'a login: handler was asked for, but the platform has no sign-in provider (auth.oidc)',
  },
  SIGN_IN_FAILED: {
    status: 401,
    summary: 'the sign-in provider refused, or its answer did not verify (state, PKCE, ID token)',
  },
  SIGN_IN_INVALID: { status: 400, summary: 'a sign-in page was asked with a bad email or continue URL' },
  // Deploy (S11, docs/serve.md).
  BUILD_FAILED: { status: 422, summary: "a deployed version's build (npm, gcp-build, TypeScript) failed" },
  NAME_INVALID: { status: 400, summary: 'an app, service or version name breaks the naming rules' },
  VERSION_NOT_FOUND: { status: 404, summary: 'no such app, service or version on the platform' },
  VERSION_SERVING: {
    status: 409,
    summary: 'the version receives traffic; promote another version of its service first',
  },
  BLOB_HASH_INVALID: {
    status: 400,
    summary: 'a deployed file is not named by a SHA-256 hash (64 lowercase hex digits)',
  },
  BLOB_HASH_MISMATCH: {
    status: 400,
    summary: 'uploaded bytes do not hash to their name, or their size differs from the manifest',
  },
  BLOB_NOT_FOUND: { status: 404, summary: 'the platform holds no file with that SHA-256 hash' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** An error meant for a user: printed without a stack, with a message that says how to fix it. */
export class HangarError extends Error {
  readonly code: `HANGAR_E_${ErrorCode}`;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HangarError';
    this.code = `HANGAR_E_${code}`;
    this.status = options?.status ?? ErrorCodes[code].status;
  }
}

/** True for any error carrying a Hangar code, also one that crossed a process boundary. */
export function isHangarError(err: unknown): err is { code: string; message: string; status?: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('HANGAR_E_')
  );
}
