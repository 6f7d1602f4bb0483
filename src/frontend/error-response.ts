/**
 * The answer the front end gives for an error of its own (a rejection in step 2, a failure in
 * steps 3-6): status from the error's code, body from the app's `error_handlers` page where
 * one applies, else a short text. The front end's one error builder; it makes no HTML of its
 * own (text/plain with nosniff), so a message quoting the request cannot become markup. The
 * instance's builder is src/instance/error-page.ts.
 */
import { STATUS_CODES } from 'node:http';
import type { AppConfig } from '../config/types.js';
import { isHangarError } from '../shared/errors.js';
import { errorPage } from './error-pages.js';

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** For the request log: `HANGAR_E_...: first line of the message`. */
  logLine: string;
}

export interface ErrorAnswerOptions {
  /** Show 5xx causes in the body (the dev server does, like dev_appserver's traceback page). */
  expose: boolean;
  /** The routed service's config, for its error pages; undefined before routing. */
  config?: AppConfig;
  /** Extra headers, e.g. `Location`, `Allow`, `Connection: close`. */
  headers?: Record<string, string>;
}

/** 5xx errors whose message is for the client even under serve: it says what to configure, no secret. */
const publicServerErrors = new Set(['HANGAR_E_SIGN_IN_UNAVAILABLE']);

const genericServerError = 'The server encountered an error and could not complete your request.';
/** Seconds a client is told to wait after a 503 from a full pending queue (S6). */
const pendingRetryAfterSeconds = 1;

/**
 * Builds the response for `err` (any thrown value; non-Hangar errors are 500s).
 * - RESPONSE_TOO_LARGE: an empty 500, as App Engine sends.
 * - OVER_QUOTA: the app's `over_quota` page, else text.
 * - DEADLINE_EXCEEDED: the app's `timeout` page, else text (S6).
 * - PENDING_TIMEOUT: `Retry-After`, so clients back off instead of hammering a full queue.
 * - other 5xx after routing: the app's `default` page, else text (the cause only when `expose`).
 * - 4xx: text naming the rule the request broke (never a secret: it is about the request).
 *
 * @example
 * const answer = errorAnswer(new HangarError('REQUEST_TOO_LARGE', '...'), { expose: true });
 * res.writeHead(answer.status, answer.headers).end(answer.body);
 */
export function errorAnswer(err: unknown, options: ErrorAnswerOptions): ErrorAnswer {
  const hangar = isHangarError(err) ? err : undefined;
  const status = hangar && typeof hangar.status === 'number' ? hangar.status : 500;
  const message = hangar ? hangar.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  const logLine = `${hangar ? `${hangar.code}: ` : ''}${message.split('\n')[0]}`;
  const headers: Record<string, string> = { ...options.headers };
  if (hangar?.code === 'HANGAR_E_PENDING_TIMEOUT' || hangar?.code === 'HANGAR_E_BUFFERS_FULL')
    headers['retry-after'] = String(pendingRetryAfterSeconds);

  if (hangar?.code === 'HANGAR_E_RESPONSE_TOO_LARGE') {
    return { status, headers: { ...headers, 'content-length': '0' }, body: Buffer.alloc(0), logLine };
  }
  // A public 5xx says what the operator must do: the app's own `default` page would hide it.
  const pageKind = publicServerErrors.has(hangar?.code ?? '')
    ? undefined
    : hangar?.code === 'HANGAR_E_OVER_QUOTA'
      ? 'over_quota'
      : hangar?.code === 'HANGAR_E_DEADLINE_EXCEEDED'
        ? 'timeout'
        : status >= 500
          ? 'default'
          : undefined;
  // A deadline without a `timeout` page gets the `default` page, as any other platform 5xx would.
  const page =
    pageKind && options.config
      ? (errorPage(options.config, pageKind) ??
        (pageKind === 'timeout' ? errorPage(options.config, 'default') : undefined))
      : undefined;
  if (page) {
    return {
      status,
      headers: { ...headers, 'content-type': page.contentType, 'content-length': String(page.body.length) },
      body: page.body,
      logLine,
    };
  }
  const text =
    status >= 500 && !options.expose && !publicServerErrors.has(hangar?.code ?? '')
      ? genericServerError
      : message;
  const body = Buffer.from(`${status} ${STATUS_CODES[status] ?? 'Error'}: ${text}\n`);
  return {
    status,
    headers: {
      ...headers,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(body.length),
      'x-content-type-options': 'nosniff',
    },
    body,
    logLine,
  };
}
