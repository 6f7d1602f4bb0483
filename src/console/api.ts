/**
 * The console's one way to the admin API: same-origin requests with the session cookie, JSON
 * in and out, the `X-Hangar-CSRF` header on every write (docs/console.md), and the API's own
 * error text in the thrown error. A 401 means the session is gone (signed out elsewhere, the
 * token changed, 12 hours passed): the app is told, and shows the sign-in form again.
 */
import type { SessionInfo } from './types.js';

/** An answer other than 2xx, or no answer at all (`status` 0). `message` is the API's `error` text. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

let csrf: string | undefined;
let unauthorized: () => void = () => {};

/** The CSRF value of the session (from `GET /console/session`); undefined when signed out. */
export function setCsrf(value: string | undefined): void {
  csrf = value;
}

/** Called when an API call answers 401. */
export function onUnauthorized(listener: () => void): void {
  unauthorized = listener;
}

/** The error text of a failed answer: the JSON `error` when there is one, else the status. */
async function errorText(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // Not JSON: the text itself, if any.
  }
  return text.trim() || `${res.status} ${res.statusText}`;
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['x-hangar-csrf'] = csrf;
  try {
    return await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new ApiError(0, `the platform did not answer (${(err as Error).message}); is it still running?`);
  }
}

async function parse<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (text.trim() === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(res.status, `the platform answered something that is not JSON: ${text.slice(0, 200)}`);
  }
}

/**
 * One admin API call; resolves to the parsed JSON (undefined for an empty answer).
 *
 * @example
 * const { instances } = await api<InstancesDoc>('GET', '/api/instances');
 * await api('POST', `/api/instances/${encodeURIComponent(id)}/stop`);
 */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(method, path, body);
  if (!res.ok) {
    const message = await errorText(res);
    if (res.status === 401) unauthorized();
    throw new ApiError(res.status, message);
  }
  return parse<T>(res);
}

/** `GET /console/session`: signed in or not, the CSRF value and the mode (never 401). */
export async function getSession(): Promise<SessionInfo> {
  const res = await send('GET', '/console/session');
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  return parse<SessionInfo>(res);
}

/** `POST /console/session {token}`; a wrong token throws with the platform's message (not an unauthorized() call). */
export async function signIn(token: string): Promise<void> {
  const res = await send('POST', '/console/session', { token });
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
}

/** `DELETE /console/session`. */
export async function signOut(): Promise<void> {
  const res = await send('DELETE', '/console/session');
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  csrf = undefined;
}

/** A query string of the non-empty values, `?a=1&b=2` (or '' when there are none). */
export function queryString(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
