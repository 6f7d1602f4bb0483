import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The key of the sign-in cookies' HMAC (S11): 32 random bytes in `<data-dir>/session-secret`
 * (0600), made on first start, so sessions survive a restart and every platform on the data dir
 * signs alike. Deleting the file signs everybody out.
 */
export function ensureSessionSecret(dataDir: string): Buffer {
  const file = join(dataDir, 'session-secret');
  try {
    const existing = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    if (existing.length >= 32) return existing;
  } catch {
    // first start
  }
  const secret = randomBytes(32);
  writeFileSync(file, `${secret.toString('hex')}\n`, { mode: 0o600 });
  return secret;
}
