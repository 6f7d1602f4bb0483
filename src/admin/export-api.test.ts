/**
 * The admin API's read-only endpoints that `hangar export kubernetes` reads (docs/serve.md):
 * one version with its app.yaml and manifest, a deployed file's bytes, the platform config
 * without its secret. Real HTTP on 127.0.0.1, fake platform behind it.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPlatformConfig } from '../config/platform-config.js';
import { HangarError } from '../shared/errors.js';
import { createAdminServer } from './admin-server.js';
import { platformConfigView, withoutClientSecret } from './config-view.js';
import type { DeployApi, VersionDetail, VersionsApi } from './deploy-api.js';

const TOKEN = 't'.repeat(32);
const detail: VersionDetail = {
  app: 'shop',
  service: 'default',
  version: 'v1',
  minor: '42',
  created: '2026-01-01T00:00:00.000Z',
  runtime: 'nodejs20',
  node: 'v20.19.0',
  traffic: 1,
  instances: 0,
  url: 'http://v1-dot-default-dot-shop.localhost:8080',
  appYaml: 'runtime: nodejs20\n',
  configFile: 'app.yaml',
  manifest: [{ path: 'main.ts', sha256: 'a'.repeat(64), size: 5, mode: 0o644 }],
};
const configYaml = [
  'limits:',
  '  request_deadline: 30s',
  'auth:',
  '  oidc:',
  '    issuer: https://id.example.com',
  '    client_id: hangar',
  '    client_secret: s3cret # never shown',
  '',
].join('\n');

const versions: VersionsApi = {
  list: async () => ({ versions: [] }),
  async get(app, service, version) {
    if (app === 'shop' && service === 'default' && version === 'v1') return { version: detail };
    throw new HangarError(
      'VERSION_NOT_FOUND',
      `no version '${version}' of service '${service}' in app '${app}'`,
    );
  },
  promote: async () => ({}),
  split: async () => ({}),
  dispatch: async () => ({}),
  remove: async () => ({}),
};
const deploys: DeployApi = {
  begin: async () => ({ id: 'x', missing: [] }),
  putBlob: async () => {},
  build: async () => {},
  async readBlob(sha256) {
    if (sha256 === 'a'.repeat(64)) return Buffer.from('hello');
    throw new HangarError('BLOB_NOT_FOUND', `no blob ${sha256}`);
  },
};
const platformConfig = {
  ...defaultPlatformConfig,
  auth: {
    admins: [],
    oidc: { issuer: 'https://id.example.com', clientId: 'hangar', clientSecret: 's3cret' },
  },
};

const server = createAdminServer(TOKEN, {
  instances: () => [],
  decisions: () => [],
  deploys,
  versions,
  platformConfig: () =>
    platformConfigView(platformConfig, { path: '/etc/hangar.config.yaml', text: configYaml }),
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const get = (path: string, token = TOKEN) =>
  fetch(base + path, { headers: { authorization: `Bearer ${token}` } });

describe('GET /api/versions/<app>/<service>/<version>', () => {
  it('answers the version with its app.yaml and manifest', async () => {
    const res = await get('/api/versions/shop/default/v1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ version: detail });
  });

  it('404 naming what is unknown', async () => {
    const res = await get('/api/versions/shop/default/v9');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: "no version 'v9' of service 'default' in app 'shop'" });
  });
});

describe('GET /api/blobs/<sha256>', () => {
  it("answers a deployed file's bytes", async () => {
    const res = await get(`/api/blobs/${'a'.repeat(64)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(await res.text()).toBe('hello');
  });

  it('404 for a blob it does not hold; 401 without the token', async () => {
    expect((await get(`/api/blobs/${'b'.repeat(64)}`)).status).toBe(404);
    expect((await get(`/api/blobs/${'a'.repeat(64)}`, 'wrong')).status).toBe(401);
  });
});

describe('GET /api/config', () => {
  it('answers the values in force and the file, both without the OIDC client secret', async () => {
    const res = await get('/api/config');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain('s3cret');
    const view = JSON.parse(text) as { config: typeof platformConfig; file: string; yaml: string };
    expect(view.config.limits.requestDeadlineMs).toBe(defaultPlatformConfig.limits.requestDeadlineMs);
    expect(view.config.auth.oidc).toEqual({ issuer: 'https://id.example.com', clientId: 'hangar' });
    expect(view.file).toBe('/etc/hangar.config.yaml');
    expect(view.yaml).toContain('request_deadline: 30s');
    expect(view.yaml).toContain('client_id: hangar');
  });

  it('leaves a file without a secret as it is, comments included', () => {
    const text = '# defaults, mostly\nlimits:\n  drain_timeout: 10s # shorter\n';
    expect(withoutClientSecret(text)).toBe(text);
  });
});
