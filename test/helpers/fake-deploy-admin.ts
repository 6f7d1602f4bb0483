/**
 * A stand-in for `hangar serve`'s admin API (docs/serve.md: the deploy protocol and the
 * versions API), small enough to read in one go, so the CLI's side of the protocol is tested
 * without a platform: it keeps blobs in memory, answers with the hashes it lacks, checks what
 * it receives as the real platform must (checkManifest, the blob's hash), and lets each test
 * script the build's NDJSON stream. Loopback only, port 0.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatIssue } from '../../src/config/issues.js';
import { checkManifest, type ManifestFile } from '../../src/versions/manifest.js';

export const FAKE_TOKEN = 'fake-admin-token';

export interface DeployRequest {
  app: string;
  service: string;
  version?: string;
  promote: boolean;
  appYaml: string;
  manifest: ManifestFile[];
}

export interface FakeDeploy {
  id: string;
  body: DeployRequest;
  missing: string[];
  /** Bytes received by PUT /api/blobs while this was the latest deploy. */
  uploadedBytes: number;
}

/** Writes the build's events; the default answers `{ result: 'ok' }` after two phases. */
export type BuildScript = (deploy: FakeDeploy, emit: (event: object) => void) => Promise<void> | void;

export interface FakeAdmin {
  url: string;
  blobs: Map<string, Buffer>;
  deploys: FakeDeploy[];
  /** Every request as `METHOD path`, in arrival order. */
  requests: string[];
  build: BuildScript;
  /** What GET /api/versions lists. */
  versions: object[];
  /** Answers for POST /api/versions/promote and DELETE /api/versions/…; a status ≥ 400 is an error. */
  promote: (body: unknown) => { status: number; body: unknown };
  remove: (app: string, service: string, version: string) => { status: number; body: unknown };
  close(): Promise<void>;
}

export const okBuild: BuildScript = (deploy, emit) => {
  emit({ phase: 'materialise' });
  emit({ phase: 'start' });
  emit({
    result: 'ok',
    app: deploy.body.app,
    service: deploy.body.service,
    version: deploy.body.version ?? '20250101t000000',
    minor: `4567${deploy.id.slice(1)}`,
    promoted: deploy.body.promote,
    url: `http://${deploy.body.app}.localhost:8080`,
  });
};

export async function startFakeAdmin(): Promise<FakeAdmin> {
  const fake: Omit<FakeAdmin, 'url' | 'close'> = {
    blobs: new Map(),
    deploys: [],
    requests: [],
    build: okBuild,
    versions: [],
    promote: (body) => ({
      status: 200,
      body: { promoted: (body as { version: string }).version, previous: null },
    }),
    remove: () => ({ status: 200, body: { deleted: true } }),
  };
  const server: Server = createServer((req, res) => {
    handle(fake, req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, { error: `fake admin failed: ${err.message}` });
      else res.destroy(err);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  });
}

async function handle(fake: Omit<FakeAdmin, 'url' | 'close'>, req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? '/', 'http://admin');
  fake.requests.push(`${req.method} ${url.pathname}`);
  if (req.headers.authorization !== `Bearer ${FAKE_TOKEN}`) {
    await body(req);
    send(res, 401, { error: 'missing or wrong bearer token' });
    return;
  }
  const blob = /^\/api\/blobs\/([^/]+)$/.exec(url.pathname);
  const build = /^\/api\/deploys\/([^/]+)\/build$/.exec(url.pathname);
  const version = /^\/api\/versions\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);

  if (req.method === 'POST' && url.pathname === '/api/deploys') {
    const request = JSON.parse((await body(req)).toString('utf8')) as DeployRequest;
    const issues = checkManifest(request.manifest);
    if (issues.length > 0) {
      send(res, 400, { error: issues.map((i) => formatIssue(i)).join('\n'), code: 'HANGAR_E_FILE_LIMITS' });
      return;
    }
    const missing = [...new Set(request.manifest.map((f) => f.sha256))].filter((h) => !fake.blobs.has(h));
    const deploy: FakeDeploy = {
      id: `d${fake.deploys.length + 1}`,
      body: request,
      missing,
      uploadedBytes: 0,
    };
    fake.deploys.push(deploy);
    send(res, 201, { id: deploy.id, missing });
  } else if (req.method === 'PUT' && blob) {
    const bytes = await body(req);
    const sha = blob[1] ?? '';
    const latest = fake.deploys.at(-1);
    if (latest) latest.uploadedBytes += bytes.length;
    if (createHash('sha256').update(bytes).digest('hex') !== sha) {
      send(res, 400, { error: `the bytes do not hash to ${sha}`, code: 'HANGAR_E_USAGE' });
      return;
    }
    fake.blobs.set(sha, bytes);
    res.writeHead(204).end();
  } else if (req.method === 'POST' && build) {
    await body(req);
    const deploy = fake.deploys.find((d) => d.id === build[1]);
    if (!deploy) {
      send(res, 404, { error: `no deploy ${build[1]}` });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    await fake.build(deploy, (event) => res.write(`${JSON.stringify(event)}\n`));
    res.end();
  } else if (req.method === 'GET' && url.pathname === '/api/versions') {
    const app = url.searchParams.get('app');
    const service = url.searchParams.get('service');
    const versions = (fake.versions as Array<{ app: string; service: string }>).filter(
      (v) => (app === null || v.app === app) && (service === null || v.service === service),
    );
    send(res, 200, { versions });
  } else if (req.method === 'POST' && url.pathname === '/api/versions/promote') {
    const answer = fake.promote(JSON.parse((await body(req)).toString('utf8')));
    send(res, answer.status, answer.body);
  } else if (req.method === 'DELETE' && version) {
    const [app, service, name] = version.slice(1).map((part) => decodeURIComponent(part ?? ''));
    const answer = fake.remove(app ?? '', service ?? '', name ?? '');
    send(res, answer.status, answer.body);
  } else {
    send(res, 404, { error: `no admin endpoint ${req.method} ${url.pathname}` });
  }
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, doc: unknown): void {
  const json = `${JSON.stringify(doc)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}
