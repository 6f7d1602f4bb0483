/**
 * Issue 15's acceptance, end to end: `hangar serve` and `hangar deploy`, `hangar versions` as
 * real processes (the built CLI) on one data dir, as a user runs them. The tests run in order
 * and share one platform: deploy v1, deploy v2 without promoting it, promote it under load,
 * delete v1, a broken deploy, a restart, and a second app.
 */
import { existsSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  deploy,
  entriesOf,
  filesUnder,
  fixture,
  hangarVersion,
  httpGet,
  manifestOf,
  rawDeploy,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stateOf,
  stopAllServes,
  until,
  versionDirs,
  versionsList,
} from '../helpers/serve.js';

/** What the serve-env fixture answers. */
interface EnvDoc {
  serverSoftware: string;
  applicationId: string;
  currentVersionId: string;
}

const APP = 'shop';
const OTHER = 'blog';
const envApp = fixture('serve-env');

let serve: ServeProcess;
let dataDir: string;
const minors: Record<string, string> = {};

/** GET / with `Host: host` on the current serve; the fixture's JSON, with the status checked. */
async function envAt(host: string | undefined, path = '/'): Promise<EnvDoc> {
  const res = await serve.get(host, path);
  expect(res.status, `GET ${path} Host ${host}: ${res.body}`).toBe(200);
  return JSON.parse(res.body) as EnvDoc;
}

/** Resolves once an instance of `version` of APP is busy with a request (polls the admin API). */
function busy(version: string): Promise<true> {
  return until(`a request in flight on ${version}`, 10_000, async () => {
    const res = await serve.admin('GET', '/api/instances');
    const { instances } = res.json as {
      instances: Array<{ app?: string; version: string; busySlots: number }>;
    };
    return instances.some((i) => i.app === APP && i.version === version && i.busySlots > 0)
      ? true
      : undefined;
  });
}

beforeAll(async () => {
  // `npm test` builds dist/ first (pretest); a rebuild here would race other e2e files using it.
  expect(existsSync(cli)).toBe(true);
  serve = await startServe();
  dataDir = serve.dataDir;
});

afterAll(async () => {
  await stopAllServes();
  removeDataDirs();
});

describe('hangar serve + deploy (issue 15)', () => {
  it('hangar nodes says a serve without --database is one node; its health endpoint answers for it', async () => {
    const nodes = await serve.hangar(['nodes']);
    expect(nodes.code).not.toBe(0);
    expect(nodes.stderr).toContain('this platform is one node');
    // A balancer or readiness probe in front of one node uses it too, for any host.
    const health = await serve.get('no-such-app.example', '/_ah/hangar/health');
    expect(health.status).toBe(200);
    expect(health.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', database: 'sqlite' });
  });

  it('reports its ports when started on port 0', () => {
    expect(serve.port).toBeGreaterThan(0);
    expect(serve.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(serve.output()).toContain(`Hangar serve (Hangar/${hangarVersion})`);
    expect(serve.output()).toContain('0 versions from');
  });

  it('deploys v1 and serves it at the bare host, APP, and both version host forms, as Hangar', async () => {
    const run = await deploy(serve, envApp, ['--application', APP, '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    const deployed = run.doc?.deployed[0];
    expect(deployed).toMatchObject({ app: APP, service: 'default', version: 'v1', promoted: true });
    expect(deployed!.minor).toMatch(/^\d+$/);
    minors.v1 = deployed!.minor;
    // A first deploy on a fresh data dir uploads every byte, and the server counted the same.
    expect(deployed!.uploadedBytes).toBe(deployed!.bytes);
    await serve.waitFor(
      new RegExp(
        `deployed ${APP}/default/v1 \\(minor ${minors.v1}\\), promoted; ${deployed!.bytes} bytes uploaded`,
      ),
      5_000,
    );

    const hosts = [
      undefined, // 127.0.0.1:PORT: one app on the platform, so it is that app
      `${APP}.localhost`,
      `${APP}.localhost:${serve.port}`,
      `v1-dot-default-dot-${APP}.localhost`,
      `v1.default.${APP}.localhost:${serve.port}`,
      `V1-DOT-DEFAULT-DOT-${APP.toUpperCase()}.LOCALHOST`,
    ];
    for (const host of hosts) {
      const res = await serve.get(host, '/');
      expect(res.status, `Host ${host}: ${res.body}`).toBe(200);
      expect(res.headers.server, `Host ${host}`).toBe(`Hangar/${hangarVersion}`);
      expect(JSON.parse(res.body), `Host ${host}`).toEqual({
        serverSoftware: `Hangar/${hangarVersion}`,
        applicationId: `s~${APP}`,
        currentVersionId: `v1.${minors.v1}`,
        module: 'default',
        defaultHostname: `${APP}.localhost:${serve.port}`,
      });
    }

    // One instance by its own host: for an admin only (S11).
    const { instances } = (await serve.admin('GET', '/api/instances')).json as {
      instances: Array<{ id: string; version: string }>;
    };
    const instance = instances.find((i) => i.version === 'v1')!.id;
    const instanceHost = `${instance}-dot-v1-dot-default-dot-${APP}.localhost`;
    expect((await serve.get(instanceHost)).status).toBe(403);
    const asAdmin = await httpGet(`${serve.url}/`, instanceHost, {
      headers: { authorization: `Bearer ${serve.token}` },
    });
    expect(asAdmin.status, asAdmin.body).toBe(200);
    expect(JSON.parse(asAdmin.body)).toMatchObject({ currentVersionId: `v1.${minors.v1}` });

    // Unknown names: 404 naming what was not found.
    const noVersion = await serve.get(`v9-dot-default-dot-${APP}.localhost`);
    expect(noVersion.status).toBe(404);
    expect(noVersion.body).toContain('v9');
    const noApp = await serve.get('nosuchapp.localhost');
    expect(noApp.status).toBe(404);
    expect(noApp.body).toContain('nosuchapp');
  });

  it('deploys v2 with --no-promote: v1 keeps the bare host, v2 answers on its own; nothing re-uploaded', async () => {
    const before = versionDirs(dataDir);
    const run = await deploy(serve, envApp, ['--application', APP, '--version', 'v2', '--no-promote']);
    expect(run.code, run.stderr).toBe(0);
    const deployed = run.doc!.deployed[0]!;
    expect(deployed).toMatchObject({ version: 'v2', promoted: false, uploadedFiles: 0, uploadedBytes: 0 });
    expect(run.stderr).toContain('nothing to upload');
    minors.v2 = deployed.minor;
    // What the server counted, not what the client says it sent.
    await serve.waitFor(
      new RegExp(`deployed ${APP}/default/v2 \\(minor ${minors.v2}\\); 0 bytes uploaded`),
      5_000,
    );
    expect(versionDirs(dataDir)).toEqual([...before, `${APP}/default/v2.${minors.v2}`].sort());

    expect((await envAt(undefined)).currentVersionId).toBe(`v1.${minors.v1}`);
    expect((await envAt(`${APP}.localhost`)).currentVersionId).toBe(`v1.${minors.v1}`);
    expect((await envAt(`v2-dot-default-dot-${APP}.localhost`)).currentVersionId).toBe(`v2.${minors.v2}`);
    // VERSION-dot-APP: a version of the default service.
    expect((await envAt(`v2-dot-${APP}.localhost`)).currentVersionId).toBe(`v2.${minors.v2}`);
    expect((await envAt(`v2.${APP}.localhost`)).currentVersionId).toBe(`v2.${minors.v2}`);

    const rows = await versionsList(serve);
    expect(rows.map((r) => [r.version, r.minor, r.traffic])).toEqual([
      ['v1', minors.v1, 1],
      ['v2', minors.v2, 0],
    ]);
  });

  it("the build's result line carries what the server received: 0 bytes for an unchanged re-deploy", async () => {
    // The same files again as v2, through the protocol: a new MINOR replaces v2's, and the
    // platform asks for nothing.
    const old = minors.v2!;
    const raw = await rawDeploy(serve, envApp, { app: APP, version: 'v2', promote: false });
    expect(raw.missing).toEqual([]);
    expect(raw.result).toMatchObject({ result: 'ok', version: 'v2', promoted: false, uploadedBytes: 0 });
    minors.v2 = String(raw.result!.minor);
    expect(minors.v2).not.toBe(old);
    expect((await envAt(`v2-dot-default-dot-${APP}.localhost`)).currentVersionId).toBe(`v2.${minors.v2}`);
    // One v2 row, the new minor; the old minor's files go once it drained.
    const rows = await versionsList(serve);
    expect(rows.map((r) => `${r.version}.${r.minor}`)).toEqual([`v1.${minors.v1}`, `v2.${minors.v2}`]);
    await until('the replaced v2 directory removed', 20_000, () =>
      versionDirs(dataDir).includes(`${APP}/default/v2.${old}`) ? undefined : true,
    );
    expect(versionDirs(dataDir)).toEqual([
      `${APP}/default/v1.${minors.v1}`,
      `${APP}/default/v2.${minors.v2}`,
    ]);
  });

  it('refuses to delete v1 while it receives traffic, naming it; nothing changes', async () => {
    const before = stateOf(await versionsList(serve));
    const run = await serve.hangar(['versions', 'delete', 'v1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^hangar: .*\bv1\b.*traffic/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack
    expect(stateOf(await versionsList(serve))).toEqual(before);
    expect((await envAt(undefined)).currentVersionId).toBe(`v1.${minors.v1}`);
  });

  it('promotes v2 under load with no failed request; afterwards the bare host answers v2', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    const results: Array<{ status: number; version: string; started: number; error?: string }> = [];
    let promotedAt = Number.POSITIVE_INFINITY;
    let stop = false;
    // A bound on the load whatever happens; the test stops it well before (about 150 requests
    // after the promote returned).
    const CAP = 2000;
    const worker = async () => {
      while (!stop && results.length < CAP) {
        const started = Date.now();
        try {
          const res = await serve.get(undefined, '/?delay=20', agent);
          const version =
            res.status === 200 ? (JSON.parse(res.body) as EnvDoc).currentVersionId : `status ${res.status}`;
          results.push({
            status: res.status,
            version,
            started,
            ...(res.status !== 200 ? { error: res.body } : {}),
          });
        } catch (err) {
          results.push({ status: 0, version: '', started, error: (err as Error).message });
        }
      }
    };
    let load: Promise<unknown> = Promise.resolve();
    try {
      load = Promise.all(Array.from({ length: 6 }, () => worker()));
      await until('load under way', 20_000, () => (results.length >= 30 ? true : undefined));
      const promote = await serve.hangar(['versions', 'promote', 'v2']);
      promotedAt = Date.now();
      expect(promote.code, promote.stderr).toBe(0);
      expect(promote.stdout).toBe(`promoted ${APP}/default/v2; v1 drains\n`);
      const atPromote = results.length;
      expect(atPromote, 'the load ended before the promote did').toBeLessThan(CAP);
      await until('150 requests after the promote', 30_000, () =>
        results.length >= Math.min(CAP, atPromote + 150) ? true : undefined,
      );
    } finally {
      stop = true;
      await load;
      agent.destroy();
    }

    const failed = results.filter((r) => r.status !== 200);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    const versions = new Set(results.map((r) => r.version));
    expect(versions).toEqual(new Set([`v1.${minors.v1}`, `v2.${minors.v2}`]));
    // Every request sent after `versions promote` returned went to v2.
    const late = results.filter((r) => r.started > promotedAt);
    expect(late.length).toBeGreaterThan(0);
    expect(late.filter((r) => r.version !== `v2.${minors.v2}`)).toEqual([]);

    expect((await envAt(undefined)).currentVersionId).toBe(`v2.${minors.v2}`);
    expect((await envAt(`${APP}.localhost`)).currentVersionId).toBe(`v2.${minors.v2}`);
    // v1 stays addressable by its own host.
    expect((await envAt(`v1-dot-default-dot-${APP}.localhost`)).currentVersionId).toBe(`v1.${minors.v1}`);
    const rows = await versionsList(serve);
    expect(rows.map((r) => [r.version, r.traffic])).toEqual([
      ['v1', 0],
      ['v2', 1],
    ]);
  }, 60_000);

  it('deletes v1 once it has no traffic (v2 is refused); its files go from <data-dir>/versions', async () => {
    const refused = await serve.hangar(['versions', 'delete', 'v2']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\bv2\b.*traffic/);

    // A request on v1 when it is deleted finishes there (drain), it is not cut.
    const inFlight = serve.get(`v1-dot-default-dot-${APP}.localhost`, '/?delay=1500');
    await busy('v1');
    const run = await serve.hangar(['versions', 'delete', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    const drained = await inFlight;
    expect(drained.status, drained.body).toBe(200);
    expect(JSON.parse(drained.body)).toMatchObject({ currentVersionId: `v1.${minors.v1}` });
    expect(run.stdout).toBe(`deleted ${APP}/default/v1\n`);
    const gone = await serve.get(`v1-dot-default-dot-${APP}.localhost`);
    expect(gone.status).toBe(404);
    expect(gone.body).toContain('v1');
    await until('v1 directory removed', 20_000, () =>
      versionDirs(dataDir).some((d) => d.startsWith(`${APP}/default/v1.`)) ? undefined : true,
    );
    expect(versionDirs(dataDir)).toEqual([`${APP}/default/v2.${minors.v2}`]);
    expect((await versionsList(serve)).map((r) => r.version)).toEqual(['v2']);
    expect((await envAt(undefined)).currentVersionId).toBe(`v2.${minors.v2}`);
  });

  it('fails the deploy of an app whose handler throws at import: exit 1, the error, v2 still serves', async () => {
    const before = stateOf(await versionsList(serve));
    const dirs = versionDirs(dataDir);
    const run = await deploy(serve, fixture('broken-load'), ['--application', APP, '--version', 'v3']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot connect to the imaginary database at import time');
    expect(run.stderr).toMatch(/^hangar: deploy of shop\/default failed: /m);
    expect(run.doc).toMatchObject({ result: 'failed', deployed: [] });
    expect(run.doc?.reason).toContain('imaginary database');

    expect(stateOf(await versionsList(serve))).toEqual(before);
    expect((await envAt(undefined)).currentVersionId).toBe(`v2.${minors.v2}`);
    expect((await serve.get(`v3-dot-default-dot-${APP}.localhost`)).status).toBe(404);
    expect(versionDirs(dataDir)).toEqual(dirs);
    expect(entriesOf(join(dataDir, 'staging'))).toEqual([]);
  });

  it('comes back after a restart on the same data dir with the same answers, uploading nothing', async () => {
    const before = stateOf(await versionsList(serve));
    const blobs = filesUnder(join(dataDir, 'blobs'));
    // A request in flight when serve is told to stop finishes first (S11: shutdown drains).
    const inFlight = serve.get(undefined, '/?delay=1500');
    await busy('v2');
    expect(await serve.stop()).toBe(0);
    const drained = await inFlight;
    expect(drained.status, drained.body).toBe(200);

    serve = await startServe({ dataDir });
    expect(serve.output()).toMatch(/\b1 version from /);
    expect(stateOf(await versionsList(serve))).toEqual(before);
    for (const host of [undefined, `${APP}.localhost`, `v2-dot-default-dot-${APP}.localhost`]) {
      const res = await serve.get(host);
      expect(res.status, `Host ${host}: ${res.body}`).toBe(200);
      expect(res.headers.server).toBe(`Hangar/${hangarVersion}`);
      expect(JSON.parse(res.body)).toMatchObject({
        currentVersionId: `v2.${minors.v2}`,
        applicationId: `s~${APP}`,
      });
    }
    expect((await serve.get(`v1-dot-default-dot-${APP}.localhost`)).status).toBe(404);
    // The platform still holds every file: a deploy of the same files is asked for none.
    const begun = await serve.admin('POST', '/api/deploys', {
      app: APP,
      service: 'default',
      version: 'v4',
      promote: false,
      appYaml: 'runtime: nodejs20\n',
      configFile: 'app.yaml',
      manifest: manifestOf(envApp).map(({ path, sha256, size, mode }) => ({ path, sha256, size, mode })),
    });
    expect(begun.status, begun.text).toBe(201);
    expect((begun.json as { missing: string[] }).missing).toEqual([]);
    expect(filesUnder(join(dataDir, 'blobs'))).toEqual(blobs);
  }, 45_000);

  it('serves two apps on one platform, each on its own hosts, with its own versions and logs', async () => {
    const run = await deploy(serve, envApp, ['--application', OTHER, '--version', 'b1']);
    expect(run.code, run.stderr).toBe(0);
    const blogMinor = run.doc!.deployed[0]!.minor;

    expect(await envAt(`${OTHER}.localhost`, '/blog-probe')).toMatchObject({
      applicationId: `s~${OTHER}`,
      currentVersionId: `b1.${blogMinor}`,
    });
    expect(await envAt(`b1-dot-default-dot-${OTHER}.localhost`, '/blog-probe')).toMatchObject({
      applicationId: `s~${OTHER}`,
    });
    expect(await envAt(`${APP}.localhost`, '/shop-probe')).toMatchObject({
      applicationId: `s~${APP}`,
      currentVersionId: `v2.${minors.v2}`,
    });
    // Another app's version is not this app's: b1 is no version of shop.
    expect((await serve.get(`b1-dot-default-dot-${APP}.localhost`)).status).toBe(404);

    const shopRows = await versionsList(serve, ['--app', APP]);
    expect(shopRows.map((r) => `${r.app}/${r.version}`)).toEqual([`${APP}/v2`]);
    const blogRows = await versionsList(serve, ['--app', OTHER]);
    expect(blogRows.map((r) => `${r.app}/${r.version}`)).toEqual([`${OTHER}/b1`]);
    const table = await serve.hangar(['versions', 'list', '--app', OTHER]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('b1');
    expect(table.stdout).not.toContain('v2');

    type Entry = { appId: string | null; resource: string; version: string };
    const logsOf = async (app: string) => {
      const res = await serve.admin('GET', `/api/logs?app=${app}&limit=1000`);
      expect(res.status, res.text).toBe(200);
      return (res.json as { entries: Entry[] }).entries;
    };
    const blogLogs = await until('blog requests in the log', 10_000, async () => {
      const entries = await logsOf(OTHER);
      return entries.filter((e) => e.resource === '/blog-probe').length >= 2 ? entries : undefined;
    });
    expect(blogLogs.every((e) => e.appId === OTHER)).toBe(true);
    expect(blogLogs.filter((e) => e.resource === '/shop-probe')).toEqual([]);
    const shopLogs = await until('shop request in the log', 10_000, async () => {
      const entries = await logsOf(APP);
      return entries.some((e) => e.resource === '/shop-probe') ? entries : undefined;
    });
    expect(shopLogs.every((e) => e.appId === APP)).toBe(true);
    expect(shopLogs.filter((e) => e.resource === '/blog-probe')).toEqual([]);

    // `hangar logs --json` names each request's app.
    const cliLogs = await serve.hangar(['logs', '--json', '--limit', '1000']);
    expect(cliLogs.code, cliLogs.stderr).toBe(0);
    const lines = cliLogs.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Entry);
    expect(lines.filter((e) => e.resource === '/blog-probe').every((e) => e.appId === OTHER)).toBe(true);
    expect(lines.filter((e) => e.resource === '/shop-probe').every((e) => e.appId === APP)).toBe(true);
  });
});
