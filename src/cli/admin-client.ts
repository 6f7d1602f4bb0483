import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HangarError } from '../shared/errors.js';

/** Flags every CLI verb that talks to the admin API takes (SPEC S2). */
export interface AdminClientOptions {
  server?: string;
  token?: string;
  dataDir?: string;
}

/**
 * Resolves the admin server and token: `--server` (default http://127.0.0.1:8000); token from
 * `--token`, `HANGAR_TOKEN`, or `<data-dir>/admin-token` (default data dir `.hangar`).
 */
export function adminTarget(opts: AdminClientOptions): { server: string; token: string } {
  const server = (opts.server ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
  let token = opts.token ?? process.env.HANGAR_TOKEN;
  if (!token) {
    const file = join(resolve(opts.dataDir ?? '.hangar'), 'admin-token');
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch {
      throw new HangarError(
        'USAGE',
        `no admin token: pass --token, set HANGAR_TOKEN, or point --data-dir at the platform's data dir (looked for ${file})`,
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
    throw new HangarError(
      'ADMIN_API',
      `cannot reach the admin API at ${server} (${(err as Error).cause ?? (err as Error).message}); is hangar running, and is --server right?`,
    );
  }
  if (res.status === 401) {
    throw new HangarError(
      'ADMIN_API',
      `the admin API at ${server} refused the token; check --token, HANGAR_TOKEN or --data-dir`,
    );
  }
  if (!res.ok) throw new HangarError('ADMIN_API', `${path} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}
