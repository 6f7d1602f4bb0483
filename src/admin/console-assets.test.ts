import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../test/helpers/raw-http.js';
import { CONSOLE_SECURITY_HEADERS, isConsoleAssetPath, serveConsoleAsset } from './console-assets.js';

let dir: string;
let server: Server;
let base: string;

beforeAll(async () => {
  // The console's dir as the build makes it, with a secret next to it that must stay unreachable.
  const root = mkdtempSync(join(tmpdir(), 'hangar-console-assets-'));
  dir = join(root, 'console');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(root, 'secret.txt'), 'TOP-SECRET-CONTENT');
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Hangar</title>');
  writeFileSync(join(dir, 'main-ABCD2345.js'), 'console.log(1)');
  writeFileSync(join(dir, 'main-ABCD2345.js.map'), '{}');
  writeFileSync(join(dir, 'style.css'), 'body{}');
  writeFileSync(join(dir, 'logo.svg'), '<svg/>');
  writeFileSync(join(dir, 'notes.md'), 'not a console type');
  writeFileSync(join(dir, 'sub', 'style.css'), 'body{}');
  server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (isConsoleAssetPath(path)) serveConsoleAsset(req, res, path, dir);
    else res.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('the console files', () => {
  it('serves index.html at / and /index.html, never cached without a check, with the security headers', async () => {
    for (const path of ['/', '/index.html', '/?x=1']) {
      const res = await fetch(base + path);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS))
        expect(res.headers.get(name)).toBe(value);
      await expect(res.text()).resolves.toContain('<title>Hangar</title>');
    }
    expect(CONSOLE_SECURITY_HEADERS['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('serves assets by type; only hashed names are cached for long', async () => {
    const cases: Array<[string, string, string]> = [
      ['main-ABCD2345.js', 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['main-ABCD2345.js.map', 'application/json; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['style.css', 'text/css; charset=utf-8', 'no-cache'],
      ['logo.svg', 'image/svg+xml', 'no-cache'],
    ];
    for (const [name, type, cache] of cases) {
      const res = await fetch(`${base}/console/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('cache-control')).toBe(cache);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    const head = await fetch(`${base}/console/assets/style.css`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('6');
  });

  it('answers 404 to unknown names, other types and every way out of the directory', async () => {
    for (const path of [
      '/console/assets/missing.js',
      '/console/assets/notes.md',
      '/console/assets/',
      '/console/assets/..%2fsecret.txt',
      '/console/assets/..%2f..%2fsecret.txt',
      '/console/assets/%2e%2e%2fsecret.txt',
      '/console/assets/../index.html',
      '/console/assets/../../secret.txt',
      '/console/assets/sub/style.css',
      '/console/assets/..',
      '/console/assets/.%2e',
    ]) {
      // As sent: fetch would resolve the dot segments before the server saw them.
      const res = await rawRequest(base, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(res.status, path).toBe(404);
      expect(res.body.toString()).not.toContain('TOP-SECRET');
    }
  });

  it('refuses methods other than GET and HEAD', async () => {
    const res = await fetch(`${base}/`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});
