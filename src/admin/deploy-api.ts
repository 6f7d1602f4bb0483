/**
 * The admin API's deploy and versions endpoints (SPEC S11, S14; the protocol is in
 * docs/serve.md). This module is HTTP only: reading bodies within their limits, mapping
 * errors to statuses, streaming the build's events. What a deploy does is the platform's
 * (`DeployApi`, `VersionsApi`, implemented by src/platform/serve-state.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HangarError, isHangarError } from '../shared/errors.js';
import type { RoutingView, VersionDetail, VersionView } from './api-views.js';

export type { RoutingView, VersionDetail, VersionView } from './api-views.js';

/** A JSON body larger than this is refused: a manifest of 10,000 files is about 1.5 MB. */
export const MAX_JSON_BODY_BYTES = 16 * 2 ** 20;

/** One event of a build's NDJSON stream. */
export type BuildEvent =
  | { phase: string }
  | { log: string }
  | {
      result: 'ok';
      app: string;
      service: string;
      version: string;
      minor: string;
      promoted: boolean;
      url?: string;
      /** Bytes of this deploy's files the platform received (0 for an unchanged re-deploy). */
      uploadedBytes: number;
    }
  | { result: 'failed'; reason: string };

export interface DeployBegun {
  id: string;
  missing: string[];
}

export interface DeployApi {
  /** `POST /api/deploys`: checks the request (HangarError with status 400/404/422 if bad). */
  begin(body: unknown): Promise<DeployBegun>;
  /** `PUT /api/blobs/<sha256>`: stores the bytes when they hash to the name (HangarError 400 if not). */
  putBlob(sha256: string, body: AsyncIterable<Buffer>, declaredBytes: number | undefined): Promise<void>;
  /** `POST /api/deploys/<id>/build`: builds, proves and commits; every event to `emit`, the last a result. */
  build(id: string, emit: (event: BuildEvent) => void, signal: AbortSignal): Promise<void>;
  /**
   * `GET /api/blobs/<sha256>`: a deployed file's bytes (read-only; `hangar export kubernetes`
   * copies a version's files with it). HangarError BLOB_NOT_FOUND (404) when it is not held.
   */
  readBlob?(sha256: string): Promise<Buffer>;
}

export interface VersionsApi {
  list(query: URLSearchParams): Promise<{ versions: VersionView[] }>;
  /**
   * `GET /api/versions/<app>/<service>/<version>`: the version with its app.yaml and manifest;
   * HangarError VERSION_NOT_FOUND (404) when there is no such version.
   */
  get?(app: string, service: string, version: string): Promise<{ version: VersionDetail }>;
  /** `GET /api/routing[?app=A]`. */
  routing?(query: URLSearchParams): Promise<RoutingView>;
  promote(body: unknown): Promise<unknown>;
  split(body: unknown): Promise<unknown>;
  dispatch(body: unknown): Promise<unknown>;
  remove(app: string, service: string, version: string): Promise<unknown>;
}

type Send = (status: number, body: unknown) => void;

/** Handles the request when it is one of these endpoints; false when it is not. */
export function handleDeployRoutes(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  send: Send,
  deploys: DeployApi | undefined,
  versions: VersionsApi | undefined,
): boolean {
  const method = req.method ?? 'GET';
  if (deploys && method === 'POST' && path === '/api/deploys') {
    respond(
      send,
      readJson(req)
        .then((body) => deploys.begin(body))
        .then((body) => ({ status: 201, body })),
    );
    return true;
  }
  const blob = /^\/api\/blobs\/([^/]+)$/.exec(path);
  if (deploys && method === 'PUT' && blob) {
    const declared = req.headers['content-length'];
    respond(
      send,
      deploys
        .putBlob(
          decodeURIComponent(blob[1] ?? ''),
          req,
          declared === undefined ? undefined : Number(declared),
        )
        .then(() => ({ status: 204, body: undefined })),
    );
    return true;
  }
  const readBlob = deploys?.readBlob?.bind(deploys);
  if (readBlob && method === 'GET' && blob) {
    readBlob(decodeURIComponent(blob[1] ?? '')).then(
      (bytes) => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': bytes.length,
          'cache-control': 'no-store',
        });
        res.end(bytes);
      },
      (err: unknown) => respond(send, Promise.reject(err)),
    );
    return true;
  }
  const build = /^\/api\/deploys\/([^/]+)\/build$/.exec(path);
  if (deploys && method === 'POST' && build) {
    streamBuild(req, res, deploys, decodeURIComponent(build[1] ?? ''));
    return true;
  }
  if (versions && method === 'GET' && path === '/api/versions') {
    respond(
      send,
      Promise.resolve()
        .then(() => versions.list(new URL(req.url ?? '/', 'http://admin').searchParams))
        .then((body) => ({ status: 200, body })),
    );
    return true;
  }
  const routing = versions?.routing?.bind(versions);
  if (routing && method === 'GET' && path === '/api/routing') {
    respond(
      send,
      Promise.resolve()
        .then(() => routing(new URL(req.url ?? '/', 'http://admin').searchParams))
        .then((body) => ({ status: 200, body })),
    );
    return true;
  }
  // The traffic writes: a JSON body in, the state's answer out.
  const write =
    versions && method === 'POST'
      ? new Map<string, (body: unknown) => Promise<unknown>>([
          ['/api/versions/promote', (body) => versions.promote(body)],
          ['/api/versions/split', (body) => versions.split(body)],
          ['/api/dispatch', (body) => versions.dispatch(body)],
        ]).get(path)
      : undefined;
  if (write) {
    respond(
      send,
      readJson(req)
        .then(write)
        .then((body) => ({ status: 200, body })),
    );
    return true;
  }
  const version = /^\/api\/versions\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
  const get = versions?.get?.bind(versions);
  if (get && method === 'GET' && version) {
    const [app, service, name] = version.slice(1).map((part) => decodeURIComponent(part ?? ''));
    respond(
      send,
      Promise.resolve()
        .then(() => get(app ?? '', service ?? '', name ?? ''))
        .then((body) => ({ status: 200, body })),
    );
    return true;
  }
  if (versions && method === 'DELETE' && version) {
    const [app, service, name] = version.slice(1).map((part) => decodeURIComponent(part ?? ''));
    respond(
      send,
      versions.remove(app ?? '', service ?? '', name ?? '').then((body) => ({ status: 200, body })),
    );
    return true;
  }
  return false;
}

function respond(send: Send, work: Promise<{ status: number; body: unknown }>): void {
  work.then(
    ({ status, body }) => send(status, body),
    (err: unknown) => {
      if (isHangarError(err)) send(err.status ?? 500, { error: err.message, code: err.code });
      else send(500, { error: `the platform failed: ${(err as Error).message ?? String(err)}` });
    },
  );
}

/** Reads a JSON body of at most MAX_JSON_BODY_BYTES; a bad or oversized body is a 400/413 HangarError. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY_BYTES) {
      req.resume();
      throw new HangarError('USAGE', `the request body is over ${MAX_JSON_BODY_BYTES} bytes`, {
        status: 413,
      });
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HangarError('USAGE', `the request body is not JSON: ${(err as Error).message}`);
  }
}

/**
 * The build's events as NDJSON while it runs. The status is 200 once the build started; the
 * result is the last line. A client that goes away aborts the build (nothing is committed).
 */
function streamBuild(req: IncomingMessage, res: ServerResponse, deploys: DeployApi, id: string): void {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('the deploying client went away'));
  });
  req.resume();
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  let ended = false;
  const emit = (event: BuildEvent) => {
    if (ended) return;
    res.write(`${JSON.stringify(event)}\n`);
  };
  deploys.build(id, emit, controller.signal).then(
    () => {
      ended = true;
      res.end();
    },
    (err: unknown) => {
      emit({
        result: 'failed',
        reason: isHangarError(err) ? err.message : String((err as Error).message ?? err),
      });
      ended = true;
      res.end();
    },
  );
}
