import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFrontendHarness } from '../../test/helpers/frontend-harness.js';
import { rawRequest } from '../../test/helpers/raw-http.js';
import type { Handler } from '../config/types.js';
import { matchHandler } from './handler-match.js';

const base = {
  secure: 'optional',
  redirectHttpResponseCode: 302,
  login: 'optional',
  authFailAction: 'redirect',
} as const;
const mod = (url: string, script: string): Handler => ({
  ...base,
  kind: 'module',
  url,
  pattern: new RegExp(`^(?:${url})$`),
  script,
  module: `${script.split('.')[0]}.ts`,
  exportName: 'app',
});

describe('matchHandler (S5 step 3)', () => {
  const handlers = [
    mod('/api/.*', 'api.app'),
    {
      ...base,
      kind: 'static-dir',
      url: '/static',
      pattern: /^(?:\/static)\/(.*)$/,
      staticDir: 'public',
      httpHeaders: {},
    },
    mod('/|/home', 'home.app'),
    mod('/.*', 'fallback.app'),
  ] satisfies Handler[];

  it.each([
    ['/api/users', 0],
    ['/static/app.css', 1],
    ['/', 2],
    ['/home', 2],
    ['/homepage', 3], // anchored: '/home' must match the whole path
    ['/x/api/users', 3], // anchored at the start too
  ])('%s → handler %i', (path, index) => {
    expect(matchHandler(handlers, path)?.index).toBe(index);
  });

  it('takes the first match in order, and gives the groups', () => {
    const found = matchHandler(handlers, '/static/css/site.css');
    expect(found?.handler.kind).toBe('static-dir');
    expect(found?.match[1]).toBe('css/site.css');
  });

  it('returns undefined when nothing matches', () => {
    expect(matchHandler(handlers.slice(0, 2), '/other')).toBeUndefined();
  });
});

describe('a hostile path on the front end (issue 14)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hangar-handler-match-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function app(urls: string[]): Promise<string> {
    const dir = await mkdtemp(join(root, 'app-'));
    const handlers = urls.map((url) => `- url: ${url}\n  script: main.app\n`).join('');
    await writeFile(join(dir, 'app.yaml'), `runtime: nodejs22\nhandlers:\n${handlers}`);
    await writeFile(join(dir, 'main.ts'), 'export const app = () => new Response("hi");\n');
    return dir;
  }

  it("the finding's app does not load, so the front end never runs its pattern", async () => {
    // /(a+)+b against '/' + 30 × 'a' held every app's requests for seconds.
    await expect(startFrontendHarness({ appDir: await app(['/(a+)+b', '/.*']) })).rejects.toMatchObject({
      code: 'HANGAR_E_CONFIG_INVALID',
      message: expect.stringContaining("'(a+)+' (characters 2-6)"),
    });
  });

  it('with the patterns written as the fixes say, another request is answered while hostile paths are matched', async () => {
    const h = await startFrontendHarness({
      appDir: await app(['/a+b', '/(.*)/([^/]*)\\.js', '/([^/]+/)*[^/]+\\.html', '/api/v1/users/[0-9]+']),
    });
    try {
      const get = (path: string) => rawRequest(h.url, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      // What made the refused patterns slow, near the longest request line the front end takes.
      const hostile = [
        '/' + 'a'.repeat(14_000) + 'c',
        '/' + 'a/'.repeat(7_000) + '!',
        '/' + 'aa/'.repeat(4_600),
      ];
      expect((await get('/api/v1/users/1')).status).toBe(200);
      const attacks = hostile.flatMap((path) => [1, 2, 3, 4].map(() => get(path)));
      const started = performance.now();
      const other = await get('/api/v1/users/42');
      const otherMs = performance.now() - started;
      expect(other.status).toBe(200);
      // Matched against /(.*)/(.*)\.js (refused by the check), these paths held it ~0.8 s.
      expect(otherMs).toBeLessThan(500);
      for (const res of await Promise.all(attacks)) expect(res.status).toBe(404);
    } finally {
      await h.stop();
    }
  });
});
