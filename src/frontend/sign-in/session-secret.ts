import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
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
    if (existing.length >= 32) {
      // Whoever reads it can sign sessions: the platform's user only, even if it was loosened.
      chmodSync(file, 0o600);
      return existing;
    }
  } catch {
    // first start
  }
  const secret = randomBytes(32);
  writeFileSync(file, `${secret.toString('hex')}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // `mode` applies only when the file is created; a short one is replaced
  return secret;
}
