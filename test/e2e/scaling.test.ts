import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  adminGet,
  type InstancesDoc,
  repoRoot,
  startDev,
  stopAll,
  untilInstances,
} from '../helpers/dev-server.js';

const fixture = (name: string) => join(repoRoot, 'test/fixtures', name);
const configDir = mkdtempSync(join(tmpdir(), 'hangar-scaling-config-'));
let configs = 0;

/** A platform config file with short limits for one test (S15 `--config`). */
function config(yaml: string): string[] {
  const file = join(configDir, `config-${++configs}.yaml`);
  writeFileSync(file, yaml);
  return ['--config', file];
}

const until = untilInstances;

afterEach(stopAll);

afterAll(() => rmSync(configDir, { recursive: true, force: true }));

describe('pools and slots', () => {
  it('threadsafe: false, 8 concurrent 400 ms requests: all 200, ≥ 2 instances, never two at once on one', async () => {
    const dev = await startDev([fixture('scaling-serial')], ['--no-watch']);
    const results = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const res = await fetch(`${dev.url}/?ms=400`);
        return { status: res.status, body: (await res.json()) as { instance: string; overlapped: boolean } };
      }),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(new Set(results.map((r) => r.body.instance)).size).toBeGreaterThanOrEqual(2);
    expect(results.some((r) => r.body.overlapped)).toBe(false);
    const { decisions } = await adminGet<InstancesDoc>(dev, '/api/instances');
    expect(decisions.filter((d) => d.action === 'start').length).toBeGreaterThanOrEqual(2);
  });

  it('max_instances: 2 and max_pending_latency 1500ms: never more than 2 instances; late ones get 503 with Retry-After', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-max2-'));
    try {
      writeFileSync(
        join(dir, 'app.yaml'),
        'runtime: nodejs20\nthreadsafe: false\nautomatic_scaling:\n  max_instances: 2\n  max_pending_latency: 1500ms\nhandlers:\n  - url: /.*\n    script: main.app\n',
      );
      writeFileSync(
        join(dir, 'main.ts'),
        "import { sleep } from 'hangar';\nexport async function app(): Promise<Response> {\n  await sleep(1000);\n  return new Response(process.env.INSTANCE_ID);\n}\n",
      );
      const dev = await startDev([dir], ['--no-watch']);
      await until(dev, 10_000, (d) => d.instances.some((i) => i.state === 'ready'));
      let most = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const { instances } = await adminGet<InstancesDoc>(dev, '/api/instances');
          most = Math.max(most, instances.length);
        }
      })();
      const results = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await fetch(`${dev.url}/`);
          return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
        }),
      );
      watching = false;
      await watcher;
      const ok = results.filter((r) => r.status === 200);
      const late = results.filter((r) => r.status === 503);
      expect(ok.length + late.length).toBe(10);
      expect(ok.length).toBeGreaterThanOrEqual(2);
      expect(late.length).toBeGreaterThanOrEqual(1);
      for (const r of late) {
        expect(r.retryAfter).toMatch(/^\d+$/);
        expect(r.body).toContain('max_pending_latency (1500 ms)');
      }
      expect(new Set(ok.map((r) => r.body)).size).toBeLessThanOrEqual(2);
      expect(most).toBeLessThanOrEqual(2);
      const { decisions } = await adminGet<InstancesDoc>(dev, '/api/instances');
      expect(decisions.filter((d) => d.action === 'start')).toHaveLength(2);
      await dev.waitFor(/GET \/ 503 .*PENDING_TIMEOUT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops idle instances above the limits after the idle period and keeps min_instances', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-idle-'));
    try {
      writeFileSync(
        join(dir, 'app.yaml'),
        'runtime: nodejs20\nthreadsafe: false\nautomatic_scaling:\n  min_instances: 1\n  max_idle_instances: 0\nhandlers:\n  - url: /.*\n    script: main.app\n',
      );
      writeFileSync(
        join(dir, 'main.ts'),
        "import { sleep } from 'hangar';\nexport async function app(): Promise<Response> {\n  await sleep(300);\n  return new Response(process.env.INSTANCE_ID);\n}\n",
      );
      const dev = await startDev([dir], ['--no-watch', ...config('scheduler:\n  idle_period: 1s\n')]);
      const served = await Promise.all(Array.from({ length: 4 }, async () => (await fetch(dev.url)).text()));
      expect(new Set(served).size).toBeGreaterThanOrEqual(2);
      const after = await until(
        dev,
        10_000,
        (d) => d.decisions.some((x) => x.action === 'stop') && d.instances.length === 1,
      );
      const stops = after.decisions.filter((d) => d.action === 'stop');
      expect(stops[0]!.reason).toMatch(/^idle for [\d.]+ s; \d+ idle > max_idle_instances 0$/);
      // min_instances: 1 is kept: still one instance after a further idle period.
      const kept = await until(dev, 5_000, (d) => Date.now() - Date.parse(d.decisions.at(-1)!.at) > 1_500);
      expect(kept.instances).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('basic_scaling: instances start on demand and all stop after idle_timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-basic-'));
    try {
      writeFileSync(
        join(dir, 'app.yaml'),
        'runtime: nodejs20\nbasic_scaling:\n  max_instances: 2\n  idle_timeout: 1s\nhandlers:\n  - url: /.*\n    script: main.app\n',
      );
      writeFileSync(
        join(dir, 'main.ts'),
        'export const app = (): Response => new Response(process.env.INSTANCE_ID);\n',
      );
      const dev = await startDev([dir], ['--no-watch']);
      const first = await (await fetch(dev.url)).text();
      const idle = await until(dev, 10_000, (d) => d.instances.length === 0);
      const stop = idle.decisions.find((d) => d.action === 'stop' && d.instanceId === first);
      expect(stop?.reason).toMatch(/basic_scaling idle_timeout 1 s/);
      // A new request starts a new instance.
      const res = await fetch(dev.url);
      expect(res.status).toBe(200);
      expect(await res.text()).not.toBe(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deadlines', () => {
  const deadline = () =>
    config(
      'limits:\n  request_deadline: 1500ms\n  deadline_grace: 700ms\nscheduler:\n  heartbeat_timeout: 1s\n',
    );

  it('aborts ctx.signal with DeadlineExceededError; the handler answers within the grace', async () => {
    const dev = await startDev([fixture('scaling-deadline')], ['--no-watch', ...deadline()]);
    const started = Date.now();
    const res = await fetch(`${dev.url}/cooperative`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('gave up: DeadlineExceededError');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
    const slept = await fetch(`${dev.url}/sleepy`);
    expect(await slept.text()).toBe('sleep rejected: DeadlineExceededError HANGAR_E_DEADLINE_EXCEEDED');
  });

  it('a handler that never answers gets 500 with the timeout page; its instance keeps serving', async () => {
    const dev = await startDev([fixture('scaling-deadline')], ['--no-watch', ...deadline()]);
    const before = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    const res = await fetch(`${dev.url}/never`);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('(custom timeout page)');
    await dev.waitFor(/GET \/never 500 .*DEADLINE_EXCEEDED/);
    const after = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    expect(after.instance).toBe(before.instance);
  });

  it('a while(true) handler: out of routing after unresponsive_after with a replacement at once, killed at deadline + grace', async () => {
    const dev = await startDev([fixture('scaling-deadline')], ['--no-watch', ...deadline()]);
    const before = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    const started = Date.now();
    const spin = fetch(`${dev.url}/spin`);
    // While it spins, the version keeps answering: its replacement takes the traffic (S6).
    const unresponsive = await until(dev, 5_000, (d) =>
      d.decisions.some((x) => x.action === 'unresponsive' && x.instanceId === before.instance),
    );
    expect(unresponsive.decisions.filter((d) => d.action === 'start')).toHaveLength(2);
    const meanwhile = await fetch(`${dev.url}/`);
    expect(meanwhile.status).toBe(200);
    expect(((await meanwhile.json()) as { instance: string }).instance).not.toBe(before.instance);
    const res = await spin;
    expect(res.status).toBe(500);
    // Deadline 1.5 s + grace 0.7 s; the kill follows at once, not after a further ping timeout.
    const doc = await until(dev, 5_000, (d) => d.decisions.some((x) => x.action === 'kill'));
    const kill = doc.decisions.find((d) => d.action === 'kill')!;
    expect(kill.instanceId).toBe(before.instance);
    expect(kill.reason).toMatch(/outlived its deadline and grace period while its event loop was blocked$/);
    expect(Date.parse(kill.at) - started).toBeLessThan(2_200 + 800);
    expect(doc.decisions.filter((d) => d.action === 'start')).toHaveLength(2);
    for (let i = 0; i < 5; i++) {
      const next = await fetch(`${dev.url}/`);
      expect(next.status).toBe(200);
      expect(((await next.json()) as { instance: string }).instance).not.toBe(before.instance);
    }
  });

  it('process.exit() in a handler: that request 500, the next one 200', async () => {
    const dev = await startDev([fixture('scaling-deadline')], ['--no-watch']);
    // The next request goes out the moment the 500 arrives, racing the crashed process's exit
    // event: it must wait for the replacement, never be routed to the dead instance.
    for (let round = 0; round < 3; round++) {
      const res = await fetch(`${dev.url}/exit`);
      expect(res.status).toBe(500);
      expect(await res.text()).toContain('the instance serving this request exited unexpectedly');
      const next = await fetch(`${dev.url}/`);
      expect(next.status).toBe(200);
    }
    // The exit is decided when the process's exit event comes, which a loaded machine may
    // deliver after the replacement answered: wait for it, do not race it.
    const { decisions } = await until(dev, 5_000, (d) =>
      d.decisions.some((x) => x.action === 'exit' && x.reason === 'exited unexpectedly (code 3)'),
    );
    expect(decisions.filter((d) => d.action === 'exit').map((d) => d.reason)).toContain(
      'exited unexpectedly (code 3)',
    );
  });
});

describe('warmup, /_ah/start and loading requests', () => {
  it('warmup hits each new instance after the first before user traffic; every start is a logged decision', async () => {
    const dev = await startDev([fixture('scaling-warmup')], ['--no-watch']);
    const results = await Promise.all(
      Array.from(
        { length: 4 },
        async () =>
          (await (await fetch(`${dev.url}/?ms=500`)).json()) as {
            instance: string;
            warmedUp: boolean;
            userRequests: number;
          },
      ),
    );
    const { decisions } = await adminGet<InstancesDoc>(dev, '/api/instances');
    const started = decisions.filter((d) => d.action === 'start');
    const first = started[0]!.instanceId;
    for (const r of results) {
      expect(started.map((d) => d.instanceId)).toContain(r.instance);
      // The first instance takes traffic cold; each later one was warmed up before its first request.
      expect(r.warmedUp).toBe(r.instance !== first);
    }
    expect(new Set(results.map((r) => r.instance)).size).toBeGreaterThanOrEqual(2);
    await dev.waitFor(/GET \/_ah\/warmup 200 .* loading/);
  });

  it('manual_scaling starts its instances with /_ah/start before any user request', async () => {
    const dev = await startDev([fixture('scaling-manual')], ['--no-watch']);
    const doc = await until(dev, 15_000, (d) => d.instances.filter((i) => i.state === 'ready').length === 2);
    expect(doc.decisions.filter((d) => d.action === 'start').map((d) => d.reason)).toEqual([
      'the dev server starts one instance ahead of traffic',
      'manual_scaling instances 2: 1 running',
    ]);
    await dev.waitFor(/GET \/_ah\/start 200 [\d.]+ ms instance \w+ loading(?:[\s\S]*)GET \/_ah\/start 200/);
    for (let i = 0; i < 4; i++) {
      const body = (await (await fetch(dev.url)).json()) as { started: boolean };
      expect(body.started).toBe(true);
    }
  });

  it('marks the first request an instance serves as a loading request', async () => {
    const dev = await startDev([fixture('scaling-deadline')], ['--no-watch']);
    await fetch(`${dev.url}/?first`);
    await fetch(`${dev.url}/?second`);
    await dev.waitFor(/GET \/\?first 200 [\d.]+ ms instance \w{8} loading$/m);
    await dev.waitFor(/GET \/\?second 200 [\d.]+ ms instance \w{8}$/m);
  });
});

describe('failures', () => {
  it('an instance over its memory limit is replaced after its current request, logged with the figure', async () => {
    const dev = await startDev(
      [fixture('scaling-memory')],
      ['--no-watch', ...config('scheduler:\n  heartbeat_interval: 100ms\n')],
    );
    const before = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    const hog = await fetch(`${dev.url}/hog?ms=1500`);
    expect(hog.status).toBe(200);
    expect(await hog.text()).toBe('holding 360 MiB');
    const doc = await until(dev, 10_000, (d) => d.decisions.some((x) => x.action === 'replace'));
    const replace = doc.decisions.find((d) => d.action === 'replace')!;
    expect(replace.instanceId).toBe(before.instance);
    expect(replace.reason).toMatch(/^memory \d+ MiB is over the limit of 384 MiB/);
    const after = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    expect(after.instance).not.toBe(before.instance);
  });

  it('an instance past its hard memory cap (1.25× its class) is killed mid-request, not after it', async () => {
    const dev = await startDev([fixture('scaling-memory')], ['--no-watch']);
    const before = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    // 600 MiB, then the handler would hold it for 5 s: it is killed long before it answers.
    const started = Date.now();
    const hog = await fetch(`${dev.url}/hog?mib=600&ms=5000`);
    expect(hog.status).toBe(500);
    expect(Date.now() - started).toBeLessThan(4_000);
    const doc = await until(dev, 10_000, (d) => d.decisions.some((x) => x.action === 'kill'));
    const kill = doc.decisions.find((d) => d.action === 'kill')!;
    expect(kill.instanceId).toBe(before.instance);
    expect(kill.reason).toMatch(
      /^memory \d+ MiB passed the hard cap of 480 MiB \(1\.25× instance_class 384 MiB\); killed at once$/,
    );
    await dev.waitFor(/GET \/hog\?mib=600&ms=5000 500 .*HANGAR_E_INSTANCE_KILLED: .*passed the hard cap/);
    const after = (await (await fetch(`${dev.url}/`)).json()) as { instance: string };
    expect(after.instance).not.toBe(before.instance);
  });

  it('a failing start gives the instance stderr and is retried with back-off, not in a spin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-syntax-'));
    try {
      writeFileSync(
        join(dir, 'app.yaml'),
        'runtime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n',
      );
      writeFileSync(join(dir, 'main.ts'), 'export const app = () => { return new Response("x") \n');
      const dev = await startDev([dir], ['--no-watch']);
      const res = await fetch(dev.url);
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(body).toContain('module main.ts failed to load');
      expect(body).toMatch(/Expected "}" but found end of file|Unexpected end of file/);
      // Keep asking for 2.5 s: back-off (1 s, 2 s, ...) allows at most 3 attempts in that time.
      const until = Date.now() + 2_500;
      while (Date.now() < until) expect((await fetch(dev.url)).status).toBe(500);
      const { decisions } = await adminGet<InstancesDoc>(dev, '/api/instances');
      const failed = decisions.filter((d) => d.action === 'start-failed');
      expect(failed.length).toBeGreaterThanOrEqual(2);
      expect(failed.length).toBeLessThanOrEqual(3);
      expect(failed[0]!.reason).toMatch(/next attempt in 1000 ms/);
      expect(failed[1]!.reason).toMatch(/next attempt in 2000 ms/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('drain', () => {
  it('a reload lets the in-flight request finish on the old code while new requests get the new code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-drain-'));
    try {
      writeFileSync(
        join(dir, 'app.yaml'),
        'runtime: nodejs20\nhandlers:\n  - url: /.*\n    script: main.app\n',
      );
      const code = (label: string) =>
        `import { sleep } from 'hangar';\nexport async function app(request: Request): Promise<Response> {\n  if (new URL(request.url).pathname === '/slow') await sleep(1500);\n  return new Response('${label}');\n}\n`;
      writeFileSync(join(dir, 'main.ts'), code('old'));
      const dev = await startDev([dir]);
      expect(await (await fetch(dev.url)).text()).toBe('old');
      const slow = fetch(`${dev.url}/slow`).then(async (r) => ({ status: r.status, body: await r.text() }));
      await dev.waitFor(/GET \/ 200/);
      writeFileSync(join(dir, 'main.ts'), code('new'));
      await dev.waitFor(/changed; reloading default/);
      let fresh = '';
      const deadline = Date.now() + 5_000;
      while (fresh !== 'new' && Date.now() < deadline) fresh = await (await fetch(dev.url)).text();
      expect(fresh).toBe('new');
      expect(await slow).toEqual({ status: 200, body: 'old' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGINT lets an in-flight request finish before the platform exits', async () => {
    const dev = await startDev([fixture('scaling-serial')], ['--no-watch']);
    expect((await fetch(`${dev.url}/?ms=1`)).status).toBe(200);
    const slow = fetch(`${dev.url}/?ms=1000`).then((r) => r.status);
    // The request is in flight once the instance reports a busy slot.
    await until(dev, 5_000, (d) => d.instances.some((i) => i.busySlots === 1));
    const exited = new Promise<number | null>((resolve) => dev.process.once('exit', resolve));
    dev.process.kill('SIGINT');
    expect(await slow).toBe(200);
    expect(await exited).toBe(0);
  });
});

describe('hangar instances list', () => {
  it('prints the instances and the scaling decisions from the admin API', async () => {
    const { execFile } = await import('node:child_process');
    const { cli } = await import('../helpers/dev-server.js');
    const dev = await startDev([fixture('scaling-deadline')], ['--no-watch']);
    await fetch(dev.url);
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [cli, 'instances', 'list', ...args], (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const out = await run(['--server', dev.adminUrl, '--data-dir', dev.dataDir]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^INSTANCE\s+SERVICE\/VERSION\s+STATE\s+BUSY\s+SERVED\s+MEMORY\s+STARTED$/m);
    expect(out.stdout).toMatch(/[0-9a-f]{12}\s+default\/dev\s+ready\s+0\/10\s+1\s+\d+ MiB of 384 MiB/);
    expect(out.stdout).toContain('start');
    expect(out.stdout).toContain('the dev server starts one instance ahead of traffic');
    const refused = await run(['--server', dev.adminUrl, '--token', 'wrong']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('refused the token');
    expect(refused.stderr).not.toMatch(/^\s+at /m);
  });
});
