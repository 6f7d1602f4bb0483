import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdHash } from '../../src/shared/request-id.js';
import { type DevServer, repoRoot, startDev } from '../helpers/dev-server.js';

describe('environment (S8)', () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await startDev([join(repoRoot, 'test/fixtures/env-app')], ['--no-watch']);
  });
  afterAll(() => dev.stop());

  it('sets every S8 variable in process.env and ctx.env', async () => {
    const res = await fetch(`${dev.url}/env?a=1&b=two`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-custom-thing': 'yes' },
      body: 'hello',
    });
    const {
      process: env,
      ctx,
      requestId,
    } = (await res.json()) as {
      process: Record<string, string>;
      ctx: Record<string, string>;
      requestId: string;
    };
    const host = new URL(dev.url).host;
    expect(env).toMatchObject({
      APPLICATION_ID: 'dev~envtest',
      CURRENT_MODULE_ID: 'default',
      CURRENT_VERSION_ID: 'v7.1',
      SERVER_SOFTWARE: expect.stringMatching(/^Development\/\d+\.\d+$/),
      AUTH_DOMAIN: 'gmail.com',
      DEFAULT_VERSION_HOSTNAME: host,
      REQUEST_LOG_ID: requestId,
      REQUEST_ID_HASH: requestIdHash(requestId),
      DATACENTER: expect.any(String),
      HTTPS: 'off',
      TZ: 'UTC',
      USER_EMAIL: '',
      USER_ID: '',
      USER_IS_ADMIN: '0',
      REQUEST_METHOD: 'POST',
      PATH_INFO: '/env',
      QUERY_STRING: 'a=1&b=two',
      SERVER_NAME: '127.0.0.1',
      SERVER_PORT: host.split(':')[1],
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      CONTENT_TYPE: 'text/plain',
      CONTENT_LENGTH: '5',
      HTTP_X_CUSTOM_THING: 'yes',
      HTTP_HOST: host,
      APP_MODE: 'testing',
      RETRIES: '3',
    });
    expect(env.INSTANCE_ID).toMatch(/^[0-9a-f]{32}$/);
    expect(env.REQUEST_LOG_ID).toMatch(/^[0-9a-f]{32,}$/);
    expect(env.HANGAR_INSTANCE_INIT).toBeUndefined();
    expect(Object.keys(env).filter((k) => k.startsWith('HTTP_X_HANGAR'))).toEqual([]);
    expect(ctx).toEqual(env);
  });

  it('keeps process.env per request under 50 concurrent requests', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const res = await fetch(`${dev.url}/race?n=${i}`);
        return {
          i,
          body: (await res.json()) as {
            before: { query: string; id: string };
            after: { query: string; id: string };
            ctxId: string;
          },
        };
      }),
    );
    const ids = new Set<string>();
    for (const { i, body } of results) {
      expect(body.before.query).toBe(`n=${i}`);
      expect(body.after.query).toBe(`n=${i}`);
      expect(body.after.id).toBe(body.ctxId);
      expect(body.before.id).toBe(body.ctxId);
      ids.add(body.ctxId);
    }
    expect(ids.size).toBe(50);
  });
});
