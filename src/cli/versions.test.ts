import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_TOKEN, type FakeAdmin, startFakeAdmin } from '../../test/helpers/fake-deploy-admin.js';
import {
  formatVersions,
  runVersionsDelete,
  runVersionsList,
  runVersionsPromote,
  type VersionView,
} from './versions.js';

let fake: FakeAdmin;
beforeEach(async () => {
  fake = await startFakeAdmin();
});
afterEach(async () => {
  await fake.close();
});

const version = (over: Partial<VersionView>): VersionView => ({
  app: 'shop',
  service: 'default',
  version: 'v1',
  minor: '485968393475892',
  created: '2025-06-01T10:20:30.123Z',
  runtime: 'nodejs22',
  node: 'v22.12.0',
  traffic: 0,
  instances: 0,
  url: 'http://v1-dot-default-dot-shop.localhost:8080',
  ...over,
});

function output() {
  let text = '';
  return {
    write: (t: string) => {
      text += t;
    },
    text: () => text,
  };
}

describe('hangar versions', () => {
  it('list prints a table of the API document, filtered by --app and --service', async () => {
    fake.versions = [
      version({ version: 'v2', traffic: 1, instances: 2 }),
      version({ version: 'v1' }),
      version({ service: 'api', version: 'v1', traffic: 1, runtime: 'nodejs20' }),
      version({ app: 'blog', service: 'default', version: 'x' }),
    ];
    const out = output();
    await runVersionsList({ server: fake.url, token: FAKE_TOKEN, app: 'shop' }, out.write);
    expect(out.text()).toBe(
      [
        'SERVICE  VERSION  MINOR            TRAFFIC  INSTANCES  CREATED              RUNTIME',
        'default  v2       485968393475892  100%     2          2025-06-01 10:20:30  nodejs22',
        'default  v1       485968393475892  0%       0          2025-06-01 10:20:30  nodejs22',
        'api      v1       485968393475892  100%     0          2025-06-01 10:20:30  nodejs20',
        '',
      ].join('\n'),
    );

    const json = output();
    await runVersionsList({ server: fake.url, token: FAKE_TOKEN, service: 'api', json: true }, json.write);
    expect(JSON.parse(json.text())).toEqual({ versions: [fake.versions[2]] });
    expect(fake.requests).toEqual(['GET /api/versions', 'GET /api/versions']);
  });

  it('list names the app when several are listed, and says when there is nothing', () => {
    expect(formatVersions([version({}), version({ app: 'blog' })]).split('\n')[0]).toMatch(/^APP +SERVICE/);
    expect(formatVersions([])).toBe('(no versions deployed)\n');
  });

  it('promote sends app, service and version, finding the app when the platform has one', async () => {
    fake.versions = [version({ version: 'v1', traffic: 1 }), version({ version: 'v2' })];
    let sent: unknown;
    fake.promote = (body) => {
      sent = body;
      return { status: 200, body: { promoted: 'v2', previous: 'v1' } };
    };
    const out = output();
    await runVersionsPromote('v2', { server: fake.url, token: FAKE_TOKEN }, out.write);
    expect(sent).toEqual({ app: 'shop', service: 'default', version: 'v2' });
    expect(out.text()).toBe('promoted shop/default/v2; v1 drains\n');
  });

  it('promote asks for --app when the platform has several', async () => {
    fake.versions = [version({}), version({ app: 'blog' })];
    await expect(runVersionsPromote('v1', { server: fake.url, token: FAKE_TOKEN })).rejects.toThrow(
      'the platform has several apps (blog, shop); pass --app with one of them',
    );
    expect(fake.requests).toEqual(['GET /api/versions']);
  });

  it("delete calls DELETE /api/versions/APP/SERVICE/VERSION and prints the API's refusal as its message", async () => {
    const out = output();
    await runVersionsDelete(
      'v1',
      { server: fake.url, token: FAKE_TOKEN, app: 'shop', service: 'api' },
      out.write,
    );
    expect(fake.requests).toEqual(['DELETE /api/versions/shop/api/v1']);
    expect(out.text()).toBe('deleted shop/api/v1\n');

    fake.remove = (_app, _service, name) => ({
      status: 409,
      body: { error: `${name} receives traffic; promote v1 first`, code: 'HANGAR_E_USAGE' },
    });
    const failure = await runVersionsDelete('v2', { server: fake.url, token: FAKE_TOKEN, app: 'shop' }).catch(
      (err: unknown) => err,
    );
    expect(failure).toMatchObject({
      code: 'HANGAR_E_ADMIN_API',
      message: 'v2 receives traffic; promote v1 first',
    });
  });

  it('reads an error body of the form { error: { code, message } } too', async () => {
    fake.promote = () => ({
      status: 404,
      body: { error: { code: 'HANGAR_E_X', message: 'no version v9 of shop/default' } },
    });
    await expect(
      runVersionsPromote('v9', { server: fake.url, token: FAKE_TOKEN, app: 'shop' }),
    ).rejects.toThrow(/^no version v9 of shop\/default$/);
  });
});
