import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bearerAuthorized } from '../shared/bearer-token.js';

/** The admin API's bearer token (SPEC S14): generated into `<data-dir>/admin-token` (0600) on first start. */
export function ensureAdminToken(dataDir: string): string {
  const file = join(dataDir, 'admin-token');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch {
    // first start
  }
  const token = randomBytes(24).toString('hex');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/**
 * Constant-time check of an `Authorization: Bearer <token>` header; the same check the front
 * end uses to admit instance-addressed requests and to strip the token before the app sees it.
 */
export function authorized(header: string | undefined, token: string): boolean {
  return bearerAuthorized(header, token);
}
