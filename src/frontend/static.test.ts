import { mkdir, mkdtemp, realpath, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StaticDirHandler, StaticFilesHandler } from '../config/types.js';
import { errorAnswer } from './error-response.js';
import type { StaticResult } from './static.js';
import { serveStatic } from './static.js';

let root: string;
let appDir: string;
const BIG = 8 * 1024 * 1024;
const MTIME = new Date('2024-03-01T12:00:00Z');

beforeAll(async () => {
  // realpath: on macOS the temp dir itself sits behind a symlink.
  root = await realpath(await mkdtemp(join(tmpdir(), 'hangar-static-')));
  appDir = join(root, 'app');
  const files: Record<string, string | Buffer> = {
    'app/app.yaml': 'runtime: nodejs20\n',
    'app/static/hello.txt': 'hello world',
    'app/static/with space.txt': 'spaced',
    'app/static/empty.txt': '',
    'app/static/blob.xyz': 'blob',
    'app/static/css/site.css': 'body{}',
    'app/static/sub/inner.txt': 'inner',
    'app/static/big.bin': Buffer.alloc(BIG, 7),
    'app/assets/img/logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47]),
    'app/assets/private.txt': 'private',
    'outside/secret.txt': 'top secret',
  };
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), content);
  }
  await utimes(join(appDir, 'static/hello.txt'), MTIME, MTIME);
  await symlink('../../outside/secret.txt', join(appDir, 'static/escape.txt'));
  await symlink('../../outside', join(appDir, 'static/escapedir'));
  await symlink('../app.yaml', join(appDir, 'static/toapp.yaml'));
  await symlink('hello.txt', join(appDir, 'static/alias.txt'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const base = {
  secure: 'optional',
  redirectHttpResponseCode: 302,
  login: 'optional',
  authFailAction: 'redirect',
  httpHeaders: {},
} as const;

function dirHandler(over: Partial<StaticDirHandler> = {}): StaticDirHandler {
  return {
    ...base,
    kind: 'static-dir',
    url: '/static',
    pattern: /^(?:\/static)\/(.*)$/,
    staticDir: 'static',
    ...over,
  };
}

function filesHandler(over: Partial<StaticFilesHandler> = {}): StaticFilesHandler {
  return {
    ...base,
    kind: 'static-files',
    url: '/img/(.*\\.png)',
    pattern: /^(?:\/img\/(.*\.png))$/,
    staticFiles: 'assets/img/\\1',
    upload: /assets\/img\/.*\.png/,
    ...over,
  };
}

interface Served {
  url: string;
  port: number;
  results: StaticResult[];
  errors: unknown[];
  /** The one result serveStatic resolved with (waits for it: it settles after the response). */
  result(): Promise<StaticResult>;
}

/** Runs `fn` against a real server that routes every matching path to serveStatic. */
async function withServer(
  handler: StaticDirHandler | StaticFilesHandler,
  fn: (s: Served) => Promise<void>,
): Promise<void> {
  const results: StaticResult[] = [];
  const errors: unknown[] = [];
  const server = createServer((req, res) => {
    // The raw path: serveStatic decodes it, and `new URL` would already resolve `%2e%2e`.
    const match = handler.pattern.exec((req.url ?? '/').split('?', 1)[0]!);
    if (!match) {
      res.writeHead(418).end(); // distinct from serveStatic's 404s
      return;
    }
    serveStatic({ handler, match, appDir, req, res }).then(
      (r) => {
        // A refusal is answered as the pipeline's step 4 does: by the front end's error builder.
        if (r.refusal) {
          const allow = r.status === 405 ? { allow: 'GET, HEAD' } : undefined;
          const answer = errorAnswer(r.refusal, { expose: false, headers: allow });
          res.writeHead(answer.status, answer.headers).end(answer.body);
        }
        results.push(r);
      },
      (e: unknown) => errors.push(e),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const result = async () => {
    await vi.waitFor(() => expect(results.length + errors.length).toBeGreaterThan(0));
    expect(errors).toEqual([]);
    expect(results).toHaveLength(1);
    return results[0]!;
  };
  try {
    await fn({ url: `http://127.0.0.1:${port}`, port, results, errors, result });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** GET with the path sent byte for byte (fetch would normalise `..` and `%2e%2e`). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static_dir', () => {
  it('serves a file with its type, length and body', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(res.headers.get('content-length')).toBe('11');
      expect(res.headers.get('last-modified')).toBe(MTIME.toUTCString());
      expect(res.headers.get('etag')).toMatch(/^"[0-9a-f]+-b"$/);
      expect(await res.text()).toBe('hello world');
      expect(await s.result()).toEqual({ status: 200, bytesOut: 11, file: join(appDir, 'static/hello.txt') });
    }));

  it('serves nested paths and percent-encoded names', () =>
    withServer(dirHandler(), async (s) => {
      const css = await fetch(`${s.url}/static/css/site.css`);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(await css.text()).toBe('body{}');
      const spaced = await fetch(`${s.url}/static/with%20space.txt`);
      expect(await spaced.text()).toBe('spaced');
    }));

  it('serves an empty file and an unknown extension as octet-stream', () =>
    withServer(dirHandler(), async (s) => {
      const empty = await fetch(`${s.url}/static/empty.txt`);
      expect(empty.status).toBe(200);
      expect(empty.headers.get('content-length')).toBe('0');
      expect(await empty.text()).toBe('');
      const blob = await fetch(`${s.url}/static/blob.xyz`);
      expect(blob.headers.get('content-type')).toBe('application/octet-stream');
    }));

  it('404s a missing file, naming the URL but not the file system', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/nope.txt`);
      expect(res.status).toBe(404);
      const body = await res.text();
      expect(body).toContain('/static/nope.txt');
      expect(body).not.toContain(root);
      expect((await s.result()).status).toBe(404);
    }));

  it.each(['/static/sub', '/static/sub/', '/static/'])('404s the directory %s', (path) =>
    withServer(dirHandler(), async (s) => {
      expect((await fetch(s.url + path)).status).toBe(404);
    }),
  );

  it.each([
    '/static/../app.yaml',
    '/static/%2e%2e/app.yaml',
    '/static/%2E%2E/%2e%2e/outside/secret.txt',
    '/static/..%2fapp.yaml',
    '/static/sub/..%5c..%5capp.yaml',
    '/static/hello.txt%00.png',
    '/static/%E0%A4%A',
  ])('404s the traversal or malformed path %s', (path) =>
    withServer(dirHandler(), async (s) => {
      const res = await rawGet(s.port, path);
      expect(res.status).toBe(404);
      expect(res.body).not.toContain(root);
      expect((await s.result()).status).toBe(404);
    }),
  );

  it.each(['escape.txt', 'escapedir/secret.txt', 'toapp.yaml'])(
    '404s the symlink %s that leaves the static dir',
    (name) =>
      withServer(dirHandler(), async (s) => {
        const res = await fetch(`${s.url}/static/${name}`);
        expect(res.status).toBe(404);
        expect(await res.text()).not.toContain('top secret');
      }),
  );

  it('follows a symlink that stays inside the static dir', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/alias.txt`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('hello world');
    }));

  it('404s when static_dir itself points outside the app', () =>
    withServer(dirHandler({ staticDir: '../outside' }), async (s) => {
      expect((await fetch(`${s.url}/static/secret.txt`)).status).toBe(404);
    }));
});

describe('static_files', () => {
  it('substitutes \\1 into the template', () =>
    withServer(filesHandler(), async (s) => {
      const res = await fetch(`${s.url}/img/logo.png`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
    }));

  it('404s a file that exists but does not match upload', () => {
    const handler = filesHandler({
      url: '/files/(.*)',
      pattern: /^(?:\/files\/(.*))$/,
      staticFiles: 'assets/\\1',
    });
    return withServer(handler, async (s) => {
      expect((await fetch(`${s.url}/files/img/logo.png`)).status).toBe(200);
      expect((await fetch(`${s.url}/files/private.txt`)).status).toBe(404);
    });
  });

  it('404s traversal in a group even when upload would allow it', () => {
    const handler = filesHandler({
      url: '/files/(.*)',
      pattern: /^(?:\/files\/(.*))$/,
      staticFiles: 'assets/\\1',
      upload: /.*/,
    });
    return withServer(handler, async (s) => {
      expect((await rawGet(s.port, '/files/../app.yaml')).status).toBe(404);
      expect((await rawGet(s.port, '/files/%2e%2e/app.yaml')).status).toBe(404);
      expect((await rawGet(s.port, '/files/%2e%2e/%2e%2e/outside/secret.txt')).status).toBe(404);
    });
  });
});

describe('headers', () => {
  it('uses mime_type over the extension', () =>
    withServer(dirHandler({ mimeType: 'application/x-hangar' }), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`);
      expect(res.headers.get('content-type')).toBe('application/x-hangar');
    }));

  it('turns expiration into Cache-Control max-age and Expires', () =>
    withServer(dirHandler({ expirationMs: (4 * 24 + 5) * 3600_000 }), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`);
      expect(res.headers.get('cache-control')).toBe('public, max-age=363600');
      const ahead = Date.parse(res.headers.get('expires')!) - Date.parse(res.headers.get('date')!);
      expect(Math.abs(ahead - 363_600_000)).toBeLessThanOrEqual(2000);
    }));

  it('defaults to 10 minutes, as App Engine does in production', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`);
      expect(res.headers.get('cache-control')).toBe('public, max-age=600');
      const ahead = Date.parse(res.headers.get('expires')!) - Date.parse(res.headers.get('date')!);
      expect(Math.abs(ahead - 600_000)).toBeLessThanOrEqual(2000);
    }));

  it('applies http_headers last, except the ones that frame the body', () => {
    const httpHeaders = { 'X-Foo': 'bar', 'Cache-Control': 'no-store', 'Content-Length': '1' };
    return withServer(dirHandler({ httpHeaders }), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`);
      expect(res.headers.get('x-foo')).toBe('bar');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-length')).toBe('11');
      expect(await res.text()).toBe('hello world');
    });
  });
});

describe('conditional requests', () => {
  it('answers a matching If-None-Match with a bodiless 304', () =>
    withServer(dirHandler({ expirationMs: 60_000 }), async (s) => {
      const first = await fetch(`${s.url}/static/hello.txt`);
      const etag = first.headers.get('etag')!;
      await first.text();
      for (const inm of [etag, `"nope", W/${etag}`, '*']) {
        const res = await fetch(`${s.url}/static/hello.txt`, { headers: { 'if-none-match': inm } });
        expect(res.status).toBe(304);
        expect(res.headers.get('etag')).toBe(etag);
        expect(res.headers.get('cache-control')).toBe('public, max-age=60');
        expect(res.headers.get('expires')).not.toBeNull();
        expect(res.headers.get('content-length')).toBeNull();
        expect(await res.text()).toBe('');
      }
      const stale = await fetch(`${s.url}/static/hello.txt`, { headers: { 'if-none-match': '"other"' } });
      expect(stale.status).toBe(200);
      expect(await stale.text()).toBe('hello world');
    }));

  it('answers If-Modified-Since with 304 unless If-None-Match disagrees', () =>
    withServer(dirHandler(), async (s) => {
      const at = { 'if-modified-since': MTIME.toUTCString() };
      const res = await fetch(`${s.url}/static/hello.txt`, { headers: at });
      expect(res.status).toBe(304);
      expect(await res.text()).toBe('');
      const earlier = { 'if-modified-since': new Date(MTIME.getTime() - 1000).toUTCString() };
      expect((await fetch(`${s.url}/static/hello.txt`, { headers: earlier })).status).toBe(200);
      const both = { ...at, 'if-none-match': '"other"' };
      expect((await fetch(`${s.url}/static/hello.txt`, { headers: both })).status).toBe(200);
    }));
});

describe('methods', () => {
  it('HEAD sends the GET headers and no body', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`, { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe('11');
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await res.text()).toBe('');
      expect(await s.result()).toMatchObject({ status: 200, bytesOut: 0 });
    }));

  it('POST is 405 with Allow', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/hello.txt`, { method: 'POST', body: 'x' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      expect((await s.result()).status).toBe(405);
    }));
});

describe('streaming', () => {
  it('streams a large file and counts its bytes', () =>
    withServer(dirHandler(), async (s) => {
      const res = await fetch(`${s.url}/static/big.bin`);
      expect((await res.arrayBuffer()).byteLength).toBe(BIG);
      expect(await s.result()).toMatchObject({ status: 200, bytesOut: BIG });
    }));

  it('survives a client that hangs up mid-body', () =>
    withServer(dirHandler(), async (s) => {
      await new Promise<void>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: s.port, path: '/static/big.bin', agent: false },
          (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ECONNRESET') reject(err);
        });
        req.end();
      });
      // Resolves (never rejects) once the server notices; errors would fail result().
      expect((await s.result()).status).toBe(200);
    }));
});
