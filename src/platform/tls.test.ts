import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certificateSource, type HttpsFlags, loadCertificate } from './tls.js';

describe('certificateSource (HTTPS flags)', () => {
  it.each<[string, HttpsFlags, unknown]>([
    ['no HTTPS', {}, undefined],
    [
      'files',
      { httpsPort: 8443, tlsCert: 'c.pem', tlsKey: 'k.pem' },
      { kind: 'files', cert: 'c.pem', key: 'k.pem' },
    ],
    ['self-signed', { httpsPort: 0, tlsSelfSigned: true }, { kind: 'self-signed' }],
  ])('%s', (_what, flags, expected) => {
    expect(certificateSource(flags)).toEqual(expected);
  });

  it.each<[string, HttpsFlags, RegExp]>([
    [
      'port without certificate',
      { httpsPort: 8443 },
      /--tls-cert FILE and --tls-key FILE, or --tls-self-signed/,
    ],
    ['cert without key', { httpsPort: 8443, tlsCert: 'c.pem' }, /--tls-key is missing/],
    ['key without cert', { httpsPort: 8443, tlsKey: 'k.pem' }, /--tls-cert is missing/],
    ['both kinds', { httpsPort: 8443, tlsCert: 'c', tlsKey: 'k', tlsSelfSigned: true }, /not both/],
    ['files without port', { tlsCert: 'c', tlsKey: 'k' }, /needs --https-port/],
    ['self-signed without port', { tlsSelfSigned: true }, /--tls-self-signed needs --https-port/],
  ])('%s is a usage error', (_what, flags, message) => {
    expect(() => certificateSource(flags)).toThrow(
      expect.objectContaining({ code: 'HANGAR_E_USAGE', message: expect.stringMatching(message) }),
    );
  });
});

describe('loadCertificate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-tls-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a self-signed certificate once (key 0600) and reuses it', async () => {
    const first = await loadCertificate({ kind: 'self-signed' }, dir);
    expect(first.files).toEqual([join(dir, 'tls', 'self-signed.crt'), join(dir, 'tls', 'self-signed.key')]);
    expect(statSync(first.files[1]!).mode & 0o777).toBe(0o600);
    expect(first.cert.toString()).toContain('BEGIN CERTIFICATE');
    const second = await loadCertificate({ kind: 'self-signed' }, dir);
    expect(second.cert.equals(first.cert)).toBe(true);
  });

  it('reads given files and refuses a key that does not match', async () => {
    const own = await loadCertificate({ kind: 'self-signed' }, dir);
    const loaded = await loadCertificate({ kind: 'files', cert: own.files[0]!, key: own.files[1]! }, dir);
    expect(loaded.key.equals(readFileSync(own.files[1]!))).toBe(true);
    writeFileSync(join(dir, 'not-a-key.pem'), 'nope');
    await expect(
      loadCertificate({ kind: 'files', cert: own.files[0]!, key: join(dir, 'not-a-key.pem') }, dir),
    ).rejects.toMatchObject({
      code: 'HANGAR_E_TLS_SETUP',
      message: expect.stringMatching(/matching PEM private key/),
    });
    await expect(
      loadCertificate({ kind: 'files', cert: join(dir, 'missing.pem'), key: own.files[1]! }, dir),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/cannot read --tls-cert .*missing\.pem/),
    });
  });
});
