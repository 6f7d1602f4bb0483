/**
 * The one builder of the error answers an instance gives itself, for both of its servers (the
 * request channel, channel-server.ts, and the HTTP server for Node handlers, server.ts). The
 * front end has its own (src/frontend/error-response.ts). Codes come from the shared registry
 * (src/shared/errors.ts: plain TS, no zod, cheap to load in every instance).
 */
import { format } from 'node:util';
import { ErrorCodes, isHangarError } from '../shared/errors.js';
import { trimStack } from '../shared/stack-trim.js';

/** The body text of a request whose handler failed; the cause goes to the request's log, not to the client. */
export const failedRequestMessage = 'The server encountered an error and could not complete your request.';

/** An error answer, ready to write: `headers` hold `content-type` and `content-length`. */
export interface InstanceErrorPage {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

const entities: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Escapes `& < > " '` so that text can stand in HTML content or a quoted attribute.
 *
 * @example
 * escapeHtml('<b> & "x"') // '&lt;b&gt; &amp; &quot;x&quot;'
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

/**
 * The HTML page of an error the instance answers itself; `message` is escaped (it may quote a
 * request's path or an app's words).
 *
 * @example
 * const page = errorPage(500, failedRequestMessage);
 * res.writeHead(page.status, page.headers).end(page.body);
 */
export function errorPage(status: number, message: string): InstanceErrorPage {
  const heading = status === 500 ? 'Server Error' : String(status);
  const body = Buffer.from(
    `<!DOCTYPE html><title>${status}</title><h1>Error: ${heading}</h1><p>${escapeHtml(message)}</p>\n`,
  );
  return {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', 'content-length': String(body.length) },
    body,
  };
}

/**
 * Whether failure pages carry the error, and with which frames: only on the dev server (like
 * dev_appserver's traceback page); under `serve` a client never sees an app's error. One
 * setting per instance process, made once at its start (main.ts) from its init.
 */
let detail: 'none' | 'trimmed' | 'full' = 'none';

export function showErrorDetail(mode: 'none' | 'trimmed' | 'full'): void {
  detail = mode;
}

/**
 * The answer to a request whose handler threw or returned no Response: a 500 with a generic
 * text; on the dev server with the error under it (`cause`: the thrown value, or a sentence).
 */
export function failurePage(cause?: unknown): InstanceErrorPage {
  const status = ErrorCodes.HANDLER_FAILED.status;
  if (detail === 'none' || cause === undefined) return errorPage(status, failedRequestMessage);
  const text =
    typeof cause === 'string'
      ? cause
      : `${failureCode(cause)}: ${cause instanceof Error ? (cause.stack ?? cause.message) : format(cause)}`;
  const shown = detail === 'full' ? text : trimStack(text, 'hangar dev --full-traces shows them');
  const body = Buffer.from(
    `<!DOCTYPE html><title>${status}</title><h1>Error: Server Error</h1><p>${escapeHtml(failedRequestMessage)}</p>` +
      `<pre style="white-space:pre-wrap">${escapeHtml(shown)}</pre>` +
      '<p><small>Shown by <code>hangar dev</code> only: <code>hangar serve</code> answers with the text above and keeps the error in the request log.</small></p>\n',
  );
  return {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8', 'content-length': String(body.length) },
    body,
  };
}

/**
 * The registry code a failed request is logged under: the thrown error's own Hangar code (a
 * `DeadlineExceededError` from `sleep()` is `HANGAR_E_DEADLINE_EXCEEDED`), else
 * `HANGAR_E_HANDLER_FAILED`.
 *
 * @example
 * failureCode(new TypeError('x is undefined')) // 'HANGAR_E_HANDLER_FAILED'
 */
export function failureCode(err: unknown): string {
  return isHangarError(err) ? err.code : 'HANGAR_E_HANDLER_FAILED';
}
