/**
 * `GET /api/config`: the platform config in force (S15), for tools that reproduce the platform
 * elsewhere (`hangar export kubernetes` writes it into a ConfigMap). Read-only, and without the
 * one secret the file may hold: `auth.oidc.client_secret` is left out of both the values and
 * the file's text.
 */
import { parseDocument } from 'yaml';
import type { PlatformConfig } from '../config/types.js';

/** The platform config file as the platform read it at start. */
export interface PlatformConfigSource {
  /** Absolute path. */
  path: string;
  text: string;
}

export interface PlatformConfigView {
  /** Every value in force, defaults included (durations in ms, sizes in bytes), without the OIDC client secret. */
  config: PlatformConfig;
  /** The file it came from; null when the platform runs on the defaults. */
  file: string | null;
  /** That file's text, without `auth.oidc.client_secret`; null without a file. */
  yaml: string | null;
}

/**
 * @example
 * platformConfigView(defaultPlatformConfig, undefined) // { config: {...}, file: null, yaml: null }
 */
export function platformConfigView(
  config: PlatformConfig,
  source: PlatformConfigSource | undefined,
): PlatformConfigView {
  const oidc = config.auth.oidc && { issuer: config.auth.oidc.issuer, clientId: config.auth.oidc.clientId };
  return {
    config: { ...config, auth: { ...config.auth, oidc } },
    file: source?.path ?? null,
    yaml: source ? withoutClientSecret(source.text) : null,
  };
}

/** The YAML text with `auth.oidc.client_secret` removed, comments and layout kept. */
export function withoutClientSecret(text: string): string {
  const doc = parseDocument(text);
  if (!doc.hasIn(['auth', 'oidc', 'client_secret'])) return text;
  doc.deleteIn(['auth', 'oidc', 'client_secret']);
  return doc.toString();
}
