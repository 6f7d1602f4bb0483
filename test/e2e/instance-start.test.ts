/**
 * Issue 21, Deliver 4, end to end on `hangar serve` (the built CLI): a deployed TypeScript
 * version runs code compiled at deploy, with no loader-hooks thread, and keeps what the hooks
 * gave (`hangar` imports, `./x.js` → `./x.ts`, `.ts` imports, stack traces in the `.ts` source,
 * load errors naming the source), in each isolation mode; and warm spares: a new instance is the
 * spare that waited, counted in the metrics, a spare never serves two apps, and spares end with
 * the platform.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideIsolation, probeIsolationFacts } from '../../src/scheduler/isolation.js';
import {
  alive,
  deploy,
  fixture,
  freshDataDir,
  removeDataDirs,
  type ServeProcess,
  startServe,
  stopAllServes,
  until,
} from '../helpers/serve.js';

interface Instance {
  id: string;
  app: string;
  pid: number;
  state: string;
}
interface InstancesDoc {
  instances: Instance[];
  warmSpares: {
    kept: number;
    hits: number;
    misses: number;
    lastLoadingWaitMs: number | null;
    spares: Array<{ pid: number; ready: boolean; memory: number }>;
  };
}

const precompiledApp = fixture('precompiled-ts');
const hooksApp = fixture('hooks-ts');
const tempDirs: string[] = [];

async function instancesOf(serve: ServeProcess): Promise<InstancesDoc> {
  const res = await serve.admin('GET', '/api/instances');
  expect(res.status).toBe(200);
  return res.json as InstancesDoc;
}

async function metric(serve: ServeProcess, name: string): Promise<number> {
  const res = await serve.admin('GET', '/metrics');
  const line = res.text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

async function deployed(serve: ServeProcess, dir: string, app: string): Promise<void> {
  const run = await deploy(serve, dir, ['--application', app, '--version', 'v1']);
  expect(run.code, run.stderr).toBe(0);
}

/** Stops every instance of `app` (as `hangar instances stop` does) and resolves once they are gone. */
async function stopInstances(serve: ServeProcess, app: string): Promise<void> {
  for (const instance of (await instancesOf(serve)).instances.filter((i) => i.app === app))
    expect((await serve.admin('POST', `/api/instances/${instance.id}/stop`)).status).toBe(202);
  await until(`no instance of ${app}`, 15_000, async () =>
    (await instancesOf(serve)).instances.some((i) => i.app === app) ? undefined : true,
  );
}

/** The one ready spare, once there is one. */
function readySpare(serve: ServeProcess): Promise<number> {
  return until('a ready warm spare', 15_000, async () => {
    const spares = (await instancesOf(serve)).warmSpares.spares.filter((s) => s.ready);
    return spares.length === 1 ? spares[0]!.pid : undefined;
  });
}

const threads = (pid: number) =>
  Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

function versionDir(serve: ServeProcess, app: string): string {
  const root = join(serve.dataDir, 'versions', app, 'default');
  return join(root, readdirSync(root)[0]!);
}

afterAll(async () => {
  await stopAllServes();
  removeDataDirs();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('a deployed TypeScript version runs compiled code without loader hooks', () => {
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServe();
    await deployed(serve, precompiledApp, 'pre');
    await deployed(serve, hooksApp, 'hooks');
  });

  it('serves `hangar` imports, ./x.js → ./x.ts and .ts imports, and files read beside the module', async () => {
    const res = await serve.get('pre.localhost');
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      shout: 'PRECOMPILED!',
      deadlineError: 'function',
      data: 'beside',
      app: 's~pre',
    });
    const dir = versionDir(serve, 'pre');
    expect(JSON.parse(readFileSync(join(dir, 'precompiled.json'), 'utf8'))).toMatchObject({
      files: 3,
      hooks: null,
    });
    expect(readdirSync(join(dir, 'app', 'lib')).sort()).toEqual([
      'fail.ts',
      'fail.ts.hangar.mjs',
      'shout.ts',
      'shout.ts.hangar.mjs',
    ]);
    // `hangar` resolves through the version dir's link to the platform's own package.
    expect(
      JSON.parse(
        readFileSync(join(readlinkSync(join(dir, 'node_modules', 'hangar')), 'package.json'), 'utf8'),
      ),
    ).toMatchObject({ name: 'hangar' });
  });

  it('its instance has one thread fewer than one of a version that keeps the hooks, which says why', async () => {
    expect(JSON.parse((await serve.get('hooks.localhost')).body)).toMatchObject({ shout: 'HOOKS!' });
    const { instances } = await instancesOf(serve);
    const pre = instances.find((i) => i.app === 'pre' && i.state === 'ready')!;
    const hooks = instances.find((i) => i.app === 'hooks' && i.state === 'ready')!;
    expect(threads(pre.pid)).toBe(threads(hooks.pid) - 1);
    // The runtime itself is the bundle `npm run build` makes (scripts/build-instance.mjs).
    expect(readFileSync(`/proc/${pre.pid}/cmdline`, 'latin1')).toContain('dist/instance/main.bundle.js');
    expect(
      JSON.parse(readFileSync(join(versionDir(serve, 'hooks'), 'precompiled.json'), 'utf8')).hooks,
    ).toMatch(/main\.ts imports a computed specifier/);
    expect(serve.output()).toMatch(
      /\[hooks\/default\/v1 [0-9a-f]{8} stderr\] hangar: this instance compiles TypeScript with the loader hooks .*: main\.ts imports a computed specifier/,
    );
  });

  it("a thrown error's stack names the .ts files and their lines", async () => {
    expect((await serve.get('pre.localhost', '/throw')).status).toBe(500);
    const entry = await until('the /throw request in the log', 10_000, async () => {
      const page = (await serve.admin('GET', '/api/logs?limit=20')).json as {
        entries: Array<{ appId: string; resource: string; lines: Array<{ message: string }> }>;
      };
      return page.entries.find((e) => e.appId === 'pre' && e.resource === '/throw' && e.lines.length > 0);
    });
    const stack = entry.lines.map((l) => l.message).join('\n');
    expect(stack).toMatch(/Error: failed on purpose\n\s+at fail \(\S+\/app\/lib\/fail\.ts:7:9\)/);
    expect(stack).toMatch(/at Object\.app \(\S+\/app\/main\.ts:12:\d+\)/);
    expect(stack).not.toContain('.hangar.mjs');
  });

  it('a module that fails to load is named by its source, as with the hooks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-missing-'));
    tempDirs.push(dir);
    writeFileSync(
      join(dir, 'app.yaml'),
      'runtime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n',
    );
    writeFileSync(
      join(dir, 'main.ts'),
      "import { gone } from './gone.js';\nexport const app = () => new Response(gone);\n",
    );
    const run = await deploy(serve, dir, ['--application', 'missing', '--version', 'v1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /module main\.ts failed to load: Cannot find module '\S+\/gone\.js' imported from \S+\/main\.ts\b/,
    );
    expect(run.stderr).not.toContain('.hangar.mjs');
  });
});

// netns where the machine has it (root on Linux, as CI); the other two forced.
const netnsHere = decideIsolation('auto', probeIsolationFacts()).mode === 'netns';
describe.each([
  ['netns', netnsHere],
  ['permission', true],
  ['none', true],
] as const)('isolation %s: the compiled version serves', (mode, available) => {
  it.skipIf(!available)('with `hangar` and TypeScript imports, and without a loader thread', async () => {
    const serve = await startServe({ env: { HANGAR_ISOLATION: mode } });
    try {
      expect(serve.output()).toContain(`instance isolation: ${mode}`);
      await deployed(serve, precompiledApp, 'pre');
      const res = await serve.get(undefined);
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ shout: 'PRECOMPILED!', data: 'beside' });
      const pid = Number((await serve.get(undefined, '/pid')).body);
      // The spare beside it is the same kind of process, which never registered hooks either.
      expect(threads(pid)).toBe(threads(await readySpare(serve)));
    } finally {
      await serve.stop();
    }
  });
});

describe('warm spares', () => {
  let serve: ServeProcess;

  beforeAll(async () => {
    serve = await startServe();
    await deployed(serve, precompiledApp, 'pre');
    await deployed(serve, hooksApp, 'hooks');
  });

  it('a new instance is the spare that waited: the hit is counted, its wait measured, and a new spare starts', async () => {
    await stopInstances(serve, 'pre');
    const spare = await readySpare(serve);
    const hits = await metric(serve, 'hangar_warm_spare_hits_total');
    const waits = await metric(serve, 'hangar_loading_request_wait_seconds_count');
    expect((await serve.get('pre.localhost')).status).toBe(200);
    const [instance] = (await instancesOf(serve)).instances.filter((i) => i.app === 'pre');
    expect(instance?.pid).toBe(spare);
    expect(await metric(serve, 'hangar_warm_spare_hits_total')).toBe(hits + 1);
    expect(await metric(serve, 'hangar_loading_request_wait_seconds_count')).toBe(waits + 1);
    const doc = await instancesOf(serve);
    expect(doc.warmSpares.lastLoadingWaitMs).toEqual(expect.any(Number));
    const next = await readySpare(serve);
    expect(next).not.toBe(spare);
    // It counts in memory accounting: the admin API and /metrics report what it holds.
    expect((await instancesOf(serve)).warmSpares.spares[0]!.memory).toBeGreaterThan(0);
    expect(await metric(serve, 'hangar_warm_spare_memory_bytes')).toBeGreaterThan(0);
  });

  it('a spare has no app in it, and one process never serves two apps', async () => {
    const served = new Map<number, string>();
    for (const app of ['pre', 'hooks', 'pre', 'hooks']) {
      await stopInstances(serve, app);
      const spare = await readySpare(serve);
      // Waiting, it knows no app: not its variables, not its folder; and it never served one.
      expect(readFileSync(`/proc/${spare}/environ`, 'latin1')).not.toMatch(/GREETING=/);
      expect(readlinkSync(`/proc/${spare}/cwd`)).toBe(join(serve.dataDir, 'run'));
      expect(served.has(spare)).toBe(false);
      expect((await serve.get(`${app}.localhost`)).status).toBe(200);
      const [instance] = (await instancesOf(serve)).instances.filter((i) => i.app === app);
      expect(instance!.pid).toBe(spare);
      served.set(instance!.pid, app);
    }
    // Each app's instances were processes of their own.
    expect(new Set(served.keys()).size).toBe(4);
  });
});

describe('warm spares end with the platform', () => {
  it('when it stops (SIGINT) and when it is killed (SIGKILL)', async () => {
    for (const how of ['stop', 'kill'] as const) {
      const serve = await startServe({ dataDir: freshDataDir() });
      // Under serve a spare starts with the platform, before any deploy.
      const spare = await readySpare(serve);
      expect(alive(spare)).toBe(true);
      await serve[how]();
      await until(`spare ${spare} gone after ${how}`, 10_000, () => (alive(spare) ? undefined : true));
    }
  });
});
