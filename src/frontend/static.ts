/**
 * Static handlers (SPEC S5 step 4): `static_dir` and `static_files` are served by the front
 * end itself, with no instance and no deadline, the way App Engine serves them. The request
 * goes through named steps: method → map the URL to a file → confine it to the app →
 * headers → conditional request → body. docs/static-files.md explains the decisions.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, realpath } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { StaticDirHandler, StaticFilesHandler } from '../config/types.js';
import { HangarError } from '../shared/errors.js';
import { mimeTypeFor } from './mime.js';

/** App Engine's production default when neither `expiration` nor `default_expiration` is set. */
export const DEFAULT_STATIC_EXPIRATION_MS = 10 * 60 * 1000;

/** What happened, for the request log and the traffic meter. */
export interface StaticResult {
  status: number;
  /** Body bytes handed to the socket (0 for HEAD, 304 and errors without a body). */
  bytesOut: number;
  /** Real path of the file served (200/304); never sent to the client. */
  file?: string;
  /**
   * Set when nothing was written: why the request is refused (STATIC_NOT_FOUND,
   * STATIC_METHOD_NOT_ALLOWED, STATIC_READ_FAILED). The caller answers it with the front end's
   * error builder (error-response.ts), like every other refusal.
   */
  refusal?: HangarError;
  /** Set when a read failed after the head went out (the connection was cut); for the log only. */
  error?: Error;
}

export interface ServeStaticOptions {
  handler: StaticDirHandler | StaticFilesHandler;
  /** `handler.pattern.exec(pathname)` on the raw (still percent-encoded) URL path. */
  match: RegExpExecArray;
  /** Absolute app directory (`AppConfig.dir`). */
  appDir: string;
  req: IncomingMessage;
  res: ServerResponse;
  /** Called with the status once the head is written, before the last bytes go out (the request journal). */
  beforeBody?(status: number): void;
}

/** The file a URL names, before symlinks are resolved, and the directory it must stay in. */
interface Target {
  file: string;
  root: string;
}

// Everything that means "there is nothing servable here". EACCES/EPERM are included so an
// unreadable file looks the same as a missing one and the response reveals nothing about
// the file system.
const NOT_FOUND_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENAMETOOLONG', 'EACCES', 'EPERM']);

// These describe the framing of the body the front end writes; letting `http_headers`
// override them would corrupt the response.
const PROTECTED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection']);

// RFC 9110 15.4.5: the headers a 304 repeats from the 200 it stands for.
const NOT_MODIFIED_HEADERS = [
  'cache-control',
  'content-location',
  'etag',
  'expires',
  'last-modified',
  'vary',
];

/**
 * Serves one request for a static handler: GET and HEAD only, 404 for anything that is not a
 * regular file inside the app (and, for `static_dir`, inside that dir) after symlinks are
 * resolved, ETag/Last-Modified validators with 304s, Cache-Control/Expires from `expiration`
 * (10 minutes by default), then the handler's `http_headers` on top. Never rejects.
 *
 * @example
 * const match = handler.pattern.exec(pathname);
 * if (match) result = await serveStatic({ handler, match, appDir: app.dir, req, res });
 */
export async function serveStatic(opts: ServeStaticOptions): Promise<StaticResult> {
  const { handler, match, appDir, req, res } = opts;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return refuse(
      new HangarError(
        'STATIC_METHOD_NOT_ALLOWED',
        `${req.method} is not served for static files; use GET or HEAD`,
      ),
    );
  }
  const target =
    handler.kind === 'static-dir'
      ? staticDirTarget(handler, match, appDir)
      : staticFilesTarget(handler, match, appDir);
  let opened: Opened | undefined;
  try {
    if (target !== undefined) opened = await openConfined(target, appDir);
  } catch (err) {
    return refuse(readFailed(err));
  }
  if (target === undefined || opened === undefined) {
    return refuse(new HangarError('STATIC_NOT_FOUND', `No file for ${urlPath(req)}.`));
  }
  return sendFile(opened, handler, req, res, target.file, opts.beforeBody);
}

/** static_dir: `<appDir>/<static_dir>/<decoded path group>` (the `url` may have groups of its own). */
function staticDirTarget(
  handler: StaticDirHandler,
  match: RegExpExecArray,
  appDir: string,
): Target | undefined {
  const segments = decodeSegments(match.groups?.path ?? match[1] ?? '');
  if (segments === undefined) return undefined;
  const root = path.resolve(appDir, handler.staticDir);
  // Empty segments (`a//b`) are dropped, as a file system would.
  const file = path.resolve(root, ...segments.filter((s) => s !== ''));
  return isInside(path.resolve(appDir), root) && isInside(root, file) ? { file, root } : undefined;
}

/** static_files: the template with `\1`..`\9` filled in, which must also match `upload`. */
function staticFilesTarget(
  handler: StaticFilesHandler,
  match: RegExpExecArray,
  appDir: string,
): Target | undefined {
  const groups: string[] = [];
  for (let i = 1; i <= 9; i++) {
    const segments = decodeSegments(match[i] ?? '');
    if (segments === undefined) return undefined;
    groups.push(segments.join('/'));
  }
  const filled = handler.staticFiles.replace(/\\([1-9])/g, (_, d: string) => groups[Number(d) - 1] ?? '');
  // Normalised so `./static/\1` still matches `upload: static/.*`; the groups carry no dot
  // segments, so this only tidies what app.yaml itself wrote.
  const rel = path.posix.normalize(filled);
  if (!fullMatch(handler.upload, rel)) return undefined;
  const root = path.resolve(appDir);
  const file = path.resolve(root, rel);
  return isInside(root, file) ? { file, root } : undefined;
}

/**
 * Percent-decodes each `/`-separated segment. Undefined (→ 404) for malformed escapes and
 * for segments that could change which file is meant once decoded: `.`, `..`, or ones
 * holding `/`, `\` or NUL (`%2e%2e`, `%2f`, `%5c`, `%00`).
 */
function decodeSegments(raw: string): string[] | undefined {
  const out: string[] = [];
  for (const part of raw.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(part);
    } catch {
      return undefined;
    }
    if (segment === '.' || segment === '..' || /[/\\\0]/.test(segment)) return undefined;
    out.push(segment);
  }
  return out;
}

const anchoredUploads = new WeakMap<RegExp, RegExp>();

/** `upload` is a full match in App Engine, whether or not the config anchored it. */
function fullMatch(upload: RegExp, value: string): boolean {
  let anchored = anchoredUploads.get(upload);
  if (anchored === undefined) {
    anchored = new RegExp(`^(?:${upload.source})$`, upload.flags.replace(/[gy]/g, ''));
    anchoredUploads.set(upload, anchored);
  }
  return anchored.test(value);
}

function isInside(parent: string, child: string): boolean {
  const prefix = parent.endsWith(path.sep) ? parent : parent + path.sep;
  return child === parent || child.startsWith(prefix);
}

interface Opened {
  handle: FileHandle;
  size: number;
  mtimeMs: number;
  realFile: string;
}

/**
 * Confines the target after symlinks are resolved (a link inside the app may point
 * anywhere), then opens it. O_NONBLOCK keeps a FIFO planted in the app from hanging the open;
 * fstat on the open handle means the headers describe the very file that is streamed.
 */
async function openConfined(target: Target, appDir: string): Promise<Opened | undefined> {
  let handle: FileHandle | undefined;
  try {
    const [realApp, realRoot, realFile] = await Promise.all([
      realpath(appDir),
      realpath(target.root),
      realpath(target.file),
    ]);
    if (!isInside(realApp, realRoot) || !isInside(realRoot, realFile)) return undefined;
    handle = await open(realFile, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      return undefined;
    }
    return { handle, size: stat.size, mtimeMs: stat.mtimeMs, realFile };
  } catch (err) {
    await handle?.close().catch(() => {});
    if (NOT_FOUND_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

/** Response headers for a file, lower-case names, `http_headers` applied last so they win. */
function fileHeaders(opened: Opened, handler: StaticDirHandler | StaticFilesHandler, name: string) {
  const maxAgeMs = handler.expirationMs ?? DEFAULT_STATIC_EXPIRATION_MS;
  const headers: Record<string, string> = {
    // By the name in the URL's file, not the symlink target's, as other web servers do.
    'content-type': handler.mimeType ?? mimeTypeFor(name),
    'content-length': String(opened.size),
    // toUTCString() drops the milliseconds: HTTP dates have one-second resolution.
    'last-modified': new Date(opened.mtimeMs).toUTCString(),
    // Strong ETag from mtime and size, no hashing: costs nothing per request and changes on
    // every rewrite that moves the mtime (nginx does the same).
    etag: `"${Math.floor(opened.mtimeMs).toString(16)}-${opened.size.toString(16)}"`,
    'cache-control': `public, max-age=${Math.floor(maxAgeMs / 1000)}`,
    expires: new Date(Date.now() + maxAgeMs).toUTCString(),
  };
  for (const [key, value] of Object.entries(handler.httpHeaders)) {
    const lower = key.toLowerCase();
    if (!PROTECTED_HEADERS.has(lower)) headers[lower] = value;
  }
  return headers;
}

/** RFC 9110 13.1.2/13.1.3: If-None-Match (weak comparison) wins over If-Modified-Since. */
function isNotModified(req: IncomingMessage, headers: Record<string, string>): boolean {
  const noneMatch = req.headers['if-none-match'];
  if (noneMatch !== undefined) {
    if (noneMatch.trim() === '*') return true;
    const etag = headers['etag'];
    if (etag === undefined) return false;
    const opaque = etag.replace(/^W\//, '');
    return (noneMatch.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => tag.replace(/^W\//, '') === opaque);
  }
  const since = Date.parse(req.headers['if-modified-since'] ?? '');
  const modified = Date.parse(headers['last-modified'] ?? '');
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}

async function sendFile(
  opened: Opened,
  handler: StaticDirHandler | StaticFilesHandler,
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
  beforeBody?: (status: number) => void,
): Promise<StaticResult> {
  const { handle, realFile: file } = opened;
  let streaming = false;
  let bytesOut = 0;
  try {
    const headers = fileHeaders(opened, handler, name);
    if (isNotModified(req, headers)) {
      const kept = NOT_MODIFIED_HEADERS.filter((h) => headers[h] !== undefined).map((h) => [h, headers[h]!]);
      res.writeHead(304, Object.fromEntries(kept));
      beforeBody?.(304);
      res.end();
      return { status: 304, bytesOut: 0, file };
    }
    res.writeHead(200, headers);
    beforeBody?.(200);
    if (req.method === 'HEAD' || opened.size === 0) {
      res.end();
      return { status: 200, bytesOut: 0, file };
    }
    // `end` caps the body at the Content-Length already sent, should the file grow meanwhile.
    const body = handle.createReadStream({ start: 0, end: opened.size - 1 });
    streaming = true; // the stream now owns the handle and closes it however it ends
    await pipeline(
      body,
      async function* count(source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          bytesOut += chunk.length;
          yield chunk;
        }
      },
      res,
    );
    return { status: 200, bytesOut, file };
  } catch (err) {
    if (!res.headersSent) return refuse(readFailed(err));
    // The client went away, or the read failed mid-body. The status is already sent; cutting
    // the connection short of Content-Length is how HTTP/1.1 says the body is incomplete.
    res.destroy();
    return { status: res.statusCode, bytesOut, file };
  } finally {
    if (!streaming) await handle.close().catch(() => {});
  }
}

/** Nothing was written: the caller answers `refusal` (its message names at most the URL path). */
function refuse(refusal: HangarError): StaticResult {
  return { status: refusal.status, bytesOut: 0, refusal };
}

/**
 * The cause names the file system path: a 5xx message reaches the client only where errors are
 * exposed (the dev server); elsewhere the client gets the generic text and the log the cause.
 */
function readFailed(err: unknown): HangarError {
  const cause = toError(err);
  return new HangarError('STATIC_READ_FAILED', `the file could not be read: ${cause.message}`, { cause });
}

function urlPath(req: IncomingMessage): string {
  return (req.url ?? '/').split('?', 1)[0]!;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
