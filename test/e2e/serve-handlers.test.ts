/**
 * Entrypoint and CGI apps deployed to `hangar serve` (issue 16 with issue 15's platform): what
 * `hangar dev` runs from the app directory, serve runs from the deployed version — npm start
 * with PORT, scripts that must stay executable, several apps side by side. Real processes.
 */
import { describe, expect, it } from 'vitest';
import { deploy, fixture, hangarVersion, type ServeProcess, serveForFile } from '../helpers/serve.js';

let serve: ServeProcess;
serveForFile((started) => {
  serve = started;
});

describe('hangar serve runs deployed entrypoint and CGI apps', () => {
  it("deploys App Engine's Node app shape (npm start, PORT) and serves it on its host", async () => {
    const run = await deploy(serve, fixture('entrypoint-node'), [
      '--application',
      'aenode',
      '--version',
      'v1',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const res = await serve.get('aenode.localhost', '/hello');
    expect(res.status, res.body).toBe(200);
    const body = JSON.parse(res.body) as { hello: string; node: string; envLogId: string; logId: string };
    expect(body.hello).toBe('world');
    expect(body.node).toMatch(/^v20\./);
    expect(body.envLogId).toBe(body.logId);
    expect(res.headers.server).toBe(`Hangar/${hangarVersion}`);
  });

  it('deploys a CGI app whose scripts stay executable, next to the other app', async () => {
    const run = await deploy(serve, fixture('cgi-app'), ['--application', 'cgiapp', '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    const env = await serve.get('cgiapp.localhost', '/env');
    expect(env.status, env.body).toBe(200);
    expect(env.body).toContain('APPLICATION_ID=s~cgiapp');
    expect(env.body).toContain(`SERVER_SOFTWARE=Hangar/${hangarVersion}`);
    const perl = await serve.get('cgiapp.localhost', '/status');
    expect(perl.status).toBe(404);
    // The other app still answers on its own host.
    expect((await serve.get('aenode.localhost', '/')).status).toBe(200);
  });

  it('the CLI shows one app at a time with --app: instances and their decisions, quotas', async () => {
    const listed = await serve.hangar(['instances', 'list', '--app', 'aenode', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const doc = JSON.parse(listed.stdout) as {
      instances: Array<{ app: string }>;
      decisions: Array<{ app?: string }>;
    };
    expect(doc.instances.length).toBeGreaterThan(0);
    expect(doc.instances.every((i) => i.app === 'aenode')).toBe(true);
    expect(doc.decisions.length).toBeGreaterThan(0);
    expect(doc.decisions.every((d) => d.app === 'aenode')).toBe(true);
    const quotas = await serve.hangar(['quotas', '--app', 'cgiapp', '--json']);
    expect(quotas.code, quotas.stderr).toBe(0);
    const report = JSON.parse(quotas.stdout) as {
      apps: Array<{ app: string }>;
      versions: Array<{ app: string }>;
    };
    expect(report.apps.map((a) => a.app)).toEqual(['cgiapp']);
    expect(report.versions.every((v) => v.app === 'cgiapp')).toBe(true);
  });
});
