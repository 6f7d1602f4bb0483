import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminGet, type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';

describe('hangar dev examples/hello', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([`${repoRoot}/examples/hello`]);
  });
  afterAll(() => dev.stop());

  it('runs the TypeScript module handler', async () => {
    const res = await fetch(`${dev.url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Hello, World!');
  });

  it('serves the static folder from the front end, with caching headers and 304', async () => {
    const res = await fetch(`${dev.url}/static/index.html`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=3600');
    expect(await res.text()).toContain('Hello from Hangar');
    const etag = res.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await fetch(`${dev.url}/static/index.html`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
  });

  it('answers 404 naming the path when no handler matches', async () => {
    // examples/hello's catch-all matches everything, so ask the static handler for a missing file.
    const res = await fetch(`${dev.url}/static/nope.css`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('/static/nope.css');
  });

  it('prints one line per request with method, path, status, latency and instance', async () => {
    await fetch(`${dev.url}/?line=1`);
    await dev.waitFor(/^GET \/\?line=1 200 [\d.]+ ms instance [0-9a-f]{8}$/m);
  });

  it('lists its instance on the admin API, with a token', async () => {
    const unauthorised = await fetch(`${dev.adminUrl}/api/instances`);
    expect(unauthorised.status).toBe(401);
    const { instances } = await adminGet<{ instances: Array<{ id: string; state: string; pid: number }> }>(
      dev,
      '/api/instances',
    );
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({ state: 'ready', service: 'default', version: 'dev' });
    expect(instances[0]!.id).toMatch(/^[0-9a-f]{32}$/);
  });
});
