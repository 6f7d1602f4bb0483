/**
 * Issue 15: deploys that must not change anything (SPEC S3, S11, docs/serve.md): bad inputs
 * get a clear error (from the CLI, or from the platform for a hostile client speaking the
 * protocol raw); a `kill -9` of `serve` during an upload, a build or the load check leaves no
 * half-made version after the restart; a deploy given up (its client gone, serve stopped) stops
 * its build. Real processes; the gated fixtures hold a build step until the test lets it go.
 */

import { createHash } from 'node:crypto';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alive,
  cli,
  deploy,
  descendantsOf,
  entriesOf,
  filesUnder,
  fixture,
  freshDataDir,
  hangar,
  manifestOf,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stateOf,
  stopAllServes,
  until,
  versionDirs,
  versionsList,
} from '../helpers/serve.js';

const envApp = fixture('serve-env');
const APP = 'shop';
const scratch: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

afterAll(async () => {
  await stopAllServes();
  removeDataDirs();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

describe('bad deploy inputs: a clear error, and nothing changes', () => {
  let serve: ServeProcess;
  let before: string[];
  let dirsBefore: string[];
  let blobsBefore: string[];

  /** The platform as it was after the first deploy: versions, version dirs, blobs, no staging. */
  async function expectUnchanged(): Promise<void> {
    expect(stateOf(await versionsList(serve))).toEqual(before);
    expect(versionDirs(serve.dataDir)).toEqual(dirsBefore);
    expect(filesUnder(join(serve.dataDir, 'blobs'))).toEqual(blobsBefore);
    expect(entriesOf(join(serve.dataDir, 'staging'))).toEqual([]);
    const res = await serve.get(undefined);
    expect(res.status).toBe(200);
  }

  /** A raw `POST /api/deploys` of the serve-env app with `manifest` in place of its own. */
  const begin = (manifest: unknown, extra: Record<string, unknown> = {}) =>
    serve.admin('POST', '/api/deploys', {
      app: APP,
      service: 'default',
      version: 'evil',
      promote: true,
      appYaml: readFileSync(join(envApp, 'app.yaml'), 'utf8'),
      configFile: 'app.yaml',
      manifest,
      ...extra,
    });
  const good = () => manifestOf(envApp).map(({ path, sha256, size, mode }) => ({ path, sha256, size, mode }));

  beforeAll(async () => {
    expect(existsSync(cli)).toBe(true);
    serve = await startServe();
    const run = await deploy(serve, envApp, ['--application', APP, '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    before = stateOf(await versionsList(serve));
    dirsBefore = versionDirs(serve.dataDir);
    blobsBefore = filesUnder(join(serve.dataDir, 'blobs'));
    expect(blobsBefore.length).toBeGreaterThan(0);
  });

  it('a directory without app.yaml: exit 1 or 2, naming app.yaml', async () => {
    const dir = tempDir('hangar-no-yaml-');
    writeFileSync(join(dir, 'main.js'), 'export const app = () => new Response("x");\n');
    const run = await deploy(serve, dir, ['--application', APP, '--version', 'v2']);
    expect([1, 2]).toContain(run.code);
    expect(run.stderr).toContain('app.yaml');
    expect(run.stderr).toContain(dir);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    await expectUnchanged();
  });

  it('a file over the 32 MB limit: refused by the CLI before anything is sent, naming it', async () => {
    const dir = tempDir('hangar-big-');
    writeFileSync(join(dir, 'app.yaml'), readFileSync(join(envApp, 'app.yaml')));
    writeFileSync(join(dir, 'main.ts'), readFileSync(join(envApp, 'main.ts')));
    writeFileSync(join(dir, 'huge.bin'), '');
    truncateSync(join(dir, 'huge.bin'), 32 * 1024 * 1024 + 1); // sparse: no 32 MB written
    const run = await deploy(serve, dir, ['--application', APP, '--version', 'v2']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('huge.bin');
    expect(run.stderr).toMatch(/33,554,433 bytes.*limit is 32(\.0)? MiB per file/);
    expect(run.stderr).toContain('nothing was deployed');
    await expectUnchanged();
  });

  it('a wrong token: exit 1 saying so; the API answers 401', async () => {
    const run = await deploy(serve, envApp, [
      '--application',
      APP,
      '--version',
      'v2',
      '--token',
      'not-the-token',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/token/i);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    const list = await hangar(['versions', 'list', '--server', serve.adminUrl, '--token', 'nope']);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/token/i);
    const promote = await hangar(['versions', 'promote', 'v1', '--app', APP, '--server', serve.adminUrl], {
      env: { HANGAR_TOKEN: 'wrong' },
    });
    expect(promote.code).toBe(1);
    expect(promote.stderr).toMatch(/token/i);
    for (const [method, path] of [
      ['POST', '/api/deploys'],
      ['GET', '/api/versions'],
      ['POST', '/api/versions/promote'],
      ['DELETE', `/api/versions/${APP}/default/v1`],
      ['PUT', `/api/blobs/${sha('x')}`],
    ] as const) {
      const body = method === 'PUT' ? Buffer.from('x') : method === 'GET' ? undefined : {};
      const res = await serve.admin(method, path, body, 'wrong');
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    await expectUnchanged();
  });

  it.each([
    [
      'a path out of the service directory',
      (m: ReturnType<typeof good>) => [...m, { ...m[0]!, path: '../etc/passwd' }],
      /\.\.\/etc\/passwd|\.\./,
    ],
    [
      'an absolute path',
      (m: ReturnType<typeof good>) => [...m, { ...m[0]!, path: '/etc/passwd' }],
      /\/etc\/passwd/,
    ],
    [
      'a bad hash',
      (m: ReturnType<typeof good>) => [...m, { ...m[0]!, path: 'x.js', sha256: 'abc' }],
      /sha256/,
    ],
    [
      'a hash that is a path',
      (m: ReturnType<typeof good>) => [...m, { ...m[0]!, path: 'x.js', sha256: '../../admin-token' }],
      /sha256/,
    ],
    ['a path listed twice', (m: ReturnType<typeof good>) => [...m, { ...m[0]! }], /listed twice/],
    [
      'a file over 32 MB',
      (m: ReturnType<typeof good>) => [...m, { ...m[0]!, path: 'big.bin', size: 32 * 2 ** 20 + 1 }],
      /big\.bin.*32/,
    ],
    [
      'more than 1,000 files in one directory',
      (m: ReturnType<typeof good>) => [
        ...m,
        ...Array.from({ length: 1001 }, (_, i) => ({ ...m[0]!, path: `many/f${i}.txt` })),
      ],
      /many.*1,001.*per directory/,
    ],
    ['not a list', () => ({ 'main.ts': 'x' }), /list/],
  ])('a hostile manifest, %s: 400 naming the problem', async (_name, make, message) => {
    const res = await begin(make(good()));
    expect(res.status, res.text).toBe(400);
    expect((res.json as { error: string }).error).toMatch(message);
    await expectUnchanged();
  });

  it('a manifest without the app.yaml it names: 400 naming it', async () => {
    const res = await begin(good().filter((f) => f.path !== 'app.yaml'));
    expect(res.status, res.text).toBe(400);
    expect((res.json as { error: string }).error).toContain('app.yaml');
    await expectUnchanged();
  });

  it('bad names: 400 naming the field', async () => {
    for (const extra of [{ app: '../x' }, { version: 'a/b' }, { service: 'Default!' }]) {
      const res = await begin(good(), extra);
      expect(res.status, `${JSON.stringify(extra)}: ${res.text}`).toBe(400);
    }
    await expectUnchanged();
  });

  it('blob bytes that do not hash to their name: 400, nothing stored, and the build is refused', async () => {
    const extra = Buffer.from(`export const unique = ${Date.now()};\n`);
    const manifest = [...good(), { path: 'extra.js', sha256: sha(extra), size: extra.length, mode: 0o644 }];
    const begun = await begin(manifest);
    expect(begun.status, begun.text).toBe(201);
    const { id, missing } = begun.json as { id: string; missing: string[] };
    expect(missing).toEqual([sha(extra)]);

    // Same size, other bytes.
    const forged = Buffer.alloc(extra.length, 0x61);
    const put = await serve.admin('PUT', `/api/blobs/${sha(extra)}`, forged);
    expect(put.status, put.text).toBe(400);
    expect((put.json as { error: string }).error).toContain(sha(extra));
    // Another size than the manifest's.
    const longer = await serve.admin(
      'PUT',
      `/api/blobs/${sha(extra)}`,
      Buffer.concat([extra, Buffer.from('x')]),
    );
    expect(longer.status, longer.text).toBe(400);
    // A blob no deploy asked for.
    const unasked = await serve.admin('PUT', `/api/blobs/${sha('unasked')}`, Buffer.from('unasked'));
    expect(unasked.status).toBeGreaterThanOrEqual(400);
    expect(unasked.status).toBeLessThan(500);
    // Not a hash.
    const notHash = await serve.admin('PUT', '/api/blobs/..%2F..%2Fadmin-token', Buffer.from('x'));
    expect(notHash.status).toBeGreaterThanOrEqual(400);
    expect(notHash.status).toBeLessThan(500);
    await expectUnchanged();

    // Building it anyway: refused, naming the file never uploaded.
    const build = await serve.admin('POST', `/api/deploys/${id}/build`);
    const last = JSON.parse(build.text.trim().split('\n').at(-1)!) as { result: string; reason: string };
    expect(last).toMatchObject({ result: 'failed' });
    expect(last.reason).toContain('extra.js');
    await expectUnchanged();
  });
});

describe('kill -9 of serve during a deploy', () => {
  /**
   * Deploys v1 of the env app on a fresh data dir, starts the deploy of `dir` as v2, waits for
   * `reached` (the deploy half done), kills serve with SIGKILL, lets whatever it left behind
   * go, and restarts it on the same data dir: the versions, their dirs and staging must be
   * as before v2's deploy.
   */
  async function killDuringDeploy(
    dir: string,
    gate: string,
    reached: (dataDir: string) => boolean,
  ): Promise<ServeProcess> {
    const dataDir = freshDataDir();
    const env = { HANGAR_E2E_GATE: gate };
    let serve = await startServe({ dataDir, env });
    const first = await deploy(serve, envApp, ['--application', APP, '--version', 'v1']);
    expect(first.code, first.stderr).toBe(0);
    // One instance of v1 running, so the kill leaves a child behind if instances outlive it.
    expect((await serve.get(undefined)).status).toBe(200);
    const before = stateOf(await versionsList(serve));
    const dirs = versionDirs(dataDir);

    const slow = deploy(serve, dir, ['--application', APP, '--version', 'v2']);
    await until('the deploy half done', 60_000, () => (reached(dataDir) ? true : undefined));
    const orphans = descendantsOf(serve.process.pid!);

    await serve.kill();
    const run = await slow;
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/build stream|platform/);

    // Let the gated step go (it would anyway within 20 s), and wait for what serve left behind.
    writeFileSync(join(gate, 'open'), '');
    try {
      await until('the processes serve left behind gone', 20_000, () =>
        orphans.some((pid) => alive(pid)) ? undefined : true,
      );
    } finally {
      // Whatever outlived its platform is ended by pid, so the test leaves nothing running.
      for (const pid of orphans.filter((p) => alive(p))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
    }

    serve = await startServe({ dataDir, env });
    expect(stateOf(await versionsList(serve))).toEqual(before);
    expect(versionDirs(dataDir)).toEqual(dirs);
    expect(entriesOf(join(dataDir, 'staging'))).toEqual([]);
    expect((await serve.get(undefined)).status).toBe(200);
    expect((await serve.get(`v2-dot-default-dot-${APP}.localhost`)).status).toBe(404);
    return serve;
  }

  it('during a blob upload: no partial blob after the restart, and the deploy can be made again', async () => {
    const dataDir = freshDataDir();
    let serve = await startServe({ dataDir });
    const big = Buffer.alloc(4 * 2 ** 20, 0x62);
    const manifest = [
      ...manifestOf(envApp).map(({ path, sha256, size, mode }) => ({ path, sha256, size, mode })),
      { path: 'big.bin', sha256: sha(big), size: big.length, mode: 0o644 },
    ];
    const begun = await serve.admin('POST', '/api/deploys', {
      app: APP,
      version: 'v1',
      appYaml: readFileSync(join(envApp, 'app.yaml'), 'utf8'),
      manifest,
    });
    expect(begun.status, begun.text).toBe(201);
    // Half the bytes, then the upload stalls: serve has written some of them to a temporary file.
    const upload = httpRequest(`${serve.adminUrl}/api/blobs/${sha(big)}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${serve.token}`,
        'content-type': 'application/octet-stream',
        'content-length': String(big.length),
      },
    });
    const uploadDone = new Promise<void>((resolve) => {
      upload.on('error', () => resolve());
      upload.on('response', (res) => {
        res.resume();
        res.on('end', resolve);
      });
    });
    upload.write(big.subarray(0, big.length / 2));
    await until('a partial blob on disk', 10_000, () =>
      filesUnder(join(dataDir, 'blobs')).length > 0 ? true : undefined,
    );
    await serve.kill();
    upload.destroy();
    await uploadDone;

    serve = await startServe({ dataDir });
    expect(filesUnder(join(dataDir, 'blobs'))).toEqual([]);
    expect(await versionsList(serve)).toEqual([]);
    // The platform asks for the file again, and a whole deploy of it goes through.
    const dir = tempDir('hangar-big-app-');
    cpSync(envApp, dir, { recursive: true });
    writeFileSync(join(dir, 'big.bin'), big);
    const run = await deploy(serve, dir, ['--application', APP, '--version', 'v1']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.doc!.deployed[0]!.uploadedBytes).toBe(run.doc!.deployed[0]!.bytes);
    expect(filesUnder(join(dataDir, 'blobs')).some((f) => f.endsWith(sha(big)))).toBe(true);
    expect(entriesOf(join(dataDir, 'blobs', 'tmp'))).toEqual([]);
  }, 60_000);

  it('during the build (gcp-build running): no half-made version after the restart', async () => {
    const gate = tempDir('hangar-gate-');
    let buildPid = 0;
    const serve = await killDuringDeploy(fixture('serve-slow-build'), gate, (dataDir) => {
      if (!existsSync(join(gate, 'started'))) return false;
      buildPid = Number(readFileSync(join(gate, 'started'), 'utf8'));
      // The deploy is half done: its staging directory is there.
      expect(entriesOf(join(dataDir, 'staging'))).toHaveLength(1);
      return true;
    });
    expect(buildPid).toBeGreaterThan(0);
    expect(alive(buildPid)).toBe(false);

    // The same deploy goes through once the platform is back (the gate is open now).
    const again = await deploy(serve, fixture('serve-slow-build'), ['--application', APP, '--version', 'v2']);
    expect(again.code, again.stderr).toBe(0);
    expect((await serve.get(undefined)).body).toBe('slow build done');
    expect(entriesOf(join(serve.dataDir, 'staging'))).toEqual([]);
  }, 110_000);

  it('after the build, while its instance loads (renamed into versions/, not committed): nothing after the restart', async () => {
    const gate = tempDir('hangar-gate-');
    const dir = tempDir('hangar-slow-load-');
    cpSync(fixture('serve-slow-load'), dir, { recursive: true });
    appendFileSync(join(dir, 'app.yaml'), `env_variables:\n  HANGAR_E2E_GATE: ${JSON.stringify(gate)}\n`);
    const serve = await killDuringDeploy(dir, gate, (dataDir) =>
      versionDirs(dataDir).some((d) => d.startsWith(`${APP}/default/v2.`)),
    );
    // The restart found the uncommitted version's directory and removed it.
    expect(serve.output()).toMatch(
      /removing \S+\/versions\/shop\/default\/v2\.\d+: a deploy that never finished/,
    );
  }, 110_000);
});

describe('a deploy whose client goes away during the build', () => {
  it('is given up at once: its build processes stop, its staging goes, and the next deploy is not held up', async () => {
    const gate = tempDir('hangar-gate-');
    const serve = await startServe({ env: { HANGAR_E2E_GATE: gate } });
    const first = await deploy(serve, envApp, ['--application', APP, '--version', 'v1']);
    expect(first.code, first.stderr).toBe(0);
    const before = stateOf(await versionsList(serve));

    const client = serve.spawnHangar([
      'deploy',
      fixture('serve-slow-build'),
      '--application',
      APP,
      '--version',
      'v2',
    ]);
    const started = join(gate, 'started');
    await until('gcp-build started', 60_000, () => (existsSync(started) ? true : undefined));
    const buildPid = Number(readFileSync(started, 'utf8'));
    expect(entriesOf(join(serve.dataDir, 'staging'))).toHaveLength(1);

    // The user presses Ctrl-C: the CLI exits, its build stream closes, the platform aborts the build.
    client.process.kill('SIGINT');
    await client.done;
    try {
      // docs/serve.md: "A client that goes away aborts the build". The gate stays shut, so
      // gcp-build (which would wait up to 20 s) only ends here if the platform stops it.
      await until('the aborted build given up', 5_000, () => {
        if (alive(buildPid)) throw new Error(`its gcp-build (pid ${buildPid}) still runs`);
        const staging = entriesOf(join(serve.dataDir, 'staging'));
        if (staging.length > 0) throw new Error(`its staging directory is still there: ${staging}`);
        return true;
      });
      await serve.waitFor(/deploy of shop\/default failed: the deploying client went away/, 1_000);
      // Builds run one at a time: the next one must not wait for the abandoned one.
      const next = await deploy(serve, envApp, ['--application', APP, '--version', 'v3', '--no-promote']);
      expect(next.code, next.stderr).toBe(0);
    } finally {
      // Let the gcp-build go in any case, and wait for it, so the test leaves nothing running.
      writeFileSync(join(gate, 'open'), '');
      await until('gcp-build gone', 10_000, () => (alive(buildPid) ? undefined : true));
    }
    expect(stateOf(await versionsList(serve)).filter((row) => !row.includes('/v3.'))).toEqual(before);
  }, 60_000);
});

describe('serve stopped (SIGINT) during a build', () => {
  it('stops the build with it: no build process outlives serve, and the restart finds nothing half-made', async () => {
    const gate = tempDir('hangar-gate-');
    const env = { HANGAR_E2E_GATE: gate };
    let serve = await startServe({ env });
    const dataDir = serve.dataDir;
    const client = serve.spawnHangar([
      'deploy',
      fixture('serve-slow-build'),
      '--application',
      APP,
      '--version',
      'v1',
    ]);
    const started = join(gate, 'started');
    await until('gcp-build started', 60_000, () => (existsSync(started) ? true : undefined));
    const buildPid = Number(readFileSync(started, 'utf8'));

    expect(await serve.stop()).toBe(0);
    const run = await client.done;
    expect(run.code).toBe(1);
    try {
      await until('the build processes gone with serve', 5_000, () => {
        if (alive(buildPid)) throw new Error(`its gcp-build (pid ${buildPid}) still runs after serve exited`);
        return true;
      });
    } finally {
      writeFileSync(join(gate, 'open'), '');
      await until('gcp-build gone', 10_000, () => (alive(buildPid) ? undefined : true));
    }
    serve = await startServe({ dataDir, env });
    expect(await versionsList(serve)).toEqual([]);
    expect(versionDirs(dataDir)).toEqual([]);
    expect(entriesOf(join(dataDir, 'staging'))).toEqual([]);
  }, 60_000);
});
