/**
 * Certificates for the HTTPS listener (S2 `--https-port`, `--tls-cert`, `--tls-key`): read from
 * files, or, for the dev server with `--tls-self-signed`, made once with `openssl` into
 * `<data-dir>/tls/` and reused on later starts.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { promisify } from 'node:util';
import type { TlsFiles } from '../frontend/listener.js';
import { HangarError } from '../shared/errors.js';

const run = promisify(execFile);

/** A certificate and key ready for the HTTPS listener, and the files they came from. */
export interface LoadedCertificate extends TlsFiles {
  cert: Buffer;
  key: Buffer;
  files: string[];
}

/** The HTTPS flags as given on the command line. */
export interface HttpsFlags {
  httpsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean;
}

/** Where the certificate comes from, once the flags are checked. */
export type CertificateSource = { kind: 'files'; cert: string; key: string } | { kind: 'self-signed' };

/**
 * Checks the HTTPS flags fit together: `--https-port` needs either `--tls-cert` and `--tls-key`
 * or `--tls-self-signed`, and those need `--https-port`. Undefined: no HTTPS listener.
 *
 * @example
 * certificateSource({ httpsPort: 8443, tlsSelfSigned: true }) // { kind: 'self-signed' }
 */
export function certificateSource(flags: HttpsFlags): CertificateSource | undefined {
  const files = flags.tlsCert !== undefined || flags.tlsKey !== undefined;
  if (flags.httpsPort === undefined) {
    if (files || flags.tlsSelfSigned) {
      throw new HangarError(
        'USAGE',
        `${files ? '--tls-cert/--tls-key' : '--tls-self-signed'} needs --https-port (e.g. --https-port 8443)`,
      );
    }
    return undefined;
  }
  if (files && flags.tlsSelfSigned) {
    throw new HangarError('USAGE', 'give either --tls-cert and --tls-key, or --tls-self-signed, not both');
  }
  if (files) {
    if (flags.tlsCert === undefined || flags.tlsKey === undefined) {
      throw new HangarError(
        'USAGE',
        `--${flags.tlsCert === undefined ? 'tls-cert' : 'tls-key'} is missing; HTTPS needs both --tls-cert FILE and --tls-key FILE`,
      );
    }
    return { kind: 'files', cert: flags.tlsCert, key: flags.tlsKey };
  }
  if (flags.tlsSelfSigned) return { kind: 'self-signed' };
  throw new HangarError(
    'USAGE',
    '--https-port needs a certificate: pass --tls-cert FILE and --tls-key FILE, or --tls-self-signed (dev server) to make one',
  );
}

/**
 * The certificate and key for `source`, checked to load and to belong together.
 *
 * @example
 * const tls = await loadCertificate({ kind: 'self-signed' }, dataDir);
 */
export async function loadCertificate(
  source: CertificateSource,
  dataDir: string,
): Promise<LoadedCertificate> {
  if (source.kind === 'files') {
    const certFile = resolve(source.cert);
    const keyFile = resolve(source.key);
    const tls = { cert: readOrFail(certFile, '--tls-cert'), key: readOrFail(keyFile, '--tls-key') };
    checkPair(tls, `--tls-cert ${certFile} with --tls-key ${keyFile}`);
    return { ...tls, files: [certFile, keyFile] };
  }
  return selfSigned(join(resolve(dataDir), 'tls'));
}

/**
 * Writes a self-signed certificate for localhost (`*.localhost`, 127.0.0.1, ::1) and its key as
 * PEM files, with the `openssl` command; tests use it for their own TLS peers too.
 */
export async function makeSelfSignedCertificate(
  certFile: string,
  keyFile: string,
  days: number,
): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    String(days),
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,DNS:*.localhost,IP:127.0.0.1,IP:::1',
  ]);
}

/** Reuses `<dir>/self-signed.{crt,key}` while valid for another day, else makes a new pair. */
async function selfSigned(dir: string): Promise<LoadedCertificate> {
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  try {
    const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    const validTo = Date.parse(new X509Certificate(tls.cert).validTo);
    checkPair(tls, 'the saved self-signed certificate');
    if (validTo - Date.now() > 86_400_000) return { ...tls, files: [certFile, keyFile] };
  } catch {
    // none yet, or unusable: make a new one
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  rmSync(keyFile, { force: true });
  try {
    await makeSelfSignedCertificate(certFile, keyFile, 825);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new HangarError(
      'TLS_SETUP',
      e.code === 'ENOENT'
        ? '--tls-self-signed needs the openssl command, which is not installed; install openssl, or pass --tls-cert FILE and --tls-key FILE (e.g. made with mkcert)'
        : `openssl could not make a self-signed certificate: ${(e.stderr ?? e.message).trim()}; pass --tls-cert FILE and --tls-key FILE instead`,
      { cause: err },
    );
  }
  chmodSync(keyFile, 0o600);
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), files: [certFile, keyFile] };
}

function readOrFail(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new HangarError('TLS_SETUP', `cannot read ${flag} ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Fails with a clear message unless the certificate parses and the key matches it. */
function checkPair(tls: TlsFiles, what: string): void {
  try {
    createSecureContext({ cert: tls.cert, key: tls.key });
  } catch (err) {
    throw new HangarError(
      'TLS_SETUP',
      `cannot use ${what}: ${(err as Error).message}; pass a PEM certificate and its matching PEM private key`,
      { cause: err },
    );
  }
}
