import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureSessionSecret } from './session-secret.js';

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-session-secret-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('ensureSessionSecret', () => {
  it('makes a 0600 file holding at least 32 bytes on first start', () => {
    const dir = dataDir();
    const secret = ensureSessionSecret(dir);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const file = join(dir, 'session-secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex').equals(secret)).toBe(true);
    // Random, not a constant.
    expect(secret.equals(Buffer.alloc(secret.length))).toBe(false);
  });

  it('gives the same secret on later starts, and another data dir its own', () => {
    const dir = dataDir();
    const first = ensureSessionSecret(dir);
    const second = ensureSessionSecret(dir);
    expect(second.equals(first)).toBe(true);
    expect(ensureSessionSecret(dataDir()).equals(first)).toBe(false);
  });

  it('replaces a secret too short to sign with', () => {
    const dir = dataDir();
    const file = join(dir, 'session-secret');
    writeFileSync(file, `${'ab'.repeat(16)}\n`, { mode: 0o600 });
    const secret = ensureSessionSecret(dir);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'hex').equals(secret)).toBe(true);
  });
});

describe('ensureSessionSecret on a loosened file', () => {
  it('makes an existing secret 0600 again, and a replaced short one too', () => {
    const dir = dataDir();
    const file = join(dir, 'session-secret');
    const secret = ensureSessionSecret(dir);
    chmodSync(file, 0o644);
    expect(ensureSessionSecret(dir).equals(secret)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(file, 'abcd\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    ensureSessionSecret(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
