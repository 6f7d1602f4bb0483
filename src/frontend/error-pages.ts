/**
 * `error_handlers` (S3): the app's own pages for errors the platform generates. `default`
 * stands in for the platform's 5xx answers, `over_quota` for quota 503s (S10), `timeout` for
 * deadline 500s (S6). Pages are under 10 KB (validated with app.yaml) and read once per config.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig, ErrorHandler } from '../config/types.js';
import { mimeTypeFor } from './mime.js';

export type ErrorPageKind = ErrorHandler['errorCode'];

export interface ErrorPage {
  body: Buffer;
  contentType: string;
}

// Keyed by the config object: a reloaded app.yaml is a new object, so edits are picked up.
const cache = new WeakMap<AppConfig, Map<ErrorPageKind, ErrorPage | null>>();

/**
 * The app's page for `kind`, or undefined when app.yaml has none (or its file cannot be read
 * any more; the caller then answers with its plain text). Content type: the handler's
 * `mime_type`, else by the file's extension.
 *
 * @example
 * const page = errorPage(route.config, 'over_quota');
 * if (page) res.writeHead(503, { 'content-type': page.contentType }).end(page.body);
 */
export function errorPage(config: AppConfig, kind: ErrorPageKind): ErrorPage | undefined {
  if (config.errorHandlers.length === 0) return undefined;
  let pages = cache.get(config);
  if (!pages) {
    pages = new Map();
    cache.set(config, pages);
  }
  let page = pages.get(kind);
  if (page === undefined) {
    page = load(config, kind);
    pages.set(kind, page);
  }
  return page ?? undefined;
}

function load(config: AppConfig, kind: ErrorPageKind): ErrorPage | null {
  const handler = config.errorHandlers.find((h) => h.errorCode === kind);
  if (!handler) return null;
  try {
    return {
      body: readFileSync(join(config.dir, handler.file)),
      contentType: handler.mimeType ?? mimeTypeFor(handler.file),
    };
  } catch {
    return null;
  }
}
