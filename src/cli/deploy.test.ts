/**
 * `hangar deploy` against a fake admin API (test/helpers/fake-deploy-admin.ts): what goes over
 * the wire, what is uploaded (only what the platform lacks), and what the user sees.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FAKE_TOKEN, type FakeAdmin, okBuild, startFakeAdmin } from '../../test/helpers/fake-deploy-admin.js';
import { type DeployIo, type DeployOptions, runDeploy } from './deploy.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

const MAIN = 'export const app = () => new Response("hello");\n';
const APP_YAML = [
  'runtime: nodejs22',
  'version: v1',
  'handlers:',
  '- url: /.*',
  '  script: main.app',
  '',
].join('\n');

let root: string;
let fake: FakeAdmin;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hangar-deploy-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
beforeEach(async () => {
  fake = await startFakeAdmin();
});
afterEach(async () => {
  await fake.close();
});

let apps = 0;
async function makeApp(files: Record<string, string>): Promise<string> {
  const dir = join(root, `app${++apps}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

/** What runDeploy wrote; `waitFor` resolves once stdout holds `text` (no polling, no sleeps). */
function capture(): DeployIo & {
  stdout: () => string;
  stderr: () => string;
  waitFor(text: string): Promise<void>;
} {
  let stdout = '';
  let stderr = '';
  const waiting: Array<{ text: string; done: () => void }> = [];
  return {
    tty: false,
    out(text) {
      stdout += text;
      for (const w of waiting.filter((w) => stdout.includes(w.text))) {
        waiting.splice(waiting.indexOf(w), 1);
        w.done();
      }
    },
    err(text) {
      stderr += text;
    },
    stdout: () => stdout,
    stderr: () => stderr,
    waitFor(text) {
      if (stdout.includes(text)) return Promise.resolve();
      return new Promise((done) => waiting.push({ text, done }));
    },
  };
}

const options = (extra: Partial<DeployOptions> = {}): DeployOptions => ({
  server: fake.url,
  token: FAKE_TOKEN,
  promote: true,
  application: 'shop',
  ...extra,
});

describe('hangar deploy', () => {
  it('sends the manifest, uploads only the blobs the platform lacks, and reports the version', async () => {
    const app = await makeApp({
      'app.yaml': APP_YAML,
      'main.ts': MAIN,
      'static/a.txt': 'same bytes',
      'static/b.txt': 'same bytes',
      'static/c.txt': 'held already',
      'node_modules/dep/index.js': 'module.exports = 1;\n',
    });
    fake.blobs.set(sha('held already'), Buffer.from('held already'));
    const io = capture();

    const code = await runDeploy([app], options(), io);

    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    expect(fake.deploys).toHaveLength(1);
    const [deploy] = fake.deploys;
    expect(deploy?.body).toMatchObject({ app: 'shop', service: 'default', version: 'v1', promote: true });
    expect(deploy?.body.appYaml).toBe(APP_YAML);
    expect(deploy?.body.manifest.map((f) => f.path)).toEqual([
      'app.yaml',
      'main.ts',
      'static/a.txt',
      'static/b.txt',
      'static/c.txt',
    ]);
    // Three distinct hashes missing (a.txt and b.txt share one); c.txt's was held.
    const puts = fake.requests.filter((r) => r.startsWith('PUT '));
    expect(puts.sort()).toEqual(
      [sha(APP_YAML), sha(MAIN), sha('same bytes')].map((h) => `PUT /api/blobs/${h}`).sort(),
    );
    expect(deploy?.uploadedBytes).toBe(APP_YAML.length + MAIN.length + 'same bytes'.length);
    expect(fake.requests.at(-1)).toBe(`POST /api/deploys/${deploy?.id}/build`);
    expect(io.stdout()).toContain('shop/default: uploading 3 files');
    expect(io.stdout()).toContain('build: materialise\n');
    expect(io.stdout()).toMatch(
      /^deployed shop\/default\/v1 \(minor 45671\), promoted, serving at http:\/\/shop\.localhost:8080$/m,
    );
  });

  it('uploads nothing when the app did not change since the last deploy', async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN, 'big.bin': 'x'.repeat(300_000) });
    expect(await runDeploy([app], options(), capture())).toBe(0);
    expect(fake.deploys[0]?.uploadedBytes).toBe(APP_YAML.length + MAIN.length + 300_000);
    const before = fake.requests.length;

    const io = capture();
    expect(await runDeploy([app], options(), io)).toBe(0);

    expect(fake.deploys[1]?.missing).toEqual([]);
    expect(fake.deploys[1]?.uploadedBytes).toBe(0);
    expect(fake.requests.slice(before)).toEqual(['POST /api/deploys', 'POST /api/deploys/d2/build']);
    expect(io.stdout()).toContain('nothing to upload');
  });

  it('prints build output as it arrives, before the result', async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    const io = capture();
    fake.build = async (deploy, emit) => {
      emit({ phase: 'npm ci' });
      emit({ log: 'added 0 packages' });
      // The result is held back until the client has printed the line: a client that read the
      // whole stream before printing would never get here, and the test would time out.
      await io.waitFor('  added 0 packages\n');
      await okBuild(deploy, emit);
    };
    expect(await runDeploy([app], options(), io)).toBe(0);
    expect(io.stdout()).toMatch(/build: npm ci\n {2}added 0 packages\n(.|\n)*deployed shop\/default\/v1/);
  });

  it('exits 1 with the reason when the build fails', async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    fake.build = (_deploy, emit) => {
      emit({ phase: 'start' });
      emit({ log: 'SyntaxError: Unexpected token' });
      emit({ result: 'failed', reason: 'main.ts failed to load: SyntaxError: Unexpected token' });
    };
    const io = capture();
    expect(await runDeploy([app], options(), io)).toBe(1);
    expect(io.stdout()).toContain('  SyntaxError: Unexpected token\n');
    expect(io.stdout()).not.toContain('deployed ');
    expect(io.stderr()).toBe(
      'hangar: deploy of shop/default failed: main.ts failed to load: SyntaxError: Unexpected token\n',
    );
  });

  it('exits 1 when the build stream ends without a result', async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    fake.build = (_deploy, emit) => emit({ phase: 'materialise' });
    const io = capture();
    expect(await runDeploy([app], options(), io)).toBe(1);
    expect(io.stderr()).toContain('ended without a result');
  });

  it('--json prints one document; --no-promote and --version reach the platform', async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    const io = capture();
    expect(await runDeploy([app], options({ json: true, promote: false, version: 'v2' }), io)).toBe(0);
    expect(fake.deploys[0]?.body).toMatchObject({ version: 'v2', promote: false });
    expect(JSON.parse(io.stdout())).toEqual({
      result: 'ok',
      deployed: [
        {
          app: 'shop',
          service: 'default',
          version: 'v2',
          minor: '45671',
          promoted: false,
          url: 'http://shop.localhost:8080',
          files: 2,
          bytes: APP_YAML.length + MAIN.length,
          uploadedFiles: 2,
          uploadedBytes: APP_YAML.length + MAIN.length,
        },
      ],
    });
    // What a person reads went to stderr, so stdout stays one JSON document.
    expect(io.stderr()).toContain('not promoted');
  });

  it('takes application: from app.yaml, and refuses to guess one', async () => {
    const named = await makeApp({ 'app.yaml': `application: blog\n${APP_YAML}`, 'main.ts': MAIN });
    expect(await runDeploy([named], options({ application: undefined }), capture())).toBe(0);
    expect(fake.deploys[0]?.body.app).toBe('blog');

    const unnamed = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    const io = capture();
    const requests = fake.requests.length;
    expect(await runDeploy([unnamed], options({ application: undefined }), io)).toBe(1);
    expect(io.stderr()).toMatch(/names no application: pass --application ID, or set application: in it/);
    expect(fake.requests.length).toBe(requests);
  });

  it('prints app.yaml problems as validate does and sends nothing', async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML.replace('v1', 'Bad_Name'), 'main.ts': MAIN });
    const io = capture();
    expect(await runDeploy([app], options(), io)).toBe(1);
    expect(io.stderr()).toMatch(/app\.yaml:2:1 version: 'Bad_Name' is not a valid version name.* Fix: /);
    expect(io.stderr()).toMatch(/hangar deploy: 1 problem found; nothing was deployed\n$/);
    expect(io.stderr()).not.toMatch(/^\s+at /m);
    expect(fake.requests).toEqual([]);
  });

  it('refuses a bad dispatch.yaml with its line before anything is sent', async () => {
    const app = await makeApp({
      'app.yaml': APP_YAML,
      'main.ts': MAIN,
      'dispatch.yaml': 'dispatch:\n  - url: "no-path"\n    service: default\n',
    });
    const io = capture();
    expect(await runDeploy([app, join(app, 'dispatch.yaml')], options(), io)).toBe(1);
    expect(io.stderr()).toMatch(/dispatch\.yaml:2:\d+ .*has no path/);
    expect(fake.requests).toEqual([]);
  });

  it("prints the platform's refusal as its message", async () => {
    const app = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    const io = capture();
    expect(await runDeploy([app], options({ token: 'wrong' }), io)).toBe(1);
    expect(io.stderr()).toMatch(/^hangar: the admin API at http:\/\/127\.0\.0\.1:\d+ refused the token/);
  });

  it('deploys several services one after the other', async () => {
    const web = await makeApp({ 'app.yaml': APP_YAML, 'main.ts': MAIN });
    const api = await makeApp({ 'app.yaml': `service: api\n${APP_YAML}`, 'main.ts': MAIN });
    const io = capture();
    expect(await runDeploy([web, api], options(), io)).toBe(0);
    expect(fake.deploys.map((d) => d.body.service)).toEqual(['default', 'api']);
    // The second deploy's files are the first's bytes but one: only the new app.yaml goes up.
    expect(fake.deploys[1]?.missing).toEqual([sha(`service: api\n${APP_YAML}`)]);
    expect(io.stdout().match(/^deployed /gm)).toHaveLength(2);
  });
});
