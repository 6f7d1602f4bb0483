/**
 * The console's static files on the admin port (docs/console.md): `GET /` (and `/index.html`)
 * is `<dir>/index.html`, `GET /console/assets/<name>` is `<dir>/<name>`, where `<dir>` is
 * `dist/console/` (what `npm run build` bundles: scripts/build-console.mjs). No authentication: the page holds no data; it
 * signs in and fetches the admin API like any client. Every answer forbids framing and any
 * script, style or connection that is not the admin port's own (Content-Security-Policy).
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the console: dist/console/, next to this file's dist/admin/. */
export const DEFAULT_CONSOLE_DIR = new URL('../console/', import.meta.url);

/** The headers of every console file. */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json; charset=utf-8',
  // esbuild's linked legal comments (app.js.LEGAL.txt).
  '.txt': 'text/plain; charset=utf-8',
};

/** An asset's name: one path segment of word characters, dots and dashes (never `..`). */
const ASSET_NAME = /^[\w.-]+$/;

/** A name with esbuild's content hash (`main-ABCD2345.js`, `.js.map`): its bytes never change. */
const HASHED_NAME = /-[A-Z2-7]{8}\.[\w.]+$/;

const ASSETS_PREFIX = '/console/assets/';

/** True when `path` (without the query) is one of the console's files. */
export function isConsoleAssetPath(path: string): boolean {
  return path === '/' || path === '/index.html' || path.startsWith(ASSETS_PREFIX);
}

/**
 * Answers a request for one of the console's files (`isConsoleAssetPath(path)` holds).
 * `dir` holds index.html and the assets, side by side.
 */
export function serveConsoleAsset(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  dir: string | URL = DEFAULT_CONSOLE_DIR,
): void {
  const root = typeof dir === 'string' ? dir : fileURLToPath(dir);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    text(res, req, 405, `${req.method} ${path}: the console's files are read with GET`, {
      allow: 'GET, HEAD',
    });
    return;
  }
  if (path === '/' || path === '/index.html') {
    readFile(join(root, 'index.html')).then(
      (body) => file(res, req, body, '.html', 'no-cache'),
      () =>
        text(
          res,
          req,
          503,
          'The console is not built: run `npm run build` in the Hangar checkout (it bundles the console into dist/console/), then reload.\n',
        ),
    );
    return;
  }
  const name = path.slice(ASSETS_PREFIX.length);
  const type = CONTENT_TYPES[extname(name)];
  if (!ASSET_NAME.test(name) || name.includes('..') || type === undefined) {
    text(res, req, 404, `no console file ${path}\n`);
    return;
  }
  readFile(join(root, name)).then(
    (body) =>
      file(
        res,
        req,
        body,
        extname(name),
        HASHED_NAME.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ),
    () => text(res, req, 404, `no console file ${path}\n`),
  );
}

function file(
  res: ServerResponse,
  req: IncomingMessage,
  body: Buffer,
  ext: string,
  cacheControl: string,
): void {
  res.writeHead(200, {
    ...CONSOLE_SECURITY_HEADERS,
    'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': cacheControl,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function text(
  res: ServerResponse,
  req: IncomingMessage,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...CONSOLE_SECURITY_HEADERS,
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(message),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : message);
}
