import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runningAdminUrl } from '../platform/data-dir-lock.js';
import { HangarError } from '../shared/errors.js';

/** Flags every CLI verb that talks to the admin API takes (SPEC S2). */
export interface AdminClientOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

/**
 * Resolves the admin server and token. Server: `--server`, else the admin URL the platform
 * running on the data dir wrote into its `platform.lock` (so `hangar dev --admin-port 0` is
 * found), else http://127.0.0.1:8000. Token: `--token`, `HANGAR_TOKEN`, or
 * `<data-dir>/admin-token`. Without `--data-dir`: `hangar dev`'s default data dir `.hangar`,
 * then `hangar serve`'s `hangar-data`.
 */
export function adminTarget(opts: AdminClientOptions): { server: string; token: string } {
  const candidates = (opts.dataDir !== undefined ? [opts.dataDir] : ['.hangar', 'hangar-data']).map((dir) =>
    resolve(dir),
  );
  // The data dir of a platform that is running comes first: its token goes with its URL.
  const live =
    opts.server === undefined ? candidates.find((dir) => runningAdminUrl(dir) !== undefined) : undefined;
  const dirs = live ? [live, ...candidates.filter((dir) => dir !== live)] : candidates;
  const server = (opts.server ?? (live && runningAdminUrl(live)) ?? 'http://127.0.0.1:8000').replace(
    /\/+$/,
    '',
  );
  let token = opts.token ?? process.env.HANGAR_TOKEN;
  if (!token) {
    const files = dirs.map((dir) => join(dir, 'admin-token'));
    for (const file of files) {
      try {
        token = readFileSync(file, 'utf8').trim();
        break;
      } catch {
        // the next place
      }
    }
    if (!token) {
      throw new HangarError(
        'USAGE',
        `no admin token: pass --token, set HANGAR_TOKEN, or point --data-dir at the platform's data dir (looked for ${files.join(' and ')})`,
      );
    }
  }
  return { server, token };
}

/** GET a JSON document from the admin API; errors say what to check. */
export async function adminGetJson<T>(opts: AdminClientOptions, path: string): Promise<T> {
  const { server, token } = adminTarget(opts);
  let res: Response;
  try {
    res = await fetch(server + path, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    throw unreachable(server, err);
  }
  if (res.status === 401) throw refusedToken(server);
  if (!res.ok) throw new HangarError('ADMIN_API', `${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export interface AdminRequestInit {
  /** Raw bytes instead of a JSON body, sent as application/octet-stream with this length. */
  bytes?: { stream: ReadableStream<Uint8Array>; length: number };
  /**
   * No limit on the silence between body chunks. The default (undici's 300 s) would cut a
   * build stream while `npm ci` works without printing.
   */
  patient?: boolean;
}

type Undici = typeof import('undici');
let undici: Promise<Undici> | undefined;
let patientAgent: InstanceType<Undici['Agent']> | undefined;

/**
 * One admin API call: `body` is sent as JSON (or `init.bytes` raw). Resolves to the response
 * when it is 2xx; otherwise throws a HangarError with the API's own message (`{ error }` or
 * `{ error: { message } }`) and the status. Uses undici's fetch, not Node's: streamed request
 * bodies and an agent without the body timeout, neither of which Node 20's fetch takes from
 * the undici in node_modules.
 *
 * @example
 * const res = await adminRequest(opts, 'POST', '/api/versions/promote', { service, version });
 * const doc = await res.json();
 */
export async function adminRequest(
  opts: AdminClientOptions,
  method: string,
  path: string,
  body?: unknown,
  init: AdminRequestInit = {},
): Promise<import('undici').Response> {
  const { server, token } = adminTarget(opts);
  // Loaded on first use: the verbs that only GET never pay for it.
  undici ??= import('undici');
  const { fetch, Agent } = await undici;
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let payload: string | ReadableStream<Uint8Array> | undefined;
  if (init.bytes) {
    headers['content-type'] = 'application/octet-stream';
    headers['content-length'] = String(init.bytes.length);
    payload = init.bytes.stream;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (init.patient) patientAgent ??= new Agent({ bodyTimeout: 0, headersTimeout: 0 });
  let res: import('undici').Response;
  try {
    res = await fetch(server + path, {
      method,
      headers,
      body: payload,
      // Required by fetch for a streamed request body.
      ...(init.bytes ? { duplex: 'half' as const } : {}),
      ...(init.patient ? { dispatcher: patientAgent } : {}),
    });
  } catch (err) {
    throw unreachable(server, err);
  }
  if (res.ok) return res;
  if (res.status === 401) throw refusedToken(server);
  const text = await res.text();
  let message = `${method} ${path} answered ${res.status}: ${text.trim().slice(0, 500)}`;
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    const apiMessage =
      typeof error === 'string' ? error : (error as { message?: unknown } | undefined)?.message;
    if (typeof apiMessage === 'string' && apiMessage !== '') message = apiMessage;
  } catch {
    // Not JSON (a proxy's error page, say): the status line and text above say enough.
  }
  if (res.status === 404 && message.startsWith('no admin endpoint')) {
    message += `; is ${server} a \`hangar serve\` of this version (not \`hangar dev\`), and is --server right?`;
  }
  throw new HangarError('ADMIN_API', message, { status: res.status });
}

/** `adminRequest` and the JSON document it answers with. */
export async function adminJson<T>(
  opts: AdminClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await adminRequest(opts, method, path, body);
  return (await res.json()) as T;
}

function unreachable(server: string, err: unknown): HangarError {
  return new HangarError(
    'ADMIN_API',
    `cannot reach the admin API at ${server} (${(err as Error).cause ?? (err as Error).message}); is hangar running, and is --server right?`,
  );
}

function refusedToken(server: string): HangarError {
  return new HangarError(
    'ADMIN_API',
    `the admin API at ${server} refused the token; check --token, HANGAR_TOKEN or --data-dir`,
  );
}
